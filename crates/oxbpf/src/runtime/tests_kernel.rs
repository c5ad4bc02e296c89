//! The runtime against the kernel on the example objects: the same object loaded both
//! ways, run on the same packets; retval, data_out, map contents and program tags must
//! agree. Skipped (with a "SKIPPED" line) where bpf(2) is unavailable.

use std::os::fd::{AsFd, AsRawFd};

use super::tests::fixture;
use super::*;
use crate::program::TestRun;

use crate::kernel::{self, ProgBtf, ProgLoad};

pub(super) fn skip() -> bool {
    match kernel::available() {
        Ok(()) => false,
        Err(reason) => {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            true
        }
    }
}

/// An object's maps created in the kernel, index-aligned with `obj.maps`.
pub(super) struct KernelObject {
    pub obj: Object,
    pub btf: Option<kernel::Btf>,
    pub maps: Vec<kernel::Map>,
}

fn create_map(m: &MapSpec, btf: Option<&kernel::Btf>) -> kernel::Map {
    kernel::Map::from_spec(m, btf).unwrap_or_else(|e| panic!("creating map {}: {e}", m.name))
}

impl KernelObject {
    pub(super) fn new(file: &str) -> KernelObject {
        let mut obj = fixture(file);
        // CO-RE against the running kernel's BTF, as libbpf would.
        obj.relocate_core(crate::object::CoreTarget::Default)
            .unwrap();
        let btf = obj
            .btf
            .as_ref()
            .map(|b| kernel::Btf::load(b.raw(), 0).unwrap());
        let maps = obj
            .maps
            .iter()
            .map(|m| create_map(m, btf.as_ref()))
            .collect::<Vec<_>>();
        // Map-in-map initial slots (BTF `.values`, iproute2 `inner_idx`), as loaders do.
        for (spec, outer) in obj.maps.iter().zip(&maps) {
            for slot in &spec.initial_slots {
                if let MapSlotTarget::Map(j) = slot.target {
                    let fd = maps[j].as_fd().as_raw_fd() as u32;
                    outer
                        .update(
                            &slot.index.to_ne_bytes(),
                            &fd.to_ne_bytes(),
                            kernel::BPF_ANY,
                        )
                        .unwrap_or_else(|e| panic!("{}[{}]: {e}", spec.name, slot.index));
                }
            }
        }
        KernelObject { obj, btf, maps }
    }

    pub(super) fn load(&self, name: &str) -> kernel::Program {
        let kind = self.obj.program(name).unwrap().kind.clone().unwrap();
        self.load_as(name, kind.prog_type, kind.expected_attach_type.unwrap_or(0))
    }

