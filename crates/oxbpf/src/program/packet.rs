//! The packet a run works on, and the helpers that move or copy it: `xdp_adjust_head`
//! (44), `xdp_adjust_meta` (54), `xdp_adjust_tail` (65), `skb_load_bytes` (26),
//! `skb_store_bytes` (9); the XDP multi-buffer helpers (188-190) are in `frags.rs`.
//!
//! The state lives in a thread-local set by `test_run` for the duration of the run (the
//! engines run the program on the calling thread, and a tail call keeps the same
//! context), so helpers reach it without widening [`RunContext`]. A helper called with a
//! context pointer other than the run's gets `-EINVAL`, as a verifier-rejected call
//! would never happen in the kernel.

use std::cell::Cell;

use crate::helpers::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::object::prog_type as pt;
use crate::vm::{Access, MemRegion, RunContext};

use super::ctx::{sk_buff, xdp_md};

/// `XDP_PACKET_HEADROOM`: room in front of an XDP packet for `xdp_adjust_head`.
pub const XDP_PACKET_HEADROOM: usize = 256;
/// `sizeof(struct xdp_frame)`: the head of the headroom `xdp_adjust_head` cannot reach.
pub const XDP_FRAME_SIZE: usize = 40;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64: the tail of an XDP frame
/// `xdp_adjust_tail` cannot reach.
pub const XDP_TAILROOM: usize = 320;
/// An XDP test frame (one page).
pub const XDP_FRAME_LEN: usize = 4096;
/// Ethernet header length (`ETH_HLEN`).
pub const ETH_HLEN: usize = 14;
/// Most metadata in front of an XDP packet (`xdp_metalen_invalid`: the `u8`
/// `skb_shared_info.meta_len` bounds it in current kernels; older ones allowed 32).
pub const XDP_META_MAX: usize = 255;
/// Headroom the kernel gives a test skb (`NET_SKB_PAD + NET_IP_ALIGN` on x86-64).
pub const SKB_HEADROOM: usize = 64;

/// Which context struct carries the packet pointers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketKind {
    Xdp,
    Skb,
}

/// The packet of the current run: real addresses of its bounds and of its context.
#[derive(Debug, Clone)]
pub(crate) struct PacketState {
    pub kind: PacketKind,
    /// Address of the context struct (`r1`).
    pub ctx_addr: u64,
    /// Start of the frame (`data_hard_start`).
    pub hard_start: u64,
    /// End of what the packet may grow into.
    pub hard_end: u64,
    pub data_meta: u64,
    pub data: u64,
    pub data_end: u64,
    /// Direct packet access: the packet is a registered region and its pointers are in
    /// the context.
    pub direct: bool,
    /// The packet region currently registered for checked mode.
    pub region: Option<MemRegion>,
    /// XDP multi-buffer fragments after the linear area (`skb_shared_info.frags`), each
    /// at most a page; empty when the buffer is linear (`XDP_FLAGS_HAS_FRAGS` clear).
    pub frags: Vec<Vec<u8>>,
}

impl PacketState {
    /// Writes the packet pointers into the context struct and re-registers the packet
    /// region after a move.
    pub(crate) fn sync(&mut self, rc: &mut RunContext) {
        let put = |off: u32, v: u64| {
            // SAFETY: the context struct lies in the run's low-memory block, which stays
            // mapped for the whole run; the field is inside the struct.
            unsafe { ((self.ctx_addr + off as u64) as *mut u32).write_unaligned(v as u32) };
        };
        match self.kind {
            PacketKind::Xdp => {
                put(xdp_md::DATA, self.data);
                put(xdp_md::DATA_END, self.data_end);
                put(xdp_md::DATA_META, self.data_meta);
            }
            PacketKind::Skb => {
                if self.direct {
                    put(sk_buff::DATA, self.data);
                    put(sk_buff::DATA_END, self.data_end);
                    put(sk_buff::DATA_META, self.data_meta);
                }
            }
        }
        if self.direct {
            if let Some(old) = self.region.take() {
                rc.remove_region(&old);
            }
            let new = MemRegion {
                start: self.data_meta,
                len: self.data_end - self.data_meta,
                writable: true,
            };
            // SAFETY: the frame stays mapped for the whole run (the block is owned by
            // `test_run`, which removes the region before unmapping it).
            unsafe { rc.add_region(new) };
            self.region = Some(new);
        }
        // SAFETY: as above, `[data, data_end)` lies in the mapped frame.
        unsafe { rc.set_packet(self.data as *const u8, (self.data_end - self.data) as usize) };
    }
}

thread_local! {
    static CURRENT: Cell<*mut PacketState> = const { Cell::new(std::ptr::null_mut()) };
}

/// Makes `state` the current packet until the guard drops.
pub(crate) struct CurrentPacket {
    prev: *mut PacketState,
}

impl CurrentPacket {
    /// # Safety
    /// `state` must stay valid and not be accessed otherwise until the guard drops.
    pub(crate) unsafe fn set(state: *mut PacketState) -> CurrentPacket {
        let prev = CURRENT.with(|c| c.replace(state));
        CurrentPacket { prev }
    }
}

