//! `struct bpf_spin_lock` in map values: the lock helpers, and value copies that leave the
//! lock word alone (the kernel's `copy_map_value`) or hold it (`copy_map_value_locked`,
//! used for `BPF_F_LOCK`). Only maps whose definition names a lock offset
//! ([`MapDef::with_spin_lock`](super::MapDef::with_spin_lock), from BTF) have one.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU32, Ordering};

use super::arena::copy;

/// Size of `struct bpf_spin_lock`.
pub const BPF_SPIN_LOCK_SIZE: u32 = 4;

/// The lock word behind `lock`.
///
/// # Safety
/// `lock` must point to a 4-byte aligned, initialized `struct bpf_spin_lock` that outlives
/// `'a`.
unsafe fn word<'a>(lock: *mut u8) -> &'a AtomicU32 {
    // SAFETY: guaranteed by the caller.
    unsafe { &*lock.cast::<AtomicU32>() }
}

/// `bpf_spin_lock`: spin until the lock word at `lock` is taken (0 = free, 1 = held).
///
/// # Safety
/// `lock` must point to the `struct bpf_spin_lock` of a live map value (4-byte aligned).
#[doc(alias = "bpf_spin_lock")]
pub unsafe fn spin_lock(lock: *mut u8) {
    // SAFETY: forwarded from the caller.
    let w = unsafe { word(lock) };
    while w
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        while w.load(Ordering::Relaxed) != 0 {
            spin_loop();
        }
    }
}

/// `bpf_spin_unlock`: release the lock word at `lock`.
///
/// # Safety
/// As [`spin_lock`]; the caller holds the lock.
#[doc(alias = "bpf_spin_unlock")]
pub unsafe fn spin_unlock(lock: *mut u8) {
    // SAFETY: forwarded from the caller.
    unsafe { word(lock) }.store(0, Ordering::Release);
}

/// Where a map's values keep their lock word, if they have one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LockWord(pub Option<usize>);

impl LockWord {
    /// Copy `len` bytes around the lock word (all of them if there is none).
    ///
    /// # Safety
    /// `dst` and `src` valid for `len` bytes, not overlapping.
    unsafe fn copy_around(self, dst: *mut u8, src: *const u8, len: usize) {
        match self.0 {
            None => {
                // SAFETY: forwarded from the caller.
                unsafe { copy(dst, src, len) }
            }
            Some(off) => {
                let end = off + BPF_SPIN_LOCK_SIZE as usize;
                // SAFETY: off + 4 <= len (checked at map creation); both ranges in bounds.
                unsafe {
                    copy(dst, src, off);
                    copy(dst.add(end), src.add(end), len - end);
                }
            }
        }
    }

    /// Store a value into map memory, leaving its lock word as it is.
    ///
    /// # Safety
    /// `dst` a map value of `len` bytes, `src` readable for `len` bytes.
    pub(crate) unsafe fn store(self, dst: *mut u8, src: *const u8, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.copy_around(dst, src, len) }
    }

    /// Store a value into map memory while holding its lock (`BPF_F_LOCK`).
    ///
    /// # Safety
    /// As [`LockWord::store`]; the map has a lock word.
    pub(crate) unsafe fn store_locked(self, dst: *mut u8, src: *const u8, len: usize) {
        let Some(off) = self.0 else {
            // SAFETY: forwarded from the caller.
            return unsafe { copy(dst, src, len) };
        };
        // SAFETY: the lock word lies inside dst (off + 4 <= len), 4-aligned (checked at
        // creation; values are 8-aligned).
        unsafe {
            spin_lock(dst.add(off));
            self.copy_around(dst, src, len);
            spin_unlock(dst.add(off));
        }
    }

    /// Fill a fresh element: the value, with a released lock word.
    ///
    /// # Safety
    /// As [`LockWord::store`].
    pub(crate) unsafe fn init(self, dst: *mut u8, src: *const u8, len: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.copy_around(dst, src, len) };
        if let Some(off) = self.0 {
            // SAFETY: the lock word is inside dst.
            unsafe { std::ptr::write_bytes(dst.add(off), 0, BPF_SPIN_LOCK_SIZE as usize) };
        }
    }

    /// Copy a value out of map memory (under its lock if `locked`); the lock word reads
    /// as zero, as the kernel's `check_and_init_map_value` leaves it.
    ///
    /// # Safety
    /// `src` a map value of `len` bytes, `dst` writable for `len` bytes.
    pub(crate) unsafe fn load(self, dst: *mut u8, src: *mut u8, len: usize, locked: bool) {
        let Some(off) = self.0 else {
            // SAFETY: forwarded from the caller.
            return unsafe { copy(dst, src, len) };
        };
        // SAFETY: as in store_locked; dst has len bytes.
        unsafe {
            if locked {
                spin_lock(src.add(off));
            }
            self.copy_around(dst, src, len);
            if locked {
                spin_unlock(src.add(off));
            }
            std::ptr::write_bytes(dst.add(off), 0, BPF_SPIN_LOCK_SIZE as usize);
        }
    }
}
