//! The corpus of real-world-style programs (`examples/corpus/*.o`: a load balancer, a tc
//! tail-call pipeline, a socket filter, an IDS bypass, tracing producers, a CO-RE kprobe,
//! LPM ACLs, TCP option parsers, global-data knobs with subprograms, queue/stack users, a
//! cgroup firewall).
//! Every program of every object must (a) be verified by oxbpf, so it runs unchecked,
//! unless listed in [`KNOWN_GAPS`], (b) load in the kernel, and (c) where the kernel has a
//! test run for its type, give the kernel's retval and data_out on crafted inputs in the
//! interpreter and the JIT, leaving every comparable map with the kernel's contents.
//! bpf(2) unusable: "SKIPPED: kernel unavailable: <reason>" after the oxbpf-only checks.
#![cfg(target_os = "linux")]

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

use oxbpf::kernel::{self, ProgBtf, ProgLoad};
use oxbpf::object::{
    map_type, prog_type, CoreTarget, DataKind, MapOrigin, MapSlotTarget, MapSpec, Object,
};
use oxbpf::program::TestRun as OurRun;
use oxbpf::runtime::{kernel_obj_name, EngineBuilder, InterpBuilder, JitBuilder, Runtime};

/// Programs oxbpf's verifier rejects although the kernel accepts them: (object, program,
/// why). A listed program that verifies fails the test, so the list stays current.
const KNOWN_GAPS: &[(&str, &str, &str)] = &[];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/corpus")
}

/// The corpus objects, CO-RE-relocated against the running kernel as libbpf would.
fn objects() -> Vec<(String, Object)> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".o"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "corpus objects missing: {names:?}");
    names
        .into_iter()
        .map(|n| {
            let bytes = std::fs::read(corpus_dir().join(&n)).unwrap();
            let stem = n.trim_end_matches(".o").to_string();
            let mut obj = Object::parse(&bytes, &stem).unwrap_or_else(|e| panic!("{n}: {e}"));
            obj.relocate_core(CoreTarget::Default)
                .unwrap_or_else(|e| panic!("{n}: CO-RE: {e}"));
            (stem, obj)
        })
        .collect()
}

// ---- packet construction -------------------------------------------------------------

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xaa];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xbb];

/// Ethernet header with optional VLAN tags (outer first).
fn eth(proto: u16, vlans: &[(u16, u16)]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&MAC_A);
    p.extend_from_slice(&MAC_B);
    for &(tpid, tci) in vlans {
        p.extend_from_slice(&tpid.to_be_bytes());
        p.extend_from_slice(&tci.to_be_bytes());
    }
    p.extend_from_slice(&proto.to_be_bytes());
    p
}

