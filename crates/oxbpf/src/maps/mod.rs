//! eBPF maps: the kernel's map types, numbers, flags and errnos, shared between Rust threads
//! while programs run on other threads.
//!
//! A [`Map`] is created from a [`MapDef`] and shared as `Arc<Map>`. It has two faces:
//!
//! - the **user-space** API, mirroring the `bpf(2)` map commands on byte slices:
//!   [`Map::lookup`], [`Map::update`], [`Map::delete`], [`Map::get_next_key`],
//!   [`Map::lookup_and_delete`], [`Map::freeze`], plus queue/stack, ring buffer and perf
//!   readers. Per-CPU maps take and return every CPU's value, each rounded up to 8 bytes;
//! - the **program-side** API the helpers call with raw pointers: [`Map::lookup_ptr`]
//!   returns a real pointer into map value memory, [`Map::update_from_prog`] and friends
//!   return `0` or `-errno` as `r0`.
//!
//! Value memory never moves and is freed only when the map is dropped, so a pointer from a
//! lookup stays valid while the program runs even if another thread deletes the element
//! (the slot may be reused for another element meanwhile, as with the kernel's preallocated
//! hash maps). Values are 8-byte aligned, so atomic instructions on them are real atomics.
//! This replaces the epoch-based reclamation ARCHITECTURE.md suggests: element pools are
//! bounded by `max_entries` anyway, so recycling slots (as the kernel's prealloc free list
//! does) costs no memory and keeps the read path free of epoch pins.
//!
//! Hash lookups take no lock and never allocate (nulls-terminated index chains validated by
//! per-element sequence counts, see `hash.rs`); writers lock one bucket.
//!
//! For the runtime and helpers:
//! - program registers hold maps as *handles*: the address of the `Map` ([`Map::handle`],
//!   [`Map::from_handle`]); a map-in-map lookup returns the inner map's handle, which the
//!   outer map keeps alive until it is dropped;
//! - per-CPU maps index their copies by [`current_cpu`], which each worker thread sets with
//!   [`set_current_cpu`]; [`num_possible_cpus`] (configurable) sizes them;
//! - [`Map::value_regions`] lists the value memory for checked mode's region table
//!   (read-only for `BPF_F_RDONLY_PROG` maps such as `.rodata`);
//! - global data: [`MapDef::global_data`] and [`Map::direct_value_addr`] for
//!   `BPF_PSEUDO_MAP_VALUE` relocations; `.rodata` is frozen with [`Map::freeze`];
//! - fd maps store u32 ids; install an [`IdResolver`] so user-space updates can resolve
//!   them ([`Map::set_resolver`]); tail calls read [`Map::prog_array_get`].
//!
//! ```
//! use oxbpf::maps::{Map, MapDef, MapType, BPF_ANY};
//! let map = Map::new(&MapDef::new(MapType::Hash, 4, 8, 16)).unwrap();
//! map.update(&7u32.to_ne_bytes(), &42u64.to_ne_bytes(), BPF_ANY).unwrap();
//! // What `bpf_map_lookup_elem` gives a program: a pointer into the map.
//! let key = 7u32.to_ne_bytes();
//! // SAFETY: the key buffer has key_size bytes.
//! let p = unsafe { map.lookup_ptr(key.as_ptr()) };
//! assert_eq!(unsafe { p.cast::<u64>().read() }, 42);
//! ```

mod arena;
mod array;
mod def;
mod error;
mod fdmap;
mod hash;
mod lock;
mod lpm;
mod lru;
mod percpu;
mod perf;
mod prog;
mod queue;
mod ringbuf;

#[cfg(all(test, target_os = "linux"))]
mod kernel_oracle;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_more;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

pub use def::{flags, MapDef, MapType, BPF_OBJ_NAME_LEN};
pub use error::{errno, MapError};
pub use lock::{spin_lock, spin_unlock, BPF_SPIN_LOCK_SIZE};
pub use percpu::{current_cpu, num_possible_cpus, set_current_cpu, set_num_possible_cpus};
pub use perf::{BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, DEFAULT_PERF_CAPACITY};
pub use ringbuf::{
    ringbuf_discard, ringbuf_submit, BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP, BPF_RB_PROD_POS, BPF_RB_RING_SIZE, BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ,
};

