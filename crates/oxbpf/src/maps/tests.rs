//! Tests for arrays, hash maps (plain, per-CPU, LRU), global data and concurrency.

use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

fn v(i: u64) -> [u8; 8] {
    i.to_ne_bytes()
}

fn read_u64(p: *const u8) -> u64 {
    assert!(!p.is_null());
    // SAFETY: tests only pass pointers to 8-byte map values.
    unsafe { p.cast::<u64>().read() }
}

/// Small deterministic PRNG so tests are repeatable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn errors_carry_kernel_errnos() {
    assert_eq!(MapError::NotFound.errno(), 2);
    assert_eq!(MapError::Exists.helper_ret(), -17);
    assert_eq!(MapError::Full { max_entries: 1 }.helper_ret(), -7);
    assert_eq!(MapError::NoSpace { max_entries: 1 }.errno(), 28);
    assert_eq!(MapError::AlreadyFrozen.errno(), 1);
}

#[test]
fn array_semantics() {
    let m = Map::new(&MapDef::new(MapType::Array, 4, 12, 4)).expect("create");
    assert_eq!(
        m.lookup(&k(0)).expect("lookup"),
        vec![0u8; 12],
        "arrays start zeroed"
    );
    let val = [7u8; 12];
    m.update(&k(3), &val, BPF_ANY).expect("update");
    assert_eq!(m.lookup(&k(3)).expect("lookup"), val.to_vec());
    m.update(&k(3), &val, BPF_EXIST)
        .expect("every element exists");
    assert_eq!(code(m.update(&k(3), &val, BPF_NOEXIST)), EEXIST);
    assert_eq!(code(m.update(&k(4), &val, BPF_ANY)), E2BIG);
    assert_eq!(code(m.update(&k(0), &val, 3)), EINVAL);
    assert_eq!(
        code(m.update(&k(0), &val, BPF_F_LOCK)),
        EINVAL,
        "no bpf_spin_lock"
    );
    assert_eq!(code(m.lookup(&k(4))), ENOENT);
    assert_eq!(code(m.delete(&k(0))), EINVAL);
    assert_eq!(
        code(m.update(&k(0), &[0u8; 8], BPF_ANY)),
        EINVAL,
        "value size"
    );
    assert_eq!(code(m.lookup(&[0u8; 8])), EINVAL, "key size");
    // get_next_key: None and out-of-range keys restart at 0; ENOENT after the last.
    assert_eq!(m.get_next_key(None).expect("first"), k(0).to_vec());
    assert_eq!(m.get_next_key(Some(&k(1))).expect("next"), k(2).to_vec());
    assert_eq!(
        m.get_next_key(Some(&k(99))).expect("restart"),
        k(0).to_vec()
    );
    assert_eq!(code(m.get_next_key(Some(&k(3)))), ENOENT);
    assert_eq!(m.keys().len(), 4);
    // Program side: real, 8-byte aligned pointers into one contiguous allocation.
    // SAFETY: keys are 4-byte buffers.
    let (p0, p1, out) = unsafe {
        (
            m.lookup_ptr(k(0).as_ptr()),
            m.lookup_ptr(k(1).as_ptr()),
            m.lookup_ptr(k(4).as_ptr()),
        )
    };
    assert!(out.is_null());
    assert_eq!(p0 as usize % 8, 0);
    assert_eq!(p1 as usize - p0 as usize, 16, "values padded to 8 bytes");
    // SAFETY: p0 points at a 12-byte value.
    unsafe { p0.write(0xaa) };
    assert_eq!(m.lookup(&k(0)).expect("lookup")[0], 0xaa);
    let regions = m.value_regions();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0].start, p0 as usize);
    assert!(regions[0].writable);
    // Program-side update and error codes.
    let nv = [1u8; 12];
    // SAFETY: key 4 bytes, value 12 bytes.
    unsafe {
        assert_eq!(m.update_from_prog(k(2).as_ptr(), nv.as_ptr(), BPF_ANY), 0);
        assert_eq!(m.update_from_prog(k(9).as_ptr(), nv.as_ptr(), BPF_ANY), -7);
        assert_eq!(
            m.update_from_prog(k(1).as_ptr(), nv.as_ptr(), BPF_NOEXIST),
            -17
        );
        assert_eq!(m.delete_from_prog(k(1).as_ptr()), -22);
    }
    assert_eq!(m.lookup(&k(2)).expect("lookup"), nv.to_vec());
}

