//! Wire format ⇄ [`Insn`]: the only place that knows opcode bytes.

use super::opcode::{alu, atomic, call, class, jmp, mode, size, SRC_X};
use super::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LdPseudo, Located, Reg, Size, Src,
    Width, SLOT_SIZE,
};

/// Why a slot could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The byte length is not a multiple of 8.
    #[error("program length {len} is not a multiple of 8 bytes")]
    OddLength { len: usize },
    /// The opcode byte names no instruction.
    #[error("unknown opcode {opcode:#04x}")]
    UnknownOpcode { opcode: u8 },
    /// A register field is above 10.
    #[error("invalid {field} register r{reg} (registers are r0..r10)")]
    BadRegister { field: &'static str, reg: u8 },
    /// A field this instruction does not use is nonzero.
    #[error("reserved field {field} is {value:#x} in opcode {opcode:#04x}, must be 0")]
    Reserved {
        opcode: u8,
        field: &'static str,
        value: i64,
    },
    /// A field has a value the instruction does not define.
    #[error("opcode {opcode:#04x}: invalid {field} {value:#x}")]
    BadField {
        opcode: u8,
        field: &'static str,
        value: i64,
    },
    /// `lddw` is the last slot of the program.
    #[error("lddw is missing its second slot")]
    LdImm64Truncated,
    /// The second slot of `lddw` has a nonzero opcode, register or offset.
    #[error("malformed second slot of lddw (opcode {opcode:#04x}, regs {regs:#04x}, off {off}; all must be 0)")]
    LdImm64Second { opcode: u8, regs: u8, off: i16 },
}

