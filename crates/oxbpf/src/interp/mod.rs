//! The interpreter: runs decoded programs with exactly the RFC 9669 semantics.
//!
//! Loading ([`Interpreter::new`]) validates the program (`isa::validate`, helper ids,
//! call depth), resolves `lddw` map forms and pre-decodes every
//! [`Insn`](crate::isa::Insn) into a compact slot-indexed form (jump targets resolved,
//! immediates pre-extended, the `lddw` second slot never executed). Running
//! ([`Interpreter::run`]) dispatches on that form with the registers in a local array.
//!
//! Memory is real host memory (see [`crate::vm`]). In [`Mode::Checked`] (the default)
//! every load, store and atomic must lie in the current call chain's stack or a region
//! registered in the [`RunContext`]; otherwise the run stops with [`RunError::Memory`]
//! naming the slot, address, size and direction. [`Mode::Unchecked`] skips those checks and
//! is only for programs a verifier has proven safe. An instruction budget (default
//! [`DEFAULT_BUDGET`]) stops runaway loops in both modes.
//!
//! Helpers can call BPF callbacks with [`RunContext::call_bpf`]: `lddw src=4` loads the
//! callback's start slot, and the callback runs in a new frame of the same run (same
//! budget, frame limit and error reporting). A tail call (`bpf_tail_call` leaves a
//! [`TailCall`](crate::vm::TailCall) in the context) runs the target [`Interpreter`] (or
//! [`JitProgram`](crate::jit::JitProgram)) from the runtime's
//! [`ProgramTable`](crate::vm::ProgramTable) in place of the current function, on the same
//! budget; any other target stops the run with [`RunError::TailCallTarget`]. Ring buffer records left reserved are discarded when a
//! run ends.
//!
//! ```
//! use oxbpf::helpers::Registry;
//! use oxbpf::interp::Interpreter;
//! use oxbpf::isa::{self, AluOp, Insn, Located, Reg, Src, Width};
//! use oxbpf::vm::RunContext;
//!
//! // r0 = r1 + r2; exit
//! let prog = [
//!     Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Src::Reg(Reg::R1) },
//!     Insn::Alu { width: Width::W64, op: AluOp::Add, dst: Reg::R0, src: Src::Reg(Reg::R2) },
//!     Insn::Exit,
//! ];
//! let insns: Vec<Located> = prog.iter().enumerate().map(|(slot, &insn)| Located { slot, insn }).collect();
//! let vm = Interpreter::new(&insns, &Registry::standard()).unwrap();
//! let mut ctx = RunContext::new();
//! assert_eq!(vm.run(&mut ctx, 40, 2).unwrap(), 42);
//! assert_eq!(ctx.insn_count, 3);
//! ```

mod error;
mod exec;
mod lower;
mod structure;

pub use error::{LoadError, RunError};

use crate::helpers::Registry;
use crate::isa::{self, Located};
use crate::vm::{MapResolver, MemRegion, RunContext};

pub(crate) use exec::ld_packet;
pub(crate) use lower::Op;

/// Instructions a run may execute unless configured otherwise.
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// Whether memory accesses are checked against the valid regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every load, store and atomic is bounds- and permission-checked.
    #[default]
    Checked,
    /// No checks (atomics still require alignment). Only for verified programs.
    Unchecked,
}

/// A program loaded for interpretation. Immutable and shareable: runs on several threads
/// each use their own [`RunContext`].
#[derive(Clone, Debug)]
pub struct Interpreter {
    code: Box<[Op]>,
    /// Start slots of the functions, sorted: the valid targets of callbacks.
    funcs: Box<[usize]>,
    helpers: Registry,
    mode: Mode,
    budget: Option<u64>,
}

impl Interpreter {
    /// Loads a decoded program without maps: `lddw` map forms are a load error.
    pub fn new(insns: &[Located], helpers: &Registry) -> Result<Interpreter, LoadError> {
        Interpreter::load(insns, helpers, None)
    }

    /// Loads a decoded program whose `lddw` map forms `maps` resolves.
    pub fn with_maps(
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
    ) -> Result<Interpreter, LoadError> {
        Interpreter::load(insns, helpers, Some(maps))
    }

