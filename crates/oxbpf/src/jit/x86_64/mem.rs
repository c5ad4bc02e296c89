//! Loads, stores and atomics, with the checked-mode bounds checks.
//!
//! Checked mode, per access of `n` bytes at `base + off`:
//! - `r10 + off` with the whole access inside the current 512-byte frame needs no code:
//!   `r10` is read-only and always the current frame pointer.
//! - otherwise the address goes to `r11` and is tested inline against the last region the
//!   slow path found (one cache for reads, one for writes, in the `JitFrame`):
//!   `addr - start < lim[n]`, one `sub` + `cmp` + `jae`;
//! - on a miss, an out-of-line stub calls a shared routine that accepts the current frame
//!   inline and otherwise calls `runtime::check_access` (the whole call-chain stack, then the
//!   region table through `RunContext::find_region`, so faults are the interpreter's).

use crate::isa::{AtomicOp, Size as BpfSize};

use super::compile::{reg, Compiler, Src, StubKind, FP, FRAME};
use super::encoder::{AluOp, Cond, Mem, Reg, Width};
use super::runtime::{OFF_CACHE_LIM, OFF_READ_CACHE, OFF_SCRATCH, OFF_WRITE_CACHE};
use super::Size;

impl Compiler {
    /// With the address in `r11`: the inline cache test and the slow-path stub.
    fn check_r11(&mut self, slot: usize, n: u32, write: bool) {
        let cache = if write {
            OFF_WRITE_CACHE
        } else {
            OFF_READ_CACHE
        };
        let k = n.trailing_zeros() as i32;
        let a = &mut self.asm;
        a.mov(Width::W64, Reg::R10, Reg::R11);
        a.alu_load(AluOp::Sub, Width::W64, Reg::R10, Mem::base(FRAME, cache));
        a.alu_load(
            AluOp::Cmp,
            Width::W64,
            Reg::R10,
            Mem::base(FRAME, cache + OFF_CACHE_LIM + 8 * k),
        );
        let back = self.asm.new_label();
        self.stub_jcc(
            Cond::Ae,
            slot,
            StubKind::Mem {
                back,
                size: n,
                write,
            },
        );
        self.asm.bind(back);
    }

    /// The memory operand for an access of `size` at `base + off`, after the checked-mode
    /// check.
    fn access(&mut self, slot: usize, size: Size, base: u8, off: i16, write: bool) -> Mem {
        let b = reg(base);
        let n = size.bytes();
        let off = i32::from(off);
        let in_frame = b == FP && off >= -512 && off + n as i32 <= 0;
        if !self.opt.checked || in_frame {
            return Mem::base(b, off);
        }
        self.asm.lea(Width::W64, Reg::R11, Mem::base(b, off));
        self.check_r11(slot, n, write);
        Mem::base(Reg::R11, 0)
    }

    pub(super) fn ldx(&mut self, slot: usize, size: Size, sx: bool, d: u8, s: u8, off: i16) {
        let m = self.access(slot, size, s, off, false);
        if sx {
            self.asm.load_sx(size, reg(d), m);
        } else {
            self.asm.load(size, reg(d), m);
        }
    }

    pub(super) fn st(&mut self, slot: usize, size: Size, d: u8, off: i16, src: Src) {
        let m = self.access(slot, size, d, off, true);
        match src {
            Src::Reg(s) => self.asm.store(size, m, reg(s)),
            Src::Imm(imm) if self.opt.blinding => {
                self.load_imm(Reg::R10, imm as u64);
                self.asm.store(size, m, Reg::R10);
            }
            Src::Imm(imm) => self.asm.store_imm(size, m, imm as i32),
        }
    }

    /// Atomics: alignment is checked in both modes (as the interpreter does), before the
    /// bounds. Every form is one `lock`ed instruction except the fetching `or`/`and`/`xor`,
    /// which are a `lock cmpxchg` loop.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn atomic(
        &mut self,
        slot: usize,
        size: BpfSize,
        op: AtomicOp,
        fetch: bool,
        d: u8,
        s: u8,
        off: i16,
    ) {
        let (w, n, sz) = if size == BpfSize::W {
            (Width::W32, 4u32, Size::B32)
        } else {
            (Width::W64, 8u32, Size::B64)
        };
        self.asm
            .lea(Width::W64, Reg::R11, Mem::base(reg(d), i32::from(off)));
        self.asm.test_imm(Width::W32, Reg::R11, n as i32 - 1);
        self.stub_jcc(Cond::Ne, slot, StubKind::Unaligned { size: n });
        if self.opt.checked {
            self.check_r11(slot, n, true);
        }
        let m = Mem::base(Reg::R11, 0);
        let src = reg(s);
        let a = &mut self.asm;
        match op {
            AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor if !fetch => {
                let x = match op {
                    AtomicOp::Add => AluOp::Add,
                    AtomicOp::Or => AluOp::Or,
                    AtomicOp::And => AluOp::And,
                    _ => AluOp::Xor,
                };
                a.lock_alu(x, w, m, src);
            }
            AtomicOp::Add => {
                a.mov(Width::W64, Reg::R10, src);
                a.lock_xadd(w, m, Reg::R10);
                a.mov(Width::W64, src, Reg::R10);
            }
            AtomicOp::Xchg => {
                a.mov(Width::W64, Reg::R10, src);
                a.xchg(w, m, Reg::R10);
                if fetch {
                    a.mov(Width::W64, src, Reg::R10);
                }
            }
            AtomicOp::Cmpxchg => {
                a.lock_cmpxchg(w, m, src);
                if w == Width::W32 {
                    // On success cmpxchg leaves rax as it was; r0 gets the old value
                    // zero-extended either way.
                    a.mov(Width::W32, Reg::Rax, Reg::Rax);
                }
            }
            AtomicOp::Or | AtomicOp::And | AtomicOp::Xor => {
                let x = match op {
                    AtomicOp::Or => AluOp::Or,
                    AtomicOp::And => AluOp::And,
                    _ => AluOp::Xor,
                };
                // rax is cmpxchg's comparand: park r0 in r10 and borrow a register `t`
                // (spilled to the frame) for the new value.
                let t = [Reg::Rdx, Reg::Rcx, Reg::Rsi]
                    .into_iter()
                    .find(|&r| r != src)
                    .unwrap_or(Reg::Rdx);
                let spill = Mem::base(FRAME, OFF_SCRATCH);
                let v = if src == Reg::Rax { Reg::R10 } else { src };
                a.mov(Width::W64, Reg::R10, Reg::Rax);
                a.store(Size::B64, spill, t);
                a.load(sz, Reg::Rax, m);
                let retry = a.new_label();
                a.bind(retry);
                a.mov(Width::W64, t, Reg::Rax);
                a.alu(x, w, t, v);
                a.lock_cmpxchg(w, m, t);
                a.jcc(Cond::Ne, retry);
                a.load(Size::B64, t, spill);
                if src != Reg::Rax {
                    a.mov(Width::W64, src, Reg::Rax);
                    a.mov(Width::W64, Reg::Rax, Reg::R10);
                }
            }
        }
    }
}
