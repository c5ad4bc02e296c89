//! Memory access checks (kernel `check_mem_access`, `check_stack_*`,
//! `check_mem_region_access`, `check_packet_access`, `check_ctx_access`,
//! `check_helper_mem_access`) and the stack's per-byte bookkeeping.

use super::check::MAX_VAR_OFF;
use super::ctx::CtxField;
use super::exec::{Env, Reject};
use super::scalar::Scalar;
use super::state::{Frame, RegState, RegType, SlotByte, StackSlot, VState, MAX_STACK};
use super::tnum::Tnum;
use super::{MemKind, F_RDONLY_PROG};
use crate::isa::{AtomicOp, Reg};

/// A load, a store of a value, or a helper's access.
#[derive(Clone, Copy, Debug)]
enum Access {
    Read,
    Write(RegState),
}

impl Access {
    fn verb(&self) -> &'static str {
        match self {
            Access::Read => "read from",
            Access::Write(_) => "write to",
        }
    }
}

/// Kernel `__check_mem_access` for a region of `mem_size` bytes.
fn region_msg(kind: MemKind, off: i64, size: u32, mem_size: u32) -> Option<String> {
    if off >= 0 && off + i64::from(size) <= i64::from(mem_size) {
        return None;
    }
    Some(match kind {
        MemKind::MapValue => {
            format!("invalid access to map value, value_size={mem_size} off={off} size={size}")
        }
        _ => format!("invalid access to memory, mem_size={mem_size} off={off} size={size}"),
    })
}

