use super::reloc::{imm, src_reg};
use super::*;
use crate::btf::kind;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn load(name: &str) -> Object {
    Object::parse(&fixture(name), &object_name_from_path(name)).unwrap()
}

fn map_names(o: &Object) -> Vec<&str> {
    o.maps.iter().map(|m| m.name.as_str()).collect()
}

fn relocs(p: &ProgramSection) -> Vec<(usize, &str, RelocKind)> {
    p.relocations
        .iter()
        .map(|r| (r.insn, r.symbol.as_str(), r.kind))
        .collect()
}

#[test]
fn hello_counter() {
    for f in ["hello.o", "hello-v1.o", "hello-nobtf.o"] {
        let o = Object::parse(&fixture(f), "hello").unwrap();
        assert_eq!(o.name, "hello");
        assert_eq!(o.license, "Dual BSD/GPL");
        assert!(o.is_gpl_compatible());
        assert_eq!(o.kernel_version, None);
        assert_eq!(
            map_names(&o),
            ["hello.bss", "hello.rodata", "hello.data"],
            "{f}"
        );
        let bss = &o.maps[0];
        assert_eq!(
            (bss.map_type, bss.key_size, bss.value_size, bss.max_entries),
            (map_type::ARRAY, 4, 4, 1)
        );
        assert_eq!(bss.data.as_deref(), Some(&[0u8; 4][..]));
        assert_eq!(bss.origin, MapOrigin::Data(DataKind::Bss));
        let ro = &o.maps[1];
        assert_eq!(ro.map_flags, BPF_F_RDONLY_PROG);
        assert_eq!(&ro.data.as_ref().unwrap()[4..], b"Hello World %d\0");
        assert_eq!(o.maps[2].data.as_deref(), Some(&7u64.to_le_bytes()[..]));
        assert_eq!(o.maps[2].map_flags, 0);
        assert_eq!(o.programs.len(), 1);
        let p = &o.programs[0];
        assert_eq!((p.name.as_str(), p.section.as_str()), ("hello", "xdp"));
        let k = p.kind.as_ref().unwrap();
        assert_eq!(k.prog_type, prog_type::XDP);
        assert_eq!(k.expected_attach_type, Some(attach_type::XDP));
        let got: Vec<_> = relocs(p).into_iter().map(|(_, s, k)| (s, k)).collect();
        assert_eq!(
            got,
            [
                ("counter", RelocKind::MapValue { map: 0, offset: 0 }),
                ("last_seen", RelocKind::MapValue { map: 2, offset: 0 }),
                ("verbose", RelocKind::MapValue { map: 1, offset: 0 }),
                (".rodata", RelocKind::MapValue { map: 1, offset: 4 }),
            ],
            "{f}"
        );
        for r in &p.relocations {
            let RelocKind::MapValue { map, offset } = r.kind else {
                unreachable!()
            };
            assert_eq!(src_reg(&p.insns[r.insn]), BPF_PSEUDO_MAP_VALUE);
            assert_eq!(imm(&p.insns[r.insn]), map as i32);
            assert_eq!(imm(&p.insns[r.insn + 1]), offset as i32);
        }
    }
    let o = load("hello.o");
    assert_eq!(map_names(&load("hello-v1.o"))[0], "hello_v1.bss");
    assert!(load("hello-nobtf.o").btf.is_none());
    let p = &o.programs[0];
    assert_eq!(
        relocs(p).iter().map(|r| r.0).collect::<Vec<_>>(),
        [0, 7, 11, 15]
    );
    assert_eq!(p.func_info.len(), 1);
    assert_eq!(p.func_info[0].insn, 0);
    let btf = o.btf.as_ref().unwrap();
    assert_eq!(
        btf.type_by_id(p.func_info[0].type_id).unwrap().name,
        "hello"
    );
    let l = &p.line_info[0];
    assert_eq!((l.insn, l.line_num, l.line.trim()), (0, 11, "counter++;"));
    // The .bss map's BTF value type prints like bpftool's map dump.
    let bss = &o.maps[0];
    let v = btf
        .dump(bss.btf_value_type_id.unwrap(), &10739u32.to_le_bytes())
        .unwrap();
    assert_eq!(v, serde_json::json!({".bss": [{"counter": 10739}]}));
    assert_eq!(
        btf.type_by_id(bss.btf_value_type_id.unwrap())
            .unwrap()
            .kind
            .number(),
        kind::DATASEC
    );
}

