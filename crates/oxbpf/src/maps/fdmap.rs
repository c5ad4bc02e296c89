//! Maps whose values name other objects: `PROG_ARRAY` (program ids for tail calls),
//! `ARRAY_OF_MAPS` and `HASH_OF_MAPS` (inner maps).
//!
//! User space stores ids (the u32 a kernel user would pass as an fd); the runtime resolves
//! them through an [`IdResolver`](super::IdResolver). A program-side lookup in a map-in-map
//! returns the inner map's *handle*: the address of its [`Map`] (see
//! [`Map::handle`](super::Map::handle)), which helpers turn back into a `&Map` with
//! [`Map::from_handle`](super::Map::from_handle).
//!
//! Inner maps stored in an outer map are kept alive until the outer map is dropped, even
//! after being replaced or deleted: a program may still hold the handle it looked up (the
//! kernel waits for an RCU grace period instead).

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::hash::{HashConfig, HashTable};
use super::{Map, MapError, BPF_ANY};

/// Slots of u32 ids, each possibly empty (prog arrays).
pub(crate) struct IdArray {
    slots: Box<[AtomicU64]>,
}

/// Present ids are stored as `PRESENT | id`; 0 is an empty slot.
const PRESENT: u64 = 1 << 32;

impl IdArray {
    pub(crate) fn new(max_entries: u32) -> IdArray {
        IdArray {
            slots: (0..max_entries).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The id at `index`, if any.
    #[inline]
    pub(crate) fn get(&self, index: u32) -> Option<u32> {
        let v = self.slots.get(index as usize)?.load(Ordering::Acquire);
        (v & PRESENT != 0).then_some(v as u32)
    }

    fn slot(&self, index: u32) -> Result<&AtomicU64, MapError> {
        self.slots
            .get(index as usize)
            .ok_or(MapError::IndexOutOfRange {
                index,
                max_entries: self.slots.len() as u32,
            })
    }

    /// `bpf_fd_array_map_update_elem`: only BPF_ANY, E2BIG past the end.
    pub(crate) fn set(&self, index: u32, id: u32, flags: u64) -> Result<(), MapError> {
        if flags != BPF_ANY {
            return Err(MapError::InvalidFlags {
                op: "fd array update",
                flags,
            });
        }
        self.slot(index)?
            .store(PRESENT | u64::from(id), Ordering::Release);
        Ok(())
    }

    /// `fd_array_map_delete_elem`: ENOENT if empty.
    pub(crate) fn clear(&self, index: u32) -> Result<(), MapError> {
        match self.slot(index)?.swap(0, Ordering::AcqRel) {
            0 => Err(MapError::NotFound),
            _ => Ok(()),
        }
    }
}

/// Keeps every inner map ever stored alive until the outer map goes.
#[derive(Default)]
pub(crate) struct InnerKeep {
    maps: Mutex<Vec<Arc<Map>>>,
}

impl InnerKeep {
    fn keep(&self, m: &Arc<Map>) -> *const Map {
        let mut maps = self.maps.lock();
        if !maps.iter().any(|k| Arc::ptr_eq(k, m)) {
            maps.push(Arc::clone(m));
        }
        Arc::as_ptr(m)
    }
}

/// `ARRAY_OF_MAPS` storage.
pub(crate) struct MapArray {
    slots: Box<[AtomicPtr<Map>]>,
    keep: InnerKeep,
}

impl MapArray {
    pub(crate) fn new(max_entries: u32) -> MapArray {
        MapArray {
            slots: (0..max_entries)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            keep: InnerKeep::default(),
        }
    }

    /// The inner map handle at `index` (null if empty or out of range).
    #[inline]
    pub(crate) fn get(&self, index: u32) -> *const Map {
        self.slots
            .get(index as usize)
            .map_or(std::ptr::null(), |s| s.load(Ordering::Acquire))
    }

    fn slot(&self, index: u32) -> Result<&AtomicPtr<Map>, MapError> {
        self.slots
            .get(index as usize)
            .ok_or(MapError::IndexOutOfRange {
                index,
                max_entries: self.slots.len() as u32,
            })
    }

    pub(crate) fn set(&self, index: u32, inner: &Arc<Map>, flags: u64) -> Result<(), MapError> {
        if flags != BPF_ANY {
            return Err(MapError::InvalidFlags {
                op: "array_of_maps update",
                flags,
            });
        }
        let slot = self.slot(index)?;
        slot.store(self.keep.keep(inner).cast_mut(), Ordering::Release);
        Ok(())
    }

    pub(crate) fn clear(&self, index: u32) -> Result<(), MapError> {
        if self
            .slot(index)?
            .swap(std::ptr::null_mut(), Ordering::AcqRel)
            .is_null()
        {
            return Err(MapError::NotFound);
        }
        Ok(())
    }
}

/// `HASH_OF_MAPS` storage: a hash table whose 8-byte values are inner map handles.
pub(crate) struct MapHash {
    table: HashTable,
    keep: InnerKeep,
}

impl MapHash {
    pub(crate) fn new(
        key_size: u32,
        max_entries: u32,
        prealloc: bool,
    ) -> Result<MapHash, MapError> {
        let table = HashTable::new(&HashConfig {
            key_size,
            value_size: 8,
            max_entries,
            ncpus: 1,
            percpu: false,
            lru: false,
            prealloc,
            zero_seed: false,
            lock: Default::default(),
        })?;
        Ok(MapHash {
            table,
            keep: InnerKeep::default(),
        })
    }

    /// The inner map handle for `key`, or null.
    ///
    /// # Safety
    /// `key` readable for the key size.
    #[inline]
    pub(crate) unsafe fn get(&self, key: *const u8) -> *const Map {
        // SAFETY: forwarded.
        match unsafe { self.table.find_index(key) } {
            Some(idx) => {
                let p = self.table.element_value(idx, 0).cast::<AtomicU64>();
                // SAFETY: the value slot is 8 bytes, 8-aligned and initialized; it is only
                // written by 8-byte copies of a handle, and an update normally writes a
                // fresh element rather than this one.
                unsafe { (*p).load(Ordering::Acquire) as usize as *const Map }
            }
            None => std::ptr::null(),
        }
    }

    pub(crate) fn set(&self, key: &[u8], inner: &Arc<Map>, flags: u64) -> Result<(), MapError> {
        let handle = self.keep.keep(inner) as usize as u64;
        let bytes = handle.to_ne_bytes();
        // SAFETY: key length was checked by the caller; bytes has the table's 8-byte value.
        unsafe {
            self.table
                .update(key.as_ptr(), bytes.as_ptr(), flags, false, 0)
        }
    }

    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        // SAFETY: key length checked by the caller.
        unsafe { self.table.delete(key.as_ptr(), None) }
    }

    pub(crate) fn table(&self) -> &HashTable {
        &self.table
    }
}
