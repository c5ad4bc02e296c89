//! The interpreter against the conformance corpus (`bpf_conformance/tests` and
//! `ubpf/tests`): every program assembles, loads and returns the expected `r0`, in checked
//! and in unchecked mode; files that expect an error fail. The uBPF files run with uBPF's
//! test helpers registered (ids 0-5, see `shared/conformance/ubpf/README.md`). Files that
//! cannot apply are listed in [`SKIP`] with the reason.
//!
//! Convention (both suites): `r1` = the `mem` bytes (NULL when there is no `mem`), `r2` =
//! their length.

#[path = "../../../tests-support/data_file.rs"]
mod data_file;

use oxbpf::asm::assemble_located;
use oxbpf::helpers::{ArgKind, Helper, HelperProto, Registry, RetKind};
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::vm::{MemRegion, RunContext};

/// Files the interpreter does not run, with the reason.
const SKIP: &[(&str, &str)] = &[
    ("alu.data", "assembler-only round-trip file: no result"),
    ("alu64.data", "assembler-only round-trip file: no result"),
    ("jmp.data", "assembler-only round-trip file: no result"),
    ("ldx.data", "assembler-only round-trip file: no result"),
    ("st.data", "assembler-only round-trip file: no result"),
    ("stx.data", "assembler-only round-trip file: no result"),
    (
        "elf/ok.data",
        "ELF loader test (pyelf), not an assembly program",
    ),
    ("reload.data", "uBPF VM API (loading twice into one VM)"),
    (
        "extensions/call_unwind.data",
        "uBPF's unwind extension (a helper returning 0 stops the program) is not eBPF",
    ),
];

/// uBPF test helper 0: `gather_bytes`.
extern "C" fn gather_bytes(a: u64, b: u64, c: u64, d: u64, e: u64, _: &mut RunContext) -> u64 {
    ((a & 0xff) << 32) | ((b & 0xff) << 24) | ((c & 0xff) << 16) | ((d & 0xff) << 8) | (e & 0xff)
}

/// uBPF test helper 1: `memfrob` (XOR each byte with 42).
extern "C" fn memfrob(ptr: u64, len: u64, _: u64, _: u64, _: u64, ctx: &mut RunContext) -> u64 {
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    if let Err(f) = ctx.read_bytes(ptr, &mut buf) {
        ctx.fault = Some(f);
        return 0;
    }
    buf.iter_mut().for_each(|b| *b ^= 42);
    if let Err(f) = ctx.write_bytes(ptr, &buf) {
        ctx.fault = Some(f);
    }
    0
}

/// uBPF test helper 2: `no_op`.
extern "C" fn no_op(_: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    0
}

/// uBPF test helper 3: `sqrti` (truncated integer square root).
extern "C" fn sqrti(a: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    (a as u32).isqrt() as u64
}

/// uBPF test helper 4: `strcmp_ext`.
extern "C" fn strcmp_ext(a: u64, b: u64, _: u64, _: u64, _: u64, ctx: &mut RunContext) -> u64 {
    let (Some(x), Some(y)) = (ctx.read_cstr(a, 4096), ctx.read_cstr(b, 4096)) else {
        return u64::MAX;
    };
    match x.cmp(&y) {
        std::cmp::Ordering::Less => u64::MAX,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// uBPF test helper 5: `unwind` (returns its argument).
extern "C" fn unwind(a: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    a
}

fn ubpf_helpers() -> Registry {
    let mut r = Registry::standard();
    let any = HelperProto::new(&[ArgKind::Anything; 5], RetKind::Integer);
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
            proto: any,
        });
    }
    r
}

/// Runs `vm` with the file's memory (or r1 = NULL), returning r0.
fn run_once(vm: &Interpreter, mem: Option<&[u8]>) -> Result<u64, String> {
    let mut ctx = RunContext::new();
    let r = match mem {
        Some(m) => vm.run_with_mem(&mut ctx, &mut m.to_vec()),
        None => vm.run(&mut ctx, 0, 0),
    };
    r.map_err(|e| format!("run: {e}"))
}

fn run_file(df: &data_file::DataFile, helpers: &Registry) -> Result<u64, String> {
    let asm = df.asm.as_deref().ok_or("no asm section")?;
    let insns = assemble_located(asm).map_err(|e| format!("assemble: {e}"))?;
    let mut vm = Interpreter::new(&insns, helpers).map_err(|e| format!("load: {e}"))?;
    let checked = run_once(&vm, df.mem.as_deref())?;
    // SAFETY: the checked run of this deterministic program on the same input made only
    // valid accesses, so the unchecked run makes the same ones.
    unsafe { vm.set_mode(Mode::Unchecked) };
    let unchecked = run_once(&vm, df.mem.as_deref())?;
    if unchecked != checked {
        return Err(format!(
            "checked r0 {checked:#x} != unchecked r0 {unchecked:#x}"
        ));
    }
    Ok(checked)
}

/// Runs every file under `sub` (recursively) and checks results and expected errors.
fn run_corpus(sub: &str, min_files: usize, helpers: &Registry) {
    let dir = data_file::conformance_dir().join(sub);
    let files = data_file::list(&dir);
    assert!(
        files.len() >= min_files,
        "expected the corpus in {} (set OXBPF_CONFORMANCE_DIR to shared/conformance)",
        dir.display()
    );
    let mut failures = Vec::new();
    let (mut passed, mut skipped) = (0, 0);
    for path in &files {
        let name = path
            .strip_prefix(&dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        if SKIP.iter().any(|(f, _)| *f == name) {
            skipped += 1;
            continue;
        }
        let df = data_file::parse(path).unwrap();
        match (run_file(&df, helpers), df.result, &df.error) {
            (Ok(r0), Some(want), None) if r0 == want => passed += 1,
            // uBPF error files also give uBPF's `-1` result; the error is what counts.
            (Err(_), _, Some(_)) => passed += 1,
            (got, want, err) => failures.push(format!(
                "{name}: got {got:x?}, want result {want:x?} error {err:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    eprintln!("{sub}: {passed} pass, {skipped} skipped (see SKIP)");
}

#[test]
fn bpf_conformance_tests() {
    run_corpus("bpf_conformance/tests", 300, &Registry::standard());
}

#[test]
fn ubpf_tests() {
    run_corpus("ubpf/tests", 100, &ubpf_helpers());
}

#[test]
fn ubpf_memfrob_faults_outside_memory() {
    // The test helpers check memory like the built-in ones: a bad pointer stops the run.
    let insns = assemble_located("mov %r1, 0x10\nmov %r2, 4\ncall 1\nexit").unwrap();
    let vm = Interpreter::new(&insns, &ubpf_helpers()).unwrap();
    let e = vm.run(&mut RunContext::new(), 0, 0).unwrap_err();
    assert_eq!(e.slot(), 2);
    let mut data = [1u8, 2];
    let mut ctx = RunContext::new();
    let start = data.as_mut_ptr() as u64;
    // SAFETY: `data` outlives the run and is not used meanwhile.
    unsafe {
        ctx.add_region(MemRegion {
            start,
            len: 2,
            writable: true,
        })
    };
    let insns = assemble_located("mov %r2, 2\ncall 1\nexit").unwrap();
    let vm = Interpreter::new(&insns, &ubpf_helpers()).unwrap();
    assert_eq!(vm.run(&mut ctx, start, 0), Ok(0));
    assert_eq!(data, [1 ^ 42, 2 ^ 42]);
}