#[test]
fn subprograms_are_linked_per_program() {
    for f in ["subprog.o", "subprog-v4.o"] {
        let o = load(f);
        let names: Vec<_> = o.programs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["xdp_sub", "tc_sub"], "{f}");
        let layout = |p: &ProgramSection| -> Vec<(String, usize, usize)> {
            p.functions
                .iter()
                .map(|f| (f.name.clone(), f.start, f.len))
                .collect()
        };
        let xdp = layout(o.program("xdp_sub").unwrap());
        let tc = o.program("tc_sub").unwrap();
        let t = layout(tc);
        let names: Vec<_> = t.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, ["tc_sub", "add_two", "add_one"], "{f}");
        assert_eq!(
            xdp.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["xdp_sub", "add_one"]
        );
        // Functions are laid out back to back and fill the program.
        for l in [&xdp, &t] {
            assert!(l.windows(2).all(|w| w[0].1 + w[0].2 == w[1].1));
            assert_eq!(l[0].1, 0);
        }
        assert_eq!(t.last().map(|f| f.1 + f.2), Some(tc.insns.len()));
        let (two, one) = (t[1].1, t[2].1);
        let calls: Vec<_> = relocs(tc).into_iter().map(|(_, s, k)| (s, k)).collect();
        assert_eq!(
            calls,
            [
                ("add_two", RelocKind::Call { target: two }),
                ("add_one", RelocKind::Call { target: one }),
                ("add_one", RelocKind::Call { target: one }),
            ]
        );
        if f == "subprog.o" {
            assert_eq!((xdp[1].1, two, one, tc.insns.len()), (9, 9, 13, 16));
        }
        for r in &tc.relocations {
            let RelocKind::Call { target } = r.kind else {
                unreachable!()
            };
            let insn = &tc.insns[r.insn];
            assert_eq!(src_reg(insn), BPF_PSEUDO_CALL);
            assert_eq!(r.insn as i64 + 1 + i64::from(imm(insn)), target as i64);
        }
        // func_info: one record per placed function, at its final start.
        if let Some(btf) = &o.btf {
            let fi: Vec<_> = tc
                .func_info
                .iter()
                .map(|r| (r.insn, btf.type_by_id(r.type_id).unwrap().name.as_str()))
                .collect();
            assert_eq!(fi, [(0, "tc_sub"), (two, "add_two"), (one, "add_one")]);
            let lines: Vec<_> = tc.line_info.iter().map(|l| l.insn).collect();
            assert!(lines.windows(2).all(|w| w[0] < w[1]));
            assert!(tc
                .line_info
                .iter()
                .any(|l| l.insn == one && l.line_num == 10 && l.line.contains("int add_one(")));
        }
        // The unused static helper is linked nowhere.
        assert!(o
            .programs
            .iter()
            .all(|p| p.functions.iter().all(|f| f.name != "unused_helper")));
    }
}

#[test]
fn legacy_maps_section() {
    let o = load("legacy_maps.o");
    assert_eq!(o.kernel_version, Some(0x050a00));
    assert_eq!(map_names(&o), ["counts", "events"]);
    let c = &o.maps[0];
    assert_eq!(
        (c.map_type, c.key_size, c.value_size, c.max_entries),
        (map_type::HASH, 4, 8, 1024)
    );
    let e = &o.maps[1];
    assert_eq!((e.map_type, e.max_entries), (map_type::PERF_EVENT_ARRAY, 0));
    assert_eq!(e.section_offset, 20);
    let p = &o.programs[0];
    assert_eq!(p.kind.as_ref().unwrap().prog_type, prog_type::SOCKET_FILTER);
    assert_eq!(
        relocs(p),
        [
            (7, "counts", RelocKind::Map { map: 0 }),
            (17, "counts", RelocKind::Map { map: 0 }),
            (24, "events", RelocKind::Map { map: 1 }),
        ]
    );
    for r in &p.relocations {
        assert_eq!(src_reg(&p.insns[r.insn]), BPF_PSEUDO_MAP_FD);
        let RelocKind::Map { map } = r.kind else {
            unreachable!()
        };
        assert_eq!(imm(&p.insns[r.insn]), map as i32);
    }
}