#[test]
fn array_values_support_cross_thread_atomics() {
    let m = Map::new(&MapDef::new(MapType::Array, 4, 8, 1)).expect("create");
    // SAFETY: key is 4 bytes.
    let p = unsafe { m.lookup_ptr(k(0).as_ptr()) } as usize;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                // SAFETY: the value is 8 bytes, 8-aligned, alive while `m` is (joined below).
                let a = unsafe { &*(p as *const AtomicU64) };
                for _ in 0..10_000 {
                    a.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("join");
    }
    assert_eq!(m.lookup(&k(0)).expect("lookup"), v(40_000).to_vec());
}

#[test]
fn percpu_array_layout() {
    let m = Map::with_cpus(&MapDef::new(MapType::PercpuArray, 4, 4, 2), 3).expect("create");
    assert_eq!(m.user_value_size(), 24, "3 CPUs x round_up(4, 8)");
    let mut all = vec![0u8; 24];
    for cpu in 0..3 {
        all[cpu * 8..cpu * 8 + 4].copy_from_slice(&(10 + cpu as u32).to_ne_bytes());
    }
    m.update(&k(1), &all, BPF_ANY).expect("update");
    assert_eq!(m.lookup(&k(1)).expect("lookup"), all);
    set_current_cpu(2);
    // SAFETY: key 4 bytes; values 4 bytes.
    unsafe {
        let p = m.lookup_ptr(k(1).as_ptr());
        assert_eq!(p.cast::<u32>().read(), 12);
        assert_eq!(
            m.update_from_prog(k(1).as_ptr(), 99u32.to_ne_bytes().as_ptr(), BPF_ANY),
            0
        );
        assert_eq!(
            m.lookup_percpu_ptr(k(1).as_ptr(), 0).cast::<u32>().read(),
            10
        );
        assert!(m.lookup_percpu_ptr(k(1).as_ptr(), 3).is_null());
    }
    set_current_cpu(0);
    let got = m.lookup(&k(1)).expect("lookup");
    assert_eq!(
        &got[16..20],
        &99u32.to_ne_bytes(),
        "only CPU 2's copy changed"
    );
    assert_eq!(&got[0..4], &10u32.to_ne_bytes());
}

#[test]
fn global_data_maps() {
    let rodata = Map::new(&MapDef::global_data(".rodata", 16, true)).expect("create");
    rodata
        .update(&k(0), &[5u8; 16], BPF_ANY)
        .expect("initial value");
    rodata.freeze().expect("freeze");
    assert_eq!(
        code(rodata.freeze()),
        EPERM,
        "the kernel's answer to a second freeze"
    );
    assert_eq!(code(rodata.update(&k(0), &[6u8; 16], BPF_ANY)), EPERM);
    assert_eq!(rodata.lookup(&k(0)).expect("still readable"), vec![5u8; 16]);
    // SAFETY: key 4 bytes, value 16 bytes.
    unsafe {
        assert_eq!(
            rodata.update_from_prog(k(0).as_ptr(), [0u8; 16].as_ptr(), BPF_ANY),
            -1
        );
        assert!(!rodata.lookup_ptr(k(0).as_ptr()).is_null());
    }
    assert!(rodata.value_regions().iter().all(|r| !r.writable));
    let addr = rodata.direct_value_addr(4).expect("direct value");
    // SAFETY: key 4 bytes.
    assert_eq!(addr, unsafe { rodata.lookup_ptr(k(0).as_ptr()) } as u64 + 4);
    assert_eq!(code(rodata.direct_value_addr(16)), EINVAL);
    let multi = Map::new(&MapDef::new(MapType::Array, 4, 8, 2)).expect("create");
    assert_eq!(code(multi.direct_value_addr(0)), ENOTSUPP);

    let bss = Map::new(&MapDef::global_data(".bss", 8, false)).expect("create");
    assert!(bss.value_regions().iter().all(|r| r.writable));
    // SAFETY: key 4 bytes, value 8 bytes.
    let r = unsafe { bss.update_from_prog(k(0).as_ptr(), v(3).as_ptr(), BPF_ANY) };
    assert_eq!(r, 0);

    let ro =
        Map::new(&MapDef::new(MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY)).expect("create");
    assert_eq!(code(ro.update(&k(0), &v(1), BPF_ANY)), EPERM);
    assert_eq!(code(ro.freeze()), EPERM);
    let wo =
        Map::new(&MapDef::new(MapType::Array, 4, 8, 1).with_flags(BPF_F_WRONLY)).expect("create");
    assert_eq!(code(wo.lookup(&k(0))), EPERM);
}

