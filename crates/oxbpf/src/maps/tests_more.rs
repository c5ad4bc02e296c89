//! Tests for LPM tries, queues/stacks, ring buffers, perf event arrays and fd maps.

use std::sync::Arc;

use super::errno::*;
use super::flags::*;
use super::*;

fn code<T: std::fmt::Debug>(r: Result<T, MapError>) -> i32 {
    r.expect_err("operation must fail").errno()
}

fn k(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

/// An IPv4 LPM key: host-order prefix length + address bytes.
fn ip(plen: u32, a: [u8; 4]) -> [u8; 8] {
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(&plen.to_ne_bytes());
    key[4..].copy_from_slice(&a);
    key
}

fn lpm(max: u32) -> Arc<Map> {
    Map::new(&MapDef::new(MapType::LpmTrie, 8, 4, max).with_flags(BPF_F_NO_PREALLOC))
        .expect("create")
}

fn lpm_get(m: &Map, key: [u8; 8]) -> Option<u32> {
    m.lookup(&key)
        .ok()
        .map(|b| u32::from_ne_bytes(b[..].try_into().expect("4 bytes")))
}

#[test]
fn lpm_longest_prefix_match() {
    let m = lpm(8);
    m.update(&ip(8, [10, 0, 0, 0]), &k(1), BPF_ANY)
        .expect("insert");
    m.update(&ip(16, [10, 1, 0, 0]), &k(2), BPF_ANY)
        .expect("insert");
    m.update(&ip(24, [10, 1, 1, 0]), &k(3), BPF_ANY)
        .expect("insert");
    assert_eq!(lpm_get(&m, ip(32, [11, 0, 0, 0])), None);
    m.update(&ip(0, [0, 0, 0, 0]), &k(4), BPF_ANY)
        .expect("default route");
    assert_eq!(lpm_get(&m, ip(32, [10, 1, 1, 5])), Some(3));
    assert_eq!(lpm_get(&m, ip(32, [10, 1, 2, 5])), Some(2));
    assert_eq!(lpm_get(&m, ip(32, [10, 2, 0, 0])), Some(1));
    assert_eq!(lpm_get(&m, ip(32, [11, 0, 0, 0])), Some(4));
    assert_eq!(
        lpm_get(&m, ip(16, [10, 1, 1, 5])),
        Some(2),
        "key prefixlen bounds the match"
    );
    // Odd prefix lengths compare bits, not bytes.
    m.update(&ip(9, [192, 128, 0, 0]), &k(5), BPF_ANY)
        .expect("insert /9");
    assert_eq!(lpm_get(&m, ip(32, [192, 200, 1, 1])), Some(5));
    assert_eq!(lpm_get(&m, ip(32, [192, 100, 1, 1])), Some(4));
    // Program side returns a pointer into stable value memory.
    let key = ip(32, [10, 1, 1, 9]);
    // SAFETY: key has key_size bytes.
    let p = unsafe { m.lookup_ptr(key.as_ptr()) };
    // SAFETY: p points at a 4-byte value.
    assert_eq!(unsafe { p.cast::<u32>().read() }, 3);
    m.delete(&ip(24, [10, 1, 1, 0])).expect("delete exact");
    // SAFETY: p stays valid memory after the delete.
    assert_eq!(unsafe { p.cast::<u32>().read() }, 3);
    assert_eq!(
        lpm_get(&m, ip(32, [10, 1, 1, 5])),
        Some(2),
        "falls back to /16"
    );
    assert_eq!(code(m.delete(&ip(24, [10, 1, 1, 0]))), ENOENT);
    assert_eq!(
        code(m.delete(&ip(12, [10, 0, 0, 0]))),
        ENOENT,
        "delete needs the exact prefix"
    );
    // SAFETY: key and value buffers have the right sizes.
    unsafe {
        assert_eq!(
            m.update_from_prog(ip(32, [1, 2, 3, 4]).as_ptr(), k(7).as_ptr(), BPF_ANY),
            0
        );
        assert_eq!(m.delete_from_prog(ip(32, [1, 2, 3, 4]).as_ptr()), 0);
        assert_eq!(m.delete_from_prog(ip(32, [1, 2, 3, 4]).as_ptr()), -2);
    }
}

#[test]
fn lpm_errors() {
    let m = lpm(2);
    assert_eq!(
        code(m.update(&ip(33, [1, 2, 3, 4]), &k(1), BPF_ANY)),
        EINVAL
    );
    assert_eq!(
        code(m.update(&ip(8, [1, 2, 3, 4]), &k(1), BPF_F_LOCK)),
        EINVAL
    );
    assert_eq!(
        code(m.update(&ip(8, [1, 0, 0, 0]), &k(1), BPF_EXIST)),
        ENOENT
    );
    m.update(&ip(8, [1, 0, 0, 0]), &k(1), BPF_NOEXIST)
        .expect("insert");
    assert_eq!(
        code(m.update(&ip(8, [1, 9, 9, 9]), &k(1), BPF_NOEXIST)),
        EEXIST,
        "same /8"
    );
    m.update(&ip(8, [2, 0, 0, 0]), &k(2), BPF_ANY)
        .expect("insert");
    assert_eq!(code(m.update(&ip(8, [3, 0, 0, 0]), &k(3), BPF_ANY)), ENOSPC);
    m.update(&ip(8, [2, 0, 0, 0]), &k(22), BPF_EXIST)
        .expect("replace when full");
    assert_eq!(lpm_get(&m, ip(32, [2, 3, 4, 5])), Some(22));
    assert_eq!(code(m.delete(&ip(40, [1, 0, 0, 0]))), EINVAL);
}

#[test]
fn lpm_get_next_key_is_trie_post_order() {
    let m = lpm(16);
    let entries = [
        ip(0, [0, 0, 0, 0]),
        ip(16, [192, 168, 0, 0]),
        ip(8, [10, 0, 0, 0]),
        ip(24, [10, 1, 1, 7]),
        ip(16, [10, 1, 0, 0]),
    ];
    for e in entries {
        m.update(&e, &k(0), BPF_ANY).expect("insert");
    }
    let order: Vec<Vec<u8>> = m.keys();
    let expected = [
        ip(24, [10, 1, 1, 7]), // stored data kept as given, not masked
        ip(16, [10, 1, 0, 0]),
        ip(8, [10, 0, 0, 0]),
        ip(16, [192, 168, 0, 0]),
        ip(0, [0, 0, 0, 0]),
    ];
    assert_eq!(
        order,
        expected.iter().map(|e| e.to_vec()).collect::<Vec<_>>()
    );
    assert_eq!(
        m.get_next_key(Some(&ip(20, [99, 0, 0, 0])))
            .expect("missing key restarts"),
        expected[0].to_vec()
    );
    assert_eq!(code(m.get_next_key(Some(&ip(0, [0, 0, 0, 0])))), ENOENT);
}

#[test]
fn queue_and_stack() {
    let q = Map::new(&MapDef::new(MapType::Queue, 0, 4, 3)).expect("create");
    assert_eq!(code(q.pop()), ENOENT);
    assert_eq!(code(q.peek()), ENOENT);
    for i in 1..=3 {
        q.push(&k(i), BPF_ANY).expect("push");
    }
    assert_eq!(code(q.push(&k(4), BPF_ANY)), E2BIG);
    assert_eq!(code(q.push(&k(4), BPF_NOEXIST)), EINVAL);
    q.push(&k(4), BPF_EXIST).expect("overwrite oldest");
    assert_eq!(q.peek().expect("peek"), k(2).to_vec());
    assert_eq!(q.pop().expect("pop"), k(2).to_vec());
    assert_eq!(q.pop().expect("pop"), k(3).to_vec());
    assert_eq!(q.element_count(), Some(1));
    assert_eq!(code(q.delete(&[])), EINVAL);
    assert_eq!(code(q.get_next_key(None)), EINVAL);
    assert_eq!(code(q.lookup(&k(0))), EINVAL, "queues have no key");
    let mut out = [0u8; 4];
    // SAFETY: value buffers have 4 bytes.
    unsafe {
        assert_eq!(q.peek_from_prog(out.as_mut_ptr()), 0);
        assert_eq!(out, k(4));
        assert_eq!(q.pop_from_prog(out.as_mut_ptr()), 0);
        assert_eq!(q.pop_from_prog(out.as_mut_ptr()), -2);
        assert_eq!(q.push_from_prog(k(9).as_ptr(), 8), -22);
        assert_eq!(q.push_from_prog(k(9).as_ptr(), BPF_ANY), 0);
        assert!(q.lookup_ptr(std::ptr::null()).is_null());
    }

    let s = Map::new(&MapDef::new(MapType::Stack, 0, 4, 3)).expect("create");
    for i in 1..=3 {
        s.push(&k(i), BPF_ANY).expect("push");
    }
    s.push(&k(4), BPF_EXIST).expect("overwrite oldest");
    let popped: Vec<Vec<u8>> = (0..3).map(|_| s.pop().expect("pop")).collect();
    assert_eq!(popped, vec![k(4).to_vec(), k(3).to_vec(), k(2).to_vec()]);
    assert_eq!(code(s.pop()), ENOENT);
}

fn ring(size: u32) -> Arc<Map> {
    Map::new(&MapDef::new(MapType::RingBuf, 0, 0, size)).expect("create")
}

#[test]
fn ringbuf_records() {
    let r = ring(4096);
    assert_eq!(r.ringbuf_query(BPF_RB_RING_SIZE), 4096);
    assert!(r.ringbuf_reserve(8, 1).is_null(), "reserve flags must be 0");
    let a = r.ringbuf_reserve(10, 0);
    assert!(!a.is_null());
    assert_eq!(a as usize % 8, 0);
    // SAFETY: the header precedes the sample; the sample has 10 bytes.
    unsafe {
        let hdr = a.sub(8).cast::<u32>().read();
        assert_eq!(hdr, 10 | BPF_RINGBUF_BUSY_BIT);
        a.copy_from([1u8; 10].as_ptr(), 10);
    }
    let b = r.ringbuf_reserve(3, 0);
    let c = r.ringbuf_reserve(5, 0);
    assert_eq!(
        r.ringbuf_query(BPF_RB_AVAIL_DATA),
        24 + 16 + 16,
        "records padded to 8"
    );
    // SAFETY: b and c are reserved samples of 3 and 5 bytes.
    unsafe {
        b.copy_from([2u8; 3].as_ptr(), 3);
        ringbuf_submit(b, 0);
        ringbuf_discard(c, BPF_RB_NO_WAKEUP);
    }
    let mut got = Vec::new();
    assert_eq!(
        r.ringbuf_consume(|rec| got.push(rec.to_vec()))
            .expect("consume"),
        0,
        "a is busy"
    );
    // SAFETY: a is reserved and not committed.
    unsafe { ringbuf_submit(a, BPF_RB_FORCE_WAKEUP) };
    assert_eq!(
        r.ringbuf_consume(|rec| got.push(rec.to_vec()))
            .expect("consume"),
        2
    );
    assert_eq!(
        got,
        vec![vec![1u8; 10], vec![2u8; 3]],
        "order kept, discarded skipped"
    );
    assert_eq!(r.ringbuf_query(BPF_RB_AVAIL_DATA), 0);
    assert_eq!(r.ringbuf_query(BPF_RB_CONS_POS), 56);
    assert_eq!(r.ringbuf_query(BPF_RB_PROD_POS), 56);
    assert_eq!(code(r.lookup(&[])), ENOTSUPP);
    assert_eq!(code(r.update(&[], &[], BPF_ANY)), ENOTSUPP);
    assert_eq!(code(r.get_next_key(None)), ENOTSUPP);
}

#[test]
fn ringbuf_full_and_wraparound() {
    let r = ring(4096);
    assert!(
        r.ringbuf_reserve(4096, 0).is_null(),
        "record plus header exceeds the ring"
    );
    // Fill: 4088 + 8 = 4096 = mask + 1 > mask, so the largest record is 4080 bytes.
    assert!(r.ringbuf_reserve(4088, 0).is_null());
    let big = r.ringbuf_reserve(4080, 0);
    assert!(!big.is_null());
    let data = [7u8; 8];
    // SAFETY: data has 8 bytes.
    let (full, bad) = unsafe {
        (
            r.ringbuf_output(data.as_ptr(), 8, 0),
            r.ringbuf_output(data.as_ptr(), 8, 4),
        )
    };
    assert_eq!(full, -11, "ring full: -EAGAIN");
    assert_eq!(bad, -22, "bad flags");
    // SAFETY: big is reserved.
    unsafe { ringbuf_discard(big, 0) };
    assert_eq!(r.ringbuf_consume(|_| {}).expect("consume"), 0);
    // Many laps with varying sizes: every record comes back intact, including ones that
    // straddle the end of the ring.
    let mut next_in = 0u32;
    let mut next_out = 0u32;
    for round in 0..200u32 {
        for _ in 0..(round % 7 + 1) {
            let len = 1 + (next_in * 37 % 300) as usize;
            let rec: Vec<u8> = (0..len).map(|j| (next_in as usize + j) as u8).collect();
            // SAFETY: rec has len bytes.
            if unsafe { r.ringbuf_output(rec.as_ptr(), len as u64, 0) } == 0 {
                next_in += 1;
            }
        }
        r.ringbuf_consume(|rec| {
            let len = 1 + (next_out * 37 % 300) as usize;
            let want: Vec<u8> = (0..len).map(|j| (next_out as usize + j) as u8).collect();
            assert_eq!(rec, &want[..], "record {next_out}");
            next_out += 1;
        })
        .expect("consume");
    }
    assert_eq!(next_in, next_out);
    assert!(
        r.ringbuf_query(BPF_RB_PROD_POS) > 3 * 4096,
        "wrapped several times"
    );
}

#[test]
fn ringbuf_many_producers() {
    let r = ring(1 << 16);
    let producers: Vec<_> = (0..3u8)
        .map(|t| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                let mut sent = 0;
                for i in 0..2000u32 {
                    let rec = [t, (i % 251) as u8, 0xcc, t];
                    // SAFETY: rec has 4 bytes.
                    while unsafe { r.ringbuf_output(rec.as_ptr(), 4, 0) } != 0 {
                        std::thread::yield_now();
                    }
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let mut per_thread = [0u32; 3];
    let mut total = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while total < 6000 {
        assert!(
            std::time::Instant::now() < deadline,
            "producers stalled at {total}"
        );
        total += r
            .ringbuf_poll(std::time::Duration::from_millis(50), |rec| {
                assert_eq!(rec.len(), 4);
                assert_eq!(rec[0], rec[3]);
                assert_eq!(
                    rec[1],
                    (per_thread[rec[0] as usize] % 251) as u8,
                    "per-producer order"
                );
                per_thread[rec[0] as usize] += 1;
            })
            .expect("poll");
    }
    let sent: u32 = producers
        .into_iter()
        .map(|p| p.join().expect("producer"))
        .sum();
    assert_eq!(sent, 6000);
    assert_eq!(per_thread, [2000; 3]);
}

#[test]
fn perf_event_array() {
    let m = Map::with_cpus(&MapDef::new(MapType::PerfEventArray, 4, 4, 0), 4).expect("create");
    assert_eq!(m.def().max_entries, 4, "0 entries = one per CPU");
    assert_eq!(m.perf_event_output(1, b"x"), -2, "no reader at index 1");
    assert_eq!(m.perf_event_output(9, b"x"), -7);
    assert_eq!(m.perf_event_output(1 << 40, b"x"), -22);
    m.update(&k(1), &k(77), BPF_ANY).expect("open channel 1");
    assert_eq!(code(m.update(&k(1), &k(77), BPF_NOEXIST)), EINVAL);
    assert_eq!(code(m.update(&k(4), &k(77), BPF_ANY)), E2BIG);
    assert_eq!(code(m.lookup(&k(1))), ENOTSUPP);
    assert_eq!(m.perf_event_output(1, b"hello"), 0);
    set_current_cpu(1);
    assert_eq!(
        m.perf_event_output_parts(BPF_F_CURRENT_CPU, &[b"ab", b"cd"]),
        0
    );
    set_current_cpu(0);
    let mut got = Vec::new();
    assert_eq!(m.perf_drain(1, |s| got.push(s.to_vec())).expect("drain"), 2);
    assert_eq!(got, vec![b"hello".to_vec(), b"abcd".to_vec()]);
    // A small channel loses samples it has no room for.
    m.perf_open(2, 5, 64).expect("open");
    let mut ok = 0;
    for _ in 0..10 {
        match m.perf_event_output(2, &[0u8; 20]) {
            0 => ok += 1,
            e => assert_eq!(e, -28),
        }
    }
    assert_eq!(ok, 2, "each 20-byte sample takes 32 bytes");
    assert_eq!(m.perf_lost(2), 8);
    let mut n = 0;
    m.perf_drain_all(|i, _| {
        assert_eq!(i, 2);
        n += 1;
    })
    .expect("drain all");
    assert_eq!(n, 2);
    m.delete(&k(2)).expect("close");
    assert_eq!(code(m.delete(&k(2))), ENOENT);
    assert_eq!(m.perf_event_output(2, b"x"), -2);
}

struct Registry {
    maps: Vec<Arc<Map>>,
}

impl IdResolver for Registry {
    fn map(&self, id: u32) -> Option<Arc<Map>> {
        self.maps.iter().find(|m| m.id() == id).cloned()
    }
    fn prog_exists(&self, id: u32) -> bool {
        id == 100 || id == 101
    }
}

#[test]
fn prog_array() {
    let m = Map::new(&MapDef::new(MapType::ProgArray, 4, 4, 4)).expect("create");
    m.update(&k(0), &k(555), BPF_ANY)
        .expect("no resolver: ids accepted as given");
    assert!(m.set_resolver(Arc::new(Registry { maps: Vec::new() })));
    assert_eq!(code(m.update(&k(1), &k(555), BPF_ANY)), EBADF);
    m.update(&k(1), &k(100), BPF_ANY).expect("known program");
    assert_eq!(
        code(m.update(&k(1), &k(101), BPF_NOEXIST)),
        EINVAL,
        "only BPF_ANY"
    );
    assert_eq!(code(m.update(&k(4), &k(100), BPF_ANY)), E2BIG);
    assert_eq!(
        m.lookup(&k(1)).expect("lookup gives the id"),
        k(100).to_vec()
    );
    assert_eq!(m.prog_array_get(1), Some(100));
    assert_eq!(m.prog_array_get(2), None);
    assert_eq!(m.prog_array_get(9), None);
    assert_eq!(code(m.lookup(&k(2))), ENOENT);
    m.delete(&k(1)).expect("delete");
    assert_eq!(code(m.delete(&k(1))), ENOENT);
    assert_eq!(m.prog_array_get(1), None);
    // SAFETY: key 4 bytes, value 4 bytes.
    unsafe {
        assert!(m.lookup_ptr(k(0).as_ptr()).is_null());
        assert_eq!(
            m.update_from_prog(k(0).as_ptr(), k(1).as_ptr(), BPF_ANY),
            -95
        );
    }
}

#[test]
fn array_and_hash_of_maps() {
    let tmpl = MapDef::new(MapType::Array, 4, 8, 2);
    let inner_a = Map::new(&tmpl).expect("inner");
    inner_a.set_id(11);
    inner_a
        .update(&k(1), &5u64.to_ne_bytes(), BPF_ANY)
        .expect("inner update");
    let inner_b = Map::new(&tmpl).expect("inner");
    inner_b.set_id(12);
    let wrong = Map::new(&MapDef::new(MapType::Array, 4, 8, 3)).expect("wrong shape");
    wrong.set_id(13);
    let registry = Arc::new(Registry {
        maps: vec![
            Arc::clone(&inner_a),
            Arc::clone(&inner_b),
            Arc::clone(&wrong),
        ],
    });

    let aom = Map::new(&MapDef::new(MapType::ArrayOfMaps, 4, 4, 2).with_inner(tmpl.clone()))
        .expect("outer");
    assert_eq!(
        code(aom.update(&k(0), &k(11), BPF_ANY)),
        EBADF,
        "no resolver yet"
    );
    aom.set_resolver(registry.clone());
    aom.update(&k(0), &k(11), BPF_ANY)
        .expect("store inner by id");
    assert_eq!(
        code(aom.update(&k(1), &k(13), BPF_ANY)),
        EINVAL,
        "template mismatch"
    );
    assert_eq!(code(aom.update(&k(1), &k(99), BPF_ANY)), EBADF);
    assert_eq!(code(aom.update(&k(1), &k(12), BPF_NOEXIST)), EINVAL);
    assert_eq!(
        aom.lookup(&k(0)).expect("lookup gives the id"),
        k(11).to_vec()
    );
    assert_eq!(code(aom.lookup(&k(1))), ENOENT);
    // SAFETY: keys are 4 bytes; handles come from the outer map, which keeps them alive.
    unsafe {
        let h = aom.lookup_ptr(k(0).as_ptr());
        assert_eq!(h as u64, inner_a.handle());
        let inner = Map::from_handle(h as u64);
        assert_eq!(inner.lookup_ptr(k(1).as_ptr()).cast::<u64>().read(), 5);
        assert!(aom.lookup_ptr(k(1).as_ptr()).is_null());
        assert!(aom.lookup_ptr(k(7).as_ptr()).is_null());
    }
    aom.delete(&k(0)).expect("delete");
    assert_eq!(code(aom.delete(&k(0))), ENOENT);

    let hom = Map::new(&MapDef::new(MapType::HashOfMaps, 8, 4, 4).with_inner(tmpl)).expect("outer");
    hom.set_resolver(registry);
    let key = 0xdead_beefu64.to_ne_bytes();
    hom.update(&key, &k(12), BPF_NOEXIST).expect("insert");
    assert_eq!(code(hom.update(&key, &k(11), BPF_NOEXIST)), EEXIST);
    // A program looks the inner map up, then user space replaces and drops it: the
    // handle the program holds stays usable.
    // SAFETY: key is 8 bytes.
    let h = unsafe { hom.lookup_ptr(key.as_ptr()) } as u64;
    assert_eq!(h, inner_b.handle());
    hom.set_inner_map(&key, &inner_a, BPF_EXIST)
        .expect("replace");
    drop(inner_b);
    // SAFETY: the outer map keeps replaced inner maps alive.
    let old = unsafe { Map::from_handle(h) };
    assert_eq!(old.id(), 12);
    assert_eq!(hom.lookup(&key).expect("lookup"), k(11).to_vec());
    assert_eq!(hom.keys(), vec![key.to_vec()]);
    hom.delete(&key).expect("delete");
    // SAFETY: key is 8 bytes.
    assert!(unsafe { hom.lookup_ptr(key.as_ptr()) }.is_null());
    // SAFETY: key 8 bytes.
    assert_eq!(unsafe { hom.delete_from_prog(key.as_ptr()) }, -95);
}

#[test]
fn ringbuf_poll_wakes_on_submit() {
    use std::time::{Duration, Instant};
    let r = ring(4096);
    let start = Instant::now();
    assert_eq!(
        r.ringbuf_poll(Duration::from_millis(30), |_| {})
            .expect("poll"),
        0
    );
    assert!(
        start.elapsed() >= Duration::from_millis(30),
        "empty poll waits for the timeout"
    );
    let producer = {
        let r = Arc::clone(&r);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let s = r.ringbuf_reserve(4, 0);
            assert!(!s.is_null());
            // SAFETY: s is a reserved 4-byte sample.
            unsafe {
                s.copy_from(k(9).as_ptr(), 4);
                ringbuf_submit(s, 0);
            }
        })
    };
    let start = Instant::now();
    let mut got = Vec::new();
    let n = r
        .ringbuf_poll(Duration::from_secs(20), |rec| got.push(rec.to_vec()))
        .expect("poll");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "woken by the submit, not the timeout"
    );
    assert_eq!((n, got), (1, vec![k(9).to_vec()]));
    producer.join().expect("producer");
    // BPF_RB_NO_WAKEUP: nobody is woken, but the record is there at the timeout.
    let s = r.ringbuf_reserve(4, 0);
    // SAFETY: s is a reserved 4-byte sample.
    unsafe { ringbuf_submit(s, BPF_RB_NO_WAKEUP) };
    assert_eq!(
        r.ringbuf_poll(Duration::from_millis(1), |_| {})
            .expect("poll"),
        1
    );
}

