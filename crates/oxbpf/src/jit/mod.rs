//! Native code generation for eBPF programs (x86-64).
//!
//! [`JitProgram::compile`] turns a program into x86-64 machine code that gives exactly the
//! interpreter's results: the same `r0`, memory, trace log, faults (kind, slot, address,
//! size) and `insn_count`. It compiles from the interpreter's own lowered form, so loading
//! checks, helper resolution and `lddw` map resolution are shared, not duplicated.
//!
//! - [`Mode::Checked`] (default): every load, store and atomic is bounds-checked against the
//!   run's stack and region table; stack accesses through `r10` with a constant in-frame
//!   offset need no check, others test the last region found inline and call into Rust
//!   only on a miss.
//! - [`Mode::Unchecked`]: no checks (atomics still require alignment), for verified code.
//!   Helper calls clobber r1-r5 as in the kernel (the interpreter leaves them unchanged;
//!   the verifier rejects reading them after a call), while checked mode preserves them so
//!   that even unverified programs see the interpreter's values.
//! - An instruction budget (default [`DEFAULT_BUDGET`]) counted per basic block; see
//!   `x86_64::compile` for the one difference from the interpreter (where inside a block a
//!   runaway program stops).
//! - Optional constant blinding (as the kernel's `bpf_jit_harden`): no ALU, jump, store or
//!   `lddw` immediate appears in the machine code, only `imm ^ key` and a per-instruction
//!   random `key` (shift counts, at most 6 bits, and memory offsets are left as they are).
//!
//! Helpers run BPF callbacks (`bpf_loop`...) through the run's
//! [`CallbackHook`], and a tail call `bpf_tail_call` leaves in the
//! context is performed as the interpreter does: right after the helper returns, compiled
//! code calls into Rust, which runs the target (a `JitProgram` through its own entry, or an
//! [`Interpreter`](crate::interp::Interpreter)) in the current call frame on the
//! instructions left; the current function then returns the target's `r0` to its caller
//! (ending the run at the entry function). Targets nest on the native stack, at most
//! [`MAX_TAIL_CALL_CNT`](crate::vm::MAX_TAIL_CALL_CNT) deep, as in the interpreter; calling
//! a compiled target's entry from Rust rather than jumping to it keeps one mechanism for
//! both engines, subprograms and callbacks, at the cost of a Rust call per tail call.
//! Helper calls end basic blocks, so callbacks and targets see the exact budget left.
//!
//! [`JitProgram::disassemble`] lists each eBPF instruction followed by its machine code
//! (Intel syntax), as `bpftool prog dump jited` does. With `OXBPF_PERF_MAP` set in the
//! environment, each compiled program is announced in `/tmp/perf-<pid>.map` for `perf`.
//!
//! ```
//! use oxbpf::helpers::Registry;
//! use oxbpf::jit::{JitOptions, JitProgram};
//! use oxbpf::vm::RunContext;
//!
//! let prog = oxbpf::asm::assemble_located("r0 = r1\nr0 += r2\nexit").unwrap();
//! let jit = JitProgram::compile(&prog, &Registry::standard(), None, JitOptions::new()).unwrap();
//! let mut ctx = RunContext::new();
//! assert_eq!(jit.run(&mut ctx, 40, 2).unwrap(), 42);
//! assert_eq!(ctx.insn_count, 3);
//! ```

mod listing;
pub mod x86_64;

use crate::helpers::Registry;
use crate::interp::{self, LoadError};
use crate::isa::Located;
use crate::vm::{Access, CallbackHook, Fault, FaultKind, MapResolver, MemRegion, RunContext};

pub use crate::interp::{Mode, RunError, DEFAULT_BUDGET};

use x86_64::compile::{self, Options};
use x86_64::runtime::{err, ld, JitFrame};
use x86_64::{AsmError, ExecMemory, MemoryError};

/// Why a program cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The program does not load (the interpreter's load checks).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The machine code cannot be laid out (more than 2 GiB).
    #[error("code layout: {0}")]
    Layout(#[from] AsmError),
    /// The executable mapping failed.
    #[error("executable memory: {0}")]
    Memory(#[from] MemoryError),
}

/// Compilation settings: mode, budget, blinding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JitOptions {
    mode: Mode,
    budget: Option<u64>,
    blinding: bool,
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions::new()
    }
}

impl JitOptions {
    /// Checked mode, the interpreter's default budget, no blinding.
    pub fn new() -> JitOptions {
        JitOptions {
            mode: Mode::Checked,
            budget: Some(DEFAULT_BUDGET),
            blinding: false,
        }
    }

    /// Instructions a run may execute (`None`: unlimited, and no counting code at all;
    /// `insn_count` is then reported as 0).
    pub fn budget(self, budget: Option<u64>) -> JitOptions {
        JitOptions { budget, ..self }
    }

