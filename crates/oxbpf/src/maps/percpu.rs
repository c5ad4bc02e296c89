//! CPU ids for per-CPU maps: the runtime says which "CPU" a worker thread is, and per-CPU
//! maps index their value slots by it, as the kernel does with `smp_processor_id()`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    static CURRENT_CPU: Cell<u32> = const { Cell::new(0) };
}

/// 0 means "not configured yet": fall back to the host's parallelism.
static POSSIBLE_CPUS: AtomicU32 = AtomicU32::new(0);

/// The CPU id of the calling thread, as set by [`set_current_cpu`] (0 if never set).
///
/// Program-side operations on per-CPU maps (and `BPF_F_CURRENT_CPU` for perf output) use
/// it. A value at or above a map's CPU count is reduced modulo that count, so a bad id can
/// never index outside the map.
#[doc(alias = "smp_processor_id")]
pub fn current_cpu() -> u32 {
    CURRENT_CPU.with(Cell::get)
}

/// Set the CPU id of the calling thread; the runtime calls this on each worker thread.
pub fn set_current_cpu(cpu: u32) {
    CURRENT_CPU.with(|c| c.set(cpu));
}

/// The number of possible CPUs: what per-CPU maps allocate slots for and what a perf event
/// array with `max_entries == 0` gets. Defaults to `std::thread::available_parallelism`.
pub fn num_possible_cpus() -> u32 {
    match POSSIBLE_CPUS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1),
        n => n,
    }
}

/// Override the number of possible CPUs for maps created from now on (0 restores the
/// default). Maps already created keep their count.
pub fn set_num_possible_cpus(n: u32) {
    POSSIBLE_CPUS.store(n, Ordering::Relaxed);
}

/// Bytes one CPU's value takes in per-CPU storage and in the user-space per-CPU layout:
/// the value size rounded up to 8, as the kernel's `round_up(value_size, 8)`.
pub(crate) fn percpu_stride(value_size: u32) -> usize {
    round8(value_size as usize)
}

/// Round up to a multiple of 8 (sizes here are far below `usize::MAX`).
pub(crate) fn round8(n: usize) -> usize {
    (n + 7) & !7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_id_is_per_thread() {
        set_current_cpu(3);
        assert_eq!(current_cpu(), 3);
        let other = std::thread::spawn(current_cpu).join().expect("thread");
        assert_eq!(other, 0);
        set_current_cpu(0);
    }

    #[test]
    fn rounding() {
        assert_eq!(percpu_stride(1), 8);
        assert_eq!(percpu_stride(8), 8);
        assert_eq!(percpu_stride(9), 16);
    }
}
