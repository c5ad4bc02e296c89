//! Bad arguments and full maps through programs, for the helpers and map types the other
//! files exercise only on the happy path: each program writes every helper's result to
//! the results array, which must hold the kernel's errnos in oxbpf and, where bpf(2) is
//! available, in the kernel running the same program on the same maps.

use super::kernel::{available, kernel_load_as, kernel_map, kernel_results, MakeMaps};
use super::misc::rodata_map;
use super::*;
use crate::helpers::errno::{E2BIG, EINVAL, ENOENT, ENOSPC};
use crate::maps::flags::BPF_F_NO_PREALLOC;
use crate::program::{test_run, ProgramType, TestRun};

const EEXIST: i64 = 17;
const EAGAIN: i64 = 11;
const EFAULT: i64 = 14;

/// The packet every program runs on, in oxbpf and in the kernel.
fn packet() -> Vec<u8> {
    (0x40..0x80u8).collect()
}

/// Runs `src` as an XDP program on [`packet`] in oxbpf (the same `BPF_PROG_TEST_RUN`
/// path the kernel takes, so `r1` is a real context) and returns the results array.
fn ours(src: &str, maps: &[Arc<Map>]) -> Vec<i64> {
    ours_as("xdp", src, maps)
}

/// [`ours`] as the program type named `ty`.
fn ours_as(ty: &str, src: &str, maps: &[Arc<Map>]) -> Vec<i64> {
    let vm = load(src, maps);
    let mut rc = context(maps);
    let xdp = ProgramType::from_name(ty).unwrap();
    let run = TestRun {
        data_in: &packet(),
        ..TestRun::default()
    };
    let out = test_run(&vm, xdp, &run, &mut rc).unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert_eq!(out.retval, 2, "{src}");
    results(&maps[0])
}

/// The kernel's results array for `src` on fresh maps, `None` without bpf(2).
fn theirs(src: &str, make: MakeMaps) -> Option<Vec<i64>> {
    theirs_as("xdp", src, make)
}

/// [`theirs`] as the program type named `ty`.
fn theirs_as(ty: &str, src: &str, make: MakeMaps) -> Option<Vec<i64>> {
    if !available() {
        return None;
    }
    let kmaps: Vec<_> = make().iter().map(|m| kernel_map(m)).collect();
    let prog = kernel_load_as(ProgramType::from_name(ty).unwrap().id, src, &kmaps);
    let out = prog
        .test_run(&crate::kernel::TestRun {
            data_in: &packet(),
            ..crate::kernel::TestRun::default()
        })
        .unwrap();
    assert_eq!(out.retval, 2, "kernel run of\n{src}");
    Some(kernel_results(&kmaps[0]))
}

/// Checks the `expected` slots (`None`: implementation-defined, e.g. which LRU element
/// was evicted) in oxbpf and in the kernel, and that both agree on every slot the program
/// writes (`expected.len()`) unless `exact` is false.
fn check_with(what: &str, src: &str, make: MakeMaps, expected: &[Option<i64>], exact: bool) {
    let o = ours(src, &make());
    let n = expected.len();
    for (side, r) in [("oxbpf", Some(o.clone())), ("kernel", theirs(src, make))] {
        let Some(r) = r else { continue };
        for (i, (v, e)) in r.iter().zip(expected).enumerate() {
            if let Some(e) = e {
                assert_eq!(v, e, "{what}: {side} slot {i}, all {:?}", &r[..n]);
            }
        }
        if exact {
            assert_eq!(r[..n], o[..n], "{what}: kernel vs oxbpf");
        }
    }
}

fn check(what: &str, src: &str, make: MakeMaps, expected: &[Option<i64>]) {
    check_with(what, src, make, expected, true);
}

fn all(v: &[i64]) -> Vec<Option<i64>> {
    v.iter().copied().map(Some).collect()
}

/// `r0` of the last call to results slot `slot`.
fn save(slot: u32) -> String {
    format!("*(u64 *)(r9 + {}) = r0\n", slot * 8)
}

