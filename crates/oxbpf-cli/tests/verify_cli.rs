//! `oxbpf verify` and verification in `prog run`: accepted and rejected programs (objects,
//! assembly), unusable input, JSON output, `--no-verify`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn oxbpf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .env(
            "OXBPF_STATE_DIR",
            std::env::temp_dir().join(format!("oxbpf-verify-cli-{}", std::process::id())),
        )
        .output()
        .unwrap()
}

fn tmp(name: &str, contents: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oxbpf-verify-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn accepted_object_ends_with_the_summary_line() {
    let o = oxbpf(&["verify", &example("hello.o")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with("verification OK: hello accepted\n"),
        "{out}"
    );
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("processed ") && last.contains("insns (limit 1000000)"),
        "{out}"
    );
    // Level 2 shows per-instruction register state.
    let o = oxbpf(&["verify", &example("hello.o"), "--log-level", "2"]);
    let (out, _) = text(&o);
    assert!(
        out.lines().any(|l| l.starts_with("0: R1=ctx() R10=fp0")),
        "{out}"
    );
    assert!(
        out.lines().filter(|l| l.contains(" ; R")).count() > 5,
        "{out}"
    );
}

#[test]
fn rejected_object_names_insn_source_state_and_hint() {
    let o = oxbpf(&["verify", &example("rejected/no_bounds_check.o")]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.starts_with(
            "verification failed: drop_udp rejected at insn 1: w1 = *(u8 *)(r1 + 23)\n"
        ),
        "{out}"
    );
    assert!(out.contains("rejected/no_bounds_check.c:12"), "{out}");
    assert!(out.contains("R1 type=pkt R1=pkt(r=0)"), "{out}");
    assert!(
        out.contains("invalid access to packet, off=23 size=1"),
        "{out}"
    );
    assert!(out.contains("against data_end"), "{out}");
    // `prog run` refuses it with the same message (exit 1); unverified it runs checked.
    let pkt = "00".repeat(64);
    let o = oxbpf(&[
        "prog",
        "run",
        &example("rejected/no_bounds_check.o"),
        "--data-in-hex",
        &pkt,
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("verifier rejected it at insn 1: invalid access to packet"),
        "{err}"
    );
    let o = oxbpf(&[
        "prog",
        "run",
        &example("rejected/no_bounds_check.o"),
        "--data-in-hex",
        &pkt,
        "--no-verify",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("Return value: 2"), "{out}");
}

#[test]
fn json_reports_verdict_insn_error_and_count() {
    let o = oxbpf(&["verify", &example("rejected/no_bounds_check.o"), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accepted"], false);
    assert_eq!(v["insn"], 1);
    assert!(v["error"]
        .as_str()
        .unwrap()
        .starts_with("invalid access to packet"));
    assert_eq!(v["processed_insns"], 2);
    assert!(v["log"].as_str().unwrap().contains("processed 2 insns"));

    let o = oxbpf(&["verify", &example("proto_count.o"), "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accepted"], true);
    assert!(v["insn"].is_null() && v["error"].is_null());
    assert!(v["processed_insns"].as_u64().unwrap() > 10);
}

#[test]
fn assembly_uses_the_raw_memory_type_unless_typed() {
    let prog = tmp("read3.s", b"r0 = *(u8 *)(r1 + 3)\nexit\n");
    let p = prog.to_str().unwrap();
    assert_eq!(
        oxbpf(&["verify", p, "--mem-size", "4"]).status.code(),
        Some(0)
    );
    let o = oxbpf(&["verify", p, "--mem-size", "3", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["insn"], 0);
    // As a socket filter r1 is the __sk_buff: byte 3 of `len` is a permitted narrow load.
    assert_eq!(
        oxbpf(&["verify", p, "--type", "socket"]).status.code(),
        Some(0)
    );
    let store = tmp("store.s", b"*(u32 *)(r1 + 0) = 1\nr0 = 0\nexit\n");
    let o = oxbpf(&["verify", store.to_str().unwrap(), "--type", "socket"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("invalid bpf_context access"), "{out}");
}

#[test]
fn unusable_input_exits_2() {
    assert_eq!(oxbpf(&["verify", "/nonexistent.o"]).status.code(), Some(2));
    let junk = tmp("junk.s", b"this is not bpf\n");
    assert_eq!(
        oxbpf(&["verify", junk.to_str().unwrap()]).status.code(),
        Some(2)
    );
    let elf = tmp("bad.o", b"\x7fELF\x02\x01\x01garbage");
    let o = oxbpf(&["verify", elf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
    let o = oxbpf(&["verify", &example("hello.o"), "--type", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
}
