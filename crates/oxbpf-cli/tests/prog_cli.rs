//! `oxbpf prog`, `oxbpf map` and `oxbpf tracelog` on the example objects, as a user runs
//! them. Expected texts come from bpftool on the same objects loaded in the kernel (ids,
//! times and the kernel's helper addresses aside).

use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn state_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("oxbpf-cli-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn oxbpf(args: &[&str], state: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oxbpf"))
        .args(args)
        .env("OXBPF_STATE_DIR", state)
        .output()
        .unwrap()
}

fn ok(args: &[&str], state: &PathBuf) -> String {
    let o = oxbpf(args, state);
    assert!(
        o.status.success(),
        "oxbpf {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn hello_run_json_and_plain() {
    let st = state_dir("hello");
    let hello = example("hello.o");
    let zeros = "00".repeat(64);
    let out = ok(
        &["prog", "run", &hello, "--data-in-hex", &zeros, "--json"],
        &st,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["retval"], 2);
    assert_eq!(v["data_out"], zeros);
    assert_eq!(v["trace"][0], "Hello World 1");
    assert_eq!(v["maps"]["hello.bss"][0]["value"], "01000000");
    assert_eq!(v["maps"]["hello.data"][0]["value"], "0100000000000000");
    assert!(v["duration_ns"].as_u64().is_some());

    let out = ok(
        &[
            "prog",
            "run",
            &hello,
            "--data-in-hex",
            &zeros,
            "--repeat",
            "3",
        ],
        &st,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[2].ends_with("bpf_trace_printk: Hello World 3"));
    assert!(lines[3].starts_with("Return value: 2, duration (average): "));
    // Both runs' trace lines were saved for `oxbpf tracelog`.
    let log = ok(&["tracelog"], &st);
    assert_eq!(log.lines().count(), 4);
    assert!(log.lines().last().unwrap().ends_with("Hello World 3"));
    ok(&["tracelog", "--clear"], &st);
    assert_eq!(ok(&["tracelog"], &st), "");
    let _ = std::fs::remove_dir_all(&st);
}

#[test]
fn prog_show_and_dump_xlated() {
    let st = state_dir("show");
    let hello = example("hello.o");
    let out = ok(&["prog", "show", &hello], &st);
    let lines: Vec<&str> = out.lines().collect();
    // The kernel's tag for the same object (bpftool prog show after bpftool prog load).
    assert_eq!(lines[0], "1: xdp  name hello  tag 9ee448a6d2fb3189  gpl");
    assert!(lines[1].starts_with("\tloaded_at 20") && lines[1].ends_with("  uid 0"));
    assert_eq!(
        lines[2],
        "\txlated 168B  not jited  memlock 4096B  map_ids 1,3,2"
    );
    assert_eq!(lines[3], "\tbtf_id 1");
    let j: serde_json::Value =
        serde_json::from_str(&ok(&["prog", "show", &hello, "--json"], &st)).unwrap();
    assert_eq!(j[0]["bytes_xlated"], 168);
    assert_eq!(j[0]["map_ids"], serde_json::json!([1, 3, 2]));
    let d = ok(&["prog", "dump", "xlated", &hello, "linum"], &st);
    assert!(d.starts_with(
        "int hello(struct xdp_md * ctx):\n; counter++; [file:./hello.c line_num:11 line_col:9]\n   0: (18) r1 = map[id:1][0]+0\n"
    ));
    assert!(d.ends_with("  19: (b7) r0 = 2\n  20: (95) exit\n"));
}

#[test]
fn map_list_and_dump_like_bpftool() {
    let st = state_dir("maps");
    let hello = example("hello.o");
    let list = ok(&["map", "list", &hello], &st);
    assert!(list.contains(
        "2: array  name hello.rodata  flags 0x480\n\tkey 4B  value 19B  max_entries 1  memlock 4096B\n\tbtf_id 1  frozen\n"
    ));
    // bpftool map dump of hello.rodata, byte for byte.
    let rodata = ok(&["map", "dump", &hello, "--map", "hello.rodata"], &st);
    assert_eq!(
        rodata,
        "[{\n        \"value\": {\n            \".rodata\": [{\n                    \"verbose\": 1\n                },{\n                    \"hello.____fmt\": \"Hello World %d\"\n                }\n            ]\n        }\n    }\n]\n"
    );
    let j: serde_json::Value = serde_json::from_str(&ok(
        &["map", "dump", &hello, "--map", "hello.data", "-j"],
        &st,
    ))
    .unwrap();
    assert_eq!(
        j,
        serde_json::json!([{"key":["0x00","0x00","0x00","0x00"],"value":["0x07","0x00","0x00","0x00","0x00","0x00","0x00","0x00"],"formatted":{"value":{".data":[{"last_seen":7}]}}}])
    );
    // A map without BTF: bpftool's hex form.
    let legacy = ok(
        &["map", "dump", &example("legacy_maps.o"), "--map", "counts"],
        &st,
    );
    assert_eq!(legacy, "Found 0 elements\n");
}

#[test]
fn raw_socket_filter_with_trace_printk() {
    let st = state_dir("raw");
    std::fs::create_dir_all(&st).unwrap();
    let src = st.join("lenprint.s");
    std::fs::write(
        &src,
        "r6 = r1
         r2 = *(u32 *)(r6 + 0)
         r1 = 0
         *(u64 *)(r10 - 8) = r1
         r1 = 0x0a6425203a6e656c ll
         *(u64 *)(r10 - 16) = r1
         r3 = r2
         r1 = r10
         r1 += -16
         r2 = 9
         call 6
         r0 = *(u32 *)(r6 + 0)
         exit\n",
    )
    .unwrap();
    let pkt = "11".repeat(60);
    let src = src.to_string_lossy().into_owned();
    let out = ok(
        &[
            "prog",
            "run",
            &src,
            "--type",
            "socket",
            "--data-in-hex",
            &pkt,
            "--json",
        ],
        &st,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["retval"], 46);
    assert_eq!(v["trace"][0], "len: 46\n");
    // data_out has the Ethernet header zeroed, as the kernel's test run gives it back.
    assert_eq!(
        v["data_out"],
        format!("{}{}", "00".repeat(14), "11".repeat(46))
    );
    // Without --type a raw file is refused with a hint.
    let o = oxbpf(&["prog", "run", &src], &st);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--type"));
    let _ = std::fs::remove_dir_all(&st);
}

#[test]
fn tail_calls_reach_the_objects_other_programs() {
    let st = state_dir("tail");
    let mut udp = [0u8; 64];
    udp[12] = 8;
    udp[23] = 17;
    let hex: String = udp.iter().map(|b| format!("{b:02x}")).collect();
    let out = ok(
        &[
            "prog",
            "run",
            &example("tailcall.o"),
            "--prog",
            "dispatch",
            "--data-in-hex",
            &hex,
            "--json",
        ],
        &st,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // handle_udp (reached through handlers[17]) flips byte 5 and returns XDP_TX.
    assert_eq!(v["retval"], 3);
    assert_eq!(&v["data_out"].as_str().unwrap()[10..12], "ff");
    assert_eq!(v["maps"]["handlers"].as_array().unwrap().len(), 2);
}

#[test]
fn jit_engine_runs_and_dumps() {
    let st = state_dir("jit");
    let tailcall = example("tailcall.o");
    let mut pkt: Vec<u8> = (0..64u8).collect();
    pkt[12] = 8;
    pkt[13] = 0;
    pkt[23] = 17;
    let hex: String = pkt.iter().map(|b| format!("{b:02x}")).collect();
    let run = |engine: &str| {
        let out = ok(
            &[
                "prog",
                "run",
                &tailcall,
                "--prog",
                "dispatch",
                "--data-in-hex",
                &hex,
                "--repeat",
                "9",
                "--engine",
                engine,
                "--json",
            ],
            &st,
        );
        let mut v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["duration_ns"].as_u64().is_some());
        v["duration_ns"] = serde_json::Value::Null;
        v
    };
    let jit = run("jit");
    // UDP: the tail-called handler transmits with byte 5 flipped (9 times: the kernel's
    // repeated runs work on the same packet).
    assert_eq!(jit["retval"], 3);
    assert_eq!(jit["data_out"].as_str().unwrap()[10..12], *"fa");
    assert_eq!(jit, run("interp"));

    let out = ok(
        &[
            "prog",
            "dump",
            "jited",
            &example("hello.o"),
            "--section",
            "xdp",
        ],
        &st,
    );
    assert!(out.starts_with("; entry trampoline\n"), "{out}");
    assert!(out.contains("; 0: "), "{out}");
    assert!(out.contains("\tcall r11"), "{out}");
    assert!(out.contains("; out-of-line stubs\n"), "{out}");
}

#[test]
fn legacy_map_in_map_objects_run() {
    let st = state_dir("legacy-mim");
    let pkt = "00".repeat(64);
    let out = ok(
        &[
            "prog",
            "run",
            &example("legacy_inner.o"),
            "--data-in-hex",
            &pkt,
            "--json",
        ],
        &st,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["retval"], 0);
    // iproute2 sections name no type: without --type the error says so, with it it runs.
    let mim = example("iproute2_mim.o");
    let o = oxbpf(&["prog", "run", &mim, "--data-in-hex", &pkt], &st);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("ingress"));
    let args = [
        "prog",
        "run",
        &mim,
        "--type",
        "tc",
        "--data-in-hex",
        &pkt,
        "--json",
    ];
    let v: serde_json::Value = serde_json::from_str(&ok(&args, &st)).unwrap();
    assert_eq!(v["retval"], 0, "the inner map is in slot 1");
    assert_eq!(v["maps"]["counters_a"][1]["value"], "0100000000000000");
    let out = ok(
        &[
            "prog",
            "run",
            &example("iproute2_maps.o"),
            "--prog",
            "entry",
            "--type",
            "sched_cls",
            "--data-in-hex",
            &pkt,
            "--json",
        ],
        &st,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["retval"], 0);
    let _ = std::fs::remove_dir_all(&st);
}