/// `map_update_elem(map[idx:1], &key, &val, flags)` with a u32 key and u64 value.
fn update(key: u32, val: u64, flags: u64, slot: u32) -> String {
    format!(
        "r1 = {key}\n*(u32 *)(r10 - 4) = r1\nr1 = {val} ll\n*(u64 *)(r10 - 16) = r1\n\
         r1 = map[idx:1]\nr2 = r10\nr2 += -4\nr3 = r10\nr3 += -16\nr4 = {flags} ll\n\
         call bpf_map_update_elem\n{}",
        save(slot)
    )
}

fn delete(key: u32, slot: u32) -> String {
    format!(
        "r1 = {key}\n*(u32 *)(r10 - 4) = r1\nr1 = map[idx:1]\nr2 = r10\nr2 += -4\n\
         call bpf_map_delete_elem\n{}",
        save(slot)
    )
}

/// Lookup; the slot gets 1 for a value, 0 for NULL.
fn lookup(key: u32, slot: u32) -> String {
    format!(
        "r1 = {key}\n*(u32 *)(r10 - 4) = r1\nr1 = map[idx:1]\nr2 = r10\nr2 += -4\n\
         call bpf_map_lookup_elem\nif r0 == 0 goto +1\nr0 = 1\n{}",
        save(slot)
    )
}

fn program(body: &[String]) -> String {
    format!("r9 = map[idx:0]+0\n{}r0 = 2\nexit\n", body.concat())
}

#[test]
fn queue_and_stack_bad_flags_full_and_empty_match_the_kernel() {
    let push = |val: u64, flags: u64, slot: u32| {
        format!(
            "r1 = {val}\n*(u64 *)(r10 - 8) = r1\nr1 = map[idx:1]\nr2 = r10\nr2 += -8\n\
             r3 = {flags}\ncall bpf_map_push_elem\n{}",
            save(slot)
        )
    };
    let pop = |helper: &str, slot: u32| {
        format!(
            "r1 = 0\n*(u64 *)(r10 - 16) = r1\nr1 = map[idx:1]\nr2 = r10\nr2 += -16\n\
             call {helper}\n{}r1 = *(u64 *)(r10 - 16)\n*(u64 *)(r9 + {}) = r1\n",
            save(slot),
            (slot + 1) * 8
        )
    };
    let src = program(&[
        push(1, 0, 0),
        push(2, 1, 1), // BPF_NOEXIST: -EINVAL
        push(2, 4, 2), // unknown flag: -EINVAL
        push(2, 0, 3),
        push(3, 0, 4), // full: -E2BIG
        push(3, 2, 5), // BPF_EXIST: the oldest makes room
        pop("bpf_map_pop_elem", 6),
        pop("bpf_map_pop_elem", 8),
        pop("bpf_map_pop_elem", 10), // empty: -ENOENT
        pop("bpf_map_peek_elem", 12),
    ]);
    let (einval, e2big, enoent) = (-EINVAL, -E2BIG, -ENOENT);
    check(
        "queue",
        &src,
        || vec![results_map(14), map(MapType::Queue, 0, 8, 2)],
        &all(&[
            0, einval, einval, 0, e2big, 0, 0, 2, 0, 3, enoent, 0, enoent, 0,
        ]),
    );
    check(
        "stack",
        &src,
        || vec![results_map(14), map(MapType::Stack, 0, 8, 2)],
        &all(&[
            0, einval, einval, 0, e2big, 0, 0, 3, 0, 2, enoent, 0, enoent, 0,
        ]),
    );
}

#[test]
fn array_and_percpu_array_bad_keys_and_flags_match_the_kernel() {
    let src = program(&[
        delete(1, 0),        // arrays cannot delete: -EINVAL
        update(4, 1, 0, 1),  // index == max_entries: -E2BIG
        update(1, 1, 4, 2),  // BPF_F_LOCK without a spin lock: -EINVAL
        update(1, 1, 8, 3),  // unknown flag: -EINVAL
        update(1, 1, 1, 4),  // BPF_NOEXIST: every index exists
        lookup(4, 5),        // NULL
        lookup(u32::MAX, 6), // NULL
        update(3, 9, 2, 7),  // BPF_EXIST: fine
        lookup(3, 8),
    ]);
    let expected = all(&[-EINVAL, -E2BIG, -EINVAL, -EINVAL, -EEXIST, 0, 0, 0, 1]);
    for t in [MapType::Array, MapType::PercpuArray] {
        let make: MakeMaps = match t {
            MapType::Array => || vec![results_map(9), map(MapType::Array, 4, 8, 4)],
            _ => || vec![results_map(9), map(MapType::PercpuArray, 4, 8, 4)],
        };
        check(&format!("{t:?}"), &src, make, &expected);
    }
}