/// A decoding error at an instruction slot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {slot}: {kind}")]
pub struct DecodeError {
    /// The slot index (8-byte units from the start of the program).
    pub slot: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

/// The raw fields of one slot.
#[derive(Clone, Copy)]
struct Raw {
    op: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Raw {
    fn parse(b: &[u8; 8]) -> Raw {
        Raw {
            op: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    fn bytes(self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.op,
            (self.src << 4) | (self.dst & 0x0f),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }

    fn reserved(&self, field: &'static str, value: i64) -> DecodeErrorKind {
        DecodeErrorKind::Reserved {
            opcode: self.op,
            field,
            value,
        }
    }

    fn zero_dst(&self) -> Result<(), DecodeErrorKind> {
        match self.dst {
            0 => Ok(()),
            v => Err(self.reserved("dst_reg", v as i64)),
        }
    }
    fn zero_src(&self) -> Result<(), DecodeErrorKind> {
        match self.src {
            0 => Ok(()),
            v => Err(self.reserved("src_reg", v as i64)),
        }
    }
    fn zero_off(&self) -> Result<(), DecodeErrorKind> {
        match self.off {
            0 => Ok(()),
            v => Err(self.reserved("offset", v as i64)),
        }
    }
    fn zero_imm(&self) -> Result<(), DecodeErrorKind> {
        match self.imm {
            0 => Ok(()),
            v => Err(self.reserved("imm", v as i64)),
        }
    }
    fn dst_reg(&self) -> Result<Reg, DecodeErrorKind> {
        Reg::new(self.dst).ok_or(DecodeErrorKind::BadRegister {
            field: "dst",
            reg: self.dst,
        })
    }
    fn src_reg(&self) -> Result<Reg, DecodeErrorKind> {
        Reg::new(self.src).ok_or(DecodeErrorKind::BadRegister {
            field: "src",
            reg: self.src,
        })
    }
    fn bad(&self, field: &'static str, value: i64) -> DecodeErrorKind {
        DecodeErrorKind::BadField {
            opcode: self.op,
            field,
            value,
        }
    }
    fn unknown(&self) -> DecodeErrorKind {
        DecodeErrorKind::UnknownOpcode { opcode: self.op }
    }
}

fn size_of_field(op: u8) -> Size {
    match op & 0x18 {
        size::W => Size::W,
        size::H => Size::H,
        size::B => Size::B,
        _ => Size::DW,
    }
}

fn size_field(s: Size) -> u8 {
    match s {
        Size::W => size::W,
        Size::H => size::H,
        Size::B => size::B,
        Size::DW => size::DW,
    }
}

const JMP_CONDS: [(u8, JmpCond); 11] = [
    (jmp::JEQ, JmpCond::Eq),
    (jmp::JGT, JmpCond::Gt),
    (jmp::JGE, JmpCond::Ge),
    (jmp::JSET, JmpCond::Set),
    (jmp::JNE, JmpCond::Ne),
    (jmp::JSGT, JmpCond::Sgt),
    (jmp::JSGE, JmpCond::Sge),
    (jmp::JLT, JmpCond::Lt),
    (jmp::JLE, JmpCond::Le),
    (jmp::JSLT, JmpCond::Slt),
    (jmp::JSLE, JmpCond::Sle),
];

fn cond_code(c: JmpCond) -> u8 {
    JMP_CONDS
        .iter()
        .find(|(_, k)| *k == c)
        .map(|(code, _)| *code)
        .unwrap_or(jmp::JEQ)
}

/// (opcode field, off field) of a two-operand ALU operation.
fn alu_code(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (alu::ADD, 0),
        AluOp::Sub => (alu::SUB, 0),
        AluOp::Mul => (alu::MUL, 0),
        AluOp::Div => (alu::DIV, 0),
        AluOp::Sdiv => (alu::DIV, 1),
        AluOp::Or => (alu::OR, 0),
        AluOp::And => (alu::AND, 0),
        AluOp::Lsh => (alu::LSH, 0),
        AluOp::Rsh => (alu::RSH, 0),
        AluOp::Mod => (alu::MOD, 0),
        AluOp::Smod => (alu::MOD, 1),
        AluOp::Xor => (alu::XOR, 0),
        AluOp::Mov => (alu::MOV, 0),
        AluOp::Arsh => (alu::ARSH, 0),
    }
}

fn decode_alu(r: &Raw, width: Width) -> Result<Insn, DecodeErrorKind> {
    let code = r.op & 0xf0;
    let is_x = r.op & SRC_X != 0;
    let dst = r.dst_reg()?;
    // NEG and END use neither source form; every other operation takes one.
    let src = if matches!(code, alu::NEG | alu::END) {
        Src::Imm(0)
    } else if is_x {
        r.zero_imm()?;
        Src::Reg(r.src_reg()?)
    } else {
        r.zero_src()?;
        Src::Imm(r.imm)
    };
    let op = match code {
        alu::ADD => AluOp::Add,
        alu::SUB => AluOp::Sub,
        alu::MUL => AluOp::Mul,
        alu::OR => AluOp::Or,
        alu::AND => AluOp::And,
        alu::LSH => AluOp::Lsh,
        alu::RSH => AluOp::Rsh,
        alu::XOR => AluOp::Xor,
        alu::ARSH => AluOp::Arsh,
        alu::DIV | alu::MOD => {
            let signed = match r.off {
                0 => false,
                1 => true,
                v => return Err(r.bad("offset (0 unsigned, 1 signed)", v as i64)),
            };
            return Ok(Insn::Alu {
                width,
                op: match (code == alu::DIV, signed) {
                    (true, false) => AluOp::Div,
                    (true, true) => AluOp::Sdiv,
                    (false, false) => AluOp::Mod,
                    (false, true) => AluOp::Smod,
                },
                dst,
                src,
            });
        }
        alu::MOV => {
            if let Src::Reg(s) = src {
                let ok = match width {
                    Width::W32 => matches!(r.off, 8 | 16),
                    Width::W64 => matches!(r.off, 8 | 16 | 32),
                };
                if r.off != 0 {
                    if !ok {
                        return Err(r.bad("movsx offset (sign-extension width)", r.off as i64));
                    }
                    return Ok(Insn::MovSx {
                        width,
                        dst,
                        src: s,
                        bits: r.off as u8,
                    });
                }
            }
            AluOp::Mov
        }
        alu::NEG => {
            if is_x {
                return Err(r.unknown());
            }
            r.zero_src()?;
            r.zero_off()?;
            r.zero_imm()?;
            return Ok(Insn::Neg { width, dst });
        }
        alu::END => {
            r.zero_src()?;
            r.zero_off()?;
            let order = match (width, is_x) {
                (Width::W32, false) => ByteOrder::ToLe,
                (Width::W32, true) => ByteOrder::ToBe,
                (Width::W64, false) => ByteOrder::Swap,
                (Width::W64, true) => return Err(r.unknown()),
            };
            if !matches!(r.imm, 16 | 32 | 64) {
                return Err(r.bad("byte-swap width (16, 32 or 64)", r.imm as i64));
            }
            return Ok(Insn::End {
                order,
                dst,
                bits: r.imm as u8,
            });
        }
        _ => return Err(r.unknown()),
    };
    r.zero_off()?;
    Ok(Insn::Alu {
        width,
        op,
        dst,
        src,
    })
}

fn decode_jmp(r: &Raw, width: Width) -> Result<Insn, DecodeErrorKind> {
    let code = r.op & 0xf0;
    let is_x = r.op & SRC_X != 0;
    match (code, width) {
        (jmp::JA, _) => {
            if is_x {
                return Err(r.unknown());
            }
            r.zero_dst()?;
            r.zero_src()?;
            match width {
                Width::W64 => {
                    r.zero_imm()?;
                    Ok(Insn::Ja { off: r.off })
                }
                Width::W32 => {
                    r.zero_off()?;
                    Ok(Insn::Gotol { imm: r.imm })
                }
            }
        }
        (jmp::CALL, Width::W64) => {
            r.zero_off()?;
            if is_x {
                // LLVM's callx: the register is in dst.
                r.zero_src()?;
                r.zero_imm()?;
                return Ok(Insn::Callx { reg: r.dst_reg()? });
            }
            r.zero_dst()?;
            let target = match r.src {
                call::HELPER => CallTarget::Helper(r.imm),
                call::LOCAL => CallTarget::Local(r.imm),
                call::KFUNC => CallTarget::Kfunc(r.imm),
                v => return Err(r.bad("call src_reg (0 helper, 1 local, 2 kfunc)", v as i64)),
            };
            Ok(Insn::Call(target))
        }
        (jmp::EXIT, Width::W64) => {
            if is_x {
                return Err(r.unknown());
            }
            r.zero_dst()?;
            r.zero_src()?;
            r.zero_off()?;
            r.zero_imm()?;
            Ok(Insn::Exit)
        }
        _ => {
            let cond = JMP_CONDS
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, k)| *k)
                .ok_or_else(|| r.unknown())?;
            let dst = r.dst_reg()?;
            let src = if is_x {
                r.zero_imm()?;
                Src::Reg(r.src_reg()?)
            } else {
                r.zero_src()?;
                Src::Imm(r.imm)
            };
            Ok(Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off: r.off,
            })
        }
    }
}