#[test]
fn wrong_key_and_value_sizes_are_typed_errors_for_every_type() {
    // The kernel reads exactly key_size/value_size bytes from user pointers, so a size
    // mismatch cannot happen there; here it is a typed EINVAL, never a panic or a
    // partial operation. Ring buffers and perf/prog arrays refuse first for other reasons
    // (no user-space elements, fd values), which the kernel oracle tests compare.
    let inner = MapDef::new(MapType::Array, 4, 8, 1);
    let defs = [
        MapDef::new(MapType::Hash, 4, 8, 4),
        MapDef::new(MapType::Array, 4, 8, 4),
        MapDef::new(MapType::PercpuHash, 4, 8, 4),
        MapDef::new(MapType::PercpuArray, 4, 8, 4),
        MapDef::new(MapType::LruHash, 4, 8, 4),
        MapDef::new(MapType::LruPercpuHash, 4, 8, 4),
        MapDef::new(MapType::LpmTrie, 8, 4, 4).with_flags(BPF_F_NO_PREALLOC),
        MapDef::new(MapType::ArrayOfMaps, 4, 4, 2).with_inner(inner.clone()),
        MapDef::new(MapType::HashOfMaps, 4, 4, 2).with_inner(inner),
    ];
    for def in &defs {
        let m = Map::new(def).expect("create");
        let ks = def.key_size as usize;
        let vs = m.user_value_size();
        let (good_k, long_k, short_k) = (vec![0u8; ks], vec![0u8; ks + 1], vec![0u8; ks - 1]);
        let (long_v, short_v) = (vec![0u8; vs + 1], vec![0u8; vs - 1]);
        let t = def.map_type;
        for bad in [&long_k, &short_k] {
            let e = m.lookup(bad).expect_err("lookup");
            assert!(
                matches!(e, MapError::SizeMismatch { what: "key", .. }),
                "{t:?} {e}"
            );
            assert_eq!(e.errno(), EINVAL, "{t:?}");
            assert_eq!(code(m.delete(bad)), EINVAL, "{t:?} delete");
            assert_eq!(code(m.get_next_key(Some(bad))), EINVAL, "{t:?} next");
            assert_eq!(
                code(m.update(bad, &vec![0u8; vs], 0)),
                EINVAL,
                "{t:?} update"
            );
        }
        for bad in [&long_v, &short_v] {
            let e = m.update(&good_k, bad, 0).expect_err("update");
            assert!(
                matches!(e, MapError::SizeMismatch { what: "value", .. }),
                "{t:?} {e}"
            );
        }
        // Nothing was inserted by the failed calls.
        if !matches!(
            t,
            MapType::Array | MapType::PercpuArray | MapType::ArrayOfMaps
        ) {
            assert_eq!(code(m.get_next_key(None)), ENOENT, "{t:?} stays empty");
        }
    }
    // Queues and stacks have no key: any key bytes are refused, and values are sized.
    for t in [MapType::Queue, MapType::Stack] {
        let m = Map::new(&MapDef::new(t, 0, 8, 2)).expect("create");
        assert_eq!(code(m.update(&[0], &[0u8; 8], 0)), EINVAL, "{t:?} key");
        assert_eq!(code(m.update(&[], &[0u8; 7], 0)), EINVAL, "{t:?} value");
        assert_eq!(code(m.push(&[0u8; 9], 0)), EINVAL, "{t:?} push");
        assert_eq!(code(m.pop()), ENOENT, "{t:?} nothing pushed");
    }
}