fn csum16(b: &[u8]) -> u16 {
    let mut s: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// IPv4 header (checksummed, ttl 64 unless given) followed by `l4`.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8], ttl: u8, frag: u16) -> Vec<u8> {
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34]);
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[ttl, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = csum16(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

fn ipv6(src: [u8; 16], dst: [u8; 16], next: u8, l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(l4);
    h
}

/// TCP header with `flags` (byte 13) and `opts` (padded to 4 bytes), then `payload`.
fn tcp(sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut o = opts.to_vec();
    while o.len() % 4 != 0 {
        o.push(0);
    }
    let doff = ((20 + o.len()) / 4) as u8;
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&0x0102_0304u32.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&[doff << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    h.extend_from_slice(&o);
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

fn cat(a: Vec<u8>, b: Vec<u8>) -> Vec<u8> {
    let mut a = a;
    a.extend(b);
    a
}

fn v4tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    cat(
        eth(0x0800, &[]),
        ipv4(src, dst, 6, &tcp(sport, dport, flags, &[], b"hello"), 64, 0),
    )
}

fn v4udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    cat(
        eth(0x0800, &[]),
        ipv4(src, dst, 17, &udp(sport, dport, payload), 64, 0),
    )
}

fn v6addr(last: u16, prefix: [u16; 3]) -> [u8; 16] {
    let mut a = [0u8; 16];
    for (i, w) in prefix.iter().enumerate() {
        a[i * 2..i * 2 + 2].copy_from_slice(&w.to_be_bytes());
    }
    a[14..16].copy_from_slice(&last.to_be_bytes());
    a
}

fn v6tcp(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> Vec<u8> {
    cat(
        eth(0x86dd, &[]),
        ipv6(src, dst, 6, &tcp(sport, dport, 0x10, &[], b"six")),
    )
}

// ---- inputs and map presets per program ------------------------------------------------

/// One test-run input: packet data, or a context (raw tracepoint arguments).
enum Input {
    Packet(Vec<u8>),
    Ctx(Vec<u8>),
}

/// (map name, key, value) entries written before the runs, in both oxbpf and the kernel.
type Preset = Vec<(&'static str, Vec<u8>, Vec<u8>)>;

fn le32(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn lb_setup() -> Preset {
    let vip = |addr: [u8; 4], port: u16, proto: u8, family: u8| {
        let mut k = addr.to_vec();
        k.extend_from_slice(&port.to_be_bytes());
        k.extend_from_slice(&[proto, family]);
        k
    };
    let mut p: Preset = vec![
        ("vips", vip([10, 0, 0, 100], 80, 6, 4), le32(&[0, 3])),
        ("vips", vip([10, 0, 0, 100], 53, 17, 4), le32(&[3, 2])),
        ("vips", vip([0, 0, 1, 0], 443, 6, 6), le32(&[1, 4])),
        ("vips", vip([10, 0, 0, 101], 80, 6, 4), le32(&[0, 0])),
    ];
    for i in 0..5u8 {
        let mut v = vec![10, 1, 0, i + 1];
        v.extend_from_slice(&[2, 0, 0, 0, 0x10, i, 0, 0]);
        p.push(("backends", le32(&[u32::from(i)]), v));
    }
    p
}

fn lb_packets() -> Vec<Input> {
    let vip = [10, 0, 0, 100];
    let mut v = Vec::new();
    for sport in [1000u16, 1001, 1002, 1000, 1003, 1001] {
        v.push(v4tcp([192, 168, 0, 1], vip, sport, 80, 0x10));
    }
    v.push(v4udp([192, 168, 0, 2], vip, 5353, 53, b"query"));
    v.push(v4udp([192, 168, 0, 2], vip, 5353, 53, b"again"));
    v.push(v4tcp([192, 168, 0, 1], vip, 1000, 22, 0x02)); // not a VIP port
    v.push(v4tcp([192, 168, 0, 1], [10, 0, 0, 101], 7, 80, 0x02)); // VIP without backends
                                                                   // One and two VLAN tags (802.1Q, then QinQ).
    v.push(cat(
        eth(0x0800, &[(0x8100, 5)]),
        ipv4(
            [172, 16, 0, 1],
            vip,
            6,
            &tcp(4000, 80, 0x02, &[], &[]),
            64,
            0,
        ),
    ));
    v.push(cat(
        eth(0x0800, &[(0x88a8, 100), (0x8100, 7)]),
        ipv4([172, 16, 0, 2], vip, 17, &udp(4001, 53, b"qinq"), 64, 0),
    ));
    // IPv6 to the v6 VIP and elsewhere, a fragment, ARP, truncated headers.
    let dst6 = v6addr(0x0100, [0x2001, 0xdb8, 0]);
    v.push(v6tcp(v6addr(1, [0x2001, 0xdb8, 9]), dst6, 3333, 443));
    v.push(v6tcp(v6addr(2, [0x2001, 0xdb8, 9]), dst6, 3334, 443));
    v.push(v6tcp(v6addr(2, [0x2001, 0xdb8, 9]), dst6, 3334, 444));
    v.push(cat(
        eth(0x0800, &[]),
        ipv4([1, 2, 3, 4], vip, 6, &tcp(1, 80, 0, &[], &[]), 64, 0x2001),
    ));
    v.push(cat(eth(0x0806, &[]), vec![0u8; 28]));
    v.push(v4tcp([192, 168, 0, 1], vip, 1000, 80, 0x10)[..40].to_vec());
    v.push(eth(0x8100, &[])); // a VLAN TPID with no tag after it
    v.into_iter().map(Input::Packet).collect()
}

fn tc_setup() -> Preset {
    let pol = |mark: u32, prio: u32, dscp: u8| {
        let mut v = le32(&[mark, prio]);
        v.extend_from_slice(&[dscp, 0, 0, 0]);
        v
    };
    vec![
        ("policies", 80u16.to_ne_bytes().to_vec(), pol(0x100, 5, 10)),
        ("policies", 443u16.to_ne_bytes().to_vec(), pol(0x201, 7, 0)),
        ("policies", 53u16.to_ne_bytes().to_vec(), pol(0x300, 1, 46)),
    ]
}

fn tc_packets() -> Vec<Input> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let mut icmp = cat(
        eth(0x0800, &[]),
        ipv4(a, b, 1, &[8, 0, 0, 0, 0, 1, 0, 1], 64, 0),
    );
    icmp.extend_from_slice(&[0u8; 20]);
    vec![
        v4tcp(a, b, 1234, 80, 0x02),
        v4tcp(a, b, 1234, 443, 0x02),
        v4tcp(a, b, 1234, 8080, 0x10),
        v4udp(a, b, 999, 53, b"dns query"),
        v4udp(a, b, 999, 5000, b"other"),
        icmp,
        cat(eth(0x86dd, &[]), vec![0x60; 60]),
        v4tcp(a, b, 1, 80, 0x10),
    ]
    .into_iter()
    .map(Input::Packet)
    .collect()
}

fn sockfilter_packets() -> Vec<Input> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let opts = [2, 4, 0x05, 0xb4, 1, 1, 4, 2];
    vec![
        v4udp(a, b, 40000, 53, b"dns"),
        v4udp(a, b, 53, 40000, b"answer"),
        v4udp(a, b, 40000, 54, b"not dns"),
        cat(
            eth(0x0800, &[]),
            ipv4(a, b, 6, &tcp(1000, 22, 0x02, &opts, b"payload!"), 64, 0),
        ),
        v4tcp(a, b, 1000, 22, 0x02),
        v4tcp(a, b, 1000, 443, 0x12),
        v4tcp(a, b, 1000, 443, 0x10),
        cat(eth(0x86dd, &[]), vec![0x60; 60]),
    ]
    .into_iter()
    .map(Input::Packet)
    .collect()
}

fn bypass_packets() -> Vec<Input> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    vec![
        v4tcp(a, b, 1000, 80, 0x10),
        v4tcp(a, b, 1000, 80, 0x28), // verdict: bypass this flow
        v4tcp(b, a, 80, 1000, 0x10), // reverse direction, same flow
        v4tcp(a, b, 1000, 80, 0x10),
        v4udp(a, b, 53, 53, b"udp"),
        v4tcp(a, b, 2000, 80, 0x28),
        v4tcp(b, a, 80, 1000, 0x11), // FIN: counted, removed
        v4tcp(a, b, 1000, 80, 0x10), // passes again
        v4tcp(a, b, 2000, 80, 0x18),
        cat(eth(0x0806, &[]), vec![0u8; 28]),
    ]
    .into_iter()
    .map(Input::Packet)
    .collect()
}

fn raw_tp_inputs() -> Vec<Input> {
    [
        (0x7fff_0000u64, 59u64),
        (3, 1),
        (0xdead, 257),
        (4, 2),
        (9, 9),
    ]
    .iter()
    .map(|&(a0, nr)| {
        let mut ctx = a0.to_ne_bytes().to_vec();
        ctx.extend_from_slice(&nr.to_ne_bytes());
        Input::Ctx(ctx)
    })
    .collect()
}

fn acl_setup() -> Preset {
    let v4 = |len: u32, a: [u8; 4]| cat(len.to_ne_bytes().to_vec(), a.to_vec());
    let v6 = |len: u32, a: [u8; 16]| cat(len.to_ne_bytes().to_vec(), a.to_vec());
    vec![
        ("acl_v4", v4(8, [10, 0, 0, 0]), le32(&[1, 1])),
        ("acl_v4", v4(16, [10, 1, 0, 0]), le32(&[2, 2])),
        ("acl_v4", v4(24, [10, 1, 2, 0]), le32(&[3, 3])),
        ("acl_v4", v4(32, [192, 168, 1, 7]), le32(&[7, 4])),
        (
            "acl_v6",
            v6(32, v6addr(0, [0x2001, 0xdb8, 0])),
            le32(&[1, 5]),
        ),
        (
            "acl_v6",
            v6(48, v6addr(0, [0x2001, 0xdb8, 1])),
            le32(&[2, 6]),
        ),
    ]
}

fn acl_packets() -> Vec<Input> {
    let d = [1, 1, 1, 1];
    let mut v: Vec<Vec<u8>> = [
        [10, 1, 2, 3],
        [10, 1, 3, 3],
        [10, 9, 9, 9],
        [192, 168, 1, 7],
        [192, 168, 1, 8],
        [10, 1, 2, 200],
    ]
    .iter()
    .map(|&s| v4udp(s, d, 1, 2, b"x"))
    .collect();
    let dst = v6addr(1, [0xfe80, 0, 0]);
    v.push(v6tcp(v6addr(5, [0x2001, 0xdb8, 1]), dst, 1, 2));
    v.push(v6tcp(v6addr(5, [0x2001, 0xdb8, 2]), dst, 1, 2));
    v.push(v6tcp(v6addr(5, [0x2001, 0xdb9, 2]), dst, 1, 2));
    v.push(cat(eth(0x0806, &[]), vec![0u8; 28]));
    v.push(vec![0u8; 14]); // EtherType 0
    v.into_iter().map(Input::Packet).collect()
}

fn tcp_opt_packets() -> Vec<Input> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let syn = |sport: u16, opts: &[u8]| {
        cat(
            eth(0x0800, &[]),
            ipv4(a, b, 6, &tcp(sport, 80, 0x02, opts, &[]), 64, 0),
        )
    };
    let linux = [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let full: Vec<u8> = (0..10).flat_map(|_| [1u8, 1, 1, 1]).collect(); // 40 NOPs
    vec![
        syn(100, &linux),
        syn(101, &[2, 4, 0x23, 0x28]),
        syn(102, &[1, 1, 4, 2, 3, 3, 14, 0]),
        syn(103, &[2, 1, 0, 0]),        // length below 2: malformed
        syn(104, &[8, 10, 1, 2, 3, 4]), // runs past the option space: malformed
        syn(105, &full),
        syn(106, &[]),
        v4tcp(a, b, 107, 80, 0x10), // not a SYN
        v4udp(a, b, 108, 80, b"udp"),
        syn(100, &[2, 4, 0x02, 0x18]),
    ]
    .into_iter()
    .map(Input::Packet)
    .collect()
}

fn config_packets() -> Vec<Input> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let big = v4udp(a, b, 1, 2, &[7u8; 1300]);
    let mid = v4udp(a, b, 1, 2, &[9u8; 900]);
    let mut v = vec![big];
    for i in 0..9u16 {
        v.push(v4tcp(a, b, 1000 + i, 80, 0x10));
        if i % 3 == 0 {
            v.push(mid.clone());
        }
    }
    v.into_iter().map(Input::Packet).collect()
}

fn fw_setup() -> Preset {
    [23u16, 445]
        .iter()
        .map(|p| ("denied_ports", p.to_ne_bytes().to_vec(), vec![1]))
        .collect()
}

fn fw_packets() -> Vec<Input> {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let short_tcp = cat(eth(0x0800, &[]), ipv4(a, b, 6, &[0, 80], 64, 0));
    vec![
        v4tcp(a, b, 1000, 80, 0x02),
        v4tcp(a, b, 1000, 23, 0x02),
        v4udp(a, b, 1000, 53, b"q"),
        v4udp(a, b, 1000, 445, b"smb"),
        v4tcp(a, b, 1001, 80, 0x10),
        cat(
            eth(0x0800, &[]),
            ipv4(a, b, 1, &[8, 0, 0, 0, 0, 1, 0, 1], 64, 0),
        ),
        short_tcp,
        v6tcp(
            v6addr(1, [0x2001, 0xdb8, 0]),
            v6addr(2, [0x2001, 0xdb8, 0]),
            1,
            2,
        ),
        v4udp(a, b, 1000, 53, b"q2"),
    ]
    .into_iter()
    .map(Input::Packet)
    .collect()
}

fn queue_packets() -> Vec<Input> {
    (0..11u8)
        .map(|i| {
            let ttl = if i == 6 { 1 } else { 64 - i };
            Input::Packet(cat(
                eth(0x0800, &[]),
                ipv4(
                    [10, 0, i, 1],
                    [10, 0, 0, 2],
                    17,
                    &udp(1, 2, &vec![i; usize::from(i)]),
                    ttl,
                    0,
                ),
            ))
        })
        .collect()
}

/// Inputs and map presets for a program, or `None` where the kernel has no test run for
/// its type (kprobe, tracepoint: loaded and verified only).
fn plan(obj: &str, prog: &str) -> Option<(Preset, Vec<Input>)> {
    Some(match (obj, prog) {
        ("xdp_lb", _) => (lb_setup(), lb_packets()),
        ("tc_dispatch", _) => (tc_setup(), tc_packets()),
        ("sock_filter", _) => (vec![], sockfilter_packets()),
        ("xdp_bypass", _) => (vec![], bypass_packets()),
        ("trace_events", "on_sys_enter") => (vec![], raw_tp_inputs()),
        ("lpm_acl", _) => (acl_setup(), acl_packets()),
        ("tcp_opts", _) => (vec![], tcp_opt_packets()),
        ("config_subprogs", _) => (vec![], config_packets()),
        ("queue_stack", _) => (vec![], queue_packets()),
        ("cgroup_fw", _) => (fw_setup(), fw_packets()),
        _ => return None,
    })
}

// ---- running -----------------------------------------------------------------------------

/// What one side produced: (retval, data_out, ctx_out) per input, then the comparable
/// maps.
#[derive(Debug, PartialEq)]
struct Outcome {
    runs: Vec<(u32, Vec<u8>, Vec<u8>)>,
    maps: BTreeMap<String, Entries>,
    /// Committed ring buffer records per ring buffer map, in order, timestamps masked.
    rings: BTreeMap<String, Vec<Vec<u8>>>,
}

/// A map's (key, value) pairs, sorted.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Maps whose contents both sides can list alike. Prog arrays hold program references
/// (fds vs ids), perf arrays and ring buffers hold no listable elements; queue and stack
/// are compared by their head ([`peek_kind`]).
fn listable(m: &MapSpec) -> bool {
    !matches!(
        m.map_type,
        map_type::PROG_ARRAY | map_type::PERF_EVENT_ARRAY | map_type::RINGBUF
    )
}

/// `sizeof(struct __sk_buff)`: skb programs get a zeroed context in and their context
/// (mark, priority, cb, ...) back out, so `skb->` writes are compared too.
const SKB_CTX: [u8; 192] = [0; 192];

/// The context given with packet `data` to a program of type `t`: a zeroed `__sk_buff`
/// for skb types, an `xdp_md` spanning the packet for XDP (the kernel builds the frame
/// from it and hands it back), none otherwise.
fn packet_ctx(t: u32, data: &[u8]) -> Vec<u8> {
    match t {
        prog_type::SOCKET_FILTER
        | prog_type::SCHED_CLS
        | prog_type::SCHED_ACT
        | prog_type::CGROUP_SKB => SKB_CTX.to_vec(),
        prog_type::XDP => [0, data.len() as u32, 0, 0, 0, 0]
            .iter()
            .flat_map(|x| x.to_ne_bytes())
            .collect(),
        _ => Vec::new(),
    }
}

fn type_of(obj: &Object, prog: &str) -> u32 {
    obj.program(prog).unwrap().kind.as_ref().unwrap().prog_type
}

/// Leading record bytes that differ between runs by nature: the corpus's events start
/// with a `bpf_ktime_get_ns` timestamp (checked to be non-zero, then zeroed).
const RING_VOLATILE: usize = 8;

fn mask_record(rec: &[u8]) -> Vec<u8> {
    let mut r = rec.to_vec();
    let n = RING_VOLATILE.min(r.len());
    assert!(r[..n].iter().any(|&b| b != 0), "record without a timestamp");
    r[..n].fill(0);
    r
}

/// The committed records of a kernel ring buffer, read through its mmap'ed pages as
/// libbpf's consumer does (without advancing the consumer position).
fn kernel_ring_records(map: &kernel::Map, size: usize) -> Vec<Vec<u8>> {
    const BUSY: u32 = 1 << 31;
    const DISCARD: u32 = 1 << 30;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    let fd = map.as_fd().as_raw_fd();
    // SAFETY: a read-only shared mapping of the consumer page and of the producer page
    // plus the data area mapped twice (the kernel's ring buffer layout); both are
    // unmapped below and only read while mapped.
    let (cons, prod) = unsafe {
        let cons = libc::mmap(
            std::ptr::null_mut(),
            page,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        );
        let prod = libc::mmap(
            std::ptr::null_mut(),
            page + 2 * size,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            page as libc::off_t,
        );
        assert!(
            cons != libc::MAP_FAILED && prod != libc::MAP_FAILED,
            "mmap of the kernel ring buffer failed"
        );
        (cons as *const u8, prod as *const u8)
    };
    // SAFETY: the positions are the first u64 of each page; the data area is `2 * size`
    // bytes after the producer page, so a record at `pos % size` with at most `size`
    // bytes stays inside the mapping.
    let out = unsafe {
        let mut pos = std::ptr::read_volatile(cons as *const u64);
        let end = std::ptr::read_volatile(prod as *const u64);
        let data = prod.add(page);
        let mut out = Vec::new();
        while pos < end {
            let hdr = data.add(pos as usize % size);
            let len = std::ptr::read_volatile(hdr as *const u32);
            assert_eq!(len & BUSY, 0, "record still reserved after the run");
            let n = (len & !(BUSY | DISCARD)) as usize;
            if len & DISCARD == 0 {
                out.push(std::slice::from_raw_parts(hdr.add(8), n).to_vec());
            }
            pos += ((n + 8 + 7) & !7) as u64;
        }
        libc::munmap(cons as *mut libc::c_void, page);
        libc::munmap(prod as *mut libc::c_void, page + 2 * size);
        out
    };
    out
}

fn peek_kind(m: &MapSpec) -> bool {
    matches!(m.map_type, map_type::QUEUE | map_type::STACK)
}

fn percpu(m: &MapSpec) -> bool {
    matches!(
        m.map_type,
        map_type::PERCPU_HASH | map_type::PERCPU_ARRAY | map_type::LRU_PERCPU_HASH
    )
}

/// Per-CPU values summed over CPUs, u64 lane by lane: a test run's CPU is the
/// scheduler's choice in the kernel, so only the totals are comparable.
fn normalize(m: &MapSpec, value: Vec<u8>) -> Vec<u8> {
    if !percpu(m) {
        return value;
    }
    let stride = (m.value_size as usize).div_ceil(8) * 8;
    let mut sum = vec![0u64; stride / 8];
    for cpu in value.chunks(stride) {
        for (s, lane) in sum.iter_mut().zip(cpu.chunks(8)) {
            *s = s.wrapping_add(u64::from_ne_bytes(lane.try_into().unwrap()));
        }
    }
    sum.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

fn our_side(
    obj: &Object,
    prog: &str,
    engine: Box<dyn EngineBuilder>,
    preset: &Preset,
    inputs: &[Input],
) -> Outcome {
    let rt = Runtime::with_engine(engine);
    let l = rt.load_object(obj).unwrap();
    for (name, k, v) in preset {
        l.map(name).unwrap().map.update(k, v, 0).unwrap();
    }
    let p = l.program(prog).unwrap();
    // Verified, so the engine runs it unchecked (no per-access bounds checks).
    assert!(
        p.verified.is_some() || KNOWN_GAPS.iter().any(|g| g.1 == prog),
        "{prog} on {}: not verified: {:?}",
        p.engine_name(),
        p.verify_note
    );
    let t = type_of(obj, prog);
    let runs = inputs
        .iter()
        .map(|i| {
            let ctx = match i {
                Input::Packet(d) => packet_ctx(t, d),
                Input::Ctx(_) => Vec::new(),
            };
            let run = match i {
                Input::Packet(d) => OurRun {
                    data_in: d,
                    ctx_in: (!ctx.is_empty()).then_some(&ctx[..]),
                    ..OurRun::default()
                },
                Input::Ctx(c) => OurRun {
                    ctx_in: Some(c),
                    ..OurRun::default()
                },
            };
            let o = p
                .test_run(&run)
                .unwrap_or_else(|e| panic!("{prog}: {e}"))
                .output;
            (o.retval, o.data_out, o.ctx_out)
        })
        .collect();
    let mut maps = BTreeMap::new();
    for spec in obj.maps.iter().filter(|m| listable(m)) {
        let m = &l.map(&spec.name).unwrap().map;
        let mut e: Vec<_> = if peek_kind(spec) {
            m.peek().map(|v| (Vec::new(), v)).into_iter().collect()
        } else {
            m.keys()
                .into_iter()
                .map(|k| {
                    let v = m.lookup(&k).unwrap();
                    (k, normalize(spec, v))
                })
                .collect()
        };
        e.sort();
        maps.insert(spec.name.clone(), e);
    }
    let mut rings = BTreeMap::new();
    for spec in obj.maps.iter().filter(|m| m.map_type == map_type::RINGBUF) {
        let mut recs = Vec::new();
        l.map(&spec.name)
            .unwrap()
            .map
            .ringbuf_consume(|r| recs.push(mask_record(r)))
            .unwrap();
        rings.insert(spec.name.clone(), recs);
    }
    Outcome { runs, maps, rings }
}

/// An object's maps in the kernel (index-aligned with `obj.maps`) and its BTF.
struct KernelObject<'a> {
    obj: &'a Object,
    btf: Option<kernel::Btf>,
    maps: Vec<kernel::Map>,
}

impl<'a> KernelObject<'a> {
    fn new(obj: &'a Object) -> KernelObject<'a> {
        let btf = obj
            .btf
            .as_ref()
            .map(|b| kernel::Btf::load(b.raw(), 0).unwrap());
        let maps = obj
            .maps
            .iter()
            .map(|m| {
                let map = kernel::Map::from_spec(m, btf.as_ref())
                    .unwrap_or_else(|e| panic!("kernel map {}: {e}", m.name));
                // As libbpf (and oxbpf's loader): .rodata is frozen, so the verifier
                // knows its values.
                if m.origin == MapOrigin::Data(DataKind::Rodata) {
                    map.freeze().unwrap();
                }
                map
            })
            .collect();
        KernelObject { obj, btf, maps }
    }

    fn load(&self, prog: &str) -> kernel::Program {
        let p = self.obj.program(prog).unwrap();
        let kind = p.kind.clone().unwrap();
        let fds: Vec<i32> = self.maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
        let bytes = p.bind_maps(&fds).unwrap().concat();
        let (fi, li) = (p.func_info_bytes(), p.line_info_bytes());
        let name = kernel_obj_name(prog);
        kernel::Program::load(&ProgLoad {
            license: &self.obj.license,
            expected_attach_type: kind.expected_attach_type.unwrap_or(0),
            prog_flags: oxbpf::program::load_flags(&kind),
            name: &name,
            btf: self.btf.as_ref().map(|b| ProgBtf {
                btf_fd: b.as_fd(),
                func_info: &fi,
                func_info_rec_size: 8,
                line_info: &li,
                line_info_rec_size: 16,
            }),
            ..ProgLoad::new(kind.prog_type, &bytes)
        })
        .unwrap_or_else(|e| panic!("kernel load of {prog}: {e}"))
    }

    /// Fills prog-array slots named in the object (`.values`) with kernel programs.
    fn fill_prog_slots(&self, progs: &BTreeMap<String, kernel::Program>) {
        for (spec, map) in self.obj.maps.iter().zip(&self.maps) {
            for slot in &spec.initial_slots {
                if let MapSlotTarget::Program(name) = &slot.target {
                    let fd = progs[name].as_fd().as_raw_fd() as u32;
                    map.update(
                        &slot.index.to_ne_bytes(),
                        &fd.to_ne_bytes(),
                        kernel::BPF_ANY,
                    )
                    .unwrap();
                }
            }
        }
    }

    fn outcome(
        &self,
        label: &str,
        prog: &kernel::Program,
        t: u32,
        preset: &Preset,
        inputs: &[Input],
    ) -> Outcome {
        for (name, k, v) in preset {
            let (i, _) = self.obj.map(name).unwrap();
            self.maps[i].update(k, v, kernel::BPF_ANY).unwrap();
        }
        let runs = inputs
            .iter()
            .enumerate()
            .map(|(n, i)| {
                let ctx = match i {
                    Input::Packet(d) => packet_ctx(t, d),
                    Input::Ctx(_) => Vec::new(),
                };
                let run = match i {
                    Input::Packet(d) => kernel::TestRun {
                        data_in: d,
                        data_out_capacity: d.len() + 4096,
                        ctx_in: &ctx,
                        ctx_out_capacity: ctx.len(),
                        ..kernel::TestRun::default()
                    },
                    Input::Ctx(c) => kernel::TestRun {
                        ctx_in: c,
                        ..kernel::TestRun::default()
                    },
                };
                let o = prog
                    .test_run(&run)
                    .unwrap_or_else(|e| panic!("{label}: kernel run of input {n}: {e}"));
                (o.retval, o.data_out, o.ctx_out)
            })
            .collect();
        let mut maps = BTreeMap::new();
        for (spec, m) in self.obj.maps.iter().zip(&self.maps) {
            if !listable(spec) {
                continue;
            }
            let mut e: Vec<_> = if peek_kind(spec) {
                m.lookup(&[])
                    .unwrap()
                    .map(|v| (Vec::new(), v))
                    .into_iter()
                    .collect()
            } else {
                m.entries()
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k, normalize(spec, v)))
                    .collect()
            };
            e.sort();
            maps.insert(spec.name.clone(), e);
        }
        let mut rings = BTreeMap::new();
        for (spec, m) in self.obj.maps.iter().zip(&self.maps) {
            if spec.map_type == map_type::RINGBUF {
                let recs = kernel_ring_records(m, spec.max_entries as usize);
                rings.insert(
                    spec.name.clone(),
                    recs.iter().map(|r| mask_record(r)).collect(),
                );
            }
        }
        Outcome { runs, maps, rings }
    }
}

