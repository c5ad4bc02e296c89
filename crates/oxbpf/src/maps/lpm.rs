//! `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix-match maps. A key is a host-order `u32`
//! prefix length followed by the data bytes (network order: bit 0 is the MSB of byte 0).
//!
//! Entries are indexed by (prefix length, data masked to that length) in a hash table; a
//! lookup probes the prefix lengths present, longest first, so it costs one probe per
//! distinct length in use. A second, ordered index gives `get_next_key` the kernel's order:
//! the post-order of the binary trie (a prefix's descendants before the prefix, the 0 branch
//! before the 1 branch). Values live in a never-moving [`Arena`] grown on demand (the kernel
//! requires `BPF_F_NO_PREALLOC`), so program pointers stay valid after deletes. Readers
//! share a read lock; writers take it exclusively.

use std::cmp::Ordering as CmpOrdering;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::ptr;

use parking_lot::RwLock;

use super::arena::{copy, Arena};
use super::hash::mix;
use super::percpu::round8;
use super::{MapError, BPF_EXIST, BPF_NOEXIST};

/// An entry key normalized for indexing: 4-byte LE prefix length + masked data.
#[derive(Clone, PartialEq, Eq, Hash)]
struct NormKey(Box<[u8]>);

impl NormKey {
    fn plen(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    fn bit(&self, i: u32) -> u8 {
        (self.0[4 + (i / 8) as usize] >> (7 - i % 8)) & 1
    }
}

/// Post-order of the binary trie: the first differing bit within both prefixes decides
/// (0 before 1); if one prefix contains the other, the longer (descendant) comes first.
impl Ord for NormKey {
    fn cmp(&self, other: &NormKey) -> CmpOrdering {
        let (pa, pb) = (self.plen(), other.plen());
        let m = pa.min(pb);
        let full = (m / 8) as usize;
        let (a, b) = (&self.0[4..], &other.0[4..]);
        if let Some(i) = (0..full).find(|&i| a[i] != b[i]) {
            let x = a[i] ^ b[i];
            let bit = 8 * i as u32 + x.leading_zeros();
            return self.bit(bit).cmp(&other.bit(bit));
        }
        for bit in 8 * full as u32..m {
            if self.bit(bit) != other.bit(bit) {
                return self.bit(bit).cmp(&other.bit(bit));
            }
        }
        pb.cmp(&pa)
    }
}

impl PartialOrd for NormKey {
    fn partial_cmp(&self, other: &NormKey) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

/// Zero the data bits past `plen` in `data`.
fn mask_data(data: &mut [u8], plen: u32) {
    let full = (plen / 8) as usize;
    if full < data.len() {
        let rem = plen % 8;
        data[full] &= if rem == 0 { 0 } else { 0xffu8 << (8 - rem) };
        for b in &mut data[full + 1..] {
            *b = 0;
        }
    }
}

/// A fast seeded hasher for the entry index (SipHash would dominate lookup time); the
/// random seed keeps user-chosen prefixes from forcing collisions.
#[derive(Clone)]
struct Seeded(u64);

impl BuildHasher for Seeded {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(self.0)
    }
}

struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = mix(self.0, u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.0 = mix(self.0, u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = mix(self.0, n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Entry {
    slot: u32,
    /// The key as stored by user space (unmasked data), returned by `get_next_key`.
    orig: Box<[u8]>,
}

struct Inner {
    entries: HashMap<NormKey, Entry, Seeded>,
    order: BTreeSet<NormKey>,
    /// Entries per prefix length, so lookups skip lengths not in use.
    per_len: Vec<u32>,
    free: Vec<u32>,
    next_unused: u32,
}

/// An LPM trie map.
pub(crate) struct LpmTrie {
    data_size: usize,
    max_prefixlen: u32,
    value_size: usize,
    max_entries: u32,
    values: Arena,
    inner: RwLock<Inner>,
}

impl LpmTrie {
    pub(crate) fn new(
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> Result<LpmTrie, MapError> {
        let data_size = key_size as usize - 4;
        let max_prefixlen = 8 * data_size as u32;
        Ok(LpmTrie {
            data_size,
            max_prefixlen,
            value_size: value_size as usize,
            max_entries,
            values: Arena::new(round8(value_size as usize), max_entries, false)?,
            inner: RwLock::new(Inner {
                entries: HashMap::with_hasher(Seeded(RandomState::new().hash_one(0x6c70_6d74u64))),
                order: BTreeSet::new(),
                per_len: vec![0; max_prefixlen as usize + 1],
                free: Vec::new(),
                next_unused: 0,
            }),
        })
    }

    fn normalize(&self, key: &[u8]) -> Result<NormKey, MapError> {
        let plen = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
        if plen > self.max_prefixlen {
            return Err(MapError::InvalidArg {
                op: "lpm_trie",
                reason: "prefixlen longer than the key data",
            });
        }
        let mut k = key.to_vec().into_boxed_slice();
        mask_data(&mut k[4..], plen);
        Ok(NormKey(k))
    }

    /// Longest-prefix match for the key at `key` (prefix length bounds the match, as in
    /// the kernel); returns a pointer to the value or null.
    ///
    /// # Safety
    /// `key` readable for `4 + data_size` bytes.
    pub(crate) unsafe fn lookup_ptr(&self, key: *const u8) -> *mut u8 {
        let mut probe = [0u8; 4 + super::def::LPM_DATA_SIZE_MAX as usize];
        let n = 4 + self.data_size;
        // SAFETY: the caller guarantees n readable bytes; probe holds up to 260.
        unsafe { copy(probe.as_mut_ptr(), key, n) };
        let plen =
            u32::from_le_bytes([probe[0], probe[1], probe[2], probe[3]]).min(self.max_prefixlen);
        let inner = self.inner.read();
        for l in (0..=plen).rev() {
            if inner.per_len[l as usize] == 0 {
                continue;
            }
            probe[..4].copy_from_slice(&l.to_le_bytes());
            mask_data(&mut probe[4..n], l);
            // Borrowed lookup, no allocation: NormKey hashes and compares as its bytes.
            if let Some(e) = inner.entries.get(&probe[..n]) {
                return self.values.slot(e.slot);
            }
        }
        ptr::null_mut()
    }

    /// `trie_update_elem`: flags above BPF_EXIST are EINVAL; a full trie gives ENOSPC
    /// unless the prefix is already present (replaced).
    ///
    /// # Safety
    /// `value` readable for `value_size` bytes.
    pub(crate) unsafe fn update(
        &self,
        key: &[u8],
        value: *const u8,
        flags: u64,
    ) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return Err(MapError::InvalidFlags {
                op: "lpm_trie update",
                flags,
            });
        }
        let nk = self.normalize(key)?;
        let mut inner = self.inner.write();
        let inner = &mut *inner;
        let exists = inner.entries.contains_key(&nk);
        if exists && flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
        if !exists && flags == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        let slot = match inner.free.pop() {
            Some(s) => Some(s),
            None if inner.next_unused < self.max_entries => {
                let s = inner.next_unused;
                self.values.ensure(s)?;
                inner.next_unused += 1;
                Some(s)
            }
            None => None,
        };
        if let Some(e) = inner.entries.get_mut(&nk) {
            match slot {
                Some(s) => {
                    // New slot so concurrent readers of the old value never see it torn.
                    // SAFETY: slot s has value_size bytes; value readable per contract.
                    unsafe { copy(self.values.slot(s), value, self.value_size) };
                    inner.free.push(std::mem::replace(&mut e.slot, s));
                }
                // SAFETY: as above, in place.
                None => unsafe { copy(self.values.slot(e.slot), value, self.value_size) },
            }
            e.orig = key.into();
            return Ok(());
        }
        let Some(s) = slot else {
            return Err(MapError::NoSpace {
                max_entries: self.max_entries,
            });
        };
        // SAFETY: as above.
        unsafe { copy(self.values.slot(s), value, self.value_size) };
        inner.per_len[nk.plen() as usize] += 1;
        inner.order.insert(nk.clone());
        inner.entries.insert(
            nk,
            Entry {
                slot: s,
                orig: key.into(),
            },
        );
        Ok(())
    }

    /// `trie_delete_elem`: exact prefix only.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let nk = self.normalize(key)?;
        let mut inner = self.inner.write();
        let e = inner.entries.remove(&nk).ok_or(MapError::NotFound)?;
        inner.order.remove(&nk);
        inner.per_len[nk.plen() as usize] -= 1;
        inner.free.push(e.slot);
        Ok(())
    }

    /// `trie_get_next_key`: post-order successor; the first entry for a missing or
    /// absent key; ENOENT after the last.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        let inner = self.inner.read();
        let start = key
            .and_then(|k| self.normalize(k).ok())
            .filter(|nk| inner.entries.contains_key(nk));
        let next = match start {
            Some(nk) => inner
                .order
                .range((std::ops::Bound::Excluded(nk), std::ops::Bound::Unbounded))
                .next(),
            None => inner.order.iter().next(),
        };
        let nk = next.ok_or(MapError::NotFound)?;
        let e = inner.entries.get(nk).ok_or(MapError::NotFound)?;
        out.copy_from_slice(&e.orig);
        Ok(())
    }

    /// Copy the value out (user-space lookup also does longest-prefix match).
    pub(crate) fn lookup(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        // SAFETY: the caller checked key.len() == 4 + data_size.
        let p = unsafe { self.lookup_ptr(key.as_ptr()) };
        if p.is_null() {
            return Err(MapError::NotFound);
        }
        // SAFETY: p is a value slot of value_size bytes; out has value_size bytes.
        unsafe { copy(out.as_mut_ptr(), p, self.value_size) };
        Ok(())
    }

    pub(crate) fn regions(&self) -> Vec<(*mut u8, usize)> {
        self.values.regions()
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.read().entries.len()
    }
}

impl std::borrow::Borrow<[u8]> for NormKey {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}
