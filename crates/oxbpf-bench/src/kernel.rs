//! The kernel's JIT: the benchmark loaded with `BPF_PROG_LOAD` as XDP and timed with
//! `BPF_PROG_TEST_RUN`'s `repeat` (the kernel measures the loop itself and reports the
//! mean per run; we take the median over several calls).

use std::os::fd::{AsFd, AsRawFd};

use oxbpf::kernel::{self, Map, MapCreate, ProgLoad, Program, TestRun, BPF_ANY};

use crate::engines::{LoadTime, Measured, Outcome};
use crate::measure::{self, Budget};
use crate::programs::{self, Benchmark, Loaded};

/// A benchmark loaded in the kernel with its maps.
pub struct KernelProgram {
    prog: Program,
    _maps: Vec<Map>,
}

/// Why the kernel column is skipped on this machine, if it is.
pub fn unavailable() -> Option<String> {
    kernel::available().err()
}

fn create_maps(bench: &Benchmark, loaded: &Loaded) -> Result<Vec<Map>, String> {
    let mut maps = Vec::new();
    for spec in &loaded.maps {
        let map = Map::create(&MapCreate {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            flags: spec.map_flags,
            name: "oxbpf_bench",
            ..MapCreate::default()
        })
        .map_err(|e| format!("map {}: {e}", spec.name))?;
        if spec.map_type == kernel::MAP_TYPE_HASH {
            for (k, v) in programs::prefill(bench.prefill_keys) {
                map.update(&k, &v, BPF_ANY)
                    .map_err(|e| format!("prefilling {}: {e}", spec.name))?;
            }
        }
        maps.push(map);
    }
    Ok(maps)
}

fn load_prog(loaded: &Loaded, maps: &[Map]) -> Result<Program, String> {
    load_prog_log(loaded, maps, 0)
}

fn load_prog_log(loaded: &Loaded, maps: &[Map], log_level: u32) -> Result<Program, String> {
    let fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let insns = loaded
        .program
        .bind_maps(&fds)
        .map_err(|m| format!("map {m} unbound"))?
        .concat();
    Program::load(&ProgLoad {
        name: "oxbpf_bench",
        log_level,
        ..ProgLoad::new(kernel::PROG_TYPE_XDP, &insns)
    })
    .map_err(|e| format!("load failed: {e}"))
}

/// Creates the maps and loads the program.
pub fn load(bench: &Benchmark, loaded: &Loaded) -> Result<KernelProgram, String> {
    let maps = create_maps(bench, loaded)?;
    let prog = load_prog(loaded, &maps)?;
    Ok(KernelProgram { prog, _maps: maps })
}

/// Times the program: median over `budget.batches` test runs, each repeating the program
/// for about `budget.batch`. `r0` is the kernel's 32-bit `retval`.
pub fn measure(kp: &KernelProgram, input: &[u8], budget: Budget) -> Outcome {
    let run = |repeat: u32| {
        kp.prog
            .test_run(&TestRun {
                data_in: input,
                repeat,
                ..TestRun::default()
            })
            .map_err(|e| format!("test_run failed: {e}"))
    };
    let first = run(1000)?;
    let per_run = u128::from(first.duration_ns.max(1));
    let repeat = (budget.batch.as_nanos() / per_run).clamp(1000, 50_000_000) as u32;
    let mut samples = Vec::with_capacity(budget.batches);
    for _ in 0..budget.batches {
        let out = run(repeat)?;
        if out.retval != first.retval {
            return Err(format!(
                "retval changed between runs: {} then {}",
                first.retval, out.retval
            ));
        }
        samples.push(f64::from(out.duration_ns));
    }
    Ok(Measured {
        r0: u64::from(first.retval),
        samples,
        insns: None,
    })
}

/// Median time of `BPF_PROG_LOAD` (verification and JIT) over `n` loads; maps are created
/// once, outside the timing.
pub fn load_time(bench: &Benchmark, loaded: &Loaded, n: usize) -> LoadTime {
    let maps = create_maps(bench, loaded)?;
    load_prog(loaded, &maps)?;
    Ok(measure::median_duration(n, || {
        let _ = std::hint::black_box(load_prog(loaded, &maps));
    }))
}

/// `BPF_LOG_STATS`: the verifier's summary line only.
const BPF_LOG_STATS: u32 = 4;

/// Instructions the kernel's verifier processed for the program (from its
/// `processed N insns` summary).
pub fn verifier_processed(bench: &Benchmark, loaded: &Loaded) -> Result<u64, String> {
    let maps = create_maps(bench, loaded)?;
    let prog = load_prog_log(loaded, &maps, BPF_LOG_STATS)?;
    prog.log()
        .split("processed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| "no 'processed N insns' in the verifier log".into())
}