#[test]
fn hash_family_full_maps_and_bad_flags_match_the_kernel() {
    let src = program(&[
        update(1, 10, 1, 0), // BPF_NOEXIST
        update(1, 11, 1, 1), // exists: -EEXIST
        update(9, 11, 2, 2), // BPF_EXIST on an absent key: -ENOENT
        update(2, 20, 0, 3), // map now full
        update(3, 30, 0, 4), // hash: -E2BIG; LRU: evicts
        update(1, 12, 3, 5), // NOEXIST|EXIST: -EINVAL
        update(1, 12, 4, 6), // BPF_F_LOCK without a spin lock: -EINVAL
        delete(9, 7),        // -ENOENT
        lookup(1, 8),
        delete(1, 9),
        update(4, 40, 0, 10), // room again (hash)
        lookup(4, 11),
    ]);
    let hash = all(&[
        0, -EEXIST, -ENOENT, 0, -E2BIG, -EINVAL, -EINVAL, -ENOENT, 1, 0, 0, 1,
    ]);
    // LRU maps never refuse an update for room; which element goes is theirs to pick.
    let lru = [
        Some(0),
        Some(-EEXIST),
        Some(-ENOENT),
        Some(0),
        Some(0),
        Some(-EINVAL),
        Some(-EINVAL),
        Some(-ENOENT),
        None,
        None,
        Some(0),
        Some(1),
    ];
    let cases: [(&str, MakeMaps, &[Option<i64>]); 5] = [
        (
            "hash",
            || vec![results_map(12), map(MapType::Hash, 4, 8, 2)],
            &hash,
        ),
        (
            "hash no_prealloc",
            || {
                let d = MapDef::new(MapType::Hash, 4, 8, 2).with_flags(BPF_F_NO_PREALLOC);
                vec![results_map(12), Map::new(&d).unwrap()]
            },
            &hash,
        ),
        (
            "percpu_hash",
            || vec![results_map(12), map(MapType::PercpuHash, 4, 8, 2)],
            &hash,
        ),
        (
            "lru_hash",
            || vec![results_map(12), map(MapType::LruHash, 4, 8, 2)],
            &lru,
        ),
        (
            "lru_percpu_hash",
            || vec![results_map(12), map(MapType::LruPercpuHash, 4, 8, 2)],
            &lru,
        ),
    ];
    for (what, make, expected) in cases {
        // Which LRU element goes is the kernel's per-CPU free-list business: both sides
        // are held to the stated semantics only.
        check_with(what, &src, make, expected, !what.starts_with("lru"));
    }
}

