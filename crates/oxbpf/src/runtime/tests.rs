//! The runtime on the example objects, without the kernel.

use super::*;
use crate::program::TestRun;

use crate::object::object_name_from_path;

pub(super) fn fixture(name: &str) -> Object {
    let path = format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    Object::parse(&bytes, &object_name_from_path(&path)).unwrap()
}

pub(super) fn run_packet(p: &Program, data: &[u8]) -> RunOutput {
    p.test_run(&TestRun {
        data_in: data,
        ..TestRun::default()
    })
    .unwrap()
}

#[test]
fn hello_counts_in_bss_and_prints() {
    let rt = Runtime::new();
    let obj = fixture("hello.o");
    let l = rt.load_object(&obj).unwrap();
    let p = l.program("hello").unwrap();
    assert_eq!(p.prog_type.bpftool_name, "xdp");
    assert_eq!(p.name, "hello");
    assert!(p.gpl_compatible);
    assert_eq!(p.map_ids.len(), 3);
    let out = run_packet(p, &[0u8; 64]);
    assert_eq!(out.output.retval, 2);
    assert_eq!(out.output.data_out, vec![0u8; 64]);
    assert_eq!(out.trace.len(), 1);
    assert_eq!(out.trace[0].text, "Hello World 1");
    run_packet(p, &[0u8; 64]);
    let zero = 0u32.to_ne_bytes();
    assert_eq!(
        l.map("hello.bss").unwrap().map.lookup(&zero).unwrap(),
        2u32.to_ne_bytes()
    );
    assert_eq!(
        l.map("hello.data").unwrap().map.lookup(&zero).unwrap(),
        2u64.to_ne_bytes()
    );
    // .rodata is frozen: user space cannot change `verbose`.
    let ro = l.map("hello.rodata").unwrap();
    assert!(ro.frozen);
    assert!(ro.map.update(&zero, &0u32.to_ne_bytes(), 0).is_err());
    // Ids are unique and the tables know both.
    assert!(rt.program_by_id(p.id).is_some());
    for id in &p.map_ids {
        assert!(rt.map_by_id(*id).is_some());
    }
}

#[test]
fn legacy_hash_counter_by_protocol() {
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("legacy_maps.o")).unwrap();
    let p = l.program("count_packets").unwrap();
    let mut pkt = [0u8; 64];
    pkt[12] = 0x08;
    assert_eq!(run_packet(p, &pkt).output.retval, 0);
    assert_eq!(run_packet(p, &pkt).output.retval, 0);
    let counts = &l.map("counts").unwrap().map;
    let key = (0x0008u32).to_ne_bytes();
    assert_eq!(counts.lookup(&key).unwrap(), 2u64.to_ne_bytes());
    // The perf event array got one slot per possible CPU.
    assert_eq!(
        l.map("events").unwrap().map.def().max_entries,
        crate::maps::num_possible_cpus()
    );
}

#[test]
fn pins() {
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("hello.o")).unwrap();
    let m = Arc::clone(l.maps.first().unwrap());
    rt.pin("/sys/fs/bpf/x", Pinned::Map(Arc::clone(&m)))
        .unwrap();
    assert!(rt.pin("/sys/fs/bpf/x", Pinned::Map(m)).is_err());
    assert!(matches!(
        rt.get_pinned("/sys/fs/bpf/x"),
        Some(Pinned::Map(_))
    ));
    rt.unpin("/sys/fs/bpf/x").unwrap();
    assert!(rt.unpin("/sys/fs/bpf/x").is_err());
}

