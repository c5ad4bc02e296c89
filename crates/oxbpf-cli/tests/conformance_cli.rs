//! Every conformance data file through `oxbpf run`, the way a user would run it.
//!
//! - `bpf_conformance/tests/*.data`: must run and give the expected r0.
//! - `bpf_conformance/negative/*.data`: must be rejected (assembler or loader), except the
//!   four files that test the upstream runner itself (see that folder's README).
//! - `ubpf/tests/**`: the ISA, error and packet-filter cases; files that do not apply to
//!   oxbpf are listed in [`UBPF_NOT_APPLICABLE`] with the reason.

#[path = "../../../tests-support/data_file.rs"]
mod data_file;

use data_file::DataFile;
use std::path::Path;
use std::process::Command;

/// uBPF files that do not apply to `oxbpf run`, with the reason. The in-process conformance
/// test in the library runs the helper ones with uBPF's test helpers registered.
const UBPF_NOT_APPLICABLE: &[(&str, &str)] = &[
    ("helpers/call.data", "uBPF test helper 0 (gather_bytes); id 0 is not a kernel helper; run in-process with the uBPF helpers registered"),
    ("helpers/call-memfrob.data", "uBPF test helper 1 (memfrob); kernel helper 1 is map_lookup_elem; run in-process with the uBPF helpers registered"),
    ("helpers/call-save.data", "uBPF test helpers; run in-process with the uBPF helpers registered"),
    ("stack2.data", "calls uBPF test helpers 1 and 4; run in-process with the uBPF helpers registered"),
    ("string-stack.data", "calls uBPF test helper 4 (strcmp_ext); run in-process with the uBPF helpers registered"),
    ("extensions/call_unwind.data", "uBPF's unwind extension (helper 5 stops the program); kernel helper 5 is ktime_get_ns"),
    ("reload.data", "uBPF VM API (loading twice into one VM)"),
    ("unload_reload.data", "uBPF VM API (unload then load)"),
    ("errors/err-unknown-opcode.data", "out of date upstream: opcode 0x06 is ja32 in RFC 9669 (see the README)"),
    ("errors/err-too-many-instructions.data", "uBPF's 65,536-instruction limit; oxbpf follows the kernel's limit of 1,000,000 instructions"),
];

fn oxbpf() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
}

fn conformance_dir() -> std::path::PathBuf {
    let dir = data_file::conformance_dir();
    assert!(
        dir.is_dir(),
        "conformance data not found at {} (set OXBPF_CONFORMANCE_DIR to shared/conformance)",
        dir.display()
    );
    dir
}

enum Outcome {
    Ran { retval: u64 },
    Failed { stderr: String },
}