#[test]
fn hash_semantics() {
    let m = Map::new(&MapDef::new(MapType::Hash, 4, 8, 4)).expect("create");
    assert_eq!(code(m.lookup(&k(1))), ENOENT);
    assert_eq!(code(m.update(&k(1), &v(1), BPF_EXIST)), ENOENT);
    m.update(&k(1), &v(10), BPF_NOEXIST).expect("insert");
    assert_eq!(code(m.update(&k(1), &v(11), BPF_NOEXIST)), EEXIST);
    m.update(&k(1), &v(11), BPF_EXIST).expect("replace");
    assert_eq!(m.lookup(&k(1)).expect("lookup"), v(11).to_vec());
    assert_eq!(code(m.update(&k(1), &v(1), 3)), EINVAL);
    assert_eq!(code(m.update(&k(1), &v(1), 8)), EINVAL);
    assert_eq!(code(m.update(&k(1), &v(1), BPF_F_LOCK)), EINVAL);
    for i in 2..=4 {
        m.update(&k(i), &v(u64::from(i) * 10), BPF_ANY)
            .expect("fill");
    }
    assert_eq!(code(m.update(&k(5), &v(50), BPF_ANY)), E2BIG, "full");
    m.update(&k(4), &v(44), BPF_ANY)
        .expect("replacing works when full");
    assert_eq!(m.lookup(&k(4)).expect("lookup"), v(44).to_vec());
    assert_eq!(m.element_count(), Some(4));
    m.delete(&k(4)).expect("delete");
    assert_eq!(code(m.delete(&k(4))), ENOENT);
    m.update(&k(5), &v(50), BPF_ANY).expect("room again");
    // Program side.
    // SAFETY: keys 4 bytes, values 8 bytes.
    unsafe {
        let p = m.lookup_ptr(k(5).as_ptr());
        assert_eq!(read_u64(p), 50);
        p.cast::<u64>().write(51);
        assert!(m.lookup_ptr(k(9).as_ptr()).is_null());
        assert_eq!(
            m.update_from_prog(k(9).as_ptr(), v(9).as_ptr(), BPF_ANY),
            -7
        );
        assert_eq!(
            m.update_from_prog(k(5).as_ptr(), v(9).as_ptr(), BPF_NOEXIST),
            -17
        );
        assert_eq!(m.delete_from_prog(k(9).as_ptr()), -2);
        assert_eq!(m.delete_from_prog(k(5).as_ptr()), 0);
        // The pointer stays readable after the delete (memory is never freed early).
        assert_eq!(read_u64(p), 51);
        assert_eq!(m.update_from_prog(k(9).as_ptr(), v(9).as_ptr(), BPF_ANY), 0);
    }
    assert_eq!(m.lookup(&k(9)).expect("lookup"), v(9).to_vec());
    let mut out = m.lookup_and_delete(&k(9)).expect("lookup_and_delete");
    assert_eq!(out, v(9).to_vec());
    out = m.lookup(&k(1)).expect("other keys intact");
    assert_eq!(out, v(11).to_vec());
}