fn kernel_reason() -> Option<String> {
    kernel::available().err().map(|e| e.to_string())
}

/// Entry programs of an object (subprograms have no section kind).
fn entry_programs(obj: &Object) -> Vec<String> {
    obj.programs
        .iter()
        .filter(|p| p.kind.is_some())
        .map(|p| p.name.clone())
        .collect()
}

#[test]
fn corpus_programs_verify_load_and_run_like_the_kernel() {
    let objs = objects();
    let unavailable = kernel_reason();
    let mut report = Vec::new();
    let mut runs_compared = 0;
    for (stem, obj) in &objs {
        let progs = entry_programs(obj);
        assert!(!progs.is_empty(), "{stem}: no programs");
        // (a) oxbpf verifies every program (so both engines run it unchecked).
        let rt = Runtime::new();
        let l = rt
            .load_object(obj)
            .unwrap_or_else(|e| panic!("{stem}: oxbpf load: {e}"));
        let mut ours = BTreeMap::new();
        for prog in &progs {
            let p = l.program(prog).unwrap();
            let gap = KNOWN_GAPS.iter().find(|(o, n, _)| o == stem && n == prog);
            match (&p.verified, gap) {
                (Some(v), None) => {
                    ours.insert(prog.clone(), v.stats.insns_processed);
                }
                (None, Some((_, _, why))) => {
                    eprintln!("known gap: {stem}/{prog}: {why}");
                }
                (Some(_), Some(_)) => panic!("{stem}/{prog} verifies now: drop it from KNOWN_GAPS"),
                (None, None) => panic!(
                    "{stem}/{prog}: oxbpf's verifier rejects it: {:?}",
                    p.verify_note
                ),
            }
        }
        // The engines agree with each other on every planned program, kernel or not.
        let mut planned = BTreeMap::new();
        for prog in &progs {
            let Some((preset, inputs)) = plan(stem, prog) else {
                continue;
            };
            let interp = our_side(obj, prog, Box::new(InterpBuilder), &preset, &inputs);
            let jit = our_side(obj, prog, Box::new(JitBuilder), &preset, &inputs);
            assert_eq!(interp, jit, "{stem}/{prog}: interpreter vs JIT");
            // The inputs must reach more than one verdict, or the comparison says little.
            let mut verdicts: Vec<u32> = interp.runs.iter().map(|r| r.0).collect();
            verdicts.sort();
            verdicts.dedup();
            assert!(
                verdicts.len() >= 2,
                "{stem}/{prog}: one verdict only: {verdicts:?}"
            );
            let records: usize = interp.rings.values().map(Vec::len).sum();
            report.push(format!(
                "{stem}/{prog}: {} inputs, verdicts {verdicts:?}, {records} ring records",
                inputs.len()
            ));
            planned.insert(prog.clone(), (preset, inputs, interp));
        }
        if unavailable.is_some() {
            continue;
        }
        // (b) the kernel loads every program; (c) test runs compared where it has them.
        let k = KernelObject::new(obj);
        let kprogs: BTreeMap<String, kernel::Program> =
            progs.iter().map(|p| (p.clone(), k.load(p))).collect();
        for prog in &progs {
            let info = kprogs[prog].info().unwrap();
            report.push(format!(
                "{stem}/{prog}: processed insns oxbpf {} kernel {}",
                ours.get(prog)
                    .map_or("rejected".to_string(), |n| n.to_string()),
                info.verified_insns
            ));
        }
        for (prog, (preset, inputs, mine)) in &planned {
            // Fresh kernel maps per program so each comparison starts from the object.
            let k = KernelObject::new(obj);
            let kp: BTreeMap<String, kernel::Program> =
                progs.iter().map(|p| (p.clone(), k.load(p))).collect();
            k.fill_prog_slots(&kp);
            let theirs = k.outcome(
                &format!("{stem}/{prog}"),
                &kp[prog],
                type_of(obj, prog),
                preset,
                inputs,
            );
            // (Interpreter and JIT are equal, so one comparison covers both.)
            for (i, (a, b)) in mine.runs.iter().zip(&theirs.runs).enumerate() {
                assert_eq!(
                    a, b,
                    "{stem}/{prog}: input {i}: (retval, data_out, ctx_out)"
                );
            }
            assert_eq!(mine.maps, theirs.maps, "{stem}/{prog}: maps");
            assert_eq!(
                mine.rings, theirs.rings,
                "{stem}/{prog}: ring buffer records"
            );
            runs_compared += inputs.len();
        }
    }
    if let Some(reason) = unavailable {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    for line in &report {
        eprintln!("{line}");
    }
    eprintln!("corpus: {runs_compared} inputs compared (interp, jit, kernel)");
    assert!(runs_compared >= 50);
}
