//! Map helpers through programs: kernel errnos, pointers into map memory, bad arguments.

use super::*;
use crate::helpers::errno::{E2BIG, EINVAL, ENOENT};
use crate::maps::{BPF_ANY, BPF_EXIST};
use crate::vm::FaultKind;

const EEXIST: i64 = 17;
const EPERM: i64 = 1;

/// update(NOEXIST) / update(NOEXIST) / update(EXIST) / lookup / delete / delete / lookup
/// on a hash map with room for 2, then a third key (full).
pub(super) const HASH_SEQUENCE: &str = "
    r9 = map[idx:0]+0
    r1 = 7
    *(u32 *)(r10 - 4) = r1
    r1 = 42
    *(u64 *)(r10 - 16) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 1
    call bpf_map_update_elem
    *(u64 *)(r9 + 0) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 1
    call bpf_map_update_elem
    *(u64 *)(r9 + 8) = r0
    r1 = 43
    *(u64 *)(r10 - 16) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 2
    call bpf_map_update_elem
    *(u64 *)(r9 + 16) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto +2
    r1 = *(u64 *)(r0 + 0)
    *(u64 *)(r9 + 24) = r1
    r1 = 8
    *(u32 *)(r10 - 4) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 2
    call bpf_map_update_elem
    *(u64 *)(r9 + 32) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    *(u64 *)(r9 + 40) = r0
    r1 = 9
    *(u32 *)(r10 - 4) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    *(u64 *)(r9 + 48) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    *(u64 *)(r9 + 56) = r0
    r1 = 7
    *(u32 *)(r10 - 4) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    *(u64 *)(r9 + 64) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    *(u64 *)(r9 + 72) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    *(u64 *)(r9 + 80) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 8
    call bpf_map_update_elem
    *(u64 *)(r9 + 88) = r0
    r0 = 2
    exit
";

/// What [`HASH_SEQUENCE`] leaves in the results (kernel semantics).
pub(super) const HASH_EXPECTED: [i64; 12] = [
    0,       // insert 7
    -EEXIST, // insert 7 again with BPF_NOEXIST
    0,       // replace 7 with BPF_EXIST
    43,      // lookup 7
    -ENOENT, // BPF_EXIST on absent 8
    0,       // insert 8 (map now full)
    -E2BIG,  // insert 9: full
    -ENOENT, // delete 9
    0,       // delete 7
    -ENOENT, // delete 7 again
    0,       // lookup 7: NULL
    -EINVAL, // bad flags
];

#[test]
fn hash_update_lookup_delete_errnos() {
    let maps = [results_map(12), map(MapType::Hash, 4, 8, 2)];
    assert_eq!(run(HASH_SEQUENCE, &maps), Ok(2));
    assert_eq!(results(&maps[0]), HASH_EXPECTED);
    assert_eq!(
        maps[1].lookup(&8u32.to_ne_bytes()).unwrap(),
        43u64.to_ne_bytes()
    );
    // Unchecked mode gives the same results on a fresh map.
    let maps = [results_map(12), map(MapType::Hash, 4, 8, 2)];
    let mut vm = load(HASH_SEQUENCE, &maps);
    // SAFETY: the program is the one the checked run above completed without a fault.
    unsafe { vm.set_mode(Mode::Unchecked) };
    assert_eq!(vm.run(&mut context(&maps), 0, 0), Ok(2));
    assert_eq!(results(&maps[0]), HASH_EXPECTED);
}

/// Array: update in range, out of range (-E2BIG), BPF_NOEXIST (-EEXIST), delete
/// (-EINVAL); the lookup pointer writes the map's memory directly.
pub(super) const ARRAY_SEQUENCE: &str = "
    r9 = map[idx:0]+0
    r1 = 3
    *(u32 *)(r10 - 4) = r1
    r1 = 5
    *(u64 *)(r10 - 16) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    *(u64 *)(r9 + 0) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 1
    call bpf_map_update_elem
    *(u64 *)(r9 + 8) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_delete_elem
    *(u64 *)(r9 + 16) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    if r0 == 0 goto +3
    r1 = *(u64 *)(r0 + 0)
    r1 += 100
    *(u64 *)(r0 + 0) = r1
    r1 = 4
    *(u32 *)(r10 - 4) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem
    *(u64 *)(r9 + 24) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem
    *(u64 *)(r9 + 32) = r0
    r0 = 2
    exit
";

pub(super) const ARRAY_EXPECTED: [i64; 5] = [0, -EEXIST, -EINVAL, -E2BIG, 0];

#[test]
fn array_update_errnos_and_pointer_writes() {
    let maps = [results_map(5), map(MapType::Array, 4, 8, 4)];
    assert_eq!(run(ARRAY_SEQUENCE, &maps), Ok(2));
    assert_eq!(results(&maps[0]), ARRAY_EXPECTED);
    assert_eq!(
        maps[1].lookup(&3u32.to_ne_bytes()).unwrap(),
        105u64.to_ne_bytes()
    );
}

