//! The real bpf(2) backend against the running kernel. Every test first checks
//! `kernel::available()` and, if the kernel cannot be used, prints a loud `SKIPPED` line
//! with the reason and returns.
#![cfg(target_os = "linux")]

use std::os::fd::{AsFd, AsRawFd};

use oxbpf::kernel::{
    self, run_program_with_mem, Btf, KernelError, Map, MapBtf, MapCreate, ProgBtf, ProgLoad,
    Program, TestRun, BPF_ANY, BPF_EXIST, BPF_NOEXIST, MAP_TYPE_ARRAY, MAP_TYPE_HASH,
    PROG_TYPE_SCHED_CLS, PROG_TYPE_SOCKET_FILTER, PROG_TYPE_XDP,
};

macro_rules! require_kernel {
    () => {
        if let Err(reason) = kernel::available() {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            return;
        }
    };
}

/// One instruction slot.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut s = [0u8; 8];
    s[0] = code;
    s[1] = (src << 4) | dst;
    s[2..4].copy_from_slice(&off.to_le_bytes());
    s[4..8].copy_from_slice(&imm.to_le_bytes());
    s
}

/// `lddw dst, imm64` (two slots).
fn lddw(dst: u8, src: u8, imm: u64) -> [[u8; 8]; 2] {
    [
        insn(0x18, dst, src, 0, imm as u32 as i32),
        insn(0, 0, 0, 0, (imm >> 32) as u32 as i32),
    ]
}

const EXIT: [u8; 8] = [0x95, 0, 0, 0, 0, 0, 0, 0];

