//! The program-side map API: what helpers call with raw pointers from a running program.
//! Lookups return real pointers into map memory; updates return `0` or `-errno` as `r0`.
//!
//! Helper mapping (kernel helper id → method):
//! `map_lookup_elem` (1) → [`Map::lookup_ptr`]; `map_update_elem` (2) →
//! [`Map::update_from_prog`]; `map_delete_elem` (3) → [`Map::delete_from_prog`];
//! `perf_event_output` (25) → [`Map::perf_event_output`]; `map_push_elem` (87),
//! `map_pop_elem` (88), `map_peek_elem` (89) → [`Map::push_from_prog`],
//! [`Map::pop_from_prog`], [`Map::peek_from_prog`]; `ringbuf_output` (130),
//! `ringbuf_reserve` (131), `ringbuf_submit` (132), `ringbuf_discard` (133),
//! `ringbuf_query` (134) → [`Map::ringbuf_output`], [`Map::ringbuf_reserve`],
//! [`ringbuf_submit`], [`ringbuf_discard`], [`Map::ringbuf_query`];
//! `map_lookup_percpu_elem` (195) → [`Map::lookup_percpu_ptr`]; `for_each_map_elem`
//! (164) → [`Map::for_each_elem`]; `spin_lock` (93), `spin_unlock` (94) →
//! [`spin_lock`], [`spin_unlock`]; `tail_call` (12) →
//! [`Map::prog_array_get`]. The map argument (`r1`) is a handle: turn it into a `&Map` with
//! [`Map::from_handle`]. Per-CPU maps use [`current_cpu`], which the runtime sets per
//! worker thread with [`set_current_cpu`](super::set_current_cpu).

use super::error::ret;
#[cfg(doc)]
use super::{
    current_cpu, ringbuf_discard, ringbuf_submit, spin_lock, spin_unlock, BPF_F_CURRENT_CPU,
};
use super::{errno, Kind, Map};