/// Queue: push 3 into room for 2 (-E2BIG), push with BPF_EXIST (drops the oldest),
/// peek, pop, pop, pop (-ENOENT). Results: push codes, then popped values.
pub(super) const QUEUE_SEQUENCE: &str = "
    r9 = map[idx:0]+0
    r6 = 0
push:
    r6 += 1
    *(u64 *)(r10 - 8) = r6
    r1 = map[idx:1]
    r2 = r10
    r2 += -8
    r3 = 0
    call bpf_map_push_elem
    r1 = r6
    r1 <<= 3
    r2 = r9
    r2 += r1
    *(u64 *)(r2 - 8) = r0
    if r6 < 3 goto push
    r1 = 4
    *(u64 *)(r10 - 8) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -8
    r3 = 2
    call bpf_map_push_elem
    *(u64 *)(r9 + 24) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -16
    call bpf_map_peek_elem
    *(u64 *)(r9 + 32) = r0
    r1 = *(u64 *)(r10 - 16)
    *(u64 *)(r9 + 40) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -16
    call bpf_map_pop_elem
    r1 = *(u64 *)(r10 - 16)
    *(u64 *)(r9 + 48) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -16
    call bpf_map_pop_elem
    r1 = *(u64 *)(r10 - 16)
    *(u64 *)(r9 + 56) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -16
    call bpf_map_pop_elem
    *(u64 *)(r9 + 64) = r0
    r0 = 2
    exit
";

pub(super) const QUEUE_EXPECTED: [i64; 9] = [0, 0, -E2BIG, 0, 0, 2, 2, 4, -ENOENT];

#[test]
fn queue_push_pop_peek() {
    let maps = [results_map(9), map(MapType::Queue, 0, 8, 2)];
    assert_eq!(run(QUEUE_SEQUENCE, &maps), Ok(2));
    assert_eq!(results(&maps[0]), QUEUE_EXPECTED);
    // A stack pops the newest first.
    let maps = [results_map(9), map(MapType::Stack, 0, 8, 2)];
    run(QUEUE_SEQUENCE, &maps).unwrap();
    assert_eq!(results(&maps[0])[5..8], [4, 4, 2]);
}

#[test]
fn read_only_maps_refuse_program_writes() {
    let ro = Map::new(
        &MapDef::new(MapType::Hash, 4, 8, 4).with_flags(crate::maps::flags::BPF_F_RDONLY_PROG),
    )
    .unwrap();
    let maps = [results_map(1), ro];
    let src = "
        r9 = map[idx:0]+0
        r1 = 0
        *(u64 *)(r10 - 8) = r1
        r1 = map[idx:1]
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -8
        r4 = 0
        call bpf_map_update_elem
        *(u64 *)(r9 + 0) = r0
        exit";
    run(src, &maps).unwrap();
    assert_eq!(results(&maps[0]), [-EPERM]);
}

#[test]
fn percpu_lookup_by_cpu() {
    let m = map(MapType::PercpuArray, 4, 8, 2);
    let n = m.ncpus() as usize;
    let mut all = Vec::new();
    for cpu in 0..n {
        all.extend_from_slice(&(100 + cpu as u64).to_ne_bytes());
    }
    m.update(&1u32.to_ne_bytes(), &all, BPF_ANY).unwrap();
    let maps = [results_map(3), m];
    let src = format!(
        "
        r9 = map[idx:0]+0
        r1 = 1
        *(u32 *)(r10 - 4) = r1
        r1 = map[idx:1]
        r2 = r10
        r2 += -4
        r3 = {last}
        call bpf_map_lookup_percpu_elem
        if r0 == 0 goto +2
        r1 = *(u64 *)(r0 + 0)
        *(u64 *)(r9 + 0) = r1
        r1 = map[idx:1]
        r2 = r10
        r2 += -4
        r3 = {n}
        call bpf_map_lookup_percpu_elem
        *(u64 *)(r9 + 8) = r0
        r1 = map[idx:1]
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem
        if r0 == 0 goto +2
        r1 = *(u64 *)(r0 + 0)
        *(u64 *)(r9 + 16) = r1
        exit",
        last = n - 1
    );
    run(&src, &maps).unwrap();
    // The current CPU of this thread is 0 unless set.
    assert_eq!(
        results(&maps[0]),
        [
            100 + n as i64 - 1,
            0,
            100 + crate::maps::current_cpu() as i64
        ]
    );
}