    /// Constant blinding (kernel `bpf_jit_harden` style).
    pub fn blinding(self, blinding: bool) -> JitOptions {
        JitOptions { blinding, ..self }
    }

    /// Compiles without memory checks.
    ///
    /// # Safety
    /// Every memory access the program can make with the inputs it will be run with must be
    /// valid (as a verifier proves): an invalid access is undefined behaviour of the host.
    pub unsafe fn unchecked(self) -> JitOptions {
        JitOptions {
            mode: Mode::Unchecked,
            ..self
        }
    }

    /// The memory-checking mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

type Entry = unsafe extern "sysv64" fn(*mut JitFrame) -> u64;

/// A compiled program. Immutable and shareable: concurrent runs each use their own
/// [`RunContext`].
pub struct JitProgram {
    mem: ExecMemory,
    entry: Entry,
    /// Boxed so that the address compiled code's `callx` lookup uses stays put.
    helpers: Box<Registry>,
    insns: Vec<Located>,
    /// Start slots of the functions, sorted (valid callback targets).
    funcs: Vec<usize>,
    options: JitOptions,
    slot_offsets: Vec<usize>,
    body_start: usize,
    stubs_start: usize,
    tails: Vec<u32>,
}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("code_len", &self.mem.code_len())
            .field("slots", &self.slot_offsets.len())
            .field("options", &self.options)
            .finish()
    }
}

impl JitProgram {
    /// Compiles a decoded program; `maps` resolves `lddw` map forms (as for
    /// [`Interpreter::with_maps`](crate::interp::Interpreter::with_maps)).
    pub fn compile(
        insns: &[Located],
        helpers: &Registry,
        maps: Option<&dyn MapResolver>,
        options: JitOptions,
    ) -> Result<JitProgram, JitError> {
        let ops = interp::prepare(insns, helpers, maps)?;
        let funcs = crate::isa::function_starts(insns);
        let opt = Options {
            checked: options.mode == Mode::Checked,
            count: options.budget.is_some(),
            blinding: options.blinding,
            blind_seed: if options.blinding { blind_seed() } else { 0 },
        };
        let c = compile::compile(&ops, &funcs, opt)?;
        let mem = ExecMemory::new(&c.bytes)?;
        // SAFETY: offset 0 is the entry trampoline, compiled for exactly the `Entry`
        // signature; the pointer is stored next to `mem` and never outlives it.
        let entry: Entry = unsafe { mem.entry(0) }?;
        let prog = JitProgram {
            mem,
            entry,
            helpers: Box::new(helpers.clone()),
            insns: insns.to_vec(),
            funcs,
            options,
            slot_offsets: c.slot_offsets,
            body_start: c.body_start,
            stubs_start: c.stubs_start,
            tails: c.tails,
        };
        if std::env::var_os("OXBPF_PERF_MAP").is_some() {
            listing::write_perf_map(&prog.mem, insns.len());
        }
        Ok(prog)
    }

    /// The compilation settings.
    pub fn options(&self) -> JitOptions {
        self.options
    }

    /// The machine code.
    pub fn code(&self) -> &[u8] {
        self.mem.code()
    }

    /// Runs the program with `r1`, `r2` as arguments (`r3`-`r9` start at 0, `r10` at the
    /// top of the stack) and returns `r0` at the entry function's `exit`, exactly as
    /// [`Interpreter::run`](crate::interp::Interpreter::run): the same callbacks, tail calls
    /// (to compiled or interpreter programs), errors and `insn_count`.
    pub fn run(&self, ctx: &mut RunContext, r1: u64, r2: u64) -> Result<u64, RunError> {
        ctx.set_call_depth(0);
        ctx.fault = None;
        ctx.tail_call = None;
        ctx.tail_call_count = 0;
        let budget = self.options.budget.unwrap_or(u64::MAX);
        let mut remaining = budget;
        let r = self.run_nested(ctx, 0, 0, [r1, r2, 0, 0, 0], &mut remaining, budget);
        ctx.set_call_depth(0);
        ctx.tail_call = None;
        // Records the program reserved and never committed would block the ring.
        ctx.discard_ringbuf_records();
        ctx.insn_count = if self.options.budget.is_some() {
            budget - remaining
        } else {
            0
        };
        r
    }

    /// Whether a function starts at `slot` (a valid callback target).
    pub(crate) fn is_function(&self, slot: usize) -> bool {
        self.funcs.binary_search(&slot).is_ok()
    }

    /// The registry helpers and `callx` resolve through.
    pub(crate) fn registry(&self) -> &Registry {
        &self.helpers
    }