/// `out[i]` of core.o's `.bss` from a `prog run --json` output.
fn core_out(json: &str, i: usize) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    let hex = v["maps"]["core.bss"][0]["value"].as_str().unwrap();
    let b: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|j| u8::from_str_radix(&hex[j..j + 2], 16).unwrap())
        .collect();
    u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap())
}

#[test]
fn core_target_btf_flag() {
    let st = state_dir("core-btf");
    let core = example("core.o");
    let mut pkt = [0u8; 64];
    pkt[12] = 8;
    pkt[14] = 0x45;
    pkt[23] = 17;
    let hex: String = pkt.iter().map(|b| format!("{b:02x}")).collect();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "prog",
            "run",
            &core,
            "--prog",
            "core_parse",
            "--data-in-hex",
            &hex,
            "--json",
        ];
        args.extend_from_slice(extra);
        ok(&args, &st)
    };
    // The object's own BTF as the target: identity, so the field "exists" (out[7]) and
    // protocol is read at the local offset 4 (out[1] = pkt[18]).
    let obj_bytes = std::fs::read(&core).unwrap();
    let obj = oxbpf::object::Object::parse(&obj_bytes, "core").unwrap();
    let own = st.join("own.btf");
    std::fs::create_dir_all(&st).unwrap();
    std::fs::write(&own, obj.btf.unwrap().raw()).unwrap();
    let out = run(&["--btf", own.to_str().unwrap()]);
    assert_eq!((core_out(&out, 7), core_out(&out, 1)), (1, 0));
    if std::fs::metadata("/sys/kernel/btf/vmlinux").is_err() {
        eprintln!("SKIPPED: kernel unavailable: /sys/kernel/btf/vmlinux is not readable");
        let _ = std::fs::remove_dir_all(&st);
        return;
    }
    // vmlinux, named or by default: the wire layout (protocol at 9).
    let named = run(&["--btf", "/sys/kernel/btf/vmlinux"]);
    assert_eq!((core_out(&named, 7), core_out(&named, 1)), (0, 17));
    let default = run(&[]);
    assert!((0..16).all(|i| core_out(&default, i) == core_out(&named, i)));
    // An unguarded access to a field the kernel lacks: the load fails naming it.
    let o = oxbpf(
        &[
            "prog",
            "run",
            &example("rejected/core_missing.o"),
            "--data-in-hex",
            &hex,
        ],
        &st,
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("poisoned by CO-RE relocation") && err.contains("oxbpf_no_such_field"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&st);
}