#[test]
fn map_in_map_inner_handles_are_usable() {
    let inner = map(MapType::Array, 4, 8, 1);
    inner
        .update(&0u32.to_ne_bytes(), &77u64.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let outer = Map::new(
        &MapDef::new(MapType::ArrayOfMaps, 4, 4, 2).with_inner(MapDef::new(
            MapType::Array,
            4,
            8,
            1,
        )),
    )
    .unwrap();
    outer
        .set_inner_map(&1u32.to_ne_bytes(), &inner, BPF_ANY)
        .unwrap();
    let maps = [results_map(2), outer];
    let src = "
        r9 = map[idx:0]+0
        r1 = 1
        *(u32 *)(r10 - 4) = r1
        r1 = map[idx:1]
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem
        if r0 == 0 goto out
        r1 = 0
        *(u32 *)(r10 - 8) = r1
        r1 = r0
        r2 = r10
        r2 += -8
        call bpf_map_lookup_elem
        if r0 == 0 goto out
        r1 = *(u64 *)(r0 + 0)
        *(u64 *)(r9 + 0) = r1
        r1 = 78
        *(u64 *)(r0 + 0) = r1
    out:
        exit";
    let (a, b) = run_both(src, &maps);
    assert_eq!(a, b);
    assert_eq!(results(&maps[0])[0], 78);
    assert_eq!(
        inner.lookup(&0u32.to_ne_bytes()).unwrap(),
        78u64.to_ne_bytes()
    );
}

fn helper_fault(r: Result<u64, RunError>) -> (u32, crate::vm::Fault) {
    match r {
        Err(RunError::HelperMemory { helper, fault, .. }) => (helper, fault),
        other => panic!("expected a helper fault, got {other:?}"),
    }
}

#[test]
fn bad_arguments_fault_in_checked_mode() {
    let maps = [map(MapType::Hash, 4, 8, 4)];
    // Key outside every region.
    let (h, f) = helper_fault(run(
        "r1 = map[idx:0]\nr2 = 4096\ncall bpf_map_lookup_elem\nexit",
        &maps,
    ));
    assert_eq!(
        (h, f.addr, f.size, f.kind),
        (1, 4096, 4, FaultKind::OutOfBounds)
    );
    // Key runs past the top of the stack (4 bytes from r10 - 2).
    let (_, f) = helper_fault(run(
        "r1 = map[idx:0]\nr2 = r10\nr2 += -2\ncall bpf_map_lookup_elem\nexit",
        &maps,
    ));
    assert_eq!(f.size, 4);
    // Value for update: 8 bytes from r10 - 4.
    let (h, f) = helper_fault(run(
        "r1 = map[idx:0]\nr2 = r10\nr2 += -8\nr3 = r10\nr3 += -4\nr4 = 0\ncall bpf_map_update_elem\nexit",
        &maps,
    ));
    assert_eq!((h, f.size), (2, 8));
    // A forged map handle, and a real map not registered for the run.
    let (h, f) = helper_fault(run(
        "r1 = 0x1234\nr2 = r10\nr2 += -8\ncall bpf_map_delete_elem\nexit",
        &maps,
    ));
    assert_eq!((h, f.addr, f.kind), (3, 0x1234, FaultKind::NotAMap));
    let vm = load(
        "r1 = map[idx:0]\nr2 = r10\nr2 += -8\ncall bpf_map_lookup_elem\nexit",
        &maps,
    );
    let (_, f) = helper_fault(vm.run(&mut RunContext::new(), 0, 0));
    assert_eq!(f.kind, FaultKind::NotAMap);
    // Pop into read-only memory: the queue value is written.
    let q = map(MapType::Queue, 0, 8, 2);
    q.push(&1u64.to_ne_bytes(), 0).unwrap();
    let ro = Map::new(&MapDef::global_data(".rodata", 8, true)).unwrap();
    let maps = [q, ro];
    let (h, f) = helper_fault(run(
        "r1 = map[idx:0]\nr2 = map[idx:1]+0\ncall bpf_map_pop_elem\nexit",
        &maps,
    ));
    assert_eq!((h, f.kind), (88, FaultKind::ReadOnly));
}

#[test]
fn hash_values_allocated_later_are_accessible() {
    // Without preallocation the hash grows value memory after the context registered
    // the map's regions; the lookup helper makes the new memory known.
    let m = Map::new(
        &MapDef::new(MapType::Hash, 4, 8, 4096).with_flags(crate::maps::flags::BPF_F_NO_PREALLOC),
    )
    .unwrap();
    let maps = [m];
    let vm = load(
        "
        r6 = 0
    again:
        *(u32 *)(r10 - 4) = r6
        *(u64 *)(r10 - 16) = r6
        r1 = map[idx:0]
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -16
        r4 = 0
        call bpf_map_update_elem
        r1 = map[idx:0]
        r2 = r10
        r2 += -4
        call bpf_map_lookup_elem
        if r0 == 0 goto fail
        r1 = *(u64 *)(r0 + 0)
        if r1 != r6 goto fail
        r6 += 1
        if r6 < 3000 goto again
        r0 = 0
        exit
    fail:
        r0 = 1
        exit",
        &maps,
    );
    let mut ctx = context(&maps);
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(0));
    let _ = BPF_EXIST;
}
