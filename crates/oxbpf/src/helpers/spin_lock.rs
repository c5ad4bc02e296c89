//! `bpf_spin_lock` / `bpf_spin_unlock`: real locking on the 4-byte `struct bpf_spin_lock`
//! word inside a map value ([`crate::maps::spin_lock`]), so programs running on several
//! threads at once serialise on it as they would on several CPUs. The verifier proves
//! the pointer is the value's lock and that every lock is released before the program
//! ends; the helpers still check the word is writable memory of the run and aligned,
//! as checked-mode runs have no such proof.

use super::{kernel_helper, ArgKind, Helper, HelperProto, RetKind};
use crate::maps::BPF_SPIN_LOCK_SIZE;
use crate::vm::{Access, Fault, FaultKind, RunContext};

/// The lock word at `lock` if it is writable memory of the run and 4-byte aligned;
/// otherwise records a fault.
fn lock_word(ctx: &mut RunContext, lock: u64) -> Option<*mut u8> {
    if lock % u64::from(BPF_SPIN_LOCK_SIZE) != 0 {
        ctx.fault = Some(Fault {
            addr: lock,
            size: BPF_SPIN_LOCK_SIZE,
            access: Access::Write,
            kind: FaultKind::Unaligned,
        });
        return None;
    }
    ctx.check_arg(lock, u64::from(BPF_SPIN_LOCK_SIZE), Access::Write)
        .then_some(lock as usize as *mut u8)
}

/// `long bpf_spin_lock(struct bpf_spin_lock *lock)`: spins until the lock is taken.
/// Returns 0.
pub extern "C" fn bpf_spin_lock(
    lock: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    if let Some(w) = lock_word(ctx, lock) {
        // SAFETY: `w` is 4-byte aligned and inside a writable region of the run (a map
        // value), which outlives the call.
        unsafe { crate::maps::spin_lock(w) };
    }
    0
}

/// `long bpf_spin_unlock(struct bpf_spin_lock *lock)`: releases the lock. Returns 0.
pub extern "C" fn bpf_spin_unlock(
    lock: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    if let Some(w) = lock_word(ctx, lock) {
        // SAFETY: as in `bpf_spin_lock`; the verifier proved this program holds it.
        unsafe { crate::maps::spin_unlock(w) };
    }
    0
}

/// The helpers of this file with their kernel prototypes (`RET_VOID`, not GPL-only).
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(
        93,
        bpf_spin_lock,
        HelperProto::new(&[ArgKind::PtrToSpinLock], RetKind::Void),
    ),
    kernel_helper(
        94,
        bpf_spin_unlock,
        HelperProto::new(&[ArgKind::PtrToSpinLock], RetKind::Void),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::MemRegion;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Threads incrementing a counter next to the lock word under the helpers lose no
    /// update (a plain read-modify-write without the lock would).
    #[test]
    fn helpers_serialise_threads() {
        // { u32 lock; u32 pad; u64 counter } in an 8-aligned buffer.
        let buf = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let base = buf.as_ptr() as u64;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let buf = Arc::clone(&buf);
                std::thread::spawn(move || {
                    let mut ctx = RunContext::new();
                    let region = MemRegion {
                        start: base,
                        len: 16,
                        writable: true,
                    };
                    // SAFETY: `buf` outlives the thread (joined below) and is only
                    // accessed through atomics.
                    unsafe { ctx.add_region(region) };
                    for _ in 0..20_000 {
                        bpf_spin_lock(base, 0, 0, 0, 0, &mut ctx);
                        // Non-atomic increment (load, then store) of the counter.
                        let v = buf[1].load(Ordering::Relaxed);
                        std::hint::black_box(v);
                        buf[1].store(v + 1, Ordering::Relaxed);
                        bpf_spin_unlock(base, 0, 0, 0, 0, &mut ctx);
                    }
                    assert!(ctx.fault.is_none());
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(buf[1].load(Ordering::Relaxed), 80_000);
        assert_eq!(buf[0].load(Ordering::Relaxed), 0, "lock released");
    }

    #[test]
    fn bad_lock_pointers_fault() {
        let buf = [0u32; 2];
        let base = buf.as_ptr() as u64;
        let mut ctx = RunContext::new();
        let region = MemRegion {
            start: base,
            len: 8,
            writable: false,
        };
        // SAFETY: `buf` lives to the end of the test; the region is read-only, so the
        // helpers never write it.
        unsafe { ctx.add_region(region) };
        bpf_spin_lock(base + 2, 0, 0, 0, 0, &mut ctx);
        assert_eq!(ctx.fault.map(|f| f.kind), Some(FaultKind::Unaligned));
        ctx.fault = None;
        // Read-only memory is no lock.
        bpf_spin_lock(base, 0, 0, 0, 0, &mut ctx);
        assert_eq!(ctx.fault.map(|f| f.kind), Some(FaultKind::ReadOnly));
        ctx.fault = None;
        bpf_spin_unlock(base + 64, 0, 0, 0, 0, &mut ctx);
        assert!(ctx.fault.is_some());
        assert_eq!(buf, [0, 0]);
    }
}
