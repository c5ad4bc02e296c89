//! Conformance data in-process: every bpf_conformance test in the interpreter (checked and
//! unchecked) and in the real kernel, and the uBPF files that need uBPF's numbered test
//! helpers, which an embedder registers like any helper.

#[path = "../../../tests-support/data_file.rs"]
mod data_file;

use data_file::DataFile;
use oxbpf::helpers::{ArgKind, Helper, HelperProto, Registry, RetKind};
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::isa::{self, Located};
use oxbpf::vm::RunContext;

fn conformance_dir() -> std::path::PathBuf {
    let dir = data_file::conformance_dir();
    assert!(
        dir.is_dir(),
        "conformance data not found at {} (set OXBPF_CONFORMANCE_DIR to shared/conformance)",
        dir.display()
    );
    dir
}

fn program(df: &DataFile) -> Vec<Located> {
    match (&df.raw, &df.asm) {
        (Some(raw), _) => isa::decode(raw).unwrap(),
        (None, Some(asm)) => oxbpf::asm::assemble_located(asm)
            .unwrap_or_else(|e| panic!("{}: {e}", df.path.display())),
        (None, None) => panic!("{}: no program", df.path.display()),
    }
}

fn run(
    prog: &[Located],
    helpers: &Registry,
    mem: &[u8],
    mode: Mode,
) -> Result<(u64, Vec<u8>), String> {
    let mut vm = Interpreter::new(prog, helpers).map_err(|e| e.to_string())?;
    // SAFETY: only used for programs whose expected result is known and that run in the
    // kernel or in checked mode first (see the callers).
    unsafe { vm.set_mode(mode) };
    let mut ctx = RunContext::new();
    let mut mem = mem.to_vec();
    let r0 = if mem.is_empty() {
        vm.run(&mut ctx, 0, 0)
    } else {
        vm.run_with_mem(&mut ctx, &mut mem)
    }
    .map_err(|e| e.to_string())?;
    Ok((r0, mem))
}

#[test]
fn bpf_conformance_in_both_interpreter_modes() {
    let dir = conformance_dir().join("bpf_conformance/tests");
    let helpers = Registry::standard();
    let files = data_file::list(&dir);
    assert!(files.len() >= 300);
    for f in &files {
        let df = data_file::parse(f).unwrap();
        let prog = program(&df);
        let mem = df.mem.clone().unwrap_or_default();
        let (checked, mem_checked) = run(&prog, &helpers, &mem, Mode::Checked)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(Some(checked), df.result, "{}", f.display());
        // The checked run proved every access valid for this input.
        let (unchecked, mem_unchecked) = run(&prog, &helpers, &mem, Mode::Unchecked).unwrap();
        assert_eq!(checked, unchecked, "{}", f.display());
        assert_eq!(mem_checked, mem_unchecked, "{}", f.display());
    }
}

/// The kernel as oracle: every conformance program the kernel accepts gives the same 64-bit
/// r0 and memory in oxbpf. The kernel rejects constant shifts out of range and callx; those
/// are counted and must be exactly the expected ones.
#[cfg(target_os = "linux")]
#[test]
fn bpf_conformance_matches_kernel() {
    use oxbpf::kernel;
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let dir = conformance_dir().join("bpf_conformance/tests");
    let helpers = Registry::standard();
    let (mut same, mut rejected) = (0, Vec::new());
    for f in data_file::list(&dir) {
        let df = data_file::parse(&f).unwrap();
        let prog = program(&df);
        let bytes = isa::encode(&prog);
        let mem = df.mem.clone().unwrap_or_default();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        match kernel::run_program_with_mem(&bytes, &mem) {
            Ok(k) => {
                let (r0, mem_after) = run(&prog, &helpers, &mem, Mode::Checked).unwrap();
                // Helper 5 is ktime_get_ns: its value differs between runs by nature.
                if name != "call_unwind_fail.data" {
                    assert_eq!(r0, k.r0, "{name}: r0 differs from the kernel");
                }
                assert_eq!(
                    mem_after, k.mem_after,
                    "{name}: memory differs from the kernel"
                );
                same += 1;
            }
            Err(_) => rejected.push(name),
        }
    }
    // What the kernel verifier refuses: constant shift counts >= width ("invalid shift")
    // and callx ("unknown opcode 8d"), the same exclusions as the suite's own kernel CI.
    for name in &rejected {
        assert!(
            name.contains("-high") || name.contains("-neg") || name == "callx.data",
            "kernel rejected {name} unexpectedly"
        );
    }
    println!(
        "kernel oracle: {same} programs agree, {} rejected by the kernel: {rejected:?}",
        rejected.len()
    );
    assert!(same >= 290, "only {same} programs compared");
}

// uBPF's test helpers (numbering of its test plugin; see shared/conformance/ubpf/README.md).

extern "C" fn gather_bytes(a: u64, b: u64, c: u64, d: u64, e: u64, _: &mut RunContext) -> u64 {
    ((a & 0xff) << 32) | ((b & 0xff) << 24) | ((c & 0xff) << 16) | ((d & 0xff) << 8) | (e & 0xff)
}

extern "C" fn memfrob(ptr: u64, len: u64, _: u64, _: u64, _: u64, ctx: &mut RunContext) -> u64 {
    let mut buf = vec![0u8; len as usize];
    if ctx.read_bytes(ptr, &mut buf).is_err() {
        return u64::MAX;
    }
    buf.iter_mut().for_each(|b| *b ^= 42);
    if ctx.write_bytes(ptr, &buf).is_err() {
        return u64::MAX;
    }
    0
}

extern "C" fn no_op(_: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    0
}

extern "C" fn sqrti(a: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    (a as f64).sqrt() as u64
}

extern "C" fn strcmp_ext(a: u64, b: u64, _: u64, _: u64, _: u64, ctx: &mut RunContext) -> u64 {
    let (Some(x), Some(y)) = (ctx.read_cstr(a, 4096), ctx.read_cstr(b, 4096)) else {
        return u64::MAX;
    };
    match x.cmp(&y) {
        std::cmp::Ordering::Less => -1i64 as u64,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

extern "C" fn unwind(a: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    a
}

fn ubpf_helpers() -> Registry {
    let proto = HelperProto::new(&[ArgKind::Anything; 5], RetKind::Integer);
    let mut r = Registry::new();
    for (id, name, func) in [
        (0, "gather_bytes", gather_bytes as oxbpf::helpers::HelperFn),
        (1, "memfrob", memfrob),
        (2, "no_op", no_op),
        (3, "sqrti", sqrti),
        (4, "strcmp_ext", strcmp_ext),
        (5, "unwind", unwind),
    ] {
        r.register(Helper {
            id,
            name,
            func,
            proto,
        });
    }
    r
}

/// The uBPF files that call uBPF's numbered helpers run with those helpers registered.
#[test]
fn ubpf_helper_tests_with_embedder_helpers() {
    let dir = conformance_dir().join("ubpf/tests");
    let helpers = ubpf_helpers();
    for rel in [
        "helpers/call.data",
        "helpers/call-memfrob.data",
        "helpers/call-save.data",
        "stack2.data",
        "string-stack.data",
    ] {
        let df = data_file::parse(&dir.join(rel)).unwrap();
        let prog = program(&df);
        let mem = df.mem.clone().unwrap_or_default();
        let (r0, _) =
            run(&prog, &helpers, &mem, Mode::Checked).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(Some(r0), df.result, "{rel}");
    }
}
