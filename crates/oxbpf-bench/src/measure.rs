//! Timing: medians of batches, sized so each batch is long enough for the clock.
//!
//! User-space engines are timed with the measuring thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a shared machine the thread is
//! descheduled now and then, and the kernel's `BPF_PROG_TEST_RUN` timer likewise stops
//! while it yields the CPU (`bpf_test_timer_continue`), so both columns count only the
//! time spent running.

use std::hint::black_box;
use std::time::Duration;

/// CPU time consumed by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// How long to measure each engine on each benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Minimum duration of one batch.
    pub batch: Duration,
    /// Batches per round.
    pub batches: usize,
    /// Rounds: each round times every engine in turn, so that a noisy period on a shared
    /// machine spreads over all engines instead of skewing one. The median over all
    /// batches of all rounds is reported.
    pub rounds: usize,
}

impl Budget {
    /// The default: 3 rounds of 7 batches of at least 10 ms.
    pub const DEFAULT: Budget = Budget {
        batch: Duration::from_millis(10),
        batches: 7,
        rounds: 3,
    };
    /// A quick pass (`--quick`): 1 round of 5 batches of 1 ms.
    pub const QUICK: Budget = Budget {
        batch: Duration::from_millis(1),
        batches: 5,
        rounds: 1,
    };
}

/// Median of a non-empty sample set (mean of the middle two for even sizes).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// Runs `f` in `budget.batches` batches and returns each batch's time per call in
/// nanoseconds. The batch size grows until one batch lasts `budget.batch`.
pub fn ns_per_run(budget: Budget, mut f: impl FnMut() -> u64) -> Vec<f64> {
    let mut iters: u64 = 1;
    loop {
        let t = time_batch(&mut f, iters);
        if t >= budget.batch || iters >= 1 << 30 {
            break;
        }
        // Aim straight for the target once the batch is measurable.
        let grow = if t.as_nanos() > 10_000 {
            (budget.batch.as_nanos() as f64 / t.as_nanos() as f64 * 1.2).ceil() as u64
        } else {
            8
        };
        iters = iters.saturating_mul(grow.max(2));
    }
    (0..budget.batches)
        .map(|_| time_batch(&mut f, iters).as_nanos() as f64 / iters as f64)
        .collect()
}

fn time_batch(f: &mut impl FnMut() -> u64, iters: u64) -> Duration {
    let start = thread_cpu_time();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu_time().saturating_sub(start)
}

/// Median of `n` timings of `f` (for one-off operations such as loading).
pub fn median_duration(n: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<f64> = (0..n.max(1))
        .map(|_| {
            let start = thread_cpu_time();
            f();
            thread_cpu_time().saturating_sub(start).as_nanos() as f64
        })
        .collect();
    Duration::from_nanos(median(&mut samples) as u64)
}
