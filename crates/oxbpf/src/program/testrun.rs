//! `BPF_PROG_TEST_RUN` in user space: build the context and packet the way the kernel's
//! `net/bpf/test_run.c` does, run the program `repeat` times on the same context, and
//! hand back `retval`, `data_out`, `ctx_out` and the mean duration.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use crate::interp::{Interpreter, RunError};
use crate::vm::{MemRegion, RunContext};

use super::ctx::{sk_buff as s, xdp_md, PT_REGS_SIZE};
use super::frags::{split_frags, MAX_SKB_FRAGS, XDP_FRAG_SIZE};
use super::lowmem::LowMem;
use super::packet::{
    CurrentPacket, PacketKind, PacketState, ETH_HLEN, SKB_HEADROOM, XDP_FRAME_LEN, XDP_FRAME_SIZE,
    XDP_META_MAX, XDP_PACKET_HEADROOM, XDP_TAILROOM,
};
use super::types::{ProgramType, RunInput};

/// An execution engine: the interpreter, or the JIT with the same run API.
pub trait Engine: Send + Sync {
    /// Runs with `r1`, `r2` as arguments and returns `r0`.
    fn run(&self, ctx: &mut RunContext, r1: u64, r2: u64) -> Result<u64, RunError>;
    /// Short name (`interp`, `jit`).
    fn name(&self) -> &'static str;
    /// Bytes of native code (0 for an interpreter): bpftool's `jited` size.
    fn native_len(&self) -> usize {
        0
    }
    /// The engine as the tail-call table hands it to the engine that jumps to it (the
    /// interpreter downcasts it to [`Interpreter`]).
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl Engine for Interpreter {
    fn run(&self, ctx: &mut RunContext, r1: u64, r2: u64) -> Result<u64, RunError> {
        Interpreter::run(self, ctx, r1, r2)
    }
    fn name(&self) -> &'static str {
        "interp"
    }
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Input of a test run (the kernel's `bpf_attr.test`).
#[derive(Debug, Clone, Default)]
#[doc(alias = "BPF_PROG_TEST_RUN")]
pub struct TestRun<'a> {
    /// Packet (or memory) in.
    pub data_in: &'a [u8],
    /// Context in (`struct xdp_md`, `struct __sk_buff`, `pt_regs`, tracepoint args).
    pub ctx_in: Option<&'a [u8]>,
    /// Runs (0 and 1 both mean once); the same context is reused, as the kernel does.
    pub repeat: u32,
}

/// Output of a test run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// `r0` of the last run, truncated to 32 bits as the kernel reports it.
    pub retval: u32,
    /// The full 64-bit `r0`.
    pub retval64: u64,
    /// The packet (or memory) after the last run.
    pub data_out: Vec<u8>,
    /// The context after the last run (types whose kernel test_run copies one out).
    pub ctx_out: Vec<u8>,
    /// Mean wall time per run in nanoseconds.
    pub duration_ns: u64,
    /// Instructions executed by the last run.
    pub insn_count: u64,
}