#[test]
fn xlated_dump_matches_bpftool() {
    // bpftool prog dump xlated linum of hello.o on the kernel, with its map ids replaced
    // by ours: the same header, source lines and instructions (the kernel prints
    // trace_printk's address-relative id where we print the helper id).
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("hello.o")).unwrap();
    let p = l.program("hello").unwrap();
    let d = p.dump_xlated(true);
    let ids: Vec<u32> = p.map_ids.clone();
    let expected = format!(
        "int hello(struct xdp_md * ctx):
; counter++; [file:./hello.c line_num:11 line_col:9]
   0: (18) r1 = map[id:{a}][0]+0
   2: (61) r3 = *(u32 *)(r1 +0)
   3: (07) r3 += 1
; last_seen = counter; [file:./hello.c line_num:12 line_col:14]
   4: (bf) r2 = r3
   5: (67) r2 <<= 32
   6: (c7) r2 s>>= 32
; last_seen = counter; [file:./hello.c line_num:12 line_col:12]
   7: (18) r4 = map[id:{b}][0]+0
   9: (7b) *(u64 *)(r4 +0) = r2
; counter++; [file:./hello.c line_num:11 line_col:9]
  10: (63) *(u32 *)(r1 +0) = r3
; if (verbose) [file:./hello.c line_num:13 line_col:6]
  11: (18) r1 = map[id:{c}][0]+0
  13: (61) r1 = *(u32 *)(r1 +0)
; if (verbose) [file:./hello.c line_num:13 line_col:6]
  14: (15) if r1 == 0x0 goto pc+4
; bpf_printk(\"Hello World %d\", counter); [file:./hello.c line_num:14 line_col:3]
  15: (18) r1 = map[id:{c}][0]+4
  17: (b7) r2 = 15
  18: (85) call bpf_trace_printk#6
; return XDP_PASS; [file:./hello.c line_num:15 line_col:2]
  19: (b7) r0 = 2
  20: (95) exit
",
        a = ids[0],
        b = ids[1],
        c = ids[2]
    );
    assert_eq!(d, expected);
    assert!(p
        .dump_xlated(false)
        .starts_with("int hello(struct xdp_md * ctx):\n; counter++;\n"));
}

#[test]
fn raw_socket_filter_with_trace_printk() {
    // A raw program (no object) run as a socket filter on a packet: it prints the length.
    let src = "
        r6 = r1
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
        exit";
    let code = crate::asm::assemble(src).unwrap();
    let insns: Vec<[u8; 8]> = code.chunks(8).map(|c| c.try_into().unwrap()).collect();
    let rt = Runtime::new();
    let ty = ProgramType::from_name("socket").unwrap();
    let p = rt.load_raw("lenprint", insns, ty, "GPL").unwrap();
    let out = run_packet(&p, &[0u8; 60]);
    assert_eq!(out.output.retval, 46);
    assert_eq!(out.trace[0].text, "len: 46\n");
}

#[test]
fn inner_maps_prog_arrays_and_pinned_maps_from_btf_maps() {
    let rt = Runtime::new();
    let obj = fixture("btf_maps.o");
    let only = vec!["tail_a".to_string()];
    let l = rt
        .load_object_with(
            &obj,
            &LoadOptions {
                only: &only,
                ..LoadOptions::default()
            },
        )
        .unwrap();
    assert_eq!(l.programs.len(), 1);
    let tail = l.program("tail_a").unwrap();
    // jumps[1] = tail_a's id, from the object's initial slots.
    let jumps = &l.map("jumps").unwrap().map;
    assert_eq!(jumps.prog_array_get(1), Some(tail.id));
    assert_eq!(jumps.prog_array_get(0), None);
    // outer[0] = inner_a, outer[2] = inner_b (ids as user space sees them).
    let outer = &l.map("outer").unwrap().map;
    let id_at = |i: u32| {
        u32::from_ne_bytes(
            outer.lookup(&i.to_ne_bytes()).unwrap()[..4]
                .try_into()
                .unwrap(),
        )
    };
    assert_eq!(id_at(0), l.map("inner_a").unwrap().id);
    assert_eq!(id_at(2), l.map("inner_b").unwrap().id);
    assert!(outer.lookup(&1u32.to_ne_bytes()).is_err());
    // `flows` is pinned by name; a second load of the object reuses the pinned map.
    let flows = l.map("flows").unwrap();
    assert!(matches!(
        rt.get_pinned("/sys/fs/bpf/flows"),
        Some(Pinned::Map(m)) if m.id == flows.id
    ));
    let again = rt
        .load_object_with(
            &obj,
            &LoadOptions {
                maps_only: true,
                ..LoadOptions::default()
            },
        )
        .unwrap();
    assert_eq!(again.map("flows").unwrap().id, flows.id);
    assert_ne!(again.map("outer").unwrap().id, l.map("outer").unwrap().id);
    // The whole object: classify looks up flows and outer[0], then tail calls jumps[1] =
    // tail_a, which returns 1 (0 without the tail call), as in the kernel.
    let all = rt.load_object(&obj).unwrap();
    let out = run_packet(all.program("classify").unwrap(), &[0u8; 64]);
    assert_eq!(out.output.retval, 1);
    // A failed load leaves nothing behind: an object whose program the loader refuses.
    let (nmaps, nprogs) = (rt.maps().len(), rt.programs().len());
    let mut bad = fixture("btf_maps.o");
    bad.programs[0].insns[0] = [0x85, 0, 0, 0, 0xff, 0xff, 0, 0]; // call to helper 65535
    match rt.load_object(&bad) {
        Err(e) => assert!(e.to_string().contains("65535"), "{e}"),
        Ok(_) => panic!("a call to helper 65535 loaded"),
    }
    assert_eq!((rt.maps().len(), rt.programs().len()), (nmaps, nprogs));
}

