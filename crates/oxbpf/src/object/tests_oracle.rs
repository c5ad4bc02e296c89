//! aya-obj 0.3 as an oracle: on the fixtures it accepts, its map definitions and its
//! relocated, linked instructions (maps relocated first, then calls, with our map
//! indices as fds) must match ours.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn insn_bytes(i: &aya_obj::generated::bpf_insn) -> [u8; 8] {
    let off = i.off.to_le_bytes();
    let imm = i.imm.to_le_bytes();
    [
        i.code,
        i.dst_reg() | (i.src_reg() << 4),
        off[0],
        off[1],
        imm[0],
        imm[1],
        imm[2],
        imm[3],
    ]
}

/// Our map index for aya's map name (aya names data maps by section).
fn our_index(ours: &Object, aya_name: &str) -> Option<usize> {
    ours.maps.iter().position(|m| match m.origin {
        MapOrigin::Data(_) => m.section == aya_name,
        _ => m.name == aya_name,
    })
}

#[test]
fn matches_aya_obj_where_it_parses() {
    let files = [
        "hello.o",
        "hello-v1.o",
        "hello-nobtf.o",
        "subprog.o",
        "subprog-v4.o",
        "legacy_maps.o",
        "iproute2_maps.o",
        "btf_maps.o",
        "extern_call.o",
        "subprog-classifier.o",
        "btf_maps-classifier.o",
    ];
    let mut compared = Vec::new();
    for f in files {
        let data = fixture(f);
        let ours = Object::parse(&data, "oracle").unwrap();
        let theirs = catch_unwind(|| aya_obj::Object::parse(&data));
        let Ok(Ok(mut theirs)) = theirs else {
            eprintln!("{f}: aya-obj rejects: {:?}", theirs.map(|r| r.err()));
            continue;
        };
        // Map definitions.
        for (name, m) in &theirs.maps {
            let i = our_index(&ours, name).unwrap_or_else(|| panic!("{f}: no map {name}"));
            let o = &ours.maps[i];
            assert_eq!(
                (
                    o.map_type,
                    o.key_size,
                    o.value_size,
                    o.max_entries,
                    o.map_flags
                ),
                (
                    m.map_type(),
                    m.key_size(),
                    m.value_size(),
                    m.max_entries(),
                    m.map_flags()
                ),
                "{f}: map {name}"
            );
            if let MapOrigin::Data(_) = o.origin {
                assert_eq!(o.data.as_deref(), Some(m.data()), "{f}: data of {name}");
            }
        }
        // Relocation and linking, maps first.
        let text: HashSet<usize> = theirs.functions.keys().map(|(s, _)| *s).collect();
        let maps: Vec<(String, i32, aya_obj::Map)> = theirs
            .maps
            .iter()
            .map(|(n, m)| (n.clone(), our_index(&ours, n).unwrap() as i32, m.clone()))
            .collect();
        let relocated = catch_unwind(AssertUnwindSafe(|| {
            theirs
                .relocate_maps(maps.iter().map(|(n, fd, m)| (n.as_str(), *fd, m)), &text)
                .is_ok()
                && theirs.relocate_calls(&text).is_ok()
        }));
        if relocated.ok() != Some(true) {
            eprintln!("{f}: aya-obj relocation failed");
            continue;
        }
        for (name, prog) in &theirs.programs {
            let func = &theirs.functions[&prog.function_key()];
            let p = ours
                .program(name)
                .unwrap_or_else(|| panic!("{f}: no program {name}"));
            let aya_insns: Vec<[u8; 8]> = func.instructions.iter().map(insn_bytes).collect();
            assert_eq!(p.insns, aya_insns, "{f}: program {name}");
            let fi: Vec<(usize, u32)> = func
                .func_info
                .func_info
                .iter()
                .map(|r| (r.insn_off as usize, r.type_id))
                .collect();
            let our_fi: Vec<(usize, u32)> =
                p.func_info.iter().map(|r| (r.insn, r.type_id)).collect();
            assert_eq!(our_fi, fi, "{f}: func_info of {name}");
            let li: Vec<usize> = func
                .line_info
                .line_info
                .iter()
                .map(|r| r.insn_off as usize)
                .collect();
            let our_li: Vec<usize> = p.line_info.iter().map(|r| r.insn).collect();
            assert_eq!(our_li, li, "{f}: line_info of {name}");
        }
        compared.push(f);
    }
    eprintln!("compared with aya-obj: {compared:?}");
    assert!(compared.len() >= 4, "aya-obj accepted only {compared:?}");
}
