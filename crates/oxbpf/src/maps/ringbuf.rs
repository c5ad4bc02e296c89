//! `BPF_MAP_TYPE_RINGBUF`: a multi-producer, single-consumer byte ring with the kernel's
//! record format.
//!
//! Every record starts with an 8-byte header: a `u32` length whose bit 31 (BUSY) is set
//! while the producer still writes and bit 30 (DISCARD) marks a discarded record, then a
//! `u32` offset (the kernel's `pg_off`; here the header's offset from the data area in
//! 8-byte units). Records are padded to 8 bytes. Producers reserve under a lock (as the
//! kernel's spinlock), then fill and commit without it; the consumer stops at the first
//! record still BUSY, so records are delivered in reservation order.
//!
//! The kernel maps the data pages twice so a record that wraps is still contiguous. We
//! allocate twice the ring size instead: a record starting at `pos & mask` is written
//! straight on past the end, and since positions are taken modulo the ring size, the spare
//! half never aliases live data.
//!
//! Submitting finds its ring from the sample alone (the helper gets nothing else), as the
//! kernel does with `pg_off`: the 8 bytes before the data area hold a pointer to the ring's
//! wakeup state, so a submit can wake a consumer blocked in [`RingBuf::poll`].

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::arena::copy;
use super::{errno, MapError};

/// Record header size (`BPF_RINGBUF_HDR_SZ`).
pub const BPF_RINGBUF_HDR_SZ: usize = 8;
/// Header length bit: record not committed yet.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// Header length bit: record discarded.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// Submit/output flag: do not notify the consumer.
pub const BPF_RB_NO_WAKEUP: u64 = 1 << 0;
/// Submit/output flag: notify the consumer even if it would not be.
pub const BPF_RB_FORCE_WAKEUP: u64 = 1 << 1;
/// `bpf_ringbuf_query`: bytes produced but not consumed.
pub const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_query`: data area size.
pub const BPF_RB_RING_SIZE: u64 = 1;
/// `bpf_ringbuf_query`: consumer position.
pub const BPF_RB_CONS_POS: u64 = 2;
/// `bpf_ringbuf_query`: producer position.
pub const BPF_RB_PROD_POS: u64 = 3;
/// Largest record (`RINGBUF_MAX_RECORD_SZ`).
const MAX_RECORD_SZ: u64 = (u32::MAX / 4) as u64;

/// Bytes before the data area holding the `*const Notify` back pointer.
const PREFIX: usize = 8;

/// Consumer wakeup state; boxed so its address is fixed for the back pointer.
struct Notify {
    /// Consumers blocked in `poll`; producers skip the lock when there are none.
    waiters: AtomicU32,
    lock: Mutex<()>,
    cv: Condvar,
}

/// A ring buffer map.
pub(crate) struct RingBuf {
    /// Start of the allocation (the back pointer); the data area follows it.
    alloc: *mut u8,
    data: *mut u8,
    layout: Layout,
    notify: Box<Notify>,
    mask: u64,
    consumer_pos: AtomicU64,
    producer_pos: AtomicU64,
    producer: Mutex<()>,
    consumer: Mutex<()>,
}

// SAFETY: `data` is owned by the ring; producers are serialized by `producer` for
// reservation and write only their reserved records; the consumer is serialized by
// `consumer` and reads only committed records.
unsafe impl Send for RingBuf {}
// SAFETY: as above.
unsafe impl Sync for RingBuf {}

/// The length word of the record header at `hdr`.
///
/// # Safety
/// `hdr` must be an 8-aligned record header inside a ring that outlives `'a`.
#[inline]
unsafe fn hdr_len<'a>(hdr: *mut u8) -> &'a AtomicU32 {
    // SAFETY: guaranteed by the caller; the word is initialized (zeroed or written).
    unsafe { &*hdr.cast::<AtomicU32>() }
}

impl RingBuf {
    /// A ring with `size` bytes of data (a validated power of two).
    pub(crate) fn new(size: u32) -> Result<RingBuf, MapError> {
        let bytes = PREFIX + 2 * size as usize;
        let layout = Layout::from_size_align(bytes, 8).map_err(|_| MapError::NoMemory { bytes })?;
        // SAFETY: the layout is non-zero (size >= one page).
        let alloc = unsafe { alloc_zeroed(layout) };
        if alloc.is_null() {
            return Err(MapError::NoMemory { bytes });
        }
        let notify = Box::new(Notify {
            waiters: AtomicU32::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        });
        // SAFETY: the allocation starts with PREFIX (8) bytes, 8-aligned, for the pointer.
        unsafe { alloc.cast::<*const Notify>().write(&*notify) };
        Ok(RingBuf {
            alloc,
            // SAFETY: PREFIX < bytes.
            data: unsafe { alloc.add(PREFIX) },
            layout,
            notify,
            mask: u64::from(size) - 1,
            consumer_pos: AtomicU64::new(0),
            producer_pos: AtomicU64::new(0),
            producer: Mutex::new(()),
            consumer: Mutex::new(()),
        })
    }

