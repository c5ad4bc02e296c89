//! The BPF instruction set (RFC 9669): the one decoded instruction type.
//!
//! Every consumer — interpreter, JIT, verifier, assembler, disassembler — matches on
//! [`Insn`]. Adding an instruction means adding a variant here and in [`decode`]
//! / [`Insn::encode`]; every exhaustive `match` elsewhere then fails to compile until it
//! handles the new form.
//!
//! Jump and call offsets stay in *slots* (8-byte units), exactly as on the wire: a
//! [`Insn::LdImm64`] occupies two slots, every other instruction one.
//!
//! ```
//! use oxbpf::isa::{self, Insn, Reg, Src, AluOp, Width};
//! let bytes = [0xb7, 0x00, 0, 0, 42, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
//! let prog = isa::decode(&bytes).unwrap();
//! assert_eq!(prog[0].insn, Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Src::Imm(42) });
//! assert_eq!(isa::encode(&prog), bytes);
//! ```

mod decode;
pub mod opcode;
mod validate;

pub use decode::{decode, decode_one, encode, DecodeError, DecodeErrorKind};
pub use validate::{function_starts, validate, ValidateError, ValidateErrorKind};

use std::fmt;

/// Size of one instruction slot in bytes.
pub const SLOT_SIZE: usize = 8;

/// A register number 0..=10. `r10` is the read-only frame pointer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Reg(u8);

impl Reg {
    pub const R0: Reg = Reg(0);
    pub const R1: Reg = Reg(1);
    pub const R2: Reg = Reg(2);
    pub const R3: Reg = Reg(3);
    pub const R4: Reg = Reg(4);
    pub const R5: Reg = Reg(5);
    pub const R6: Reg = Reg(6);
    pub const R7: Reg = Reg(7);
    pub const R8: Reg = Reg(8);
    pub const R9: Reg = Reg(9);
    /// The frame pointer.
    pub const R10: Reg = Reg(10);
    /// Alias of [`Reg::R10`].
    pub const FP: Reg = Reg(10);
    /// Number of registers.
    pub const COUNT: usize = 11;

    /// The register with this number, if it is 0..=10.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 {
            Some(Reg(n))
        } else {
            None
        }
    }

    /// The register number, 0..=10.
    #[inline(always)]
    pub const fn num(self) -> u8 {
        self.0
    }

    /// The register number as an index (0..=10).
    #[inline(always)]
    pub const fn idx(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of arithmetic and jump instructions: the `ALU`/`JMP32` classes operate on
/// the low 32 bits, `ALU64`/`JMP` on all 64.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Width {
    W32,
    W64,
}

/// Memory access size (RFC 9669 §5.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Size {
    /// 1 byte.
    B,
    /// 2 bytes.
    H,
    /// 4 bytes.
    W,
    /// 8 bytes.
    DW,
}

impl Size {
    /// The size in bytes.
    #[inline(always)]
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// The C type name used by the llvm-objdump syntax (`u8`..`u64`).
    pub const fn c_name(self) -> &'static str {
        match self {
            Size::B => "u8",
            Size::H => "u16",
            Size::W => "u32",
            Size::DW => "u64",
        }
    }
}

/// The second operand of an arithmetic or conditional-jump instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Src {
    /// `BPF_X`: a register.
    Reg(Reg),
    /// `BPF_K`: the 32-bit immediate (sign-extended to 64 bits for 64-bit operations).
    Imm(i32),
}

/// Arithmetic operations with two operands (RFC 9669 §4.1). `Neg`, sign-extending moves and
/// byte swaps have their own [`Insn`] variants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AluOp {
    Add,
    Sub,
    Mul,
    /// Unsigned division; division by zero gives 0.
    Div,
    /// Signed division (`off = 1`); division by zero gives 0.
    Sdiv,
    Or,
    And,
    Lsh,
    Rsh,
    /// Unsigned modulo; modulo by zero leaves `dst` unchanged.
    Mod,
    /// Signed modulo (`off = 1`); modulo by zero leaves `dst` unchanged.
    Smod,
    Xor,
    Mov,
    Arsh,
}

impl AluOp {
    /// Every operation, in opcode order.
    pub const ALL: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::Sdiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::Smod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];
}

