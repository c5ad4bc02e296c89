//! oxbpf's benchmark suite: the same eBPF programs (C in `bench/programs`, built with
//! clang-19 `-O2 -target bpf`) timed in one run on
//!
//! - oxbpf's interpreter, checked (every access bounds-checked) and unchecked,
//! - oxbpf's JIT, checked and unchecked,
//! - the `rbpf` crate's interpreter and JIT,
//! - the kernel's JIT, through `BPF_PROG_TEST_RUN` with `repeat`,
//! - the same C compiled natively with `-O2` (build.rs),
//!
//! and checked: every engine must return the same `r0`, or the suite panics.
//!
//! Run it with `cargo bench -p oxbpf-bench` (see bench/RESULTS.md).
//!
//! # Common ground
//! The programs are XDP programs (`ctx->data`/`ctx->data_end` with bounds checks), so
//! the kernel verifier accepts them unchanged. oxbpf, rbpf and native code run the same
//! instructions on a packet mapped below 4 GiB, where the 32-bit `xdp_md` fields hold
//! real addresses ([`lowmem`]); no engine needs a prologue or a rewrite, and only the
//! kernel rewrites its context loads (as it does for any XDP program). Results are
//! compared on the low 32 bits, the `int` the programs return (the kernel's `retval` and
//! native code have no more), and on all 64 bits between oxbpf and rbpf.

// x86-64 Linux only: the kernel column needs bpf(2), the packet needs MAP_32BIT, and the
// JITs under test emit x86-64 code. Elsewhere the crate is empty and the suite says so.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

pub mod engines;
pub mod kernel;
pub mod lowmem;
pub mod measure;
pub mod programs;
pub mod report;
pub mod testrun;
pub mod verify;

use oxbpf::interp::Mode;

use engines::{LoadTime, Outcome, RbpfMode};
use measure::Budget;
use programs::Benchmark;

/// The engines, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// oxbpf interpreter, checked mode.
    Interp,
    /// oxbpf interpreter, unchecked mode.
    InterpUnchecked,
    /// oxbpf JIT, checked mode.
    Jit,
    /// oxbpf JIT, unchecked mode.
    JitUnchecked,
    /// rbpf interpreter.
    RbpfInterp,
    /// rbpf JIT.
    RbpfJit,
    /// The kernel's JIT (raw `BPF_PROG_TEST_RUN` time per run).
    Kernel,
    /// Native code.
    Native,
}

impl Engine {
    /// Every engine, in table order.
    pub const ALL: [Engine; 8] = [
        Engine::Interp,
        Engine::InterpUnchecked,
        Engine::Jit,
        Engine::JitUnchecked,
        Engine::RbpfInterp,
        Engine::RbpfJit,
        Engine::Kernel,
        Engine::Native,
    ];

    /// Column title.
    pub fn title(self) -> &'static str {
        match self {
            Engine::Interp => "oxbpf interp",
            Engine::InterpUnchecked => "oxbpf interp (unchecked)",
            Engine::Jit => "oxbpf JIT",
            Engine::JitUnchecked => "oxbpf JIT (unchecked)",
            Engine::RbpfInterp => "rbpf interp",
            Engine::RbpfJit => "rbpf JIT",
            Engine::Kernel => "kernel JIT",
            Engine::Native => "native -O2",
        }
    }

    /// Whether the engine reports the full 64-bit `r0`.
    fn full_r0(self) -> bool {
        !matches!(self, Engine::Kernel | Engine::Native)
    }
}

/// Suite options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Timing budget per engine and benchmark.
    pub budget: Budget,
    /// Only benchmarks whose name contains this (the empty program always runs: the
    /// kernel's overhead is subtracted with it).
    pub filter: Option<String>,
}

