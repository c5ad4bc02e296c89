//! A small typed x86-64 encoder.
//!
//! Each instruction the JIT needs has one constructor on [`Asm`] taking typed operands
//! ([`Reg`], [`Mem`], [`Rm`], [`Width`], [`Size`]); the REX/ModRM/SIB/displacement rules
//! live in one place (`Asm::op_rm`) instead of being repeated as magic bytes at every
//! call site, which is where hand-written JITs get their register-clobber bugs.
//!
//! # Branches and relaxation
//!
//! Branches to [`Label`]s (`jmp`, `jcc`) are not written into the byte buffer when they are
//! emitted: they are recorded as variable-size holes. [`Asm::finish`] then sizes them by
//! iterating to a fixpoint: every branch starts in its 2-byte rel8 form; each pass computes
//! the layout and grows to rel32 every branch whose displacement does not fit in an `i8`.
//! Growing only increases distances, so the iteration is monotone and ends after at most
//! one pass per branch (in practice two or three), and in the result every branch that could
//! use rel8 given the others' sizes does. Label positions are stored as (bytes before,
//! branches before), so the final offset of anything is a prefix-sum lookup.
//!
//! Fixed-size label references (`call rel32`, RIP-relative `lea`) are patched after layout.

use thiserror::Error;

pub use super::operands::{AluOp, Cond, Ext, Mem, Reg, Rm, Scale, ShiftOp, Size, Width};

/// A position in the code, to be bound once with [`Asm::bind`] and referred to by branches
/// before or after that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Label(u32);

impl Label {
    /// The label's index in creation order.
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// Errors found when laying out the code.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AsmError {
    /// A branch or label reference targets a label that was never bound.
    #[error("label {label} is referenced but never bound")]
    UnboundLabel {
        /// The label's index.
        label: u32,
    },
    /// A label was bound twice.
    #[error("label {label} is bound twice")]
    LabelBoundTwice {
        /// The label's index.
        label: u32,
    },
    /// A rel32 displacement does not fit (code larger than 2 GiB).
    #[error("displacement {disp} at code offset {offset} does not fit in 32 bits")]
    DisplacementOverflow {
        /// Offset of the referencing instruction's displacement field.
        offset: usize,
        /// The displacement needed.
        disp: i64,
    },
}

/// A position recorded with [`Asm::mark`] and resolved with [`Code::mark_offset`]: cheaper
/// than a [`Label`] for positions nothing branches to (e.g. per-instruction offsets for
/// listings).
#[derive(Clone, Copy, Debug)]
pub struct Mark(Pos);

/// Finished machine code with the final offset of every bound label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// The machine code.
    pub bytes: Vec<u8>,
    labels: Vec<Option<usize>>,
    /// Bytes taken by the first `i` branches after relaxation.
    extra: Vec<usize>,
}

impl Code {
    /// The final offset of a [`Mark`] taken while emitting this code.
    pub fn mark_offset(&self, mark: Mark) -> usize {
        let Pos { at, branches } = mark.0;
        at as usize + self.extra.get(branches as usize).copied().unwrap_or(0)
    }

    /// The final offset of `label`, if it was bound.
    pub fn label_offset(&self, label: Label) -> Option<usize> {
        self.labels.get(label.0 as usize).copied().flatten()
    }
}

/// A position before relaxation: `at` bytes of fixed code and `branches` relaxable branches
/// precede it.
#[derive(Clone, Copy, Debug)]
struct Pos {
    at: u32,
    branches: u32,
}

#[derive(Clone, Copy, Debug)]
struct Branch {
    at: u32,
    cond: Option<Cond>,
    target: Label,
}

/// A rel32 field referring to a label, relative to the end of the field (which is the end
/// of the instruction for every user here).
#[derive(Clone, Copy, Debug)]
struct Fixup {
    field: Pos,
    target: Label,
}

/// Prefixes and REX bits of one instruction.
#[derive(Clone, Copy, Debug, Default)]
struct Pfx {
    lock: bool,
    op16: bool,
    w: bool,
    /// Emit a REX even if no bit is set (byte access to SPL/BPL/SIL/DIL).
    force_rex: bool,
}