/// Runs the file's program through `oxbpf run --json`.
fn run(df: &DataFile, tmp: &Path) -> Outcome {
    let prog = tmp.join(
        df.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let prog = if let Some(raw) = &df.raw {
        let p = prog.with_extension("bin");
        std::fs::write(&p, raw).unwrap();
        p
    } else {
        let p = prog.with_extension("s");
        std::fs::write(&p, df.asm.clone().unwrap_or_default()).unwrap();
        p
    };
    let mut cmd = oxbpf();
    // The suites test instruction semantics (shifts past the width, division by zero),
    // not verifiability: run unverified, as the kernel's test runners use the interpreter.
    cmd.arg("run").arg(&prog).arg("--json").arg("--no-verify");
    if let Some(mem) = &df.mem {
        let hex: String = mem.iter().map(|b| format!("{b:02x}")).collect();
        cmd.arg("--mem-hex").arg(hex);
    }
    let out = cmd.output().expect("run oxbpf");
    if out.status.success() {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: bad JSON ({e}): {}",
                df.path.display(),
                String::from_utf8_lossy(&out.stdout)
            )
        });
        Outcome::Ran {
            retval: v["retval"].as_u64().expect("retval is a u64"),
        }
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.trim().is_empty(),
            "{}: failed without a message",
            df.path.display()
        );
        assert!(
            !stderr.contains("panicked"),
            "{}: oxbpf panicked: {stderr}",
            df.path.display()
        );
        Outcome::Failed { stderr }
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("oxbpf-conf-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn bpf_conformance_tests_pass() {
    let dir = conformance_dir().join("bpf_conformance/tests");
    let tmp = tmpdir("tests");
    let files = data_file::list(&dir);
    assert!(
        files.len() >= 300,
        "only {} files in {}",
        files.len(),
        dir.display()
    );
    let mut failures = Vec::new();
    for f in &files {
        let df = data_file::parse(f).unwrap();
        let want = df.result.expect("every test has a result");
        match run(&df, &tmp) {
            Outcome::Ran { retval } if retval == want => {}
            Outcome::Ran { retval } => {
                failures.push(format!("{}: r0 = {retval:#x}, want {want:#x}", f.display()))
            }
            Outcome::Failed { stderr } => failures.push(format!("{}: {stderr}", f.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    println!("bpf_conformance: {} of {} passed", files.len(), files.len());
}

#[test]
fn bpf_conformance_negative_files_are_rejected() {
    let dir = conformance_dir().join("bpf_conformance/negative");
    let tmp = tmpdir("negative");
    let files = data_file::list(&dir);
    assert_eq!(files.len(), 60, "files in {}", dir.display());
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let df = data_file::parse(f).unwrap();
        let outcome = run(&df, &tmp);
        match name.as_str() {
            // Tests of the upstream runner: the expected r0 is deliberately wrong; an engine
            // must produce the true value, which the runner then flags.
            "incorrect_return_value_high_bits.data" => match outcome {
                Outcome::Ran { retval } => {
                    assert_eq!(retval, 0x8877665544332211);
                    assert_ne!(Some(retval), df.result);
                }
                Outcome::Failed { stderr } => failures.push(format!("{name}: {stderr}")),
            },
            // Reads r0 before writing it: only a verifying engine rejects it, so it has no
            // fixed outcome for `oxbpf run` without the verifier; skipped with that reason.
            "error.data" => {}
            _ => {
                if let Outcome::Ran { retval } = outcome {
                    failures.push(format!(
                        "{name}: accepted (r0 = {retval:#x}), must be rejected"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ubpf_tests_pass_where_they_apply() {
    let dir = conformance_dir().join("ubpf/tests");
    let tmp = tmpdir("ubpf");
    let files = data_file::list(&dir);
    let mut failures = Vec::new();
    let (mut passed, mut skipped) = (0, 0);
    for f in &files {
        let rel = f
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if UBPF_NOT_APPLICABLE.iter().any(|(n, _)| *n == rel) {
            skipped += 1;
            continue;
        }
        let df = data_file::parse(f).unwrap();
        if df.other_sections.iter().any(|s| s == "pyelf") {
            // Not applicable: uBPF ELF-loader tests are Python edits of an ELF that uBPF's
            // framework builds, and `ok.data` resolves an undefined symbol to uBPF's helper
            // by name. oxbpf's object loader has its own malformed-ELF tests (truncated
            // files, bad sections, relocations and symbols) in `object::tests_malformed`.
            skipped += 1;
            continue;
        }
        if df.result.is_none() && df.error.is_none() {
            // Assembler-only files: asm must assemble to exactly the raw words.
            let (Some(asm), Some(raw)) = (&df.asm, &df.raw) else {
                failures.push(format!("{rel}: neither result nor error nor asm+raw"));
                continue;
            };
            let src = tmp.join("asm-only.s");
            std::fs::write(&src, asm).unwrap();
            let bin = tmp.join("asm-only.bin");
            let out = oxbpf()
                .arg("asm")
                .arg(&src)
                .arg("-o")
                .arg(&bin)
                .output()
                .unwrap();
            if !out.status.success() {
                failures.push(format!(
                    "{rel}: asm failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            } else if std::fs::read(&bin).unwrap() != *raw {
                failures.push(format!("{rel}: assembled bytes differ from -- raw"));
            } else {
                passed += 1;
            }
            continue;
        }
        let mut df = df;
        // `raw` beside `asm` is the reference encoding; run the asm to test the assembler too.
        if df.asm.is_some() && df.result.is_some() {
            df.raw = None;
        }
        match (run(&df, &tmp), df.error.is_some(), df.result) {
            (Outcome::Ran { retval }, false, Some(want)) if retval == want => passed += 1,
            (Outcome::Failed { .. }, true, _) => passed += 1,
            (Outcome::Ran { retval }, _, want) => failures.push(format!(
                "{rel}: ran with r0 = {retval:#x}, expected {}",
                match (want, &df.error) {
                    (_, Some(e)) => format!("an error like {e:?}"),
                    (Some(w), None) => format!("{w:#x}"),
                    (None, None) => "nothing".into(),
                }
            )),
            (Outcome::Failed { stderr }, false, _) => failures.push(format!("{rel}: {stderr}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "ubpf: {passed} passed, {skipped} not applicable ({} listed, plus pyelf ELF tests)",
        UBPF_NOT_APPLICABLE.len()
    );
    assert!(passed >= 60, "only {passed} uBPF files ran");
}
