//! XDP multi-buffer ("frags") packets, as `bpf_prog_test_run_xdp` builds them and the
//! helpers of `net/core/filter.c` walk them: `xdp_get_buff_len` (188), `xdp_load_bytes`
//! (189), `xdp_store_bytes` (190), and `xdp_adjust_tail` on a fragmented buffer.
//!
//! A test run puts the first part of `data_in` in the linear frame (at most
//! `PAGE_SIZE - headroom - tailroom` bytes, or `xdp_md.data_end` of `ctx_in` if smaller)
//! and the rest in page-sized fragments (`skb_shared_info.frags`, at most
//! [`MAX_SKB_FRAGS`]; one more is `ENOMEM`). Programs reach fragment bytes only through
//! these helpers, so the fragments are plain vectors rather than low memory. Linux 6.18
//! builds the same buffer whether or not the program was loaded with
//! `BPF_F_XDP_HAS_FRAGS`: the flag only matters when attaching to a device.

use crate::helpers::{neg_errno, ArgKind, HelperProto, RetKind};
use crate::vm::{Access, RunContext};

use super::packet::{with_packet, PacketKind, PacketState, EFAULT, EINVAL, ETH_HLEN, XDP_ONLY};

/// `MAX_SKB_FRAGS` (the default `CONFIG_MAX_SKB_FRAGS`): most fragments a buffer has.
pub const MAX_SKB_FRAGS: usize = 17;
/// Size of one fragment page (`PAGE_SIZE`, the test run's `rxq.frag_size`).
pub const XDP_FRAG_SIZE: usize = 4096;
/// `BPF_F_XDP_HAS_FRAGS`: the `BPF_PROG_LOAD` flag libbpf sets for `xdp.frags` sections.
pub const BPF_F_XDP_HAS_FRAGS: u32 = 1 << 5;

/// `data_in` beyond the linear part, cut into fragments; `None` if more than
/// [`MAX_SKB_FRAGS`] pages would be needed.
pub(crate) fn split_frags(rest: &[u8]) -> Option<Vec<Vec<u8>>> {
    let frags: Vec<Vec<u8>> = rest
        .chunks(XDP_FRAG_SIZE)
        .map(|c| {
            // Each fragment owns a whole page, so the tail can grow into it.
            let mut v = Vec::with_capacity(XDP_FRAG_SIZE);
            v.extend_from_slice(c);
            v
        })
        .collect();
    (frags.len() <= MAX_SKB_FRAGS).then_some(frags)
}

fn frags_len(s: &PacketState) -> u64 {
    s.frags.iter().map(|f| f.len() as u64).sum()
}

/// `xdp_get_buff_len`: bytes from `data` to the end of the last fragment.
fn buff_len(s: &PacketState) -> u64 {
    s.data_end - s.data + frags_len(s)
}

/// Copies `len` bytes between `buf` and the packet at `off` (counted from `data`, across
/// the linear part and the fragments), as `bpf_xdp_copy_buf`; `store` writes the packet.
/// The caller checked `off + len <= buff_len`.
fn copy_buf(s: &mut PacketState, off: u64, buf: u64, len: u64, store: bool) {
    let linear = s.data_end - s.data;
    let mut segs: Vec<(*mut u8, u64)> = vec![(s.data as *mut u8, linear)];
    segs.extend(s.frags.iter_mut().map(|f| (f.as_mut_ptr(), f.len() as u64)));
    let (mut off, mut done, mut seg_start) = (off, 0u64, 0u64);
    for (ptr, seg_len) in segs {
        if done == len {
            break;
        }
        if off < seg_start + seg_len {
            let in_seg = off - seg_start;
            let n = (len - done).min(seg_len - in_seg);
            // SAFETY: `[ptr + in_seg, +n)` lies in the linear frame (mapped for the run) or
            // in a fragment vector; `[buf + done, +n)` was checked by the caller against
            // the run's regions. `copy` tolerates a buffer inside the packet.
            unsafe {
                let p = ptr.add(in_seg as usize);
                let b = (buf + done) as *mut u8;
                if store {
                    std::ptr::copy(b, p, n as usize);
                } else {
                    std::ptr::copy(p, b, n as usize);
                }
            }
            off += n;
            done += n;
        }
        seg_start += seg_len;
    }
}

/// The argument checks of `bpf_xdp_pointer`: offsets and lengths above 0xffff are
/// `-EFAULT`, a range past the buffer `-EINVAL`.
fn check_range(s: &PacketState, off: u64, len: u64) -> Result<(), u64> {
    if off > 0xffff || len > 0xffff {
        return Err(neg_errno(EFAULT));
    }
    if off + len > buff_len(s) {
        return Err(neg_errno(EINVAL));
    }
    Ok(())
}