    /// `bpf_ringbuf_reserve`: space for `size` bytes, or null if flags are non-zero, the
    /// record is too big or the ring lacks room.
    pub(crate) fn reserve(&self, size: u64, flags: u64) -> *mut u8 {
        if flags != 0 || size > MAX_RECORD_SZ {
            return ptr::null_mut();
        }
        let total = (size + BPF_RINGBUF_HDR_SZ as u64 + 7) & !7;
        if total > self.mask + 1 {
            return ptr::null_mut();
        }
        let _g = self.producer.lock();
        let cons = self.consumer_pos.load(Ordering::Acquire);
        let prod = self.producer_pos.load(Ordering::Relaxed);
        let new_prod = prod + total;
        if new_prod - cons > self.mask {
            return ptr::null_mut();
        }
        let off = prod & self.mask;
        // SAFETY: off + total <= 2 * ring size, inside the allocation.
        let hdr = unsafe { self.data.add(off as usize) };
        // SAFETY: hdr is the 8-aligned header of the record just reserved, in our ring; the
        // header has 8 bytes and pg_off is its second u32.
        unsafe {
            hdr_len(hdr).store(size as u32 | BPF_RINGBUF_BUSY_BIT, Ordering::Relaxed);
            hdr.add(4).cast::<u32>().write((off / 8) as u32);
        }
        self.producer_pos.store(new_prod, Ordering::Release);
        // SAFETY: the sample follows the header inside the reserved record.
        unsafe { hdr.add(BPF_RINGBUF_HDR_SZ) }
    }

    /// `bpf_ringbuf_output`: reserve, copy and submit; -EINVAL for bad flags, -EAGAIN when
    /// there is no room.
    ///
    /// # Safety
    /// `data` readable for `size` bytes.
    pub(crate) unsafe fn output(&self, data: *const u8, size: u64, flags: u64) -> i64 {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return -i64::from(errno::EINVAL);
        }
        let sample = self.reserve(size, 0);
        if sample.is_null() {
            return -i64::from(errno::EAGAIN);
        }
        // SAFETY: the record has size bytes; data is readable per the contract.
        unsafe {
            copy(sample, data, size as usize);
            ringbuf_submit(sample, flags);
        }
        0
    }

    /// `bpf_ringbuf_query`.
    pub(crate) fn query(&self, flags: u64) -> u64 {
        let cons = self.consumer_pos.load(Ordering::Acquire);
        let prod = self.producer_pos.load(Ordering::Acquire);
        match flags {
            BPF_RB_AVAIL_DATA => prod - cons,
            BPF_RB_RING_SIZE => self.mask + 1,
            BPF_RB_CONS_POS => cons,
            BPF_RB_PROD_POS => prod,
            _ => 0,
        }
    }

    /// Deliver committed records to `f` in order, skipping discarded ones, until the ring
    /// is empty or a record is still being written (like libbpf's `ring_buffer__consume`).
    /// Returns the number of records delivered.
    pub(crate) fn consume(&self, f: &mut dyn FnMut(&[u8])) -> usize {
        let _g = self.consumer.lock();
        let mut cons = self.consumer_pos.load(Ordering::Relaxed);
        let mut n = 0;
        loop {
            let prod = self.producer_pos.load(Ordering::Acquire);
            if cons >= prod {
                break;
            }
            // SAFETY: cons & mask is inside the data area; records are 8-aligned.
            let hdr = unsafe { self.data.add((cons & self.mask) as usize) };
            // SAFETY: cons < prod, so hdr is a reserved record's header in this ring.
            let len = unsafe { hdr_len(hdr) }.load(Ordering::Acquire);
            if len & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            let size = (len & !(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) as usize;
            if len & BPF_RINGBUF_DISCARD_BIT == 0 {
                // SAFETY: the record is committed (acquire above pairs with the producer's
                // release), lies inside the allocation, and producers do not touch it until
                // consumer_pos moves past it.
                let rec = unsafe { std::slice::from_raw_parts(hdr.add(BPF_RINGBUF_HDR_SZ), size) };
                f(rec);
                n += 1;
            }
            cons += ((size + BPF_RINGBUF_HDR_SZ + 7) & !7) as u64;
            self.consumer_pos.store(cons, Ordering::Release);
        }
        n
    }

    /// Whether the next record is committed (consume would make progress).
    fn ready(&self) -> bool {
        let cons = self.consumer_pos.load(Ordering::SeqCst);
        if cons >= self.producer_pos.load(Ordering::SeqCst) {
            return false;
        }
        // SAFETY: cons < prod, so this is a reserved record's header in this ring.
        let hdr = unsafe { self.data.add((cons & self.mask) as usize) };
        // SAFETY: as above.
        unsafe { hdr_len(hdr) }.load(Ordering::SeqCst) & BPF_RINGBUF_BUSY_BIT == 0
    }

    /// Like libbpf's `ring_buffer__poll`: consume what is ready; if nothing is, block until
    /// a producer submits or `timeout` passes. Returns the records delivered.
    pub(crate) fn poll(&self, timeout: Duration, f: &mut dyn FnMut(&[u8])) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.consume(f);
            if n > 0 {
                return n;
            }
            let n = &self.notify;
            // Register as a waiter before the last check: a producer that commits after
            // that check sees the waiter (both sides SeqCst) and takes the lock to wake us.
            n.waiters.fetch_add(1, Ordering::SeqCst);
            let mut g = n.lock.lock();
            let timed_out = !self.ready() && n.cv.wait_until(&mut g, deadline).timed_out();
            drop(g);
            n.waiters.fetch_sub(1, Ordering::SeqCst);
            if timed_out {
                return self.consume(f);
            }
        }
    }

    /// The data area (both halves), for checked-mode region tables.
    pub(crate) fn regions(&self) -> Vec<(*mut u8, usize)> {
        vec![(self.data, self.layout.size() - PREFIX)]
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; no record can be in use any more.
        unsafe { dealloc(self.alloc, self.layout) };
    }
}

