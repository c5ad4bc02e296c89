//! Programs using the verifier features added for map-in-map, callbacks, legacy packet
//! loads and spin locks: they are verified at load, run unchecked in the interpreter and
//! the JIT, and give the kernel's results (bpf(2) as root; a `SKIPPED` line where the
//! kernel is unavailable).
#![cfg(target_os = "linux")]

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::Arc;

use oxbpf::kernel::{self, Btf, Map, MapBtf, MapCreate, ProgBtf, ProgLoad, Program, TestRun};
use oxbpf::object::Object;
use oxbpf::program::{ProgramType, TestRun as OurRun};
use oxbpf::runtime::{EngineBuilder, InterpBuilder, JitBuilder, Runtime};

fn kernel_ok() -> bool {
    match kernel::available() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            false
        }
    }
}

fn example(name: &str) -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let bytes = std::fs::read(&path).unwrap();
    Object::parse(&bytes, name.trim_end_matches(".o")).unwrap()
}

fn engines() -> [(&'static str, Box<dyn EngineBuilder>); 2] {
    [
        ("interp", Box::new(InterpBuilder)),
        ("jit", Box::new(JitBuilder)),
    ]
}

/// Packets of these lengths: Ethernet + IPv4 shaped where an IPv4 header fits (the
/// kernel's skb test runs refuse a truncated IPv4 header), otherwise not IP.
fn packets(lens: &[usize]) -> Vec<Vec<u8>> {
    lens.iter()
        .map(|&n| {
            let mut p: Vec<u8> = (0..n).map(|i| i as u8).collect();
            if n >= 34 {
                p[12] = 0x08;
                p[13] = 0x00;
            }
            p
        })
        .collect()
}

/// Loads program `prog` of `obj` into the kernel with its maps (BTF included); returns
/// the program and the maps by object index.
fn kernel_load(obj: &Object, prog: &str) -> (Program, Vec<Map>, Option<Btf>) {
    let btf = obj.btf.as_ref().map(|b| Btf::load(b.raw(), 0).unwrap());
    let maps: Vec<Map> = obj
        .maps
        .iter()
        .map(|m| {
            Map::create(&MapCreate {
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.map_flags,
                btf: match (&btf, m.btf_value_type_id) {
                    (Some(b), Some(v)) => Some(MapBtf {
                        btf_fd: b.as_fd(),
                        key_type_id: m.btf_key_type_id.unwrap_or(0),
                        value_type_id: v,
                        vmlinux_value_type_id: 0,
                    }),
                    _ => None,
                },
                ..MapCreate::default()
            })
            .unwrap()
        })
        .collect();
    let p = obj.program(prog).unwrap();
    let fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let bytes = p.bind_maps(&fds).unwrap().concat();
    let fi = p.func_info_bytes();
    let kind = p.kind.clone().unwrap();
    let kp = Program::load(&ProgLoad {
        license: &obj.license,
        btf: btf.as_ref().map(|b| ProgBtf {
            btf_fd: b.as_fd(),
            func_info: &fi,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
        }),
        ..ProgLoad::new(kind.prog_type, &bytes)
    })
    .unwrap_or_else(|e| panic!("kernel load of {prog}: {e}"));
    (kp, maps, btf)
}

/// `examples/spin_lock.o`: verified, run in both engines and in the kernel on the same
/// packets, the counter value (lock word, max length, packets, bytes) is the same; then
/// four threads run it at once and no update is lost.
#[test]
fn spin_locked_counter_matches_the_kernel_in_both_engines() {
    let obj = example("spin_lock.o");
    let pkts = packets(&[60, 14, 1500, 64, 99]);
    let key = 0u32.to_ne_bytes();
    let mut values = Vec::new();
    for (name, engine) in engines() {
        let rt = Runtime::with_engine(engine);
        let l = rt.load_object(&obj).unwrap();
        let p = l.program("count_locked").unwrap();
        assert!(
            p.verified.is_some(),
            "{name}: not verified: {:?}",
            p.verify_note
        );
        for pkt in &pkts {
            let out = p
                .test_run(&OurRun {
                    data_in: pkt,
                    ..OurRun::default()
                })
                .unwrap();
            assert_eq!(out.output.retval, 2, "{name}");
        }
        let m = &l.map("counters").unwrap().map;
        values.push(m.lookup(&key).unwrap());

        // Concurrent runs serialise on the lock.
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let p = Arc::clone(p);
                std::thread::spawn(move || {
                    let pkt = vec![0u8; 100];
                    for _ in 0..2000 {
                        p.test_run(&OurRun {
                            data_in: &pkt,
                            ..OurRun::default()
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = m.lookup(&key).unwrap();
        let packets = u64::from_ne_bytes(v[8..16].try_into().unwrap());
        let bytes = u64::from_ne_bytes(v[16..24].try_into().unwrap());
        assert_eq!(
            packets,
            pkts.len() as u64 + 8000,
            "{name}: lost packet updates"
        );
        let first: u64 = pkts.iter().map(|p| p.len() as u64).sum();
        assert_eq!(bytes, first + 8000 * 100, "{name}: lost byte updates");
    }
    assert_eq!(values[0], values[1], "interp and jit differ");
    if !kernel_ok() {
        return;
    }
    let (kp, maps, _btf) = kernel_load(&obj, "count_locked");
    for pkt in &pkts {
        let out = kp
            .test_run(&TestRun {
                data_in: pkt,
                ..TestRun::default()
            })
            .unwrap();
        assert_eq!(out.retval, 2);
    }
    let theirs = maps[0].lookup(&key).unwrap().unwrap();
    assert_eq!(values[0], theirs, "ours vs the kernel's counter");
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

/// `r6 = ctx; r7 = byte[k]; r7 += half[k]; r0 = word[r8 = j]; r0 += r7`: legacy loads
/// (network byte order), one at `k`, one through an index register.
fn ld_abs_program(k: i32, j: i32) -> Vec<[u8; 8]> {
    vec![
        insn(0xbf, 6, 1, 0, 0), // r6 = r1
        insn(0x30, 0, 0, 0, k), // r0 = ld_abs u8 [k]
        insn(0xbf, 7, 0, 0, 0), // r7 = r0
        insn(0x28, 0, 0, 0, k), // r0 = ld_abs u16 [k]
        insn(0x0f, 7, 0, 0, 0), // r7 += r0
        insn(0xb7, 8, 0, 0, j), // r8 = j
        insn(0x40, 0, 8, 0, 2), // r0 = ld_ind u32 [r8 + 2]
        insn(0x0f, 0, 7, 0, 0), // r0 += r7
        insn(0x95, 0, 0, 0, 0), // exit
    ]
}

/// `BPF_LD_ABS`/`BPF_LD_IND` in socket filters and `sched_cls`: verified, run unchecked
/// in both engines, and the kernel's results — including loads past the packet, which
/// end the program with 0.
#[test]
fn legacy_packet_loads_are_verified_and_match_the_kernel() {
    let pkts = packets(&[64, 20, 15, 40, 200]);
    for (ty_name, kernel_type) in [
        ("socket_filter", kernel::PROG_TYPE_SOCKET_FILTER),
        ("sched_cls", kernel::PROG_TYPE_SCHED_CLS),
    ] {
        let ty = ProgramType::from_name(ty_name).unwrap();
        for (k, j) in [(12, 14), (0, 40), (3, 100), (30, 2)] {
            let prog = ld_abs_program(k, j);
            let mut ours = Vec::new();
            for (name, engine) in engines() {
                let rt = Runtime::with_engine(engine);
                let p = rt.load_raw("ldabs", prog.clone(), ty, "GPL").unwrap();
                assert!(p.verified.is_some(), "{ty_name} {name}: not verified");
                let r: Vec<u32> = pkts
                    .iter()
                    .map(|pkt| {
                        p.test_run(&OurRun {
                            data_in: pkt,
                            ..OurRun::default()
                        })
                        .unwrap()
                        .output
                        .retval
                    })
                    .collect();
                ours.push(r);
            }
            assert_eq!(ours[0], ours[1], "{ty_name} k={k} j={j}: interp vs jit");
            if !kernel_ok() {
                continue;
            }
            let bytes = prog.concat();
            let kp = Program::load(&ProgLoad::new(kernel_type, &bytes)).unwrap();
            let theirs: Vec<u32> = pkts
                .iter()
                .map(|pkt| {
                    kp.test_run(&TestRun {
                        data_in: pkt,
                        ..TestRun::default()
                    })
                    .unwrap_or_else(|e| panic!("{ty_name} len {}: {e}", pkt.len()))
                    .retval
                })
                .collect();
            assert_eq!(ours[0], theirs, "{ty_name} k={k} j={j}: ours vs the kernel");
        }
    }
}

/// The examples that used to fall back to checked mode (map-in-map lookups, a
/// `bpf_loop` callback) are now verified in both engines.
#[test]
fn map_in_map_and_callback_examples_are_verified() {
    for (file, prog) in [
        ("btf_maps.o", "classify"),
        ("btf_maps-classifier.o", "classify"),
        ("extern_call.o", "copy"),
    ] {
        let obj = example(file);
        for (name, engine) in engines() {
            let rt = Runtime::with_engine(engine);
            let l = rt.load_object(&obj).unwrap();
            let p = l.program(prog).unwrap();
            assert!(
                p.verified.is_some() && p.verify_note.is_none(),
                "{file}/{prog} on {name}: {:?}",
                p.verify_note
            );
            let pkt = packets(&[64]).remove(0);
            p.test_run(&OurRun {
                data_in: &pkt,
                ..OurRun::default()
            })
            .unwrap();
        }
    }
}

/// `examples/callbacks.o` (`bpf_loop` and `bpf_for_each_map_elem` with an early stop):
/// verified, and in both engines the same return values and array contents as the
/// kernel, packet after packet.
#[test]
fn callbacks_example_matches_the_kernel_in_both_engines() {
    let obj = example("callbacks.o");
    let pkts = packets(&[64, 14, 99, 60, 200, 37]);
    let mut ours = Vec::new();
    for (name, engine) in engines() {
        let rt = Runtime::with_engine(engine);
        let l = rt.load_object(&obj).unwrap();
        let p = l.program("sum_values").unwrap();
        assert!(
            p.verified.is_some(),
            "{name}: not verified: {:?}",
            p.verify_note
        );
        let rets: Vec<u32> = pkts
            .iter()
            .map(|pkt| {
                p.test_run(&OurRun {
                    data_in: pkt,
                    ..OurRun::default()
                })
                .unwrap()
                .output
                .retval
            })
            .collect();
        let m = &l.map("values").unwrap().map;
        let vals: Vec<Vec<u8>> = (0..8u32)
            .map(|k| m.lookup(&k.to_ne_bytes()).unwrap())
            .collect();
        ours.push((rets, vals));
    }
    assert_eq!(ours[0], ours[1], "interp vs jit");
    if !kernel_ok() {
        return;
    }
    let (kp, maps, _btf) = kernel_load(&obj, "sum_values");
    let rets: Vec<u32> = pkts
        .iter()
        .map(|pkt| {
            kp.test_run(&TestRun {
                data_in: pkt,
                ..TestRun::default()
            })
            .unwrap()
            .retval
        })
        .collect();
    let vals: Vec<Vec<u8>> = (0..8u32)
        .map(|k| maps[0].lookup(&k.to_ne_bytes()).unwrap().unwrap())
        .collect();
    assert_eq!(ours[0], (rets, vals), "ours vs the kernel");
}