#[test]
fn iproute2_layout_and_unknown_sections() {
    let o = load("iproute2_maps.o");
    let (_, jt) = o.map("jmp_table").unwrap();
    assert_eq!(jt.pinning, Pinning::GlobalNs);
    assert_eq!(
        jt.origin,
        MapOrigin::Legacy {
            def_size: 36,
            id: Some(1),
            inner_id: Some(0),
            inner_idx: Some(0),
            inner_map_idx: None
        }
    );
    let (si, st) = o.map("stats").unwrap();
    assert_eq!(st.pinning, Pinning::ObjectNs);
    assert!(matches!(
        st.origin,
        MapOrigin::Legacy {
            inner_id: Some(3),
            inner_idx: Some(5),
            ..
        }
    ));
    // Neither is a map-in-map: `id`/`inner_id`/`inner_idx` link nothing.
    assert!(jt.inner.is_none() && st.inner.is_none());
    assert!(jt.initial_slots.is_empty() && st.initial_slots.is_empty());
    let secs: Vec<_> = o
        .programs
        .iter()
        .map(|p| (p.section.as_str(), p.kind.is_none()))
        .collect();
    assert_eq!(secs, [("2/7", true), ("from-netdev", true)]);
    let entry = o.program("entry").unwrap();
    assert!(relocs(entry).contains(&(5, "stats", RelocKind::Map { map: si })));
    assert!(o.btf.is_none());
}

#[test]
fn btf_defined_maps() {
    let o = load("btf_maps.o");
    assert_eq!(
        map_names(&o),
        ["inner_a", "inner_b", "outer", "jumps", "flows"]
    );
    let (_, flows) = o.map("flows").unwrap();
    assert_eq!(
        (
            flows.map_type,
            flows.key_size,
            flows.value_size,
            flows.max_entries,
            flows.map_flags
        ),
        (map_type::HASH, 24, 24, 128, 1)
    );
    assert_eq!(flows.pinning, Pinning::ByName);
    let btf = o.btf.as_ref().unwrap();
    assert_eq!(
        btf.type_by_id(flows.btf_key_type_id.unwrap()).unwrap().name,
        "key_t"
    );
    let (_, outer) = o.map("outer").unwrap();
    assert_eq!(
        (
            outer.map_type,
            outer.key_size,
            outer.value_size,
            outer.max_entries
        ),
        (map_type::ARRAY_OF_MAPS, 4, 4, 3)
    );
    let inner = outer.inner.as_ref().unwrap();
    assert_eq!(
        (
            inner.map_type,
            inner.key_size,
            inner.value_size,
            inner.max_entries
        ),
        (map_type::ARRAY, 4, 8, 4)
    );
    assert_eq!(
        outer.initial_slots,
        [
            MapSlot {
                index: 0,
                target: MapSlotTarget::Map(0)
            },
            MapSlot {
                index: 2,
                target: MapSlotTarget::Map(1)
            }
        ]
    );
    let (_, jumps) = o.map("jumps").unwrap();
    assert_eq!(
        (jumps.map_type, jumps.key_size, jumps.value_size),
        (3, 4, 4)
    );
    assert_eq!(
        jumps.initial_slots,
        [MapSlot {
            index: 1,
            target: MapSlotTarget::Program("tail_a".into())
        }]
    );
    // Two programs in one "tc" section, plus kprobe/tracepoint targets.
    let progs: Vec<_> = o
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str()))
        .collect();
    assert_eq!(
        progs,
        [
            ("tail_a", "tc"),
            ("classify", "tc"),
            ("probe", "kprobe/do_sys_open"),
            ("tp", "tracepoint/syscalls/sys_enter_openat")
        ]
    );
    let classify = o.program("classify").unwrap();
    assert_eq!(
        relocs(classify),
        [
            (15, "flows", RelocKind::Map { map: 4 }),
            (24, "outer", RelocKind::Map { map: 2 }),
            (33, "jumps", RelocKind::Map { map: 3 }),
        ]
    );
    // The second program of the section has its own func_info/line_info, rebased to 0.
    assert_eq!(classify.func_info.len(), 1);
    assert_eq!(classify.func_info[0].insn, 0);
    assert_eq!(classify.line_info[0].line_num, 67);
    assert!(classify.line_info[0].line.contains("int classify("));
    let probe = o.program("probe").unwrap();
    let k = probe.kind.as_ref().unwrap();
    assert_eq!(
        (k.prog_type, k.attach_target.as_deref()),
        (prog_type::KPROBE, Some("do_sys_open"))
    );
}