    /// Loads `name` as `prog_type` (for sections that name no type, as `tc` is told).
    pub(super) fn load_as(&self, name: &str, prog_type: u32, attach: u32) -> kernel::Program {
        let p = self.obj.program(name).unwrap();
        let fds: Vec<i32> = self.maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
        let bytes = p.bind_maps(&fds).unwrap().concat();
        let (fi, li) = (p.func_info_bytes(), p.line_info_bytes());
        let pname = kernel_obj_name(name);
        kernel::Program::load(&ProgLoad {
            license: &self.obj.license,
            expected_attach_type: attach,
            prog_flags: p.kind.as_ref().map_or(0, crate::program::load_flags),
            name: &pname,
            btf: self.btf.as_ref().map(|b| ProgBtf {
                btf_fd: b.as_fd(),
                func_info: &fi,
                func_info_rec_size: 8,
                line_info: &li,
                line_info_rec_size: 16,
            }),
            ..ProgLoad::new(prog_type, &bytes)
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Sorted (key, value) pairs of the map named `name`.
    pub(super) fn entries(&self, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (i, _) = self.obj.map(name).unwrap();
        let mut e = self.maps[i].entries().unwrap();
        e.sort();
        e
    }
}

fn our_entries(l: &LoadedObject, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let m = &l.map(name).unwrap().map;
    let mut e: Vec<_> = m
        .keys()
        .into_iter()
        .map(|k| {
            let v = m.lookup(&k).unwrap();
            (k, v)
        })
        .collect();
    e.sort();
    e
}

fn kernel_run(p: &kernel::Program, data: &[u8]) -> kernel::TestRunOutput {
    p.test_run(&kernel::TestRun {
        data_in: data,
        data_out_capacity: data.len() + 4096,
        ..kernel::TestRun::default()
    })
    .unwrap()
}

/// Runs `prog` of `file` on each packet in both, then compares every data map.
pub(super) fn compare_object(file: &str, prog: &str, packets: &[Vec<u8>], maps: &[&str]) {
    if skip() {
        return;
    }
    let k = KernelObject::new(file);
    let kp = k.load(prog);
    let rt = Runtime::new();
    let l = rt.load_object(&k.obj).unwrap();
    let p = l.program(prog).unwrap();
    for (i, pkt) in packets.iter().enumerate() {
        let ours = p
            .test_run(&TestRun {
                data_in: pkt,
                ..TestRun::default()
            })
            .unwrap()
            .output;
        let theirs = kernel_run(&kp, pkt);
        assert_eq!(
            ours.retval, theirs.retval,
            "{file} {prog} packet {i}: retval"
        );
        assert_eq!(
            ours.data_out, theirs.data_out,
            "{file} {prog} packet {i}: data_out"
        );
    }
    for m in maps {
        assert_eq!(our_entries(&l, m), k.entries(m), "{file}: map {m}");
    }
    // The tag: the kernel's, from the same instructions.
    let info = kp.info().unwrap();
    assert_eq!(tag_hex(&p.tag), tag_hex(&info.tag), "{file} {prog}: tag");
    assert_eq!(p.name, info.name);
    assert_eq!(p.gpl_compatible, info.gpl_compatible);
    assert_eq!(p.map_ids.len(), info.map_ids.len());
}

pub(super) fn ipv4(proto: u8) -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[12] = 0x08;
    p[14] = 0x45;
    p[23] = proto;
    p
}

#[test]
fn hello_matches_the_kernel() {
    let pkts: Vec<_> = (0..3).map(|_| ipv4(6)).collect();
    compare_object(
        "hello.o",
        "hello",
        &pkts,
        &["hello.bss", "hello.data", "hello.rodata"],
    );
}

#[test]
fn legacy_hash_counter_matches_the_kernel() {
    let mut v6 = ipv4(6);
    v6[12] = 0x86;
    v6[13] = 0xdd;
    compare_object(
        "legacy_maps.o",
        "count_packets",
        &[ipv4(6), v6, ipv4(17), ipv4(6)],
        &["counts"],
    );
}

#[test]
fn subprograms_match_the_kernel() {
    compare_object("subprog.o", "xdp_sub", &[ipv4(1)], &[]);
    compare_object("subprog.o", "tc_sub", &[ipv4(1), vec![7u8; 100]], &[]);
}

#[test]
fn cgroup_skb_with_strings_and_custom_data_matches_the_kernel() {
    compare_object(
        "misc.o",
        "egress",
        &[ipv4(1), vec![1u8; 20]],
        &[".data.limits"],
    );
}

#[test]
fn protocol_counter_matches_the_kernel() {
    let mut v6 = ipv4(0);
    v6[12] = 0x86;
    v6[13] = 0xdd;
    v6[20] = 58; // ICMPv6 next header
    let mut arp = ipv4(0);
    arp[12] = 0x08;
    arp[13] = 0x06;
    let pkts = [ipv4(6), ipv4(17), v6, ipv4(6), arp, ipv4(6)[..20].to_vec()];
    compare_object("proto_count.o", "count_proto", &pkts, &["proto_counts"]);
}

#[test]
fn xdp_frags_trailer_strip_matches_the_kernel() {
    // Linear, linear + 4-byte fragment (freed by the strip), several fragments, the
    // trailer split across the last two fragments, and too short.
    let pkts: Vec<Vec<u8>> = [64usize, 3524, 4000, 9000, 20000, 3520 + 4096 + 2, 17]
        .iter()
        .map(|&n| (0..n).map(|i| (i * 31 + i / 97) as u8).collect())
        .collect();
    compare_object("xdp_frags.o", "strip_trailer", &pkts, &["frag_stats"]);
}

#[test]
fn ringbuf_producer_matches_the_kernel_on_globals() {
    let pkts: Vec<_> = (0..9).map(|i| ipv4(i as u8)).collect();
    compare_object("ringbuf.o", "produce", &pkts, &["ringbuf.bss"]);
}

fn route_key(prefix: u32, addr: [u8; 4]) -> Vec<u8> {
    let mut k = prefix.to_ne_bytes().to_vec();
    k.extend_from_slice(&addr);
    k
}

fn route_val(hop: u32, metric: u32) -> Vec<u8> {
    let mut v = hop.to_ne_bytes().to_vec();
    v.extend_from_slice(&metric.to_ne_bytes());
    v
}

#[test]
fn lpm_route_lookup_matches_the_kernel() {
    if skip() {
        return;
    }
    let k = KernelObject::new("lpm_route.o");
    let kp = k.load("route");
    let rt = Runtime::new();
    let l = rt.load_object(&k.obj).unwrap();
    let p = l.program("route").unwrap();
    let routes = [
        (8, [10, 0, 0, 0], 1),
        (16, [10, 1, 0, 0], 2),
        (24, [10, 1, 2, 0], 3),
        (32, [10, 1, 2, 3], 4),
        (0, [0, 0, 0, 0], 9),
    ];
    let (ki, _) = k.obj.map("routes").unwrap();
    for (len, addr, hop) in routes {
        let (key, val) = (route_key(len, addr), route_val(hop, len));
        k.maps[ki].update(&key, &val, kernel::BPF_ANY).unwrap();
        l.map("routes")
            .unwrap()
            .map
            .update(&key, &val, BPF_ANY)
            .unwrap();
    }
    // Without the default route first, then with it removed: hits and misses.
    let dests = [
        [10, 1, 2, 3],
        [10, 1, 2, 9],
        [10, 1, 9, 9],
        [10, 9, 9, 9],
        [192, 168, 0, 1],
    ];
    let default = route_key(0, [0, 0, 0, 0]);
    for round in 0..2 {
        if round == 1 {
            k.maps[ki].delete(&default).unwrap();
            l.map("routes").unwrap().map.delete(&default).unwrap();
        }
        for d in dests {
            let mut pkt = ipv4(17);
            pkt[30..34].copy_from_slice(&d);
            let ours = p
                .test_run(&TestRun {
                    data_in: &pkt,
                    ..TestRun::default()
                })
                .unwrap()
                .output;
            let theirs = kernel_run(&kp, &pkt);
            assert_eq!(
                (ours.retval, &ours.data_out),
                (theirs.retval, &theirs.data_out),
                "{d:?}"
            );
        }
    }
    assert_eq!(our_entries(&l, "lpm_rout.bss"), k.entries("lpm_rout.bss"));
    assert_eq!(our_entries(&l, "routes"), k.entries("routes"));
}

#[test]
fn tail_call_dispatcher_matches_the_kernel() {
    if skip() {
        return;
    }
    let k = KernelObject::new("tailcall.o");
    let (tcp, udp, entry) = (
        k.load("handle_tcp"),
        k.load("handle_udp"),
        k.load("dispatch"),
    );
    let (hi, _) = k.obj.map("handlers").unwrap();
    for (slot, p) in [(6u32, &tcp), (17, &udp)] {
        let fd = p.as_fd().as_raw_fd() as u32;
        k.maps[hi]
            .update(&slot.to_ne_bytes(), &fd.to_ne_bytes(), kernel::BPF_ANY)
            .unwrap();
    }
    let rt = Runtime::new();
    let l = rt.load_object(&k.obj).unwrap();
    let p = l.program("dispatch").unwrap();
    let mut arp = ipv4(0);
    arp[13] = 0x06;
    for (i, pkt) in [ipv4(6), ipv4(17), ipv4(1), arp, ipv4(17), ipv4(6)]
        .iter()
        .enumerate()
    {
        let ours = p
            .test_run(&TestRun {
                data_in: pkt,
                ..TestRun::default()
            })
            .unwrap()
            .output;
        let theirs = kernel_run(&entry, pkt);
        assert_eq!(
            (ours.retval, &ours.data_out),
            (theirs.retval, &theirs.data_out),
            "packet {i}"
        );
    }
    assert_eq!(our_entries(&l, "tailcall.bss"), k.entries("tailcall.bss"));
    let bss = our_entries(&l, "tailcall.bss");
    let counters: Vec<u64> = bss[0]
        .1
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(counters, [2, 2, 2]);
}

#[test]
fn iproute2_map_in_map_matches_the_kernel() {
    if skip() {
        return;
    }
    let k = KernelObject::new("iproute2_mim.o");
    let kp = k.load_as("count_via_outer", crate::object::prog_type::SCHED_CLS, 0);
    let rt = Runtime::new();
    let l = rt
        .load_object_with(
            &k.obj,
            &LoadOptions {
                prog_type: ProgramType::from_name("sched_cls"),
                ..LoadOptions::default()
            },
        )
        .unwrap();
    let p = l.program("count_via_outer").unwrap();
    // (The kernel refuses an IPv4 skb shorter than Ethernet + IP headers: EINVAL.)
    for len in [40usize, 64, 100, 200, 1600, 64] {
        let pkt = ipv4(6).into_iter().cycle().take(len).collect::<Vec<_>>();
        let ours = p
            .test_run(&TestRun {
                data_in: &pkt,
                ..TestRun::default()
            })
            .unwrap()
            .output;
        let theirs = kp
            .test_run(&kernel::TestRun {
                data_in: &pkt,
                data_out_capacity: 4096,
                ..kernel::TestRun::default()
            })
            .unwrap_or_else(|e| panic!("len {len}: {e}"));
        assert_eq!(ours.retval, theirs.retval, "len {len}");
        assert_eq!(ours.retval, 0, "len {len}: inner map found in slot 1");
    }
    let counts = our_entries(&l, "counters_a");
    assert_eq!(counts, k.entries("counters_a"));
    let n: Vec<u64> = counts
        .iter()
        .map(|(_, v)| u64::from_ne_bytes(v[..].try_into().unwrap()))
        .collect();
    assert_eq!(n, [1, 3, 1, 1]);
}

#[test]
fn legacy_28_byte_map_in_map_matches_the_kernel() {
    compare_object("legacy_inner.o", "lookup", &[ipv4(6)], &["inner"]);
}

#[test]
fn iproute2_36_byte_maps_match_the_kernel() {
    if skip() {
        return;
    }
    let k = KernelObject::new("iproute2_maps.o");
    let kp = k.load_as("entry", crate::object::prog_type::SCHED_CLS, 0);
    let rt = Runtime::new();
    let l = rt
        .load_object_with(
            &k.obj,
            &LoadOptions {
                prog_type: ProgramType::from_name("sched_cls"),
                ..LoadOptions::default()
            },
        )
        .unwrap();
    let p = l.program("entry").unwrap();
    for _ in 0..3 {
        let ours = p
            .test_run(&TestRun {
                data_in: &ipv4(17),
                ..TestRun::default()
            })
            .unwrap()
            .output;
        assert_eq!(ours.retval, kernel_run(&kp, &ipv4(17)).retval);
    }
    // Per-CPU values: the kernel's test_run runs on one CPU; compare the sums.
    let sum = |e: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<u64> {
        e.iter()
            .map(|(_, v)| {
                v.chunks(8)
                    .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                    .sum()
            })
            .collect()
    };
    assert_eq!(sum(our_entries(&l, "stats")), sum(k.entries("stats")));
    assert_eq!(sum(our_entries(&l, "stats"))[0], 3);
}

#[test]
fn every_mcpu_with_and_without_debug_info_matches_the_kernel() {
    let mut v6 = ipv4(6);
    v6[12] = 0x86;
    v6[13] = 0xdd;
    for v in 1..=4 {
        for g in ["-g", ""] {
            let sub = format!("mcpu/subprog-v{v}{g}.o");
            compare_object(&sub, "xdp_sub", &[ipv4(1)], &[]);
            compare_object(&sub, "tc_sub", &[ipv4(1), vec![7u8; 100]], &[]);
            let leg = format!("mcpu/legacy_maps-v{v}{g}.o");
            let pkts = [ipv4(6), v6.clone(), ipv4(17), ipv4(6)];
            compare_object(&leg, "count_packets", &pkts, &["counts"]);
        }
    }
}
