//! Tail calls and callbacks in compiled code, compared with the interpreter: every test
//! runs the same programs with each engine as caller and as target and requires the same
//! `r0` or error, `insn_count`, tail-call count and map contents.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use super::{JitOptions, JitProgram};
use crate::asm::assemble_located;
use crate::helpers::Registry;
use crate::interp::{Interpreter, RunError};
use crate::maps::{IdResolver, Map, MapDef, MapType, BPF_ANY};
use crate::vm::{MapRef, MapResolver, ProgramTable, RunContext};

/// Maps by index: `map[idx:N]` names `maps[N]`.
struct Maps(Vec<Arc<Map>>);

impl MapResolver for Maps {
    fn map_handle(&self, map: MapRef) -> Option<u64> {
        let (MapRef::Fd(i) | MapRef::Idx(i)) = map;
        self.0.get(usize::try_from(i).ok()?).map(Map::handle)
    }
    fn map_value_addr(&self, map: MapRef, off: u32) -> Option<u64> {
        let (MapRef::Fd(i) | MapRef::Idx(i)) = map;
        self.0
            .get(usize::try_from(i).ok()?)?
            .direct_value_addr(off)
            .ok()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Interp,
    Jit,
}

const KINDS: [Kind; 2] = [Kind::Interp, Kind::Jit];

/// A loaded program of either engine.
#[derive(Clone)]
enum Prog {
    Interp(Arc<Interpreter>),
    Jit(Arc<JitProgram>),
}

impl Prog {
    fn load(kind: Kind, src: &str, maps: &[Arc<Map>], budget: Option<u64>) -> Prog {
        let insns = assemble_located(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let resolver = Maps(maps.to_vec());
        let helpers = Registry::standard();
        match kind {
            Kind::Interp => {
                let mut vm = Interpreter::with_maps(&insns, &helpers, &resolver).unwrap();
                vm.set_budget(budget);
                Prog::Interp(Arc::new(vm))
            }
            Kind::Jit => {
                let opts = JitOptions::new().budget(budget);
                let jit = JitProgram::compile(&insns, &helpers, Some(&resolver), opts).unwrap();
                Prog::Jit(Arc::new(jit))
            }
        }
    }

    fn run(&self, ctx: &mut RunContext, r1: u64, r2: u64) -> Result<u64, RunError> {
        match self {
            Prog::Interp(p) => p.run(ctx, r1, r2),
            Prog::Jit(p) => p.run(ctx, r1, r2),
        }
    }

    fn any(&self) -> Arc<dyn Any + Send + Sync> {
        match self {
            Prog::Interp(p) => Arc::clone(p) as Arc<dyn Any + Send + Sync>,
            Prog::Jit(p) => Arc::clone(p) as Arc<dyn Any + Send + Sync>,
        }
    }
}

/// Programs by id, of any engine (or anything else, to test unrunnable targets).
#[derive(Default)]
struct Table(HashMap<u32, Arc<dyn Any + Send + Sync>>);

impl ProgramTable for Table {
    fn program(&self, id: u32) -> Option<Arc<dyn Any + Send + Sync>> {
        self.0.get(&id).cloned()
    }
}

impl IdResolver for Table {
    fn map(&self, _: u32) -> Option<Arc<Map>> {
        None
    }
    fn prog_exists(&self, id: u32) -> bool {
        self.0.contains_key(&id)
    }
}

/// Budget of every run unless a test says otherwise (both engines count instructions).
const BUDGET: Option<u64> = Some(1_000_000);

fn new_map(t: MapType, key: u32, value: u32, entries: u32) -> Arc<Map> {
    Map::new(&MapDef::new(t, key, value, entries)).unwrap()
}

/// The results array (map 0, one value of 8 u64 slots) and a prog array (map 1).
fn maps() -> Vec<Arc<Map>> {
    vec![
        new_map(MapType::Array, 4, 64, 1),
        new_map(MapType::ProgArray, 4, 4, 8),
    ]
}

fn results(m: &Map) -> Vec<u8> {
    m.lookup(&0u32.to_ne_bytes()).unwrap().to_vec()
}

fn context(maps: &[Arc<Map>], table: &Arc<Table>) -> RunContext {
    let mut ctx = RunContext::new();
    for m in maps {
        ctx.add_map(m);
    }
    ctx.set_programs(Some(Arc::clone(table) as Arc<dyn ProgramTable>));
    ctx
}

/// What a run left behind, for comparison between engine combinations.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<u64, RunError>,
    insn_count: u64,
    tail_calls: u32,
    results: Vec<u8>,
}

/// Loads `programs` (id, source) with the caller (`entry`) on `caller` and every other
/// program on `target`, fills the prog array slots (index, id), runs `entry` once per
/// `(r1, r2)` input on fresh maps each time and returns the outcomes.
fn scenario(
    caller: Kind,
    target: Kind,
    programs: &[(u32, &str)],
    slots: &[(u32, u32)],
    entry: u32,
    inputs: &[(u64, u64)],
    budget: Option<u64>,
) -> Vec<Outcome> {
    inputs
        .iter()
        .map(|&(r1, r2)| {
            let maps = maps();
            let mut table = Table::default();
            let mut entry_prog = None;
            for &(id, src) in programs {
                let kind = if id == entry { caller } else { target };
                let p = Prog::load(kind, src, &maps, budget);
                table.0.insert(id, p.any());
                if id == entry {
                    entry_prog = Some(p);
                }
            }
            // An object that is no program at all: not runnable by either engine.
            table.0.insert(99, Arc::new(7u32));
            let table = Arc::new(table);
            maps[1].set_resolver(Arc::clone(&table) as Arc<dyn IdResolver>);
            for &(i, id) in slots {
                maps[1]
                    .update(&i.to_ne_bytes(), &id.to_ne_bytes(), BPF_ANY)
                    .unwrap();
            }
            // Program 4 is unloaded after being stored in a slot.
            let run_table = Arc::new(Table(
                table
                    .0
                    .iter()
                    .filter(|(&id, _)| id != UNLOADED)
                    .map(|(&id, p)| (id, Arc::clone(p)))
                    .collect(),
            ));
            let mut ctx = context(&maps, &run_table);
            let result = entry_prog.expect("entry program").run(&mut ctx, r1, r2);
            Outcome {
                result,
                insn_count: ctx.insn_count,
                tail_calls: ctx.tail_call_count,
                results: results(&maps[0]),
            }
        })
        .collect()
}

/// Id of a program the run's table lacks (unloaded after being stored in a slot).
const UNLOADED: u32 = 4;

/// Runs `scenario` for every caller/target engine pair and requires identical outcomes
/// (when the budget runs out, only that it does: compiled code stops at a basic block's
/// first instruction, the interpreter at the first instruction that does not fit); returns
/// the interpreter's.
fn all_engines_agree(
    programs: &[(u32, &str)],
    slots: &[(u32, u32)],
    entry: u32,
    inputs: &[(u64, u64)],
    budget: Option<u64>,
) -> Vec<Outcome> {
    let want = scenario(
        Kind::Interp,
        Kind::Interp,
        programs,
        slots,
        entry,
        inputs,
        budget,
    );
    for caller in KINDS {
        for target in KINDS {
            let got = scenario(caller, target, programs, slots, entry, inputs, budget);
            for (g, w) in got.iter().zip(&want) {
                if let (Err(RunError::Budget { .. }), Err(RunError::Budget { .. })) =
                    (&g.result, &w.result)
                {
                    continue;
                }
                assert_eq!(g, w, "caller {caller:?}, target {target:?}");
            }
        }
    }
    want
}

/// Tail call to index r2 with ctx r1; falls through to r0 = 1000 + index.
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
const TAIL_SELF: &str = "
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
fn tail_calls_jump_fall_through_and_stop_at_the_limit() {
    let programs = [
        (1, TAIL_CALLER),
        (2, "r0 = r1\nr0 += 5\nexit"),
        (3, TAIL_SELF),
        (UNLOADED, "r0 = 0\nexit"),
    ];
    // Slot 3 names program 4, which is not loaded; slot 5 an object that is no program.
    let slots = [(0, 2), (2, 3), (3, 4)];
    let inputs = [(40, 0), (40, 1), (40, 3), (40, 9), (40, 2)];
    let out = all_engines_agree(&programs, &slots, 1, &inputs, BUDGET);
    assert_eq!(out[0].result, Ok(45));
    assert_eq!(out[1].result, Ok(1001));
    assert_eq!(out[2].result, Ok(1003));
    assert_eq!(out[3].result, Ok(1009));
    // Slot 2: program 3 then 33 tail calls of itself, the 34th fails and it returns 2.
    assert_eq!(out[4].result, Ok(2));
    assert_eq!(out[4].tail_calls, 33);
    assert_eq!(out[4].results[..8], 33u64.to_ne_bytes());
    // Entering at program 3 directly: 34 runs.
    let out = all_engines_agree(&programs, &slots, 3, &[(0, 0)], BUDGET);
    assert_eq!(out[0].results[..8], 34u64.to_ne_bytes());
}

#[test]
fn tail_calls_share_the_budget() {
    // 33 runs of 7 instructions and a last one of 9.
    let programs = [(3, TAIL_SELF)];
    for budget in [5, 9, 10, 50, 100, 150, 239] {
        let out = all_engines_agree(&programs, &[(2, 3)], 3, &[(0, 0)], Some(budget));
        assert!(
            matches!(out[0].result, Err(RunError::Budget { .. })),
            "{budget}: {:?}",
            out[0].result
        );
    }
    let out = all_engines_agree(&programs, &[(2, 3)], 3, &[(0, 0)], Some(240));
    assert_eq!((&out[0].result, out[0].insn_count), (&Ok(2), 240));
}

#[test]
fn tail_call_from_a_subprogram_returns_to_its_caller() {
    let main = "
        r6 = 7
        call f
        r0 += r6
        exit
    f:
        r6 = 1000
        r2 = map[idx:1]
        r3 = 0
        call bpf_tail_call
        r0 = 100
        exit";
    // The target uses its own subprogram and stack in the subprogram's frame.
    let target = "
        *(u64 *)(r10 - 8) = r1
        call g
        r0 *= 3
        exit
    g:
        r0 = r1
        exit";
    let out = all_engines_agree(&[(1, main), (7, target)], &[(0, 7)], 1, &[(5, 0)], BUDGET);
    assert_eq!(out[0].result, Ok(5 * 3 + 7));
}

#[test]
fn tail_call_targets_that_cannot_run() {
    let out = all_engines_agree(&[(1, TAIL_CALLER)], &[(4, 99)], 1, &[(40, 4)], BUDGET);
    assert_eq!(
        out[0].result,
        Err(RunError::TailCallTarget {
            slot: 4,
            prog_id: 99
        })
    );
    // A target that faults: the error names the target's slot.
    let bad = "r0 = *(u64 *)(r1 + 0)\nexit";
    let out = all_engines_agree(
        &[(1, TAIL_CALLER), (2, bad)],
        &[(0, 2)],
        1,
        &[(8, 0)],
        BUDGET,
    );
    assert!(matches!(
        out[0].result,
        Err(RunError::Memory { slot: 0, .. })
    ));
}

/// bpf_loop with a callback summing its index into a stack slot, one stopping early, and
/// a callback that itself loops (nested frames).
const LOOP: &str = "
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
    r1 = 3
    r2 = subprog[outer]
    r3 = r10
    r3 += -8
    r4 = 0
    call bpf_loop
    r1 = *(u64 *)(r10 - 8)
    *(u64 *)(r9 + 24) = r1
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
outer:
    r1 = 4
    r2 = subprog[sum]
    r3 = r10
    r3 += 512
    r3 += -8
    r4 = 0
    call bpf_loop
    r0 = 0
    exit
";

#[test]
fn callbacks_match_the_interpreter() {
    let out = all_engines_agree(&[(1, LOOP)], &[], 1, &[(0, 0)], BUDGET);
    assert_eq!(out[0].result, Ok(2));
    let r = &out[0].results;
    let at = |i: usize| u64::from_ne_bytes(r[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!((at(0), at(1), at(2), at(3)), (10, 45, 4, 45 + 3 * 6));
    // Budgets that run out inside callbacks, at various depths, and one that just fits:
    // callbacks use exactly the run's budget.
    let used = out[0].insn_count;
    for budget in [20, 60, 100, used / 2, used - 1] {
        let out = all_engines_agree(&[(1, LOOP)], &[], 1, &[(0, 0)], Some(budget));
        assert!(matches!(out[0].result, Err(RunError::Budget { .. })));
    }
    let out = all_engines_agree(&[(1, LOOP)], &[], 1, &[(0, 0)], Some(used));
    assert_eq!((&out[0].result, out[0].insn_count), (&Ok(2), used));
}

#[test]
fn callback_errors_match_the_interpreter() {
    // Not a function, a fault inside the callback, a callback chain beyond 8 frames.
    let not_func = "
        r1 = 2
        r2 = 1
        r3 = 0
        r4 = 0
        call bpf_loop
        exit";
    let out = all_engines_agree(&[(1, not_func)], &[], 1, &[(0, 0)], BUDGET);
    assert_eq!(
        out[0].result,
        Err(RunError::BadCallback { slot: 4, func: 1 })
    );
    let faults = "
        r1 = 2
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call bpf_loop
        exit
    cb:
        r0 = *(u64 *)(r2 + 0)
        exit";
    let out = all_engines_agree(&[(1, faults)], &[], 1, &[(0, 0)], BUDGET);
    assert!(matches!(
        out[0].result,
        Err(RunError::Memory { slot: 7, .. })
    ));
    let deep = "
        r1 = 1
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call bpf_loop
        exit
    cb:
        r1 = 1
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call bpf_loop
        exit";
    let out = all_engines_agree(&[(1, deep)], &[], 1, &[(0, 0)], BUDGET);
    assert!(matches!(out[0].result, Err(RunError::CallDepth { .. })));
}

#[test]
fn tail_call_from_a_callback() {
    // The callback is replaced by the target; bpf_loop sees the target's r0.
    let main = "
        r1 = 5
        r2 = subprog[cb]
        r3 = 0
        r4 = 0
        call bpf_loop
        exit
    cb:
        r6 = r1
        r1 = r6
        r2 = map[idx:1]
        r3 = 0
        call bpf_tail_call
        r0 = 0
        exit";
    // Stops the loop at index 2 (returns 1), counting its runs.
    let target = "
        r9 = map[idx:0]+0
        r2 = *(u64 *)(r9 + 0)
        r2 += 1
        *(u64 *)(r9 + 0) = r2
        r0 = 0
        if r1 != 2 goto +1
        r0 = 1
        exit";
    let out = all_engines_agree(&[(1, main), (2, target)], &[(0, 2)], 1, &[(0, 0)], BUDGET);
    assert_eq!(out[0].result, Ok(3));
    assert_eq!(out[0].results[..8], 3u64.to_ne_bytes());
    assert_eq!(out[0].tail_calls, 3);
}
