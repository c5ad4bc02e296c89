//! Pre-decoding: [`Insn`] → the compact, slot-indexed [`Op`] form the loop dispatches on,
//! resolving helpers and `lddw` map forms on the way.
//!
//! `Op` is derived from `Insn` only — never from opcode bytes. It specialises each
//! instruction by operation, width and operand kind so that the loop does one dispatch per
//! instruction, with immediates pre-extended and jump targets resolved to slot indices.
//! `code[slot]` is the instruction starting at `slot`, so error slots need no mapping.

use crate::helpers::{HelperFn, Registry};
use crate::isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LdPseudo, Located, Size, Src, Width,
};
use crate::vm::{MapRef, MapResolver};

use super::error::LoadError;

/// One pre-decoded instruction. `d`/`s` are register numbers (0..=10), `t` jump targets
/// (slot indices), `off` memory offsets, `imm` immediates already extended as the
/// operation uses them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Add64I {
        d: u8,
        imm: i64,
    },
    Sub64I {
        d: u8,
        imm: i64,
    },
    Mul64I {
        d: u8,
        imm: i64,
    },
    Div64I {
        d: u8,
        imm: i64,
    },
    Sdiv64I {
        d: u8,
        imm: i64,
    },
    Or64I {
        d: u8,
        imm: i64,
    },
    And64I {
        d: u8,
        imm: i64,
    },
    Lsh64I {
        d: u8,
        imm: i64,
    },
    Rsh64I {
        d: u8,
        imm: i64,
    },
    Mod64I {
        d: u8,
        imm: i64,
    },
    Smod64I {
        d: u8,
        imm: i64,
    },
    Xor64I {
        d: u8,
        imm: i64,
    },
    Mov64I {
        d: u8,
        imm: i64,
    },
    Arsh64I {
        d: u8,
        imm: i64,
    },
    Add64R {
        d: u8,
        s: u8,
    },
    Sub64R {
        d: u8,
        s: u8,
    },
    Mul64R {
        d: u8,
        s: u8,
    },
    Div64R {
        d: u8,
        s: u8,
    },
    Sdiv64R {
        d: u8,
        s: u8,
    },
    Or64R {
        d: u8,
        s: u8,
    },
    And64R {
        d: u8,
        s: u8,
    },
    Lsh64R {
        d: u8,
        s: u8,
    },
    Rsh64R {
        d: u8,
        s: u8,
    },
    Mod64R {
        d: u8,
        s: u8,
    },
    Smod64R {
        d: u8,
        s: u8,
    },
    Xor64R {
        d: u8,
        s: u8,
    },
    Mov64R {
        d: u8,
        s: u8,
    },
    Arsh64R {
        d: u8,
        s: u8,
    },
    Add32I {
        d: u8,
        imm: u32,
    },
    Sub32I {
        d: u8,
        imm: u32,
    },
    Mul32I {
        d: u8,
        imm: u32,
    },
    Div32I {
        d: u8,
        imm: u32,
    },
    Sdiv32I {
        d: u8,
        imm: u32,
    },
    Or32I {
        d: u8,
        imm: u32,
    },
    And32I {
        d: u8,
        imm: u32,
    },
    Lsh32I {
        d: u8,
        imm: u32,
    },
    Rsh32I {
        d: u8,
        imm: u32,
    },
    Mod32I {
        d: u8,
        imm: u32,
    },
    Smod32I {
        d: u8,
        imm: u32,
    },
    Xor32I {
        d: u8,
        imm: u32,
    },
    Mov32I {
        d: u8,
        imm: u32,
    },
    Arsh32I {
        d: u8,
        imm: u32,
    },
    Add32R {
        d: u8,
        s: u8,
    },
    Sub32R {
        d: u8,
        s: u8,
    },
    Mul32R {
        d: u8,
        s: u8,
    },
    Div32R {
        d: u8,
        s: u8,
    },
    Sdiv32R {
        d: u8,
        s: u8,
    },
    Or32R {
        d: u8,
        s: u8,
    },
    And32R {
        d: u8,
        s: u8,
    },
    Lsh32R {
        d: u8,
        s: u8,
    },
    Rsh32R {
        d: u8,
        s: u8,
    },
    Mod32R {
        d: u8,
        s: u8,
    },
    Smod32R {
        d: u8,
        s: u8,
    },
    Xor32R {
        d: u8,
        s: u8,
    },
    Mov32R {
        d: u8,
        s: u8,
    },
    Arsh32R {
        d: u8,
        s: u8,
    },
    Neg64 {
        d: u8,
    },
    Neg32 {
        d: u8,
    },
    MovSx64 {
        d: u8,
        s: u8,
        bits: u8,
    },
    MovSx32 {
        d: u8,
        s: u8,
        bits: u8,
    },
    End {
        d: u8,
        order: ByteOrder,
        bits: u8,
    },
    /// `lddw` (value resolved at load time); also skips its second slot.
    LdDw {
        d: u8,
        imm: u64,
    },
    /// The second slot of an `lddw`: never executed (validation forbids jumping into it
    /// and `LdDw` steps over it); it exists so that `code` stays slot-indexed.
    LdDwTail,
    LdxB {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxH {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxW {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxDW {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSB {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSH {
        d: u8,
        s: u8,
        off: i16,
    },
    LdxSW {
        d: u8,
        s: u8,
        off: i16,
    },
    StB {
        d: u8,
        off: i16,
        imm: i32,
    },
    StH {
        d: u8,
        off: i16,
        imm: i32,
    },
    StW {
        d: u8,
        off: i16,
        imm: i32,
    },
    StDW {
        d: u8,
        off: i16,
        imm: i32,
    },
    StxB {
        d: u8,
        s: u8,
        off: i16,
    },
    StxH {
        d: u8,
        s: u8,
        off: i16,
    },
    StxW {
        d: u8,
        s: u8,
        off: i16,
    },
    StxDW {
        d: u8,
        s: u8,
        off: i16,
    },
    Atomic {
        size: Size,
        op: AtomicOp,
        fetch: bool,
        d: u8,
        s: u8,
        off: i16,
    },
    LdAbs {
        size: Size,
        imm: i32,
    },
    LdInd {
        size: Size,
        s: u8,
        imm: i32,
    },
    Ja {
        t: u32,
    },
    JeqI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JgtI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JgeI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JsetI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JneI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JsgtI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JsgeI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JltI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JleI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JsltI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JsleI {
        d: u8,
        imm: i64,
        t: u32,
    },
    JeqR {
        d: u8,
        s: u8,
        t: u32,
    },
    JgtR {
        d: u8,
        s: u8,
        t: u32,
    },
    JgeR {
        d: u8,
        s: u8,
        t: u32,
    },
    JsetR {
        d: u8,
        s: u8,
        t: u32,
    },
    JneR {
        d: u8,
        s: u8,
        t: u32,
    },
    JsgtR {
        d: u8,
        s: u8,
        t: u32,
    },
    JsgeR {
        d: u8,
        s: u8,
        t: u32,
    },
    JltR {
        d: u8,
        s: u8,
        t: u32,
    },
    JleR {
        d: u8,
        s: u8,
        t: u32,
    },
    JsltR {
        d: u8,
        s: u8,
        t: u32,
    },
    JsleR {
        d: u8,
        s: u8,
        t: u32,
    },
    /// 32-bit conditional jumps are rarer; one op with the condition as data.
    Jmp32I {
        cond: JmpCond,
        d: u8,
        imm: u32,
        t: u32,
    },
    Jmp32R {
        cond: JmpCond,
        d: u8,
        s: u8,
        t: u32,
    },
    CallHelper {
        id: u32,
        f: HelperFn,
    },
    CallLocal {
        t: u32,
    },
    Callx {
        r: u8,
    },
    Exit,
}

/// Lowers a validated program. `maps` resolves `lddw` map forms.
pub(crate) fn lower(
    insns: &[Located],
    helpers: &Registry,
    maps: Option<&dyn MapResolver>,
) -> Result<Vec<Op>, LoadError> {
    let slots = insns.last().map_or(0, |l| l.slot + l.insn.slots());
    if slots > u32::MAX as usize {
        return Err(LoadError::TooLarge { slots });
    }
    let mut code = vec![Op::Exit; slots];
    for l in insns {
        code[l.slot] = lower_one(l, helpers, maps)?;
        if l.insn.slots() == 2 {
            code[l.slot + 1] = Op::LdDwTail;
        }
    }
    Ok(code)
}

fn lower_one(
    l: &Located,
    helpers: &Registry,
    maps: Option<&dyn MapResolver>,
) -> Result<Op, LoadError> {
    let slot = l.slot;
    // Validation guarantees every target is inside the program.
    let target = || l.target_slot().unwrap_or(0) as u32;
    Ok(match l.insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => alu(width, op, dst.num(), src),
        Insn::Neg { width, dst } => match width {
            Width::W64 => Op::Neg64 { d: dst.num() },
            Width::W32 => Op::Neg32 { d: dst.num() },
        },
        Insn::MovSx {
            width,
            dst,
            src,
            bits,
        } => match width {
            Width::W64 => Op::MovSx64 {
                d: dst.num(),
                s: src.num(),
                bits,
            },
            Width::W32 => Op::MovSx32 {
                d: dst.num(),
                s: src.num(),
                bits,
            },
        },
        Insn::End { order, dst, bits } => Op::End {
            d: dst.num(),
            order,
            bits,
        },
        Insn::LdImm64 {
            dst,
            pseudo,
            imm,
            imm2,
        } => {
            let unresolved = LoadError::UnresolvedMap {
                slot,
                pseudo,
                imm,
                off: imm2,
            };
            let value = match pseudo {
                LdPseudo::Imm => Some(Insn::imm64(imm, imm2)),
                LdPseudo::MapFd => maps.and_then(|m| m.map_handle(MapRef::Fd(imm))),
                LdPseudo::MapIdx => maps.and_then(|m| m.map_handle(MapRef::Idx(imm))),
                LdPseudo::MapValue => {
                    maps.and_then(|m| m.map_value_addr(MapRef::Fd(imm), imm2 as u32))
                }
                LdPseudo::MapIdxValue => {
                    maps.and_then(|m| m.map_value_addr(MapRef::Idx(imm), imm2 as u32))
                }
                // The callback handle helpers pass to `RunContext::call_bpf`: the
                // function's start slot (isa::validate checked it is a function start).
                LdPseudo::Func => Some((slot as i64 + 1 + imm as i64) as u64),
                LdPseudo::BtfId => return Err(LoadError::UnsupportedPseudo { slot, pseudo }),
            };
            Op::LdDw {
                d: dst.num(),
                imm: value.ok_or(unresolved)?,
            }
        }
        Insn::LdAbs { size, imm } => Op::LdAbs { size, imm },
        Insn::LdInd { size, src, imm } => Op::LdInd {
            size,
            s: src.num(),
            imm,
        },
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.num(), src.num());
            match size {
                Size::B => Op::LdxB { d, s, off },
                Size::H => Op::LdxH { d, s, off },
                Size::W => Op::LdxW { d, s, off },
                Size::DW => Op::LdxDW { d, s, off },
            }
        }
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.num(), src.num());
            match size {
                Size::B => Op::LdxSB { d, s, off },
                Size::H => Op::LdxSH { d, s, off },
                // The decoder only produces B/H/W; a DW sign-extending load is a plain load.
                Size::W => Op::LdxSW { d, s, off },
                Size::DW => Op::LdxDW { d, s, off },
            }
        }
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => {
            let d = dst.num();
            match size {
                Size::B => Op::StB { d, off, imm },
                Size::H => Op::StH { d, off, imm },
                Size::W => Op::StW { d, off, imm },
                Size::DW => Op::StDW { d, off, imm },
            }
        }
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => {
            let (d, s) = (dst.num(), src.num());
            match size {
                Size::B => Op::StxB { d, s, off },
                Size::H => Op::StxH { d, s, off },
                Size::W => Op::StxW { d, s, off },
                Size::DW => Op::StxDW { d, s, off },
            }
        }
        Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => Op::Atomic {
            size,
            op,
            fetch,
            d: dst.num(),
            s: src.num(),
            off,
        },
        Insn::Ja { .. } | Insn::Gotol { .. } => Op::Ja { t: target() },
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            ..
        } => jmp(width, cond, dst.num(), src, target()),
        Insn::Call(CallTarget::Helper(id)) => {
            let h = u32::try_from(id)
                .ok()
                .and_then(|id| helpers.get(id))
                .ok_or(LoadError::UnknownHelper { slot, id })?;
            Op::CallHelper {
                id: h.id,
                f: h.func,
            }
        }
        Insn::Call(CallTarget::Local(_)) => Op::CallLocal { t: target() },
        Insn::Call(CallTarget::Kfunc(btf_id)) => return Err(LoadError::Kfunc { slot, btf_id }),
        Insn::Callx { reg } => Op::Callx { r: reg.num() },
        Insn::Exit => Op::Exit,
    })
}