#[test]
fn lpm_trie_bad_prefixes_and_full_trie_match_the_kernel() {
    // Keys: prefix length then the address bytes (network order).
    let key = |plen: u32, addr: [u8; 4]| {
        format!(
            "r1 = {plen}\n*(u32 *)(r10 - 8) = r1\nr1 = {}\n*(u32 *)(r10 - 4) = r1\n",
            u32::from_ne_bytes(addr)
        )
    };
    let upd = |plen: u32, addr: [u8; 4], flags: u64, slot: u32| {
        format!(
            "{}r1 = {slot}\n*(u32 *)(r10 - 12) = r1\nr1 = map[idx:1]\nr2 = r10\nr2 += -8\n\
             r3 = r10\nr3 += -12\nr4 = {flags}\ncall bpf_map_update_elem\n{}",
            key(plen, addr),
            save(slot)
        )
    };
    let del = |plen: u32, addr: [u8; 4], slot: u32| {
        format!(
            "{}r1 = map[idx:1]\nr2 = r10\nr2 += -8\ncall bpf_map_delete_elem\n{}",
            key(plen, addr),
            save(slot)
        )
    };
    // The value stored for the longest match (the slot number it was inserted from), or
    // -1 for no match.
    let get = |addr: [u8; 4], slot: u32| {
        format!(
            "{}r1 = map[idx:1]\nr2 = r10\nr2 += -8\ncall bpf_map_lookup_elem\n\
             r1 = -1\nif r0 == 0 goto +1\nr1 = *(u32 *)(r0 + 0)\n*(u64 *)(r9 + {}) = r1\n",
            key(32, addr),
            slot * 8
        )
    };
    let src = program(&[
        upd(33, [10, 0, 0, 0], 0, 0), // longer than the key: -EINVAL
        upd(8, [10, 0, 0, 0], 1, 1),
        upd(8, [10, 9, 9, 9], 1, 2),  // same prefix: -EEXIST
        upd(16, [10, 1, 0, 0], 2, 3), // BPF_EXIST, absent: -ENOENT
        upd(16, [10, 1, 0, 0], 0, 4),
        upd(24, [10, 1, 1, 0], 0, 5), // full: -ENOSPC
        upd(8, [10, 0, 0, 0], 4, 6),  // bad flags: -EINVAL
        del(24, [10, 1, 1, 0], 7),    // -ENOENT
        del(40, [10, 1, 1, 0], 8),    // -EINVAL
        get([10, 1, 2, 3], 9),
        get([10, 2, 2, 3], 10),
        get([11, 2, 2, 3], 11),
    ]);
    check(
        "lpm_trie",
        &src,
        || {
            let d = MapDef::new(MapType::LpmTrie, 8, 4, 2).with_flags(BPF_F_NO_PREALLOC);
            vec![results_map(12), Map::new(&d).unwrap()]
        },
        &all(&[
            -EINVAL, 0, -EEXIST, -ENOENT, 0, -ENOSPC, -EINVAL, -ENOENT, -EINVAL, 4, 1, -1,
        ]),
    );
}

#[test]
fn ringbuf_bad_flags_oversize_and_full_match_the_kernel() {
    let reserve = |size: u32, flags: u64, reg: &str| {
        format!(
            "r1 = map[idx:1]\nr2 = {size}\nr3 = {flags}\ncall bpf_ringbuf_reserve\n{reg} = r0\n"
        )
    };
    // Releases the record in `reg` (if any) and turns `reg` into 1/0 in `slot`.
    let release = |reg: &str, helper: &str, slot: u32| {
        format!(
            "if {reg} == 0 goto +4\nr1 = {reg}\nr2 = 0\ncall {helper}\n{reg} = 1\n\
             *(u64 *)(r9 + {}) = {reg}\n",
            slot * 8
        )
    };
    let output = |size: u32, flags: u64, slot: u32| {
        format!(
            "r1 = map[idx:1]\nr2 = r9\nr2 += 128\nr3 = {size}\nr4 = {flags}\n\
             call bpf_ringbuf_output\n{}",
            save(slot)
        )
    };
    let src = program(&[
        reserve(2000, 0, "r6"),
        reserve(2000, 0, "r7"),
        reserve(2000, 0, "r8"), // no room while both are held: NULL
        output(8, 0, 3),        // 16 bytes still fit
        output(64, 0, 4),       // full: -EAGAIN
        output(8, 4, 5),        // unknown flag: -EINVAL
        release("r8", "bpf_ringbuf_discard", 2),
        release("r7", "bpf_ringbuf_discard", 1),
        release("r6", "bpf_ringbuf_submit", 0),
        reserve(8, 1, "r6"), // flags must be 0: NULL
        release("r6", "bpf_ringbuf_discard", 6),
        reserve(4096, 0, "r6"), // larger than the ring can hold: NULL
        release("r6", "bpf_ringbuf_discard", 7),
        output(4096, 0, 8), // -EAGAIN
        "r1 = map[idx:1]\nr2 = 0\ncall bpf_ringbuf_query\n".to_string() + &save(9),
        "r1 = map[idx:1]\nr2 = 99\ncall bpf_ringbuf_query\n".to_string() + &save(10),
    ]);
    check(
        "ringbuf",
        &src,
        || vec![results_map(1024), map(MapType::RingBuf, 0, 0, 4096)],
        &all(&[
            1,
            1,
            0,
            0,
            -EAGAIN,
            -EINVAL,
            0,
            0,
            -EAGAIN,
            2 * 2008 + 16,
            0,
        ]),
    );
}

