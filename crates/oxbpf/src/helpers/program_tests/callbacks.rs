//! `bpf_loop`, `bpf_for_each_map_elem` and `bpf_tail_call` through programs.

use std::any::Any;
use std::collections::HashMap;

use super::*;
use crate::helpers::errno::{E2BIG, EINVAL};
use crate::maps::{IdResolver, BPF_ANY};
use crate::vm::ProgramTable;

/// bpf_loop: full run summing indices into a stack slot, early stop, bad flags, too many.
pub(super) const LOOP: &str = "
    r9 = map[idx:0]+0
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = 10
    r2 = subprog[sum]
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_loop
    *(u64 *)(r9 + 0) = r0
    r1 = *(u64 *)(r10 - 8)
    *(u64 *)(r9 + 8) = r1
    r1 = 100
    r2 = subprog[stop3]
    r3 = 0
    r4 = 0
    call bpf_loop
    *(u64 *)(r9 + 16) = r0
    r1 = 1
    r2 = subprog[sum]
    r3 = r10
    r3 += -8
    r4 = 1
    call bpf_loop
    *(u64 *)(r9 + 24) = r0
    r1 = 0x800001
    r2 = subprog[sum]
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_loop
    *(u64 *)(r9 + 32) = r0
    r1 = 0
    r2 = subprog[sum]
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_loop
    *(u64 *)(r9 + 40) = r0
    r0 = 2
    exit
sum:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    r0 = 0
    exit
stop3:
    r0 = 0
    if r1 != 3 goto +1
    r0 = 1
    exit
";

/// -E2BIG comes back as a 32-bit value, as from the kernel's inlined `bpf_loop`.
pub(super) const LOOP_EXPECTED: [i64; 6] = [10, 45, 4, -EINVAL, -E2BIG as u32 as i64, 0];

#[test]
fn bpf_loop_counts_stops_and_checks_arguments() {
    let maps = [results_map(6)];
    let (a, b) = run_both(LOOP, &maps);
    assert_eq!((a, b), (2, 2));
    assert_eq!(results(&maps[0]), LOOP_EXPECTED);
}

/// for_each over an array of 5 (values 10*i): count, sum of keys and values via the
/// context struct on the caller's stack; then a walk stopped at key 2.
pub(super) const FOR_EACH_ARRAY: &str = "
    r9 = map[idx:0]+0
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    *(u64 *)(r10 - 16) = r1
    r1 = map[idx:1]
    r2 = subprog[acc]
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_for_each_map_elem
    *(u64 *)(r9 + 0) = r0
    r1 = *(u64 *)(r10 - 16)
    *(u64 *)(r9 + 8) = r1
    r1 = *(u64 *)(r10 - 8)
    *(u64 *)(r9 + 16) = r1
    r1 = map[idx:1]
    r2 = subprog[stop2]
    r3 = 0
    r4 = 0
    call bpf_for_each_map_elem
    *(u64 *)(r9 + 24) = r0
    r1 = map[idx:1]
    r2 = subprog[stop2]
    r3 = 0
    r4 = 1
    call bpf_for_each_map_elem
    *(u64 *)(r9 + 32) = r0
    r0 = 2
    exit
acc:
    r5 = *(u32 *)(r2 + 0)
    r0 = *(u64 *)(r4 + 0)
    r0 += r5
    *(u64 *)(r4 + 0) = r0
    r5 = *(u64 *)(r3 + 0)
    r0 = *(u64 *)(r4 + 8)
    r0 += r5
    *(u64 *)(r4 + 8) = r0
    r5 += 1
    *(u64 *)(r3 + 0) = r5
    r0 = 0
    exit
stop2:
    r0 = 0
    r5 = *(u32 *)(r2 + 0)
    if r5 != 2 goto +1
    r0 = 1
    exit
";

/// Keys 0..5 sum to 10, values 0+10+..+40 = 100; stopped walk visits 3.
pub(super) const FOR_EACH_ARRAY_EXPECTED: [i64; 5] = [5, 10, 100, 3, -EINVAL];