fn alu(width: Width, op: AluOp, d: u8, src: Src) -> Op {
    match (width, src) {
        (Width::W64, Src::Imm(imm)) => {
            let imm = imm as i64;
            match op {
                AluOp::Add => Op::Add64I { d, imm },
                AluOp::Sub => Op::Sub64I { d, imm },
                AluOp::Mul => Op::Mul64I { d, imm },
                AluOp::Div => Op::Div64I { d, imm },
                AluOp::Sdiv => Op::Sdiv64I { d, imm },
                AluOp::Or => Op::Or64I { d, imm },
                AluOp::And => Op::And64I { d, imm },
                AluOp::Lsh => Op::Lsh64I { d, imm },
                AluOp::Rsh => Op::Rsh64I { d, imm },
                AluOp::Mod => Op::Mod64I { d, imm },
                AluOp::Smod => Op::Smod64I { d, imm },
                AluOp::Xor => Op::Xor64I { d, imm },
                AluOp::Mov => Op::Mov64I { d, imm },
                AluOp::Arsh => Op::Arsh64I { d, imm },
            }
        }
        (Width::W64, Src::Reg(s)) => {
            let s = s.num();
            match op {
                AluOp::Add => Op::Add64R { d, s },
                AluOp::Sub => Op::Sub64R { d, s },
                AluOp::Mul => Op::Mul64R { d, s },
                AluOp::Div => Op::Div64R { d, s },
                AluOp::Sdiv => Op::Sdiv64R { d, s },
                AluOp::Or => Op::Or64R { d, s },
                AluOp::And => Op::And64R { d, s },
                AluOp::Lsh => Op::Lsh64R { d, s },
                AluOp::Rsh => Op::Rsh64R { d, s },
                AluOp::Mod => Op::Mod64R { d, s },
                AluOp::Smod => Op::Smod64R { d, s },
                AluOp::Xor => Op::Xor64R { d, s },
                AluOp::Mov => Op::Mov64R { d, s },
                AluOp::Arsh => Op::Arsh64R { d, s },
            }
        }
        (Width::W32, Src::Imm(imm)) => {
            let imm = imm as u32;
            match op {
                AluOp::Add => Op::Add32I { d, imm },
                AluOp::Sub => Op::Sub32I { d, imm },
                AluOp::Mul => Op::Mul32I { d, imm },
                AluOp::Div => Op::Div32I { d, imm },
                AluOp::Sdiv => Op::Sdiv32I { d, imm },
                AluOp::Or => Op::Or32I { d, imm },
                AluOp::And => Op::And32I { d, imm },
                AluOp::Lsh => Op::Lsh32I { d, imm },
                AluOp::Rsh => Op::Rsh32I { d, imm },
                AluOp::Mod => Op::Mod32I { d, imm },
                AluOp::Smod => Op::Smod32I { d, imm },
                AluOp::Xor => Op::Xor32I { d, imm },
                AluOp::Mov => Op::Mov32I { d, imm },
                AluOp::Arsh => Op::Arsh32I { d, imm },
            }
        }
        (Width::W32, Src::Reg(s)) => {
            let s = s.num();
            match op {
                AluOp::Add => Op::Add32R { d, s },
                AluOp::Sub => Op::Sub32R { d, s },
                AluOp::Mul => Op::Mul32R { d, s },
                AluOp::Div => Op::Div32R { d, s },
                AluOp::Sdiv => Op::Sdiv32R { d, s },
                AluOp::Or => Op::Or32R { d, s },
                AluOp::And => Op::And32R { d, s },
                AluOp::Lsh => Op::Lsh32R { d, s },
                AluOp::Rsh => Op::Rsh32R { d, s },
                AluOp::Mod => Op::Mod32R { d, s },
                AluOp::Smod => Op::Smod32R { d, s },
                AluOp::Xor => Op::Xor32R { d, s },
                AluOp::Mov => Op::Mov32R { d, s },
                AluOp::Arsh => Op::Arsh32R { d, s },
            }
        }
    }
}

