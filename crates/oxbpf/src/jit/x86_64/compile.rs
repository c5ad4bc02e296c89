//! The compiler driver: register assignment, the entry trampoline, function prologues,
//! basic blocks and the instruction budget, out-of-line stubs, and the dispatch from the
//! interpreter's lowered [`Op`] form to the emitters in `alu`, `mem` and `calls`.
//!
//! # Register assignment (as the kernel's x86-64 JIT)
//!
//! | eBPF | r0  | r1  | r2  | r3  | r4  | r5 | r6  | r7  | r8  | r9  | r10 |
//! |------|-----|-----|-----|-----|-----|----|-----|-----|-----|-----|-----|
//! | x86  | rax | rdi | rsi | rdx | rcx | r8 | rbx | r13 | r14 | r15 | rbp |
//!
//! `r12` holds the [`JitFrame`](super::runtime::JitFrame) pointer, `r9` the remaining
//! instruction budget (saved around helper calls, which take the `RunContext` in `r9`),
//! `r10`/`r11` are scratch. `r10` (eBPF) is the real frame pointer into the `RunContext`
//! stack, exactly as in the interpreter.
//!
//! # Frames and calls
//!
//! Every eBPF function is a native function. Its prologue pushes `rbx, r13, r14, r15`
//! (eBPF r6-r9) and aligns `rsp`; `exit` pops them and returns, so a callee restores its
//! caller's r6-r9 as the interpreter does. The call site moves `rbp` and the context's
//! `stack_lo` one 512-byte frame down and back up after the return. Errors unwind from any
//! depth by restoring the `rsp` the trampoline saved.
//!
//! # Instruction budget
//!
//! When compiled with a budget, each basic block subtracts its instruction count from `r9`
//! at its first instruction and stops with [`RunError::Budget`](crate::interp::RunError)
//! there if fewer are left. Programs that finish, fault or exit mid-block report exactly the
//! interpreter's `insn_count` (the stub for an early stop gives back the block's unexecuted
//! instructions). The one difference: when the budget runs out inside a block, the
//! interpreter executes the instructions that still fit and reports the first that does
//! not, while compiled code stops before the block and reports its first instruction.

use crate::interp::Op;
use crate::isa::AluOp as BpfAlu;

use super::encoder::{AluOp, Asm, AsmError, Cond, Label, Mem, Reg, Width};
use super::runtime::{self, err, OFF_ERR_KIND, OFF_ERR_SLOT, OFF_REMAINING};
use super::runtime::{OFF_ARGS, OFF_ENTRY_FP, OFF_ENTRY_FUNC, OFF_SAVED_RSP};
use super::runtime::{OFF_ERR_AUX, OFF_ERR_SIZE};

/// eBPF register number → x86 register.
pub(super) const REG_MAP: [Reg; 11] = [
    Reg::Rax,
    Reg::Rdi,
    Reg::Rsi,
    Reg::Rdx,
    Reg::Rcx,
    Reg::R8,
    Reg::Rbx,
    Reg::R13,
    Reg::R14,
    Reg::R15,
    Reg::Rbp,
];

/// The x86 register of eBPF register `n` (validated programs only name r0-r10).
pub(super) fn reg(n: u8) -> Reg {
    REG_MAP[usize::from(n).min(10)]
}

/// The frame pointer register (eBPF r10).
pub(super) const FP: Reg = Reg::Rbp;
/// The [`JitFrame`](runtime::JitFrame) pointer.
pub(super) const FRAME: Reg = Reg::R12;
/// The remaining instruction budget.
pub(super) const BUDGET: Reg = Reg::R9;

/// What to compile.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Bounds-check memory accesses against the region table.
    pub checked: bool,
    /// Count instructions against a budget.
    pub count: bool,
    /// Constant blinding, seeded with `blind_seed`.
    pub blinding: bool,
    pub blind_seed: u64,
}

/// An operand that is either a register or an immediate (already extended as the
/// operation uses it).
#[derive(Clone, Copy, Debug)]
pub(super) enum Src {
    Reg(u8),
    Imm(i64),
}

