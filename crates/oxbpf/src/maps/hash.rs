//! Hash maps: `HASH`, `PERCPU_HASH`, `LRU_HASH`, `LRU_PERCPU_HASH` (and the storage of
//! `HASH_OF_MAPS`).
//!
//! Layout, as the kernel's preallocated `htab`: a power-of-two bucket array whose heads are
//! element indices, and a pool of `max_entries` elements in two [`Arena`]s — `meta` holds
//! each element's header and key, `values` its value (so the value memory handed to programs
//! contains values only). Deleted elements go to a free list and are reused; memory is
//! freed only when the map is dropped, so a pointer from a lookup stays valid.
//!
//! Readers take no lock and never allocate. Chains end in a "nulls" marker naming their
//! bucket (`NULLS | bucket`), and every element has a sequence count that writers make odd
//! while they change the element's hash, key or link. A reader that sees the sequence change
//! under it, or reaches the end marker of another bucket (it followed a reused element), just
//! restarts — the kernel's `hlist_nulls` + `SLAB_TYPESAFE_BY_RCU` scheme. Keys and links are
//! read with atomic loads, so the races are benign in Rust's memory model too.
//!
//! Writers lock only their bucket (plus the free-list lock for an instant).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::ptr;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::arena::{copy, Arena};
use super::lock::LockWord;
use super::percpu::{percpu_stride, round8};
use super::{check_update_flags, MapError, BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST};

/// Marks a chain end; the low bits say which bucket the chain belongs to.
const NULLS: u32 = 1 << 31;
/// Element header bytes before the key in `meta`.
const HDR: usize = 16;
/// `flags` bit: element is linked in a bucket.
const LIVE: u32 = 1;
/// `flags` bit: looked up since the LRU clock last passed (LRU maps only).
const REF: u32 = 2;

/// Header at the start of every `meta` slot. All fields are atomics in zeroed memory.
#[repr(C)]
struct Header {
    seq: AtomicU32,
    hash: AtomicU32,
    next: AtomicU32,
    flags: AtomicU32,
}

struct Bucket {
    head: AtomicU32,
    lock: Mutex<()>,
}

struct FreeList {
    free: Vec<u32>,
    /// Elements `next_unused..max_entries` were never handed out.
    next_unused: u32,
}

/// Construction parameters.
pub(crate) struct HashConfig {
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// CPUs with a value copy: 1 unless per-CPU.
    pub ncpus: u32,
    pub percpu: bool,
    pub lru: bool,
    pub prealloc: bool,
    pub zero_seed: bool,
    /// `bpf_spin_lock` in the value (plain hash maps only).
    pub lock: LockWord,
}

/// A hash table; see the module docs.
pub(crate) struct HashTable {
    key_size: usize,
    value_size: usize,
    cpu_stride: usize,
    ncpus: u32,
    percpu: bool,
    pub(crate) lru: bool,
    max_entries: u32,
    mask: u32,
    seed: u64,
    buckets: Box<[Bucket]>,
    meta: Arena,
    values: Arena,
    freelist: Mutex<FreeList>,
    /// LRU clock hand (index of the next element to consider for eviction).
    clock: Mutex<u32>,
    lock: LockWord,
}

