//! Timing: medians of batches, sized so each batch is long enough for the clock.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long to measure each engine on each benchmark.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Minimum duration of one batch.
    pub batch: Duration,
    /// Number of batches (the median is reported).
    pub batches: usize,
}

impl Budget {
    /// The default: 15 batches of at least 4 ms.
    pub const DEFAULT: Budget = Budget {
        batch: Duration::from_millis(4),
        batches: 15,
    };
    /// A quick pass (`--quick`): 5 batches of 1 ms.
    pub const QUICK: Budget = Budget {
        batch: Duration::from_millis(1),
        batches: 5,
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

/// Runs `f` in batches and returns the median time per call in nanoseconds. The batch
/// size is doubled until one batch lasts `budget.batch`.
pub fn ns_per_run(budget: Budget, mut f: impl FnMut() -> u64) -> f64 {
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
    let mut samples: Vec<f64> = (0..budget.batches)
        .map(|_| time_batch(&mut f, iters).as_nanos() as f64 / iters as f64)
        .collect();
    median(&mut samples)
}

fn time_batch(f: &mut impl FnMut() -> u64, iters: u64) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    start.elapsed()
}

/// Median of `n` timings of `f` (for one-off operations such as loading).
pub fn median_duration(n: usize, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<f64> = (0..n.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_nanos() as f64
        })
        .collect();
    Duration::from_nanos(median(&mut samples) as u64)
}