/// One benchmark's results, by [`Engine::ALL`] order.
pub struct Row {
    /// Benchmark name.
    pub name: &'static str,
    /// What it exercises.
    pub description: &'static str,
    /// Instruction slots of the program (an `lddw` takes two).
    pub slots: usize,
    /// oxbpf's verifier on the program (as XDP).
    pub verified: Result<engines::Verification, String>,
    /// Instructions the kernel's verifier processed (or why not known).
    pub kernel_processed: Result<u64, String>,
    /// Outcome per engine.
    pub results: Vec<(Engine, Outcome)>,
}

impl Row {
    /// The outcome of `engine`.
    pub fn get(&self, engine: Engine) -> Option<&Measured> {
        self.results
            .iter()
            .find(|(e, _)| *e == engine)
            .and_then(|(_, o)| o.as_ref().ok())
    }
}

pub use engines::Measured;

/// Load times of the large program, per engine.
pub struct LoadRow {
    /// Instruction slots of the program.
    pub slots: usize,
    /// (engine title, load time).
    pub times: Vec<(&'static str, LoadTime)>,
}

/// The whole run.
pub struct Report {
    /// Per benchmark, the empty program first.
    pub rows: Vec<Row>,
    /// Load times of the ~4,000-instruction program.
    pub load: Option<LoadRow>,
    /// Why the kernel was skipped, if it was.
    pub kernel_skipped: Option<String>,
}

/// A mismatch between engines: the benchmark, the engine, and both values.
#[derive(Debug, thiserror::Error)]
#[error("benchmark {bench}: {engine} returned r0 = {got:#x}, oxbpf interp returned {want:#x}")]
pub struct Mismatch {
    /// Benchmark name.
    pub bench: &'static str,
    /// The disagreeing engine.
    pub engine: &'static str,
    /// Its `r0` (low 32 bits for the kernel and native code).
    pub got: u64,
    /// oxbpf's checked interpreter's `r0`.
    pub want: u64,
}

/// Checks that every engine that ran agrees with oxbpf's checked interpreter.
pub fn check_row(row: &Row) -> Result<(), Mismatch> {
    let Some(reference) = row.get(Engine::Interp).map(|m| m.r0) else {
        return Ok(());
    };
    for (engine, outcome) in &row.results {
        let Ok(m) = outcome else { continue };
        let (got, want) = if engine.full_r0() {
            (m.r0, reference)
        } else {
            (m.r0 & 0xffff_ffff, reference & 0xffff_ffff)
        };
        if got != want {
            return Err(Mismatch {
                bench: row.name,
                engine: engine.title(),
                got,
                want,
            });
        }
    }
    Ok(())
}

/// The gist of why the kernel is unavailable, for table cells: `kernel::available`
/// says "<why>: <syscall error>" (the report's header has the whole reason).
fn short_reason(why: &str) -> &str {
    let first_line = why.lines().next().unwrap_or(why);
    first_line.split(": ").next().unwrap_or(first_line)
}

fn run_engine(
    engine: Engine,
    bench: &Benchmark,
    loaded: &programs::Loaded,
    kernel_skipped: &Option<String>,
    budget: Budget,
) -> Outcome {
    match engine {
        Engine::Interp => engines::oxbpf_interp(bench, loaded, Mode::Checked, budget),
        Engine::InterpUnchecked => engines::oxbpf_interp(bench, loaded, Mode::Unchecked, budget),
        Engine::Jit => engines::oxbpf_jit(bench, loaded, Mode::Checked, budget),
        Engine::JitUnchecked => engines::oxbpf_jit(bench, loaded, Mode::Unchecked, budget),
        Engine::RbpfInterp => engines::rbpf(bench, loaded, RbpfMode::Interp, budget),
        Engine::RbpfJit => engines::rbpf(bench, loaded, RbpfMode::Jit, budget),
        Engine::Kernel => match kernel_skipped {
            Some(why) => Err(format!("skipped: {}", short_reason(why))),
            None => kernel::load(bench, loaded)
                .map_err(|e| format!("skipped: {e}"))
                .and_then(|kp| kernel::measure(&kp, &(bench.input)(), budget)),
        },
        Engine::Native => engines::native(bench, loaded, budget),
    }
}

/// Runs the suite; `progress` receives a line per step. Panics (with the
/// [`Mismatch`]) if two engines disagree on a result, and if a benchmark object does
/// not load or oxbpf's interpreter fails on it.
pub fn run(opts: &Options, mut progress: impl FnMut(&str)) -> Report {
    let kernel_skipped = kernel::unavailable();
    let mut rows = Vec::new();
    let mut load = None;
    for bench in programs::all() {
        let wanted = bench.name == programs::EMPTY
            || opts
                .filter
                .as_deref()
                .is_none_or(|f| bench.name.contains(f));
        if !wanted {
            continue;
        }
        let loaded = bench.load().unwrap_or_else(|e| panic!("{e}"));
        let mut results: Vec<(Engine, Outcome)> = Vec::new();
        for round in 0..opts.budget.rounds.max(1) {
            for engine in Engine::ALL {
                progress(&format!(
                    "{:<8} {} (round {}/{})",
                    bench.name,
                    engine.title(),
                    round + 1,
                    opts.budget.rounds.max(1)
                ));
                let outcome = run_engine(engine, &bench, &loaded, &kernel_skipped, opts.budget);
                if engine == Engine::Interp {
                    if let Err(e) = &outcome {
                        panic!("benchmark {}: oxbpf interpreter failed: {e}", bench.name);
                    }
                }
                merge_round(&bench, engine, &mut results, outcome);
            }
        }
        let row = Row {
            name: bench.name,
            description: bench.description,
            slots: loaded.program.insns.len(),
            verified: engines::oxbpf_verify(&loaded, 5),
            kernel_processed: match &kernel_skipped {
                Some(why) => Err(format!("skipped: {}", short_reason(why))),
                None => kernel::verifier_processed(&bench, &loaded),
            },
            results,
        };
        if let Err(m) = check_row(&row) {
            panic!("{m}");
        }
        rows.push(row);
        if bench.name == programs::LARGE {
            progress("large    load times");
            load = Some(load_row(&bench, &loaded, &kernel_skipped));
        }
    }
    Report {
        rows,
        load,
        kernel_skipped,
    }
}

/// Adds one round's outcome to an engine's results: samples accumulate; a result that
/// changes between rounds is a failure; the first error stays.
fn merge_round(
    bench: &Benchmark,
    engine: Engine,
    results: &mut Vec<(Engine, Outcome)>,
    outcome: Outcome,
) {
    let Some((_, existing)) = results.iter_mut().find(|(e, _)| *e == engine) else {
        results.push((engine, outcome));
        return;
    };
    if let (Ok(have), Ok(new)) = (existing.as_mut(), outcome) {
        if have.r0 != new.r0 || have.insns != new.insns {
            panic!(
                "benchmark {}: {} returned r0 = {:#x} ({:?} insns), then {:#x} ({:?} insns)",
                bench.name,
                engine.title(),
                have.r0,
                have.insns,
                new.r0,
                new.insns
            );
        }
        have.samples.extend(new.samples);
    }
}

fn load_row(
    bench: &Benchmark,
    loaded: &programs::Loaded,
    kernel_skipped: &Option<String>,
) -> LoadRow {
    let [interp, jit, rbpf_interp, rbpf_jit] = engines::load_times(bench, loaded, 21);
    let kernel = match kernel_skipped {
        Some(why) => Err(format!("skipped: {}", short_reason(why))),
        None => kernel::load_time(bench, loaded, 7).map_err(|e| format!("skipped: {e}")),
    };
    let verify = engines::oxbpf_verify(loaded, 21).map(|v| v.time);
    LoadRow {
        slots: loaded.program.insns.len(),
        times: vec![
            ("oxbpf verifier (as XDP)", verify),
            ("oxbpf interp (decode + validate + lower)", interp),
            ("oxbpf JIT (decode + validate + compile)", jit),
            ("rbpf interp (verifier)", rbpf_interp),
            ("rbpf JIT (verifier + compile)", rbpf_jit),
            ("kernel (BPF_PROG_LOAD: verifier + JIT)", kernel),
        ],
    }
}