#[test]
fn external_calls_static_subprogs_and_func_addresses() {
    let o = load("extern_call.o");
    let p = o.program("copy").unwrap();
    assert_eq!(
        p.external_calls,
        [ExternalCall {
            insn: 10,
            symbol: "memcpy".into()
        }]
    );
    let f: Vec<_> = p
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.start, f.len))
        .collect();
    assert_eq!(f, [("copy", 0, 25), ("callback", 25, 5), ("twice", 30, 3)]);
    let r = relocs(p);
    assert!(r.contains(&(14, ".text", RelocKind::FuncAddr { target: 25 })));
    assert!(r.contains(&(23, "twice", RelocKind::Call { target: 30 })));
    assert!(r.contains(&(8, "src", RelocKind::MapValue { map: 0, offset: 64 })));
    assert_eq!(src_reg(&p.insns[14]), BPF_PSEUDO_FUNC);
    assert_eq!(imm(&p.insns[14]), 10);
    assert_eq!(imm(&p.insns[23]), 6);
    // The static function in the program's section is a subprogram, not a program.
    assert_eq!(o.programs.len(), 1);
}

#[test]
fn names() {
    assert_eq!(internal_map_name("hello", ".bss"), "hello.bss");
    assert_eq!(
        internal_map_name("my_object_name", ".rodata"),
        "my_objec.rodata"
    );
    assert_eq!(internal_map_name("my_object_name", ".bss"), "my_objec.bss");
    assert_eq!(internal_map_name("obj", ".rodata.str1.1"), ".rodata.str1.1");
    assert_eq!(internal_map_name("obj-x", ".data"), "obj_x.data");
    assert_eq!(
        internal_map_name("obj", ".data.very_long_name"),
        ".data.very_long"
    );
    assert_eq!(object_name_from_path("/a/b/hello.bpf.o"), "hello");
    assert_eq!(
        object_name_from_path("a_very_long_object_name.o"),
        "a_very_long_obj"
    );
}