/// Conditions of conditional jumps (RFC 9669 §4.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum JmpCond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    Sgt,
    Sge,
    Lt,
    Le,
    Slt,
    Sle,
}

impl JmpCond {
    /// Every condition, in opcode order.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];

    /// Evaluates the condition on two 64-bit operands (for 32-bit jumps, pass the low 32 bits
    /// zero-extended for unsigned conditions; [`JmpCond::eval`] does that given a width).
    #[inline(always)]
    pub fn eval64(self, a: u64, b: u64) -> bool {
        match self {
            JmpCond::Eq => a == b,
            JmpCond::Gt => a > b,
            JmpCond::Ge => a >= b,
            JmpCond::Set => a & b != 0,
            JmpCond::Ne => a != b,
            JmpCond::Sgt => (a as i64) > (b as i64),
            JmpCond::Sge => (a as i64) >= (b as i64),
            JmpCond::Lt => a < b,
            JmpCond::Le => a <= b,
            JmpCond::Slt => (a as i64) < (b as i64),
            JmpCond::Sle => (a as i64) <= (b as i64),
        }
    }

    /// Evaluates the condition on the low 32 bits of both operands.
    #[inline(always)]
    pub fn eval32(self, a: u64, b: u64) -> bool {
        let (a, b) = (a as u32, b as u32);
        match self {
            JmpCond::Eq => a == b,
            JmpCond::Gt => a > b,
            JmpCond::Ge => a >= b,
            JmpCond::Set => a & b != 0,
            JmpCond::Ne => a != b,
            JmpCond::Sgt => (a as i32) > (b as i32),
            JmpCond::Sge => (a as i32) >= (b as i32),
            JmpCond::Lt => a < b,
            JmpCond::Le => a <= b,
            JmpCond::Slt => (a as i32) < (b as i32),
            JmpCond::Sle => (a as i32) <= (b as i32),
        }
    }

    /// Evaluates the condition at the given width.
    #[inline(always)]
    pub fn eval(self, width: Width, a: u64, b: u64) -> bool {
        match width {
            Width::W64 => self.eval64(a, b),
            Width::W32 => self.eval32(a, b),
        }
    }

    /// The condition that holds exactly when `self` does not.
    pub const fn negate(self) -> Option<JmpCond> {
        Some(match self {
            JmpCond::Eq => JmpCond::Ne,
            JmpCond::Ne => JmpCond::Eq,
            JmpCond::Gt => JmpCond::Le,
            JmpCond::Le => JmpCond::Gt,
            JmpCond::Ge => JmpCond::Lt,
            JmpCond::Lt => JmpCond::Ge,
            JmpCond::Sgt => JmpCond::Sle,
            JmpCond::Sle => JmpCond::Sgt,
            JmpCond::Sge => JmpCond::Slt,
            JmpCond::Slt => JmpCond::Sge,
            JmpCond::Set => return None,
        })
    }

    /// The condition with its operands swapped (`a < b` ⇔ `b > a`).
    pub const fn swap(self) -> JmpCond {
        match self {
            JmpCond::Eq => JmpCond::Eq,
            JmpCond::Ne => JmpCond::Ne,
            JmpCond::Set => JmpCond::Set,
            JmpCond::Gt => JmpCond::Lt,
            JmpCond::Lt => JmpCond::Gt,
            JmpCond::Ge => JmpCond::Le,
            JmpCond::Le => JmpCond::Ge,
            JmpCond::Sgt => JmpCond::Slt,
            JmpCond::Slt => JmpCond::Sgt,
            JmpCond::Sge => JmpCond::Sle,
            JmpCond::Sle => JmpCond::Sge,
        }
    }
}

/// Read-modify-write operations of the atomic instructions (RFC 9669 §5.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    /// Exchange; always fetches.
    Xchg,
    /// Compare `r0` with memory and exchange on equality; the old value goes to `r0`.
    Cmpxchg,
}

/// Byte-order operations (RFC 9669 §4.2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ByteOrder {
    /// `BPF_ALU | BPF_END | BPF_TO_LE` (0xd4): convert to little endian (on a little-endian
    /// host only truncates to the width).
    ToLe,
    /// `BPF_ALU | BPF_END | BPF_TO_BE` (0xdc): convert to big endian.
    ToBe,
    /// `BPF_ALU64 | BPF_END` (0xd7): unconditional byte swap (ISA v4).
    Swap,
}

