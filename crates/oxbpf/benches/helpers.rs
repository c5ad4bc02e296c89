//! Helper calls from interpreted programs: map lookups (array, hash), updates, and
//! `bpf_loop` callbacks. Throughput is in helper calls (or callback iterations) per second.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxbpf::asm::assemble_located;
use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::maps::{Map, MapDef, MapType, BPF_ANY};
use oxbpf::vm::{MapRef, MapResolver, RunContext};

const N: u64 = 100_000;

struct One(Arc<Map>);

impl MapResolver for One {
    fn map_handle(&self, _: MapRef) -> Option<u64> {
        Some(self.0.handle())
    }
    fn map_value_addr(&self, _: MapRef, _: u32) -> Option<u64> {
        None
    }
}

/// N iterations of: key = i % 64; call `helper` on map 0 with key (and the key as value).
fn program(helper: &str) -> String {
    format!(
        "
        r6 = 0
    again:
        r1 = r6
        r1 &= 63
        *(u32 *)(r10 - 4) = r1
        *(u64 *)(r10 - 16) = r6
        r1 = map[idx:0]
        r2 = r10
        r2 += -4
        r3 = r10
        r3 += -16
        r4 = 0
        call {helper}
        r6 += 1
        if r6 < {N} goto again
        r0 = 0
        exit"
    )
}

const LOOP: &str = "
    r1 = 100000
    r2 = subprog[cb]
    r3 = 0
    r4 = 0
    call bpf_loop
    exit
cb:
    r0 = 0
    exit";

fn bench(c: &mut Criterion) {
    let helpers = Registry::standard();
    let mut group = c.benchmark_group("helpers");
    group.throughput(Throughput::Elements(N));
    let array = Map::new(&MapDef::new(MapType::Array, 4, 8, 64)).unwrap();
    let hash = Map::new(&MapDef::new(MapType::Hash, 4, 8, 64)).unwrap();
    for k in 0..64u32 {
        hash.update(&k.to_ne_bytes(), &0u64.to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    let cases = [
        ("array_lookup", &array, program("bpf_map_lookup_elem")),
        ("hash_lookup", &hash, program("bpf_map_lookup_elem")),
        ("hash_update", &hash, program("bpf_map_update_elem")),
        ("loop_callback", &array, LOOP.to_string()),
    ];
    for (name, map, src) in cases {
        let insns = assemble_located(&src).unwrap();
        for mode in [Mode::Checked, Mode::Unchecked] {
            let mut vm = Interpreter::with_maps(&insns, &helpers, &One(Arc::clone(map))).unwrap();
            vm.set_budget(None);
            // SAFETY: the programs touch only their stack and pass valid keys and values;
            // the checked run below succeeds first.
            unsafe { vm.set_mode(mode) };
            let mut ctx = RunContext::new();
            ctx.add_map(map);
            vm.run(&mut ctx, 0, 0).unwrap();
            group.bench_function(format!("{name}/{mode:?}"), |b| {
                b.iter(|| vm.run(&mut ctx, 0, 0).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
