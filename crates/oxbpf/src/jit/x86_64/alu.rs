//! ALU, byte-order and jump instructions.
//!
//! 32-bit x86 operations zero-extend into bits 32..64 exactly as eBPF's ALU32 does, and x86
//! masks shift counts to 5/6 bits as eBPF does, so most instructions are one x86
//! instruction. Division and modulo never reach a hardware fault: a zero divisor and
//! `INT_MIN / -1` take the interpreter's results on a branch before `div`/`idiv`.

use crate::isa::{AluOp as BpfAlu, ByteOrder, JmpCond};

use super::compile::{reg, Compiler, Src};
use super::encoder::{AluOp, Cond, Ext, Mem, Reg, ShiftOp, Width};
use super::runtime::OFF_SCRATCH;
use super::Size;

fn x86_alu(op: BpfAlu) -> Option<AluOp> {
    Some(match op {
        BpfAlu::Add => AluOp::Add,
        BpfAlu::Sub => AluOp::Sub,
        BpfAlu::Or => AluOp::Or,
        BpfAlu::And => AluOp::And,
        BpfAlu::Xor => AluOp::Xor,
        _ => return None,
    })
}

impl Compiler {
    /// `dst = dst op src` with eBPF semantics at width `w`. 32-bit immediates arrive as the
    /// i32 bits; 64-bit ones sign-extended from 32 bits, so `imm as i32` is exact in both.
    pub(super) fn alu(&mut self, w: Width, op: BpfAlu, d: u8, src: Src) {
        let dst = reg(d);
        if let Some(x) = x86_alu(op) {
            match src {
                Src::Reg(s) => self.asm.alu(x, w, dst, reg(s)),
                Src::Imm(imm) if self.opt.blinding => {
                    self.load_imm(Reg::R10, imm as u64);
                    self.asm.alu(x, w, dst, Reg::R10);
                }
                Src::Imm(imm) => self.asm.alu_imm(x, w, dst, imm as i32),
            }
            return;
        }
        match op {
            BpfAlu::Mov => match src {
                Src::Reg(s) => self.asm.mov(w, dst, reg(s)),
                Src::Imm(imm) => match w {
                    Width::W64 => self.load_imm(dst, imm as u64),
                    Width::W32 => self.load_imm(dst, imm as u32 as u64),
                },
            },
            BpfAlu::Mul => match src {
                Src::Reg(s) => self.asm.imul(w, dst, reg(s)),
                Src::Imm(imm) if self.opt.blinding => {
                    self.load_imm(Reg::R10, imm as u64);
                    self.asm.imul(w, dst, Reg::R10);
                }
                Src::Imm(imm) => self.asm.imul_imm(w, dst, dst, imm as i32),
            },
            BpfAlu::Lsh => self.shift(w, ShiftOp::Shl, d, src),
            BpfAlu::Rsh => self.shift(w, ShiftOp::Shr, d, src),
            BpfAlu::Arsh => self.shift(w, ShiftOp::Sar, d, src),
            BpfAlu::Div => self.divmod(w, false, false, d, src),
            BpfAlu::Mod => self.divmod(w, false, true, d, src),
            BpfAlu::Sdiv => self.divmod(w, true, false, d, src),
            BpfAlu::Smod => self.divmod(w, true, true, d, src),
            BpfAlu::Add | BpfAlu::Sub | BpfAlu::Or | BpfAlu::And | BpfAlu::Xor => {}
        }
    }

    fn shift(&mut self, w: Width, op: ShiftOp, d: u8, src: Src) {
        let dst = reg(d);
        match src {
            Src::Imm(imm) => {
                let mask = if w == Width::W64 { 63 } else { 31 };
                let n = (imm as u64 & mask) as u8;
                if n != 0 {
                    self.asm.shift_imm(op, w, dst, n);
                } else if w == Width::W32 {
                    // A shift by 0 still truncates to 32 bits.
                    self.asm.mov(Width::W32, dst, dst);
                }
            }
            Src::Reg(s) if reg(s) == Reg::Rcx => self.asm.shift_cl(op, w, dst),
            Src::Reg(s) => {
                // The count must be in cl, which holds eBPF r4: park r4 in r10.
                self.asm.mov(Width::W64, Reg::R10, Reg::Rcx);
                self.asm.mov(Width::W64, Reg::Rcx, reg(s));
                let target = if dst == Reg::Rcx { Reg::R10 } else { dst };
                self.asm.shift_cl(op, w, target);
                self.asm.mov(Width::W64, Reg::Rcx, Reg::R10);
            }
        }
    }