/// `r0 = 42; exit` as raw bytes.
const RET_42: [u8; 16] = [
    0xb7, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

fn errno(e: &KernelError) -> i32 {
    e.errno()
        .unwrap_or_else(|| panic!("expected a kernel errno, got {e}"))
}

#[test]
fn xdp_program_returns_42() {
    require_kernel!();
    let prog = Program::load(&ProgLoad {
        name: "ret42",
        log_level: 1,
        ..ProgLoad::new(PROG_TYPE_XDP, &RET_42)
    })
    .expect("loads");
    assert!(
        prog.log().contains("processed 2 insns"),
        "log: {}",
        prog.log()
    );
    let packet: Vec<u8> = (0..64u8).collect();
    let out = prog
        .test_run(&TestRun {
            data_in: &packet,
            data_out_capacity: 128,
            repeat: 3,
            ..TestRun::default()
        })
        .expect("runs");
    assert_eq!(out.retval, 42);
    assert_eq!(out.data_out, packet);
}

#[test]
fn socket_filter_and_sched_cls_test_run() {
    require_kernel!();
    let mut packet = vec![0u8; 64];
    packet[12] = 0x88; // an ethertype the skb setup does not parse further
    packet[13] = 0xb5;
    for prog_type in [PROG_TYPE_SOCKET_FILTER, PROG_TYPE_SCHED_CLS] {
        let prog = Program::load(&ProgLoad::new(prog_type, &RET_42)).expect("loads");
        let out = prog
            .test_run(&TestRun {
                data_in: &packet,
                ..TestRun::default()
            })
            .expect("runs");
        assert_eq!(out.retval, 42, "prog type {prog_type}");
    }
}

#[test]
fn too_small_data_out_is_reported_with_needed_size() {
    require_kernel!();
    let prog = Program::load(&ProgLoad::new(PROG_TYPE_XDP, &RET_42)).expect("loads");
    let err = prog
        .test_run(&TestRun {
            data_in: &[0u8; 64],
            data_out_capacity: 16,
            ..TestRun::default()
        })
        .expect_err("ENOSPC");
    assert!(
        matches!(
            err,
            KernelError::OutputTooSmall {
                what: "data_out",
                needed: 64,
                capacity: 16
            }
        ),
        "{err}"
    );
}

#[test]
fn rejected_program_carries_log_naming_the_bad_insn() {
    require_kernel!();
    // r0 = r3 (uninitialised); exit. Loaded at log level 0: the retry must fetch the log.
    let insns = [insn(0xbf, 0, 3, 0, 0), EXIT].concat();
    let err = Program::load(&ProgLoad {
        name: "bad",
        ..ProgLoad::new(PROG_TYPE_XDP, &insns)
    })
    .expect_err("verifier rejects");
    assert_eq!(errno(&err), libc::EACCES);
    let log = err.log().expect("has a log");
    assert!(log.contains("R3 !read_ok"), "log: {log}");
    assert!(log.contains("0: (bf) r0 = r3"), "log: {log}");
    assert!(matches!(&err, KernelError::ProgRejected { name, .. } if name == "bad"));
}

#[test]
fn large_log_grows_past_initial_buffer() {
    require_kernel!();
    // 20k instructions at log level 2 produce a log far beyond the first 64 KiB buffer.
    let mut insns = Vec::new();
    insns.extend_from_slice(&insn(0xb7, 0, 0, 0, 0));
    for _ in 0..20_000 {
        insns.extend_from_slice(&insn(0x07, 0, 0, 0, 1)); // r0 += 1
    }
    insns.extend_from_slice(&EXIT);
    let prog = Program::load(&ProgLoad {
        log_level: 2,
        ..ProgLoad::new(PROG_TYPE_XDP, &insns)
    })
    .expect("loads");
    assert!(
        prog.log().len() > 64 * 1024,
        "log is {} bytes",
        prog.log().len()
    );
    assert!(prog.log().contains("processed 20002 insns"));
    let out = prog
        .test_run(&TestRun {
            data_in: &[0u8; 14],
            ..TestRun::default()
        })
        .expect("runs");
    assert_eq!(out.retval, 20_000);
}

#[test]
fn bad_inputs_are_typed_errors_before_the_syscall() {
    assert!(matches!(
        Program::load(&ProgLoad::new(PROG_TYPE_XDP, &RET_42[..12])),
        Err(KernelError::InsnLength { len: 12, .. })
    ));
    assert!(matches!(
        Program::load(&ProgLoad {
            name: "a_name_of_16_chr",
            ..ProgLoad::new(PROG_TYPE_XDP, &RET_42)
        }),
        Err(KernelError::BadName { .. })
    ));
    assert!(matches!(
        Program::load(&ProgLoad {
            license: "G\0PL",
            ..ProgLoad::new(PROG_TYPE_XDP, &RET_42)
        }),
        Err(KernelError::LicenseNul { .. })
    ));
}

fn hash_map(name: &str) -> Map {
    Map::create(&MapCreate {
        map_type: MAP_TYPE_HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        name,
        ..MapCreate::default()
    })
    .expect("creates hash map")
}

#[test]
fn hash_map_element_operations_and_errnos() {
    require_kernel!();
    let map = hash_map("oxbpf_hash");
    assert_eq!(map.info().name, "oxbpf_hash");
    assert_eq!(map.info().map_type, MAP_TYPE_HASH);
    assert_eq!((map.info().key_size, map.info().value_size), (4, 8));
    let k = |n: u32| n.to_ne_bytes();
    let v = |n: u64| n.to_ne_bytes();

    assert_eq!(map.lookup(&k(1)).expect("lookup"), None);
    assert_eq!(map.next_key(None).expect("next"), None);
    map.update(&k(1), &v(100), BPF_NOEXIST).expect("insert");
    let e = map.update(&k(1), &v(101), BPF_NOEXIST).expect_err("exists");
    assert_eq!(errno(&e), libc::EEXIST);
    let e = map.update(&k(2), &v(200), BPF_EXIST).expect_err("missing");
    assert_eq!(errno(&e), libc::ENOENT);
    map.update(&k(1), &v(102), BPF_EXIST).expect("update");
    map.update(&k(2), &v(200), BPF_ANY).expect("insert any");
    assert_eq!(map.lookup(&k(1)).expect("lookup"), Some(v(102).to_vec()));

    let first = map.next_key(None).expect("next").expect("some key");
    let second = map
        .next_key(Some(&first))
        .expect("next")
        .expect("second key");
    assert_eq!(map.next_key(Some(&second)).expect("next"), None);
    let mut keys = vec![first, second];
    keys.sort();
    assert_eq!(keys, vec![k(1).to_vec(), k(2).to_vec()]);

    let mut entries = map.entries().expect("dump");
    entries.sort();
    assert_eq!(
        entries,
        vec![
            (k(1).to_vec(), v(102).to_vec()),
            (k(2).to_vec(), v(200).to_vec())
        ]
    );

    map.delete(&k(1)).expect("delete");
    let e = map.delete(&k(1)).expect_err("already gone");
    assert_eq!(errno(&e), libc::ENOENT);
    assert_eq!(map.lookup(&k(1)).expect("lookup"), None);

    assert!(matches!(
        map.lookup(&[0u8; 3]),
        Err(KernelError::ElemSize {
            what: "key",
            expected: 4,
            got: 3,
            ..
        })
    ));

    map.freeze().expect("freeze");
    let e = map.update(&k(3), &v(3), BPF_ANY).expect_err("frozen");
    assert_eq!(errno(&e), libc::EPERM);
    assert_eq!(map.lookup(&k(2)).expect("lookup"), Some(v(200).to_vec()));
}

/// Array map with one u64 counter, and a program that adds 5 to it and returns its
/// old value: uses the map through `lddw src=BPF_PSEUDO_MAP_FD imm=fd`.
fn counter_prog(map_fd: i32) -> Vec<u8> {
    [
        insn(0x62, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
        insn(0xbf, 2, 10, 0, 0),  // r2 = r10
        insn(0x07, 2, 0, 0, -4),  // r2 += -4
    ]
    .into_iter()
    .chain(lddw(1, 1, map_fd as u32 as u64)) // r1 = map
    .chain([
        insn(0x85, 0, 0, 0, 1),  // call bpf_map_lookup_elem
        insn(0x55, 0, 0, 2, 0),  // if r0 != 0 goto +2
        insn(0xb7, 0, 0, 0, -1), // r0 = -1
        EXIT,
        insn(0x79, 1, 0, 0, 0), // r1 = *(u64 *)(r0 + 0)
        insn(0xbf, 2, 1, 0, 0), // r2 = r1
        insn(0x07, 2, 0, 0, 5), // r2 += 5
        insn(0x7b, 0, 2, 0, 0), // *(u64 *)(r0 + 0) = r2
        insn(0xbf, 0, 1, 0, 0), // r0 = r1
        EXIT,
    ])
    .collect::<Vec<_>>()
    .concat()
}

#[test]
fn program_uses_map_through_lddw_and_info_reports_it() {
    require_kernel!();
    let map = Map::create(&MapCreate {
        map_type: MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        name: "counter",
        ..MapCreate::default()
    })
    .expect("creates array");
    map.update(&0u32.to_ne_bytes(), &37u64.to_ne_bytes(), BPF_ANY)
        .expect("seed");
    let insns = counter_prog(map.as_fd().as_raw_fd());
    let prog = Program::load(&ProgLoad {
        name: "counter_prog",
        ..ProgLoad::new(PROG_TYPE_XDP, &insns)
    })
    .expect("loads");
    for expected in [37u32, 42, 47] {
        let out = prog
            .test_run(&TestRun {
                data_in: &[0u8; 64],
                ..TestRun::default()
            })
            .expect("runs");
        assert_eq!(out.retval, expected);
    }
    assert_eq!(
        map.lookup(&0u32.to_ne_bytes()).expect("lookup"),
        Some(52u64.to_ne_bytes().to_vec())
    );

    let info = prog.info().expect("info");
    assert_eq!(info.name, "counter_prog");
    assert_eq!(info.prog_type, PROG_TYPE_XDP);
    assert_eq!(info.tag.len(), 8);
    assert_ne!(info.tag, [0u8; 8]);
    assert_eq!(info.map_ids, vec![map.info().id]);
    assert!(info.gpl_compatible);
    assert!(info.verified_insns > 0);
    assert!(info.load_time_ns > 0);
    assert_eq!(info.xlated_insns.len(), info.xlated_prog_len as usize);
    assert!(
        info.xlated_prog_len as usize >= insns.len() / 2,
        "xlated {info:?}"
    );
    assert_eq!(info.jited_insns.len(), info.jited_prog_len as usize);
    // The same bytes loaded again give the same tag (map fd differences are masked).
    let again = Program::load(&ProgLoad::new(PROG_TYPE_XDP, &insns)).expect("loads");
    assert_eq!(again.info().expect("info").tag, info.tag);

    // Walking ids finds it, and the id opens the same program.
    assert!(kernel::prog_ids().expect("ids").contains(&info.id));
    let reopened = Program::from_id(info.id).expect("by id");
    assert_eq!(reopened.info().expect("info").tag, info.tag);
    assert!(kernel::map_ids().expect("ids").contains(&map.info().id));
    let map2 = Map::from_id(map.info().id).expect("map by id");
    assert_eq!(map2.info(), map.info());
}

#[test]
fn fd_array_supplies_maps_to_pseudo_map_idx() {
    require_kernel!();
    let map = Map::create(&MapCreate {
        map_type: MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        ..MapCreate::default()
    })
    .expect("creates array");
    // Same program, but the lddw names the map as index 1 of fd_array (BPF_PSEUDO_MAP_IDX).
    let mut insns = counter_prog(0);
    insns[3 * 8 + 1] = (5 << 4) | 1; // src = BPF_PSEUDO_MAP_IDX, dst = r1
    insns[3 * 8 + 4..3 * 8 + 8].copy_from_slice(&1i32.to_le_bytes());
    let fds = [-1, map.as_fd().as_raw_fd()];
    let prog = Program::load(&ProgLoad {
        fd_array: &fds,
        ..ProgLoad::new(PROG_TYPE_XDP, &insns)
    })
    .expect("loads");
    let run = || {
        prog.test_run(&TestRun {
            data_in: &[0u8; 14],
            ..TestRun::default()
        })
        .expect("runs")
        .retval
    };
    assert_eq!((run(), run()), (0, 5));
    assert_eq!(prog.info().expect("info").map_ids, vec![map.info().id]);
}

#[test]
fn percpu_array_values_span_all_possible_cpus() {
    require_kernel!();
    let map = Map::create(&MapCreate {
        map_type: 6, // BPF_MAP_TYPE_PERCPU_ARRAY
        key_size: 4,
        value_size: 4, // rounded up to 8 per CPU in syscall values
        max_entries: 2,
        ..MapCreate::default()
    })
    .expect("creates per-CPU array");
    let cpus = map.value_len() / 8;
    assert!(cpus >= 1 && map.value_len() % 8 == 0);
    let value: Vec<u8> = (0..cpus as u64)
        .flat_map(|c| (c + 10).to_ne_bytes())
        .collect();
    map.update(&1u32.to_ne_bytes(), &value, BPF_ANY)
        .expect("update all CPUs");
    assert_eq!(
        map.lookup(&1u32.to_ne_bytes()).expect("lookup"),
        Some(value)
    );
    // A value sized for one CPU is refused before the kernel sees it (if there are more).
    if cpus > 1 {
        assert!(matches!(
            map.update(&1u32.to_ne_bytes(), &[0u8; 8], BPF_ANY),
            Err(KernelError::ElemSize { what: "value", .. })
        ));
    }
    assert_eq!(map.entries().expect("dump").len(), 2);
}

#[test]
fn different_programs_have_different_tags() {
    require_kernel!();
    let a = Program::load(&ProgLoad::new(PROG_TYPE_XDP, &RET_42)).expect("loads");
    let other = [insn(0xb7, 0, 0, 0, 43), EXIT].concat();
    let b = Program::load(&ProgLoad::new(PROG_TYPE_XDP, &other)).expect("loads");
    assert_ne!(a.info().expect("info").tag, b.info().expect("info").tag);
}

/// BTF with: 1 = `int` (32-bit signed), 2 = `int (void)` proto, 3 = global func `main`.
fn tiny_btf() -> Vec<u8> {
    let strings = b"\0int\0main\0";
    let mut types = Vec::new();
    let mut u32s = |v: &[u32]| {
        for x in v {
            types.extend_from_slice(&x.to_ne_bytes());
        }
    };
    u32s(&[1, 1 << 24, 4, (1 << 24) | 32]); // INT "int", size 4, signed, 32 bits
    u32s(&[0, 13 << 24, 1]); // FUNC_PROTO, 0 params, returns type 1
    u32s(&[5, (12 << 24) | 1, 2]); // FUNC "main", linkage global, type 2
    let mut btf = Vec::new();
    btf.extend_from_slice(&0xeb9fu16.to_ne_bytes()); // magic
    btf.push(1); // version
    btf.push(0); // flags
    for v in [
        24u32,
        0,
        types.len() as u32,
        types.len() as u32,
        strings.len() as u32,
    ] {
        btf.extend_from_slice(&v.to_ne_bytes()); // hdr_len, type off/len, str off/len
    }
    btf.extend_from_slice(&types);
    btf.extend_from_slice(strings);
    btf
}

#[test]
fn btf_load_map_btf_and_func_info() {
    require_kernel!();
    let btf = Btf::load(&tiny_btf(), 1).expect("BTF loads");
    let map = Map::create(&MapCreate {
        map_type: MAP_TYPE_HASH,
        key_size: 4,
        value_size: 4,
        max_entries: 4,
        name: "btf_map",
        btf: Some(MapBtf {
            btf_fd: btf.as_fd(),
            key_type_id: 1,
            value_type_id: 1,
            vmlinux_value_type_id: 0,
        }),
        ..MapCreate::default()
    })
    .expect("map with BTF");
    assert_ne!(map.info().btf_id, 0);

    // func_info: one record {insn_off 0, type_id 3 (main)}; line_info: one record per
    // instruction {insn_off, file_name_off "int", line_off "main", line << 10 | col}.
    let func_info = [0u32.to_ne_bytes(), 3u32.to_ne_bytes()].concat();
    let line_info: Vec<u8> = [[0u32, 1, 5, (7 << 10) | 1], [1, 1, 5, 8 << 10]]
        .iter()
        .flatten()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let insns = [insn(0xb7, 0, 0, 0, 2), EXIT].concat();
    let prog = Program::load(&ProgLoad {
        name: "main",
        btf: Some(ProgBtf {
            btf_fd: btf.as_fd(),
            func_info: &func_info,
            func_info_rec_size: 8,
            line_info: &line_info,
            line_info_rec_size: 16,
        }),
        log_level: 2,
        ..ProgLoad::new(PROG_TYPE_XDP, &insns)
    })
    .expect("loads with func_info and line_info");
    let info = prog.info().expect("info");
    assert_eq!(info.btf_id, map.info().btf_id);
    assert_eq!((info.nr_func_info, info.nr_line_info), (1, 2));
    // The verifier log quotes source lines from line_info ("; <line text> @ <file>:<line>").
    assert!(prog.log().contains("; main @ int:7"), "log: {}", prog.log());

    // A func_info naming a non-FUNC type is rejected with the verifier saying so.
    let bad_info = [0u32.to_ne_bytes(), 1u32.to_ne_bytes()].concat();
    let err = Program::load(&ProgLoad {
        btf: Some(ProgBtf {
            btf_fd: btf.as_fd(),
            func_info: &bad_info,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
        }),
        ..ProgLoad::new(PROG_TYPE_XDP, &insns)
    })
    .expect_err("rejected");
    assert_eq!(errno(&err), libc::EINVAL);
    assert!(err.log().is_some_and(|l| l.contains("func")), "{err}");
}

#[test]
fn malformed_btf_is_rejected_with_log() {
    require_kernel!();
    let mut btf = tiny_btf();
    btf[12..16].copy_from_slice(&1000u32.to_ne_bytes()); // type_len past the end
    let err = Btf::load(&btf, 0).expect_err("rejected");
    assert!(matches!(err, KernelError::BtfRejected { .. }), "{err}");
    assert_eq!(errno(&err), libc::EINVAL);
    assert!(err.log().is_some_and(|l| !l.is_empty()), "{err}");
}

#[test]
fn mem_run_pure_alu_returns_full_64_bit_r0() {
    require_kernel!();
    let prog = [
        lddw(0, 0, 0x1122_3344_5566_7788).concat(),
        insn(0x07, 0, 0, 0, 0x11).to_vec(), // r0 += 0x11
        EXIT.to_vec(),
    ]
    .concat();
    let run = run_program_with_mem(&prog, &[]).expect("runs");
    assert_eq!(run.r0, 0x1122_3344_5566_7799);
    assert!(run.mem_after.is_empty());
}

#[test]
fn mem_run_reads_and_writes_memory_and_sees_length() {
    require_kernel!();
    let prog = [
        insn(0x61, 0, 1, 2, 0), // r0 = *(u32 *)(r1 + 2)   (unaligned: fine on packets)
        insn(0x72, 1, 0, 0, 0x7f), // *(u8 *)(r1 + 0) = 0x7f
        insn(0x0f, 0, 2, 0, 0), // r0 += r2 (the length)
        insn(0xbf, 3, 1, 0, 0), // r3 = r1
        insn(0x07, 3, 0, 0, 4), // r3 += 4
        insn(0x73, 3, 0, 0, 0), // *(u8 *)(r3 + 0) = r0 (low byte)
        EXIT,
    ]
    .concat();
    let mem = [1u8, 2, 3, 4, 5, 6];
    let run = run_program_with_mem(&prog, &mem).expect("runs");
    let loaded = u32::from_ne_bytes([3, 4, 5, 6]) as u64;
    assert_eq!(run.r0, loaded + 6);
    assert_eq!(run.mem_after, vec![0x7f, 2, 3, 4, (loaded + 6) as u8, 6]);
}

#[test]
fn mem_run_with_subprogram_and_negative_r0() {
    require_kernel!();
    // main: call sub; r0 -= 1; exit.  sub: r0 = 0; exit (so r0 = -1 as u64).
    let prog = [
        insn(0x85, 0, 1, 0, 2), // call +2 (bpf-to-bpf)
        insn(0x17, 0, 0, 0, 1), // r0 -= 1
        EXIT,
        insn(0xb7, 0, 0, 0, 0), // sub: r0 = 0
        EXIT,
    ]
    .concat();
    let run = run_program_with_mem(&prog, &[9u8; 40]).expect("runs");
    assert_eq!(run.r0, u64::MAX);
    assert_eq!(run.mem_after, vec![9u8; 40]);
}

#[test]
fn mem_run_out_of_bounds_access_is_rejected_with_log() {
    require_kernel!();
    let prog = [insn(0x79, 0, 1, 0, 0), EXIT].concat(); // r0 = *(u64 *)(r1 + 0)
    let err = run_program_with_mem(&prog, &[0u8; 4]).expect_err("only 4 bytes");
    assert_eq!(errno(&err), libc::EACCES);
    let log = err.log().expect("log");
    assert!(log.contains("invalid access to packet"), "log: {log}");
}

#[test]
fn mem_run_short_and_largest_memory() {
    require_kernel!();
    // One byte (shorter than the 14 bytes XDP test_run needs): padding stays invisible.
    let read_first = [insn(0x71, 0, 1, 0, 0), EXIT].concat(); // r0 = *(u8 *)(r1 + 0)
    let run = run_program_with_mem(&read_first, &[0xab]).expect("runs");
    assert_eq!((run.r0, run.mem_after), (0xab, vec![0xab]));

    // The largest memory still linear in the XDP packet: read its last byte.
    let last = kernel::MEM_RUN_MAX - 1;
    let read_last = [insn(0x71, 0, 1, last as i16, 0), EXIT].concat();
    let mut mem = vec![0u8; kernel::MEM_RUN_MAX];
    mem[last] = 0x5a;
    let run = run_program_with_mem(&read_last, &mem).expect("runs");
    assert_eq!(run.r0, 0x5a);
    assert_eq!(run.mem_after, mem);

    mem.push(0);
    assert!(matches!(
        run_program_with_mem(&read_last, &mem),
        Err(KernelError::MemRun { .. })
    ));
}

#[test]
fn xdp_test_run_needs_an_ethernet_header_of_data() {
    require_kernel!();
    // Documents why run_program_with_mem pads memory to 14 bytes.
    let prog = Program::load(&ProgLoad::new(PROG_TYPE_XDP, &RET_42)).expect("loads");
    let run = |len: usize| {
        prog.test_run(&TestRun {
            data_in: &vec![0u8; len],
            ..TestRun::default()
        })
    };
    assert_eq!(run(14).expect("14 bytes run").retval, 42);
    assert_eq!(errno(&run(13).expect_err("13 bytes refused")), libc::EINVAL);
}
