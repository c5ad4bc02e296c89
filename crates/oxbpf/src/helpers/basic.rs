//! Helpers without memory arguments: clocks, random numbers, CPU and NUMA ids.

use super::{kernel_helper, Helper, HelperProto, RetKind};
use crate::vm::RunContext;

/// Ticks per second of `bpf_jiffies64` (the kernel's `CONFIG_HZ`; 250 is the common
/// distribution default and what the development machine's kernel uses).
pub const JIFFIES_HZ: u64 = 250;

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in nanoseconds (what `bpf_ktime_get_ns` returns).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_BOOTTIME` in nanoseconds (monotonic, including suspend).
pub fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// `u64 bpf_ktime_get_ns(void)`.
pub extern "C" fn bpf_ktime_get_ns(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    monotonic_ns()
}

/// `u64 bpf_ktime_get_boot_ns(void)`.
pub extern "C" fn bpf_ktime_get_boot_ns(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    boottime_ns()
}

/// `u64 bpf_jiffies64(void)`: monotonic time in ticks of [`JIFFIES_HZ`].
pub extern "C" fn bpf_jiffies64(_: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    monotonic_ns() / (1_000_000_000 / JIFFIES_HZ)
}

/// `u32 bpf_get_prandom_u32(void)`, from the run context's generator.
pub extern "C" fn bpf_get_prandom_u32(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    ctx.prandom_u32() as u64
}

/// `u32 bpf_get_smp_processor_id(void)`: the run context's CPU id.
pub extern "C" fn bpf_get_smp_processor_id(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    ctx.cpu_id as u64
}

/// `long bpf_get_numa_node_id(void)`: oxbpf models a single NUMA node.
pub extern "C" fn bpf_get_numa_node_id(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    0
}

const NO_ARGS: HelperProto = HelperProto::new(&[], RetKind::Integer);

/// The helpers of this file with their kernel prototypes (none GPL-only, all types).
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(5, bpf_ktime_get_ns, NO_ARGS),
    kernel_helper(7, bpf_get_prandom_u32, NO_ARGS),
    kernel_helper(8, bpf_get_smp_processor_id, NO_ARGS),
    kernel_helper(42, bpf_get_numa_node_id, NO_ARGS),
    kernel_helper(118, bpf_jiffies64, NO_ARGS),
    kernel_helper(125, bpf_ktime_get_boot_ns, NO_ARGS),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_and_ids() {
        let mut ctx = RunContext::new();
        let a = bpf_ktime_get_ns(0, 0, 0, 0, 0, &mut ctx);
        let b = bpf_ktime_get_ns(0, 0, 0, 0, 0, &mut ctx);
        assert!(a > 0 && b >= a);
        assert!(bpf_ktime_get_boot_ns(0, 0, 0, 0, 0, &mut ctx) >= a);
        let j = bpf_jiffies64(0, 0, 0, 0, 0, &mut ctx);
        let c = bpf_ktime_get_ns(0, 0, 0, 0, 0, &mut ctx);
        // 250 Hz: one jiffy is 4 ms of CLOCK_MONOTONIC.
        assert!(a / 4_000_000 <= j && j <= c / 4_000_000);
        ctx.cpu_id = 3;
        assert_eq!(bpf_get_smp_processor_id(0, 0, 0, 0, 0, &mut ctx), 3);
        assert_eq!(bpf_get_numa_node_id(0, 0, 0, 0, 0, &mut ctx), 0);
        let r: Vec<u64> = (0..8)
            .map(|_| bpf_get_prandom_u32(0, 0, 0, 0, 0, &mut ctx))
            .collect();
        assert!(r.iter().all(|&v| v <= u32::MAX as u64));
        assert!(r.windows(2).any(|w| w[0] != w[1]));
    }
}