#[test]
fn perf_event_output_bad_index_and_flags_match_the_kernel() {
    let out = |flags: &str, slot: u32| {
        format!(
            "r1 = r6\nr2 = map[idx:1]\nr3 = {flags} ll\nr4 = r9\nr4 += 64\nr5 = 8\n\
             call bpf_perf_event_output\n{}",
            save(slot)
        )
    };
    let src = format!(
        "r6 = r1\n{}",
        program(&[
            out("0", 0),                  // no reader on channel 0: -ENOENT
            out("5", 1),                  // beyond max_entries: -E2BIG
            out("0x8000000000000000", 2), // unknown flag bit: -EINVAL
            out("0x100000001", 3),        // index 1 with 1 packet byte: -ENOENT
            out("0x4100000000", 4),       // 65 packet bytes of 64: -EFAULT
            out("0x4100000005", 5),       // -EFAULT before the index
            out("0x8000004000000000", 6), // -EINVAL before the length
        ])
    );
    check(
        "perf_event_array",
        &src,
        || vec![results_map(10), map(MapType::PerfEventArray, 4, 4, 2)],
        &all(&[-ENOENT, -E2BIG, -EINVAL, -ENOENT, -EFAULT, -EFAULT, -EINVAL]),
    );
    // With a reader: the sample is the data, then the packet bytes.
    let perf = map(MapType::PerfEventArray, 4, 4, 2);
    perf.perf_open(1, 1, 4096).unwrap();
    let maps = [results_map(10), perf];
    assert_eq!(ours(&src, &maps)[3], 0);
    let mut got = Vec::new();
    maps[1].perf_drain(1, |r| got.push(r.to_vec())).unwrap();
    // The 8 data bytes (results slot 8, still 0), then packet byte 0.
    assert_eq!(got, [vec![0, 0, 0, 0, 0, 0, 0, 0, 0x40]]);
}

#[test]
fn csum_diff_oversized_buffers_match_the_kernel() {
    let diff = |from: u32, to: u32, slot: u32| {
        format!(
            "r1 = r9\nr1 += 64\nr2 = {from}\nr3 = r9\nr3 += 64\nr4 = {to}\nr5 = 0\n\
             call bpf_csum_diff\n{}",
            save(slot)
        )
    };
    let src = program(&[
        diff(256, 260, 0),
        diff(256, 256, 1),
        diff(512, 0, 2),
        diff(0, 516, 3),
    ]);
    let maps = || {
        let m = results_map(80);
        let bytes: Vec<u8> = (0..640u32).map(|i| (i * 7) as u8).collect();
        m.update(&0u32.to_ne_bytes(), &bytes, 0).unwrap();
        vec![m]
    };
    let expected = [None; 4];
    check("csum_diff", &src, maps, &expected);
}