fn decode_atomic(r: &Raw, size: Size) -> Result<Insn, DecodeErrorKind> {
    if !matches!(size, Size::W | Size::DW) {
        return Err(r.unknown());
    }
    let (op, fetch) = match r.imm {
        atomic::ADD => (AtomicOp::Add, false),
        atomic::OR => (AtomicOp::Or, false),
        atomic::AND => (AtomicOp::And, false),
        atomic::XOR => (AtomicOp::Xor, false),
        x if x == atomic::ADD | atomic::FETCH => (AtomicOp::Add, true),
        x if x == atomic::OR | atomic::FETCH => (AtomicOp::Or, true),
        x if x == atomic::AND | atomic::FETCH => (AtomicOp::And, true),
        x if x == atomic::XOR | atomic::FETCH => (AtomicOp::Xor, true),
        atomic::XCHG => (AtomicOp::Xchg, true),
        atomic::CMPXCHG => (AtomicOp::Cmpxchg, true),
        v => return Err(r.bad("atomic operation", v as i64)),
    };
    Ok(Insn::Atomic {
        size,
        op,
        fetch,
        dst: r.dst_reg()?,
        src: r.src_reg()?,
        off: r.off,
    })
}

/// Decodes the instruction starting at `first`; `second` is the following slot if any
/// (needed only for `lddw`).
pub fn decode_one(first: &[u8; 8], second: Option<&[u8; 8]>) -> Result<Insn, DecodeErrorKind> {
    let r = Raw::parse(first);
    match r.op & 0x07 {
        class::ALU => decode_alu(&r, Width::W32),
        class::ALU64 => decode_alu(&r, Width::W64),
        class::JMP => decode_jmp(&r, Width::W64),
        class::JMP32 => decode_jmp(&r, Width::W32),
        class::LD => {
            let sz = size_of_field(r.op);
            match r.op & 0xe0 {
                mode::IMM if sz == Size::DW => {
                    r.zero_off()?;
                    let dst = r.dst_reg()?;
                    let pseudo = LdPseudo::from_src(r.src)
                        .ok_or_else(|| r.bad("lddw src_reg (pseudo kind 0..6)", r.src as i64))?;
                    let second = second.ok_or(DecodeErrorKind::LdImm64Truncated)?;
                    let s = Raw::parse(second);
                    if s.op != 0 || second[1] != 0 || s.off != 0 {
                        return Err(DecodeErrorKind::LdImm64Second {
                            opcode: s.op,
                            regs: second[1],
                            off: s.off,
                        });
                    }
                    Ok(Insn::LdImm64 {
                        dst,
                        pseudo,
                        imm: r.imm,
                        imm2: s.imm,
                    })
                }
                mode::ABS if sz != Size::DW => {
                    r.zero_dst()?;
                    r.zero_src()?;
                    r.zero_off()?;
                    Ok(Insn::LdAbs {
                        size: sz,
                        imm: r.imm,
                    })
                }
                mode::IND if sz != Size::DW => {
                    r.zero_dst()?;
                    r.zero_off()?;
                    Ok(Insn::LdInd {
                        size: sz,
                        src: r.src_reg()?,
                        imm: r.imm,
                    })
                }
                _ => Err(r.unknown()),
            }
        }
        class::LDX => {
            let sz = size_of_field(r.op);
            let sx = match r.op & 0xe0 {
                mode::MEM => false,
                mode::MEMSX if sz != Size::DW => true,
                _ => return Err(r.unknown()),
            };
            r.zero_imm()?;
            let (dst, src, off) = (r.dst_reg()?, r.src_reg()?, r.off);
            Ok(if sx {
                Insn::LdxSx {
                    size: sz,
                    dst,
                    src,
                    off,
                }
            } else {
                Insn::Ldx {
                    size: sz,
                    dst,
                    src,
                    off,
                }
            })
        }
        class::ST => {
            if r.op & 0xe0 != mode::MEM {
                return Err(r.unknown());
            }
            r.zero_src()?;
            Ok(Insn::St {
                size: size_of_field(r.op),
                dst: r.dst_reg()?,
                off: r.off,
                imm: r.imm,
            })
        }
        _ => {
            // class::STX
            let sz = size_of_field(r.op);
            match r.op & 0xe0 {
                mode::MEM => {
                    r.zero_imm()?;
                    Ok(Insn::Stx {
                        size: sz,
                        dst: r.dst_reg()?,
                        src: r.src_reg()?,
                        off: r.off,
                    })
                }
                mode::ATOMIC => decode_atomic(&r, sz),
                _ => Err(r.unknown()),
            }
        }
    }
}