/// Commit a reserved record: clear BUSY (and set DISCARD if discarding) in one atomic
/// exchange so the consumer sees the whole record, then wake a blocked consumer unless
/// `BPF_RB_NO_WAKEUP`.
///
/// # Safety
/// `sample` must be a pointer returned by a ring buffer reserve and not yet committed.
unsafe fn commit(sample: *mut u8, discard: bool, flags: u64) {
    // SAFETY: the header precedes the sample (caller contract).
    let hdr = unsafe { sample.sub(BPF_RINGBUF_HDR_SZ) };
    // SAFETY: hdr is the header of a reserved record of a live ring (caller contract).
    let word = unsafe { hdr_len(hdr) };
    let len = word.load(Ordering::Relaxed) & !BPF_RINGBUF_BUSY_BIT;
    let new = if discard {
        len | BPF_RINGBUF_DISCARD_BIT
    } else {
        len
    };
    word.swap(new, Ordering::SeqCst);
    if flags & BPF_RB_NO_WAKEUP != 0 {
        return;
    }
    // SAFETY: pg_off (second header word) is the header's offset from the data area in
    // 8-byte units, and the PREFIX bytes before the data area hold the Notify pointer;
    // the ring (and so its Notify box) is alive per the caller contract.
    let notify = unsafe {
        let off = hdr.add(4).cast::<u32>().read() as usize * 8;
        let data = hdr.sub(off);
        &*data.sub(PREFIX).cast::<*const Notify>().read()
    };
    if notify.waiters.load(Ordering::SeqCst) > 0 {
        let _g = notify.lock.lock();
        notify.cv.notify_all();
    }
}

/// `bpf_ringbuf_submit`: publish a reserved record and wake a consumer blocked in
/// [`Map::ringbuf_poll`](super::Map::ringbuf_poll) unless `flags` has
/// [`BPF_RB_NO_WAKEUP`] (the kernel's adaptive wakeup is simplified to "always").
///
/// # Safety
/// `sample` must come from [`Map::ringbuf_reserve`](super::Map::ringbuf_reserve) on a map
/// still alive, and not be submitted or discarded yet.
#[doc(alias = "bpf_ringbuf_submit")]
pub unsafe fn ringbuf_submit(sample: *mut u8, flags: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { commit(sample, false, flags) }
}

/// `bpf_ringbuf_discard`: drop a reserved record; the consumer skips it.
///
/// # Safety
/// As [`ringbuf_submit`].
#[doc(alias = "bpf_ringbuf_discard")]
pub unsafe fn ringbuf_discard(sample: *mut u8, flags: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { commit(sample, true, flags) }
}