impl Env<'_> {
    /// `dst = *(size *)(src + off)`; returns the loaded register (zero-extended).
    pub(super) fn load(
        &mut self,
        pc: usize,
        st: &mut VState,
        src: Reg,
        off: i16,
        size: u32,
    ) -> Result<RegState, Reject> {
        let p = self.read_reg(st, src)?;
        self.access(pc, st, src, p, off.into(), size, Access::Read)
    }

    /// `*(size *)(dst + off) = val`.
    pub(super) fn store(
        &mut self,
        pc: usize,
        st: &mut VState,
        dst: Reg,
        off: i16,
        size: u32,
        val: RegState,
    ) -> Result<(), Reject> {
        let p = self.read_reg(st, dst)?;
        self.access(pc, st, dst, p, off.into(), size, Access::Write(val))?;
        Ok(())
    }

    /// Atomic read-modify-write (kernel `check_atomic`).
    pub(super) fn atomic(
        &mut self,
        pc: usize,
        st: &mut VState,
        (size, op, fetch, dst, src, off): (u32, AtomicOp, bool, Reg, Reg, i16),
    ) -> Result<(), Reject> {
        self.read_reg(st, src)?;
        if op == AtomicOp::Cmpxchg {
            self.read_reg(st, Reg::R0)?;
        }
        let p = self.read_reg(st, dst)?;
        if !matches!(
            p.ty,
            RegType::PtrToStack { .. } | RegType::PtrToMapValue { .. } | RegType::PtrToMem { .. }
        ) {
            return Err(Reject::reg(
                dst,
                format!(
                    "BPF_ATOMIC stores into R{} {} is not allowed",
                    dst.num(),
                    p.ty.name()
                ),
            ));
        }
        // Atomics must be aligned whatever the memory.
        check_aligned(dst, &p, off.into(), size)?;
        self.access(pc, st, dst, p, off.into(), size, Access::Read)?;
        self.access(
            pc,
            st,
            dst,
            p,
            off.into(),
            size,
            Access::Write(RegState::unknown()),
        )?;
        if fetch {
            let r = if op == AtomicOp::Cmpxchg {
                Reg::R0
            } else {
                src
            };
            *st.reg_mut(r) = RegState::scalar(Scalar::UNKNOWN.truncate(size));
        }
        Ok(())
    }

    /// One memory access through pointer register `r` holding `p`.
    #[allow(clippy::too_many_arguments)]
    fn access(
        &mut self,
        pc: usize,
        st: &mut VState,
        r: Reg,
        p: RegState,
        off: i64,
        size: u32,
        acc: Access,
    ) -> Result<RegState, Reject> {
        let n = r.num();
        let loaded = RegState::scalar(Scalar::UNKNOWN.truncate(size));
        match p.ty {
            RegType::NotInit
            | RegType::Scalar
            | RegType::PtrToMapValueOrNull { .. }
            | RegType::PtrToMemOrNull { .. }
            | RegType::PtrToMapOrNull { .. }
            | RegType::ConstPtrToMap { .. }
            | RegType::PtrToFunc { .. }
            | RegType::PtrToPacketEnd => Err(Reject::reg(
                r,
                format!("R{n} invalid mem access '{}'", p.ty.name()),
            )),
            RegType::PtrToCtx => {
                self.note_mem(pc, MemKind::Ctx);
                if p.off != 0 {
                    return Err(Reject::reg(
                        r,
                        format!(
                            "dereference of modified ctx ptr R{n} off={} disallowed",
                            p.off
                        ),
                    ));
                }
                if p.var.as_const().is_none() {
                    return Err(Reject::reg(
                        r,
                        format!("variable ctx access var_off={} disallowed", p.var.var_off),
                    ));
                }
                let o = off + p.var.as_const().unwrap_or(0) as i64;
                let denied =
                    || Reject::reg(r, format!("invalid bpf_context access off={o} size={size}"));
                let o32 = i32::try_from(o).map_err(|_| denied())?;
                let field = self
                    .config
                    .prog_type
                    .check_access(o32, size, matches!(acc, Access::Write(_)))
                    .map_err(|_| denied())?;
                Ok(match field {
                    CtxField::Scalar => loaded,
                    CtxField::PacketData => RegState::ptr(RegType::PtrToPacket { range: 0 }),
                    CtxField::PacketEnd => RegState::ptr(RegType::PtrToPacketEnd),
                    CtxField::PacketMeta => RegState::ptr(RegType::PtrToPacketMeta { range: 0 }),
                })
            }
            RegType::PtrToStack { frame } => {
                self.note_mem(pc, MemKind::Stack);
                self.stack_access(st, r, &p, frame, off, size, acc)
            }
            RegType::PtrToMapKey { map } => {
                self.note_mem(pc, MemKind::Mem);
                if matches!(acc, Access::Write(_)) {
                    return Err(Reject::reg(
                        r,
                        format!("write to change key R{n} not allowed"),
                    ));
                }
                let info = self.map_info(map);
                check_region(
                    r,
                    &p,
                    i64::from(p.off) + off,
                    size,
                    info.key_size,
                    MemKind::Mem,
                )
                .map_err(|mut e| {
                    // The kernel names the key (`__check_mem_access`, PTR_TO_MAP_KEY).
                    e.msg = e.msg.replace(
                        "invalid access to memory, mem_size=",
                        "invalid access to map key, key_size=",
                    );
                    e
                })?;
                Ok(loaded)
            }
            RegType::PtrToMapValue { map } => {
                self.note_mem(pc, MemKind::MapValue);
                let info = self.map_info(map);
                let o = i64::from(p.off) + off;
                if matches!(acc, Access::Write(_)) && info.flags & F_RDONLY_PROG != 0 {
                    return Err(Reject::reg(
                        r,
                        format!(
                            "write into map forbidden, value_size={} off={o} size={size}",
                            info.value_size
                        ),
                    ));
                }
                check_region(r, &p, o, size, info.value_size, MemKind::MapValue)?;
                Ok(loaded)
            }
            RegType::PtrToMem { size: mem_size, .. } => {
                self.note_mem(pc, MemKind::Mem);
                check_region(r, &p, i64::from(p.off) + off, size, mem_size, MemKind::Mem)?;
                Ok(loaded)
            }
            RegType::PtrToPacket { range } | RegType::PtrToPacketMeta { range } => {
                self.note_mem(pc, MemKind::Packet);
                check_packet(r, &p, i64::from(p.off) + off, size, range)?;
                Ok(loaded)
            }
        }
    }

    /// Stack access through a pointer into frame `frame`.
    #[allow(clippy::too_many_arguments)]
    fn stack_access(
        &mut self,
        st: &mut VState,
        r: Reg,
        p: &RegState,
        frame: u8,
        off: i64,
        size: u32,
        acc: Access,
    ) -> Result<RegState, Reject> {
        let n = r.num();
        let fi = frame as usize;
        if fi >= st.frames.len() {
            return Err(Reject::reg(
                r,
                format!("R{n} invalid stack pointer into a returned frame"),
            ));
        }
        let base = i64::from(p.off) + off;
        // Stack accesses must be aligned even where the CPU would not care.
        check_aligned(r, p, off, size)?;
        if let Access::Write(v) = acc {
            // Kernel `check_stack_write_fixed_off`: a caller's frame outlives the
            // callee's, so a stack pointer spilled there could dangle.
            if size == 8 && fi + 1 != st.frames.len() && matches!(v.ty, RegType::PtrToStack { .. })
            {
                return Err(Reject::reg(
                    r,
                    "cannot spill pointers to stack into stack frame of the caller",
                ));
            }
        }
        let size64 = i64::from(size);
        let (lo, hi) = match p.var.as_const() {
            Some(c) => {
                let o = base + c as i64;
                if o < -MAX_STACK || o + size64 > 0 {
                    return Err(Reject::reg(
                        r,
                        format!("invalid {} stack R{n} off={base} size={size}", acc.verb()),
                    ));
                }
                (o, o + size64)
            }
            None => {
                if p.var.smax >= MAX_VAR_OFF || p.var.smin <= -MAX_VAR_OFF {
                    return Err(Reject::reg(
                        r,
                        format!(
                            "invalid unbounded variable-offset {} stack R{n}",
                            acc.verb()
                        ),
                    ));
                }
                let (lo, hi) = (p.var.smin + base, p.var.smax + base + size64);
                if lo < -MAX_STACK || hi > 0 {
                    return Err(Reject::reg(
                        r,
                        format!(
                            "invalid variable-offset {} stack R{n} var_off={} off={base} size={size}",
                            acc.verb(),
                            p.var.var_off
                        ),
                    ));
                }
                (lo, hi)
            }
        };
        self.note_stack(st, fi, lo);
        let fixed = p.var.as_const().is_some();
        if fixed {
            // For backtracking (precision): which slot this instruction touched.
            self.insn_stack = Some((frame, Frame::slot_index(lo).0 as u8));
        }
        let fr = &mut st.frames[fi];
        match acc {
            Access::Read if fixed => stack_read(fr, lo, size).map_err(|m| Reject::reg(r, m)),
            // A variable-offset read sees some of the bytes: any value (root may read
            // uninitialised stack).
            Access::Read => Ok(RegState::scalar(Scalar::UNKNOWN.truncate(size))),
            Access::Write(v) if fixed => {
                stack_write(fr, lo, size, v).map_err(|m| Reject::reg(r, m))?;
                Ok(v)
            }
            Access::Write(v) => {
                mark_misc(fr, lo, hi, v.is_const_zero());
                Ok(v)
            }
        }
    }

    /// A helper's access to `[min_size, size]` bytes at register `r` (kernel
    /// `check_helper_mem_access`); a written range becomes unknown data.
    pub(super) fn helper_mem(
        &mut self,
        pc: usize,
        st: &mut VState,
        r: Reg,
        _min_size: u32,
        size: u32,
        write: bool,
    ) -> Result<(), Reject> {
        let p = self.read_reg(st, r)?;
        let n = r.num();
        if size == 0 {
            return Ok(());
        }
        match p.ty {
            RegType::PtrToStack { frame } => {
                let fi = frame as usize;
                if fi >= st.frames.len() {
                    return Err(Reject::reg(
                        r,
                        format!("R{n} invalid stack pointer into a returned frame"),
                    ));
                }
                let base = i64::from(p.off);
                if p.var.smax >= MAX_VAR_OFF || p.var.smin <= -MAX_VAR_OFF {
                    return Err(Reject::reg(
                        r,
                        format!(
                            "invalid unbounded variable-offset {} stack R{n}",
                            if write { "write to" } else { "read from" }
                        ),
                    ));
                }
                let (lo, hi) = (base + p.var.smin, base + p.var.smax + i64::from(size));
                if lo < -MAX_STACK || hi > 0 {
                    let verb = if write { "write to" } else { "read from" };
                    return Err(Reject::reg(
                        r,
                        if p.var.as_const().is_some() {
                            format!("invalid {verb} stack R{n} off={base} size={size}")
                        } else {
                            format!(
                                "invalid variable-offset {verb} stack R{n} var_off={} off={base} size={size}",
                                p.var.var_off
                            )
                        },
                    ));
                }
                self.note_stack(st, fi, lo);
                if write {
                    mark_misc(&mut st.frames[fi], lo, hi, false);
                }
                Ok(())
            }
            RegType::PtrToMapValue { .. }
            | RegType::PtrToMapKey { .. }
            | RegType::PtrToMem { .. }
            | RegType::PtrToPacket { .. }
            | RegType::PtrToPacketMeta { .. } => {
                let acc = if write {
                    Access::Write(RegState::unknown())
                } else {
                    Access::Read
                };
                self.access(pc, st, r, p, 0, size, acc).map(|_| ())
            }
            _ => Err(Reject::reg(
                r,
                format!(
                    "R{n} type={} expected=fp, pkt, pkt_meta, map_key, map_value, mem",
                    p.ty.name()
                ),
            )),
        }
    }
}