/// Decodes a whole program from its wire bytes (little-endian 8-byte slots).
///
/// Each instruction is checked on its own (opcode, registers, reserved fields); program-level
/// rules such as jump targets are checked by [`validate`](super::validate).
pub fn decode(bytes: &[u8]) -> Result<Vec<Located>, DecodeError> {
    if bytes.len() % SLOT_SIZE != 0 {
        return Err(DecodeError {
            slot: bytes.len() / SLOT_SIZE,
            kind: DecodeErrorKind::OddLength { len: bytes.len() },
        });
    }
    let slots: Vec<&[u8; 8]> = bytes
        .chunks_exact(SLOT_SIZE)
        .map(|c| c.try_into().expect("chunks_exact yields 8 bytes"))
        .collect();
    let mut out = Vec::with_capacity(slots.len());
    let mut slot = 0;
    while slot < slots.len() {
        let insn = decode_one(slots[slot], slots.get(slot + 1).copied())
            .map_err(|kind| DecodeError { slot, kind })?;
        out.push(Located { slot, insn });
        slot += insn.slots();
    }
    Ok(out)
}

/// Encodes instructions back to wire bytes.
pub fn encode(insns: &[Located]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * SLOT_SIZE);
    for l in insns {
        l.insn.encode_into(&mut out);
    }
    out
}