/// Mix 8 key bytes into the hash state.
#[inline]
pub(crate) fn mix(h: u64, w: u64) -> u64 {
    let x = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

impl HashTable {
    pub(crate) fn new(cfg: &HashConfig) -> Result<HashTable, MapError> {
        let n_buckets = cfg.max_entries.checked_next_power_of_two().unwrap_or(0);
        // The kernel refuses more buckets than fit a u32 byte count (16-byte buckets).
        if n_buckets == 0 || n_buckets > u32::MAX / 16 {
            return Err(MapError::NoMemory { bytes: usize::MAX });
        }
        let ncpus = if cfg.percpu { cfg.ncpus.max(1) } else { 1 };
        let cpu_stride = percpu_stride(cfg.value_size);
        let key_stride = round8(cfg.key_size as usize);
        let seed = if cfg.zero_seed {
            0
        } else {
            RandomState::new().hash_one(0x006f_7862_7066_u64)
        };
        let buckets = (0..n_buckets)
            .map(|b| Bucket {
                head: AtomicU32::new(NULLS | b),
                lock: Mutex::new(()),
            })
            .collect();
        Ok(HashTable {
            key_size: cfg.key_size as usize,
            value_size: cfg.value_size as usize,
            cpu_stride,
            ncpus,
            percpu: cfg.percpu,
            lru: cfg.lru,
            max_entries: cfg.max_entries,
            mask: n_buckets - 1,
            seed,
            buckets,
            meta: Arena::new(HDR + key_stride, cfg.max_entries, cfg.prealloc)?,
            values: Arena::new(cpu_stride * ncpus as usize, cfg.max_entries, cfg.prealloc)?,
            freelist: Mutex::new(FreeList {
                free: Vec::new(),
                next_unused: 0,
            }),
            clock: Mutex::new(0),
            lock: cfg.lock,
        })
    }

    /// Bytes of the user-space value buffer.
    pub(crate) fn user_value_size(&self) -> usize {
        if self.percpu {
            self.cpu_stride * self.ncpus as usize
        } else {
            self.value_size
        }
    }

    /// Seeded hash of `key_size` bytes at `key`.
    ///
    /// # Safety
    /// `key` must be readable for `key_size` bytes.
    #[inline]
    unsafe fn hash(&self, key: *const u8) -> u32 {
        let n = self.key_size;
        let mut h = self.seed ^ (n as u64);
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= key_size.
            h = mix(h, unsafe { key.add(i).cast::<u64>().read_unaligned() });
            i += 8;
        }
        let rem = n - i;
        if rem > 0 {
            // SAFETY: every read below stays within key[i..n] (rem bytes); overlapping
            // reads still cover every byte (the wyhash tail trick), and rem is fixed per map.
            let tail = unsafe {
                let p = key.add(i);
                if rem >= 4 {
                    let lo = u64::from(p.cast::<u32>().read_unaligned());
                    let hi = u64::from(p.add(rem - 4).cast::<u32>().read_unaligned());
                    lo | (hi << 32)
                } else {
                    u64::from(*p)
                        | (u64::from(*p.add(rem / 2)) << 8)
                        | (u64::from(*p.add(rem - 1)) << 16)
                }
            };
            h = mix(h, tail);
        }
        let h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        (h ^ (h >> 32)) as u32
    }

    #[inline]
    fn header(&self, idx: u32) -> &Header {
        // SAFETY: every index reaching here was handed out by the free list, whose slots
        // are allocated, zero-initialized, 8-aligned and at least HDR bytes: a valid Header
        // of atomics that lives as long as self.
        unsafe { &*self.meta.slot(idx).cast::<Header>() }
    }

    /// The 8-byte chunks of an element's stored key (zero padded).
    #[inline]
    fn key_words(&self, idx: u32) -> &[AtomicU64] {
        // SAFETY: the meta slot has round8(key_size) bytes after the header, 8-aligned and
        // initialized (zeroed or written as AtomicU64).
        unsafe {
            std::slice::from_raw_parts(
                self.meta.slot(idx).add(HDR).cast::<AtomicU64>(),
                round8(self.key_size) / 8,
            )
        }
    }

    /// Compare an element's stored key with `key`.
    ///
    /// # Safety
    /// `key` must be readable for `key_size` bytes.
    #[inline]
    unsafe fn key_eq(&self, idx: u32, key: *const u8) -> bool {
        let words = self.key_words(idx);
        let full = self.key_size / 8;
        for (i, w) in words.iter().enumerate().take(full) {
            // SAFETY: (i + 1) * 8 <= key_size.
            let probe = unsafe { key.add(i * 8).cast::<u64>().read_unaligned() };
            if w.load(Ordering::Relaxed) != probe {
                return false;
            }
        }
        let rest = self.key_size % 8;
        if rest != 0 {
            let mut probe = [0u8; 8];
            // SAFETY: the last `rest` key bytes are readable; probe has 8 bytes.
            unsafe { copy(probe.as_mut_ptr(), key.add(full * 8), rest) };
            if words[full].load(Ordering::Relaxed) != u64::from_le_bytes(probe) {
                return false;
            }
        }
        true
    }

    /// Store `key` into an element (the element's sequence count must be odd).
    ///
    /// # Safety
    /// `key` must be readable for `key_size` bytes.
    unsafe fn store_key(&self, idx: u32, key: *const u8) {
        let words = self.key_words(idx);
        for (i, w) in words.iter().enumerate() {
            let mut buf = [0u8; 8];
            let n = (self.key_size - i * 8).min(8);
            // SAFETY: bytes i*8 .. i*8+n of the key are readable.
            unsafe { copy(buf.as_mut_ptr(), key.add(i * 8), n) };
            w.store(u64::from_le_bytes(buf), Ordering::Relaxed);
        }
    }

    /// Copy an element's key out.
    pub(crate) fn read_key(&self, idx: u32, out: &mut [u8]) {
        for (i, w) in self.key_words(idx).iter().enumerate() {
            let bytes = w.load(Ordering::Relaxed).to_le_bytes();
            let n = (self.key_size - i * 8).min(8);
            out[i * 8..i * 8 + n].copy_from_slice(&bytes[..n]);
        }
    }

    /// Pointer to `cpu`'s copy of an element's value.
    #[inline]
    fn value_ptr(&self, idx: u32, cpu: u32) -> *mut u8 {
        let cpu = if cpu < self.ncpus {
            cpu
        } else {
            cpu % self.ncpus
        } as usize;
        // SAFETY: the value slot has ncpus * cpu_stride bytes.
        unsafe { self.values.slot(idx).add(cpu * self.cpu_stride) }
    }

    /// Lock-free search; returns the element index holding `key`.
    ///
    /// # Safety
    /// `key` must be readable for `key_size` bytes.
    #[inline]
    unsafe fn find(&self, key: *const u8, hash: u32) -> Option<u32> {
        let b = hash & self.mask;
        let bucket = &self.buckets[b as usize];
        'restart: loop {
            let mut idx = bucket.head.load(Ordering::Acquire);
            let mut steps = 0u32;
            while idx & NULLS == 0 {
                let h = self.header(idx);
                let s1 = h.seq.load(Ordering::Acquire);
                if s1 & 1 != 0 {
                    std::hint::spin_loop();
                    continue 'restart;
                }
                // SAFETY: forwarded from the caller.
                let matched =
                    h.hash.load(Ordering::Relaxed) == hash && unsafe { self.key_eq(idx, key) };
                let next = h.next.load(Ordering::Acquire);
                fence(Ordering::Acquire);
                if h.seq.load(Ordering::Relaxed) != s1 {
                    continue 'restart;
                }
                if matched {
                    return Some(idx);
                }
                idx = next;
                steps += 1;
                if steps > self.max_entries {
                    // Followed reused elements round in circles: start over.
                    continue 'restart;
                }
            }
            if idx != NULLS | b {
                // Ended in another bucket's chain via a reused element.
                continue 'restart;
            }
            return None;
        }
    }

    /// Search under the bucket lock: (element, its predecessor) for `key`.
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes; caller holds bucket `hash & mask`'s lock.
    unsafe fn find_locked(&self, key: *const u8, hash: u32) -> Option<(u32, Option<u32>)> {
        let b = hash & self.mask;
        let mut prev = None;
        let mut idx = self.buckets[b as usize].head.load(Ordering::Acquire);
        while idx & NULLS == 0 {
            let h = self.header(idx);
            // SAFETY: forwarded from the caller.
            if h.hash.load(Ordering::Relaxed) == hash && unsafe { self.key_eq(idx, key) } {
                return Some((idx, prev));
            }
            prev = Some(idx);
            idx = h.next.load(Ordering::Acquire);
        }
        None
    }

    /// Unlink `idx` (whose predecessor is `prev`) from bucket `b`; lock held. The element's
    /// own `next` is left as is so readers standing on it can walk on.
    fn unlink(&self, b: u32, idx: u32, prev: Option<u32>) {
        let next = self.header(idx).next.load(Ordering::Relaxed);
        match prev {
            Some(p) => self.header(p).next.store(next, Ordering::Release),
            None => self.buckets[b as usize].head.store(next, Ordering::Release),
        }
        self.header(idx).flags.store(0, Ordering::Relaxed);
    }

    /// Take an unused element, allocating its memory if the map is not preallocated.
    fn pop_free(&self) -> Result<Option<u32>, MapError> {
        let mut fl = self.freelist.lock();
        if let Some(i) = fl.free.pop() {
            return Ok(Some(i));
        }
        if fl.next_unused < self.max_entries {
            let i = fl.next_unused;
            self.meta.ensure(i)?;
            self.values.ensure(i)?;
            fl.next_unused += 1;
            return Ok(Some(i));
        }
        Ok(None)
    }

    fn push_free(&self, idx: u32) {
        self.freelist.lock().free.push(idx);
    }

    /// Give a new element its hash, key and link (under the bucket lock), then publish it
    /// at the head of its bucket.
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes; caller holds the bucket lock.
    unsafe fn link_new(&self, idx: u32, key: *const u8, hash: u32) {
        let b = hash & self.mask;
        let head = &self.buckets[b as usize].head;
        let h = self.header(idx);
        let s = h.seq.load(Ordering::Relaxed);
        h.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        h.hash.store(hash, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { self.store_key(idx, key) };
        h.next
            .store(head.load(Ordering::Relaxed), Ordering::Relaxed);
        h.flags.store(LIVE, Ordering::Relaxed);
        h.seq.store(s.wrapping_add(2), Ordering::Release);
        head.store(idx, Ordering::Release);
    }

    /// Fill a fresh element's value: from user space every CPU's copy (`all_cpus`), from a
    /// program the current CPU's copy with the others zeroed (as `pcpu_init_value`).
    ///
    /// # Safety
    /// `value` readable for `user_value_size()` bytes if `all_cpus`, else `value_size`.
    unsafe fn init_value(&self, idx: u32, value: *const u8, all_cpus: bool, cpu: u32) {
        if !self.percpu {
            // SAFETY: value_size bytes readable; the slot holds cpu_stride >= value_size.
            unsafe {
                self.lock
                    .init(self.value_ptr(idx, 0), value, self.value_size)
            };
            return;
        }
        for c in 0..self.ncpus {
            let dst = self.value_ptr(idx, c);
            if all_cpus {
                // SAFETY: the user buffer holds ncpus * cpu_stride bytes.
                unsafe {
                    copy(
                        dst,
                        value.add(c as usize * self.cpu_stride),
                        self.cpu_stride,
                    )
                };
            } else if c == cpu % self.ncpus {
                // SAFETY: value_size bytes readable.
                unsafe { copy(dst, value, self.value_size) };
            } else {
                // SAFETY: dst has cpu_stride writable bytes.
                unsafe { ptr::write_bytes(dst, 0, self.cpu_stride) };
            }
        }
    }

    /// Program-side lookup: pointer to the value (the current CPU's copy for per-CPU maps).
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes.
    #[inline]
    pub(crate) unsafe fn lookup_ptr(&self, key: *const u8, cpu: u32) -> *mut u8 {
        // SAFETY: forwarded from the caller.
        let hash = unsafe { self.hash(key) };
        // SAFETY: forwarded from the caller.
        match unsafe { self.find(key, hash) } {
            Some(idx) => {
                if self.lru {
                    self.touch(idx);
                }
                self.value_ptr(idx, cpu)
            }
            None => ptr::null_mut(),
        }
    }

    /// Mark an LRU element as recently used; a plain load first keeps the cache line
    /// shared when the bit is already set (as the kernel's `bpf_lru_node_set_ref`).
    #[inline]
    fn touch(&self, idx: u32) {
        let f = &self.header(idx).flags;
        if f.load(Ordering::Relaxed) & REF == 0 {
            f.fetch_or(REF, Ordering::Relaxed);
        }
    }

    /// Element index for `key`, if present (lock-free).
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes.
    pub(crate) unsafe fn find_index(&self, key: *const u8) -> Option<u32> {
        // SAFETY: forwarded from the caller.
        unsafe { self.find(key, self.hash(key)) }
    }

    /// Raw value pointer of element `idx` for `cpu` (for map-in-map glue).
    pub(crate) fn element_value(&self, idx: u32, cpu: u32) -> *mut u8 {
        self.value_ptr(idx, cpu)
    }

    /// User-space lookup: copy the value (all CPUs for per-CPU maps) into `out`, under the
    /// value's spin lock if `locked` (`BPF_F_LOCK`).
    pub(crate) fn lookup(&self, key: &[u8], out: &mut [u8], locked: bool) -> Result<(), MapError> {
        // SAFETY: the caller checked key.len() == key_size.
        let idx = unsafe { self.find_index(key.as_ptr()) }.ok_or(MapError::NotFound)?;
        self.copy_out(idx, out, locked);
        Ok(())
    }

    fn copy_out(&self, idx: u32, out: &mut [u8], locked: bool) {
        if self.percpu {
            for c in 0..self.ncpus {
                // SAFETY: out has ncpus * cpu_stride bytes; each copy has cpu_stride.
                unsafe {
                    copy(
                        out.as_mut_ptr().add(c as usize * self.cpu_stride),
                        self.value_ptr(idx, c),
                        self.cpu_stride,
                    )
                };
            }
        } else {
            // SAFETY: out and the value both have value_size bytes.
            unsafe {
                self.lock.load(
                    out.as_mut_ptr(),
                    self.value_ptr(idx, 0),
                    self.value_size,
                    locked,
                )
            };
        }
    }

    /// Insert or replace. `all_cpus`: `value` holds every CPU's copy (user space on a
    /// per-CPU map); otherwise one value, applied to CPU `cpu` for per-CPU maps.
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes, `value` for the size `all_cpus` implies.
    pub(crate) unsafe fn update(
        &self,
        key: *const u8,
        value: *const u8,
        flags: u64,
        all_cpus: bool,
        cpu: u32,
    ) -> Result<(), MapError> {
        check_update_flags(flags, "map_update_elem", self.lock.0.is_some())?;
        // SAFETY: forwarded from the caller.
        let hash = unsafe { self.hash(key) };
        let b = hash & self.mask;
        if flags & BPF_F_LOCK != 0 {
            // BPF_F_LOCK updates an existing value in place under its spin lock, as the
            // kernel does, and inserts normally otherwise.
            let _g = self.buckets[b as usize].lock.lock();
            // SAFETY: forwarded; we hold the bucket lock.
            if let Some((idx, _)) = unsafe { self.find_locked(key, hash) } {
                if flags & 3 == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                // SAFETY: value has value_size bytes; so has the element's value.
                unsafe {
                    self.lock
                        .store_locked(self.value_ptr(idx, 0), value, self.value_size)
                };
                return Ok(());
            }
        }
        // LRU maps get their element before taking the bucket lock, since evicting locks
        // another bucket (the kernel's `prealloc_lru_pop` order).
        let mut spare = if self.lru {
            // Fail early where the outcome is already known, so a failing update does not
            // evict anything (the kernel evicts first; rechecked under the lock anyway).
            // SAFETY: forwarded.
            let present = unsafe { self.find(key, hash) }.is_some();
            if flags & 3 == BPF_EXIST && !present {
                return Err(MapError::NotFound);
            }
            if flags & 3 == BPF_NOEXIST && present {
                return Err(MapError::Exists);
            }
            Some(self.lru_alloc()?)
        } else {
            None
        };
        let guard = self.buckets[b as usize].lock.lock();
        // SAFETY: forwarded; we hold the bucket lock.
        let old = unsafe { self.find_locked(key, hash) };
        let result = (|| {
            match (old, flags & 3) {
                (Some(_), BPF_NOEXIST) => return Err(MapError::Exists),
                (None, BPF_EXIST) => return Err(MapError::NotFound),
                _ => {}
            }
            if let Some((old_idx, prev)) = old {
                if self.percpu {
                    // Per-CPU values are updated in place, as the kernel does.
                    if all_cpus {
                        // SAFETY: forwarded.
                        unsafe { self.init_value(old_idx, value, true, cpu) };
                    } else {
                        // SAFETY: value_size readable; the CPU copy has that many bytes.
                        unsafe { copy(self.value_ptr(old_idx, cpu), value, self.value_size) };
                    }
                    return Ok(());
                }
                let new = match spare.take() {
                    Some(i) => Some(i),
                    None => self.pop_free()?,
                };
                match new {
                    Some(new_idx) => {
                        // Readers see the old or the new element whole, never a torn value.
                        // SAFETY: forwarded.
                        unsafe {
                            self.init_value(new_idx, value, all_cpus, cpu);
                            self.link_new(new_idx, key, hash);
                        }
                        // link_new put new_idx at the head; old's predecessor is unchanged
                        // unless old was the head, in which case new_idx precedes it now.
                        self.unlink(b, old_idx, Some(prev.unwrap_or(new_idx)));
                        self.push_free(old_idx);
                    }
                    None => {
                        // No spare element: copy in place (what BPF_F_LOCK updates do).
                        // SAFETY: forwarded.
                        unsafe {
                            self.lock
                                .store(self.value_ptr(old_idx, 0), value, self.value_size)
                        };
                    }
                }
                return Ok(());
            }
            let idx = match spare.take() {
                Some(i) => i,
                None => self.pop_free()?.ok_or(MapError::Full {
                    max_entries: self.max_entries,
                })?,
            };
            // SAFETY: forwarded; we hold the lock.
            unsafe {
                self.init_value(idx, value, all_cpus, cpu);
                self.link_new(idx, key, hash);
            }
            Ok(())
        })();
        drop(guard);
        if let Some(unused) = spare {
            self.push_free(unused);
        }
        result
    }

    /// Delete `key`; if `out` is given, copy the value out first (lookup-and-delete).
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes.
    pub(crate) unsafe fn delete(
        &self,
        key: *const u8,
        out: Option<&mut [u8]>,
    ) -> Result<(), MapError> {
        // SAFETY: forwarded.
        let hash = unsafe { self.hash(key) };
        let b = hash & self.mask;
        let guard = self.buckets[b as usize].lock.lock();
        // SAFETY: forwarded; lock held.
        let (idx, prev) = unsafe { self.find_locked(key, hash) }.ok_or(MapError::NotFound)?;
        if let Some(out) = out {
            self.copy_out(idx, out, false);
        }
        self.unlink(b, idx, prev);
        drop(guard);
        self.push_free(idx);
        Ok(())
    }

    /// `htab_map_get_next_key`: the key after `key` in bucket order; the first key if
    /// `key` is None or no longer in the map; ENOENT after the last.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>, out: &mut [u8]) -> Result<(), MapError> {
        let mut start = 0usize;
        if let Some(key) = key {
            // SAFETY: the caller checked the key length.
            let hash = unsafe { self.hash(key.as_ptr()) };
            let b = hash & self.mask;
            let _g = self.buckets[b as usize].lock.lock();
            // SAFETY: as above; lock held.
            if let Some((idx, _)) = unsafe { self.find_locked(key.as_ptr(), hash) } {
                let next = self.header(idx).next.load(Ordering::Acquire);
                if next & NULLS == 0 {
                    self.read_key(next, out);
                    return Ok(());
                }
                start = b as usize + 1;
            }
        }
        for bucket in &self.buckets[start.min(self.buckets.len())..] {
            let _g = bucket.lock.lock();
            let idx = bucket.head.load(Ordering::Acquire);
            if idx & NULLS == 0 {
                self.read_key(idx, out);
                return Ok(());
            }
        }
        Err(MapError::NotFound)
    }

    /// Visit every live element index (bucket order), each under its bucket's lock.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32)) {
        for bucket in self.buckets.iter() {
            let _g = bucket.lock.lock();
            let mut idx = bucket.head.load(Ordering::Acquire);
            while idx & NULLS == 0 {
                f(idx);
                idx = self.header(idx).next.load(Ordering::Acquire);
            }
        }
    }

    /// Visit live elements for `bpf_for_each_map_elem`: `f(key, element)` until it returns
    /// false. No lock is held while `f` runs (a callback may update or delete elements of
    /// this map): each bucket's chain is collected under its lock, then visited, skipping
    /// elements deleted meanwhile. Returns the number of calls.
    pub(crate) fn for_each_unlocked(&self, mut f: impl FnMut(*const u8, u32) -> bool) -> u64 {
        let mut batch = Vec::new();
        let mut calls = 0;
        for bucket in self.buckets.iter() {
            batch.clear();
            {
                let _g = bucket.lock.lock();
                let mut idx = bucket.head.load(Ordering::Acquire);
                while idx & NULLS == 0 {
                    batch.push(idx);
                    idx = self.header(idx).next.load(Ordering::Acquire);
                }
            }
            for &idx in &batch {
                if !self.is_live(idx) {
                    continue;
                }
                calls += 1;
                // SAFETY: the key follows the header inside the element's meta slot.
                let key = unsafe { self.meta.slot(idx).add(HDR) };
                if !f(key, idx) {
                    return calls;
                }
            }
        }
        calls
    }

    /// Value memory, for checked-mode region tables.
    pub(crate) fn regions(&self) -> Vec<(*mut u8, usize)> {
        self.values.regions()
    }

    /// Element header + key memory (keys handed to `for_each` callbacks live here).
    pub(crate) fn key_regions(&self) -> Vec<(*mut u8, usize)> {
        self.meta.regions()
    }

    /// Number of elements handed out so far (never-used elements excluded).
    pub(crate) fn used_elements(&self) -> u32 {
        self.freelist.lock().next_unused
    }

    pub(crate) fn is_live(&self, idx: u32) -> bool {
        self.header(idx).flags.load(Ordering::Relaxed) & LIVE != 0
    }

    pub(crate) fn clear_ref(&self, idx: u32) -> bool {
        self.header(idx).flags.fetch_and(!REF, Ordering::Relaxed) & REF != 0
    }

    pub(crate) fn clock(&self) -> &Mutex<u32> {
        &self.clock
    }

    pub(crate) fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// Evict element `idx` if it is still live: lock its bucket, recheck, unlink.
    pub(crate) fn try_evict(&self, idx: u32) -> bool {
        let hash = self.header(idx).hash.load(Ordering::Relaxed);
        let b = hash & self.mask;
        let _g = self.buckets[b as usize].lock.lock();
        let h = self.header(idx);
        if h.flags.load(Ordering::Relaxed) & LIVE == 0 || h.hash.load(Ordering::Relaxed) != hash {
            return false;
        }
        let mut prev = None;
        let mut cur = self.buckets[b as usize].head.load(Ordering::Acquire);
        while cur & NULLS == 0 && cur != idx {
            prev = Some(cur);
            cur = self.header(cur).next.load(Ordering::Acquire);
        }
        if cur != idx {
            return false;
        }
        self.unlink(b, idx, prev);
        true
    }

    /// Take a free element or `None` (no eviction).
    pub(crate) fn take_free(&self) -> Result<Option<u32>, MapError> {
        self.pop_free()
    }
}
