//! `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one channel per index (normally per CPU). User space
//! opens a channel by storing an event id at the index, programs append samples with
//! `bpf_perf_event_output`, and a Rust reader drains them — the role of the kernel's
//! per-CPU perf ring buffers and libbpf's `perf_buffer__poll`.
//!
//! A channel holds at most `capacity` bytes, counted as the kernel's `PERF_RECORD_SAMPLE`
//! with raw data would take (8-byte event header + `u32` size + data, rounded to 8).
//! Samples that do not fit are counted as lost, as the kernel counts them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::percpu::{current_cpu, round8};
use super::{errno, MapError};

/// `bpf_perf_event_output` flags: index of the channel, or [`BPF_F_CURRENT_CPU`].
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `bpf_perf_event_output` flags: use the channel of the current CPU.
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// `bpf_skb_output`/`bpf_xdp_output`: bytes of packet to append (bits 32..52).
pub const BPF_F_CTXLEN_MASK: u64 = 0xfffff << 32;
/// Default channel capacity (64 pages, a common perf buffer size).
pub const DEFAULT_PERF_CAPACITY: usize = 64 * 4096;

struct Channel {
    /// The event id stored by user space; `None` = no reader at this index.
    event: Option<u32>,
    capacity: usize,
    used: usize,
    records: VecDeque<Vec<u8>>,
}

/// A perf event array's channels.
pub(crate) struct PerfEventArray {
    channels: Box<[Mutex<Channel>]>,
    lost: Box<[AtomicU64]>,
}

fn record_cost(len: usize) -> usize {
    round8(8 + 4 + len)
}

impl PerfEventArray {
    pub(crate) fn new(max_entries: u32) -> PerfEventArray {
        PerfEventArray {
            channels: (0..max_entries)
                .map(|_| {
                    Mutex::new(Channel {
                        event: None,
                        capacity: DEFAULT_PERF_CAPACITY,
                        used: 0,
                        records: VecDeque::new(),
                    })
                })
                .collect(),
            lost: (0..max_entries).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn channel(&self, index: u32) -> Result<&Mutex<Channel>, MapError> {
        self.channels
            .get(index as usize)
            .ok_or(MapError::IndexOutOfRange {
                index,
                max_entries: self.channels.len() as u32,
            })
    }

    /// Open channel `index` for event `event` with room for `capacity` bytes.
    pub(crate) fn open(&self, index: u32, event: u32, capacity: usize) -> Result<(), MapError> {
        let mut ch = self.channel(index)?.lock();
        ch.event = Some(event);
        ch.capacity = capacity;
        Ok(())
    }

    /// Close channel `index`; pending samples are dropped (ENOENT if it was not open).
    pub(crate) fn close(&self, index: u32) -> Result<(), MapError> {
        let mut ch = self.channel(index)?.lock();
        if ch.event.take().is_none() {
            return Err(MapError::NotFound);
        }
        ch.records.clear();
        ch.used = 0;
        Ok(())
    }

    /// `bpf_perf_event_output` from `parts` concatenated (data, or packet bytes + data).
    /// Returns 0, -EINVAL (flags), -E2BIG (index), -ENOENT (no reader), -ENOSPC (full).
    pub(crate) fn output(&self, flags: u64, parts: &[&[u8]]) -> i64 {
        if flags & !BPF_F_INDEX_MASK != 0 {
            return -i64::from(errno::EINVAL);
        }
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => current_cpu(),
            i => i as u32,
        };
        let Some(ch) = self.channels.get(index as usize) else {
            return -i64::from(errno::E2BIG);
        };
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut ch = ch.lock();
        if ch.event.is_none() {
            return -i64::from(errno::ENOENT);
        }
        let cost = record_cost(len);
        if ch.used + cost > ch.capacity {
            self.lost[index as usize].fetch_add(1, Ordering::Relaxed);
            return -i64::from(errno::ENOSPC);
        }
        let mut rec = Vec::with_capacity(len);
        for p in parts {
            rec.extend_from_slice(p);
        }
        ch.used += cost;
        ch.records.push_back(rec);
        0
    }

    /// Hand every pending sample of channel `index` to `f`, oldest first.
    pub(crate) fn drain(&self, index: u32, f: &mut dyn FnMut(&[u8])) -> Result<usize, MapError> {
        let records: Vec<Vec<u8>> = {
            let mut ch = self.channel(index)?.lock();
            ch.used = 0;
            ch.records.drain(..).collect()
        };
        for r in &records {
            f(r);
        }
        Ok(records.len())
    }

    /// Samples lost at `index` because its channel was full.
    pub(crate) fn lost(&self, index: u32) -> u64 {
        self.lost
            .get(index as usize)
            .map_or(0, |l| l.load(Ordering::Relaxed))
    }

    pub(crate) fn len(&self) -> u32 {
        self.channels.len() as u32
    }
}