use array::ArrayMap;
use fdmap::{IdArray, MapArray, MapHash};
use hash::{HashConfig, HashTable};
use lpm::LpmTrie;
use perf::PerfEventArray;
use queue::QueueStack;
use ringbuf::RingBuf;

/// Update flag: create or replace.
pub const BPF_ANY: u64 = 0;
/// Update flag: create only (EEXIST if present).
pub const BPF_NOEXIST: u64 = 1;
/// Update flag: replace only (ENOENT if absent); for queues/stacks, overwrite when full.
pub const BPF_EXIST: u64 = 2;
/// Update/lookup flag: use the value's `bpf_spin_lock`.
pub const BPF_F_LOCK: u64 = 4;

/// `map_update_elem` flag check shared by hash and array maps: at most one of
/// `BPF_NOEXIST`/`BPF_EXIST`, and `BPF_F_LOCK` only for values with a `bpf_spin_lock`.
pub(crate) fn check_update_flags(
    flags: u64,
    op: &'static str,
    has_lock: bool,
) -> Result<(), MapError> {
    if flags & !BPF_F_LOCK > BPF_EXIST {
        return Err(MapError::InvalidFlags { op, flags });
    }
    if flags & BPF_F_LOCK != 0 && !has_lock {
        return Err(MapError::InvalidArg {
            op,
            reason: "BPF_F_LOCK needs a bpf_spin_lock in the map value",
        });
    }
    Ok(())
}

/// How the runtime turns ids stored in fd maps into objects (the kernel's fd table).
pub trait IdResolver: Send + Sync {
    /// The map with this id, for storing into a map-in-map.
    fn map(&self, id: u32) -> Option<Arc<Map>>;
    /// Whether a program with this id exists, for storing into a prog array.
    fn prog_exists(&self, id: u32) -> bool;
}

/// A range of map value memory, for checked mode's table of valid regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRegion {
    /// First byte.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
    /// Programs may write (false for `BPF_F_RDONLY_PROG` maps).
    pub writable: bool,
}

enum Kind {
    Array(ArrayMap),
    Hash(HashTable),
    Lpm(LpmTrie),
    Queue(QueueStack),
    RingBuf(RingBuf),
    Perf(PerfEventArray),
    ProgArray(IdArray),
    ArrayOfMaps(MapArray),
    HashOfMaps(MapHash),
}

/// An eBPF map; see the module docs.
pub struct Map {
    def: MapDef,
    ncpus: u32,
    /// Per-CPU map: program-side operations need [`current_cpu`].
    percpu: bool,
    id: AtomicU32,
    frozen: AtomicBool,
    resolver: OnceLock<Arc<dyn IdResolver>>,
    kind: Kind,
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("id", &self.id())
            .field("def", &self.def)
            .field("ncpus", &self.ncpus)
            .field("frozen", &self.is_frozen())
            .finish()
    }
}

fn key_u32(key: &[u8]) -> u32 {
    u32::from_ne_bytes([key[0], key[1], key[2], key[3]])
}

impl Map {
    /// Create a map (`BPF_MAP_CREATE`) with [`num_possible_cpus`] CPUs.
    #[doc(alias = "BPF_MAP_CREATE")]
    pub fn new(def: &MapDef) -> Result<Arc<Map>, MapError> {
        Map::with_cpus(def, num_possible_cpus())
    }