/// The source kind of a 64-bit immediate load (`BPF_LD | BPF_IMM | BPF_DW`, RFC 9669 §5.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum LdPseudo {
    /// `src = 0`: the 64-bit immediate itself.
    Imm,
    /// `src = 1` (`BPF_PSEUDO_MAP_FD`): `imm` is a map fd / id; loads the map handle.
    MapFd,
    /// `src = 2` (`BPF_PSEUDO_MAP_VALUE`): `imm` names a map, `imm2` an offset into its
    /// first value; loads the address.
    MapValue,
    /// `src = 3` (`BPF_PSEUDO_BTF_ID`): the address of a kernel variable by BTF id.
    BtfId,
    /// `src = 4` (`BPF_PSEUDO_FUNC`): `imm` is a slot offset to a subprogram; loads its
    /// address (for callbacks).
    Func,
    /// `src = 5` (`BPF_PSEUDO_MAP_IDX`): `imm` indexes the program's map array.
    MapIdx,
    /// `src = 6` (`BPF_PSEUDO_MAP_IDX_VALUE`): map array index plus value offset in `imm2`.
    MapIdxValue,
}

impl LdPseudo {
    /// The `src_reg` encoding.
    pub const fn src(self) -> u8 {
        match self {
            LdPseudo::Imm => 0,
            LdPseudo::MapFd => 1,
            LdPseudo::MapValue => 2,
            LdPseudo::BtfId => 3,
            LdPseudo::Func => 4,
            LdPseudo::MapIdx => 5,
            LdPseudo::MapIdxValue => 6,
        }
    }

    /// The kind with this `src_reg` encoding.
    pub const fn from_src(src: u8) -> Option<LdPseudo> {
        Some(match src {
            0 => LdPseudo::Imm,
            1 => LdPseudo::MapFd,
            2 => LdPseudo::MapValue,
            3 => LdPseudo::BtfId,
            4 => LdPseudo::Func,
            5 => LdPseudo::MapIdx,
            6 => LdPseudo::MapIdxValue,
            _ => return None,
        })
    }
}

/// The target of a `call` instruction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CallTarget {
    /// `src = 0`: a helper function by its static id (kernel numbering).
    Helper(i32),
    /// `src = 1`: a BPF-to-BPF call; the callee starts `imm` slots after the next slot.
    Local(i32),
    /// `src = 2`: a kernel function (kfunc) by BTF id.
    Kfunc(i32),
}

