use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

#[test]
fn debug_dump() {
    for f in [
        "hello.o",
        "subprog.o",
        "legacy_maps.o",
        "iproute2_maps.o",
        "btf_maps.o",
    ] {
        let o = Object::parse(&fixture(f), &object_name_from_path(f)).unwrap();
        println!(
            "== {f}: license={:?} version={:?}",
            o.license, o.kernel_version
        );
        for m in &o.maps {
            println!("  map {m:?}");
        }
        for p in &o.programs {
            println!(
                "  prog {} sec={} kind={:?} n={} funcs={:?}",
                p.name,
                p.section,
                p.kind,
                p.insns.len(),
                p.functions
            );
            println!("    relocs={:?} ext={:?}", p.relocations, p.external_calls);
            println!("    fi={:?}", p.func_info);
            for l in &p.line_info {
                println!(
                    "    li {} {}:{}:{} {}",
                    l.insn, l.file_name, l.line_num, l.column, l.line
                );
            }
        }
    }
}