/// `bpf_xdp_get_buff_len(xdp_md *ctx)`: packet length including fragments.
pub extern "C" fn bpf_xdp_get_buff_len(
    ctx: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    with_packet(ctx, PacketKind::Xdp, |s| buff_len(s))
}

/// `bpf_xdp_load_bytes(xdp_md *ctx, u32 offset, void *buf, u32 len)`: copies packet
/// bytes (linear part and fragments) to `buf`; `buf` is left as it was on failure.
pub extern "C" fn bpf_xdp_load_bytes(
    ctx: u64,
    off: u64,
    buf: u64,
    len: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let (off, len) = (off as u32 as u64, len as u32 as u64);
    if let Err(f) = rc.check(buf, len, Access::Write) {
        rc.fault = Some(f);
        return neg_errno(EFAULT);
    }
    with_packet(ctx, PacketKind::Xdp, |s| match check_range(s, off, len) {
        Ok(()) => {
            copy_buf(s, off, buf, len, false);
            0
        }
        Err(e) => e,
    })
}

/// `bpf_xdp_store_bytes(xdp_md *ctx, u32 offset, void *buf, u32 len)`: copies `buf` into
/// the packet (linear part and fragments).
pub extern "C" fn bpf_xdp_store_bytes(
    ctx: u64,
    off: u64,
    buf: u64,
    len: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let (off, len) = (off as u32 as u64, len as u32 as u64);
    if let Err(f) = rc.check(buf, len, Access::Read) {
        rc.fault = Some(f);
        return neg_errno(EFAULT);
    }
    with_packet(ctx, PacketKind::Xdp, |s| match check_range(s, off, len) {
        Ok(()) => {
            copy_buf(s, off, buf, len, true);
            0
        }
        Err(e) => e,
    })
}

/// `xdp_adjust_tail` on a buffer with fragments: growing extends the last fragment
/// within its page (zeroed); shrinking trims fragments from the end, freeing those it
/// empties, and once none is left trims the linear part; at least `ETH_HLEN` bytes stay.
pub(super) fn adjust_tail(s: &mut PacketState, delta: i64, rc: &mut RunContext) -> u64 {
    if delta >= 0 {
        // `bpf_xdp_frags_increase_tail`: the tailroom of the last fragment's page.
        let Some(last) = s.frags.last_mut() else {
            return neg_errno(EINVAL);
        };
        let tailroom = (XDP_FRAG_SIZE - last.len()) as i64;
        if delta > tailroom {
            return neg_errno(EINVAL);
        }
        last.resize(last.len() + delta as usize, 0);
        return 0;
    }
    // `bpf_xdp_frags_shrink_tail`.
    let mut shrink = -delta;
    if shrink > buff_len(s) as i64 - ETH_HLEN as i64 {
        return neg_errno(EINVAL);
    }
    while shrink > 0 {
        let Some(last) = s.frags.last_mut() else {
            break;
        };
        let n = shrink.min(last.len() as i64);
        if n as usize == last.len() {
            s.frags.pop();
        } else {
            last.truncate(last.len() - n as usize);
        }
        shrink -= n;
    }
    if s.frags.is_empty() {
        // The buffer is linear again: the rest comes off the linear part.
        s.data_end -= shrink as u64;
        s.sync(rc);
    }
    0
}

/// `bpf_xdp_get_buff_len` prototype (`bpf_xdp_get_buff_len_proto`).
pub(super) const GET_BUFF_LEN: HelperProto =
    HelperProto::new(&[ArgKind::PtrToCtx], RetKind::Integer).only(XDP_ONLY);
/// `bpf_xdp_load_bytes` prototype: the buffer is written (`ARG_PTR_TO_UNINIT_MEM`).
pub(super) const LOAD_BYTES: HelperProto = HelperProto::new(
    &[
        ArgKind::PtrToCtx,
        ArgKind::Anything,
        ArgKind::PtrToUninitMem,
        ArgKind::ConstSize,
    ],
    RetKind::Integer,
)
.only(XDP_ONLY);
/// `bpf_xdp_store_bytes` prototype: the buffer is read (`ARG_PTR_TO_MEM | MEM_RDONLY`).
pub(super) const STORE_BYTES: HelperProto = HelperProto::new(
    &[
        ArgKind::PtrToCtx,
        ArgKind::Anything,
        ArgKind::PtrToMem {
            readonly: true,
            maybe_null: false,
        },
        ArgKind::ConstSize,
    ],
    RetKind::Integer,
)
.only(XDP_ONLY);