    /// The result of a division by zero: quotient 0, remainder the (truncated) dividend.
    fn div_by_zero(&mut self, w: Width, is_mod: bool, dst: Reg) {
        if !is_mod {
            self.asm.alu(AluOp::Xor, Width::W32, dst, dst);
        } else if w == Width::W32 {
            self.asm.mov(Width::W32, dst, dst);
        }
    }

    /// Signed division by -1: the negation (`INT_MIN` stays), remainder 0.
    fn div_by_minus_one(&mut self, w: Width, is_mod: bool, dst: Reg) {
        if is_mod {
            self.asm.alu(AluOp::Xor, Width::W32, dst, dst);
        } else {
            self.asm.neg(w, dst);
        }
    }

    fn divmod(&mut self, w: Width, signed: bool, is_mod: bool, d: u8, src: Src) {
        let dst = reg(d);
        let wide = w == Width::W64;
        let divisor_rm: super::Rm;
        let mut special: Option<(Option<super::Label>, super::Label)> = None;
        match src {
            Src::Imm(imm) => {
                let v = if wide { imm as u64 } else { imm as u32 as u64 };
                let minus_one = if wide { u64::MAX } else { u32::MAX as u64 };
                if v == 0 {
                    return self.div_by_zero(w, is_mod, dst);
                }
                if signed && v == minus_one {
                    return self.div_by_minus_one(w, is_mod, dst);
                }
                if !signed && v.is_power_of_two() && !self.opt.blinding {
                    let k = v.trailing_zeros() as u8;
                    if is_mod {
                        match i32::try_from(v - 1) {
                            Ok(m) if wide || m >= 0 => self.asm.alu_imm(AluOp::And, w, dst, m),
                            _ => {
                                self.asm.mov_imm(Reg::R10, v - 1);
                                self.asm.alu(AluOp::And, w, dst, Reg::R10);
                            }
                        }
                    } else if k != 0 {
                        self.asm.shift_imm(ShiftOp::Shr, w, dst, k);
                    } else if !wide {
                        self.asm.mov(Width::W32, dst, dst);
                    }
                    return;
                }
                self.load_imm(Reg::R10, v);
                let scratch = Mem::base(super::compile::FRAME, OFF_SCRATCH);
                self.asm.store(Size::B64, scratch, Reg::R10);
                divisor_rm = scratch.into();
            }
            Src::Reg(s) => {
                let s = reg(s);
                let zero = self.asm.new_label();
                self.asm.test(w, s, s);
                self.asm.jcc(Cond::E, zero);
                let mut neg = None;
                if signed {
                    let l = self.asm.new_label();
                    self.asm.alu_imm(AluOp::Cmp, w, s, -1);
                    self.asm.jcc(Cond::E, l);
                    neg = Some(l);
                }
                special = Some((neg, zero));
                divisor_rm = match s {
                    Reg::Rax => Reg::R10,
                    Reg::Rdx => Reg::R11,
                    other => other,
                }
                .into();
            }
        }
        let a = &mut self.asm;
        a.mov(Width::W64, Reg::R10, Reg::Rax);
        a.mov(Width::W64, Reg::R11, Reg::Rdx);
        if dst != Reg::Rax {
            a.mov(Width::W64, Reg::Rax, dst);
        }
        match (signed, wide) {
            (true, true) => a.cqo(),
            (true, false) => a.cdq(),
            (false, _) => a.alu(AluOp::Xor, Width::W32, Reg::Rdx, Reg::Rdx),
        }
        if signed {
            a.idiv(w, divisor_rm);
        } else {
            a.div(w, divisor_rm);
        }
        let result = if is_mod { Reg::Rdx } else { Reg::Rax };
        match dst {
            Reg::Rax => {
                if is_mod {
                    a.mov(w, Reg::Rax, Reg::Rdx);
                }
                a.mov(Width::W64, Reg::Rdx, Reg::R11);
            }
            Reg::Rdx => {
                if !is_mod {
                    a.mov(w, Reg::Rdx, Reg::Rax);
                }
                a.mov(Width::W64, Reg::Rax, Reg::R10);
            }
            _ => {
                a.mov(w, dst, result);
                a.mov(Width::W64, Reg::Rax, Reg::R10);
                a.mov(Width::W64, Reg::Rdx, Reg::R11);
            }
        }
        if let Some((neg, zero)) = special {
            let done = self.asm.new_label();
            self.asm.jmp(done);
            self.asm.bind(zero);
            self.div_by_zero(w, is_mod, dst);
            if let Some(neg) = neg {
                self.asm.jmp(done);
                self.asm.bind(neg);
                self.div_by_minus_one(w, is_mod, dst);
            }
            self.asm.bind(done);
        }
    }