impl Pfx {
    fn w(w: Width) -> Pfx {
        Pfx {
            w: w.rex_w(),
            ..Pfx::default()
        }
    }

    fn size(size: Size) -> Pfx {
        Pfx {
            op16: size == Size::B16,
            w: size == Size::B64,
            ..Pfx::default()
        }
    }

    fn lock(self) -> Pfx {
        Pfx { lock: true, ..self }
    }

    fn byte_reg(self, r: Reg) -> Pfx {
        Pfx {
            force_rex: self.force_rex || r.byte_needs_rex(),
            ..self
        }
    }

    fn byte_rm(self, rm: Rm) -> Pfx {
        match rm {
            Rm::Reg(r) => self.byte_reg(r),
            Rm::Mem(_) => self,
        }
    }
}

const SHORT_BRANCH: usize = 2;
const LONG_JMP: usize = 5;
const LONG_JCC: usize = 6;

fn fits_i8(v: i64) -> bool {
    i8::try_from(v).is_ok()
}

/// The code sink: instruction constructors append here; [`Asm::finish`] lays out branches.
#[derive(Clone, Debug, Default)]
pub struct Asm {
    buf: Vec<u8>,
    labels: Vec<Option<Pos>>,
    branches: Vec<Branch>,
    fixups: Vec<Fixup>,
    double_bind: Option<u32>,
}

impl Asm {
    /// An empty code sink.
    pub fn new() -> Asm {
        Asm::default()
    }

    /// An empty code sink with room for `bytes` bytes of code, `labels` labels and
    /// `branches` branches, so that large programs are emitted without reallocation.
    pub fn with_capacity(bytes: usize, labels: usize, branches: usize) -> Asm {
        Asm {
            buf: Vec::with_capacity(bytes),
            labels: Vec::with_capacity(labels),
            branches: Vec::with_capacity(branches),
            ..Asm::default()
        }
    }

    /// Bytes of fixed-size code emitted so far (relaxable branches not counted).
    pub fn fixed_len(&self) -> usize {
        self.buf.len()
    }

    /// The current position, to be resolved with [`Code::mark_offset`].
    pub fn mark(&self) -> Mark {
        Mark(self.pos())
    }

    fn pos(&self) -> Pos {
        // Code and branch counts beyond u32 would not fit rel32 displacements anyway.
        Pos {
            at: self.buf.len() as u32,
            branches: self.branches.len() as u32,
        }
    }

    fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn imm8(&mut self, v: i8) {
        self.buf.push(v as u8);
    }

    fn imm16(&mut self, v: i16) {
        self.bytes(&v.to_le_bytes());
    }