/// Kernel `check_ptr_alignment`: stack accesses (and atomics everywhere) must be
/// aligned to their size.
fn check_aligned(r: Reg, p: &RegState, off: i64, size: u32) -> Result<(), Reject> {
    let at = p
        .var
        .var_off
        .add(Tnum::constant((i64::from(p.off) + off) as u64));
    if (at.value | at.mask) & (u64::from(size) - 1) == 0 {
        return Ok(());
    }
    let desc = match p.ty {
        RegType::PtrToStack { .. } => "stack ",
        RegType::PtrToMapValue { .. } => "value ",
        RegType::PtrToCtx => "context ",
        RegType::PtrToPacket { .. } | RegType::PtrToPacketMeta { .. } => "packet ",
        _ => "",
    };
    let var = match p.var.as_const() {
        Some(c) => (c as i64).to_string(),
        None => p.var.var_off.to_string(),
    };
    Err(Reject::reg(
        r,
        format!(
            "misaligned {desc}access off {var}+{}+{off} size {size}",
            p.off
        ),
    ))
}

/// Kernel `check_mem_region_access`: both ends of the variable offset must be inside.
fn check_region(
    r: Reg,
    p: &RegState,
    off: i64,
    size: u32,
    mem_size: u32,
    kind: MemKind,
) -> Result<(), Reject> {
    let n = r.num();
    let smin = p.var.smin;
    if smin < 0 && (smin == i64::MIN || (off + smin) as i32 as i64 != off + smin || smin + off < 0)
    {
        return Err(Reject::reg(
            r,
            format!("R{n} min value is negative, either use unsigned index or do a if (index >=0) check."),
        ));
    }
    if let Some(m) = region_msg(kind, smin + off, size, mem_size) {
        return Err(Reject::reg(
            r,
            format!("{m}\nR{n} min value is outside of the allowed memory range"),
        ));
    }
    if p.var.umax >= MAX_VAR_OFF as u64 {
        return Err(Reject::reg(
            r,
            format!("R{n} unbounded memory access, make sure to bounds check any such access"),
        ));
    }
    if let Some(m) = region_msg(kind, p.var.umax as i64 + off, size, mem_size) {
        return Err(Reject::reg(
            r,
            format!("{m}\nR{n} max value is outside of the allowed memory range"),
        ));
    }
    Ok(())
}