#[test]
fn legacy_map_in_map_objects_load_and_run() {
    let rt = Runtime::new();
    // 28-byte definitions: `outer` is created with `inner` as its template, empty.
    let l = rt.load_object(&fixture("legacy_inner.o")).unwrap();
    let p = l.program("lookup").unwrap();
    assert_eq!(run_packet(p, &[0u8; 64]).output.retval, 0);
    let outer = &l.map("outer").unwrap().map;
    assert_eq!(outer.def().map_type, MapType::ArrayOfMaps);
    assert!(
        outer.lookup(&0u32.to_ne_bytes()).is_err(),
        "slot 0 is empty"
    );
    // iproute2 ids: `counters_a` sits in slot 1 of `outer` (the program finds it).
    let ty = ProgramType::from_name("sched_cls");
    let opts = LoadOptions {
        prog_type: ty,
        ..LoadOptions::default()
    };
    let l = rt
        .load_object_with(&fixture("iproute2_mim.o"), &opts)
        .unwrap();
    let outer = &l.map("outer").unwrap().map;
    let slot = outer.lookup(&1u32.to_ne_bytes()).unwrap();
    assert_eq!(slot, l.map("counters_a").unwrap().id.to_ne_bytes());
    let p = l.program("count_via_outer").unwrap();
    for len in [30, 70, 300] {
        assert_eq!(run_packet(p, &vec![0u8; len]).output.retval, 0);
    }
    let a = &l.map("counters_a").unwrap().map;
    for (k, n) in [(0u32, 1u64), (1, 1), (2, 1), (3, 0)] {
        assert_eq!(a.lookup(&k.to_ne_bytes()).unwrap(), n.to_ne_bytes(), "{k}");
    }
    // The section names no type: without one the load fails naming it.
    let e = rt.load_object(&fixture("iproute2_mim.o")).unwrap_err();
    assert!(e.to_string().contains("ingress"), "{e}");
    let l = rt
        .load_object_with(&fixture("iproute2_maps.o"), &opts)
        .unwrap();
    assert_eq!(l.programs.len(), 2);
}

#[test]
fn every_mcpu_with_and_without_debug_info_runs_alike() {
    let outputs = |file: &str| -> Vec<(u32, Vec<u8>)> {
        let rt = Runtime::new();
        let l = rt
            .load_object(&fixture(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut pkt = [0u8; 64];
        pkt[12] = 0x08;
        pkt[23] = 6;
        let mut out = Vec::new();
        for p in &l.programs {
            for data in [&pkt[..], &[7u8; 100][..]] {
                let o = run_packet(p, data).output;
                out.push((o.retval, o.data_out));
            }
        }
        for m in &l.maps {
            let mut e: Vec<_> = m.map.keys().into_iter().collect();
            e.sort();
            for k in e {
                // (Perf event arrays hold no values user space can read.)
                if let Ok(v) = m.map.lookup(&k) {
                    out.push((0, v));
                }
            }
        }
        out
    };
    let base_sub = outputs("subprog.o");
    let base_leg = outputs("legacy_maps.o");
    for v in 1..=4 {
        for g in ["-g", ""] {
            let f = format!("mcpu/subprog-v{v}{g}.o");
            assert_eq!(outputs(&f), base_sub, "{f}");
            let o = fixture(&f);
            assert_eq!(o.btf.is_some(), !g.is_empty(), "{f}");
            let f = format!("mcpu/legacy_maps-v{v}{g}.o");
            assert_eq!(outputs(&f), base_leg, "{f}");
        }
    }
}
