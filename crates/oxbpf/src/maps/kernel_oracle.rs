//! The real kernel as oracle: the same map definitions and operation sequences run through
//! bpf(2) and through [`Map`], and every result (errno, value, next key) must agree.
//! Skipped, with a message, where bpf(2) is not permitted. Calls go through the `kernel`
//! module's single syscall function; `BPF_MAP_LOOKUP_AND_DELETE_ELEM` is not among its
//! commands yet, so lookup-and-delete is covered by the unit tests only.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use super::flags::*;
use super::*;
use crate::kernel::sys::{self, Cmd, MapCreateAttr, MapElemAttr};

fn kcreate(def: &MapDef, inner_fd: Option<&OwnedFd>) -> Result<OwnedFd, i32> {
    let mut attr = MapCreateAttr {
        map_type: def.map_type as u32,
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        map_flags: def.map_flags,
        inner_map_fd: inner_fd.map_or(0, |f| f.as_raw_fd() as u32),
        map_name: sys::obj_name(&def.name),
        ..Default::default()
    };
    sys::bpf_fd(Cmd::MapCreate, &mut attr).map_err(|e| e.errno())
}

/// An element command; `key`/`val` must stay alive across the call (they are borrowed).
fn kelem(cmd: Cmd, fd: &OwnedFd, key: Option<&[u8]>, val: *mut u8, flags: u64) -> Result<(), i32> {
    let mut attr = MapElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key.map_or(0, |k| sys::ptr_u64(k.as_ptr())),
        value_or_next_key: val as u64,
        flags,
        ..Default::default()
    };
    sys::bpf(cmd, &mut attr).map(|_| ()).map_err(|e| e.errno())
}

/// Possible CPUs as the kernel counts them (`/sys/devices/system/cpu/possible`).
fn kernel_possible_cpus() -> u32 {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    s.trim()
        .split(',')
        .filter_map(|r| match r.split_once('-') {
            Some((a, b)) => Some(b.parse::<u32>().ok()? - a.parse::<u32>().ok()? + 1),
            None => r.parse::<u32>().ok().map(|_| 1),
        })
        .sum::<u32>()
        .max(1)
}

/// Whether bpf(2) works here; prints a loud SKIPPED line if not.
fn kernel_available() -> bool {
    match crate::kernel::available() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            false
        }
    }
}

/// One operation, run on both sides.
#[derive(Debug, Clone)]
enum Op {
    Update(Vec<u8>, Vec<u8>, u64),
    Lookup(Vec<u8>),
    Delete(Vec<u8>),
    NextKey(Option<Vec<u8>>),
    Freeze,
}

fn run_kernel(fd: &OwnedFd, def: &MapDef, vsize: usize, op: &Op) -> Result<Vec<u8>, i32> {
    let mut out = vec![0u8; vsize.max(def.key_size as usize).max(8)];
    let key_opt = |k: &Vec<u8>| if k.is_empty() { None } else { Some(k.clone()) };
    match op {
        Op::Update(k, v, f) => {
            let mut v = v.clone();
            kelem(
                Cmd::MapUpdateElem,
                fd,
                key_opt(k).as_deref(),
                v.as_mut_ptr(),
                *f,
            )
            .map(|()| vec![])
        }
        Op::Lookup(k) => kelem(
            Cmd::MapLookupElem,
            fd,
            key_opt(k).as_deref(),
            out.as_mut_ptr(),
            0,
        )
        .map(|()| out[..vsize].to_vec()),
        Op::Delete(k) => kelem(
            Cmd::MapDeleteElem,
            fd,
            key_opt(k).as_deref(),
            std::ptr::null_mut(),
            0,
        )
        .map(|()| vec![]),
        Op::NextKey(k) => kelem(Cmd::MapGetNextKey, fd, k.as_deref(), out.as_mut_ptr(), 0)
            .map(|()| out[..def.key_size as usize].to_vec()),
        Op::Freeze => kelem(Cmd::MapFreeze, fd, None, std::ptr::null_mut(), 0).map(|()| vec![]),
    }
}