/// Kernel `check_packet_access`: the fixed offset must lie in the proven range.
fn check_packet(r: Reg, p: &RegState, off: i64, size: u32, range: u32) -> Result<(), Reject> {
    let n = r.num();
    if p.var.smin < 0 {
        return Err(Reject::reg(
            r,
            format!("R{n} min value is negative, either use unsigned index or do a if (index >=0) check."),
        ));
    }
    if off < 0 || off + i64::from(size) > i64::from(range) {
        return Err(Reject::reg(
            r,
            format!(
                "invalid access to packet, off={off} size={size}, R{n}(id={},off={off},r={range})\nR{n} offset is outside of the packet",
                p.id
            ),
        ));
    }
    Ok(())
}

/// Whether a scalar's values fit in `bytes` bytes (a narrowing spill or fill keeps the
/// link to its copies only then).
fn fits(v: &Scalar, bytes: u32) -> bool {
    bytes >= 8 || v.umax < 1u64 << (8 * bytes)
}

/// A fixed-offset read of `size` bytes at `o` (aligned, inside one slot).
fn stack_read(fr: &Frame, o: i64, size: u32) -> Result<RegState, String> {
    let (spi, b) = Frame::slot_index(o);
    let slot = fr.slot(spi);
    let unknown = RegState::scalar(Scalar::UNKNOWN.truncate(size));
    if let Some((sp, k)) = slot.spilled_part() {
        if size == 8 && k == 8 {
            return Ok(*sp);
        }
        if b < k && sp.ty != RegType::Scalar {
            return Err("invalid size of register fill".into());
        }
        // The low bytes of a spill are the truncated register (kernel narrow fill); a
        // narrow spill read whole is that value zero-extended when the rest is zeros.
        let whole_zero_ext = size == 8 && slot.bytes[k..].iter().all(|&x| x == SlotByte::Zero);
        if b == 0 && (size as usize <= k || whole_zero_ext) {
            let n = size.min(k as u32);
            let mut r = RegState::scalar(sp.var.truncate(n));
            if fits(&sp.var, n) {
                r.id = sp.id;
                r.off = sp.off;
            }
            return Ok(r);
        }
    }
    // Byte by byte: known zeros and bytes of a spilled constant make a constant.
    let spilled_const = slot
        .spilled
        .filter(|r| r.ty == RegType::Scalar)
        .and_then(|r| r.var.as_const());
    let mut val = 0u64;
    for p in b..b + size as usize {
        let byte = match (slot.bytes[p], spilled_const) {
            (SlotByte::Zero, _) => 0,
            (SlotByte::Spill, Some(c)) => (c >> (8 * p)) & 0xff,
            _ => return Ok(unknown),
        };
        val |= byte << (8 * (p - b));
    }
    Ok(RegState::scalar(Scalar::constant(val)))
}

