//! Operand types of the x86-64 encoder: registers, sizes, memory operands, conditions
//! and the ALU/shift operation selectors.

/// A 64-bit general-purpose register, numbered as in the ModRM/REX encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Reg {
    Rax = 0,
    Rcx,
    Rdx,
    Rbx,
    Rsp,
    Rbp,
    Rsi,
    Rdi,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
}

impl Reg {
    /// All sixteen registers in encoding order.
    pub const ALL: [Reg; 16] = [
        Reg::Rax,
        Reg::Rcx,
        Reg::Rdx,
        Reg::Rbx,
        Reg::Rsp,
        Reg::Rbp,
        Reg::Rsi,
        Reg::Rdi,
        Reg::R8,
        Reg::R9,
        Reg::R10,
        Reg::R11,
        Reg::R12,
        Reg::R13,
        Reg::R14,
        Reg::R15,
    ];

    /// The 4-bit register number (REX bit and 3 ModRM bits).
    pub const fn number(self) -> u8 {
        self as u8
    }

    pub(super) const fn low3(self) -> u8 {
        self as u8 & 7
    }

    pub(super) const fn is_ext(self) -> bool {
        self as u8 >= 8
    }

    /// Without a REX prefix, byte-register numbers 4-7 mean AH/CH/DH/BH; with one they mean
    /// SPL/BPL/SIL/DIL, which is what we always want.
    pub(super) const fn byte_needs_rex(self) -> bool {
        matches!(self, Reg::Rsp | Reg::Rbp | Reg::Rsi | Reg::Rdi)
    }
}

/// Operand size of a register-to-register or arithmetic instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit; writing a 32-bit register zeroes bits 32..64, as eBPF's ALU32 needs.
    W32,
    /// 64-bit (REX.W).
    W64,
}

impl Width {
    pub(super) const fn rex_w(self) -> bool {
        matches!(self, Width::W64)
    }
}

/// Size of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Size {
    B8,
    B16,
    B32,
    B64,
}

impl Size {
    /// The access size in bytes.
    pub const fn bytes(self) -> u32 {
        match self {
            Size::B8 => 1,
            Size::B16 => 2,
            Size::B32 => 4,
            Size::B64 => 8,
        }
    }
}

impl From<Width> for Size {
    fn from(w: Width) -> Size {
        match w {
            Width::W32 => Size::B32,
            Width::W64 => Size::B64,
        }
    }
}

/// Source size of a `movzx`/`movsx` (the 32-bit source form is [`Asm::movsxd`](super::encoder::Asm::movsxd)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Ext {
    B8,
    B16,
}

/// Index scale in a SIB memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Scale {
    S1 = 0,
    S2 = 1,
    S4 = 2,
    S8 = 3,
}

/// A memory operand: `[base + index*scale + disp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mem {
    pub(super) base: Reg,
    pub(super) index: Option<(Reg, Scale)>,
    pub(super) disp: i32,
}

impl Mem {
    /// `[base + disp]`.
    pub const fn base(base: Reg, disp: i32) -> Mem {
        Mem {
            base,
            index: None,
            disp,
        }
    }

    /// `[base + index*scale + disp]`.
    ///
    /// # Panics
    /// If `index` is `rsp`, which the SIB byte cannot encode as an index (it means "none").
    pub const fn indexed(base: Reg, index: Reg, scale: Scale, disp: i32) -> Mem {
        assert!(
            !matches!(index, Reg::Rsp),
            "rsp cannot be an index register"
        );
        Mem {
            base,
            index: Some((index, scale)),
            disp,
        }
    }

    /// The base register.
    pub const fn base_reg(&self) -> Reg {
        self.base
    }

    /// The index register and scale, if any.
    pub const fn index(&self) -> Option<(Reg, Scale)> {
        self.index
    }

    /// The displacement.
    pub const fn disp(&self) -> i32 {
        self.disp
    }
}

/// A register-or-memory (ModRM r/m) operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Rm {
    Reg(Reg),
    Mem(Mem),
}

impl From<Reg> for Rm {
    fn from(r: Reg) -> Rm {
        Rm::Reg(r)
    }
}

impl From<Mem> for Rm {
    fn from(m: Mem) -> Rm {
        Rm::Mem(m)
    }
}

/// A condition code, as used by `jcc`, `setcc` and `cmovcc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Cond {
    /// Overflow.
    O = 0,
    /// No overflow.
    No,
    /// Unsigned below (CF=1).
    B,
    /// Unsigned above or equal.
    Ae,
    /// Equal / zero.
    E,
    /// Not equal / not zero.
    Ne,
    /// Unsigned below or equal.
    Be,
    /// Unsigned above.
    A,
    /// Sign.
    S,
    /// No sign.
    Ns,
    /// Parity even.
    P,
    /// Parity odd.
    Np,
    /// Signed less.
    L,
    /// Signed greater or equal.
    Ge,
    /// Signed less or equal.
    Le,
    /// Signed greater.
    G,
}

impl Cond {
    /// All sixteen conditions in encoding order.
    pub const ALL: [Cond; 16] = [
        Cond::O,
        Cond::No,
        Cond::B,
        Cond::Ae,
        Cond::E,
        Cond::Ne,
        Cond::Be,
        Cond::A,
        Cond::S,
        Cond::Ns,
        Cond::P,
        Cond::Np,
        Cond::L,
        Cond::Ge,
        Cond::Le,
        Cond::G,
    ];

    /// The opposite condition (flipping the low bit of the encoding).
    pub const fn negate(self) -> Cond {
        Cond::ALL[(self as u8 ^ 1) as usize]
    }
}

/// The eight classic two-operand ALU operations, numbered as their ModRM `/digit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum AluOp {
    Add = 0,
    Or = 1,
    Adc = 2,
    Sbb = 3,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

/// Shift and rotate operations, numbered as their ModRM `/digit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum ShiftOp {
    Rol = 0,
    Ror = 1,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}
