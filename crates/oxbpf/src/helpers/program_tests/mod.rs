//! Helpers exercised through real programs in the interpreter (assembled from LLVM
//! syntax), and compared with the kernel where bpf(2) is available.

mod callbacks;
#[cfg(target_os = "linux")]
mod errnos;
#[cfg(target_os = "linux")]
mod kernel;
mod maps;
mod misc;

use std::sync::Arc;

use crate::asm::assemble_located;
use crate::helpers::Registry;
use crate::interp::{Interpreter, Mode, RunError};
use crate::maps::{Map, MapDef, MapType};
use crate::vm::{MapRef, MapResolver, RunContext};

/// Maps by index: `map[idx:N]` and `map[fd:N]` both name `maps[N]`.
pub(super) struct Maps(pub Vec<Arc<Map>>);

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

pub(super) fn map(t: MapType, key: u32, value: u32, entries: u32) -> Arc<Map> {
    Map::new(&MapDef::new(t, key, value, entries)).unwrap()
}

/// Loads `src` with `maps` resolvable.
pub(super) fn load(src: &str, maps: &[Arc<Map>]) -> Interpreter {
    let insns = assemble_located(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    Interpreter::with_maps(&insns, &Registry::standard(), &Maps(maps.to_vec()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A context with `maps` registered.
pub(super) fn context(maps: &[Arc<Map>]) -> RunContext {
    let mut ctx = RunContext::new();
    for m in maps {
        ctx.add_map(m);
    }
    ctx
}

/// Runs `src` in checked mode with `maps`, returning `r0`.
pub(super) fn run(src: &str, maps: &[Arc<Map>]) -> Result<u64, RunError> {
    load(src, maps).run(&mut context(maps), 0, 0)
}

/// Runs `src` in checked and then unchecked mode (on the same maps, state carries over);
/// both must succeed; returns both `r0`s.
pub(super) fn run_both(src: &str, maps: &[Arc<Map>]) -> (u64, u64) {
    let mut vm = load(src, maps);
    let a = vm.run(&mut context(maps), 0, 0).unwrap();
    // SAFETY: the checked run of the same program made only valid accesses; the tests
    // using this helper are deterministic in their memory accesses.
    unsafe { vm.set_mode(Mode::Unchecked) };
    let b = vm.run(&mut context(maps), 0, 0).unwrap();
    (a, b)
}

/// `-errno` as `r0`.
pub(super) fn neg(e: i64) -> u64 {
    (-e) as u64
}

/// The results array most test programs write to: map 0, one value of `n` u64 slots,
/// addressed directly (`r9 = map[idx:0]+0`).
pub(super) fn results_map(n: u32) -> Arc<Map> {
    map(MapType::Array, 4, 8 * n, 1)
}

/// The slots of a results map, as signed values.
pub(super) fn results(m: &Map) -> Vec<i64> {
    m.lookup(&0u32.to_ne_bytes())
        .unwrap()
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}