/// Out-of-line code reached from a conditional branch in the body.
#[derive(Clone, Copy, Debug)]
pub(super) enum StubKind {
    /// Checked-mode slow path of a memory access: continue at `back` or fail.
    Mem {
        back: Label,
        size: u32,
        write: bool,
    },
    /// Misaligned atomic; the address is in `r11`.
    Unaligned {
        size: u32,
    },
    /// After a helper: a fault it recorded (`helper`: its id, `None` for `callx`), a failed
    /// callback, or a tail call to perform.
    AfterHelper {
        helper: Option<u32>,
    },
    CallxUnknown,
    LdPacket,
    CallDepth,
    /// The budget ran out at this block of `n` instructions.
    Budget {
        n: u32,
    },
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Stub {
    label: Label,
    slot: u32,
    kind: StubKind,
}

/// The result of compilation.
pub(crate) struct Compiled {
    pub bytes: Vec<u8>,
    /// Code offset where each slot's code starts, a function's prologue included (a `lddw`
    /// tail has no code of its own: its successor's offset).
    pub slot_offsets: Vec<usize>,
    /// Where the eBPF body starts (after the entry trampoline) and where the stubs start.
    pub body_start: usize,
    pub stubs_start: usize,
    /// Per slot: instructions after it in its basic block (given back on early stops).
    pub tails: Vec<u32>,
}

pub(super) struct Compiler {
    pub(super) asm: Asm,
    pub(super) opt: Options,
    slot_labels: Vec<Option<Label>>,
    func_labels: Vec<Option<Label>>,
    block_len: Vec<u32>,
    stubs: Vec<Stub>,
    /// Shared checked-mode slow routines per (log2 size, write).
    check_routines: [[Option<Label>; 2]; 4],
    bail: Label,
    /// Per error kind: sets the kind, takes the slot from `r10d`, unwinds.
    bail_kinds: [Option<Label>; 10],
    rng: u64,
}

/// Compiles a lowered program (the interpreter's `prepare` output) whose functions start
/// at the slots `funcs` (calls and callback targets).
pub(crate) fn compile(ops: &[Op], funcs: &[usize], opt: Options) -> Result<Compiled, AsmError> {
    // Typical sizes: ~20 bytes, ~1.5 labels and ~1.5 branches per instruction.
    let mut asm = Asm::with_capacity(ops.len() * 24 + 512, ops.len() * 2 + 64, ops.len() * 2);
    // Labels only where something branches to; other positions are cheap marks.
    let mut slot_labels = vec![None; ops.len()];
    for op in ops {
        if let (Some(t), false) = (branch_info(op).0, matches!(op, Op::CallLocal { .. })) {
            if let Some(l @ None) = slot_labels.get_mut(t as usize) {
                *l = Some(asm.new_label());
            }
        }
    }
    let mut func_labels = vec![None; ops.len()];
    if !ops.is_empty() {
        func_labels[0] = Some(asm.new_label());
    }
    for &f in funcs {
        if let Some(l @ None) = func_labels.get_mut(f) {
            *l = Some(asm.new_label());
        }
    }
    for op in ops {
        if let Op::CallLocal { t } = *op {
            if let Some(f) = func_labels.get_mut(t as usize) {
                if f.is_none() {
                    *f = Some(asm.new_label());
                }
            }
        }
    }
    let (block_len, tails) = blocks(ops, &func_labels);
    let bail = asm.new_label();
    let mut c = Compiler {
        asm,
        opt,
        slot_labels,
        func_labels,
        block_len,
        stubs: Vec::new(),
        check_routines: [[None; 2]; 4],
        bail,
        bail_kinds: [None; 10],
        rng: opt.blind_seed | 1,
    };
    let epilogue = c.asm.new_label();
    c.trampoline(epilogue);
    let body_start = c.asm.new_label();
    c.asm.bind(body_start);
    let mut marks = Vec::with_capacity(ops.len());
    for (slot, &op) in ops.iter().enumerate() {
        marks.push(c.asm.mark());
        if let Some(f) = c.func_labels[slot] {
            c.asm.bind(f);
            c.prologue();
        }
        if let Some(l) = c.slot_labels[slot] {
            c.asm.bind(l);
        }
        if c.opt.count && c.block_len[slot] > 0 {
            let n = c.block_len[slot];
            c.asm.alu_imm(AluOp::Sub, Width::W64, BUDGET, n as i32);
            c.stub_jcc(Cond::B, slot, StubKind::Budget { n });
        }
        c.op(slot, op);
    }
    let stubs_start = c.asm.new_label();
    c.asm.bind(stubs_start);
    c.emit_stubs(epilogue);
    let code = c.asm.finish()?;
    let off = |l: Label| code.label_offset(l).unwrap_or(0);
    Ok(Compiled {
        slot_offsets: marks.iter().map(|&m| code.mark_offset(m)).collect(),
        body_start: off(body_start),
        stubs_start: off(stubs_start),
        bytes: code.bytes,
        tails,
    })
}

/// Block lengths at leaders (0 elsewhere) and per-slot tails. Leaders: function starts,
/// jump targets and every slot after a jump, call (helper calls included: callbacks and
/// tail calls continue on the exact budget left at the call) or exit.
fn blocks(ops: &[Op], func_labels: &[Option<Label>]) -> (Vec<u32>, Vec<u32>) {
    let n = ops.len();
    let mut leader: Vec<bool> = func_labels.iter().map(Option::is_some).collect();
    for (slot, op) in ops.iter().enumerate() {
        let (target, ends) = branch_info(op);
        if let Some(t) = target {
            if let Some(l) = leader.get_mut(t as usize) {
                *l = true;
            }
        }
        if ends && slot + 1 < n {
            leader[slot + 1] = true;
        }
    }
    let mut block_len = vec![0u32; n];
    let mut pos = vec![0u32; n];
    let mut block_of = vec![0usize; n];
    let mut cur = 0usize;
    for slot in 0..n {
        if leader[slot] {
            cur = slot;
        }
        block_of[slot] = cur;
        if !matches!(ops[slot], Op::LdDwTail) {
            pos[slot] = block_len[cur];
            block_len[cur] += 1;
        }
    }
    let tails = (0..n)
        .map(|s| block_len[block_of[s]].saturating_sub(pos[s] + 1))
        .collect();
    (block_len, tails)
}

/// A jump's target (or a call's), and whether the block ends after this instruction.
fn branch_info(op: &Op) -> (Option<u32>, bool) {
    match *op {
        Op::Ja { t }
        | Op::JeqI { t, .. }
        | Op::JgtI { t, .. }
        | Op::JgeI { t, .. }
        | Op::JsetI { t, .. }
        | Op::JneI { t, .. }
        | Op::JsgtI { t, .. }
        | Op::JsgeI { t, .. }
        | Op::JltI { t, .. }
        | Op::JleI { t, .. }
        | Op::JsltI { t, .. }
        | Op::JsleI { t, .. }
        | Op::JeqR { t, .. }
        | Op::JgtR { t, .. }
        | Op::JgeR { t, .. }
        | Op::JsetR { t, .. }
        | Op::JneR { t, .. }
        | Op::JsgtR { t, .. }
        | Op::JsgeR { t, .. }
        | Op::JltR { t, .. }
        | Op::JleR { t, .. }
        | Op::JsltR { t, .. }
        | Op::JsleR { t, .. }
        | Op::Jmp32I { t, .. }
        | Op::Jmp32R { t, .. }
        | Op::CallLocal { t } => (Some(t), true),
        Op::Exit | Op::CallHelper { .. } | Op::Callx { .. } => (None, true),
        _ => (None, false),
    }
}

impl Compiler {
    /// Label of the instruction at `slot` (created for every jump target before emission).
    pub(super) fn slot_label(&mut self, slot: u32) -> Label {
        let asm = &mut self.asm;
        *self.slot_labels[slot as usize].get_or_insert_with(|| asm.new_label())
    }

