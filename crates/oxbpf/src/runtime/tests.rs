//! The runtime on the example objects, without the kernel.

use super::*;
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