    /// Create a map for `ncpus` possible CPUs (per-CPU value count, perf array default).
    pub fn with_cpus(def: &MapDef, ncpus: u32) -> Result<Arc<Map>, MapError> {
        let ncpus = ncpus.max(1);
        let def = def.validate(ncpus)?;
        let percpu_n = if def.map_type.is_percpu() { ncpus } else { 1 };
        let prealloc = def.map_flags & flags::BPF_F_NO_PREALLOC == 0;
        let lock = lock::LockWord(def.spin_lock_off.map(|o| o as usize));
        let kind = match def.map_type {
            MapType::Array | MapType::PercpuArray => Kind::Array(ArrayMap::new(
                def.max_entries,
                def.value_size,
                percpu_n,
                lock,
            )?),
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                Kind::Hash(HashTable::new(&HashConfig {
                    key_size: def.key_size,
                    value_size: def.value_size,
                    max_entries: def.max_entries,
                    ncpus: percpu_n,
                    percpu: def.map_type.is_percpu(),
                    lru: matches!(def.map_type, MapType::LruHash | MapType::LruPercpuHash),
                    prealloc,
                    zero_seed: def.map_flags & flags::BPF_F_ZERO_SEED != 0,
                    lock,
                })?)
            }
            MapType::LpmTrie => {
                Kind::Lpm(LpmTrie::new(def.key_size, def.value_size, def.max_entries)?)
            }
            MapType::Queue | MapType::Stack => Kind::Queue(QueueStack::new(
                def.max_entries,
                def.value_size,
                def.map_type == MapType::Stack,
            )?),
            MapType::RingBuf => Kind::RingBuf(RingBuf::new(def.max_entries)?),
            MapType::PerfEventArray => Kind::Perf(PerfEventArray::new(def.max_entries)),
            MapType::ProgArray => Kind::ProgArray(IdArray::new(def.max_entries)),
            MapType::ArrayOfMaps => Kind::ArrayOfMaps(MapArray::new(def.max_entries)),
            MapType::HashOfMaps => {
                Kind::HashOfMaps(MapHash::new(def.key_size, def.max_entries, prealloc)?)
            }
        };
        Ok(Arc::new(Map {
            percpu: def.map_type.is_percpu(),
            def,
            ncpus,
            id: AtomicU32::new(0),
            frozen: AtomicBool::new(false),
            resolver: OnceLock::new(),
            kind,
        }))
    }

    /// The (normalized) definition.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.def.map_type
    }

    /// Possible CPUs this map was created for.
    pub fn ncpus(&self) -> u32 {
        self.ncpus
    }

    /// The id the runtime gave this map (0 until set).
    pub fn id(&self) -> u32 {
        self.id.load(Ordering::Relaxed)
    }

    /// Set the map's id (done by the runtime when it registers the map).
    pub fn set_id(&self, id: u32) {
        self.id.store(id, Ordering::Relaxed);
    }

    /// Install the resolver used when user space stores ids into fd maps. Returns false if
    /// one was already installed.
    pub fn set_resolver(&self, resolver: Arc<dyn IdResolver>) -> bool {
        self.resolver.set(resolver).is_ok()
    }

    /// The handle programs hold for this map: its address.
    pub fn handle(self: &Arc<Self>) -> u64 {
        Arc::as_ptr(self) as usize as u64
    }

    /// The map behind a handle (from [`Map::handle`] or a map-in-map lookup).
    ///
    /// # Safety
    /// `handle` must come from [`Map::handle`] or a map-in-map lookup, and the map must be
    /// alive for `'a` (the runtime holds an `Arc` while programs using it run; inner maps
    /// are kept alive by their outer map).
    pub unsafe fn from_handle<'a>(handle: u64) -> &'a Map {
        // SAFETY: guaranteed by the caller.
        unsafe { &*(handle as usize as *const Map) }
    }

    /// Bytes of the value buffer the user-space API takes and returns: `value_size`, or
    /// for per-CPU maps `round_up(value_size, 8) * ncpus`.
    pub fn user_value_size(&self) -> usize {
        match &self.kind {
            Kind::Array(a) => a.user_value_size(self.def.map_type.is_percpu()),
            Kind::Hash(h) => h.user_value_size(),
            _ => self.def.value_size as usize,
        }
    }

    /// Whether [`Map::freeze`] was called.
    pub fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::Acquire)
    }

    /// `BPF_MAP_FREEZE`: no more writes from user space (programs may still write unless
    /// the map is `BPF_F_RDONLY_PROG`, e.g. `.rodata`). EPERM if already frozen (as the kernel).
    #[doc(alias = "BPF_MAP_FREEZE")]
    pub fn freeze(&self) -> Result<(), MapError> {
        if self.def.map_flags & flags::BPF_F_RDONLY != 0 {
            return Err(MapError::PermissionDenied {
                op: "BPF_MAP_FREEZE",
                reason: "map is read-only for user space",
            });
        }
        if self.frozen.swap(true, Ordering::AcqRel) {
            return Err(MapError::AlreadyFrozen);
        }
        Ok(())
    }

    fn user_write_ok(&self, op: &'static str) -> Result<(), MapError> {
        if self.def.map_flags & flags::BPF_F_RDONLY != 0 {
            return Err(MapError::PermissionDenied {
                op,
                reason: "map created with BPF_F_RDONLY",
            });
        }
        if self.is_frozen() {
            return Err(MapError::PermissionDenied {
                op,
                reason: "map is frozen",
            });
        }
        Ok(())
    }

    fn user_read_ok(&self, op: &'static str) -> Result<(), MapError> {
        if self.def.map_flags & flags::BPF_F_WRONLY != 0 {
            return Err(MapError::PermissionDenied {
                op,
                reason: "map created with BPF_F_WRONLY",
            });
        }
        Ok(())
    }

    /// The CPU whose copy program-side operations use (the TLS read only for per-CPU maps).
    #[inline]
    pub(crate) fn prog_cpu(&self) -> u32 {
        if self.percpu {
            current_cpu()
        } else {
            0
        }
    }

    fn prog_write_ok(&self) -> bool {
        self.def.map_flags & flags::BPF_F_RDONLY_PROG == 0
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::SizeMismatch {
                what: "key",
                expected: self.def.key_size as usize,
                got: key.len(),
            });
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), MapError> {
        let expected = self.user_value_size();
        if value.len() != expected {
            return Err(MapError::SizeMismatch {
                what: "value",
                expected,
                got: value.len(),
            });
        }
        Ok(())
    }

    fn unsupported(&self, op: &'static str, errno: i32) -> MapError {
        MapError::NotSupported {
            op,
            map_type: self.def.map_type,
            errno,
        }
    }

    fn resolve_map(&self, id: u32) -> Result<Arc<Map>, MapError> {
        self.resolver
            .get()
            .and_then(|r| r.map(id))
            .ok_or(MapError::BadId { id })
    }

    /// `BPF_MAP_LOOKUP_ELEM`: a copy of the value. Queues/stacks take an empty key and
    /// peek; prog arrays and map-in-maps return the stored id.
    #[doc(alias = "BPF_MAP_LOOKUP_ELEM")]
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let mut out = vec![0u8; self.user_value_size()];
        self.lookup_into(key, &mut out)?;
        Ok(out)
    }

    /// [`Map::lookup`] into a caller buffer of [`Map::user_value_size`] bytes.
    pub fn lookup_into(&self, key: &[u8], out: &mut [u8]) -> Result<(), MapError> {
        self.lookup_flags_into(key, out, 0)
    }

    /// `BPF_MAP_LOOKUP_ELEM` with flags: `BPF_F_LOCK` copies the value under its
    /// `bpf_spin_lock` (EINVAL if it has none); other flags are EINVAL.
    pub fn lookup_flags(&self, key: &[u8], flags: u64) -> Result<Vec<u8>, MapError> {
        let mut out = vec![0u8; self.user_value_size()];
        self.lookup_flags_into(key, &mut out, flags)?;
        Ok(out)
    }

    fn lookup_flags_into(&self, key: &[u8], out: &mut [u8], flags: u64) -> Result<(), MapError> {
        let op = "BPF_MAP_LOOKUP_ELEM";
        if flags & BPF_F_LOCK != 0 && self.def.spin_lock_off.is_none() {
            return Err(MapError::InvalidArg {
                op,
                reason: "BPF_F_LOCK needs a bpf_spin_lock in the map value",
            });
        }
        if flags & !BPF_F_LOCK != 0 {
            return Err(MapError::InvalidFlags { op, flags });
        }
        let locked = flags & BPF_F_LOCK != 0;
        self.user_read_ok(op)?;
        self.check_key(key)?;
        self.check_value(out)?;
        match &self.kind {
            Kind::Array(a) => a.lookup(key_u32(key), out, self.def.map_type.is_percpu(), locked),
            Kind::Hash(h) => h.lookup(key, out, locked),
            Kind::Lpm(t) => t.lookup(key, out),
            // SAFETY: out has value_size bytes (checked above).
            Kind::Queue(q) => unsafe { q.take(out.as_mut_ptr(), false) },
            Kind::RingBuf(_) | Kind::Perf(_) => {
                Err(self.unsupported("BPF_MAP_LOOKUP_ELEM", errno::ENOTSUPP))
            }
            Kind::ProgArray(p) => {
                let id = p.get(key_u32(key)).ok_or(MapError::NotFound)?;
                out.copy_from_slice(&id.to_ne_bytes());
                Ok(())
            }
            Kind::ArrayOfMaps(m) => Self::inner_id(m.get(key_u32(key)), out),
            // SAFETY: key has key_size bytes (checked above).
            Kind::HashOfMaps(m) => Self::inner_id(unsafe { m.get(key.as_ptr()) }, out),
        }
    }

    fn inner_id(handle: *const Map, out: &mut [u8]) -> Result<(), MapError> {
        if handle.is_null() {
            return Err(MapError::NotFound);
        }
        // SAFETY: non-null handles in outer maps point to maps kept alive by the outer map.
        let id = unsafe { (*handle).id() };
        out.copy_from_slice(&id.to_ne_bytes());
        Ok(())
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST`. Per-CPU maps
    /// take every CPU's value; fd maps take a u32 id; queues/stacks take an empty key and
    /// push.
    #[doc(alias = "BPF_MAP_UPDATE_ELEM")]
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.user_write_ok("BPF_MAP_UPDATE_ELEM")?;
        self.check_key(key)?;
        self.check_value(value)?;
        let percpu = self.def.map_type.is_percpu();
        match &self.kind {
            // SAFETY: value has user_value_size bytes (checked above).
            Kind::Array(a) => unsafe { a.update(key_u32(key), value.as_ptr(), flags, percpu, 0) },
            // SAFETY: key and value sizes checked above.
            Kind::Hash(h) => unsafe { h.update(key.as_ptr(), value.as_ptr(), flags, percpu, 0) },
            // SAFETY: value size checked above.
            Kind::Lpm(t) => unsafe { t.update(key, value.as_ptr(), flags) },
            // SAFETY: value size checked above.
            Kind::Queue(q) => unsafe { q.push(value.as_ptr(), flags) },
            Kind::RingBuf(_) => Err(self.unsupported("BPF_MAP_UPDATE_ELEM", errno::ENOTSUPP)),
            Kind::Perf(p) => {
                check_fd_flags(flags)?;
                p.open(key_u32(key), key_u32(value), DEFAULT_PERF_CAPACITY)
            }
            Kind::ProgArray(p) => {
                // The kernel checks flags and index before resolving the fd.
                self.check_fd_slot(key, flags)?;
                let id = key_u32(value);
                if let Some(r) = self.resolver.get() {
                    if !r.prog_exists(id) {
                        return Err(MapError::BadId { id });
                    }
                }
                p.set(key_u32(key), id, flags)
            }
            Kind::ArrayOfMaps(_) | Kind::HashOfMaps(_) => {
                if let Kind::ArrayOfMaps(_) = &self.kind {
                    self.check_fd_slot(key, flags)?;
                }
                let inner = self.resolve_map(key_u32(value))?;
                self.set_inner_map(key, &inner, flags)
            }
        }
    }

    /// `bpf_fd_array_map_update_elem`'s checks before the fd is looked at: only
    /// `BPF_ANY` (EINVAL), index in range (E2BIG).
    fn check_fd_slot(&self, key: &[u8], flags: u64) -> Result<(), MapError> {
        check_fd_flags(flags)?;
        let index = key_u32(key);
        if index >= self.def.max_entries {
            return Err(MapError::IndexOutOfRange {
                index,
                max_entries: self.def.max_entries,
            });
        }
        Ok(())
    }

    /// Store an inner map into a map-in-map directly (what [`Map::update`] does after
    /// resolving the id). EINVAL if it does not match the inner template.
    pub fn set_inner_map(&self, key: &[u8], inner: &Arc<Map>, flags: u64) -> Result<(), MapError> {
        self.user_write_ok("BPF_MAP_UPDATE_ELEM")?;
        self.check_key(key)?;
        let compatible = self
            .def
            .inner
            .as_deref()
            .is_some_and(|t| t.inner_compatible(&inner.def));
        match &self.kind {
            Kind::ArrayOfMaps(_) | Kind::HashOfMaps(_) if !compatible => {
                Err(MapError::InvalidArg {
                    op: "map-in-map update",
                    reason: "inner map does not match the inner map template",
                })
            }
            Kind::ArrayOfMaps(m) => m.set(key_u32(key), inner, flags),
            Kind::HashOfMaps(m) => m.set(key, inner, flags),
            _ => Err(self.unsupported("set_inner_map", errno::EINVAL)),
        }
    }

    /// `BPF_MAP_DELETE_ELEM`. EINVAL for arrays and queues (elements cannot be deleted).
    #[doc(alias = "BPF_MAP_DELETE_ELEM")]
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.user_write_ok("BPF_MAP_DELETE_ELEM")?;
        self.check_key(key)?;
        self.delete_checked(key)
    }

    fn delete_checked(&self, key: &[u8]) -> Result<(), MapError> {
        match &self.kind {
            Kind::Array(_) | Kind::Queue(_) => {
                Err(self.unsupported("BPF_MAP_DELETE_ELEM", errno::EINVAL))
            }
            // SAFETY: key size checked by the caller.
            Kind::Hash(h) => unsafe { h.delete(key.as_ptr(), None) },
            Kind::Lpm(t) => t.delete(key),
            Kind::RingBuf(_) => Err(self.unsupported("BPF_MAP_DELETE_ELEM", errno::ENOTSUPP)),
            Kind::Perf(p) => p.close(key_u32(key)),
            Kind::ProgArray(p) => p.clear(key_u32(key)),
            Kind::ArrayOfMaps(m) => m.clear(key_u32(key)),
            Kind::HashOfMaps(m) => m.delete(key),
        }
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: pop for queues/stacks (empty key), atomic
    /// lookup-and-delete for hash maps.
    #[doc(alias = "BPF_MAP_LOOKUP_AND_DELETE_ELEM")]
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        self.user_read_ok("BPF_MAP_LOOKUP_AND_DELETE_ELEM")?;
        self.user_write_ok("BPF_MAP_LOOKUP_AND_DELETE_ELEM")?;
        self.check_key(key)?;
        let mut out = vec![0u8; self.user_value_size()];
        match &self.kind {
            // SAFETY: out has value_size bytes.
            Kind::Queue(q) => unsafe { q.take(out.as_mut_ptr(), true) }?,
            // SAFETY: key size checked above.
            Kind::Hash(h) => unsafe { h.delete(key.as_ptr(), Some(&mut out)) }?,
            _ => return Err(self.unsupported("BPF_MAP_LOOKUP_AND_DELETE_ELEM", errno::ENOTSUPP)),
        }
        Ok(out)
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the first key for `None` (or a key no longer present in a
    /// hash map), then each following key; ENOENT after the last.
    #[doc(alias = "BPF_MAP_GET_NEXT_KEY")]
    pub fn get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, MapError> {
        if let Some(k) = key {
            self.check_key(k)?;
        }
        let mut out = vec![0u8; self.def.key_size as usize];
        let array_next = |max: u32| {
            let a = ArrayNext { max_entries: max };
            a.next(key.map(key_u32)).map(|i| i.to_ne_bytes().to_vec())
        };
        match &self.kind {
            Kind::Array(_) | Kind::Perf(_) | Kind::ProgArray(_) | Kind::ArrayOfMaps(_) => {
                array_next(self.def.max_entries)
            }
            Kind::Hash(h) => h.get_next_key(key, &mut out).map(|()| out),
            Kind::HashOfMaps(m) => m.table().get_next_key(key, &mut out).map(|()| out),
            Kind::Lpm(t) => t.get_next_key(key, &mut out).map(|()| out),
            Kind::Queue(_) => Err(self.unsupported("BPF_MAP_GET_NEXT_KEY", errno::EINVAL)),
            Kind::RingBuf(_) => Err(self.unsupported("BPF_MAP_GET_NEXT_KEY", errno::ENOTSUPP)),
        }
    }

    /// Every key, by repeated [`Map::get_next_key`] (empty for maps without keys).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        while let Ok(next) = self.get_next_key(cur.as_deref()) {
            keys.push(next.clone());
            cur = Some(next);
            if keys.len() > self.def.max_entries as usize {
                break;
            }
        }
        keys
    }

    /// Push onto a queue or stack (`BPF_EXIST` overwrites the oldest value when full).
    pub fn push(&self, value: &[u8], flags: u64) -> Result<(), MapError> {
        self.update(&[], value, flags)
    }

    /// Pop from a queue (oldest) or stack (newest); ENOENT when empty.
    pub fn pop(&self) -> Result<Vec<u8>, MapError> {
        self.lookup_and_delete(&[])
    }

    /// Peek at the value [`Map::pop`] would return.
    pub fn peek(&self) -> Result<Vec<u8>, MapError> {
        self.lookup(&[])
    }

    /// Elements currently held by a hash map, LPM trie, queue or stack (None for other
    /// types, whose element count is fixed or meaningless).
    pub fn element_count(&self) -> Option<usize> {
        match &self.kind {
            Kind::Hash(h) => {
                let mut n = 0;
                h.for_each(|_| n += 1);
                Some(n)
            }
            Kind::HashOfMaps(m) => {
                let mut n = 0;
                m.table().for_each(|_| n += 1);
                Some(n)
            }
            Kind::Lpm(t) => Some(t.len()),
            Kind::Queue(q) => Some(q.len() as usize),
            _ => None,
        }
    }

    /// The id stored at `index` of a prog array: the program a tail call jumps to.
    #[inline]
    pub fn prog_array_get(&self, index: u32) -> Option<u32> {
        match &self.kind {
            Kind::ProgArray(p) => p.get(index),
            _ => None,
        }
    }

    /// Value memory regions (for checked mode). Hash and LPM maps grow theirs unless
    /// preallocated, so ask again when building a run's region table.
    pub fn value_regions(&self) -> Vec<MemRegion> {
        let raw = match &self.kind {
            Kind::Array(a) => a.regions(),
            Kind::Hash(h) => h.regions(),
            Kind::Lpm(t) => t.regions(),
            Kind::RingBuf(r) => r.regions(),
            _ => Vec::new(),
        };
        let writable = self.prog_write_ok();
        raw.into_iter()
            .map(|(p, len)| MemRegion {
                start: p as usize,
                len,
                writable,
            })
            .collect()
    }

    /// Key memory of hash maps (read-only for programs): where the keys passed to
    /// [`Map::for_each_elem`] callbacks live. Empty for other types.
    pub fn key_regions(&self) -> Vec<MemRegion> {
        match &self.kind {
            Kind::Hash(h) => h
                .key_regions()
                .into_iter()
                .map(|(p, len)| MemRegion {
                    start: p as usize,
                    len,
                    writable: false,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Address of byte `off` of the single value of a one-entry array — what
    /// `BPF_PSEUDO_MAP_VALUE` relocations (global data) resolve to, as the kernel's
    /// `map_direct_value_addr`. ENOTSUPP unless an array with one entry; EINVAL if `off`
    /// is not inside the value.
    pub fn direct_value_addr(&self, off: u32) -> Result<u64, MapError> {
        match &self.kind {
            Kind::Array(a) if self.def.map_type == MapType::Array && self.def.max_entries == 1 => {
                if off >= self.def.value_size {
                    return Err(MapError::InvalidArg {
                        op: "map_direct_value_addr",
                        reason: "offset past the value",
                    });
                }
                debug_assert!(a.stride_bytes() >= self.def.value_size as usize);
                Ok(a.value_ptr(0, 0) as usize as u64 + u64::from(off))
            }
            _ => Err(self.unsupported("map_direct_value_addr", errno::ENOTSUPP)),
        }
    }

    /// Consume committed ring buffer records in order (libbpf's `ring_buffer__consume`);
    /// returns how many were handed to `f`. Never blocks; see [`Map::ringbuf_poll`].
    #[doc(alias = "ring_buffer__consume")]
    pub fn ringbuf_consume(&self, mut f: impl FnMut(&[u8])) -> Result<usize, MapError> {
        match &self.kind {
            Kind::RingBuf(r) => Ok(r.consume(&mut f)),
            _ => Err(self.unsupported("ringbuf_consume", errno::EINVAL)),
        }
    }

    /// Like libbpf's `ring_buffer__poll`: consume ready records, or wait up to `timeout`
    /// for a producer to submit one. Returns the records handed to `f`.
    #[doc(alias = "ring_buffer__poll")]
    pub fn ringbuf_poll(
        &self,
        timeout: std::time::Duration,
        mut f: impl FnMut(&[u8]),
    ) -> Result<usize, MapError> {
        match &self.kind {
            Kind::RingBuf(r) => Ok(r.poll(timeout, &mut f)),
            _ => Err(self.unsupported("ringbuf_poll", errno::EINVAL)),
        }
    }

    /// Open perf channel `index` for event id `event` holding up to `capacity` bytes
    /// (the same as storing the id with [`Map::update`], which uses
    /// [`DEFAULT_PERF_CAPACITY`]).
    pub fn perf_open(&self, index: u32, event: u32, capacity: usize) -> Result<(), MapError> {
        match &self.kind {
            Kind::Perf(p) => p.open(index, event, capacity),
            _ => Err(self.unsupported("perf_open", errno::EINVAL)),
        }
    }

    /// Hand the pending samples of perf channel `index` to `f`, oldest first.
    #[doc(alias = "perf_buffer__poll")]
    pub fn perf_drain(&self, index: u32, mut f: impl FnMut(&[u8])) -> Result<usize, MapError> {
        match &self.kind {
            Kind::Perf(p) => p.drain(index, &mut f),
            _ => Err(self.unsupported("perf_drain", errno::EINVAL)),
        }
    }

    /// Drain every perf channel: `f(index, sample)`.
    pub fn perf_drain_all(&self, mut f: impl FnMut(u32, &[u8])) -> Result<usize, MapError> {
        match &self.kind {
            Kind::Perf(p) => {
                let mut n = 0;
                for i in 0..p.len() {
                    n += p.drain(i, &mut |s| f(i, s))?;
                }
                Ok(n)
            }
            _ => Err(self.unsupported("perf_drain", errno::EINVAL)),
        }
    }

    /// Samples lost on perf channel `index` because it was full.
    pub fn perf_lost(&self, index: u32) -> u64 {
        match &self.kind {
            Kind::Perf(p) => p.lost(index),
            _ => 0,
        }
    }
}

/// `BPF_ANY`-only check for fd arrays.
fn check_fd_flags(flags: u64) -> Result<(), MapError> {
    if flags != BPF_ANY {
        return Err(MapError::InvalidFlags {
            op: "fd array update",
            flags,
        });
    }
    Ok(())
}

/// `array_map_get_next_key` over `max_entries` indices.
struct ArrayNext {
    max_entries: u32,
}

impl ArrayNext {
    fn next(&self, key: Option<u32>) -> Result<u32, MapError> {
        match key {
            Some(i) if i < self.max_entries => {
                if i + 1 == self.max_entries {
                    Err(MapError::NotFound)
                } else {
                    Ok(i + 1)
                }
            }
            _ => Ok(0),
        }
    }
}
