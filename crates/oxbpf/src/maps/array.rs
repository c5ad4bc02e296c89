//! `BPF_MAP_TYPE_ARRAY` and `BPF_MAP_TYPE_PERCPU_ARRAY`: one contiguous, zero-filled
//! allocation of 8-byte aligned values (per-CPU: one value per CPU per index), never moved,
//! so `.bss`/`.data` can be exposed as one region and lookups are an index computation.

use std::ptr;

use super::arena::{copy, Arena};
use super::lock::LockWord;
use super::percpu::{percpu_stride, round8};
use super::{check_update_flags, MapError, BPF_F_LOCK, BPF_NOEXIST};

/// An array map's storage.
pub(crate) struct ArrayMap {
    arena: Arena,
    max_entries: u32,
    value_size: usize,
    /// Bytes of one CPU's copy (value size rounded to 8).
    cpu_stride: usize,
    /// CPUs with a copy: 1 unless per-CPU.
    ncpus: u32,
    /// `bpf_spin_lock` in the value, if any (never per-CPU).
    lock: LockWord,
}

impl ArrayMap {
    /// Zero-filled array; `ncpus > 1` only for per-CPU arrays (pass 1 otherwise).
    pub(crate) fn new(
        max_entries: u32,
        value_size: u32,
        ncpus: u32,
        lock: LockWord,
    ) -> Result<ArrayMap, MapError> {
        let cpu_stride = percpu_stride(value_size);
        let stride = cpu_stride
            .checked_mul(ncpus.max(1) as usize)
            .ok_or(MapError::NoMemory { bytes: usize::MAX })?;
        Ok(ArrayMap {
            arena: Arena::new(stride, max_entries, true)?,
            max_entries,
            value_size: value_size as usize,
            cpu_stride,
            ncpus: ncpus.max(1),
            lock,
        })
    }

    /// Pointer to `cpu`'s value at `index`, or null past the end.
    #[inline]
    pub(crate) fn value_ptr(&self, index: u32, cpu: u32) -> *mut u8 {
        if index >= self.max_entries {
            return ptr::null_mut();
        }
        let p = self.arena.slot(index);
        let cpu = if cpu < self.ncpus {
            cpu
        } else {
            cpu % self.ncpus
        } as usize;
        // SAFETY: cpu < ncpus, so the offset stays inside this index's slot.
        unsafe { p.add(cpu * self.cpu_stride) }
    }

    /// Program-side lookup: the key is a u32 index read from `key`.
    ///
    /// # Safety
    /// `key` must point to 4 readable bytes.
    #[inline]
    pub(crate) unsafe fn lookup_ptr(&self, key: *const u8, cpu: u32) -> *mut u8 {
        // SAFETY: the caller guarantees 4 readable bytes.
        let index = unsafe { key.cast::<u32>().read_unaligned() };
        self.value_ptr(index, cpu)
    }

    /// Bytes the user-space value buffer has: value_size, or per-CPU the rounded size times
    /// the CPU count.
    pub(crate) fn user_value_size(&self, percpu: bool) -> usize {
        if percpu {
            self.cpu_stride * self.ncpus as usize
        } else {
            self.value_size
        }
    }

    /// Copy out the value at `index` (every CPU's if `percpu`) into `out`, under the
    /// value's spin lock if `locked` (`BPF_F_LOCK`).
    pub(crate) fn lookup(
        &self,
        index: u32,
        out: &mut [u8],
        percpu: bool,
        locked: bool,
    ) -> Result<(), MapError> {
        if index >= self.max_entries {
            return Err(MapError::NotFound);
        }
        debug_assert_eq!(out.len(), self.user_value_size(percpu));
        if !percpu {
            // SAFETY: the slot and out both have value_size bytes.
            unsafe {
                self.lock.load(
                    out.as_mut_ptr(),
                    self.value_ptr(index, 0),
                    self.value_size,
                    locked,
                )
            };
            return Ok(());
        }
        let len = self.cpu_stride;
        for cpu in 0..self.ncpus {
            let src = self.value_ptr(index, cpu);
            // SAFETY: src has cpu_stride bytes; out has room for every CPU's copy.
            unsafe { copy(out.as_mut_ptr().add(cpu as usize * len), src, len) };
        }
        Ok(())
    }

    /// Update from user space (`value` holds every CPU's copy if `percpu`) or from a
    /// program (`cpu` = Some(current cpu): only that CPU's copy, `value` one value).
    ///
    /// # Safety
    /// `value` must be readable for `value_size` bytes (user-space per-CPU: for
    /// `user_value_size(true)` bytes).
    pub(crate) unsafe fn update(
        &self,
        index: u32,
        value: *const u8,
        flags: u64,
        percpu_user: bool,
        cpu: u32,
    ) -> Result<(), MapError> {
        check_update_flags(flags, "map_update_elem", self.lock.0.is_some())?;
        if index >= self.max_entries {
            return Err(MapError::IndexOutOfRange {
                index,
                max_entries: self.max_entries,
            });
        }
        if flags & BPF_NOEXIST != 0 {
            // Every array element always exists.
            return Err(MapError::Exists);
        }
        if percpu_user {
            for c in 0..self.ncpus {
                let dst = self.value_ptr(index, c);
                // SAFETY: the caller's buffer holds ncpus * cpu_stride bytes; dst has cpu_stride.
                unsafe {
                    copy(
                        dst,
                        value.add(c as usize * self.cpu_stride),
                        self.cpu_stride,
                    )
                };
            }
        } else {
            let dst = self.value_ptr(index, cpu);
            // SAFETY: value has value_size readable bytes; the slot has at least that many.
            unsafe {
                if flags & BPF_F_LOCK != 0 {
                    self.lock.store_locked(dst, value, self.value_size);
                } else {
                    self.lock.store(dst, value, self.value_size);
                }
            }
        }
        Ok(())
    }

    /// The value memory, for checked-mode region tables.
    pub(crate) fn regions(&self) -> Vec<(*mut u8, usize)> {
        self.arena.regions()
    }

    /// Size of one value as stored (rounded to 8), for direct value access.
    pub(crate) fn stride_bytes(&self) -> usize {
        round8(self.value_size)
    }
}