impl Drop for CurrentPacket {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` on the current packet if `ctx_arg` is its context, else returns `-EINVAL`.
pub(super) fn with_packet(
    ctx_arg: u64,
    kind: PacketKind,
    f: impl FnOnce(&mut PacketState) -> u64,
) -> u64 {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return neg_errno(crate::helpers::errno::EINVAL);
    }
    // SAFETY: `CurrentPacket::set`'s contract: the state is valid while set, and the only
    // code touching it during the run is the helper being called now.
    let state = unsafe { &mut *p };
    if state.ctx_addr != ctx_arg || state.kind != kind {
        return neg_errno(crate::helpers::errno::EINVAL);
    }
    f(state)
}

pub(super) const EINVAL: i64 = crate::helpers::errno::EINVAL;
pub(super) const EFAULT: i64 = crate::helpers::errno::EFAULT;
const EACCES: i64 = 13;

/// The first `len` bytes of the current run's packet from `data` (XDP: through the
/// fragments), for the packet forms of `perf_event_output` (`BPF_F_CTXLEN_MASK`).
/// `None` if `ctx` is not the context of a packet run; `Some(None)` if the packet is
/// shorter than `len` (the kernel's `-EFAULT`).
pub(crate) fn ctx_packet_bytes(ctx: u64, len: u64) -> Option<Option<Vec<u8>>> {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: `CurrentPacket::set`'s contract; only read here.
    let s = unsafe { &*p };
    if s.ctx_addr != ctx {
        return None;
    }
    let linear = s.data_end - s.data;
    let frags: u64 = s.frags.iter().map(|f| f.len() as u64).sum();
    if len > linear + frags {
        return Some(None);
    }
    let mut out = Vec::with_capacity(len as usize);
    let n = len.min(linear) as usize;
    // SAFETY: `[data, data + n)` lies in the mapped frame (n <= data_end - data).
    out.extend_from_slice(unsafe { std::slice::from_raw_parts(s.data as *const u8, n) });
    for f in &s.frags {
        let want = len as usize - out.len();
        out.extend_from_slice(&f[..want.min(f.len())]);
    }
    Some(Some(out))
}

fn metalen_invalid(len: u64) -> bool {
    len & 3 != 0 || len > XDP_META_MAX as u64
}

/// `bpf_xdp_adjust_head(xdp_md *ctx, int delta)`: moves `data` (and the metadata in
/// front of it) by `delta`; the packet keeps at least `ETH_HLEN` bytes.
pub extern "C" fn bpf_xdp_adjust_head(
    ctx: u64,
    delta: u64,
    _: u64,
    _: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    with_packet(ctx, PacketKind::Xdp, |s| {
        let delta = delta as i32 as i64;
        let metalen = s.data - s.data_meta;
        let data_start = s.hard_start + XDP_FRAME_SIZE as u64 + metalen;
        let data = (s.data as i64).wrapping_add(delta) as u64;
        if data < data_start || data > s.data_end.saturating_sub(ETH_HLEN as u64) {
            return neg_errno(EINVAL);
        }
        if metalen != 0 {
            let new_meta = (s.data_meta as i64 + delta) as u64;
            // SAFETY: both ranges lie inside the frame (checked bounds above).
            unsafe {
                std::ptr::copy(
                    s.data_meta as *const u8,
                    new_meta as *mut u8,
                    metalen as usize,
                )
            };
        }
        s.data_meta = (s.data_meta as i64 + delta) as u64;
        s.data = data;
        s.sync(rc);
        0
    })
}

/// `bpf_xdp_adjust_meta(xdp_md *ctx, int delta)`: moves `data_meta`; metadata is at most
/// 32 bytes, a multiple of 4.
pub extern "C" fn bpf_xdp_adjust_meta(
    ctx: u64,
    delta: u64,
    _: u64,
    _: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    with_packet(ctx, PacketKind::Xdp, |s| {
        let meta = (s.data_meta as i64).wrapping_add(delta as i32 as i64) as u64;
        if meta < s.hard_start + XDP_FRAME_SIZE as u64 || meta > s.data {
            return neg_errno(EINVAL);
        }
        if metalen_invalid(s.data - meta) {
            return neg_errno(EACCES);
        }
        s.data_meta = meta;
        s.sync(rc);
        0
    })
}

/// `bpf_xdp_adjust_tail(xdp_md *ctx, int delta)`: moves `data_end`; grown bytes are
/// zeroed, the packet keeps `ETH_HLEN` bytes and cannot reach the tailroom. A
/// multi-buffer packet grows or shrinks at its last fragment instead (within its page;
/// fragments emptied by a shrink are freed, then the linear part shrinks).
pub extern "C" fn bpf_xdp_adjust_tail(
    ctx: u64,
    delta: u64,
    _: u64,
    _: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    with_packet(ctx, PacketKind::Xdp, |s| {
        let delta = delta as i32 as i64;
        if !s.frags.is_empty() {
            return super::frags::adjust_tail(s, delta, rc);
        }
        let end = (s.data_end as i64).wrapping_add(delta) as u64;
        if end > s.hard_end || end < s.data + ETH_HLEN as u64 {
            return neg_errno(EINVAL);
        }
        if delta > 0 {
            // SAFETY: `[data_end, end)` lies inside the frame (end <= hard_end).
            unsafe { std::ptr::write_bytes(s.data_end as *mut u8, 0, delta as usize) };
        }
        s.data_end = end;
        s.sync(rc);
        0
    })
}

/// `bpf_skb_load_bytes(skb, offset, to, len)`: copies packet bytes from `data + offset`;
/// on failure `to` is zeroed and `-EFAULT` returned.
pub extern "C" fn bpf_skb_load_bytes(
    ctx: u64,
    off: u64,
    to: u64,
    len: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let len32 = len as u32 as u64;
    if let Err(f) = rc.check(to, len32, Access::Write) {
        rc.fault = Some(f);
        return neg_errno(EFAULT);
    }
    let r = with_packet(ctx, PacketKind::Skb, |s| {
        let off = off as u32 as u64;
        if off > i32::MAX as u64 || off + len32 > s.data_end - s.data {
            return neg_errno(EFAULT);
        }
        // SAFETY: the source lies in the packet, the destination was checked writable
        // (or lies on the stack); `copy` tolerates overlap.
        unsafe { std::ptr::copy((s.data + off) as *const u8, to as *mut u8, len32 as usize) };
        0
    });
    if r != 0 {
        // SAFETY: `[to, to + len)` was checked writable above.
        unsafe { std::ptr::write_bytes(to as *mut u8, 0, len32 as usize) };
        return neg_errno(EFAULT);
    }
    0
}

/// `BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH`: the flags `skb_store_bytes` accepts.
const STORE_FLAGS: u64 = 1 | 2;

/// `bpf_skb_store_bytes(skb, offset, from, len, flags)`: writes packet bytes at
/// `data + offset` (within the packet).
pub extern "C" fn bpf_skb_store_bytes(
    ctx: u64,
    off: u64,
    from: u64,
    len: u64,
    flags: u64,
    rc: &mut RunContext,
) -> u64 {
    if flags & !STORE_FLAGS != 0 {
        return neg_errno(EINVAL);
    }
    let len32 = len as u32 as u64;
    if let Err(f) = rc.check(from, len32, Access::Read) {
        rc.fault = Some(f);
        return neg_errno(EFAULT);
    }
    with_packet(ctx, PacketKind::Skb, |s| {
        let off = off as u32 as u64;
        if off > i32::MAX as u64 || off + len32 > s.data_end - s.data {
            return neg_errno(EFAULT);
        }
        // SAFETY: the destination lies in the packet, the source was checked readable.
        unsafe { std::ptr::copy(from as *const u8, (s.data + off) as *mut u8, len32 as usize) };
        0
    })
}

pub(super) const XDP_ONLY: &[u32] = &[pt::XDP];
const SKB_TYPES: &[u32] = &[
    pt::SOCKET_FILTER,
    pt::SCHED_CLS,
    pt::SCHED_ACT,
    pt::CGROUP_SKB,
    pt::LWT_IN,
    pt::LWT_OUT,
    pt::LWT_XMIT,
    pt::SK_SKB,
];
const STORE_TYPES: &[u32] = &[pt::SCHED_CLS, pt::SCHED_ACT, pt::LWT_XMIT, pt::SK_SKB];

const ADJUST: HelperProto =
    HelperProto::new(&[ArgKind::PtrToCtx, ArgKind::Anything], RetKind::Integer).only(XDP_ONLY);

/// The packet helpers with their kernel prototypes.
pub const PACKET_HELPERS: &[Helper] = &[
    kernel_helper(
        9,
        bpf_skb_store_bytes,
        HelperProto::new(
            &[
                ArgKind::PtrToCtx,
                ArgKind::Anything,
                ArgKind::PtrToMem {
                    readonly: true,
                    maybe_null: false,
                },
                ArgKind::ConstSize,
                ArgKind::Anything,
            ],
            RetKind::Integer,
        )
        .only(STORE_TYPES),
    ),
    kernel_helper(
        26,
        bpf_skb_load_bytes,
        HelperProto::new(
            &[
                ArgKind::PtrToCtx,
                ArgKind::Anything,
                ArgKind::PtrToUninitMem,
                ArgKind::ConstSize,
            ],
            RetKind::Integer,
        )
        .only(SKB_TYPES),
    ),
    kernel_helper(44, bpf_xdp_adjust_head, ADJUST),
    kernel_helper(54, bpf_xdp_adjust_meta, ADJUST),
    kernel_helper(65, bpf_xdp_adjust_tail, ADJUST),
    kernel_helper(
        188,
        super::frags::bpf_xdp_get_buff_len,
        super::frags::GET_BUFF_LEN,
    ),
    kernel_helper(
        189,
        super::frags::bpf_xdp_load_bytes,
        super::frags::LOAD_BYTES,
    ),
    kernel_helper(
        190,
        super::frags::bpf_xdp_store_bytes,
        super::frags::STORE_BYTES,
    ),
];