#[test]
fn bad_formats_match_the_kernel() {
    // .rodata: "%y" at 0, "%d" at 8.
    const FMT: &[u8; 32] = b"%y\0\0\0\0\0\0%d\0\0\0\0\0\0%d %d\0\0\0\0\0\0\0\0\0\0\0";
    let snprintf = |fmt_off: u32, data_len: u32, slot: u32| {
        format!(
            "r1 = r9\nr1 += 128\nr2 = 16\nr3 = map[idx:1]+{fmt_off}\nr4 = r10\nr4 += -24\n\
             r5 = {data_len}\ncall bpf_snprintf\n{}",
            save(slot)
        )
    };
    // The kernel verifier checks snprintf's constant format against its constant data_len
    // at load ("Invalid format string", data_len % 8), so snprintf only gets good
    // arguments here; trace_printk/trace_vprintk formats are checked at run time.
    let src = program(&[
        "r1 = 7\n*(u64 *)(r10 - 24) = r1\n*(u64 *)(r10 - 16) = r1\n*(u64 *)(r10 - 8) = r1\n"
            .to_string(),
        snprintf(8, 8, 0).replace("r2 = 16", "r2 = 0"), // no room: the length it needs
        snprintf(8, 16, 1), // one conversion, two arguments: the extra one is unused
        snprintf(8, 8, 2),  // "7": 2 with the NUL
        "r1 = map[idx:1]+0\nr2 = 3\ncall bpf_trace_printk\n".to_string() + &save(3),
        "r1 = map[idx:1]+0\nr2 = 3\nr3 = r10\nr3 += -24\nr4 = 8\ncall bpf_trace_vprintk\n"
            .to_string()
            + &save(4),
        "r1 = map[idx:1]+8\nr2 = 3\nr3 = r10\nr3 += -24\nr4 = 12\ncall bpf_trace_vprintk\n"
            .to_string()
            + &save(5),
    ]);
    check(
        "formats",
        &src,
        || vec![results_map(24), rodata_map(FMT)],
        &all(&[2, 2, 2, -EINVAL, -EINVAL, -EINVAL]),
    );
}

#[test]
fn lookup_percpu_elem_bad_cpu_and_key_match_the_kernel() {
    // 1 for a value, 0 for NULL.
    let get = |key: u32, cpu: &str, slot: u32| {
        format!(
            "r1 = {key}\n*(u32 *)(r10 - 4) = r1\nr1 = map[idx:1]\nr2 = r10\nr2 += -4\n\
             r3 = {cpu}\ncall bpf_map_lookup_percpu_elem\nif r0 == 0 goto +1\nr0 = 1\n{}",
            save(slot)
        )
    };
    let gets = [
        get(0, "0", 0),
        get(1, "0", 1),
        get(2, "0", 2),          // key beyond max_entries: NULL
        get(0, "100000", 3),     // CPU beyond nr_cpu_ids: NULL
        get(0, "0xffffffff", 4), // NULL
    ];
    let src = program(&gets);
    let expected = all(&[1, 1, 0, 0, 0]);
    check(
        "percpu_array",
        &src,
        || vec![results_map(5), map(MapType::PercpuArray, 4, 8, 2)],
        &expected,
    );
    // A per-CPU hash (key 0 inserted by the program, as the kernel copy starts empty):
    // absent keys are NULL too.
    let src = program(&[&[update(0, 5, 0, 5)][..], &gets[..]].concat());
    check(
        "percpu_hash",
        &src,
        || vec![results_map(6), map(MapType::PercpuHash, 4, 8, 2)],
        &all(&[1, 0, 0, 0, 0, 0]),
    );
}

#[test]
fn perf_event_output_packet_length_of_skb_programs_matches_the_kernel() {
    // tc sees the 64-byte packet from the Ethernet header, socket filters from the
    // network header (50 bytes): ctxlen beyond that is -EFAULT. No reader: -ENOENT.
    let out = |ctxlen: u64, slot: u32| {
        format!(
            "r1 = r6\nr2 = map[idx:1]\nr3 = {} ll\nr4 = r9\nr4 += 64\nr5 = 8\n\
             call bpf_perf_event_output\n{}",
            ctxlen << 32,
            save(slot)
        )
    };
    let src = format!(
        "r6 = r1\n{}",
        program(&[out(1, 0), out(50, 1), out(51, 2), out(64, 3), out(65, 4)])
    );
    let make: MakeMaps = || vec![results_map(10), map(MapType::PerfEventArray, 4, 4, 2)];
    for (ty, expected) in [
        ("tc", [-ENOENT, -ENOENT, -ENOENT, -ENOENT, -EFAULT]),
        (
            "socket_filter",
            [-ENOENT, -ENOENT, -EFAULT, -EFAULT, -EFAULT],
        ),
    ] {
        let o = ours_as(ty, &src, &make());
        assert_eq!(o[..5], expected, "{ty} in oxbpf");
        if let Some(k) = theirs_as(ty, &src, make) {
            assert_eq!(k[..5], expected, "{ty} in the kernel");
        }
    }
}
