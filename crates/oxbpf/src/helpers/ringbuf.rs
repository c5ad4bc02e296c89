//! Ring buffer and perf event output helpers.
//!
//! Records a program reserves are tracked in the [`RunContext`]: each is writable memory
//! of the run while reserved (the rest of the ring is not, so record headers cannot be
//! corrupted), `ringbuf_submit` and `ringbuf_discard` accept only a record reserved in this
//! run and not yet committed (a forged or reused pointer is a fault, where the kernel
//! verifier would reject the program), and records left reserved are discarded when the
//! run ends.
//!
//! `perf_event_output`: `flags` holds an index or `BPF_F_CURRENT_CPU` (the CPU set with
//! `maps::set_current_cpu`); called with the context of a packet run (skb/XDP test runs)
//! it is the kernel's packet form (`bpf_skb_event_output`/`bpf_xdp_event_output`), which
//! also takes `BPF_F_CTXLEN_MASK` and appends that many packet bytes to the sample.

use super::errno::{EFAULT, EINVAL};
use super::map::map_arg;
use super::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::maps::{ringbuf_discard, ringbuf_submit, BPF_F_CTXLEN_MASK, BPF_F_INDEX_MASK};
use crate::vm::{Access, Fault, FaultKind, RunContext};

/// `long bpf_ringbuf_output(void *ringbuf, void *data, u64 size, u64 flags)`: copies
/// `size` bytes as one record. 0, -EAGAIN (no room), -EINVAL (flags, not a ring buffer).
pub extern "C" fn bpf_ringbuf_output(
    map: u64,
    data: u64,
    size: u64,
    flags: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(data, size, Access::Read) {
        return neg_errno(EFAULT);
    }
    // SAFETY: `data` was checked readable for `size` bytes.
    unsafe { m.ringbuf_output(data as usize as *const u8, size, flags) as u64 }
}

/// `void *bpf_ringbuf_reserve(void *ringbuf, u64 size, u64 flags)`: room for `size` bytes
/// in the ring (writable by the program until it submits or discards it), or NULL.
pub extern "C" fn bpf_ringbuf_reserve(
    map: u64,
    size: u64,
    flags: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    let p = m.ringbuf_reserve(size, flags) as usize as u64;
    if p != 0 {
        // SAFETY: `p` was just reserved with `size` bytes on a registered map.
        unsafe { ctx.push_ringbuf_record(p, size) };
    }
    p
}

/// Commits a record: `discard` drops it instead of publishing it.
fn commit(sample: u64, flags: u64, discard: bool, ctx: &mut RunContext) -> u64 {
    if !ctx.take_ringbuf_record(sample) {
        ctx.fault = Some(Fault {
            addr: sample,
            size: 0,
            access: Access::Write,
            kind: FaultKind::OutOfBounds,
        });
        return 0;
    }
    let p = sample as usize as *mut u8;
    // SAFETY: `sample` was reserved by `bpf_ringbuf_reserve` in this run on a map the
    // context holds, and not committed yet (taking it from the list ensures once).
    unsafe {
        if discard {
            ringbuf_discard(p, flags)
        } else {
            ringbuf_submit(p, flags)
        }
    }
    0
}

/// `void bpf_ringbuf_submit(void *data, u64 flags)`: publishes a reserved record.
pub extern "C" fn bpf_ringbuf_submit(
    data: u64,
    flags: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    commit(data, flags, false, ctx)
}

/// `void bpf_ringbuf_discard(void *data, u64 flags)`: drops a reserved record.
pub extern "C" fn bpf_ringbuf_discard(
    data: u64,
    flags: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    commit(data, flags, true, ctx)
}

/// `u64 bpf_ringbuf_query(void *ringbuf, u64 flags)`: `BPF_RB_AVAIL_DATA`,
/// `BPF_RB_RING_SIZE`, `BPF_RB_CONS_POS`, `BPF_RB_PROD_POS`; 0 otherwise.
pub extern "C" fn bpf_ringbuf_query(
    map: u64,
    flags: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    m.ringbuf_query(flags)
}

/// `long bpf_perf_event_output(void *ctx, struct bpf_map *map, u64 flags, void *data,
/// u64 size)`: appends `size` bytes to the perf channel chosen by `flags`. 0, -EINVAL,
/// -E2BIG (index), -ENOENT (no reader on that channel), -ENOSPC (channel full).
pub extern "C" fn bpf_perf_event_output(
    prog_ctx: u64,
    map: u64,
    flags: u64,
    data: u64,
    size: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(data, size, Access::Read) {
        return neg_errno(EFAULT);
    }
    let bytes = if size == 0 {
        &[][..]
    } else {
        // SAFETY: `data` was checked readable for `size` bytes (which therefore fits the
        // address space); the slice is used only during this call.
        unsafe { std::slice::from_raw_parts(data as usize as *const u8, size as usize) }
    };
    let ctxlen = (flags & BPF_F_CTXLEN_MASK) >> 32;
    match crate::program::ctx_packet_bytes(prog_ctx, ctxlen) {
        // Packet form: unknown flag bits first, then a packet shorter than ctxlen.
        Some(_) if flags & !(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK) != 0 => neg_errno(EINVAL),
        Some(None) => neg_errno(EFAULT),
        Some(Some(pkt)) => {
            m.perf_event_output_parts(flags & BPF_F_INDEX_MASK, &[bytes, &pkt]) as u64
        }
        None => m.perf_event_output(flags, bytes) as u64,
    }
}

const RO_MEM: ArgKind = ArgKind::PtrToMem {
    readonly: true,
    maybe_null: false,
};

/// The helpers of this file with their kernel prototypes.
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(
        25,
        bpf_perf_event_output,
        HelperProto::new(
            &[
                ArgKind::PtrToCtx,
                ArgKind::ConstMapPtr,
                ArgKind::Anything,
                RO_MEM,
                ArgKind::ConstSizeOrZero,
            ],
            RetKind::Integer,
        )
        .gpl(),
    ),
    kernel_helper(
        130,
        bpf_ringbuf_output,
        HelperProto::new(
            &[
                ArgKind::ConstMapPtr,
                RO_MEM,
                ArgKind::ConstSizeOrZero,
                ArgKind::Anything,
            ],
            RetKind::Integer,
        ),
    ),
    kernel_helper(
        131,
        bpf_ringbuf_reserve,
        HelperProto::new(
            &[
                ArgKind::ConstMapPtr,
                ArgKind::ConstAllocSizeOrZero,
                ArgKind::Anything,
            ],
            RetKind::PtrToMemOrNull,
        ),
    ),
    kernel_helper(
        132,
        bpf_ringbuf_submit,
        HelperProto::new(
            &[ArgKind::PtrToRingbufMem, ArgKind::Anything],
            RetKind::Void,
        ),
    ),
    kernel_helper(
        133,
        bpf_ringbuf_discard,
        HelperProto::new(
            &[ArgKind::PtrToRingbufMem, ArgKind::Anything],
            RetKind::Void,
        ),
    ),
    kernel_helper(
        134,
        bpf_ringbuf_query,
        HelperProto::new(&[ArgKind::ConstMapPtr, ArgKind::Anything], RetKind::Integer),
    ),
];