pub(super) fn tens_array() -> Arc<Map> {
    let m = map(MapType::Array, 4, 8, 5);
    for i in 0..5u32 {
        m.update(&i.to_ne_bytes(), &(10 * i as u64).to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    m
}

#[test]
fn for_each_array_sees_keys_values_and_may_write() {
    let maps = [results_map(5), tens_array()];
    run(FOR_EACH_ARRAY, &maps).unwrap();
    assert_eq!(results(&maps[0]), FOR_EACH_ARRAY_EXPECTED);
    // The callback incremented every value through its pointer.
    assert_eq!(
        maps[1].lookup(&4u32.to_ne_bytes()).unwrap(),
        41u64.to_ne_bytes()
    );
}

#[test]
fn for_each_hash_keys_are_readable() {
    let h = map(MapType::Hash, 4, 8, 8);
    for i in 0..5u32 {
        h.update(&i.to_ne_bytes(), &(10 * i as u64).to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    let maps = [results_map(5), h];
    let (a, b) = run_both(FOR_EACH_ARRAY, &maps);
    assert_eq!((a, b), (2, 2));
    let r = results(&maps[0]);
    // Second run: values were incremented once by the first run.
    assert_eq!(r[..3], [5, 10, 105]);
    assert_eq!(r[4], -EINVAL);
}

#[test]
fn callback_errors_stop_the_run() {
    // Not a function start.
    let r = run(
        "r1 = 3\nr2 = 12345\nr3 = 0\nr4 = 0\ncall bpf_loop\nexit",
        &[],
    );
    assert_eq!(
        r,
        Err(RunError::BadCallback {
            slot: 4,
            func: 12345
        })
    );
    // The entry function as a callback (the kernel cannot express it) recurses until the
    // frame limit stops the run.
    let r = run("r1 = 3\nr2 = 0\nr3 = 0\nr4 = 0\ncall bpf_loop\nexit", &[]);
    assert!(matches!(r, Err(RunError::CallDepth { slot: 4 })), "{r:?}");
    // A fault inside the callback is reported at the callback's instruction.
    let src = "
        r1 = 3
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call bpf_loop
        r0 = 7
        exit
    cb:
        r0 = *(u64 *)(r2 + 0)
        exit";
    match run(src, &[]) {
        Err(RunError::Memory { slot, fault }) => assert_eq!((slot, fault.addr), (8, 0)),
        other => panic!("{other:?}"),
    }
    // Callbacks share the run's instruction budget.
    let src = "
        r1 = 0x800000
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call bpf_loop
        exit
    cb:
        r0 = 0
        exit";
    let vm = load(src, &[]);
    let mut ctx = RunContext::new();
    assert!(matches!(
        vm.run(&mut ctx, 0, 0),
        Err(RunError::Budget { .. })
    ));
    assert_eq!(ctx.insn_count, crate::interp::DEFAULT_BUDGET);
    // Callbacks nest; the frames add up to the kernel's limit of 8.
    let src = "
        r1 = 2
        r2 = subprog[outer]
        r3 = r10
        r3 += -8
        r4 = 0
        r6 = 0
        *(u64 *)(r10 - 8) = r6
        call bpf_loop
        r0 = *(u64 *)(r10 - 8)
        exit
    outer:
        r6 = r2
        r1 = 3
        r2 = subprog[inner]
        r3 = r6
        r4 = 0
        call bpf_loop
        r0 = 0
        exit
    inner:
        r1 = *(u64 *)(r2 + 0)
        r1 += 1
        *(u64 *)(r2 + 0) = r1
        r0 = 0
        exit";
    assert_eq!(run(src, &[]), Ok(6));
    // Without an engine (a direct call), callbacks cannot run.
    let mut ctx = RunContext::new();
    assert_eq!(
        crate::helpers::bpf_loop(1, 1, 0, 0, 0, &mut ctx),
        neg(EINVAL)
    );
}

/// Programs by id for tail calls, and the id check prog arrays use.
#[derive(Default)]
struct Programs(HashMap<u32, Arc<Interpreter>>);

impl ProgramTable for Programs {
    fn program(&self, id: u32) -> Option<Arc<dyn Any + Send + Sync>> {
        self.0
            .get(&id)
            .map(|p| Arc::clone(p) as Arc<dyn Any + Send + Sync>)
    }
}

impl IdResolver for Programs {
    fn map(&self, _: u32) -> Option<Arc<Map>> {
        None
    }
    fn prog_exists(&self, id: u32) -> bool {
        self.0.contains_key(&id)
    }
}

/// Tail call to index r2 of map 1 with ctx r1; falls through to r0 = 1000 + index.
const TAIL_CALLER: &str = "
    r6 = r2
    r2 = map[idx:1]
    r3 = r6
    call bpf_tail_call
    r0 = r6
    r0 += 1000
    exit
";

/// Counts its runs in results[0] and tail-calls slot 2 (itself) until the limit.
pub(super) const TAIL_SELF: &str = "
    r9 = map[idx:0]+0
    r6 = *(u64 *)(r9 + 0)
    r6 += 1
    *(u64 *)(r9 + 0) = r6
    r2 = map[idx:1]
    r3 = 2
    call bpf_tail_call
    r0 = 2
    exit
";

#[test]
fn tail_calls_jump_count_and_fall_through() {
    let results = results_map(1);
    let progs = map(MapType::ProgArray, 4, 4, 4);
    let maps = [results, progs];
    let mut table = Programs::default();
    table.0.insert(1, Arc::new(load(TAIL_CALLER, &maps)));
    table
        .0
        .insert(2, Arc::new(load("r0 = r1\nr0 += 5\nexit", &maps)));
    table.0.insert(3, Arc::new(load(TAIL_SELF, &maps)));
    table.0.insert(4, Arc::new(load("r0 = 0\nexit", &maps)));
    let table = Arc::new(table);
    assert!(maps[1].set_resolver(table.clone()));
    maps[1]
        .update(&0u32.to_ne_bytes(), &2u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    maps[1]
        .update(&2u32.to_ne_bytes(), &3u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    maps[1]
        .update(&3u32.to_ne_bytes(), &4u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    // The run's table lacks program 4 (unloaded since it was stored).
    let mut ctx = context(&maps);
    ctx.set_programs(Some(Arc::new(Programs(
        table
            .0
            .iter()
            .filter(|(&id, _)| id != 4)
            .map(|(&id, p)| (id, p.clone()))
            .collect(),
    ))));
    let caller = &table.0[&1];
    // Slot 0: jumps to program 2, which sees ctx (r1) and its result is the run's.
    assert_eq!(caller.run(&mut ctx, 40, 0), Ok(45));
    assert!(ctx.insn_count < 10);
    // Slot 1 is empty, 3 names an unknown program, 9 is out of range: fall through.
    assert_eq!(caller.run(&mut ctx, 40, 1), Ok(1001));
    assert_eq!(caller.run(&mut ctx, 40, 3), Ok(1003));
    assert_eq!(caller.run(&mut ctx, 40, 9), Ok(1009));
    // Self tail calls: the first run plus 33 tail calls.
    assert_eq!(table.0[&3].run(&mut ctx, 0, 0), Ok(2));
    assert_eq!(results_of(&maps[0]), 34);
    assert_eq!(ctx.tail_call_count, 33);
    // Without a program table tail calls fail.
    ctx.set_programs(None);
    assert_eq!(caller.run(&mut ctx, 40, 0), Ok(1000));
}

fn results_of(m: &Map) -> i64 {
    results(m)[0]
}

#[test]
fn tail_call_from_a_subprogram_returns_to_its_caller() {
    let maps = [results_map(1), map(MapType::ProgArray, 4, 4, 1)];
    let mut table = Programs::default();
    table
        .0
        .insert(7, Arc::new(load("r0 = r1\nr0 *= 3\nexit", &maps)));
    let main = load(
        "
        call f
        r0 += 1
        exit
    f:
        r2 = map[idx:1]
        r3 = 0
        call bpf_tail_call
        r0 = 100
        exit",
        &maps,
    );
    let table = Arc::new(table);
    maps[1].set_resolver(table.clone());
    maps[1]
        .update(&0u32.to_ne_bytes(), &7u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    let mut ctx = context(&maps);
    ctx.set_programs(Some(table));
    assert_eq!(main.run(&mut ctx, 5, 0), Ok(16));
}