    /// Label of the function starting at `slot` (created for every call target).
    pub(super) fn func_label(&mut self, slot: u32) -> Label {
        let asm = &mut self.asm;
        *self.func_labels[slot as usize].get_or_insert_with(|| asm.new_label())
    }

    /// `jcc` to a new stub of `kind` for `slot`.
    pub(super) fn stub_jcc(&mut self, cond: Cond, slot: usize, kind: StubKind) {
        let label = self.asm.new_label();
        self.asm.jcc(cond, label);
        self.stubs.push(Stub {
            label,
            slot: slot as u32,
            kind,
        });
    }

    /// The next blinding key (xorshift64*).
    pub(super) fn next_key(&mut self) -> i32 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as i32
    }

    /// Loads `imm` into `dst` (64-bit), blinded when blinding is on: the immediate never
    /// appears in the code, only `imm ^ key` and `key`.
    pub(super) fn load_imm(&mut self, dst: Reg, imm: u64) {
        if !self.opt.blinding {
            self.asm.mov_imm(dst, imm);
            return;
        }
        let key = self.next_key();
        self.asm.mov_imm(dst, imm ^ (key as i64 as u64));
        self.asm.alu_imm(AluOp::Xor, Width::W64, dst, key);
    }

    /// `push` of the registers a Rust call may clobber among those holding eBPF state.
    pub(super) fn push_all(&mut self, regs: &[Reg]) {
        for &r in regs {
            self.asm.push(r);
        }
    }

