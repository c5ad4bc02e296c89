//! `BPF_MAP_TYPE_QUEUE` (FIFO) and `BPF_MAP_TYPE_STACK` (LIFO): values without keys,
//! pushed and popped under a lock, as the kernel's `queue_stack_maps.c`.

use parking_lot::Mutex;

use super::arena::copy;
use super::{MapError, BPF_EXIST};

struct Ring {
    buf: Box<[u8]>,
    /// Slot of the oldest element.
    head: u32,
    len: u32,
}

/// A queue or stack of `max_entries` values.
pub(crate) struct QueueStack {
    ring: Mutex<Ring>,
    max_entries: u32,
    value_size: usize,
    lifo: bool,
}

impl QueueStack {
    pub(crate) fn new(
        max_entries: u32,
        value_size: u32,
        lifo: bool,
    ) -> Result<QueueStack, MapError> {
        let bytes = (max_entries as usize)
            .checked_mul(value_size as usize)
            .ok_or(MapError::NoMemory { bytes: usize::MAX })?;
        let mut v = Vec::new();
        v.try_reserve_exact(bytes)
            .map_err(|_| MapError::NoMemory { bytes })?;
        v.resize(bytes, 0);
        Ok(QueueStack {
            ring: Mutex::new(Ring {
                buf: v.into_boxed_slice(),
                head: 0,
                len: 0,
            }),
            max_entries,
            value_size: value_size as usize,
            lifo,
        })
    }

    fn slot(&self, ring: &mut Ring, i: u32) -> *mut u8 {
        let pos = (ring.head as u64 + u64::from(i)) % u64::from(self.max_entries);
        // SAFETY: pos < max_entries, so the slot lies inside buf.
        unsafe { ring.buf.as_mut_ptr().add(pos as usize * self.value_size) }
    }

    /// `map_push_elem`: BPF_EXIST overwrites the oldest value when full.
    ///
    /// # Safety
    /// `value` readable for `value_size` bytes.
    pub(crate) unsafe fn push(&self, value: *const u8, flags: u64) -> Result<(), MapError> {
        if flags & !BPF_EXIST != 0 {
            return Err(MapError::InvalidFlags {
                op: "map_push_elem",
                flags,
            });
        }
        let mut ring = self.ring.lock();
        if ring.len == self.max_entries {
            if flags & BPF_EXIST == 0 {
                return Err(MapError::Full {
                    max_entries: self.max_entries,
                });
            }
            // Drop the oldest element.
            ring.head = (ring.head + 1) % self.max_entries;
            ring.len -= 1;
        }
        let len = ring.len;
        let dst = self.slot(&mut ring, len);
        // SAFETY: dst is a value_size slot inside buf; value readable per the contract.
        unsafe { copy(dst, value, self.value_size) };
        ring.len += 1;
        Ok(())
    }

    /// `map_pop_elem` (`delete = true`) or `map_peek_elem`: copy the next value out.
    ///
    /// # Safety
    /// `out` writable for `value_size` bytes.
    pub(crate) unsafe fn take(&self, out: *mut u8, delete: bool) -> Result<(), MapError> {
        let mut ring = self.ring.lock();
        if ring.len == 0 {
            return Err(MapError::NotFound);
        }
        let i = if self.lifo { ring.len - 1 } else { 0 };
        let src = self.slot(&mut ring, i);
        // SAFETY: src is a slot in buf, out writable per the contract.
        unsafe { copy(out, src, self.value_size) };
        if delete {
            if !self.lifo {
                ring.head = (ring.head + 1) % self.max_entries;
            }
            ring.len -= 1;
        }
        Ok(())
    }

    /// Elements currently held.
    pub(crate) fn len(&self) -> u32 {
        self.ring.lock().len
    }
}