#[test]
fn hash_get_next_key_walks_everything_and_restarts() {
    let m = Map::new(&MapDef::new(MapType::Hash, 8, 4, 64)).expect("create");
    assert_eq!(code(m.get_next_key(None)), ENOENT, "empty map");
    for i in 0..50u64 {
        m.update(&i.to_ne_bytes(), &[1, 2, 3, 4], BPF_ANY)
            .expect("insert");
    }
    let mut keys: Vec<u64> = m
        .keys()
        .iter()
        .map(|b| u64::from_ne_bytes(b[..].try_into().expect("8 bytes")))
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, (0..50).collect::<Vec<_>>());
    // A key not in the map restarts the walk at the first key.
    let first = m.get_next_key(None).expect("first");
    assert_eq!(
        m.get_next_key(Some(&999u64.to_ne_bytes()))
            .expect("restart"),
        first
    );
    // Deleting while iterating, as `bpftool map` users do, still visits every key.
    let mut cur = m.get_next_key(None).expect("first");
    let mut seen = 1;
    loop {
        let next = m.get_next_key(Some(&cur));
        m.delete(&cur).expect("delete current");
        match next {
            Ok(n) => {
                cur = n;
                seen += 1;
            }
            Err(e) => {
                assert_eq!(e.errno(), ENOENT);
                break;
            }
        }
    }
    assert_eq!(seen, 50);
    assert_eq!(m.element_count(), Some(0));
}

#[test]
fn hash_matches_a_model_under_random_operations() {
    for flags in [0, BPF_F_NO_PREALLOC] {
        let m = Map::new(&MapDef::new(MapType::Hash, 6, 8, 200).with_flags(flags)).expect("create");
        let mut model: StdHashMap<[u8; 6], u64> = StdHashMap::new();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for step in 0..20_000u64 {
            let r = rng.next();
            let mut key = [0u8; 6];
            key[..2].copy_from_slice(&((r % 300) as u16).to_ne_bytes());
            key[5] = 0x5a;
            let op_flags = (r >> 20) % 3;
            match (r >> 16) % 4 {
                0 | 1 => {
                    let res = m.update(&key, &v(step), op_flags);
                    let exists = model.contains_key(&key);
                    let expect = match (exists, op_flags) {
                        (true, BPF_NOEXIST) => Err(EEXIST),
                        (false, BPF_EXIST) => Err(ENOENT),
                        (false, _) if model.len() == 200 => Err(E2BIG),
                        _ => Ok(()),
                    };
                    assert_eq!(res.map_err(|e| e.errno()), expect, "update at step {step}");
                    if expect.is_ok() {
                        model.insert(key, step);
                    }
                }
                2 => {
                    let res = m.delete(&key).map_err(|e| e.errno());
                    let expect = model.remove(&key).map(|_| ()).ok_or(ENOENT);
                    assert_eq!(res, expect, "delete at step {step}");
                }
                _ => {
                    let res = m.lookup(&key).map_err(|e| e.errno());
                    let expect = model.get(&key).map(|x| v(*x).to_vec()).ok_or(ENOENT);
                    assert_eq!(res, expect, "lookup at step {step}");
                }
            }
        }
        assert_eq!(m.keys().len(), model.len());
    }
}