    pub(super) fn pop_all(&mut self, regs: &[Reg]) {
        for &r in regs.iter().rev() {
            self.asm.pop(r);
        }
    }

    /// `call` an absolute address through `via` (a scratch register).
    pub(super) fn call_abs(&mut self, via: Reg, addr: u64) {
        self.asm.movabs(via, addr);
        self.asm.call_reg(via);
    }

    fn trampoline(&mut self, epilogue: Label) {
        // Entry: extern "sysv64" fn(frame: *mut JitFrame) -> u64; r1-r5, r10 and the
        // function to run come from the frame.
        let a = &mut self.asm;
        for r in [Reg::Rbp, Reg::Rbx, Reg::R12, Reg::R13, Reg::R14, Reg::R15] {
            a.push(r);
        }
        a.alu_imm(AluOp::Sub, Width::W64, Reg::Rsp, 8);
        a.mov(Width::W64, FRAME, Reg::Rdi);
        a.store(super::Size::B64, Mem::base(FRAME, OFF_SAVED_RSP), Reg::Rsp);
        for (i, r) in [Reg::Rdi, Reg::Rsi, Reg::Rdx, Reg::Rcx, Reg::R8]
            .into_iter()
            .enumerate()
        {
            a.load(
                super::Size::B64,
                r,
                Mem::base(FRAME, OFF_ARGS + 8 * i as i32),
            );
        }
        for r in [Reg::Rax, Reg::Rbx, Reg::R13, Reg::R14, Reg::R15] {
            a.alu(AluOp::Xor, Width::W32, r, r);
        }
        a.load(super::Size::B64, BUDGET, Mem::base(FRAME, OFF_REMAINING));
        a.load(super::Size::B64, FP, Mem::base(FRAME, OFF_ENTRY_FP));
        a.load(super::Size::B64, Reg::R11, Mem::base(FRAME, OFF_ENTRY_FUNC));
        a.call_reg(Reg::R11);
        let a = &mut self.asm;
        a.store(super::Size::B64, Mem::base(FRAME, OFF_REMAINING), BUDGET);
        a.bind(epilogue);
        a.alu_imm(AluOp::Add, Width::W64, Reg::Rsp, 8);
        for r in [Reg::R15, Reg::R14, Reg::R13, Reg::R12, Reg::Rbx, Reg::Rbp] {
            a.pop(r);
        }
        a.ret();
    }

    /// Function prologue: save the caller's r6-r9, keep `rsp` 16-byte aligned.
    fn prologue(&mut self) {
        for r in [Reg::Rbx, Reg::R13, Reg::R14, Reg::R15] {
            self.asm.push(r);
        }
        self.asm.alu_imm(AluOp::Sub, Width::W64, Reg::Rsp, 8);
    }

    /// `exit`: restore the caller's r6-r9 and return (to the trampoline for the entry
    /// function).
    pub(super) fn exit(&mut self) {
        self.asm.alu_imm(AluOp::Add, Width::W64, Reg::Rsp, 8);
        for r in [Reg::R15, Reg::R14, Reg::R13, Reg::Rbx] {
            self.asm.pop(r);
        }
        self.asm.ret();
    }

    /// Records the error kind and slot and unwinds (through a routine shared per kind, so
    /// that each stub is a `mov` and a `jmp`).
    pub(super) fn fail(&mut self, kind: u32, slot: u32) {
        let i = (kind as usize).min(9);
        let label = match self.bail_kinds[i] {
            Some(l) => l,
            None => {
                let l = self.asm.new_label();
                self.bail_kinds[i] = Some(l);
                l
            }
        };
        self.asm.mov_imm32_zx(Reg::R10, slot);
        self.asm.jmp(label);
    }

