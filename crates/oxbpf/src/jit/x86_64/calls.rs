//! Helper calls, `callx`, BPF-to-BPF calls and the legacy packet loads.
//!
//! Helpers are called directly with the System V ABI: eBPF r1-r5 already sit in rdi, rsi,
//! rdx, rcx, r8 and the `RunContext` goes in r9 (the sixth argument). Right after, one call
//! to `runtime::after_helper` turns a fault the helper recorded (or a failed callback) into
//! a stop at this slot, and a pending tail call into a call of `runtime::tail_call` that
//! runs the target in place of the current function, which then returns the target's `r0`
//! to its caller (the trampoline for the entry function, where it ends the run).
//! The interpreter leaves r1-r5 untouched across a helper call; checked mode (unverified
//! programs, which may read them) preserves them too, unchecked mode clobbers them as the
//! kernel does (the verifier rejects reading them).

use crate::isa::Size as BpfSize;
use crate::vm::{RunContext, STACK_FRAME_SIZE};

use super::compile::{reg, Compiler, StubKind, BUDGET, FP, FRAME};
use super::encoder::{AluOp, Cond, Mem, Reg, Width};
use super::runtime::{self, err, status, JitFrame, OFF_CALL_SLOT, OFF_CTX, OFF_ERR_AUX};
use super::runtime::{OFF_MIN_FP, OFF_R9_SAVE, OFF_REMAINING, OFF_STATUS};
use super::Size;

/// eBPF r1-r5 and the budget register: what a Rust call may clobber that holds state.
const ARGS_AND_BUDGET: [Reg; 6] = [Reg::Rdi, Reg::Rsi, Reg::Rdx, Reg::Rcx, Reg::R8, Reg::R9];

type SlowFn = extern "C" fn(*mut JitFrame, u64, u64) -> u64;
type AfterFn = extern "C" fn(*mut JitFrame, u64) -> u64;

impl Compiler {
    /// Calls the helper whose address is `f` (an immediate) or in `r11` (`f == None`).
    fn helper_call(&mut self, slot: usize, id: Option<u32>, f: Option<u64>) {
        let preserve = self.opt.checked;
        if preserve {
            // Six pushes keep rsp 16-byte aligned.
            self.push_all(&ARGS_AND_BUDGET);
        }
        // Callbacks the helper runs continue from (and update) the budget and name the
        // slot in their errors.
        if self.opt.count {
            self.asm
                .store(Size::B64, Mem::base(FRAME, OFF_R9_SAVE), BUDGET);
        }
        self.asm
            .store_imm(Size::B32, Mem::base(FRAME, OFF_CALL_SLOT), slot as i32);
        self.asm.load(Size::B64, Reg::R9, Mem::base(FRAME, OFF_CTX));
        match f {
            Some(addr) => self.call_abs(Reg::R11, addr),
            None => self.asm.call_reg(Reg::R11),
        }
        self.asm.mov(Width::W64, Reg::Rdi, FRAME);
        self.asm.mov(Width::W64, Reg::Rsi, Reg::Rax);
        let after: AfterFn = runtime::after_helper;
        self.call_abs(Reg::R11, after as usize as u64);
        if preserve {
            self.pop_all(&ARGS_AND_BUDGET);
        }
        if self.opt.count {
            self.asm
                .load(Size::B64, BUDGET, Mem::base(FRAME, OFF_R9_SAVE));
        }
        self.asm
            .alu_imm(AluOp::Cmp, Width::W32, Mem::base(FRAME, OFF_STATUS), 0);
        self.stub_jcc(Cond::Ne, slot, StubKind::AfterHelper { helper: id });
    }

    /// The out-of-line path after a helper that left a nonzero `status`: stop with its
    /// fault or its failed callback's error, or perform its tail call and leave the current
    /// function with the target's `r0` (the interpreter's order and semantics).
    pub(super) fn after_helper_stub(&mut self, slot: u32, helper: Option<u32>) {
        let tail = self.asm.new_label();
        let nested = self.asm.new_label();
        let st = Mem::base(FRAME, OFF_STATUS);
        self.asm
            .alu_imm(AluOp::Cmp, Width::W32, st, status::TAIL_CALL as i32);
        self.asm.jcc(Cond::E, tail);
        self.asm
            .alu_imm(AluOp::Cmp, Width::W32, st, status::NESTED as i32);
        self.asm.jcc(Cond::E, nested);
        match helper {
            Some(id) => {
                // The low half; `err_aux` is 0 above it for the whole run.
                self.asm
                    .store_imm(Size::B32, Mem::base(FRAME, OFF_ERR_AUX), id as i32);
                self.fail(err::HELPER_MEMORY, slot);
            }
            None => self.fail(err::CALLX_MEMORY, slot),
        }
        // The function body keeps rsp 16-byte aligned, so Rust is called directly.
        self.asm.bind(tail);
        if self.opt.count {
            self.asm
                .store(Size::B64, Mem::base(FRAME, OFF_REMAINING), BUDGET);
        }
        self.asm.mov(Width::W64, Reg::Rdi, FRAME);
        self.asm.mov_imm32_zx(Reg::Rsi, slot);
        let f: AfterFn = runtime::tail_call;
        self.call_abs(Reg::R11, f as usize as u64);
        if self.opt.count {
            self.asm
                .load(Size::B64, BUDGET, Mem::base(FRAME, OFF_REMAINING));
        }
        self.asm.alu_imm(AluOp::Cmp, Width::W32, st, 0);
        self.asm.jcc(Cond::Ne, nested);
        self.exit();
        self.asm.bind(nested);
        self.fail(err::NESTED, slot);
    }

