//! LRU eviction for `LRU_HASH` / `LRU_PERCPU_HASH`: when no free element is left, an update
//! evicts an element that was not looked up recently instead of failing with E2BIG.
//!
//! The kernel approximates LRU with active/inactive lists and a per-element reference bit
//! set on lookup. We use the same reference bit with a CLOCK sweep (second chance): the hand
//! walks the element pool, clears set bits, and evicts the first live element whose bit is
//! clear. Lookups only set a bit (no list to maintain), so the read path stays lock-free.
//! `BPF_F_NO_COMMON_LRU` is accepted and behaves like the common LRU.

use super::hash::HashTable;
use super::MapError;

impl HashTable {
    /// A free element, evicting the least recently used one if none is free.
    pub(crate) fn lru_alloc(&self) -> Result<u32, MapError> {
        if let Some(i) = self.take_free()? {
            return Ok(i);
        }
        let mut hand = self.clock().lock();
        let n = self.used_elements();
        if n > 0 {
            // Two passes: the first may only clear reference bits.
            for _ in 0..=2 * u64::from(n) {
                let idx = *hand % n;
                *hand = (idx + 1) % n;
                if !self.is_live(idx) || self.clear_ref(idx) {
                    continue;
                }
                if self.try_evict(idx) {
                    return Ok(idx);
                }
            }
        }
        drop(hand);
        // Every element is in flight in concurrent updates; a delete may have freed one.
        self.take_free()?.ok_or(MapError::Full {
            max_entries: self.max_entries(),
        })
    }
}
