//! The CLI as a user meets it: the hello example, JSON output, asm/disasm round trips, the
//! conformance plugin protocol, and clear errors (never a panic) on bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn oxbpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run oxbpf")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxbpf-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean failure: non-zero status, a message naming `what`, no panic.
fn assert_error(o: &Output, what: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got {}", stdout(o));
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(
        err.contains(what),
        "error {err:?} does not mention {what:?}"
    );
}

#[test]
fn hello_example_prints_through_the_trace_log() {
    let o = oxbpf(&["run", "examples/hello.s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Hello world!"), "{}", stdout(&o));
    let o = oxbpf(&["run", "examples/hello.s", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["retval"], 0);
    assert_eq!(v["trace"][0], "Hello world!");
    assert_eq!(v["mem"], "");
}

#[test]
fn run_json_reports_memory_and_full_64_bit_retval() {
    let prog = tmp(
        "store.s",
        b"r0 = -1 ll\n*(u8 *)(r1 + 1) = 0x7f\nr3 = r2\n*(u8 *)(r1 + 0) = w3\nexit\n",
    );
    let o = oxbpf(&[
        "run",
        prog.to_str().unwrap(),
        "--mem-hex",
        "00 00 aa",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["retval"].as_u64(), Some(u64::MAX));
    assert_eq!(v["mem"], "037faa");
    // --mem FILE gives the same.
    let mem = tmp("mem.bin", &[0, 0, 0xaa]);
    let o = oxbpf(&[
        "run",
        prog.to_str().unwrap(),
        "--mem",
        mem.to_str().unwrap(),
        "--json",
    ]);
    let w: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(w["mem"], v["mem"]);
}

#[test]
fn asm_then_disasm_round_trips() {
    let src = tmp(
        "rt.s",
        b"r1 = 0x1122334455667788 ll\nw2 = (s8)w1\nif w1 s< -1 goto +1\nr0 = atomic_fetch_add((u64 *)(r10 - 8), r0)\nexit\n",
    );
    let bin = src.with_extension("bin");
    let o = oxbpf(&["asm", src.to_str().unwrap(), "-o", bin.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&bin).unwrap().len(), 6 * 8);
    let text = stdout(&oxbpf(&["disasm", bin.to_str().unwrap()]));
    let again = tmp("rt2.s", text.as_bytes());
    let bin2 = again.with_extension("bin");
    let o = oxbpf(&["asm", again.to_str().unwrap(), "-o", bin2.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(&bin2).unwrap());

    let raw = stdout(&oxbpf(&["disasm", bin.to_str().unwrap(), "--raw"]));
    assert!(raw.contains("18 01 00 00 88 77 66 55"), "{raw}");
    let sym = stdout(&oxbpf(&["disasm", bin.to_str().unwrap(), "--symbolic"]));
    assert!(sym.contains("code=BPF_LD|BPF_DW|BPF_IMM"), "{sym}");
}

#[test]
fn conformance_plugin_protocol() {
    // ldxh r0, [r1+2]; exit — with memory 11 22 33 44.
    let mut child = Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(["conformance-plugin", "11 22 33 44"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"69 10 02 00 00 00 00 00 95 00 00 00 00 00 00 00")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), "4433");
}

#[test]
fn malformed_input_gives_clear_errors() {
    let odd = tmp("odd.bin", &[0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0]);
    assert_error(
        &oxbpf(&["run", odd.to_str().unwrap()]),
        "not a multiple of 8",
    );

    let unknown = tmp(
        "unknown.bin",
        &[0xb7, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0],
    );
    assert_error(
        &oxbpf(&["run", unknown.to_str().unwrap()]),
        "instruction 1: unknown opcode 0xff",
    );

    let jump = tmp(
        "jump.bin",
        &[0x05, 0, 5, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
    );
    assert_error(
        &oxbpf(&["run", jump.to_str().unwrap()]),
        "jump out of range",
    );

    let lddw = tmp(
        "lddw.bin",
        &[0x95, 0, 0, 0, 0, 0, 0, 0, 0x18, 0, 0, 0, 1, 0, 0, 0],
    );
    assert_error(
        &oxbpf(&["run", lddw.to_str().unwrap()]),
        "lddw is missing its second slot",
    );

    let bad_asm = tmp("bad.s", b"r0 = 1\nr0 += \nexit\n");
    assert_error(&oxbpf(&["run", bad_asm.to_str().unwrap()]), "line 2");

    let bad_reg = tmp("badreg.s", b"r11 = 1\nexit\n");
    assert_error(&oxbpf(&["run", bad_reg.to_str().unwrap()]), "line 1");

    let fault = tmp("fault.s", b"r0 = *(u64 *)(r10 + 8)\nexit\n");
    // The verifier refuses it before it runs; unverified, the run-time check faults.
    assert_error(
        &oxbpf(&["run", fault.to_str().unwrap()]),
        "verifier rejected the program at insn 0: invalid read from stack",
    );
    assert_error(
        &oxbpf(&["run", fault.to_str().unwrap(), "--no-verify"]),
        "instruction 0",
    );

    let forever = tmp("loop.s", b"l:\nr0 += 1\ngoto l\nexit\n");
    assert_error(
        &oxbpf(&[
            "run",
            forever.to_str().unwrap(),
            "--budget",
            "1000",
            "--no-verify",
        ]),
        "budget",
    );
    assert_error(
        &oxbpf(&["run", forever.to_str().unwrap()]),
        "verifier rejected the program",
    );

    assert_error(
        &oxbpf(&["run", "/nonexistent/prog.bin"]),
        "cannot read /nonexistent/prog.bin",
    );
    let p = tmp("ok.s", b"r0 = 0\nexit\n");
    assert_error(
        &oxbpf(&["run", p.to_str().unwrap(), "--mem-hex", "abc"]),
        "odd number of digits",
    );
    assert_error(
        &oxbpf(&["run", p.to_str().unwrap(), "--mem-hex", "zz"]),
        "invalid hex byte",
    );
    assert_error(
        &oxbpf(&["run", p.to_str().unwrap(), "--engine", "nope"]),
        "invalid value 'nope'",
    );
}