fn run_ours(m: &Map, op: &Op) -> Result<Vec<u8>, i32> {
    let e = |r: MapError| r.errno();
    match op {
        Op::Update(k, v, f) => m.update(k, v, *f).map(|()| vec![]).map_err(e),
        Op::Lookup(k) => m.lookup(k).map_err(e),
        Op::Delete(k) => m.delete(k).map(|()| vec![]).map_err(e),
        Op::NextKey(k) => m.get_next_key(k.as_deref()).map_err(e),
        Op::Freeze => m.freeze().map(|()| vec![]).map_err(e),
    }
}

/// Run `ops` on a kernel map and on ours; `ordered_next`: compare get_next_key results
/// exactly (arrays, LPM), else only their success/errno (hash order differs).
fn compare(def: &MapDef, ops: &[Op], ordered_next: bool) {
    let ncpus = kernel_possible_cpus();
    let fd = kcreate(def, None).unwrap_or_else(|e| panic!("kernel refused {def:?}: errno {e}"));
    let ours = Map::with_cpus(def, ncpus).expect("our create");
    let vsize = ours.user_value_size();
    for (i, op) in ops.iter().enumerate() {
        let k = run_kernel(&fd, def, vsize, op);
        let o = run_ours(&ours, op);
        if matches!(op, Op::NextKey(_)) && !ordered_next {
            assert_eq!(
                k.as_ref().err(),
                o.as_ref().err(),
                "{:?} op {i} {op:?}",
                def.map_type
            );
        } else {
            assert_eq!(k, o, "{:?} op {i} {op:?}", def.map_type);
        }
    }
}

fn k32(i: u32) -> Vec<u8> {
    i.to_ne_bytes().to_vec()
}

fn v64(i: u64) -> Vec<u8> {
    i.to_ne_bytes().to_vec()
}