#[test]
fn strings_custom_data_static_subprog_and_core() {
    let o = load("misc.o");
    assert_eq!(map_names(&o), [".data.limits", ".rodata.str1.1"]);
    let (li, limits) = o.map(".data.limits").unwrap();
    assert_eq!(limits.origin, MapOrigin::Data(DataKind::Data));
    assert_eq!(limits.data.as_deref(), Some(&100i32.to_le_bytes()[..]));
    let (si, strs) = o.map(".rodata.str1.1").unwrap();
    assert_eq!(strs.map_flags, BPF_F_RDONLY_PROG);
    assert_eq!(strs.data.as_deref(), Some(&b"egress %d\n\0"[..]));
    for name in ["egress", "egress2"] {
        let p = o.program(name).unwrap();
        let k = p.kind.as_ref().unwrap();
        assert_eq!(
            (k.prog_type, k.expected_attach_type),
            (prog_type::CGROUP_SKB, Some(attach_type::CGROUP_INET_EGRESS))
        );
        let clamp = p.functions.iter().find(|f| f.name == "clamp").unwrap();
        assert_eq!(clamp.section, ".text");
        assert_eq!(clamp.start + clamp.len, p.insns.len());
        let r = relocs(p);
        // The static subprogram is called through the `.text` section symbol.
        assert!(r.contains(&(
            r.iter()
                .find(|x| matches!(x.2, RelocKind::Call { .. }))
                .unwrap()
                .0,
            ".text",
            RelocKind::Call {
                target: clamp.start
            }
        )));
        // Its own data reference is relocated in every program that links it.
        assert!(r.contains(&(
            clamp.start + 2,
            "limit",
            RelocKind::MapValue { map: li, offset: 0 }
        )));
    }
    let e = relocs(o.program("egress").unwrap());
    assert_eq!(
        e[0],
        (
            2,
            ".rodata.str1.1",
            RelocKind::MapValue { map: si, offset: 0 }
        )
    );
    let t = o.program("on_new_task").unwrap();
    assert_eq!(t.core_relos.len(), 1);
    let c = &t.core_relos[0];
    let btf = o.btf.as_ref().unwrap();
    assert_eq!(btf.type_by_id(c.type_id).unwrap().name, "task_struct");
    assert_eq!((c.access.as_str(), c.kind), ("0:1", 0));
    let ext = o.btf_ext.as_ref().unwrap();
    assert_eq!(ext.core_relos["kprobe/wake_up_new_task"].len(), 1);
}

#[test]
fn text_only_object_has_programs() {
    // Rename every program section so only `.text` code would remain: the global
    // functions of `.text` then become the programs.
    let o = load("subprog.o");
    assert!(o.programs.iter().all(|p| p.section != ".text"));
    let mut d = fixture("subprog.o");
    for s in ["xdp", "tc"] {
        let elf = super::elf::Elf::parse(&d).unwrap();
        let idx = elf.secs.iter().position(|x| x.name == s).unwrap();
        // Clear SHF_EXECINSTR: the section is no longer code.
        let at = u64::from_le_bytes(d[0x28..0x30].try_into().unwrap()) as usize + idx * 64 + 8;
        d[at] &= !4;
    }
    let o = Object::parse(&d, "subprog").unwrap();
    let names: Vec<_> = o.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["add_one", "add_two"]);
    assert!(o.programs.iter().all(|p| p.kind.is_none()));
}

#[test]
fn legacy_28_byte_definitions() {
    let o = load("legacy_inner.o");
    assert_eq!(o.license, "BSD");
    assert!(!o.is_gpl_compatible());
    assert_eq!(map_names(&o), ["inner", "outer"]);
    let (_, inner) = o.map("inner").unwrap();
    assert_eq!(inner.numa_node, 2);
    let (oi, outer) = o.map("outer").unwrap();
    assert_eq!(
        (outer.map_type, outer.max_entries),
        (map_type::ARRAY_OF_MAPS, 8)
    );
    assert_eq!(
        outer.origin,
        MapOrigin::Legacy {
            def_size: 28,
            id: None,
            inner_id: None,
            inner_idx: None,
            inner_map_idx: Some(0)
        }
    );
    // inner_map_idx 0 names `inner` as the template; on `inner` (an array) it means nothing.
    let t = outer.inner.as_deref().unwrap();
    assert_eq!(
        (
            t.map_type,
            t.key_size,
            t.value_size,
            t.max_entries,
            t.numa_node
        ),
        (map_type::ARRAY, 4, 4, 1, 2)
    );
    assert!(inner.inner.is_none() && outer.initial_slots.is_empty());
    let p = o.program("lookup").unwrap();
    assert_eq!(p.kind.as_ref().unwrap().prog_type, prog_type::SCHED_CLS);
    assert!(relocs(p)
        .iter()
        .any(|r| r.1 == "outer" && r.2 == RelocKind::Map { map: oi }));
}

