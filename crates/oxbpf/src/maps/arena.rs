//! Stable slot memory for map values and hash elements.
//!
//! An [`Arena`] hands out fixed-size, 8-byte aligned slots addressed by index. Memory never
//! moves and is freed only when the arena is dropped, so a pointer a program got from a
//! lookup stays dereferenceable for the map's lifetime even if the element is deleted (the
//! kernel gets the same guarantee from RCU plus its preallocated element pool).
//!
//! Slots live in chunks: chunk `k` holds `first << k` slots. A preallocated arena has one
//! chunk of `capacity` slots (one contiguous allocation, as array maps and the kernel's
//! prealloc hash need); a lazy arena starts small and adds chunks, never moving old ones.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use parking_lot::Mutex;

use super::MapError;

/// Chunk count limit: `first << 32` covers any `u32` capacity.
const MAX_CHUNKS: usize = 33;

/// Slots in the first chunk of a lazily grown arena (a power of two).
const LAZY_FIRST: u32 = 64;

/// Alignment of every slot (atomic instructions on values need 8).
pub(crate) const SLOT_ALIGN: usize = 8;

/// Fixed-size slots in never-moving memory; see the module docs.
pub(crate) struct Arena {
    stride: usize,
    capacity: u32,
    first: u32,
    chunks: [AtomicPtr<u8>; MAX_CHUNKS],
    grow: Mutex<()>,
}

// SAFETY: the arena only hands out raw pointers; the chunk table is atomics and growth is
// serialized by a mutex. Synchronizing access to slot contents is the users' business, as
// with kernel map memory.
unsafe impl Send for Arena {}
// SAFETY: as above.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena of `capacity` slots of `stride` bytes (`stride` a multiple of 8, > 0).
    /// `prealloc` allocates all of it now, in one piece.
    pub(crate) fn new(stride: usize, capacity: u32, prealloc: bool) -> Result<Arena, MapError> {
        debug_assert!(stride > 0 && stride % SLOT_ALIGN == 0);
        let first = if prealloc {
            capacity.max(1)
        } else {
            LAZY_FIRST.min(capacity.max(1))
        };
        let arena = Arena {
            stride,
            capacity,
            first,
            chunks: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            grow: Mutex::new(()),
        };
        if prealloc && capacity > 0 {
            arena.ensure(0)?;
        }
        Ok(arena)
    }

    /// (chunk, index within chunk) of slot `idx`.
    #[inline]
    fn locate(&self, idx: u32) -> (usize, usize) {
        // Fast path without a division: preallocated arenas (and small lazy ones) have a
        // single chunk. Past it, `first` is LAZY_FIRST, a power of two.
        if idx < self.first {
            return (0, idx as usize);
        }
        let j = u64::from(idx >> LAZY_FIRST.trailing_zeros()) + 1;
        let k = 63 - j.leading_zeros() as usize;
        let base = u64::from(self.first) * ((1u64 << k) - 1);
        (k, (u64::from(idx) - base) as usize)
    }

    /// Slots in chunk `k` (the last chunk is cut at `capacity`).
    fn chunk_slots(&self, k: usize) -> usize {
        let base = u64::from(self.first) * ((1u64 << k) - 1);
        let full = u64::from(self.first) << k;
        full.min(u64::from(self.capacity).saturating_sub(base)) as usize
    }

    fn chunk_layout(&self, k: usize) -> Result<Layout, MapError> {
        let bytes = self.chunk_slots(k).checked_mul(self.stride);
        let bytes = bytes.ok_or(MapError::NoMemory { bytes: usize::MAX })?;
        Layout::from_size_align(bytes.max(SLOT_ALIGN), SLOT_ALIGN)
            .map_err(|_| MapError::NoMemory { bytes })
    }

    /// Make sure slot `idx` (< capacity) has memory. Cheap when it already has.
    pub(crate) fn ensure(&self, idx: u32) -> Result<(), MapError> {
        let (k, _) = self.locate(idx);
        if !self.chunks[k].load(Ordering::Acquire).is_null() {
            return Ok(());
        }
        let _g = self.grow.lock();
        if !self.chunks[k].load(Ordering::Acquire).is_null() {
            return Ok(());
        }
        let layout = self.chunk_layout(k)?;
        // SAFETY: the layout has non-zero size (at least SLOT_ALIGN bytes).
        let p = unsafe { alloc_zeroed(layout) };
        if p.is_null() {
            return Err(MapError::NoMemory {
                bytes: layout.size(),
            });
        }
        self.chunks[k].store(p, Ordering::Release);
        Ok(())
    }

    /// Pointer to slot `idx`. The slot must have been [`ensure`](Self::ensure)d (every
    /// slot index handed out by a map was); otherwise this returns null.
    #[inline]
    pub(crate) fn slot(&self, idx: u32) -> *mut u8 {
        let (k, off) = self.locate(idx);
        let base = self.chunks[k].load(Ordering::Acquire);
        if base.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `off < chunk_slots(k)` because idx < capacity, so the offset stays inside
        // the chunk allocation.
        unsafe { base.add(off * self.stride) }
    }

    /// The allocated chunks as (start, length in bytes), for checked-mode region tables.
    pub(crate) fn regions(&self) -> Vec<(*mut u8, usize)> {
        (0..MAX_CHUNKS)
            .filter_map(|k| {
                let p = self.chunks[k].load(Ordering::Acquire);
                (!p.is_null()).then(|| (p, self.chunk_slots(k) * self.stride))
            })
            .collect()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        for k in 0..MAX_CHUNKS {
            let p = *self.chunks[k].get_mut();
            if p.is_null() {
                continue;
            }
            if let Ok(layout) = self.chunk_layout(k) {
                // SAFETY: p was allocated by `ensure` with exactly this layout and nothing
                // can use it any more (we have &mut self).
                unsafe { dealloc(p, layout) };
            }
        }
    }
}

/// Copy `len` bytes between map memory and a buffer. Map memory may be written concurrently
/// by programs on other threads (the kernel has the same races); byte copies through raw
/// pointers never form Rust references to it.
///
/// # Safety
/// Both ranges must be valid for `len` bytes and not overlap.
#[inline]
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { ptr::copy_nonoverlapping(src, dst, len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_chunks_are_stable_and_aligned() {
        let a = Arena::new(24, 1000, false).expect("arena");
        let mut ptrs = Vec::new();
        for i in 0..1000 {
            a.ensure(i).expect("ensure");
            let p = a.slot(i);
            assert_eq!(p as usize % 8, 0);
            // SAFETY: slot i has 24 valid bytes.
            unsafe { p.cast::<u64>().write(u64::from(i)) };
            ptrs.push(p);
        }
        for (i, p) in ptrs.iter().enumerate() {
            assert_eq!(a.slot(i as u32), *p);
            // SAFETY: as above.
            assert_eq!(unsafe { p.cast::<u64>().read() }, i as u64);
        }
        let total: usize = a.regions().iter().map(|r| r.1).sum();
        assert_eq!(total, 24 * 1000);
    }

    #[test]
    fn prealloc_is_one_piece() {
        let a = Arena::new(8, 100, true).expect("arena");
        assert_eq!(a.regions().len(), 1);
        // SAFETY: both slots are inside the single allocation.
        assert_eq!(unsafe { a.slot(99).offset_from(a.slot(0)) }, 99 * 8);
    }
}