impl Map {
    /// `bpf_map_lookup_elem` from a program: a pointer to the value (the current CPU's copy
    /// for per-CPU maps; see [`current_cpu`]), an inner map handle for map-in-maps, or null.
    /// Null for types programs cannot look up (prog/perf arrays, queues, ring buffers).
    ///
    /// # Safety
    /// `key` must be readable for the map's `key_size` bytes.
    #[doc(alias = "bpf_map_lookup_elem")]
    #[inline]
    pub unsafe fn lookup_ptr(&self, key: *const u8) -> *mut u8 {
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::Hash(h) => unsafe { h.lookup_ptr(key, self.prog_cpu()) },
            // SAFETY: forwarded from the caller.
            Kind::Array(a) => unsafe { a.lookup_ptr(key, self.prog_cpu()) },
            // SAFETY: forwarded from the caller.
            Kind::Lpm(t) => unsafe { t.lookup_ptr(key) },
            Kind::ArrayOfMaps(m) => {
                // SAFETY: key has 4 bytes.
                let index = unsafe { key.cast::<u32>().read_unaligned() };
                m.get(index).cast_mut().cast()
            }
            // SAFETY: forwarded from the caller.
            Kind::HashOfMaps(m) => unsafe { m.get(key) }.cast_mut().cast(),
            Kind::Queue(_) | Kind::RingBuf(_) | Kind::Perf(_) | Kind::ProgArray(_) => {
                std::ptr::null_mut()
            }
        }
    }

    /// `bpf_map_lookup_percpu_elem`: CPU `cpu`'s copy in a per-CPU map; null if absent,
    /// `cpu` is not a possible CPU, or the map is not per-CPU.
    ///
    /// # Safety
    /// As [`Map::lookup_ptr`].
    #[doc(alias = "bpf_map_lookup_percpu_elem")]
    pub unsafe fn lookup_percpu_ptr(&self, key: *const u8, cpu: u32) -> *mut u8 {
        if !self.def.map_type.is_percpu() || cpu >= self.ncpus {
            return std::ptr::null_mut();
        }
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::Hash(h) => unsafe { h.lookup_ptr(key, cpu) },
            // SAFETY: forwarded from the caller.
            Kind::Array(a) => unsafe { a.lookup_ptr(key, cpu) },
            _ => std::ptr::null_mut(),
        }
    }

    /// `bpf_map_update_elem` from a program: 0 or `-errno`. Per-CPU maps update the current
    /// CPU's copy (a new element's other copies are zeroed).
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes, `value` for `value_size` bytes.
    #[doc(alias = "bpf_map_update_elem")]
    pub unsafe fn update_from_prog(&self, key: *const u8, value: *const u8, flags: u64) -> i64 {
        if !self.prog_write_ok() {
            return -i64::from(errno::EPERM);
        }
        let cpu = self.prog_cpu();
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::Array(a) => ret(unsafe {
                a.update(key.cast::<u32>().read_unaligned(), value, flags, false, cpu)
            }),
            // SAFETY: forwarded from the caller.
            Kind::Hash(h) => ret(unsafe { h.update(key, value, flags, false, cpu) }),
            Kind::Lpm(t) => {
                // SAFETY: forwarded from the caller (key_size readable bytes).
                let k = unsafe { std::slice::from_raw_parts(key, self.def.key_size as usize) };
                // SAFETY: forwarded from the caller.
                ret(unsafe { t.update(k, value, flags) })
            }
            Kind::Queue(_) => -i64::from(errno::EINVAL),
            Kind::RingBuf(_) => -i64::from(errno::ENOTSUPP),
            Kind::Perf(_) | Kind::ProgArray(_) | Kind::ArrayOfMaps(_) | Kind::HashOfMaps(_) => {
                -i64::from(errno::EOPNOTSUPP)
            }
        }
    }

    /// `bpf_map_delete_elem` from a program: 0 or `-errno` (-EINVAL for arrays).
    ///
    /// # Safety
    /// `key` readable for `key_size` bytes.
    #[doc(alias = "bpf_map_delete_elem")]
    pub unsafe fn delete_from_prog(&self, key: *const u8) -> i64 {
        if !self.prog_write_ok() {
            return -i64::from(errno::EPERM);
        }
        match &self.kind {
            Kind::Perf(_) | Kind::ProgArray(_) | Kind::ArrayOfMaps(_) | Kind::HashOfMaps(_) => {
                -i64::from(errno::EOPNOTSUPP)
            }
            _ => {
                // SAFETY: forwarded from the caller (key_size readable bytes).
                let k = unsafe { std::slice::from_raw_parts(key, self.def.key_size as usize) };
                ret(self.delete_checked(k))
            }
        }
    }

    /// `bpf_map_push_elem`: 0 or `-errno` (-E2BIG full, -EINVAL bad flags or not a queue).
    ///
    /// # Safety
    /// `value` readable for `value_size` bytes.
    #[doc(alias = "bpf_map_push_elem")]
    pub unsafe fn push_from_prog(&self, value: *const u8, flags: u64) -> i64 {
        if !self.prog_write_ok() {
            return -i64::from(errno::EPERM);
        }
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::Queue(q) => ret(unsafe { q.push(value, flags) }),
            _ => -i64::from(errno::EINVAL),
        }
    }

    /// `bpf_map_pop_elem`: 0 or `-errno` (-ENOENT when empty).
    ///
    /// # Safety
    /// `out` writable for `value_size` bytes.
    #[doc(alias = "bpf_map_pop_elem")]
    pub unsafe fn pop_from_prog(&self, out: *mut u8) -> i64 {
        if !self.prog_write_ok() {
            return -i64::from(errno::EPERM);
        }
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::Queue(q) => ret(unsafe { q.take(out, true) }),
            _ => -i64::from(errno::EINVAL),
        }
    }

    /// `bpf_map_peek_elem`: 0 or `-errno` (-ENOENT when empty).
    ///
    /// # Safety
    /// `out` writable for `value_size` bytes.
    #[doc(alias = "bpf_map_peek_elem")]
    pub unsafe fn peek_from_prog(&self, out: *mut u8) -> i64 {
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::Queue(q) => ret(unsafe { q.take(out, false) }),
            _ => -i64::from(errno::EINVAL),
        }
    }

    /// `bpf_ringbuf_reserve`: room for `size` bytes, or null (full, too big, non-zero
    /// flags, not a ring buffer). Commit with [`ringbuf_submit`] or [`ringbuf_discard`].
    #[doc(alias = "bpf_ringbuf_reserve")]
    pub fn ringbuf_reserve(&self, size: u64, flags: u64) -> *mut u8 {
        match &self.kind {
            Kind::RingBuf(r) => r.reserve(size, flags),
            _ => std::ptr::null_mut(),
        }
    }

    /// `bpf_ringbuf_output`: copy `size` bytes in as one record; 0, -EAGAIN (no room) or
    /// -EINVAL.
    ///
    /// # Safety
    /// `data` readable for `size` bytes.
    #[doc(alias = "bpf_ringbuf_output")]
    pub unsafe fn ringbuf_output(&self, data: *const u8, size: u64, flags: u64) -> i64 {
        match &self.kind {
            // SAFETY: forwarded from the caller.
            Kind::RingBuf(r) => unsafe { r.output(data, size, flags) },
            _ => -i64::from(errno::EINVAL),
        }
    }

    /// `bpf_ringbuf_query` (`BPF_RB_AVAIL_DATA`, `BPF_RB_RING_SIZE`, `BPF_RB_CONS_POS`,
    /// `BPF_RB_PROD_POS`; 0 for anything else).
    #[doc(alias = "bpf_ringbuf_query")]
    pub fn ringbuf_query(&self, flags: u64) -> u64 {
        match &self.kind {
            Kind::RingBuf(r) => r.query(flags),
            _ => 0,
        }
    }

    /// `bpf_perf_event_output`: append `data` to the channel chosen by `flags` (an index or
    /// [`BPF_F_CURRENT_CPU`]). 0, -EINVAL, -E2BIG (index), -ENOENT (no reader), -ENOSPC.
    #[doc(alias = "bpf_perf_event_output")]
    pub fn perf_event_output(&self, flags: u64, data: &[u8]) -> i64 {
        self.perf_event_output_parts(flags, &[data])
    }

    /// [`Map::perf_event_output`] with the sample made of several parts (e.g. packet bytes
    /// then data, for `bpf_skb_output`).
    pub fn perf_event_output_parts(&self, flags: u64, parts: &[&[u8]]) -> i64 {
        match &self.kind {
            Kind::Perf(p) => p.output(flags, parts),
            _ => -i64::from(errno::EINVAL),
        }
    }

    /// `bpf_for_each_map_elem` on arrays and hash maps: `callback(key, value)` for each
    /// element until it returns non-zero (per-CPU maps: the current CPU's copy). Returns the
    /// number of elements visited (including the one that stopped the walk), or -EINVAL for
    /// non-zero `flags` or a map type the helper does not support.
    ///
    /// Hash keys point into the map's key memory ([`Map::key_regions`], read-only to
    /// programs); an array key points to a `u32` index valid during the callback. No lock
    /// is held while the callback runs, so it may update or delete elements.
    #[doc(alias = "bpf_for_each_map_elem")]
    pub fn for_each_elem(
        &self,
        flags: u64,
        mut callback: impl FnMut(*const u8, *mut u8) -> u64,
    ) -> i64 {
        if flags != 0 {
            return -i64::from(errno::EINVAL);
        }
        let cpu = self.prog_cpu();
        let visited = match &self.kind {
            Kind::Array(a) => {
                let mut n = 0u64;
                for index in 0..self.def.max_entries {
                    let key = index.to_ne_bytes();
                    n += 1;
                    if callback(key.as_ptr(), a.value_ptr(index, cpu)) != 0 {
                        break;
                    }
                }
                n
            }
            Kind::Hash(h) => {
                h.for_each_unlocked(|key, idx| callback(key, h.element_value(idx, cpu)) == 0)
            }
            _ => return -i64::from(errno::EINVAL),
        };
        i64::try_from(visited).unwrap_or(i64::MAX)
    }
}