/// Why a test run could not run or finish. `errno` gives the kernel's answer for the
/// same input.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    /// Input the kernel rejects with `EINVAL`.
    #[error("{prog_type} test run: {reason}")]
    Invalid {
        /// Program type name.
        prog_type: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Data larger than an skb's linear frame (`EINVAL`, from `bpf_test_init`).
    #[error("{prog_type} test run: data_in has {size} bytes, at most {max} fit")]
    TooBig {
        /// Program type name.
        prog_type: &'static str,
        /// Bytes given.
        size: usize,
        /// Bytes that fit.
        max: usize,
    },
    /// XDP data that needs more than `MAX_SKB_FRAGS` fragments (`ENOMEM`, as the kernel
    /// answers when it runs out of fragment slots).
    #[error("{prog_type} test run: data_in has {size} bytes, at most {max} fit in the linear part and {} fragments", super::frags::MAX_SKB_FRAGS)]
    TooManyFrags {
        /// Program type name.
        prog_type: &'static str,
        /// Bytes given.
        size: usize,
        /// Bytes that fit.
        max: usize,
    },
    /// Input the kernel accepts but oxbpf does not model (`EOPNOTSUPP`).
    #[error("{prog_type} test run: {what} are not supported")]
    NotSupported {
        /// Program type name.
        prog_type: &'static str,
        /// What is missing.
        what: &'static str,
    },
    /// No memory below 4 GiB for the packet and context.
    #[error("mapping packet memory: {0}")]
    Memory(#[from] std::io::Error),
    /// The program stopped with an error (checked-mode fault, budget...).
    #[error("run {run}: {source}")]
    Run {
        /// Which of the `repeat` runs (0-based).
        run: u32,
        /// The engine's error.
        source: RunError,
    },
}

impl TestRunError {
    /// The errno the kernel's `BPF_PROG_TEST_RUN` returns for this input.
    pub fn errno(&self) -> i32 {
        match self {
            TestRunError::Invalid { .. } => libc::EINVAL,
            TestRunError::TooBig { .. } => libc::EINVAL,
            TestRunError::TooManyFrags { .. } => libc::ENOMEM,
            TestRunError::NotSupported { .. } => libc::EOPNOTSUPP,
            TestRunError::Memory(_) => libc::ENOMEM,
            TestRunError::Run { .. } => libc::EFAULT,
        }
    }
}

/// Runs `engine` as a program of type `ty` on `run`'s input. Map regions (and anything
/// else the program may touch) must already be registered in `rc`; the context and packet
/// regions are added for the run and removed afterwards.
pub fn test_run(
    engine: &dyn Engine,
    ty: &ProgramType,
    run: &TestRun<'_>,
    rc: &mut RunContext,
) -> Result<TestRunOutput, TestRunError> {
    let invalid = |reason: &str| TestRunError::Invalid {
        prog_type: ty.bpftool_name,
        reason: reason.to_owned(),
    };
    match ty.input {
        RunInput::Xdp => run_xdp(engine, ty, run, rc),
        RunInput::Skb { l2, direct } => run_skb(engine, ty, run, rc, l2, direct),
        RunInput::CtxOnly => {
            if !run.data_in.is_empty() {
                return Err(invalid("this type takes no data_in, only ctx_in"));
            }
            let ctx_in = run.ctx_in.unwrap_or(&[]);
            if ctx_in.len() > ty.ctx.size as usize {
                return Err(invalid(&format!(
                    "ctx_in has {} bytes, {} is {} bytes",
                    ctx_in.len(),
                    ty.ctx.struct_name,
                    ty.ctx.size
                )));
            }
            if ty.ctx.size == 8 * super::ctx::MAX_RAW_TP_ARGS && ctx_in.len() % 8 != 0 {
                return Err(invalid(
                    "raw tracepoint ctx_in must be a multiple of 8 bytes",
                ));
            }
            // pt_regs and perf_event data are fixed-size: short input is zero-padded.
            let len = if ty.ctx.size <= PT_REGS_SIZE + 16 {
                ty.ctx.size as usize
            } else {
                ctx_in.len()
            };
            // The allocation always spans the whole struct (a tracepoint record's
            // largest size): a verified program runs unchecked and may read any field.
            let mut mem = LowMem::new((ty.ctx.size as usize).max(len).max(1))?;
            mem.write(0, ctx_in);
            let regions = ty.ctx.regions(mem.addr(), len as u32);
            let out = with_regions(rc, &regions, |rc| {
                repeat_runs(engine, rc, run.repeat, mem.addr(), 0)
            })?;
            Ok(TestRunOutput {
                data_out: Vec::new(),
                ctx_out: Vec::new(),
                ..out
            })
        }
        RunInput::Memory => {
            let mut mem = run.data_in.to_vec();
            let region = MemRegion {
                start: mem.as_mut_ptr() as u64,
                len: mem.len() as u64,
                writable: true,
            };
            let out = with_regions(rc, &[region], |rc| {
                repeat_runs(engine, rc, run.repeat, region.start, region.len)
            })?;
            Ok(TestRunOutput {
                data_out: mem,
                ctx_out: Vec::new(),
                ..out
            })
        }
    }
}

/// Registers `regions` for the duration of `f`.
fn with_regions<T>(
    rc: &mut RunContext,
    regions: &[MemRegion],
    f: impl FnOnce(&mut RunContext) -> T,
) -> T {
    for r in regions {
        // SAFETY: every caller's memory outlives this call and is only accessed through
        // raw pointers by the program meanwhile; the regions are removed before returning.
        unsafe { rc.add_region(*r) };
    }
    let out = f(rc);
    for r in regions {
        rc.remove_region(r);
    }
    out
}

fn repeat_runs(
    engine: &dyn Engine,
    rc: &mut RunContext,
    repeat: u32,
    r1: u64,
    r2: u64,
) -> Result<TestRunOutput, TestRunError> {
    let n = repeat.max(1);
    let start = Instant::now();
    let mut r0 = 0;
    for i in 0..n {
        rc.tail_call_count = 0;
        r0 = engine
            .run(rc, r1, r2)
            .map_err(|source| TestRunError::Run { run: i, source })?;
    }
    let total = start.elapsed().as_nanos() as u64;
    Ok(TestRunOutput {
        retval: r0 as u32,
        retval64: r0,
        data_out: Vec::new(),
        ctx_out: Vec::new(),
        duration_ns: total / n as u64,
        insn_count: rc.insn_count,
    })
}

fn u32_at(b: &[u8], off: u32) -> u32 {
    let o = off as usize;
    b.get(o..o + 4)
        .map_or(0, |x| u32::from_ne_bytes([x[0], x[1], x[2], x[3]]))
}

/// Block layout: page 0 holds the context, the frame starts at page 1.
const FRAME_OFF: usize = 4096;

fn run_xdp(
    engine: &dyn Engine,
    ty: &ProgramType,
    run: &TestRun<'_>,
    rc: &mut RunContext,
) -> Result<TestRunOutput, TestRunError> {
    let invalid = |reason: &str| TestRunError::Invalid {
        prog_type: ty.bpftool_name,
        reason: reason.to_owned(),
    };
    let size = run.data_in.len();
    if size < ETH_HLEN {
        return Err(invalid("data_in is shorter than an Ethernet header"));
    }
    // `ctx_in`: data_meta must be 0, data the metadata length, data_end the end of the
    // linear part (at most the data_in size; the rest goes to fragments).
    let mut ctx = [0u8; xdp_md::SIZE as usize];
    let mut metalen = 0usize;
    let mut linear = size;
    if let Some(c) = run.ctx_in {
        if c.len() > ctx.len() {
            return Err(invalid("ctx_in is larger than struct xdp_md"));
        }
        ctx[..c.len()].copy_from_slice(c);
        let (data, end, meta) = (
            u32_at(&ctx, xdp_md::DATA),
            u32_at(&ctx, xdp_md::DATA_END),
            u32_at(&ctx, xdp_md::DATA_META),
        );
        if meta != 0 || end as usize > size || data > end || data & 3 != 0 {
            return Err(invalid(
                "ctx_in must have data_meta 0, data = metadata length <= data_end <= data_in size",
            ));
        }
        if data as usize > XDP_META_MAX || data as usize > XDP_PACKET_HEADROOM - XDP_FRAME_SIZE {
            return Err(invalid(
                "metadata longer than 216 bytes (the headroom less struct xdp_frame)",
            ));
        }
        metalen = data as usize;
        linear = end as usize;
    }
    if size - metalen < ETH_HLEN {
        return Err(invalid(
            "data_in after the metadata is shorter than an Ethernet header",
        ));
    }
    let headroom = XDP_PACKET_HEADROOM - metalen;
    linear = linear.min(XDP_FRAME_LEN - headroom - XDP_TAILROOM);
    if run.ctx_in.is_some() {
        // Only the loopback device (ifindex 1) exists here, with one queue.
        let ifindex = u32_at(&ctx, xdp_md::INGRESS_IFINDEX);
        if ifindex > 1 {
            return Err(invalid("ingress_ifindex names no device"));
        }
        if u32_at(&ctx, xdp_md::RX_QUEUE_INDEX) != 0 || u32_at(&ctx, xdp_md::EGRESS_IFINDEX) != 0 {
            return Err(invalid("rx_queue_index and egress_ifindex must be 0"));
        }
    }
    let frags = split_frags(&run.data_in[linear..]).ok_or(TestRunError::TooManyFrags {
        prog_type: ty.bpftool_name,
        size,
        max: XDP_FRAME_LEN - headroom - XDP_TAILROOM + MAX_SKB_FRAGS * XDP_FRAG_SIZE,
    })?;
    let mut mem = LowMem::new(FRAME_OFF + XDP_FRAME_LEN)?;
    let base = mem.addr();
    let hard_start = base + FRAME_OFF as u64;
    mem.write(FRAME_OFF + headroom, &run.data_in[..linear]);
    // The program reads the loopback device's ifindex unless ctx_in named one (which can
    // only be 1 here).
    mem.write(0, &ctx);
    mem.set_u32(xdp_md::INGRESS_IFINDEX as usize, 1);
    let mut state = PacketState {
        kind: PacketKind::Xdp,
        ctx_addr: base,
        hard_start,
        hard_end: hard_start + (XDP_FRAME_LEN - XDP_TAILROOM) as u64,
        data_meta: hard_start + headroom as u64,
        data: hard_start + (headroom + metalen) as u64,
        data_end: hard_start + (headroom + linear) as u64,
        direct: true,
        region: None,
        frags,
    };
    state.sync(rc);
    let ctx_regions = ty.ctx.regions(base, xdp_md::SIZE);
    let result = {
        // SAFETY: `state` outlives the guard and is only touched by packet helpers
        // during the run.
        let _guard = unsafe { CurrentPacket::set(&mut state) };
        with_regions(rc, &ctx_regions, |rc| {
            repeat_runs(engine, rc, run.repeat, base, 0)
        })
    };
    if let Some(r) = state.region.take() {
        rc.remove_region(&r);
    }
    rc.clear_packet();
    let out = result?;
    let off = |a: u64| (a - base) as usize;
    // data_out: the linear part from data_meta, then the fragments, as `bpf_test_finish`.
    let mut data_out = mem
        .read(
            off(state.data_meta),
            (state.data_end - state.data_meta) as usize,
        )
        .unwrap_or_default();
    for f in &state.frags {
        data_out.extend_from_slice(f);
    }
    // ctx_out: offsets relative to data_meta, the rest as given.
    ctx[xdp_md::DATA as usize..][..4]
        .copy_from_slice(&((state.data - state.data_meta) as u32).to_ne_bytes());
    ctx[xdp_md::DATA_END as usize..][..4]
        .copy_from_slice(&((state.data_end - state.data_meta) as u32).to_ne_bytes());
    drop(mem);
    Ok(TestRunOutput {
        data_out,
        ctx_out: ctx.to_vec(),
        ..out
    })
}

/// `eth_type_trans` on the loopback device, whose address and broadcast address are both
/// 00:00:00:00:00:00 (so ff:ff:ff:ff:ff:ff counts as multicast, as in the kernel): packet
/// type and protocol (`__be16` as the kernel stores it).
fn eth_type_trans(pkt: &[u8]) -> (u32, u16) {
    let dest = &pkt[..6];
    let pkt_type = if dest.iter().all(|&b| b == 0) {
        0 // PACKET_HOST
    } else if dest[0] & 1 != 0 {
        2 // PACKET_MULTICAST
    } else {
        3 // PACKET_OTHERHOST
    };
    let proto = u16::from_be_bytes([pkt[12], pkt[13]]);
    let proto = if proto >= 0x0600 {
        proto
    } else if pkt.get(14..16) == Some(&[0xff, 0xff]) {
        0x0001 // ETH_P_802_3
    } else {
        0x0004 // ETH_P_802_2
    };
    (pkt_type, proto.to_be())
}

/// `struct __sk_buff` fields a test run's `ctx_in` may set (`convert___skb_to_skb`);
/// every other byte must be zero.
const SKB_CTX_IN: &[(u32, u32)] = &[
    (s::MARK, 4),
    (s::PRIORITY, 4),
    (s::INGRESS_IFINDEX, 4),
    (s::IFINDEX, 4),
    (s::CB, 20),
    (s::TSTAMP, 8),
    (s::WIRE_LEN, 4),
    (s::GSO_SEGS, 4),
    (s::GSO_SIZE, 4),
    (s::HWTSTAMP, 8),
];

fn run_skb(
    engine: &dyn Engine,
    ty: &ProgramType,
    run: &TestRun<'_>,
    rc: &mut RunContext,
    l2: bool,
    direct: bool,
) -> Result<TestRunOutput, TestRunError> {
    let invalid = |reason: String| TestRunError::Invalid {
        prog_type: ty.bpftool_name,
        reason,
    };
    let size = run.data_in.len();
    if size < ETH_HLEN {
        return Err(invalid("data_in is shorter than an Ethernet header".into()));
    }
    let tailroom = 320;
    let max = 4096 - SKB_HEADROOM - tailroom;
    if size > max {
        return Err(TestRunError::TooBig {
            prog_type: ty.bpftool_name,
            size,
            max,
        });
    }
    let mut user = [0u8; s::SIZE as usize];
    if let Some(c) = run.ctx_in {
        if c.len() > user.len() {
            return Err(invalid("ctx_in is larger than struct __sk_buff".into()));
        }
        user[..c.len()].copy_from_slice(c);
        for (i, &b) in user.iter().enumerate() {
            let allowed = SKB_CTX_IN
                .iter()
                .any(|&(o, l)| (i as u32) >= o && (i as u32) < o + l);
            if b != 0 && !allowed {
                let field = super::ctx::SK_BUFF_CGROUP
                    .field_at(i as u32)
                    .map_or("padding", |f| f.name);
                return Err(invalid(format!(
                    "ctx_in sets byte {i} ({field}), which test runs do not accept"
                )));
            }
        }
        if u32_at(&user, s::IFINDEX) > 1 {
            return Err(invalid("ifindex names no device".into()));
        }
    }
    let net_len = size - ETH_HLEN;
    let len = if l2 { size } else { net_len };
    // `cb->pkt_len` is only set when a ctx_in is converted.
    let wire_len = match u32_at(&user, s::WIRE_LEN) {
        _ if run.ctx_in.is_none() => 0,
        0 => len as u32,
        w if (w as usize) < len || w > 65536 => {
            return Err(invalid(format!("wire_len {w} is below the packet length")))
        }
        w => w,
    };
    if u32_at(&user, s::GSO_SEGS) > 65535 {
        return Err(invalid("gso_segs above GSO_MAX_SEGS".into()));
    }

    let mut mem = LowMem::new(FRAME_OFF + 4096)?;
    let base = mem.addr();
    let frame = base + FRAME_OFF as u64;
    let pkt_off = FRAME_OFF + SKB_HEADROOM;
    mem.write(pkt_off, run.data_in);
    let (pkt_type, proto) = eth_type_trans(run.data_in);
    let data = frame + SKB_HEADROOM as u64 + if l2 { 0 } else { ETH_HLEN as u64 };
    let data_end = frame + (SKB_HEADROOM + size) as u64;

    // The context as the program reads it (the kernel converts each access).
    let mut k = [0u8; s::SIZE as usize];
    let mut put = |off: u32, v: &[u8]| k[off as usize..][..v.len()].copy_from_slice(v);
    put(s::LEN, &(len as u32).to_ne_bytes());
    put(s::PKT_TYPE, &pkt_type.to_ne_bytes());
    put(s::PROTOCOL, &(proto as u32).to_ne_bytes());
    put(s::IFINDEX, &1u32.to_ne_bytes());
    put(s::WIRE_LEN, &wire_len.to_ne_bytes());
    for (off, l) in [
        (s::MARK, 4),
        (s::PRIORITY, 4),
        (s::INGRESS_IFINDEX, 4),
        (s::CB, 20),
        (s::TSTAMP, 8),
        (s::GSO_SEGS, 4),
        (s::GSO_SIZE, 4),
        (s::HWTSTAMP, 8),
    ] {
        let v = user[off as usize..][..l].to_vec();
        put(off, &v);
    }
    // The test socket's family and addresses (`bpf_prog_test_run_skb`): an IPv4/IPv6
    // ethertype needs the whole fixed IP header (20/40 bytes, IHL and version not
    // looked at) after the Ethernet header, or the kernel fails with EINVAL.
    let net = &run.data_in[ETH_HLEN..];
    let ip_short = |need: usize| {
        invalid(format!(
            "{} bytes after the Ethernet header, the IP header needs {need}",
            net.len()
        ))
    };
    match u16::from_be(proto) {
        0x0800 => {
            if net.len() < 20 {
                return Err(ip_short(20));
            }
            put(s::FAMILY, &2u32.to_ne_bytes());
            put(s::LOCAL_IP4, &net[12..16]);
            put(s::REMOTE_IP4, &net[16..20]);
        }
        0x86dd => {
            if net.len() < 40 {
                return Err(ip_short(40));
            }
            put(s::FAMILY, &10u32.to_ne_bytes());
            put(s::LOCAL_IP6, &net[8..24]);
            put(s::REMOTE_IP6, &net[24..40]);
        }
        _ => {}
    }
    mem.write(0, &k);
    let mut state = PacketState {
        kind: PacketKind::Skb,
        ctx_addr: base,
        hard_start: frame,
        hard_end: data_end,
        data_meta: data,
        data,
        data_end,
        direct,
        region: None,
        frags: Vec::new(),
    };
    state.sync(rc);
    let ctx_regions = ty.ctx.regions(base, s::SIZE);
    let result = {
        // SAFETY: `state` outlives the guard and is only touched by packet helpers.
        let _guard = unsafe { CurrentPacket::set(&mut state) };
        with_regions(rc, &ctx_regions, |rc| {
            repeat_runs(engine, rc, run.repeat, base, 0)
        })
    };
    if let Some(r) = state.region.take() {
        rc.remove_region(&r);
    }
    rc.clear_packet();
    let out = result?;
    // data_out: from the Ethernet header; non-L2 types get it zeroed back in front, as
    // the kernel pushes `hh_len` zero bytes.
    let mut data_out = mem.read(pkt_off, size).unwrap_or_default();
    if !l2 {
        data_out[..ETH_HLEN].fill(0);
    }
    // ctx_out: the fields `convert_skb_to___skb` copies back.
    let after = mem.read(0, s::SIZE as usize).unwrap_or_default();
    let mut ctx_out = [0u8; s::SIZE as usize];
    for (off, l) in [
        (s::MARK, 4),
        (s::PRIORITY, 4),
        (s::INGRESS_IFINDEX, 4),
        (s::IFINDEX, 4),
        (s::CB, 20),
        (s::TSTAMP, 8),
        (s::WIRE_LEN, 4),
        (s::GSO_SEGS, 4),
        (s::HWTSTAMP, 8),
    ] {
        let o = off as usize;
        ctx_out[o..o + l].copy_from_slice(&after[o..o + l]);
    }
    drop(mem);
    Ok(TestRunOutput {
        data_out,
        ctx_out: ctx_out.to_vec(),
        ..out
    })
}