    pub(super) fn call_helper(&mut self, slot: usize, id: Option<u32>, f: u64) {
        self.helper_call(slot, id, Some(f));
    }

    /// `callx rN`: look the id up in the registry at run time, then call as a helper.
    pub(super) fn callx(&mut self, slot: usize, r: u8) {
        self.push_all(&ARGS_AND_BUDGET);
        self.asm.mov(Width::W64, Reg::Rsi, reg(r));
        self.asm.mov(Width::W64, Reg::Rdi, FRAME);
        let lookup: extern "C" fn(*mut JitFrame, u64) -> u64 = runtime::callx_lookup;
        self.call_abs(Reg::Rax, lookup as usize as u64);
        self.pop_all(&ARGS_AND_BUDGET);
        self.asm.test(Width::W64, Reg::Rax, Reg::Rax);
        self.stub_jcc(Cond::E, slot, StubKind::CallxUnknown);
        self.asm.mov(Width::W64, Reg::R11, Reg::Rax);
        self.helper_call(slot, None, None);
    }

    /// A BPF-to-BPF call: one frame down (r10 and the context's `stack_lo`), call, back up.
    pub(super) fn call_local(&mut self, slot: usize, t: u32) {
        let frame = STACK_FRAME_SIZE as i32;
        self.asm
            .alu_load(AluOp::Cmp, Width::W64, FP, Mem::base(FRAME, OFF_MIN_FP));
        self.stub_jcc(Cond::Be, slot, StubKind::CallDepth);
        self.asm.alu_imm(AluOp::Sub, Width::W64, FP, frame);
        self.sync_stack_lo();
        let f = self.func_label(t);
        self.asm.call_label(f);
        self.asm.alu_imm(AluOp::Add, Width::W64, FP, frame);
        self.sync_stack_lo();
    }

    /// `ctx.stack_lo = r10 - 512`, as `RunContext::set_call_depth` (helpers check against it).
    fn sync_stack_lo(&mut self) {
        let a = &mut self.asm;
        a.load(Size::B64, Reg::R11, Mem::base(FRAME, OFF_CTX));
        a.lea(
            Width::W64,
            Reg::R10,
            Mem::base(FP, -(STACK_FRAME_SIZE as i32)),
        );
        a.store(
            Size::B64,
            Mem::base(Reg::R11, RunContext::OFFSET_STACK_LO as i32),
            Reg::R10,
        );
    }

    /// `LD_ABS` (`src == None`) / `LD_IND`: through `runtime::ld_packet`, the interpreter's
    /// own packet load.
    pub(super) fn ld_packet(&mut self, slot: usize, size: BpfSize, src: Option<u8>, imm: i32) {
        match src {
            Some(s) => {
                self.asm.mov(Width::W64, Reg::R10, reg(s));
                self.asm.alu_imm(AluOp::Add, Width::W64, Reg::R10, imm);
            }
            None => self.asm.mov_imm(Reg::R10, imm as i64 as u64),
        }
        self.push_all(&ARGS_AND_BUDGET);
        self.asm.mov(Width::W64, Reg::Rdi, FRAME);
        self.asm.mov(Width::W64, Reg::Rsi, Reg::R10);
        self.asm.mov_imm32_zx(Reg::Rdx, size.bytes() as u32);
        let f: SlowFn = runtime::ld_packet;
        self.call_abs(Reg::Rax, f as usize as u64);
        self.pop_all(&ARGS_AND_BUDGET);
        self.asm
            .alu_imm(AluOp::Cmp, Width::W32, Mem::base(FRAME, OFF_STATUS), 0);
        self.stub_jcc(Cond::Ne, slot, StubKind::LdPacket);
    }
}