    fn emit_stubs(&mut self, epilogue: Label) {
        let stubs = std::mem::take(&mut self.stubs);
        for s in stubs {
            self.asm.bind(s.label);
            match s.kind {
                StubKind::Mem { back, size, write } => {
                    let routine = self.check_routine(size, write);
                    self.asm.call_label(routine);
                    self.asm.test(Width::W64, Reg::R10, Reg::R10);
                    self.asm.jcc(Cond::E, back);
                    self.fail(err::MEMORY, s.slot);
                }
                StubKind::Unaligned { size } => {
                    let a = &mut self.asm;
                    a.store(super::Size::B64, Mem::base(FRAME, OFF_ERR_AUX), Reg::R11);
                    a.store_imm(
                        super::Size::B32,
                        Mem::base(FRAME, OFF_ERR_SIZE),
                        size as i32,
                    );
                    self.fail(err::UNALIGNED, s.slot);
                }
                StubKind::AfterHelper { helper } => self.after_helper_stub(s.slot, helper),
                StubKind::CallxUnknown => self.fail(err::UNKNOWN_HELPER, s.slot),
                StubKind::LdPacket => self.fail(err::LD_PACKET, s.slot),
                StubKind::CallDepth => self.fail(err::CALL_DEPTH, s.slot),
                StubKind::Budget { n } => {
                    self.asm.alu_imm(AluOp::Add, Width::W64, BUDGET, n as i32);
                    self.fail(err::BUDGET, s.slot);
                }
            }
        }
        // Routines are created while emitting stubs; emit their bodies now.
        for (k, pair) in self.check_routines.into_iter().enumerate() {
            for (w, label) in pair.into_iter().enumerate() {
                if let Some(label) = label {
                    self.emit_check_routine(label, 1 << k, w == 1);
                }
            }
        }
        for (kind, label) in self.bail_kinds.into_iter().enumerate() {
            if let Some(label) = label {
                let a = &mut self.asm;
                a.bind(label);
                a.store_imm(
                    super::Size::B32,
                    Mem::base(FRAME, OFF_ERR_KIND),
                    kind as i32,
                );
                a.store(super::Size::B32, Mem::base(FRAME, OFF_ERR_SLOT), Reg::R10);
                a.jmp(self.bail);
            }
        }
        self.asm.bind(self.bail);
        let a = &mut self.asm;
        a.store(super::Size::B64, Mem::base(FRAME, OFF_REMAINING), BUDGET);
        a.load(super::Size::B64, Reg::Rsp, Mem::base(FRAME, OFF_SAVED_RSP));
        a.jmp(epilogue);
    }

    fn check_routine(&mut self, size: u32, write: bool) -> Label {
        let k = size.trailing_zeros().min(3) as usize;
        let w = usize::from(write);
        match self.check_routines[k][w] {
            Some(l) => l,
            None => {
                let l = self.asm.new_label();
                self.check_routines[k][w] = Some(l);
                l
            }
        }
    }

    /// The shared slow path for accesses of `size` bytes at the address in `r11`: the
    /// current frame inline, otherwise `runtime::check_access`. Returns `r10 = 0` when the
    /// access is allowed; preserves every other register.
    fn emit_check_routine(&mut self, label: Label, size: u32, write: bool) {
        const SAVED: [Reg; 8] = [
            Reg::Rax,
            Reg::Rcx,
            Reg::Rdx,
            Reg::Rsi,
            Reg::Rdi,
            Reg::R8,
            Reg::R9,
            Reg::R11,
        ];
        let ok = self.asm.new_label();
        self.asm.bind(label);
        let a = &mut self.asm;
        a.lea(Width::W64, Reg::R10, Mem::base(Reg::R11, 512));
        a.alu(AluOp::Sub, Width::W64, Reg::R10, FP);
        a.alu_imm(AluOp::Cmp, Width::W64, Reg::R10, 512 - size as i32);
        a.jcc(Cond::Be, ok);
        self.push_all(&SAVED);
        // Entered with rsp = 8 mod 16 (a call from aligned code); 8 pushes keep it so.
        let a = &mut self.asm;
        a.alu_imm(AluOp::Sub, Width::W64, Reg::Rsp, 8);
        a.mov(Width::W64, Reg::Rdi, FRAME);
        a.mov(Width::W64, Reg::Rsi, Reg::R11);
        a.mov_imm32_zx(Reg::Rdx, size | (u32::from(write) << 8));
        let f: extern "C" fn(*mut runtime::JitFrame, u64, u64) -> u64 = runtime::check_access;
        self.call_abs(Reg::Rax, f as usize as u64);
        self.asm.mov(Width::W64, Reg::R10, Reg::Rax);
        self.asm.alu_imm(AluOp::Add, Width::W64, Reg::Rsp, 8);
        self.pop_all(&SAVED);
        self.asm.ret();
        self.asm.bind(ok);
        self.asm.alu(AluOp::Xor, Width::W32, Reg::R10, Reg::R10);
        self.asm.ret();
    }