fn jmp(width: Width, cond: JmpCond, d: u8, src: Src, t: u32) -> Op {
    match (width, src) {
        (Width::W32, Src::Imm(imm)) => Op::Jmp32I {
            cond,
            d,
            imm: imm as u32,
            t,
        },
        (Width::W32, Src::Reg(s)) => Op::Jmp32R {
            cond,
            d,
            s: s.num(),
            t,
        },
        (Width::W64, Src::Imm(imm)) => {
            let imm = imm as i64;
            match cond {
                JmpCond::Eq => Op::JeqI { d, imm, t },
                JmpCond::Gt => Op::JgtI { d, imm, t },
                JmpCond::Ge => Op::JgeI { d, imm, t },
                JmpCond::Set => Op::JsetI { d, imm, t },
                JmpCond::Ne => Op::JneI { d, imm, t },
                JmpCond::Sgt => Op::JsgtI { d, imm, t },
                JmpCond::Sge => Op::JsgeI { d, imm, t },
                JmpCond::Lt => Op::JltI { d, imm, t },
                JmpCond::Le => Op::JleI { d, imm, t },
                JmpCond::Slt => Op::JsltI { d, imm, t },
                JmpCond::Sle => Op::JsleI { d, imm, t },
            }
        }
        (Width::W64, Src::Reg(s)) => {
            let s = s.num();
            match cond {
                JmpCond::Eq => Op::JeqR { d, s, t },
                JmpCond::Gt => Op::JgtR { d, s, t },
                JmpCond::Ge => Op::JgeR { d, s, t },
                JmpCond::Set => Op::JsetR { d, s, t },
                JmpCond::Ne => Op::JneR { d, s, t },
                JmpCond::Sgt => Op::JsgtR { d, s, t },
                JmpCond::Sge => Op::JsgeR { d, s, t },
                JmpCond::Lt => Op::JltR { d, s, t },
                JmpCond::Le => Op::JleR { d, s, t },
                JmpCond::Slt => Op::JsltR { d, s, t },
                JmpCond::Sle => Op::JsleR { d, s, t },
            }
        }
    }
}