/// One decoded BPF instruction.
///
/// Reserved fields are not represented: [`decode`] rejects encodings where they are nonzero,
/// so [`Insn::encode`] reproduces every valid encoding exactly.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Insn {
    /// Two-operand arithmetic: `dst = dst op src` (`ALU` or `ALU64` class).
    Alu {
        width: Width,
        op: AluOp,
        dst: Reg,
        src: Src,
    },
    /// `dst = -dst`.
    Neg { width: Width, dst: Reg },
    /// Sign-extending move (ISA v4): `dst = (s<bits>) src`, `bits` ∈ {8, 16} for 32-bit and
    /// {8, 16, 32} for 64-bit width.
    MovSx {
        width: Width,
        dst: Reg,
        src: Reg,
        bits: u8,
    },
    /// Byte-order conversion or swap of the low `bits` ∈ {16, 32, 64} of `dst`.
    End {
        order: ByteOrder,
        dst: Reg,
        bits: u8,
    },
    /// 64-bit immediate load spanning two slots. `imm` is the first slot's immediate, `imm2`
    /// the second's; for [`LdPseudo::Imm`] the value is [`Insn::imm64`].
    LdImm64 {
        dst: Reg,
        pseudo: LdPseudo,
        imm: i32,
        imm2: i32,
    },
    /// Legacy packet load `r0 = ntoh(*(size *)(skb->data + imm))` (`BPF_LD | BPF_ABS`).
    LdAbs { size: Size, imm: i32 },
    /// Legacy packet load `r0 = ntoh(*(size *)(skb->data + src + imm))` (`BPF_LD | BPF_IND`).
    LdInd { size: Size, src: Reg, imm: i32 },
    /// `dst = *(size *)(src + off)`, zero-extended.
    Ldx {
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `dst = *(s<size> *)(src + off)`, sign-extended (ISA v4, sizes B, H, W).
    LdxSx {
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// `*(size *)(dst + off) = imm` (truncated to `size`; for DW sign-extended).
    St {
        size: Size,
        dst: Reg,
        off: i16,
        imm: i32,
    },
    /// `*(size *)(dst + off) = src`.
    Stx {
        size: Size,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// Atomic read-modify-write of `*(size *)(dst + off)` with `src`; sizes W and DW.
    /// With `fetch` the old value is written to `src` (to `r0` for `Cmpxchg`). `Xchg` and
    /// `Cmpxchg` always have `fetch` set.
    Atomic {
        size: Size,
        op: AtomicOp,
        fetch: bool,
        dst: Reg,
        src: Reg,
        off: i16,
    },
    /// Unconditional jump by `off` slots (`BPF_JMP | BPF_JA`).
    Ja { off: i16 },
    /// Unconditional jump by the 32-bit `imm` (`BPF_JMP32 | BPF_JA`, "gotol", ISA v4).
    Gotol { imm: i32 },
    /// Conditional jump by `off` slots.
    Jmp {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Src,
        off: i16,
    },
    /// Call a helper, a local function or a kfunc.
    Call(CallTarget),
    /// `callx`: call the helper (or function) whose id/address is in `reg`. LLVM places the
    /// register number in the `dst` field.
    Callx { reg: Reg },
    /// Return from the current function with `r0`.
    Exit,
}

impl Insn {
    /// Number of 8-byte slots the instruction occupies (2 for `LdImm64`, else 1).
    #[inline(always)]
    pub const fn slots(&self) -> usize {
        match self {
            Insn::LdImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// For [`Insn::LdImm64`], the 64-bit immediate formed from both halves.
    pub const fn imm64(imm: i32, imm2: i32) -> u64 {
        (imm as u32 as u64) | ((imm2 as u32 as u64) << 32)
    }

    /// A plain 64-bit immediate load `dst = value ll`.
    pub const fn ld_imm64(dst: Reg, value: u64) -> Insn {
        Insn::LdImm64 {
            dst,
            pseudo: LdPseudo::Imm,
            imm: value as u32 as i32,
            imm2: (value >> 32) as u32 as i32,
        }
    }

    /// The relative jump offset in slots, for jumps (`Ja`, `Gotol`, `Jmp`).
    pub const fn jump_offset(&self) -> Option<i64> {
        match *self {
            Insn::Ja { off } => Some(off as i64),
            Insn::Gotol { imm } => Some(imm as i64),
            Insn::Jmp { off, .. } => Some(off as i64),
            _ => None,
        }
    }

    /// Whether control never continues to the next instruction.
    pub const fn is_terminator(&self) -> bool {
        matches!(self, Insn::Ja { .. } | Insn::Gotol { .. } | Insn::Exit)
    }

    /// The register this instruction writes, if any (helper calls clobber r0-r5 and are not
    /// reported here).
    pub const fn def_reg(&self) -> Option<Reg> {
        match *self {
            Insn::Alu { dst, .. }
            | Insn::Neg { dst, .. }
            | Insn::MovSx { dst, .. }
            | Insn::End { dst, .. }
            | Insn::LdImm64 { dst, .. }
            | Insn::Ldx { dst, .. }
            | Insn::LdxSx { dst, .. } => Some(dst),
            Insn::LdAbs { .. } | Insn::LdInd { .. } => Some(Reg::R0),
            Insn::Atomic {
                op: AtomicOp::Cmpxchg,
                ..
            } => Some(Reg::R0),
            Insn::Atomic {
                fetch: true, src, ..
            } => Some(src),
            _ => None,
        }
    }
}

/// An instruction together with the slot it starts at.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Located {
    /// Index of the first slot of the instruction.
    pub slot: usize,
    /// The instruction.
    pub insn: Insn,
}

impl Located {
    /// The slot a jump or local call at this instruction lands on, if it is one.
    pub fn target_slot(&self) -> Option<i64> {
        let rel = match self.insn {
            Insn::Call(CallTarget::Local(imm)) => imm as i64,
            ref i => i.jump_offset()?,
        };
        Some(self.slot as i64 + 1 + rel)
    }
}