    pub(super) fn movsx(&mut self, w: Width, d: u8, s: u8, bits: u8) {
        let (dst, src) = (reg(d), reg(s));
        match (w, bits) {
            (_, 8) => self.asm.movsx(Ext::B8, w, dst, src),
            (Width::W32, _) | (Width::W64, 16) => self.asm.movsx(Ext::B16, w, dst, src),
            (Width::W64, _) => self.asm.movsxd(dst, src),
        }
    }

    pub(super) fn end(&mut self, d: u8, order: ByteOrder, bits: u8) {
        let dst = reg(d);
        let swap = !matches!(order, ByteOrder::ToLe);
        match (swap, bits) {
            (false, 16) => self.asm.movzx(Ext::B16, Width::W32, dst, dst),
            (false, 32) => self.asm.mov(Width::W32, dst, dst),
            (false, _) => {}
            (true, 16) => {
                self.asm.rol16(dst, 8);
                self.asm.movzx(Ext::B16, Width::W32, dst, dst);
            }
            (true, 32) => self.asm.bswap(Width::W32, dst),
            (true, _) => self.asm.bswap(Width::W64, dst),
        }
    }

    /// `cmp dst, src` at width `w` (the immediate blinded through r10 if asked).
    fn cmp(&mut self, w: Width, d: u8, src: Src, test: bool) {
        let dst = reg(d);
        let op_reg = |c: &mut Self, r: Reg| {
            if test {
                c.asm.test(w, dst, r);
            } else {
                c.asm.alu(AluOp::Cmp, w, dst, r);
            }
        };
        match src {
            Src::Reg(s) => op_reg(self, reg(s)),
            Src::Imm(imm) if self.opt.blinding => {
                self.load_imm(Reg::R10, imm as u64);
                op_reg(self, Reg::R10);
            }
            Src::Imm(imm) if test => self.asm.test_imm(w, dst, imm as i32),
            Src::Imm(imm) => self.asm.alu_imm(AluOp::Cmp, w, dst, imm as i32),
        }
    }

    pub(super) fn jmp(&mut self, w: Width, cond: Cond, d: u8, src: Src, t: u32) {
        self.cmp(w, d, src, false);
        let l = self.slot_label(t);
        self.asm.jcc(cond, l);
    }

    pub(super) fn jset(&mut self, w: Width, d: u8, src: Src, t: u32) {
        self.cmp(w, d, src, true);
        let l = self.slot_label(t);
        self.asm.jcc(Cond::Ne, l);
    }

    pub(super) fn jmp32(&mut self, cond: JmpCond, d: u8, src: Src, t: u32) {
        let c = match cond {
            JmpCond::Set => return self.jset(Width::W32, d, src, t),
            JmpCond::Eq => Cond::E,
            JmpCond::Ne => Cond::Ne,
            JmpCond::Gt => Cond::A,
            JmpCond::Ge => Cond::Ae,
            JmpCond::Lt => Cond::B,
            JmpCond::Le => Cond::Be,
            JmpCond::Sgt => Cond::G,
            JmpCond::Sge => Cond::Ge,
            JmpCond::Slt => Cond::L,
            JmpCond::Sle => Cond::Le,
        };
        self.jmp(Width::W32, c, d, src, t);
    }
}