impl Insn {
    /// Appends the wire encoding (8 or 16 bytes) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let (first, second) = self.encode();
        out.extend_from_slice(&first);
        if let Some(s) = second {
            out.extend_from_slice(&s);
        }
    }

    /// The wire encoding: the first slot, and the second for `LdImm64`.
    pub fn encode(&self) -> ([u8; 8], Option<[u8; 8]>) {
        let raw = |op: u8, dst: Reg, src: u8, off: i16, imm: i32| Raw {
            op,
            dst: dst.num(),
            src,
            off,
            imm,
        };
        let wclass = |w: Width| match w {
            Width::W32 => class::ALU,
            Width::W64 => class::ALU64,
        };
        let jclass = |w: Width| match w {
            Width::W32 => class::JMP32,
            Width::W64 => class::JMP,
        };
        let r = match *self {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (code, off) = alu_code(op);
                match src {
                    Src::Reg(s) => raw(wclass(width) | code | SRC_X, dst, s.num(), off, 0),
                    Src::Imm(i) => raw(wclass(width) | code, dst, 0, off, i),
                }
            }
            Insn::Neg { width, dst } => raw(wclass(width) | alu::NEG, dst, 0, 0, 0),
            Insn::MovSx {
                width,
                dst,
                src,
                bits,
            } => raw(
                wclass(width) | alu::MOV | SRC_X,
                dst,
                src.num(),
                bits as i16,
                0,
            ),
            Insn::End { order, dst, bits } => {
                let op = match order {
                    ByteOrder::ToLe => class::ALU | alu::END,
                    ByteOrder::ToBe => class::ALU | alu::END | SRC_X,
                    ByteOrder::Swap => class::ALU64 | alu::END,
                };
                raw(op, dst, 0, 0, bits as i32)
            }
            Insn::LdImm64 {
                dst,
                pseudo,
                imm,
                imm2,
            } => {
                let first = raw(class::LD | mode::IMM | size::DW, dst, pseudo.src(), 0, imm);
                let second = raw(0, Reg::R0, 0, 0, imm2);
                return (first.bytes(), Some(second.bytes()));
            }
            Insn::LdAbs { size, imm } => {
                raw(class::LD | mode::ABS | size_field(size), Reg::R0, 0, 0, imm)
            }
            Insn::LdInd { size, src, imm } => raw(
                class::LD | mode::IND | size_field(size),
                Reg::R0,
                src.num(),
                0,
                imm,
            ),
            Insn::Ldx {
                size,
                dst,
                src,
                off,
            } => raw(
                class::LDX | mode::MEM | size_field(size),
                dst,
                src.num(),
                off,
                0,
            ),
            Insn::LdxSx {
                size,
                dst,
                src,
                off,
            } => raw(
                class::LDX | mode::MEMSX | size_field(size),
                dst,
                src.num(),
                off,
                0,
            ),
            Insn::St {
                size,
                dst,
                off,
                imm,
            } => raw(class::ST | mode::MEM | size_field(size), dst, 0, off, imm),
            Insn::Stx {
                size,
                dst,
                src,
                off,
            } => raw(
                class::STX | mode::MEM | size_field(size),
                dst,
                src.num(),
                off,
                0,
            ),
            Insn::Atomic {
                size,
                op,
                fetch,
                dst,
                src,
                off,
            } => {
                let base = match op {
                    AtomicOp::Add => atomic::ADD,
                    AtomicOp::Or => atomic::OR,
                    AtomicOp::And => atomic::AND,
                    AtomicOp::Xor => atomic::XOR,
                    AtomicOp::Xchg => atomic::XCHG,
                    AtomicOp::Cmpxchg => atomic::CMPXCHG,
                };
                let imm = if fetch { base | atomic::FETCH } else { base };
                raw(
                    class::STX | mode::ATOMIC | size_field(size),
                    dst,
                    src.num(),
                    off,
                    imm,
                )
            }
            Insn::Ja { off } => raw(class::JMP | jmp::JA, Reg::R0, 0, off, 0),
            Insn::Gotol { imm } => raw(class::JMP32 | jmp::JA, Reg::R0, 0, 0, imm),
            Insn::Jmp {
                width,
                cond,
                dst,
                src,
                off,
            } => match src {
                Src::Reg(s) => raw(
                    jclass(width) | cond_code(cond) | SRC_X,
                    dst,
                    s.num(),
                    off,
                    0,
                ),
                Src::Imm(i) => raw(jclass(width) | cond_code(cond), dst, 0, off, i),
            },
            Insn::Call(t) => {
                let (src, imm) = match t {
                    CallTarget::Helper(i) => (call::HELPER, i),
                    CallTarget::Local(i) => (call::LOCAL, i),
                    CallTarget::Kfunc(i) => (call::KFUNC, i),
                };
                raw(class::JMP | jmp::CALL, Reg::R0, src, 0, imm)
            }
            Insn::Callx { reg } => raw(class::JMP | jmp::CALL | SRC_X, reg, 0, 0, 0),
            Insn::Exit => raw(class::JMP | jmp::EXIT, Reg::R0, 0, 0, 0),
        };
        (r.bytes(), None)
    }

    /// The raw opcode byte (as bpftool prints it in `dump xlated`: `(b7)`).
    pub fn opcode(&self) -> u8 {
        self.encode().0[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 8-byte encoding with a given opcode and a set of interesting field values either
    /// fails to decode or re-encodes to exactly the same bytes.
    #[test]
    fn round_trip_all_opcodes() {
        let regs = [0x00u8, 0x01, 0x10, 0xa1, 0x1a, 0xbb, 0x5f];
        let offs = [0i16, 1, -1, 8, 16, 32, 0x7fff];
        let imms = [
            0i32,
            1,
            -1,
            16,
            32,
            64,
            0x40,
            0x41,
            0xe1,
            0xf1,
            0x51,
            0xa1,
            0x7fff_ffff,
        ];
        let mut accepted = 0;
        for op in 0..=255u8 {
            for &rg in &regs {
                for &off in &offs {
                    for &imm in &imms {
                        let mut b = [op, rg, 0, 0, 0, 0, 0, 0];
                        b[2..4].copy_from_slice(&off.to_le_bytes());
                        b[4..8].copy_from_slice(&imm.to_le_bytes());
                        let second = [0u8, 0, 0, 0, 7, 0, 0, 0];
                        if let Ok(insn) = decode_one(&b, Some(&second)) {
                            accepted += 1;
                            let (f, s) = insn.encode();
                            assert_eq!(f, b, "{insn:?}");
                            if let Some(s) = s {
                                assert_eq!(s, second);
                            }
                        }
                    }
                }
            }
        }
        assert!(accepted > 5_000, "only {accepted} encodings accepted");
    }

    /// The other direction: every instruction the generator can build encodes to bytes
    /// that decode back to it.
    #[test]
    fn every_generated_insn_round_trips() {
        let mut rng = crate::testgen::Rng::new(1);
        for _ in 0..500 {
            let p = crate::testgen::random_program(&mut rng, &Default::default());
            for insn in p {
                let (f, s) = insn.encode();
                assert_eq!(decode_one(&f, s.as_ref()), Ok(insn));
            }
        }
    }

    #[test]
    fn rejects_malformed() {
        let e = decode(&[0u8; 7]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::OddLength { len: 7 });
        let e = decode(&[0xff, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownOpcode { opcode: 0xff });
        let e = decode(&[0x18, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::LdImm64Truncated);
        // add64 r0, 1 with a nonzero src field
        let e = decode(&[0x95, 0, 0, 0, 0, 0, 0, 0, 0x07, 0x10, 0, 0, 1, 0, 0, 0]).unwrap_err();
        assert_eq!(e.slot, 1);
        assert!(matches!(
            e.kind,
            DecodeErrorKind::Reserved {
                field: "src_reg",
                ..
            }
        ));
        let e = decode(&[0xb7, 0x0b, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::BadRegister {
                field: "dst",
                reg: 11
            }
        );
        assert!(e.to_string().contains("instruction 0"));
    }

    #[test]
    fn lddw_spans_two_slots() {
        let bytes = [
            0x18, 0x00, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0x95, 0,
            0, 0, 0, 0, 0, 0,
        ];
        let p = decode(&bytes).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].slot, 2);
        match p[0].insn {
            Insn::LdImm64 { imm, imm2, .. } => {
                assert_eq!(Insn::imm64(imm, imm2), 0x1122334455667788)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(encode(&p), bytes);
    }
}