/// A fixed-offset write: 8 aligned bytes spill the register; a narrower scalar written at
/// the start of a slot is a narrow spill (its bounds survive, as in the kernel); other
/// writes turn the bytes into data (or known zeros) and break a spill.
fn stack_write(fr: &mut Frame, o: i64, size: u32, v: RegState) -> Result<(), String> {
    let (spi, b) = Frame::slot_index(o);
    if size == 8 {
        *fr.slot_mut(spi) = StackSlot {
            bytes: [SlotByte::Spill; 8],
            spilled: Some(v),
        };
        return Ok(());
    }
    if v.ty.is_ptr() {
        return Err("invalid size of register spill".into());
    }
    let slot = fr.slot_mut(spi);
    scrub(slot);
    if b == 0 && v.ty == RegType::Scalar {
        let mut r = RegState::scalar(v.var.truncate(size));
        if fits(&v.var, size) {
            r.id = v.id;
            r.off = v.off;
        }
        for x in &mut slot.bytes[..size as usize] {
            *x = SlotByte::Spill;
        }
        slot.spilled = Some(r);
        return Ok(());
    }
    let t = if v.is_const_zero() {
        SlotByte::Zero
    } else {
        SlotByte::Misc
    };
    for x in &mut slot.bytes[b..b + size as usize] {
        *x = t;
    }
    Ok(())
}

/// A spilled register partly overwritten is no longer a register: its bytes are data.
fn scrub(slot: &mut StackSlot) {
    if slot.spilled.is_some() {
        for x in &mut slot.bytes {
            if *x == SlotByte::Spill {
                *x = SlotByte::Misc;
            }
        }
        slot.spilled = None;
    }
}

/// Bytes `[lo, hi)` may have been written with unknown data (or zeros, if `zero`).
fn mark_misc(fr: &mut Frame, lo: i64, hi: i64, zero: bool) {
    for o in lo..hi {
        let (spi, b) = Frame::slot_index(o);
        let slot = fr.slot_mut(spi);
        scrub(slot);
        let x = &mut slot.bytes[b];
        *x = if zero && *x == SlotByte::Zero {
            SlotByte::Zero
        } else {
            SlotByte::Misc
        };
    }
}