#[test]
fn xdp_frags_program_runs_on_a_multi_buffer_packet() {
    // 9,000 bytes: 3,520 in the linear frame, then fragments of 4,096 and 1,384. The
    // program moves the 4-byte trailer over the source MAC and trims it off the last
    // fragment (figures checked against the kernel in the runtime tests).
    let st = state_dir("frags");
    let dir = st.join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let pkt: Vec<u8> = (0..9000u32).map(|i| (i * 31 + i / 97) as u8).collect();
    let input = dir.join("pkt.bin");
    std::fs::write(&input, &pkt).unwrap();
    let out = ok(
        &[
            "prog",
            "run",
            &example("xdp_frags.o"),
            "--data-in",
            input.to_str().unwrap(),
            "--json",
        ],
        &st,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["retval"], 3);
    let mut want = pkt[..8996].to_vec();
    want[6..10].copy_from_slice(&pkt[8996..]);
    let hex: String = want.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["data_out"], hex);
    // packets 1, bytes 9000, bytes in fragments 9000 - 3520.
    let stats: Vec<u8> = [1u64, 9000, 5480]
        .iter()
        .flat_map(|x| x.to_ne_bytes())
        .collect();
    let stats: String = stats.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v["maps"]["frag_stats"][0]["value"], stats);
    let _ = std::fs::remove_dir_all(&st);
}