    /// Compiles one lowered instruction.
    fn op(&mut self, slot: usize, op: Op) {
        use Width::{W32, W64};
        let i32i = |imm: u32| Src::Imm(imm as i32 as i64);
        match op {
            Op::Add64I { d, imm } => self.alu(W64, BpfAlu::Add, d, Src::Imm(imm)),
            Op::Sub64I { d, imm } => self.alu(W64, BpfAlu::Sub, d, Src::Imm(imm)),
            Op::Mul64I { d, imm } => self.alu(W64, BpfAlu::Mul, d, Src::Imm(imm)),
            Op::Div64I { d, imm } => self.alu(W64, BpfAlu::Div, d, Src::Imm(imm)),
            Op::Sdiv64I { d, imm } => self.alu(W64, BpfAlu::Sdiv, d, Src::Imm(imm)),
            Op::Or64I { d, imm } => self.alu(W64, BpfAlu::Or, d, Src::Imm(imm)),
            Op::And64I { d, imm } => self.alu(W64, BpfAlu::And, d, Src::Imm(imm)),
            Op::Lsh64I { d, imm } => self.alu(W64, BpfAlu::Lsh, d, Src::Imm(imm)),
            Op::Rsh64I { d, imm } => self.alu(W64, BpfAlu::Rsh, d, Src::Imm(imm)),
            Op::Mod64I { d, imm } => self.alu(W64, BpfAlu::Mod, d, Src::Imm(imm)),
            Op::Smod64I { d, imm } => self.alu(W64, BpfAlu::Smod, d, Src::Imm(imm)),
            Op::Xor64I { d, imm } => self.alu(W64, BpfAlu::Xor, d, Src::Imm(imm)),
            Op::Mov64I { d, imm } => self.alu(W64, BpfAlu::Mov, d, Src::Imm(imm)),
            Op::Arsh64I { d, imm } => self.alu(W64, BpfAlu::Arsh, d, Src::Imm(imm)),
            Op::Add64R { d, s } => self.alu(W64, BpfAlu::Add, d, Src::Reg(s)),
            Op::Sub64R { d, s } => self.alu(W64, BpfAlu::Sub, d, Src::Reg(s)),
            Op::Mul64R { d, s } => self.alu(W64, BpfAlu::Mul, d, Src::Reg(s)),
            Op::Div64R { d, s } => self.alu(W64, BpfAlu::Div, d, Src::Reg(s)),
            Op::Sdiv64R { d, s } => self.alu(W64, BpfAlu::Sdiv, d, Src::Reg(s)),
            Op::Or64R { d, s } => self.alu(W64, BpfAlu::Or, d, Src::Reg(s)),
            Op::And64R { d, s } => self.alu(W64, BpfAlu::And, d, Src::Reg(s)),
            Op::Lsh64R { d, s } => self.alu(W64, BpfAlu::Lsh, d, Src::Reg(s)),
            Op::Rsh64R { d, s } => self.alu(W64, BpfAlu::Rsh, d, Src::Reg(s)),
            Op::Mod64R { d, s } => self.alu(W64, BpfAlu::Mod, d, Src::Reg(s)),
            Op::Smod64R { d, s } => self.alu(W64, BpfAlu::Smod, d, Src::Reg(s)),
            Op::Xor64R { d, s } => self.alu(W64, BpfAlu::Xor, d, Src::Reg(s)),
            Op::Mov64R { d, s } => self.alu(W64, BpfAlu::Mov, d, Src::Reg(s)),
            Op::Arsh64R { d, s } => self.alu(W64, BpfAlu::Arsh, d, Src::Reg(s)),
            Op::Add32I { d, imm } => self.alu(W32, BpfAlu::Add, d, i32i(imm)),
            Op::Sub32I { d, imm } => self.alu(W32, BpfAlu::Sub, d, i32i(imm)),
            Op::Mul32I { d, imm } => self.alu(W32, BpfAlu::Mul, d, i32i(imm)),
            Op::Div32I { d, imm } => self.alu(W32, BpfAlu::Div, d, i32i(imm)),
            Op::Sdiv32I { d, imm } => self.alu(W32, BpfAlu::Sdiv, d, i32i(imm)),
            Op::Or32I { d, imm } => self.alu(W32, BpfAlu::Or, d, i32i(imm)),
            Op::And32I { d, imm } => self.alu(W32, BpfAlu::And, d, i32i(imm)),
            Op::Lsh32I { d, imm } => self.alu(W32, BpfAlu::Lsh, d, i32i(imm)),
            Op::Rsh32I { d, imm } => self.alu(W32, BpfAlu::Rsh, d, i32i(imm)),
            Op::Mod32I { d, imm } => self.alu(W32, BpfAlu::Mod, d, i32i(imm)),
            Op::Smod32I { d, imm } => self.alu(W32, BpfAlu::Smod, d, i32i(imm)),
            Op::Xor32I { d, imm } => self.alu(W32, BpfAlu::Xor, d, i32i(imm)),
            Op::Mov32I { d, imm } => self.alu(W32, BpfAlu::Mov, d, i32i(imm)),
            Op::Arsh32I { d, imm } => self.alu(W32, BpfAlu::Arsh, d, i32i(imm)),
            Op::Add32R { d, s } => self.alu(W32, BpfAlu::Add, d, Src::Reg(s)),
            Op::Sub32R { d, s } => self.alu(W32, BpfAlu::Sub, d, Src::Reg(s)),
            Op::Mul32R { d, s } => self.alu(W32, BpfAlu::Mul, d, Src::Reg(s)),
            Op::Div32R { d, s } => self.alu(W32, BpfAlu::Div, d, Src::Reg(s)),
            Op::Sdiv32R { d, s } => self.alu(W32, BpfAlu::Sdiv, d, Src::Reg(s)),
            Op::Or32R { d, s } => self.alu(W32, BpfAlu::Or, d, Src::Reg(s)),
            Op::And32R { d, s } => self.alu(W32, BpfAlu::And, d, Src::Reg(s)),
            Op::Lsh32R { d, s } => self.alu(W32, BpfAlu::Lsh, d, Src::Reg(s)),
            Op::Rsh32R { d, s } => self.alu(W32, BpfAlu::Rsh, d, Src::Reg(s)),
            Op::Mod32R { d, s } => self.alu(W32, BpfAlu::Mod, d, Src::Reg(s)),
            Op::Smod32R { d, s } => self.alu(W32, BpfAlu::Smod, d, Src::Reg(s)),
            Op::Xor32R { d, s } => self.alu(W32, BpfAlu::Xor, d, Src::Reg(s)),
            Op::Mov32R { d, s } => self.alu(W32, BpfAlu::Mov, d, Src::Reg(s)),
            Op::Arsh32R { d, s } => self.alu(W32, BpfAlu::Arsh, d, Src::Reg(s)),
            Op::Neg64 { d } => self.asm.neg(W64, reg(d)),
            Op::Neg32 { d } => self.asm.neg(W32, reg(d)),
            Op::MovSx64 { d, s, bits } => self.movsx(W64, d, s, bits),
            Op::MovSx32 { d, s, bits } => self.movsx(W32, d, s, bits),
            Op::End { d, order, bits } => self.end(d, order, bits),
            Op::LdDw { d, imm } => self.load_imm(reg(d), imm),
            Op::LdDwTail => {}
            Op::LdxB { d, s, off } => self.ldx(slot, super::Size::B8, false, d, s, off),
            Op::LdxH { d, s, off } => self.ldx(slot, super::Size::B16, false, d, s, off),
            Op::LdxW { d, s, off } => self.ldx(slot, super::Size::B32, false, d, s, off),
            Op::LdxDW { d, s, off } => self.ldx(slot, super::Size::B64, false, d, s, off),
            Op::LdxSB { d, s, off } => self.ldx(slot, super::Size::B8, true, d, s, off),
            Op::LdxSH { d, s, off } => self.ldx(slot, super::Size::B16, true, d, s, off),
            Op::LdxSW { d, s, off } => self.ldx(slot, super::Size::B32, true, d, s, off),
            Op::StB { d, off, imm } => self.st(slot, super::Size::B8, d, off, Src::Imm(imm.into())),
            Op::StH { d, off, imm } => {
                self.st(slot, super::Size::B16, d, off, Src::Imm(imm.into()))
            }
            Op::StW { d, off, imm } => {
                self.st(slot, super::Size::B32, d, off, Src::Imm(imm.into()))
            }
            Op::StDW { d, off, imm } => {
                self.st(slot, super::Size::B64, d, off, Src::Imm(imm.into()))
            }
            Op::StxB { d, s, off } => self.st(slot, super::Size::B8, d, off, Src::Reg(s)),
            Op::StxH { d, s, off } => self.st(slot, super::Size::B16, d, off, Src::Reg(s)),
            Op::StxW { d, s, off } => self.st(slot, super::Size::B32, d, off, Src::Reg(s)),
            Op::StxDW { d, s, off } => self.st(slot, super::Size::B64, d, off, Src::Reg(s)),
            Op::Atomic {
                size,
                op,
                fetch,
                d,
                s,
                off,
            } => self.atomic(slot, size, op, fetch, d, s, off),
            Op::LdAbs { size, imm } => self.ld_packet(slot, size, None, imm),
            Op::LdInd { size, s, imm } => self.ld_packet(slot, size, Some(s), imm),
            Op::Ja { t } => {
                let l = self.slot_label(t);
                self.asm.jmp(l);
            }
            Op::JeqI { d, imm, t } => self.jmp(W64, Cond::E, d, Src::Imm(imm), t),
            Op::JgtI { d, imm, t } => self.jmp(W64, Cond::A, d, Src::Imm(imm), t),
            Op::JgeI { d, imm, t } => self.jmp(W64, Cond::Ae, d, Src::Imm(imm), t),
            Op::JsetI { d, imm, t } => self.jset(W64, d, Src::Imm(imm), t),
            Op::JneI { d, imm, t } => self.jmp(W64, Cond::Ne, d, Src::Imm(imm), t),
            Op::JsgtI { d, imm, t } => self.jmp(W64, Cond::G, d, Src::Imm(imm), t),
            Op::JsgeI { d, imm, t } => self.jmp(W64, Cond::Ge, d, Src::Imm(imm), t),
            Op::JltI { d, imm, t } => self.jmp(W64, Cond::B, d, Src::Imm(imm), t),
            Op::JleI { d, imm, t } => self.jmp(W64, Cond::Be, d, Src::Imm(imm), t),
            Op::JsltI { d, imm, t } => self.jmp(W64, Cond::L, d, Src::Imm(imm), t),
            Op::JsleI { d, imm, t } => self.jmp(W64, Cond::Le, d, Src::Imm(imm), t),
            Op::JeqR { d, s, t } => self.jmp(W64, Cond::E, d, Src::Reg(s), t),
            Op::JgtR { d, s, t } => self.jmp(W64, Cond::A, d, Src::Reg(s), t),
            Op::JgeR { d, s, t } => self.jmp(W64, Cond::Ae, d, Src::Reg(s), t),
            Op::JsetR { d, s, t } => self.jset(W64, d, Src::Reg(s), t),
            Op::JneR { d, s, t } => self.jmp(W64, Cond::Ne, d, Src::Reg(s), t),
            Op::JsgtR { d, s, t } => self.jmp(W64, Cond::G, d, Src::Reg(s), t),
            Op::JsgeR { d, s, t } => self.jmp(W64, Cond::Ge, d, Src::Reg(s), t),
            Op::JltR { d, s, t } => self.jmp(W64, Cond::B, d, Src::Reg(s), t),
            Op::JleR { d, s, t } => self.jmp(W64, Cond::Be, d, Src::Reg(s), t),
            Op::JsltR { d, s, t } => self.jmp(W64, Cond::L, d, Src::Reg(s), t),
            Op::JsleR { d, s, t } => self.jmp(W64, Cond::Le, d, Src::Reg(s), t),
            Op::Jmp32I { cond, d, imm, t } => self.jmp32(cond, d, i32i(imm), t),
            Op::Jmp32R { cond, d, s, t } => self.jmp32(cond, d, Src::Reg(s), t),
            Op::CallHelper { id, f } => self.call_helper(slot, Some(id), f as usize as u64),
            Op::CallLocal { t } => self.call_local(slot, t),
            Op::Callx { r } => self.callx(slot, r),
            Op::Exit => self.exit(),
        }
    }
}