#[test]
fn percpu_hash() {
    let m = Map::with_cpus(&MapDef::new(MapType::PercpuHash, 4, 8, 8), 2).expect("create");
    assert_eq!(m.user_value_size(), 16);
    let mut all = [0u8; 16];
    all[..8].copy_from_slice(&v(1));
    all[8..].copy_from_slice(&v(2));
    m.update(&k(1), &all, BPF_ANY).expect("update");
    assert_eq!(
        code(m.update(&k(1), &v(1), BPF_ANY)),
        EINVAL,
        "needs every CPU's value"
    );
    set_current_cpu(1);
    // SAFETY: key 4 bytes, value 8 bytes.
    unsafe {
        assert_eq!(read_u64(m.lookup_ptr(k(1).as_ptr())), 2);
        assert_eq!(
            m.update_from_prog(k(1).as_ptr(), v(20).as_ptr(), BPF_EXIST),
            0
        );
        assert_eq!(m.update_from_prog(k(2).as_ptr(), v(7).as_ptr(), BPF_ANY), 0);
        assert_eq!(read_u64(m.lookup_percpu_ptr(k(1).as_ptr(), 0)), 1);
    }
    set_current_cpu(0);
    let got = m.lookup(&k(1)).expect("lookup");
    assert_eq!(got[..8], v(1));
    assert_eq!(got[8..], v(20));
    let fresh = m.lookup(&k(2)).expect("lookup");
    assert_eq!(
        fresh[..8],
        v(0),
        "other CPUs' copies zeroed for a program insert"
    );
    assert_eq!(fresh[8..], v(7));
}

#[test]
fn lru_evicts_unreferenced_elements() {
    let m = Map::new(&MapDef::new(MapType::LruHash, 4, 8, 64)).expect("create");
    for i in 0..64 {
        m.update(&k(i), &v(u64::from(i)), BPF_NOEXIST)
            .expect("fill");
    }
    // Programs touch the first half.
    for i in 0..32 {
        // SAFETY: key 4 bytes.
        assert!(!unsafe { m.lookup_ptr(k(i).as_ptr()) }.is_null());
    }
    for i in 100..116 {
        m.update(&k(i), &v(u64::from(i)), BPF_ANY)
            .expect("full LRU evicts instead of E2BIG");
    }
    assert_eq!(m.element_count(), Some(64));
    for i in 0..32 {
        assert!(m.lookup(&k(i)).is_ok(), "recently used key {i} was evicted");
    }
    for i in 100..116 {
        assert_eq!(m.lookup(&k(i)).expect("new key"), v(u64::from(i)).to_vec());
    }
    let evicted = (32..64).filter(|&i| m.lookup(&k(i)).is_err()).count();
    assert_eq!(evicted, 16);
    assert_eq!(code(m.update(&k(500), &v(1), BPF_EXIST)), ENOENT);
    assert_eq!(code(m.update(&k(100), &v(1), BPF_NOEXIST)), EEXIST);
    assert_eq!(
        m.element_count(),
        Some(64),
        "failed updates return their element"
    );

    let p = Map::with_cpus(&MapDef::new(MapType::LruPercpuHash, 4, 4, 2), 2).expect("create");
    for i in 0..10 {
        p.update(&k(i), &[i as u8; 16], BPF_ANY)
            .expect("lru percpu");
    }
    assert_eq!(p.element_count(), Some(2));
    assert_eq!(p.lookup(&k(9)).expect("newest"), vec![9u8; 16]);
}