#[test]
fn create_errnos_match_the_kernel() {
    if !kernel_available() {
        return;
    }
    let np = BPF_F_NO_PREALLOC;
    let defs = [
        MapDef::new(MapType::Hash, 4, 8, 16),
        MapDef::new(MapType::Hash, 0, 8, 16),
        MapDef::new(MapType::Hash, 4, 0, 16),
        MapDef::new(MapType::Hash, 4, 8, 0),
        MapDef::new(MapType::Hash, 4, 8, 16).with_flags(np),
        MapDef::new(MapType::Hash, 4, 8, 16).with_flags(BPF_F_NO_COMMON_LRU),
        MapDef::new(MapType::Hash, 4, 8, 16).with_flags(BPF_F_MMAPABLE),
        MapDef::new(MapType::Hash, 4, 8, 16).with_flags(BPF_F_RDONLY | BPF_F_WRONLY),
        MapDef::new(MapType::Hash, 4, 4 << 20, 1),
        MapDef::new(MapType::LruHash, 4, 8, 16).with_flags(np),
        MapDef::new(MapType::LruHash, 4, 8, 16).with_flags(BPF_F_NO_COMMON_LRU),
        MapDef::new(MapType::PercpuHash, 4, 40_000, 4),
        MapDef::new(MapType::Array, 4, 8, 16),
        MapDef::new(MapType::Array, 8, 8, 16),
        MapDef::new(MapType::Array, 4, 0, 16),
        MapDef::new(MapType::Array, 4, 8, 0),
        MapDef::new(MapType::Array, 4, 8, 1).with_flags(BPF_F_MMAPABLE | BPF_F_RDONLY_PROG),
        MapDef::new(MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
        MapDef::new(MapType::Array, 4, 8, 1).with_flags(np),
        MapDef::new(MapType::PercpuArray, 4, 8, 1).with_flags(BPF_F_MMAPABLE),
        MapDef::new(MapType::PercpuArray, 4, 40_000, 1),
        MapDef::new(MapType::ProgArray, 4, 4, 4),
        MapDef::new(MapType::ProgArray, 4, 8, 4),
        MapDef::new(MapType::PerfEventArray, 4, 4, 4),
        MapDef::new(MapType::PerfEventArray, 4, 8, 4),
        MapDef::new(MapType::LpmTrie, 8, 4, 16),
        MapDef::new(MapType::LpmTrie, 8, 4, 16).with_flags(np),
        MapDef::new(MapType::LpmTrie, 4, 4, 16).with_flags(np),
        MapDef::new(MapType::LpmTrie, 260, 4, 16).with_flags(np),
        MapDef::new(MapType::LpmTrie, 261, 4, 16).with_flags(np),
        MapDef::new(MapType::LpmTrie, 8, 0, 16).with_flags(np),
        MapDef::new(MapType::LpmTrie, 8, 4, 0).with_flags(np),
        MapDef::new(MapType::Queue, 0, 4, 16),
        MapDef::new(MapType::Queue, 4, 4, 16),
        MapDef::new(MapType::Stack, 0, 0, 16),
        MapDef::new(MapType::Stack, 0, 4, 0),
        MapDef::new(MapType::Stack, 0, 4, 4).with_flags(np),
        MapDef::new(MapType::RingBuf, 0, 0, 4096),
        MapDef::new(MapType::RingBuf, 0, 0, 8192 + 4096),
        MapDef::new(MapType::RingBuf, 0, 0, 2048),
        MapDef::new(MapType::RingBuf, 4, 0, 4096),
        MapDef::new(MapType::RingBuf, 0, 4, 4096),
        MapDef::new(MapType::Array, 4, 4, 1).with_name("ok_name.bss"),
        MapDef::new(MapType::Array, 4, 4, 1).with_name("bad-name"),
    ];
    let ncpus = kernel_possible_cpus();
    for def in &defs {
        let k = kcreate(def, None).map(|_| ()).err();
        let o = Map::with_cpus(def, ncpus)
            .map(|_| ())
            .err()
            .map(|e| e.errno());
        assert_eq!(k, o, "create {def:?}");
    }
    // Map-in-map: the template is a real inner map on the kernel side.
    let inner = MapDef::new(MapType::Array, 4, 8, 2);
    let inner_fd = kcreate(&inner, None).expect("inner");
    for outer in [
        MapDef::new(MapType::ArrayOfMaps, 4, 4, 2),
        MapDef::new(MapType::ArrayOfMaps, 4, 8, 2),
        MapDef::new(MapType::HashOfMaps, 4, 4, 2),
        MapDef::new(MapType::HashOfMaps, 4, 8, 2),
    ] {
        let k = kcreate(&outer, Some(&inner_fd)).map(|_| ()).err();
        let o = Map::with_cpus(&outer.clone().with_inner(inner.clone()), ncpus)
            .map(|_| ())
            .err()
            .map(|e| e.errno());
        assert_eq!(k, o, "create {outer:?}");
    }
}

#[test]
fn hash_and_array_operations_match_the_kernel() {
    if !kernel_available() {
        return;
    }
    let hash_ops = vec![
        Op::Lookup(k32(1)),
        Op::Delete(k32(1)),
        Op::NextKey(None),
        Op::Update(k32(1), v64(10), BPF_EXIST),
        Op::Update(k32(1), v64(10), BPF_NOEXIST),
        Op::Update(k32(1), v64(11), BPF_NOEXIST),
        Op::Update(k32(1), v64(12), BPF_EXIST),
        Op::Update(k32(1), v64(12), 3),
        Op::Update(k32(1), v64(12), 8),
        Op::Update(k32(1), v64(12), BPF_F_LOCK),
        Op::Lookup(k32(1)),
        Op::Update(k32(2), v64(20), BPF_ANY),
        Op::Update(k32(3), v64(30), BPF_ANY),
        Op::Update(k32(4), v64(40), BPF_ANY),
        Op::Update(k32(5), v64(50), BPF_ANY),
        Op::Update(k32(4), v64(44), BPF_ANY),
        Op::Lookup(k32(4)),
        Op::NextKey(Some(k32(77))),
        Op::Update(k32(5), v64(50), BPF_ANY),
        Op::Delete(k32(2)),
        Op::Delete(k32(2)),
        Op::Freeze,
        Op::Freeze,
        Op::Update(k32(9), v64(9), BPF_ANY),
        Op::Delete(k32(1)),
        Op::Lookup(k32(1)),
    ];
    compare(&MapDef::new(MapType::Hash, 4, 8, 4), &hash_ops, false);
    compare(
        &MapDef::new(MapType::Hash, 4, 8, 4).with_flags(BPF_F_NO_PREALLOC),
        &hash_ops,
        false,
    );
    compare(&MapDef::new(MapType::LruHash, 4, 8, 64), &hash_ops, false);
    let mut pc = Vec::new();
    let n = kernel_possible_cpus() as usize;
    for i in 0..3u32 {
        let val: Vec<u8> = (0..n * 8)
            .map(|b| (b as u8).wrapping_add(i as u8))
            .collect();
        pc.push(Op::Update(k32(i), val, BPF_ANY));
        pc.push(Op::Lookup(k32(i)));
    }
    pc.push(Op::Update(k32(9), vec![0; n * 8], BPF_ANY));
    compare(&MapDef::new(MapType::PercpuHash, 4, 5, 3), &pc, false);

    let array_ops = vec![
        Op::Lookup(k32(0)),
        Op::Lookup(k32(4)),
        Op::Update(k32(1), v64(5), BPF_ANY),
        Op::Update(k32(1), v64(5), BPF_NOEXIST),
        Op::Update(k32(1), v64(6), BPF_EXIST),
        Op::Update(k32(4), v64(5), BPF_ANY),
        Op::Update(k32(1), v64(5), 3),
        Op::Update(k32(1), v64(5), BPF_F_LOCK),
        Op::Lookup(k32(1)),
        Op::Delete(k32(1)),
        Op::NextKey(None),
        Op::NextKey(Some(k32(2))),
        Op::NextKey(Some(k32(3))),
        Op::NextKey(Some(k32(100))),
        Op::Freeze,
        Op::Update(k32(1), v64(7), BPF_ANY),
        Op::Lookup(k32(1)),
    ];
    compare(&MapDef::new(MapType::Array, 4, 8, 4), &array_ops, true);
    let mut pca = vec![Op::Update(
        k32(0),
        (0..n * 8).map(|b| b as u8).collect(),
        BPF_ANY,
    )];
    pca.push(Op::Lookup(k32(0)));
    pca.push(Op::Lookup(k32(2)));
    compare(&MapDef::new(MapType::PercpuArray, 4, 3, 2), &pca, true);
}

#[test]
fn queue_stack_and_lpm_operations_match_the_kernel() {
    if !kernel_available() {
        return;
    }
    let qops = vec![
        Op::Lookup(vec![]),
        Op::Update(vec![], k32(1), BPF_ANY),
        Op::Update(vec![], k32(2), BPF_ANY),
        Op::Update(vec![], k32(3), BPF_ANY),
        Op::Update(vec![], k32(4), BPF_NOEXIST),
        Op::Update(vec![], k32(4), BPF_EXIST),
        Op::Lookup(vec![]),
        Op::Delete(vec![]),
        Op::NextKey(None),
    ];
    compare(&MapDef::new(MapType::Queue, 0, 4, 3), &qops, true);
    compare(&MapDef::new(MapType::Stack, 0, 4, 3), &qops, true);

    let ip = |plen: u32, a: [u8; 4]| {
        let mut k = plen.to_ne_bytes().to_vec();
        k.extend_from_slice(&a);
        k
    };
    let mut lops = vec![
        Op::NextKey(None),
        Op::Update(ip(33, [1, 2, 3, 4]), k32(1), BPF_ANY),
        Op::Update(ip(8, [10, 0, 0, 0]), k32(1), BPF_F_LOCK),
        Op::Update(ip(8, [10, 0, 0, 0]), k32(1), BPF_EXIST),
    ];
    let prefixes = [
        ip(8, [10, 0, 0, 0]),
        ip(16, [10, 1, 0, 0]),
        ip(24, [10, 1, 1, 7]),
        ip(0, [0, 0, 0, 0]),
        ip(16, [192, 168, 0, 0]),
        ip(9, [192, 128, 0, 0]),
        ip(32, [10, 1, 1, 1]),
        ip(12, [10, 16, 0, 0]),
    ];
    for (i, p) in prefixes.iter().enumerate() {
        lops.push(Op::Update(p.clone(), k32(i as u32), BPF_NOEXIST));
    }
    lops.push(Op::Update(ip(8, [10, 9, 9, 9]), k32(9), BPF_NOEXIST));
    lops.push(Op::Update(ip(20, [1, 1, 1, 1]), k32(9), BPF_ANY));
    lops.push(Op::Update(ip(8, [10, 0, 0, 0]), k32(80), BPF_EXIST));
    for probe in [
        [10, 1, 1, 1],
        [10, 1, 1, 2],
        [10, 1, 2, 3],
        [10, 20, 0, 0],
        [11, 0, 0, 0],
        [192, 200, 0, 0],
    ] {
        lops.push(Op::Lookup(ip(32, probe)));
        lops.push(Op::Lookup(ip(15, probe)));
    }
    // Walk the whole key order, as bpftool does.
    lops.push(Op::NextKey(None));
    for p in &prefixes {
        lops.push(Op::NextKey(Some(p.clone())));
    }
    lops.push(Op::NextKey(Some(ip(20, [99, 0, 0, 0]))));
    lops.push(Op::Delete(ip(16, [10, 1, 0, 0])));
    lops.push(Op::Delete(ip(16, [10, 1, 0, 0])));
    lops.push(Op::Delete(ip(40, [10, 1, 0, 0])));
    lops.push(Op::Lookup(ip(32, [10, 1, 2, 3])));
    lops.push(Op::NextKey(Some(ip(24, [10, 1, 1, 7]))));
    compare(
        &MapDef::new(MapType::LpmTrie, 8, 4, 8).with_flags(BPF_F_NO_PREALLOC),
        &lops,
        true,
    );
}

#[test]
fn lru_percpu_hash_and_ringbuf_operations_match_the_kernel() {
    if !kernel_available() {
        return;
    }
    let n = kernel_possible_cpus() as usize;
    let val = |i: u8| -> Vec<u8> { (0..n * 8).map(|b| (b as u8).wrapping_mul(i)).collect() };
    let ops = vec![
        Op::Lookup(k32(1)),
        Op::Delete(k32(1)),
        Op::Update(k32(1), val(1), BPF_EXIST),
        Op::Update(k32(1), val(1), BPF_NOEXIST),
        Op::Update(k32(1), val(2), BPF_NOEXIST),
        Op::Update(k32(1), val(3), BPF_EXIST),
        Op::Update(k32(1), val(3), 3),
        Op::Update(k32(1), val(3), BPF_F_LOCK),
        Op::Lookup(k32(1)),
        Op::Update(k32(2), val(4), BPF_ANY),
        Op::Lookup(k32(2)),
        Op::NextKey(Some(k32(99))),
        Op::Delete(k32(2)),
        Op::Delete(k32(2)),
    ];
    compare(&MapDef::new(MapType::LruPercpuHash, 4, 8, 64), &ops, false);
    // Ring buffers have no elements for user space: every element command fails.
    let rb = vec![
        Op::Lookup(vec![]),
        Op::Update(vec![], vec![], BPF_ANY),
        Op::Delete(vec![]),
        Op::NextKey(None),
        Op::Freeze,
    ];
    compare(&MapDef::new(MapType::RingBuf, 0, 0, 4096), &rb, true);
}

struct OneMap(Vec<Arc<Map>>);

impl IdResolver for OneMap {
    fn map(&self, id: u32) -> Option<Arc<Map>> {
        self.0.iter().find(|m| m.id() == id).cloned()
    }
    fn prog_exists(&self, _id: u32) -> bool {
        false
    }
}

#[test]
fn fd_array_errnos_match_the_kernel() {
    if !kernel_available() {
        return;
    }
    let tmpl = MapDef::new(MapType::Array, 4, 8, 2);
    let k_inner = kcreate(&tmpl, None).expect("inner");
    let k_wrong = kcreate(&MapDef::new(MapType::Array, 4, 8, 3), None).expect("wrong");
    // Array of maps and hash of maps (whose third key does not fit: E2BIG).
    for outer_type in [MapType::ArrayOfMaps, MapType::HashOfMaps] {
        let outer = MapDef::new(outer_type, 4, 4, 2);
        let o_inner = Map::new(&tmpl).expect("inner");
        o_inner.set_id(1);
        let o_wrong = Map::new(&MapDef::new(MapType::Array, 4, 8, 3)).expect("wrong");
        o_wrong.set_id(2);
        let k_outer = kcreate(&outer, Some(&k_inner)).expect("outer");
        let o_outer = Map::new(&outer.clone().with_inner(tmpl.clone())).expect("outer");
        o_outer.set_resolver(Arc::new(OneMap(vec![o_inner, o_wrong])));
        // (operation, key, which inner: 1 = matching, 2 = wrong shape, 3 = bad fd/id, flags)
        let cases: &[(Cmd, u32, u32, u64)] = &[
            (Cmd::MapLookupElem, 0, 0, 0),
            (Cmd::MapUpdateElem, 0, 1, BPF_ANY),
            (Cmd::MapUpdateElem, 0, 1, BPF_NOEXIST),
            (Cmd::MapUpdateElem, 0, 1, BPF_EXIST),
            (Cmd::MapUpdateElem, 2, 1, BPF_ANY),
            (Cmd::MapUpdateElem, 1, 2, BPF_ANY),
            (Cmd::MapUpdateElem, 1, 3, BPF_ANY),
            (Cmd::MapUpdateElem, 2, 3, BPF_ANY),
            (Cmd::MapUpdateElem, 1, 3, BPF_EXIST),
            (Cmd::MapUpdateElem, 2, 2, BPF_ANY),
            (Cmd::MapUpdateElem, 1, 1, BPF_ANY),
            (Cmd::MapUpdateElem, 1, 1, 4),
            (Cmd::MapLookupElem, 0, 0, 0),
            (Cmd::MapLookupElem, 1, 0, 0),
            (Cmd::MapLookupElem, 5, 0, 0),
            (Cmd::MapDeleteElem, 1, 0, 0),
            (Cmd::MapDeleteElem, 5, 0, 0),
            (Cmd::MapDeleteElem, 0, 0, 0),
            (Cmd::MapDeleteElem, 0, 0, 0),
        ];
        for &(cmd, key, which, flags) in cases {
            let kkey = key.to_ne_bytes();
            let mut kval = match which {
                1 => k_inner.as_raw_fd() as u32,
                2 => k_wrong.as_raw_fd() as u32,
                3 => 9999,
                _ => 0,
            }
            .to_ne_bytes();
            // Delete takes no value pointer (the kernel checks unused attr fields are zero).
            let vptr = if cmd == Cmd::MapDeleteElem {
                std::ptr::null_mut()
            } else {
                kval.as_mut_ptr()
            };
            let k = kelem(cmd, &k_outer, Some(&kkey), vptr, flags).err();
            let o = match cmd {
                Cmd::MapLookupElem => o_outer.lookup(&kkey).map(|_| ()),
                Cmd::MapUpdateElem => o_outer.update(&kkey, &which.to_ne_bytes(), flags),
                _ => o_outer.delete(&kkey),
            }
            .err()
            .map(|e| e.errno());
            assert_eq!(
                k, o,
                "{outer_type:?} cmd {cmd} key {key} inner {which} flags {flags}"
            );
        }
    }
    // Perf event arrays cannot be read from user space; empty prog array slots are ENOENT.
    let perf = MapDef::new(MapType::PerfEventArray, 4, 4, 2);
    let progs = MapDef::new(MapType::ProgArray, 4, 4, 2);
    for def in [perf, progs] {
        let fd = kcreate(&def, None).expect("create");
        let ours = Map::new(&def).expect("create");
        let mut out = [0u8; 4];
        for key in [0u32, 7] {
            let k = kelem(
                Cmd::MapLookupElem,
                &fd,
                Some(&key.to_ne_bytes()),
                out.as_mut_ptr(),
                0,
            )
            .err();
            let o = ours.lookup(&key.to_ne_bytes()).err().map(|e| e.errno());
            assert_eq!(k, o, "{:?} lookup {key}", def.map_type);
            let k = kelem(
                Cmd::MapDeleteElem,
                &fd,
                Some(&key.to_ne_bytes()),
                std::ptr::null_mut(),
                0,
            )
            .err();
            let o = ours.delete(&key.to_ne_bytes()).err().map(|e| e.errno());
            assert_eq!(k, o, "{:?} delete {key}", def.map_type);
        }
    }
}