    /// Runs the function starting at `func` (a function start slot) in call frame `depth`
    /// with `args` in r1-r5, on the `*remaining` instructions left of a run of `budget`,
    /// with this program's callback hook installed (the previous one restored afterwards):
    /// a whole run, a callback, or a tail call into this program. Updates `*remaining` to
    /// exactly what the interpreter would have left (unchanged when compiled without a
    /// budget).
    pub(crate) fn run_nested(
        &self,
        ctx: &mut RunContext,
        func: usize,
        depth: usize,
        args: [u64; 5],
        remaining: &mut u64,
        budget: u64,
    ) -> Result<u64, RunError> {
        let off = self
            .slot_offsets
            .get(func)
            .copied()
            .unwrap_or(self.body_start);
        let entry_func = self.mem.as_ptr() as u64 + off as u64;
        let start = *remaining;
        let mut frame = JitFrame::new(ctx, self, entry_func, depth, args, start, budget);
        let fp: *mut JitFrame = &mut frame;
        let hook = CallbackHook {
            data: fp as *const (),
            call: x86_64::runtime::callback,
        };
        // SAFETY: `frame` outlives the run; the previous hook is restored before returning.
        let previous = unsafe { ctx.set_callback_hook(Some(hook)) };
        // SAFETY: the code was compiled from a program that passed the interpreter's load
        // checks; in checked mode every access it makes is checked against `ctx`'s stack and
        // regions (whose validity `add_region` guarantees), in unchecked mode
        // `JitOptions::unchecked`'s contract covers them. `entry_func` is a function start
        // (callers pass slot 0 or a checked function start) and `frame` outlives the call,
        // pointing at `ctx` and the registry, both alive for the whole run; nothing else
        // uses `frame` until the call returns.
        let r0 = unsafe { (self.entry)(fp) };
        // SAFETY: restores what was installed before (nothing, or the hook of an outer run
        // still in progress).
        unsafe { ctx.set_callback_hook(previous) };
        if frame.err_kind == 0 {
            // The common case, kept short: it runs once per test-run repeat.
            if self.options.budget.is_some() {
                *remaining = frame.remaining;
            }
            return Ok(r0);
        }
        self.run_error(frame, r0, remaining, budget)
    }

    /// The result of a run that stopped with `frame.err_kind != 0` (an error, or `Ok(0)`
    /// for an out-of-bounds legacy packet load); updates
    /// `*remaining` as the interpreter would have left it.
    #[cold]
    #[inline(never)]
    fn run_error(
        &self,
        mut frame: JitFrame,
        r0: u64,
        remaining: &mut u64,
        budget: u64,
    ) -> Result<u64, RunError> {
        let slot = frame.err_slot;
        let give_back = match frame.err_kind {
            0 | err::BUDGET | err::NESTED => 0,
            _ => u64::from(self.tails.get(slot as usize).copied().unwrap_or(0)),
        };
        if self.options.budget.is_some() {
            *remaining = frame.remaining + give_back;
        }
        let fault = frame.fault.unwrap_or(Fault {
            addr: frame.err_aux,
            size: frame.err_size,
            access: Access::Write,
            kind: FaultKind::Unaligned,
        });
        match frame.err_kind {
            0 => Ok(r0),
            err::MEMORY | err::UNALIGNED => Err(RunError::Memory { slot, fault }),
            err::HELPER_MEMORY => Err(RunError::HelperMemory {
                slot,
                helper: frame.err_aux as u32,
                fault,
            }),
            err::CALLX_MEMORY => Err(RunError::HelperMemory {
                slot,
                helper: frame.callx_id,
                fault,
            }),
            err::BUDGET => Err(RunError::Budget { slot, budget }),
            err::CALL_DEPTH => Err(RunError::CallDepth { slot }),
            err::UNKNOWN_HELPER => Err(RunError::UnknownHelper {
                slot,
                id: frame.err_aux,
            }),
            err::NESTED => Err(frame.nested.take().unwrap_or(RunError::CallDepth { slot })),
            _ if frame.status == ld::OUT_OF_BOUNDS => Ok(0),
            _ => Err(RunError::NoPacket { slot }),
        }
    }

    /// Runs with `mem` as the input memory: registered as a writable region for the run,
    /// `r1`/`r2` hold its address and length (as [`Interpreter::run_with_mem`](crate::interp::Interpreter::run_with_mem)).
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

    /// Each eBPF instruction (LLVM syntax) followed by its machine code (Intel syntax), as
    /// `bpftool prog dump jited` prints; the entry trampoline first and the out-of-line
    /// stubs last.
    pub fn disassemble(&self) -> String {
        listing::listing(self)
    }
}

impl crate::program::Engine for JitProgram {
    fn run(&self, ctx: &mut RunContext, r1: u64, r2: u64) -> Result<u64, RunError> {
        JitProgram::run(self, ctx, r1, r2)
    }
    fn name(&self) -> &'static str {
        "jit"
    }
    fn native_len(&self) -> usize {
        self.mem.code_len()
    }
    fn as_any(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// A per-compilation blinding seed from the standard library's randomly keyed hasher.
fn blind_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::helpers::monotonic_ns());
    h.finish()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_calls;