#[test]
fn concurrent_lookups_while_another_thread_churns() {
    // Stable keys are never deleted: lookups must always find them, whatever element
    // reuse happens around them. Churned keys may or may not be found; when found, the
    // pointer must be dereferenceable and hold some key's value.
    const STABLE: u32 = 64;
    const CHURN: u32 = 512;
    let m = Map::new(&MapDef::new(MapType::Hash, 4, 16, STABLE + 128)).expect("create");
    for i in 0..STABLE {
        let mut val = [0u8; 16];
        val[..8].copy_from_slice(&v(u64::from(i)));
        m.update(&k(i), &val, BPF_NOEXIST).expect("stable");
    }
    // Readers run until they did their share of lookups AND the writer did enough
    // operations, so the threads overlap however the scheduler runs them.
    const MIN_WRITES: u64 = 50_000;
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let (m, stop, writes) = (Arc::clone(&m), Arc::clone(&stop), Arc::clone(&writes));
        std::thread::spawn(move || {
            let mut rng = Rng(42);
            while !stop.load(Ordering::Relaxed) {
                let key = STABLE + (rng.next() % u64::from(CHURN)) as u32;
                let mut val = [0u8; 16];
                val[..8].copy_from_slice(&v(u64::from(key)));
                if rng.next() % 2 == 0 {
                    let _ = m.update(&k(key), &val, BPF_ANY);
                } else {
                    let _ = m.delete(&k(key));
                }
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let readers: Vec<_> = (0..2)
        .map(|t| {
            let (m, writes) = (Arc::clone(&m), Arc::clone(&writes));
            std::thread::spawn(move || {
                let mut rng = Rng(7 + t);
                let mut found = 0u64;
                let mut n = 0u64;
                while n < 300_000 || writes.load(Ordering::Relaxed) < MIN_WRITES {
                    assert!(std::time::Instant::now() < deadline, "writer never ran");
                    n += 1;
                    let key = (rng.next() % u64::from(STABLE + CHURN)) as u32;
                    // SAFETY: key 4 bytes.
                    let p = unsafe { m.lookup_ptr(k(key).as_ptr()) };
                    if key < STABLE {
                        assert_eq!(read_u64(p), u64::from(key), "stable key {key} lost");
                    } else if !p.is_null() {
                        let got = read_u64(p);
                        assert!(got >= u64::from(STABLE) && got < u64::from(STABLE + CHURN));
                        found += 1;
                    }
                }
                found
            })
        })
        .collect();
    let found: u64 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    assert!(found > 0, "churned keys were seen");
    assert!(writes.load(Ordering::Relaxed) >= MIN_WRITES);
}

#[test]
fn concurrent_writers_leave_exactly_their_updates() {
    // Two writers on disjoint key sets sharing buckets, the free list and (for LRU) the
    // clock; a reader dereferences whatever it finds. Afterwards the map must hold exactly
    // what each writer's own model says.
    for map_type in [MapType::Hash, MapType::LruHash] {
        let m = Map::new(&MapDef::new(map_type, 4, 8, 4096)).expect("create");
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2u32)
            .map(|w| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    let mut model = StdHashMap::new();
                    let mut rng = Rng(99 + u64::from(w));
                    for step in 0..20_000u64 {
                        let key = ((rng.next() % 1000) as u32) * 2 + w;
                        if rng.next() % 3 == 0 {
                            let r = m.delete(&k(key)).map_err(|e| e.errno());
                            assert_eq!(r, model.remove(&key).map(|_| ()).ok_or(ENOENT));
                        } else {
                            let val = (u64::from(key) << 32) | step;
                            m.update(&k(key), &v(val), BPF_ANY).expect("update");
                            model.insert(key, val);
                        }
                    }
                    model
                })
            })
            .collect();
        let reader = {
            let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rng = Rng(5);
                while !stop.load(Ordering::Relaxed) {
                    let key = (rng.next() % 2000) as u32;
                    // SAFETY: key 4 bytes.
                    let p = unsafe { m.lookup_ptr(k(key).as_ptr()) };
                    if !p.is_null() {
                        assert!(read_u64(p) >> 32 < 2000, "value of some key");
                    }
                }
            })
        };
        let models: Vec<_> = writers
            .into_iter()
            .map(|w| w.join().expect("writer"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        reader.join().expect("reader");
        let mut expected: StdHashMap<u32, u64> = StdHashMap::new();
        for model in models {
            expected.extend(model);
        }
        assert_eq!(m.element_count(), Some(expected.len()), "{map_type}");
        for (key, val) in &expected {
            assert_eq!(
                m.lookup(&k(*key)).expect("present"),
                v(*val).to_vec(),
                "{map_type}"
            );
        }
    }
}