    fn imm32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }

    fn legacy_and_rex(&mut self, p: Pfx, r: bool, x: bool, b: bool) {
        if p.lock {
            self.byte(0xF0);
        }
        if p.op16 {
            self.byte(0x66);
        }
        let rex =
            0x40 | (u8::from(p.w) << 3) | (u8::from(r) << 2) | (u8::from(x) << 1) | u8::from(b);
        if rex != 0x40 || p.force_rex {
            self.byte(rex);
        }
    }

    /// Emits prefixes, REX, `opcode`, then ModRM (+SIB, +displacement) for `reg` (a register
    /// number or a `/digit` opcode extension, 0..16) and `rm`.
    fn op_rm(&mut self, p: Pfx, opcode: &[u8], reg: u8, rm: Rm) {
        let (x, b) = match rm {
            Rm::Reg(r) => (false, r.is_ext()),
            Rm::Mem(m) => (m.index.is_some_and(|(i, _)| i.is_ext()), m.base.is_ext()),
        };
        self.legacy_and_rex(p, reg >= 8, x, b);
        self.bytes(opcode);
        let reg = (reg & 7) << 3;
        match rm {
            Rm::Reg(r) => self.byte(0xC0 | reg | r.low3()),
            Rm::Mem(m) => self.mem_operand(reg, m),
        }
    }

    fn mem_operand(&mut self, reg: u8, m: Mem) {
        // mod=00 with base rbp/r13 means "disp32, no base" (or RIP-relative without SIB),
        // so those bases always carry at least a disp8.
        let md: u8 = if m.disp == 0 && m.base.low3() != 5 {
            0
        } else if fits_i8(i64::from(m.disp)) {
            1
        } else {
            2
        };
        match m.index {
            // rm=100 means "SIB follows", so rsp/r12 as base need a SIB with index=none.
            None if m.base.low3() != 4 => self.byte((md << 6) | reg | m.base.low3()),
            None => {
                self.byte((md << 6) | reg | 4);
                self.byte(0x24);
            }
            Some((index, scale)) => {
                self.byte((md << 6) | reg | 4);
                self.byte(((scale as u8) << 6) | (index.low3() << 3) | m.base.low3());
            }
        }
        match md {
            0 => {}
            1 => self.imm8(m.disp as i8),
            _ => self.imm32(m.disp),
        }
    }

    /// Opcode with the register in its low three bits (`push`, `pop`, `bswap`, `mov r, imm`).
    fn op_plus_reg(&mut self, p: Pfx, escape: &[u8], opcode: u8, r: Reg) {
        self.legacy_and_rex(p, false, false, r.is_ext());
        self.bytes(escape);
        self.byte(opcode | r.low3());
    }

    // ---- moves -------------------------------------------------------------------------

    /// `mov dst, src`; the 32-bit form zero-extends into bits 32..64.
    pub fn mov(&mut self, w: Width, dst: Reg, src: Reg) {
        self.op_rm(Pfx::w(w), &[0x89], src.number(), dst.into());
    }

    /// `mov r64, imm32` with the immediate sign-extended to 64 bits.
    pub fn mov_imm32_sx(&mut self, dst: Reg, imm: i32) {
        self.op_rm(Pfx::w(Width::W64), &[0xC7], 0, dst.into());
        self.imm32(imm);
    }

    /// `mov r32, imm32`, which zero-extends into the full register.
    pub fn mov_imm32_zx(&mut self, dst: Reg, imm: u32) {
        self.op_plus_reg(Pfx::default(), &[], 0xB8, dst);
        self.bytes(&imm.to_le_bytes());
    }

    /// `movabs r64, imm64`.
    pub fn movabs(&mut self, dst: Reg, imm: u64) {
        self.op_plus_reg(Pfx::w(Width::W64), &[], 0xB8, dst);
        self.bytes(&imm.to_le_bytes());
    }

    /// Loads a 64-bit constant with the shortest `mov` that produces it. Never touches the
    /// flags (unlike `xor r, r` for zero), so it is safe between a compare and its branch.
    pub fn mov_imm(&mut self, dst: Reg, imm: u64) {
        if let Ok(v) = u32::try_from(imm) {
            self.mov_imm32_zx(dst, v);
        } else if let Ok(v) = i32::try_from(imm as i64) {
            self.mov_imm32_sx(dst, v);
        } else {
            self.movabs(dst, imm);
        }
    }

    /// Zero-extending load of `size` bytes from `src` into the full 64-bit `dst`.
    pub fn load(&mut self, size: Size, dst: Reg, src: Mem) {
        match size {
            Size::B8 => self.movzx(Ext::B8, Width::W32, dst, src),
            Size::B16 => self.movzx(Ext::B16, Width::W32, dst, src),
            Size::B32 => self.op_rm(Pfx::w(Width::W32), &[0x8B], dst.number(), src.into()),
            Size::B64 => self.op_rm(Pfx::w(Width::W64), &[0x8B], dst.number(), src.into()),
        }
    }

    /// Sign-extending load of `size` bytes from `src` into the full 64-bit `dst`.
    pub fn load_sx(&mut self, size: Size, dst: Reg, src: Mem) {
        match size {
            Size::B8 => self.movsx(Ext::B8, Width::W64, dst, src),
            Size::B16 => self.movsx(Ext::B16, Width::W64, dst, src),
            Size::B32 => self.movsxd(dst, src),
            Size::B64 => self.op_rm(Pfx::w(Width::W64), &[0x8B], dst.number(), src.into()),
        }
    }

    /// Stores the low `size` bytes of `src` to `dst`.
    pub fn store(&mut self, size: Size, dst: Mem, src: Reg) {
        match size {
            Size::B8 => self.op_rm(
                Pfx::default().byte_reg(src),
                &[0x88],
                src.number(),
                dst.into(),
            ),
            _ => self.op_rm(Pfx::size(size), &[0x89], src.number(), dst.into()),
        }
    }

    /// Stores an immediate: the low `size` bytes of `imm` (for 64 bits, `imm` sign-extended).
    pub fn store_imm(&mut self, size: Size, dst: Mem, imm: i32) {
        match size {
            Size::B8 => {
                self.op_rm(Pfx::default(), &[0xC6], 0, dst.into());
                self.imm8(imm as i8);
            }
            Size::B16 => {
                self.op_rm(Pfx::size(size), &[0xC7], 0, dst.into());
                self.imm16(imm as i16);
            }
            Size::B32 | Size::B64 => {
                self.op_rm(Pfx::size(size), &[0xC7], 0, dst.into());
                self.imm32(imm);
            }
        }
    }

    /// `movzx dst, src` from a byte or word (the 32-bit form already clears bits 32..64).
    pub fn movzx(&mut self, from: Ext, w: Width, dst: Reg, src: impl Into<Rm>) {
        let src = src.into();
        match from {
            Ext::B8 => self.op_rm(Pfx::w(w).byte_rm(src), &[0x0F, 0xB6], dst.number(), src),
            Ext::B16 => self.op_rm(Pfx::w(w), &[0x0F, 0xB7], dst.number(), src),
        }
    }

    /// `movsx dst, src` from a byte or word.
    pub fn movsx(&mut self, from: Ext, w: Width, dst: Reg, src: impl Into<Rm>) {
        let src = src.into();
        match from {
            Ext::B8 => self.op_rm(Pfx::w(w).byte_rm(src), &[0x0F, 0xBE], dst.number(), src),
            Ext::B16 => self.op_rm(Pfx::w(w), &[0x0F, 0xBF], dst.number(), src),
        }
    }

    /// `movsxd r64, r/m32`: sign-extend 32 to 64 bits.
    pub fn movsxd(&mut self, dst: Reg, src: impl Into<Rm>) {
        self.op_rm(Pfx::w(Width::W64), &[0x63], dst.number(), src.into());
    }

    /// `lea dst, [mem]`.
    pub fn lea(&mut self, w: Width, dst: Reg, src: Mem) {
        self.op_rm(Pfx::w(w), &[0x8D], dst.number(), src.into());
    }

    /// `lea dst, [rip + label]`: the address of `label` in the finished code.
    pub fn lea_label(&mut self, dst: Reg, label: Label) {
        self.legacy_and_rex(Pfx::w(Width::W64), dst.is_ext(), false, false);
        self.byte(0x8D);
        self.byte(((dst.low3()) << 3) | 5);
        self.fixup_rel32(label);
    }

    /// `cmovcc dst, src`.
    pub fn cmov(&mut self, cond: Cond, w: Width, dst: Reg, src: impl Into<Rm>) {
        self.op_rm(
            Pfx::w(w),
            &[0x0F, 0x40 | cond as u8],
            dst.number(),
            src.into(),
        );
    }

    /// `setcc r/m8`.
    pub fn setcc(&mut self, cond: Cond, dst: impl Into<Rm>) {
        let dst = dst.into();
        self.op_rm(
            Pfx::default().byte_rm(dst),
            &[0x0F, 0x90 | cond as u8],
            0,
            dst,
        );
    }

    // ---- arithmetic --------------------------------------------------------------------

    /// `op dst, src` (e.g. `add rax, rbx`, or with a memory destination `add [m], rbx`).
    pub fn alu(&mut self, op: AluOp, w: Width, dst: impl Into<Rm>, src: Reg) {
        self.op_rm(
            Pfx::w(w),
            &[((op as u8) << 3) | 1],
            src.number(),
            dst.into(),
        );
    }

    /// `op dst, [mem]`.
    pub fn alu_load(&mut self, op: AluOp, w: Width, dst: Reg, src: Mem) {
        self.op_rm(
            Pfx::w(w),
            &[((op as u8) << 3) | 3],
            dst.number(),
            src.into(),
        );
    }

    /// `op dst, imm`, using the sign-extended imm8 form when the immediate fits. For 64
    /// bits the immediate is sign-extended from 32.
    pub fn alu_imm(&mut self, op: AluOp, w: Width, dst: impl Into<Rm>, imm: i32) {
        if let Ok(v) = i8::try_from(imm) {
            self.op_rm(Pfx::w(w), &[0x83], op as u8, dst.into());
            self.imm8(v);
        } else {
            self.op_rm(Pfx::w(w), &[0x81], op as u8, dst.into());
            self.imm32(imm);
        }
    }

    /// `test a, b`.
    pub fn test(&mut self, w: Width, a: impl Into<Rm>, b: Reg) {
        self.op_rm(Pfx::w(w), &[0x85], b.number(), a.into());
    }

    /// `test a, imm32` (x86 has no imm8 form of `test` for wide operands).
    pub fn test_imm(&mut self, w: Width, a: impl Into<Rm>, imm: i32) {
        self.op_rm(Pfx::w(w), &[0xF7], 0, a.into());
        self.imm32(imm);
    }

    /// `imul dst, src` (truncating multiply).
    pub fn imul(&mut self, w: Width, dst: Reg, src: impl Into<Rm>) {
        self.op_rm(Pfx::w(w), &[0x0F, 0xAF], dst.number(), src.into());
    }

    /// `imul dst, src, imm`, with the imm8 form when it fits.
    pub fn imul_imm(&mut self, w: Width, dst: Reg, src: impl Into<Rm>, imm: i32) {
        if let Ok(v) = i8::try_from(imm) {
            self.op_rm(Pfx::w(w), &[0x6B], dst.number(), src.into());
            self.imm8(v);
        } else {
            self.op_rm(Pfx::w(w), &[0x69], dst.number(), src.into());
            self.imm32(imm);
        }
    }

    fn group3(&mut self, digit: u8, w: Width, rm: Rm) {
        self.op_rm(Pfx::w(w), &[0xF7], digit, rm);
    }

    /// `not r/m`.
    pub fn not(&mut self, w: Width, dst: impl Into<Rm>) {
        self.group3(2, w, dst.into());
    }

    /// `neg r/m`.
    pub fn neg(&mut self, w: Width, dst: impl Into<Rm>) {
        self.group3(3, w, dst.into());
    }

    /// `mul r/m`: unsigned rdx:rax = rax * src.
    pub fn mul(&mut self, w: Width, src: impl Into<Rm>) {
        self.group3(4, w, src.into());
    }

    /// `div r/m`: unsigned divide rdx:rax by `src`; quotient in rax, remainder in rdx.
    pub fn div(&mut self, w: Width, src: impl Into<Rm>) {
        self.group3(6, w, src.into());
    }

    /// `idiv r/m`: signed divide rdx:rax by `src`.
    pub fn idiv(&mut self, w: Width, src: impl Into<Rm>) {
        self.group3(7, w, src.into());
    }

    /// `cdq`: sign-extend eax into edx.
    pub fn cdq(&mut self) {
        self.byte(0x99);
    }

    /// `cqo`: sign-extend rax into rdx.
    pub fn cqo(&mut self) {
        self.bytes(&[0x48, 0x99]);
    }

    /// `op dst, cl`.
    pub fn shift_cl(&mut self, op: ShiftOp, w: Width, dst: impl Into<Rm>) {
        self.op_rm(Pfx::w(w), &[0xD3], op as u8, dst.into());
    }

    /// `op dst, imm8` (the hardware masks the count to 5 or 6 bits).
    pub fn shift_imm(&mut self, op: ShiftOp, w: Width, dst: impl Into<Rm>, imm: u8) {
        if imm == 1 {
            self.op_rm(Pfx::w(w), &[0xD1], op as u8, dst.into());
        } else {
            self.op_rm(Pfx::w(w), &[0xC1], op as u8, dst.into());
            self.byte(imm);
        }
    }

    /// `rol r16, imm8`; `rol r16, 8` swaps the two low bytes (eBPF `be16`/`le16` on
    /// the other-endian side). Bits 16..64 are left unchanged.
    pub fn rol16(&mut self, dst: Reg, imm: u8) {
        self.op_rm(
            Pfx::size(Size::B16),
            &[0xC1],
            ShiftOp::Rol as u8,
            dst.into(),
        );
        self.byte(imm);
    }

    /// `bswap r32` / `bswap r64`.
    pub fn bswap(&mut self, w: Width, dst: Reg) {
        self.op_plus_reg(Pfx::w(w), &[0x0F], 0xC8, dst);
    }

    // ---- atomics -----------------------------------------------------------------------

    /// `lock xadd [dst], src`: src receives the old value.
    pub fn lock_xadd(&mut self, w: Width, dst: Mem, src: Reg) {
        self.op_rm(Pfx::w(w).lock(), &[0x0F, 0xC1], src.number(), dst.into());
    }

    /// `lock op [dst], src`.
    ///
    /// # Panics
    /// If `op` is [`AluOp::Cmp`], which cannot take a `lock` prefix (#UD).
    pub fn lock_alu(&mut self, op: AluOp, w: Width, dst: Mem, src: Reg) {
        assert!(op != AluOp::Cmp, "lock cmp is not a valid instruction");
        self.op_rm(
            Pfx::w(w).lock(),
            &[((op as u8) << 3) | 1],
            src.number(),
            dst.into(),
        );
    }

    /// `xchg [dst], src` (implicitly locked when one operand is memory).
    pub fn xchg(&mut self, w: Width, dst: impl Into<Rm>, src: Reg) {
        self.op_rm(Pfx::w(w), &[0x87], src.number(), dst.into());
    }

    /// `lock cmpxchg [dst], src`: compares rax/eax with `[dst]`; if equal stores `src`,
    /// else loads `[dst]` into rax/eax.
    pub fn lock_cmpxchg(&mut self, w: Width, dst: Mem, src: Reg) {
        self.op_rm(Pfx::w(w).lock(), &[0x0F, 0xB1], src.number(), dst.into());
    }

    // ---- control flow ------------------------------------------------------------------

    /// A new, unbound label.
    pub fn new_label(&mut self) -> Label {
        let l = Label(self.labels.len() as u32);
        self.labels.push(None);
        l
    }

    /// Binds `label` to the current position. Binding twice is reported by [`Asm::finish`].
    pub fn bind(&mut self, label: Label) {
        let pos = self.pos();
        match self.labels.get_mut(label.0 as usize) {
            Some(slot @ None) => *slot = Some(pos),
            _ => {
                self.double_bind.get_or_insert(label.0);
            }
        }
    }

    /// `jmp label`, rel8 or rel32 as layout allows.
    pub fn jmp(&mut self, target: Label) {
        self.branches.push(Branch {
            at: self.buf.len() as u32,
            cond: None,
            target,
        });
    }

    /// `jcc label`, rel8 or rel32 as layout allows.
    pub fn jcc(&mut self, cond: Cond, target: Label) {
        self.branches.push(Branch {
            at: self.buf.len() as u32,
            cond: Some(cond),
            target,
        });
    }

    fn fixup_rel32(&mut self, target: Label) {
        let field = self.pos();
        self.fixups.push(Fixup { field, target });
        self.imm32(0);
    }

    /// `call rel32` to a label in this code.
    pub fn call_label(&mut self, target: Label) {
        self.byte(0xE8);
        self.fixup_rel32(target);
    }

    /// `call r64`.
    pub fn call_reg(&mut self, target: Reg) {
        self.op_rm(Pfx::default(), &[0xFF], 2, target.into());
    }

    /// `jmp r64`.
    pub fn jmp_reg(&mut self, target: Reg) {
        self.op_rm(Pfx::default(), &[0xFF], 4, target.into());
    }

    /// `ret`.
    pub fn ret(&mut self) {
        self.byte(0xC3);
    }

    /// `push r64`.
    pub fn push(&mut self, r: Reg) {
        self.op_plus_reg(Pfx::default(), &[], 0x50, r);
    }

    /// `pop r64`.
    pub fn pop(&mut self, r: Reg) {
        self.op_plus_reg(Pfx::default(), &[], 0x58, r);
    }

    /// One-byte `nop`.
    pub fn nop(&mut self) {
        self.byte(0x90);
    }

    /// `int3` (breakpoint trap).
    pub fn int3(&mut self) {
        self.byte(0xCC);
    }

    /// `ud2` (guaranteed invalid opcode).
    pub fn ud2(&mut self) {
        self.bytes(&[0x0F, 0x0B]);
    }

    // ---- layout ------------------------------------------------------------------------

    fn label_pos(&self, l: Label) -> Result<Pos, AsmError> {
        self.labels
            .get(l.0 as usize)
            .copied()
            .flatten()
            .ok_or(AsmError::UnboundLabel { label: l.0 })
    }

    /// Sizes every branch (see the module docs), patches label references and returns the
    /// finished code.
    pub fn finish(self) -> Result<Code, AsmError> {
        if let Some(label) = self.double_bind {
            return Err(AsmError::LabelBoundTwice { label });
        }
        let targets: Vec<Pos> = self
            .branches
            .iter()
            .map(|b| self.label_pos(b.target))
            .collect::<Result<_, _>>()?;
        let long_size = |b: &Branch| if b.cond.is_some() { LONG_JCC } else { LONG_JMP };

        // extra[i] = bytes taken by branches 0..i; final offset of Pos p = p.at + extra[p.branches].
        let mut long = vec![false; self.branches.len()];
        let mut extra = vec![0usize; self.branches.len() + 1];
        loop {
            for (i, b) in self.branches.iter().enumerate() {
                extra[i + 1] = extra[i] + if long[i] { long_size(b) } else { SHORT_BRANCH };
            }
            let mut grew = false;
            for (i, b) in self.branches.iter().enumerate() {
                if long[i] {
                    continue;
                }
                let end = b.at as usize + extra[i] + SHORT_BRANCH;
                let target = targets[i].at as usize + extra[targets[i].branches as usize];
                if !fits_i8(target as i64 - end as i64) {
                    long[i] = true;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }

        let final_of = |p: Pos| p.at as usize + extra[p.branches as usize];
        let mut out = Vec::with_capacity(self.buf.len() + extra[self.branches.len()]);
        let mut copied = 0;
        for (i, b) in self.branches.iter().enumerate() {
            out.extend_from_slice(&self.buf[copied..b.at as usize]);
            copied = b.at as usize;
            let start = out.len();
            let target = final_of(targets[i]) as i64;
            if long[i] {
                let end = start + long_size(b);
                let disp = target - end as i64;
                let rel = i32::try_from(disp).map_err(|_| AsmError::DisplacementOverflow {
                    offset: end - 4,
                    disp,
                })?;
                match b.cond {
                    Some(c) => out.extend_from_slice(&[0x0F, 0x80 | c as u8]),
                    None => out.push(0xE9),
                }
                out.extend_from_slice(&rel.to_le_bytes());
            } else {
                let disp = target - (start + SHORT_BRANCH) as i64;
                let rel = i8::try_from(disp).map_err(|_| AsmError::DisplacementOverflow {
                    offset: start + 1,
                    disp,
                })?;
                out.push(match b.cond {
                    Some(c) => 0x70 | c as u8,
                    None => 0xEB,
                });
                out.push(rel as u8);
            }
        }
        out.extend_from_slice(&self.buf[copied..]);

        for f in &self.fixups {
            let field = final_of(f.field);
            let target = final_of(self.label_pos(f.target)?);
            let disp = target as i64 - (field + 4) as i64;
            let rel = i32::try_from(disp).map_err(|_| AsmError::DisplacementOverflow {
                offset: field,
                disp,
            })?;
            out[field..field + 4].copy_from_slice(&rel.to_le_bytes());
        }

        let labels = self.labels.iter().map(|p| p.map(final_of)).collect();
        Ok(Code {
            bytes: out,
            labels,
            extra,
        })
    }
}