    /// Decodes and loads a program from its wire bytes.
    pub fn from_bytes(bytes: &[u8], helpers: &Registry) -> Result<Interpreter, LoadError> {
        Interpreter::new(&isa::decode(bytes)?, helpers)
    }

    fn load(
        insns: &[Located],
        helpers: &Registry,
        maps: Option<&dyn MapResolver>,
    ) -> Result<Interpreter, LoadError> {
        let code = prepare(insns, helpers, maps)?.into_boxed_slice();
        Ok(Interpreter {
            code,
            funcs: isa::function_starts(insns).into_boxed_slice(),
            helpers: helpers.clone(),
            mode: Mode::Checked,
            budget: Some(DEFAULT_BUDGET),
        })
    }

    /// The memory-checking mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Sets the memory-checking mode.
    ///
    /// # Safety
    /// With [`Mode::Unchecked`], every memory access the program can make with the inputs
    /// it will be run with must be valid (as a verifier proves): an invalid access is
    /// undefined behaviour of the host process.
    pub unsafe fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The instruction budget per run (`None`: unlimited).
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// Sets the instruction budget per run (`None`: unlimited).
    pub fn set_budget(&mut self, budget: Option<u64>) {
        self.budget = budget;
    }

    /// Number of instruction slots.
    pub fn len_slots(&self) -> usize {
        self.code.len()
    }

    /// Runs the program with `r1`, `r2` as arguments (`r3`-`r9` start at 0, `r10` at the
    /// top of the stack) and returns `r0` at the entry function's `exit`.
    /// `ctx.insn_count` holds the number of executed instructions afterwards, also after
    /// an error.
    pub fn run(&self, ctx: &mut RunContext, r1: u64, r2: u64) -> Result<u64, RunError> {
        let budget = self.budget.unwrap_or(u64::MAX);
        match self.mode {
            Mode::Checked => {
                exec::run::<true>(&self.code, &self.helpers, &self.funcs, ctx, r1, r2, budget)
            }
            Mode::Unchecked => {
                exec::run::<false>(&self.code, &self.helpers, &self.funcs, ctx, r1, r2, budget)
            }
        }
    }

    /// Runs the program as the target of a tail call another engine performs (see
    /// `exec::run_tail_target`).
    pub(crate) fn run_tail_target(
        &self,
        ctx: &mut RunContext,
        ctx_arg: u64,
        depth: usize,
        remaining: &mut u64,
        budget: u64,
        checked: bool,
    ) -> Result<u64, RunError> {
        exec::run_tail_target(self, ctx, ctx_arg, depth, remaining, budget, checked)
    }

    /// Runs with `mem` as the input memory: it is registered as a writable region for the
    /// run, and `r1`/`r2` hold its address and length (as rbpf-style tests expect).
    pub fn run_with_mem(&self, ctx: &mut RunContext, mem: &mut [u8]) -> Result<u64, RunError> {
        let region = MemRegion {
            start: mem.as_mut_ptr() as u64,
            len: mem.len() as u64,
            writable: true,
        };
        // SAFETY: `mem` is exclusively borrowed for the whole run and not used through the
        // reference meanwhile; the region is removed before the borrow ends.
        unsafe { ctx.add_region(region) };
        let r = self.run(ctx, region.start, region.len);
        ctx.remove_region(&region);
        r
    }
}

/// The load-time checks and lowering shared by the interpreter and the JIT (which compiles
/// from the same lowered form, so both engines resolve helpers and `lddw` map forms alike
/// and refuse the same programs with the same [`LoadError`]).
pub(crate) fn prepare(
    insns: &[Located],
    helpers: &Registry,
    maps: Option<&dyn MapResolver>,
) -> Result<Vec<Op>, LoadError> {
    // Hand-built `Insn` values can hold fields the decoder never produces (an atomic
    // of one byte, a 64-bit sign-extending load): accept exactly what decodes.
    for l in insns {
        let (first, second) = l.insn.encode();
        isa::decode_one(&first, second.as_ref())
            .map_err(|kind| isa::DecodeError { slot: l.slot, kind })?;
    }
    isa::validate(insns)?;
    structure::check_call_depth(insns)?;
    lower::lower(insns, helpers, maps)
}

#[cfg(test)]
mod tests;