#[test]
fn lru_under_concurrent_eviction() {
    let m = Map::new(&MapDef::new(MapType::LruHash, 4, 8, 128)).expect("create");
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                let mut rng = Rng(1000 + t);
                for _ in 0..20_000 {
                    let key = (rng.next() % 4096) as u32;
                    if rng.next() % 2 == 0 {
                        // Always succeeds: a full LRU map evicts.
                        m.update(&k(key), &v(u64::from(key)), BPF_ANY)
                            .expect("lru update");
                    } else {
                        // SAFETY: key 4 bytes.
                        let p = unsafe { m.lookup_ptr(k(key).as_ptr()) };
                        if !p.is_null() {
                            assert!(read_u64(p) < 4096);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    // Two racing inserts of one key may each evict an element, and the loser's replaced
    // element then waits on the free list (the kernel's LRU behaves alike), so the map may
    // end a little short of full, but no element may leak: sequential inserts refill it.
    let n = m.element_count().expect("count");
    assert!((120..=128).contains(&n), "{n} elements");
    for key in m.keys() {
        let idx = u32::from_ne_bytes(key[..].try_into().expect("4 bytes"));
        assert_eq!(
            m.lookup(&key).expect("listed key"),
            v(u64::from(idx)).to_vec()
        );
    }
    for key in 10_000..10_200u32 {
        m.update(&k(key), &v(u64::from(key)), BPF_NOEXIST)
            .expect("insert");
    }
    assert_eq!(m.element_count(), Some(128));
    for key in m.keys() {
        let idx = u32::from_ne_bytes(key[..].try_into().expect("4 bytes"));
        assert_eq!(
            m.lookup(&key).expect("listed key"),
            v(u64::from(idx)).to_vec()
        );
    }
}

#[test]
fn for_each_map_elem() {
    let a = Map::new(&MapDef::new(MapType::Array, 4, 8, 5)).expect("create");
    for i in 0..5 {
        a.update(&k(i), &v(u64::from(i) * 10), BPF_ANY)
            .expect("update");
    }
    let mut sum = 0;
    let n = a.for_each_elem(0, |key, val| {
        // SAFETY: key is a u32, val an 8-byte value, both valid during the callback.
        unsafe {
            sum += read_u64(val) + u64::from(key.cast::<u32>().read());
            val.cast::<u64>().write(1);
        }
        0
    });
    assert_eq!((n, sum), (5, 100 + 10));
    assert_eq!(
        a.lookup(&k(4)).expect("lookup"),
        v(1).to_vec(),
        "callbacks write values"
    );
    let mut seen = 0;
    assert_eq!(
        a.for_each_elem(0, |_, _| {
            seen += 1;
            u64::from(seen == 3)
        }),
        3
    );
    assert_eq!(a.for_each_elem(1, |_, _| 0), -22);

    let h = Map::new(&MapDef::new(MapType::Hash, 4, 8, 64)).expect("create");
    for i in 0..40 {
        h.update(&k(i), &v(u64::from(i)), BPF_ANY).expect("update");
    }
    let key_regions = h.key_regions();
    let mut keys = Vec::new();
    // The callback deletes what it visits (no lock is held, so this cannot deadlock).
    let n = h.for_each_elem(0, |key, val| {
        assert!(key_regions
            .iter()
            .any(|r| (r.start..r.start + r.len).contains(&(key as usize))));
        // SAFETY: key has 4 bytes, val 8, valid during the callback.
        let kk = unsafe { key.cast::<u32>().read() };
        assert_eq!(read_u64(val), u64::from(kk));
        keys.push(kk);
        // SAFETY: key has key_size bytes.
        assert_eq!(unsafe { h.delete_from_prog(key) }, 0);
        0
    });
    keys.sort_unstable();
    assert_eq!(n, 40);
    assert_eq!(keys, (0..40).collect::<Vec<_>>());
    assert_eq!(h.element_count(), Some(0));

    let pc = Map::with_cpus(&MapDef::new(MapType::PercpuArray, 4, 8, 1), 2).expect("create");
    let mut all = [0u8; 16];
    all[8..].copy_from_slice(&v(7));
    pc.update(&k(0), &all, BPF_ANY).expect("update");
    set_current_cpu(1);
    let mut got = 0;
    pc.for_each_elem(0, |_, val| {
        got = read_u64(val);
        0
    });
    set_current_cpu(0);
    assert_eq!(got, 7, "current CPU's copy");

    let q = Map::new(&MapDef::new(MapType::Queue, 0, 4, 2)).expect("create");
    assert_eq!(q.for_each_elem(0, |_, _| 0), -22);
}

#[test]
fn spin_locks_in_values() {
    assert_eq!(
        code(Map::new(
            &MapDef::new(MapType::PercpuArray, 4, 8, 1).with_spin_lock(0)
        )),
        EOPNOTSUPP
    );
    assert_eq!(
        code(Map::new(
            &MapDef::new(MapType::Array, 4, 8, 1).with_spin_lock(2)
        )),
        EINVAL
    );
    assert_eq!(
        code(Map::new(
            &MapDef::new(MapType::Hash, 4, 8, 1).with_spin_lock(8)
        )),
        EINVAL
    );
    let plain = Map::new(&MapDef::new(MapType::Array, 4, 8, 1)).expect("create");
    assert_eq!(code(plain.lookup_flags(&k(0), BPF_F_LOCK)), EINVAL);

    // Value: { struct bpf_spin_lock lock; u32 pad; u64 counter; }
    let a = Map::new(&MapDef::new(MapType::Array, 4, 16, 1).with_spin_lock(0)).expect("create");
    assert_eq!(code(a.lookup_flags(&k(0), 8)), EINVAL);
    // SAFETY: key 4 bytes.
    let p = unsafe { a.lookup_ptr(k(0).as_ptr()) } as usize;
    let threads: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..5_000 {
                    let base = p as *mut u8;
                    // SAFETY: the value lives as long as `a` (joined below); the counter is
                    // only touched under the lock, as a program would.
                    unsafe {
                        spin_lock(base);
                        let c = base.add(8).cast::<u64>();
                        c.write(c.read() + 1);
                        spin_unlock(base);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let got = a.lookup_flags(&k(0), BPF_F_LOCK).expect("locked lookup");
    assert_eq!(got[8..], v(15_000));
    // While a program holds the lock: lookups show the lock word as 0, a plain update
    // keeps it held.
    // SAFETY: p is the live value.
    unsafe { spin_lock(p as *mut u8) };
    assert_eq!(a.lookup(&k(0)).expect("lookup")[..4], [0, 0, 0, 0]);
    a.update(&k(0), &[0xff; 16], BPF_ANY).expect("plain update");
    // SAFETY: p is the live value.
    unsafe {
        assert_eq!(
            (p as *const u32).read(),
            1,
            "lock word untouched by the update"
        );
        spin_unlock(p as *mut u8);
    }
    a.update(&k(0), &[0xee; 16], BPF_F_LOCK)
        .expect("locked update");
    assert_eq!(a.lookup(&k(0)).expect("lookup")[4..], [0xee; 12]);

    let h = Map::new(&MapDef::new(MapType::Hash, 4, 16, 4).with_spin_lock(4)).expect("create");
    h.update(&k(1), &[1; 16], BPF_F_LOCK)
        .expect("insert with F_LOCK");
    // SAFETY: key 4 bytes.
    let before = unsafe { h.lookup_ptr(k(1).as_ptr()) };
    h.update(&k(1), &[2; 16], BPF_F_LOCK | BPF_EXIST)
        .expect("in-place update");
    // SAFETY: key 4 bytes.
    let after = unsafe { h.lookup_ptr(k(1).as_ptr()) };
    assert_eq!(after, before, "F_LOCK updates in place");
    assert_eq!(
        code(h.update(&k(1), &[3; 16], BPF_F_LOCK | BPF_NOEXIST)),
        EEXIST
    );
    let mut want = vec![2u8; 16];
    want[4..8].copy_from_slice(&[0; 4]);
    assert_eq!(h.lookup_flags(&k(1), BPF_F_LOCK).expect("lookup"), want);
}
