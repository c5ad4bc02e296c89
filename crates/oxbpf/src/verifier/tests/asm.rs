//! Short constructors for test programs.
#![allow(dead_code)]

use crate::isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LdPseudo, Reg, Size, Src, Width,
};

pub const R0: Reg = Reg::R0;
pub const R1: Reg = Reg::R1;
pub const R2: Reg = Reg::R2;
pub const R3: Reg = Reg::R3;
pub const R4: Reg = Reg::R4;
pub const R5: Reg = Reg::R5;
pub const R6: Reg = Reg::R6;
pub const R7: Reg = Reg::R7;
pub const R8: Reg = Reg::R8;
pub const R9: Reg = Reg::R9;
pub const R10: Reg = Reg::R10;
pub use AluOp::*;
pub use JmpCond::{
    Eq as JEQ, Ge as JGE, Gt as JGT, Le as JLE, Lt as JLT, Ne as JNE, Set as JSET, Sgt as JSGT,
    Slt as JSLT,
};
pub use Size::{B, DW, H, W};

pub fn mov(d: Reg, k: i32) -> Insn {
    alu(Mov, d, k)
}
pub fn movr(d: Reg, s: Reg) -> Insn {
    alur(Mov, d, s)
}
pub fn mov32(d: Reg, k: i32) -> Insn {
    alu32(Mov, d, k)
}
pub fn mov32r(d: Reg, s: Reg) -> Insn {
    alu32r(Mov, d, s)
}
pub fn alu(op: AluOp, d: Reg, k: i32) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst: d,
        src: Src::Imm(k),
    }
}
pub fn alur(op: AluOp, d: Reg, s: Reg) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst: d,
        src: Src::Reg(s),
    }
}
pub fn alu32(op: AluOp, d: Reg, k: i32) -> Insn {
    Insn::Alu {
        width: Width::W32,
        op,
        dst: d,
        src: Src::Imm(k),
    }
}
pub fn alu32r(op: AluOp, d: Reg, s: Reg) -> Insn {
    Insn::Alu {
        width: Width::W32,
        op,
        dst: d,
        src: Src::Reg(s),
    }
}
pub fn neg(d: Reg) -> Insn {
    Insn::Neg {
        width: Width::W64,
        dst: d,
    }
}
pub fn movsx(d: Reg, s: Reg, bits: u8) -> Insn {
    Insn::MovSx {
        width: Width::W64,
        dst: d,
        src: s,
        bits,
    }
}
pub fn movsx32(d: Reg, s: Reg, bits: u8) -> Insn {
    Insn::MovSx {
        width: Width::W32,
        dst: d,
        src: s,
        bits,
    }
}
pub fn end(order: ByteOrder, d: Reg, bits: u8) -> Insn {
    Insn::End {
        order,
        dst: d,
        bits,
    }
}
pub fn ldx(size: Size, d: Reg, s: Reg, off: i16) -> Insn {
    Insn::Ldx {
        size,
        dst: d,
        src: s,
        off,
    }
}
pub fn ldxsx(size: Size, d: Reg, s: Reg, off: i16) -> Insn {
    Insn::LdxSx {
        size,
        dst: d,
        src: s,
        off,
    }
}
pub fn stx(size: Size, d: Reg, off: i16, s: Reg) -> Insn {
    Insn::Stx {
        size,
        dst: d,
        src: s,
        off,
    }
}
pub fn st(size: Size, d: Reg, off: i16, imm: i32) -> Insn {
    Insn::St {
        size,
        dst: d,
        off,
        imm,
    }
}
pub fn atomic(size: Size, op: AtomicOp, fetch: bool, d: Reg, off: i16, s: Reg) -> Insn {
    Insn::Atomic {
        size,
        op,
        fetch,
        dst: d,
        src: s,
        off,
    }
}
pub fn jmp(cond: JmpCond, d: Reg, k: i32, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W64,
        cond,
        dst: d,
        src: Src::Imm(k),
        off,
    }
}
pub fn jmpr(cond: JmpCond, d: Reg, s: Reg, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W64,
        cond,
        dst: d,
        src: Src::Reg(s),
        off,
    }
}
pub fn jmp32(cond: JmpCond, d: Reg, k: i32, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W32,
        cond,
        dst: d,
        src: Src::Imm(k),
        off,
    }
}
pub fn jmp32r(cond: JmpCond, d: Reg, s: Reg, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W32,
        cond,
        dst: d,
        src: Src::Reg(s),
        off,
    }
}
pub fn ja(off: i16) -> Insn {
    Insn::Ja { off }
}
pub fn gotol(imm: i32) -> Insn {
    Insn::Gotol { imm }
}
pub fn call(id: i32) -> Insn {
    Insn::Call(CallTarget::Helper(id))
}
pub fn callf(off: i32) -> Insn {
    Insn::Call(CallTarget::Local(off))
}
pub fn exit() -> Insn {
    Insn::Exit
}
pub fn ld64(d: Reg, v: u64) -> Insn {
    Insn::ld_imm64(d, v)
}
pub fn ldmap(d: Reg, idx: i32) -> Insn {
    Insn::LdImm64 {
        dst: d,
        pseudo: LdPseudo::MapIdx,
        imm: idx,
        imm2: 0,
    }
}
pub fn ldmapval(d: Reg, idx: i32, off: i32) -> Insn {
    Insn::LdImm64 {
        dst: d,
        pseudo: LdPseudo::MapIdxValue,
        imm: idx,
        imm2: off,
    }
}
pub fn ret(v: i32) -> Vec<Insn> {
    vec![mov(R0, v), exit()]
}

/// `r0 = map_lookup_elem(map idx, &(u64)0 at fp-8)` (7 slots, 6 instructions).
pub fn lookup(idx: i32) -> Vec<Insn> {
    vec![
        st(DW, R10, -8, 0),
        movr(R2, R10),
        alu(Add, R2, -8),
        ldmap(R1, idx),
        call(1),
    ]
}

/// Concatenates instruction lists.
pub fn cat(parts: &[Vec<Insn>]) -> Vec<Insn> {
    parts.concat()
}

pub use crate::isa::AtomicOp as Atomic;
pub use crate::isa::ByteOrder as Order;
