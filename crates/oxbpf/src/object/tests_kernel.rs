//! The real kernel as an oracle: create the maps our specs describe, patch our relocated
//! programs with their fds, load them with our func_info/line_info and fixed-up BTF, run
//! them with `BPF_PROG_TEST_RUN` and check what they did to the maps. Skipped (with a
//! "SKIPPED" line) where bpf(2) is unavailable.

use std::os::fd::{AsFd, AsRawFd};

use super::*;
use crate::kernel::{self, ProgBtf, ProgLoad, TestRun};

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn skip() -> bool {
    match kernel::available() {
        Ok(()) => false,
        Err(reason) => {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            true
        }
    }
}

/// An object's maps and BTF created in the kernel.
struct Loaded {
    obj: Object,
    btf: Option<kernel::Btf>,
    maps: Vec<kernel::Map>,
}

fn kernel_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(15)
        .collect()
}

fn create_map(m: &MapSpec, btf: Option<&kernel::Btf>) -> kernel::Map {
    kernel::Map::from_spec(m, btf).unwrap_or_else(|e| panic!("creating map {}: {e}", m.name))
}

fn load_object(file: &str) -> Loaded {
    let obj = Object::parse(&fixture(file), &object_name_from_path(file)).unwrap();
    // The kernel rejects clang's size-0 DATASECs: this checks our fix-up too.
    let btf = obj
        .btf
        .as_ref()
        .map(|b| kernel::Btf::load(b.raw(), 0).unwrap_or_else(|e| panic!("{file}: {e}")));
    let maps: Vec<_> = obj
        .maps
        .iter()
        .map(|m| create_map(m, btf.as_ref()))
        .collect();
    for (m, km) in obj.maps.iter().zip(&maps) {
        for s in &m.initial_slots {
            if let MapSlotTarget::Map(i) = s.target {
                let fd = maps[i].as_fd().as_raw_fd() as u32;
                km.update(&s.index.to_le_bytes(), &fd.to_le_bytes(), kernel::BPF_ANY)
                    .unwrap();
            }
        }
    }
    Loaded { obj, btf, maps }
}

impl Loaded {
    fn load(&self, name: &str) -> kernel::Program {
        let p = self.obj.program(name).unwrap();
        let fds: Vec<i32> = self.maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
        let bytes = p.bind_maps(&fds).unwrap().concat();
        let (fi, li) = (p.func_info_bytes(), p.line_info_bytes());
        let kind = p
            .kind
            .clone()
            .unwrap_or(ProgramKind::new(prog_type::SCHED_CLS));
        let pname = kernel_name(name);
        let load = ProgLoad {
            license: &self.obj.license,
            expected_attach_type: kind.expected_attach_type.unwrap_or(0),
            name: &pname,
            btf: self.btf.as_ref().map(|b| ProgBtf {
                btf_fd: b.as_fd(),
                func_info: &fi,
                func_info_rec_size: 8,
                line_info: &li,
                line_info_rec_size: 16,
            }),
            ..ProgLoad::new(kind.prog_type, &bytes)
        };
        kernel::Program::load(&load).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn value(&self, map: &str, key: &[u8]) -> Option<Vec<u8>> {
        let (i, _) = self.obj.map(map).unwrap();
        self.maps[i].lookup(key).unwrap()
    }
}

fn run(p: &kernel::Program) -> u32 {
    p.test_run(&TestRun {
        data_in: &[0u8; 64],
        ..TestRun::default()
    })
    .unwrap()
    .retval
}

#[test]
fn hello_runs_in_the_kernel() {
    if skip() {
        return;
    }
    let l = load_object("hello.o");
    let p = l.load("hello");
    assert_eq!(run(&p), 2);
    assert_eq!(run(&p), 2);
    let zero = 0u32.to_le_bytes();
    assert_eq!(
        l.value("hello.bss", &zero),
        Some(2u32.to_le_bytes().to_vec())
    );
    assert_eq!(
        l.value("hello.data", &zero),
        Some(2u64.to_le_bytes().to_vec())
    );
}

#[test]
fn linked_subprograms_run_in_the_kernel() {
    if skip() {
        return;
    }
    let l = load_object("subprog.o");
    // rx_queue_index 0: add_one(0) = 1, not > 2: XDP_DROP.
    assert_eq!(run(&l.load("xdp_sub")), 1);
    // len 64: add_two(64) = 66 != 0: 0.
    assert_eq!(run(&l.load("tc_sub")), 0);
}

#[test]
fn legacy_maps_run_in_the_kernel() {
    if skip() {
        return;
    }
    let l = load_object("legacy_maps.o");
    let p = l.load("count_packets");
    run(&p);
    run(&p);
    let (i, _) = l.obj.map("counts").unwrap();
    let entries = l.maps[i].entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].1, 2u64.to_le_bytes());
}

#[test]
fn btf_maps_and_initial_slots_run_in_the_kernel() {
    if skip() {
        return;
    }
    let l = load_object("btf_maps.o");
    let tail = l.load("tail_a");
    let (ji, jumps) = l.obj.map("jumps").unwrap();
    for s in &jumps.initial_slots {
        if let MapSlotTarget::Program(name) = &s.target {
            assert_eq!(name, "tail_a");
            let fd = tail.as_fd().as_raw_fd() as u32;
            l.maps[ji]
                .update(&s.index.to_le_bytes(), &fd.to_le_bytes(), kernel::BPF_ANY)
                .unwrap();
        }
    }
    // classify looks up flows and outer[0] (inner_a from the initial slots), then tail
    // calls jumps[1] = tail_a, which returns 1; without the tail call it returns 0.
    assert_eq!(run(&l.load("classify")), 1);
}

#[test]
fn strings_custom_data_and_shared_subprog_run_in_the_kernel() {
    if skip() {
        return;
    }
    let l = load_object("misc.o");
    // clamp(len 64) with limit 100 from .data.limits: 64 > 0 -> 1.
    assert_eq!(run(&l.load("egress")), 1);
    // Lower the limit through the map: clamp(mark 0) stays 0, clamp(64) becomes 0 > 0.
    let zero = 0u32.to_le_bytes();
    let (i, _) = l.obj.map(".data.limits").unwrap();
    l.maps[i]
        .update(&zero, &0i32.to_le_bytes(), kernel::BPF_ANY)
        .unwrap();
    assert_eq!(run(&l.load("egress")), 0);
    assert_eq!(run(&l.load("egress2")), 0);
}
