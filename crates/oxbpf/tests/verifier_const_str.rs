//! `examples/snprintf.o`: `bpf_snprintf` with a `.rodata` format and `bpf_trace_vprintk`
//! with five arguments. The program is verified at load (the format is a constant string
//! in a frozen read-only map, checked against its argument count), runs unchecked in the
//! interpreter and the JIT, and gives the kernel's return values and formatted text
//! (bpf(2) as root; a `SKIPPED` line where the kernel is unavailable).
#![cfg(target_os = "linux")]

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use oxbpf::kernel::{self, Btf, Map, MapBtf, MapCreate, ProgBtf, ProgLoad, Program, TestRun};
use oxbpf::object::{DataKind, MapOrigin, Object};
use oxbpf::program::TestRun as OurRun;
use oxbpf::runtime::{EngineBuilder, InterpBuilder, JitBuilder, Runtime};

fn example() -> Object {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/snprintf.o");
    Object::parse(&std::fs::read(&path).unwrap(), "snprintf").unwrap()
}

/// Packets of a few lengths (XDP test runs need an Ethernet header).
fn packets() -> Vec<Vec<u8>> {
    [14usize, 60, 20, 255, 1500]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + 0xa0) as u8).collect())
        .collect()
}

/// Loads the program into the kernel with its maps: `.rodata` filled and frozen, as
/// libbpf does.
fn kernel_load(obj: &Object) -> (Program, Vec<Map>, Option<Btf>) {
    let btf = obj.btf.as_ref().map(|b| Btf::load(b.raw(), 0).unwrap());
    let maps: Vec<Map> = obj
        .maps
        .iter()
        .map(|m| {
            let map = Map::create(&MapCreate {
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
            .unwrap();
            if let Some(data) = &m.data {
                let mut v = data.clone();
                v.resize(m.value_size as usize, 0);
                map.update(&0u32.to_ne_bytes(), &v, 0).unwrap();
            }
            if m.origin == MapOrigin::Data(DataKind::Rodata) {
                map.freeze().unwrap();
            }
            map
        })
        .collect();
    let p = obj.program("format_packet").unwrap();
    let fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let bytes = p.bind_maps(&fds).unwrap().concat();
    let fi = p.func_info_bytes();
    let kp = Program::load(&ProgLoad {
        license: &obj.license,
        btf: btf.as_ref().map(|b| ProgBtf {
            btf_fd: b.as_fd(),
            func_info: &fi,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
        }),
        ..ProgLoad::new(p.kind.clone().unwrap().prog_type, &bytes)
    })
    .unwrap_or_else(|e| panic!("kernel load: {e}"));
    (kp, maps, btf)
}

#[test]
fn snprintf_and_vprintk_are_verified_and_match_the_kernel() {
    let obj = example();
    let pkts = packets();
    let engines: [(&str, Box<dyn EngineBuilder>); 2] = [
        ("interp", Box::new(InterpBuilder)),
        ("jit", Box::new(JitBuilder)),
    ];
    let mut results = Vec::new();
    for (name, engine) in engines {
        let rt = Runtime::with_engine(engine);
        let l = rt.load_object(&obj).unwrap();
        let p = l.program("format_packet").unwrap();
        assert!(
            p.verified.is_some(),
            "{name}: not verified: {:?}",
            p.verify_note
        );
        let out = &l.map("out").unwrap().map;
        let r: Vec<(u32, Vec<u8>)> = pkts
            .iter()
            .map(|pkt| {
                let ret = p
                    .test_run(&OurRun {
                        data_in: pkt,
                        ..OurRun::default()
                    })
                    .unwrap()
                    .output
                    .retval;
                (ret, out.lookup(&0u32.to_ne_bytes()).unwrap())
            })
            .collect();
        results.push(r);
    }
    assert_eq!(results[0], results[1], "interp vs jit");
    // The text is what the format says: len=14 first=a0 sum=-14000 tag=oxbpf!
    let (ret, text) = &results[0][0];
    let shown = &text[..text.iter().position(|&b| b == 0).unwrap()];
    assert_eq!(shown, b"len=14 first=a0 sum=-14000 tag=oxbpf!");
    assert_eq!(ret & 0xff, shown.len() as u32 + 1);
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let (kp, maps, _btf) = kernel_load(&obj);
    let out = obj.maps.iter().position(|m| m.name == "out").unwrap();
    let theirs: Vec<(u32, Vec<u8>)> = pkts
        .iter()
        .map(|pkt| {
            let ret = kp
                .test_run(&TestRun {
                    data_in: pkt,
                    ..TestRun::default()
                })
                .unwrap()
                .retval;
            (ret, maps[out].lookup(&0u32.to_ne_bytes()).unwrap().unwrap())
        })
        .collect();
    assert_eq!(results[0], theirs, "ours vs the kernel");
}