#[test]
fn bind_maps_and_kernel_records() {
    let o = load("legacy_maps.o");
    let p = &o.programs[0];
    assert_eq!(p.bind_maps(&[5]), Err(1));
    let insns = p.bind_maps(&[50, 60]).unwrap();
    assert_eq!(
        (imm(&insns[7]), imm(&insns[17]), imm(&insns[24])),
        (50, 50, 60)
    );
    assert_eq!(src_reg(&insns[24]), BPF_PSEUDO_MAP_FD);
    let fi = p.func_info_bytes();
    assert_eq!(fi.len(), 8 * p.func_info.len());
    assert_eq!(&fi[4..8], &p.func_info[0].type_id.to_le_bytes());
    let li = p.line_info_bytes();
    assert_eq!(li.len(), 16 * p.line_info.len());
    let l = &p.line_info[1];
    let col = u32::from_le_bytes(li[28..32].try_into().unwrap());
    assert_eq!((col >> 10, col & 0x3ff), (l.line_num, l.column));
}

#[test]
fn iproute2_map_in_map_by_id() {
    let o = load("iproute2_mim.o");
    assert_eq!(map_names(&o), ["counters_a", "outer"]);
    let (ai, a) = o.map("counters_a").unwrap();
    let (_, outer) = o.map("outer").unwrap();
    // The template is the map whose `id` the outer's `inner_id` names ...
    let t = outer.inner.as_deref().unwrap();
    assert_eq!(
        (t.map_type, t.key_size, t.value_size, t.max_entries),
        (a.map_type, 4, 8, 4)
    );
    // ... and that map goes to slot `inner_idx`.
    assert_eq!(
        outer.initial_slots,
        [MapSlot {
            index: 1,
            target: MapSlotTarget::Map(ai)
        }]
    );
    assert!(o.program("count_via_outer").unwrap().kind.is_none());
}

/// Rewrites field `field` (u32 index) of the legacy definition of `map` in `o`'s bytes.
fn patch_legacy(bytes: &mut [u8], o: &Object, map: &str, field: usize, value: u32) {
    let (_, m) = o.map(map).unwrap();
    let elf = super::elf::Elf::parse(bytes).unwrap();
    let sec = elf
        .secs
        .iter()
        .find(|s| s.index == m.section_index)
        .unwrap();
    let start = sec.data.as_ptr() as usize - bytes.as_ptr() as usize;
    let at = start + m.section_offset as usize + field * 4;
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn bad_legacy_inner_references_are_errors() {
    let orig = fixture("iproute2_mim.o");
    let o = load("iproute2_mim.o");
    // (patches as (map, field index, value), expected message)
    type Patch<'a> = &'a [(&'a str, usize, u32)];
    let cases: [(Patch, &str); 3] = [
        (&[("outer", 7, 9)], "inner_id 9 names no map"),
        (
            &[("counters_a", 8, 4)],
            "inner_idx 4 is past max_entries 4 of outer",
        ),
        // `outer` takes id 42 from `counters_a`: it names itself.
        (
            &[("counters_a", 5, 7), ("outer", 5, 42)],
            "is a map-in-map itself",
        ),
    ];
    for (patches, want) in cases {
        let mut d = orig.clone();
        for &(map, field, value) in patches {
            patch_legacy(&mut d, &o, map, field, value);
        }
        let e = Object::parse(&d, "iproute2_mim").unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("maps"), "{patches:?}: {e}");
    }
    let mut d = fixture("legacy_inner.o");
    let o = load("legacy_inner.o");
    patch_legacy(&mut d, &o, "outer", 5, 7);
    let e = Object::parse(&d, "legacy_inner").unwrap_err().to_string();
    assert!(e.contains("inner_map_idx 7 is past"), "{e}");
    patch_legacy(&mut d, &o, "outer", 5, 1);
    let e = Object::parse(&d, "legacy_inner").unwrap_err().to_string();
    assert!(
        e.contains("outer") && e.contains("map-in-map itself"),
        "{e}"
    );
}
