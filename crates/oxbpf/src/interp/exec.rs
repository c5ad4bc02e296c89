//! The dispatch loop.
//!
//! One `match` on the pre-decoded [`Op`] per instruction, registers in a local array, the
//! stack bounds of the current call chain in locals for the checked-mode fast path.
//! `CHECKED` is a const parameter so the unchecked loop carries no check code at all.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::helpers::Registry;
use crate::isa::{AtomicOp, ByteOrder, JmpCond, Size};
use crate::vm::{
    Access, CallbackFailed, CallbackHook, Fault, FaultKind, MemRegion, RunContext, TailCall,
    MAX_CALL_FRAMES, STACK_FRAME_SIZE,
};

use super::error::{self, RunError};
use super::lower::Op;
use super::{Interpreter, Mode};

const EMPTY_REGION: MemRegion = MemRegion {
    start: 0,
    len: 0,
    writable: false,
};

/// A caller's state saved by a BPF-to-BPF call.
#[derive(Clone, Copy, Default)]
struct Frame {
    /// Slot to continue at after the callee exits.
    ret: usize,
    /// The caller's r6-r9 (callee-saved by the calling convention).
    saved: [u64; 4],
}

/// The program and the state a run shares with the callbacks helpers invoke (through the
/// [`CallbackHook`] installed in the context): the budget left, the current call depth,
/// and the error of a failed callback. `Cell`s because the hook reaches it through a shared
/// pointer while the loop that owns it is suspended in a helper call.
struct Shared<'a> {
    code: &'a [Op],
    registry: &'a Registry,
    /// Sorted start slots of the functions (valid callback targets).
    funcs: &'a [usize],
    /// The run's instruction budget (for error messages).
    budget: u64,
    remaining: Cell<u64>,
    depth: Cell<usize>,
    error: Cell<Option<RunError>>,
    /// Slot of the helper call that is running callbacks.
    call_slot: Cell<usize>,
}

/// Runs the program from slot 0 with `r1`, `r2` as arguments and at most `budget`
/// instructions. Sets `ctx.insn_count`.
///
/// With `CHECKED = false` no memory access is checked: the caller must guarantee (through
/// [`Interpreter::set_mode`](super::Interpreter::set_mode)'s contract) that every access
/// of the program is valid.
pub(super) fn run<const CHECKED: bool>(
    code: &[Op],
    registry: &Registry,
    funcs: &[usize],
    ctx: &mut RunContext,
    r1: u64,
    r2: u64,
    budget: u64,
) -> Result<u64, RunError> {
    let shared = Shared {
        code,
        registry,
        funcs,
        budget,
        remaining: Cell::new(budget),
        depth: Cell::new(0),
        error: Cell::new(None),
        call_slot: Cell::new(0),
    };
    ctx.fault = None;
    ctx.tail_call = None;
    ctx.tail_call_count = 0;
    let result = enter::<CHECKED>(&shared, ctx, 0, [r1, r2, 0, 0, 0]);
    ctx.set_call_depth(0);
    ctx.tail_call = None;
    // Records the program reserved and never committed would block the ring.
    ctx.discard_ringbuf_records();
    ctx.insn_count = budget - shared.remaining.get();
    result
}

/// Runs `shared`'s program from slot `start` in frame `shared.depth` with its callback hook
/// installed, restoring the previous hook afterwards (tail calls nest runs of other
/// programs).
fn enter<const CHECKED: bool>(
    shared: &Shared,
    ctx: &mut RunContext,
    start: usize,
    args: [u64; 5],
) -> Result<u64, RunError> {
    let hook = CallbackHook {
        data: shared as *const Shared as *const (),
        call: callback::<CHECKED>,
    };
    // SAFETY: `shared` outlives this call; the hook is removed (the previous one restored)
    // before it returns.
    let previous = unsafe { ctx.set_callback_hook(Some(hook)) };
    let result = run_from::<CHECKED>(shared, ctx, start, shared.depth.get(), args);
    // SAFETY: restores what was installed before (nothing, or an outer run's hook that is
    // still valid because that run is still in progress).
    unsafe { ctx.set_callback_hook(previous) };
    result
}

/// Performs the tail call `bpf_tail_call` left in the context, made at call depth `depth`
/// by the helper call at `slot`: runs the target program from its start in place of the
/// current function (same frame, fresh registers, `r1` = the helper's ctx argument, the
/// same budget) and returns its `r0` as the current function's return value. The target
/// may be an interpreter or a compiled program.
fn tail_call<const CHECKED: bool>(
    shared: &Shared,
    ctx: &mut RunContext,
    tc: TailCall,
    depth: usize,
    slot: usize,
) -> Result<u64, RunError> {
    let mut remaining = shared.remaining.get();
    let r = if let Some(target) = tc.program.downcast_ref::<Interpreter>() {
        run_tail_target(
            target,
            ctx,
            tc.ctx_arg,
            depth,
            &mut remaining,
            shared.budget,
            CHECKED,
        )
    } else if let Some(target) = tc.program.downcast_ref::<crate::jit::JitProgram>() {
        let args = [tc.ctx_arg, 0, 0, 0, 0];
        target.run_nested(ctx, 0, depth, args, &mut remaining, shared.budget)
    } else {
        Err(error::tail_call_target(slot, tc.prog_id))
    };
    shared.remaining.set(remaining);
    ctx.set_call_depth(depth);
    r
}

/// Runs `target` from its start in call frame `depth` with `r1` = `ctx_arg`, on the
/// `*remaining` instructions left of a run with `budget` (for error messages), updating
/// `*remaining`: a tail call into `target`. Checked if `checked` or `target` is.
pub(crate) fn run_tail_target(
    target: &Interpreter,
    ctx: &mut RunContext,
    ctx_arg: u64,
    depth: usize,
    remaining: &mut u64,
    budget: u64,
    checked: bool,
) -> Result<u64, RunError> {
    let inner = Shared {
        code: &target.code,
        registry: &target.helpers,
        funcs: &target.funcs,
        budget,
        remaining: Cell::new(*remaining),
        depth: Cell::new(depth),
        error: Cell::new(None),
        call_slot: Cell::new(0),
    };
    let args = [ctx_arg, 0, 0, 0, 0];
    // A target loaded as unverified is checked even when its caller is not.
    let r = if checked || target.mode == Mode::Checked {
        enter::<true>(&inner, ctx, 0, args)
    } else {
        enter::<false>(&inner, ctx, 0, args)
    };
    *remaining = inner.remaining.get();
    ctx.set_call_depth(depth);
    r
}

/// The [`CallbackHook`] of a run: calls the function starting at slot `func` in a new frame.
///
/// # Safety
/// `data` must point to the [`Shared`] of the run in progress.
unsafe fn callback<const CHECKED: bool>(
    data: *const (),
    ctx: &mut RunContext,
    func: u64,
    args: [u64; 5],
) -> Result<u64, CallbackFailed> {
    // SAFETY: per the function contract, `data` is the live `Shared` installed by `run`.
    let shared = unsafe { &*(data as *const Shared) };
    let depth = shared.depth.get();
    let slot = shared.call_slot.get();
    let fail = |e| {
        shared.error.set(Some(e));
        Err(CallbackFailed)
    };
    if shared.error.get().is_some() {
        return Err(CallbackFailed);
    }
    let Some(start) = usize::try_from(func)
        .ok()
        .filter(|f| shared.funcs.binary_search(f).is_ok())
    else {
        return fail(error::bad_callback(slot, func));
    };
    if depth + 1 >= MAX_CALL_FRAMES {
        return fail(error::call_depth(slot));
    }
    let r = run_from::<CHECKED>(shared, ctx, start, depth + 1, args);
    shared.depth.set(depth);
    shared.call_slot.set(slot);
    ctx.set_call_depth(depth);
    r.or_else(fail)
}

/// The dispatch loop: runs from slot `start` in frame `entry_depth` (0 for the program,
/// deeper for callbacks) with `args` in r1-r5 until that frame exits.
fn run_from<const CHECKED: bool>(
    shared: &Shared,
    ctx: &mut RunContext,
    start: usize,
    entry_depth: usize,
    args: [u64; 5],
) -> Result<u64, RunError> {
    let (code, registry) = (shared.code, shared.registry);
    // 16 entries so that `r & 15` indexes without a bounds check; r11-r15 are never used.
    let mut regs = [0u64; 16];
    let mut frames = [Frame::default(); MAX_CALL_FRAMES];
    let mut depth = entry_depth;
    ctx.set_call_depth(depth);
    let (mut stack_lo, stack_hi) = ctx.stack_range();
    // Size of the valid stack (all frames of the current chain), kept with `stack_lo`.
    let mut stack_span = stack_hi - stack_lo;
    regs[1..6].copy_from_slice(&args);
    regs[10] = ctx.frame_pointer(depth);
    let mut remaining = shared.remaining.get();
    let mut pc = start;

    macro_rules! r {
        ($i:expr) => {
            regs[($i & 15) as usize]
        };
    }
    macro_rules! fail {
        ($e:expr) => {
            break Err($e)
        };
    }
    // The region that satisfied the last non-stack access (empty: none yet). Reset after
    // helper calls, which may change the region table.
    let mut cached = EMPTY_REGION;
    // Around helper calls: publish the budget and depth for callbacks the helper may run,
    // then take back what they used, and stop if one failed. Helpers may also change the
    // region table, so the cached region is dropped.
    macro_rules! sync_out {
        () => {
            shared.remaining.set(remaining);
            shared.depth.set(depth);
            shared.call_slot.set(pc - 1);
        };
    }
    macro_rules! sync_in {
        () => {
            remaining = shared.remaining.get();
            cached = EMPTY_REGION;
            if let Some(e) = shared.error.take() {
                fail!(e);
            }
        };
    }
    // Leaves the current function: ends this execution at its entry frame, else returns
    // to the caller frame.
    macro_rules! exit {
        () => {{
            if depth == entry_depth {
                break Ok(regs[0]);
            }
            depth -= 1;
            let f = frames[depth];
            [regs[6], regs[7], regs[8], regs[9]] = f.saved;
            regs[10] = stack_hi - (depth * STACK_FRAME_SIZE) as u64;
            stack_lo = regs[10] - STACK_FRAME_SIZE as u64;
            stack_span = stack_hi - stack_lo;
            ctx.set_call_depth(depth);
            pc = f.ret;
        }};
    }
    // After a helper: a tail call it decided replaces the current function, whose return
    // value becomes the target's.
    macro_rules! take_tail_call {
        () => {
            if let Some(tc) = ctx.tail_call.take() {
                shared.remaining.set(remaining);
                let r = tail_call::<CHECKED>(shared, ctx, tc, depth, pc - 1);
                // Also after a failed target: its instructions count.
                remaining = shared.remaining.get();
                match r {
                    Ok(r0) => regs[0] = r0,
                    Err(e) => fail!(e),
                }
                exit!();
            }
        };
    }
    // Checked mode: the access must be inside the current call chain's stack, the cached
    // region, or a region of the table.
    macro_rules! check {
        ($a:expr, $size:expr, $access:expr) => {
            if CHECKED
                && $a.wrapping_sub(stack_lo) > stack_span - $size
                && !(cached.contains($a, $size) && (cached.writable || $access == Access::Read))
            {
                match ctx.find_region($a, $size, $access) {
                    Ok(r) => cached = r,
                    Err(f) => fail!(error::memory(pc - 1, f)),
                }
            }
        };
    }
    macro_rules! load {
        ($ty:ty, $base:expr, $off:expr) => {{
            let a = r!($base).wrapping_add($off as i64 as u64);
            check!(a, size_of::<$ty>() as u64, Access::Read);
            // SAFETY: checked mode: `[a, a + size)` lies in the current chain's stack or a
            // region registered readable (whose validity `add_region`'s contract
            // guarantees). Unchecked mode: guaranteed by `set_mode`'s contract.
            unsafe { (a as *const $ty).read_unaligned() }
        }};
    }
    macro_rules! store {
        ($ty:ty, $base:expr, $off:expr, $v:expr) => {{
            let a = r!($base).wrapping_add($off as i64 as u64);
            check!(a, size_of::<$ty>() as u64, Access::Write);
            // SAFETY: as for `load!`, with the region registered writable.
            unsafe { (a as *mut $ty).write_unaligned($v as $ty) }
        }};
    }
    macro_rules! jmp {
        ($cond:expr, $a:expr, $b:expr, $t:expr) => {
            if $cond.eval64($a, $b) {
                pc = $t as usize;
            }
        };
    }

    let result = loop {
        if remaining == 0 {
            fail!(error::budget(pc, shared.budget));
        }
        remaining -= 1;
        debug_assert!(pc < code.len());
        // SAFETY: `pc` is always a valid index. The program passed `isa::validate` at load
        // time: it starts at slot 0 of a non-empty program, every jump and call target is
        // in range, the last instruction is a terminator (so a fall-through successor, the
        // slot after `lddw`, and a call's return slot exist), and `exit` of frame 0 leaves
        // the loop.
        let op = unsafe { *code.get_unchecked(pc) };
        pc += 1;
        match op {
            Op::Add64I { d, imm } => r!(d) = r!(d).wrapping_add(imm as u64),
            Op::Sub64I { d, imm } => r!(d) = r!(d).wrapping_sub(imm as u64),
            Op::Mul64I { d, imm } => r!(d) = r!(d).wrapping_mul(imm as u64),
            Op::Div64I { d, imm } => r!(d) = r!(d).checked_div(imm as u64).unwrap_or(0),
            Op::Sdiv64I { d, imm } => r!(d) = sdiv64(r!(d), imm as u64),
            Op::Or64I { d, imm } => r!(d) |= imm as u64,
            Op::And64I { d, imm } => r!(d) &= imm as u64,
            Op::Lsh64I { d, imm } => r!(d) = r!(d).wrapping_shl(imm as u32),
            Op::Rsh64I { d, imm } => r!(d) = r!(d).wrapping_shr(imm as u32),
            Op::Mod64I { d, imm } => r!(d) = r!(d).checked_rem(imm as u64).unwrap_or(r!(d)),
            Op::Smod64I { d, imm } => r!(d) = smod64(r!(d), imm as u64),
            Op::Xor64I { d, imm } => r!(d) ^= imm as u64,
            Op::Mov64I { d, imm } => r!(d) = imm as u64,
            Op::Arsh64I { d, imm } => r!(d) = (r!(d) as i64).wrapping_shr(imm as u32) as u64,
            Op::Add64R { d, s } => r!(d) = r!(d).wrapping_add(r!(s)),
            Op::Sub64R { d, s } => r!(d) = r!(d).wrapping_sub(r!(s)),
            Op::Mul64R { d, s } => r!(d) = r!(d).wrapping_mul(r!(s)),
            Op::Div64R { d, s } => r!(d) = r!(d).checked_div(r!(s)).unwrap_or(0),
            Op::Sdiv64R { d, s } => r!(d) = sdiv64(r!(d), r!(s)),
            Op::Or64R { d, s } => r!(d) |= r!(s),
            Op::And64R { d, s } => r!(d) &= r!(s),
            Op::Lsh64R { d, s } => r!(d) = r!(d).wrapping_shl(r!(s) as u32),
            Op::Rsh64R { d, s } => r!(d) = r!(d).wrapping_shr(r!(s) as u32),
            Op::Mod64R { d, s } => r!(d) = r!(d).checked_rem(r!(s)).unwrap_or(r!(d)),
            Op::Smod64R { d, s } => r!(d) = smod64(r!(d), r!(s)),
            Op::Xor64R { d, s } => r!(d) ^= r!(s),
            Op::Mov64R { d, s } => r!(d) = r!(s),
            Op::Arsh64R { d, s } => r!(d) = (r!(d) as i64).wrapping_shr(r!(s) as u32) as u64,
            Op::Add32I { d, imm } => r!(d) = (r!(d) as u32).wrapping_add(imm) as u64,
            Op::Sub32I { d, imm } => r!(d) = (r!(d) as u32).wrapping_sub(imm) as u64,
            Op::Mul32I { d, imm } => r!(d) = (r!(d) as u32).wrapping_mul(imm) as u64,
            Op::Div32I { d, imm } => r!(d) = (r!(d) as u32).checked_div(imm).unwrap_or(0) as u64,
            Op::Sdiv32I { d, imm } => r!(d) = sdiv32(r!(d), imm),
            Op::Or32I { d, imm } => r!(d) = (r!(d) as u32 | imm) as u64,
            Op::And32I { d, imm } => r!(d) = (r!(d) as u32 & imm) as u64,
            Op::Lsh32I { d, imm } => r!(d) = (r!(d) as u32).wrapping_shl(imm) as u64,
            Op::Rsh32I { d, imm } => r!(d) = (r!(d) as u32).wrapping_shr(imm) as u64,
            Op::Mod32I { d, imm } => r!(d) = mod32(r!(d), imm),
            Op::Smod32I { d, imm } => r!(d) = smod32(r!(d), imm),
            Op::Xor32I { d, imm } => r!(d) = (r!(d) as u32 ^ imm) as u64,
            Op::Mov32I { d, imm } => r!(d) = imm as u64,
            Op::Arsh32I { d, imm } => r!(d) = (r!(d) as i32).wrapping_shr(imm) as u32 as u64,
            Op::Add32R { d, s } => r!(d) = (r!(d) as u32).wrapping_add(r!(s) as u32) as u64,
            Op::Sub32R { d, s } => r!(d) = (r!(d) as u32).wrapping_sub(r!(s) as u32) as u64,
            Op::Mul32R { d, s } => r!(d) = (r!(d) as u32).wrapping_mul(r!(s) as u32) as u64,
            Op::Div32R { d, s } => {
                r!(d) = (r!(d) as u32).checked_div(r!(s) as u32).unwrap_or(0) as u64
            }
            Op::Sdiv32R { d, s } => r!(d) = sdiv32(r!(d), r!(s) as u32),
            Op::Or32R { d, s } => r!(d) = (r!(d) as u32 | r!(s) as u32) as u64,
            Op::And32R { d, s } => r!(d) = (r!(d) as u32 & r!(s) as u32) as u64,
            Op::Lsh32R { d, s } => r!(d) = (r!(d) as u32).wrapping_shl(r!(s) as u32) as u64,
            Op::Rsh32R { d, s } => r!(d) = (r!(d) as u32).wrapping_shr(r!(s) as u32) as u64,
            Op::Mod32R { d, s } => r!(d) = mod32(r!(d), r!(s) as u32),
            Op::Smod32R { d, s } => r!(d) = smod32(r!(d), r!(s) as u32),
            Op::Xor32R { d, s } => r!(d) = (r!(d) as u32 ^ r!(s) as u32) as u64,
            Op::Mov32R { d, s } => r!(d) = r!(s) as u32 as u64,
            Op::Arsh32R { d, s } => r!(d) = (r!(d) as i32).wrapping_shr(r!(s) as u32) as u32 as u64,
            Op::Neg64 { d } => r!(d) = r!(d).wrapping_neg(),
            Op::Neg32 { d } => r!(d) = (r!(d) as u32).wrapping_neg() as u64,
            Op::MovSx64 { d, s, bits } => {
                let v = r!(s);
                r!(d) = match bits {
                    8 => v as i8 as i64,
                    16 => v as i16 as i64,
                    _ => v as i32 as i64,
                } as u64
            }
            Op::MovSx32 { d, s, bits } => {
                let v = r!(s);
                r!(d) = match bits {
                    8 => v as i8 as i32,
                    _ => v as i16 as i32,
                } as u32 as u64
            }
            Op::End { d, order, bits } => r!(d) = byte_order(r!(d), order, bits),
            Op::LdDw { d, imm } => {
                r!(d) = imm;
                pc += 1;
            }
            Op::LdDwTail => {}
            Op::LdxB { d, s, off } => r!(d) = load!(u8, s, off) as u64,
            Op::LdxH { d, s, off } => r!(d) = load!(u16, s, off) as u64,
            Op::LdxW { d, s, off } => r!(d) = load!(u32, s, off) as u64,
            Op::LdxDW { d, s, off } => r!(d) = load!(u64, s, off),
            Op::LdxSB { d, s, off } => r!(d) = load!(i8, s, off) as i64 as u64,
            Op::LdxSH { d, s, off } => r!(d) = load!(i16, s, off) as i64 as u64,
            Op::LdxSW { d, s, off } => r!(d) = load!(i32, s, off) as i64 as u64,
            Op::StB { d, off, imm } => store!(u8, d, off, imm),
            Op::StH { d, off, imm } => store!(u16, d, off, imm),
            Op::StW { d, off, imm } => store!(u32, d, off, imm),
            Op::StDW { d, off, imm } => store!(u64, d, off, imm as i64),
            Op::StxB { d, s, off } => store!(u8, d, off, r!(s)),
            Op::StxH { d, s, off } => store!(u16, d, off, r!(s)),
            Op::StxW { d, s, off } => store!(u32, d, off, r!(s)),
            Op::StxDW { d, s, off } => store!(u64, d, off, r!(s)),
            Op::Atomic {
                size,
                op,
                fetch,
                d,
                s,
                off,
            } => {
                let a = r!(d).wrapping_add(off as i64 as u64);
                let n = size.bytes() as u64;
                // Misalignment is refused in both modes: the host atomics require it.
                if a % n != 0 {
                    fail!(error::memory(
                        pc - 1,
                        Fault {
                            addr: a,
                            size: n as u32,
                            access: Access::Write,
                            kind: FaultKind::Unaligned,
                        }
                    ));
                }
                check!(a, n, Access::Write);
                let (src, expected) = (r!(s), regs[0]);
                // SAFETY: `a` is aligned for the access size and (checked mode) inside a
                // writable region or the stack, or (unchecked) valid by `set_mode`'s
                // contract; all concurrent accesses to shared memory by other runs are
                // atomic too.
                let old = unsafe { atomic(a, size, op, src, expected) };
                if op == AtomicOp::Cmpxchg {
                    regs[0] = old;
                } else if fetch {
                    r!(s) = old;
                }
            }
            Op::LdAbs { size, imm } => match ld_packet(ctx, size, imm as i64 as u64) {
                Some(Some(v)) => regs[0] = v,
                // Out of bounds: the kernel's LD_ABS ends the program with 0.
                Some(None) => break Ok(0),
                None => fail!(error::no_packet(pc - 1)),
            },
            Op::LdInd { size, s, imm } => {
                let off = r!(s).wrapping_add(imm as i64 as u64);
                match ld_packet(ctx, size, off) {
                    Some(Some(v)) => regs[0] = v,
                    Some(None) => break Ok(0),
                    None => fail!(error::no_packet(pc - 1)),
                }
            }
            Op::Ja { t } => pc = t as usize,
            Op::JeqI { d, imm, t } => jmp!(JmpCond::Eq, r!(d), imm as u64, t),
            Op::JgtI { d, imm, t } => jmp!(JmpCond::Gt, r!(d), imm as u64, t),
            Op::JgeI { d, imm, t } => jmp!(JmpCond::Ge, r!(d), imm as u64, t),
            Op::JsetI { d, imm, t } => jmp!(JmpCond::Set, r!(d), imm as u64, t),
            Op::JneI { d, imm, t } => jmp!(JmpCond::Ne, r!(d), imm as u64, t),
            Op::JsgtI { d, imm, t } => jmp!(JmpCond::Sgt, r!(d), imm as u64, t),
            Op::JsgeI { d, imm, t } => jmp!(JmpCond::Sge, r!(d), imm as u64, t),
            Op::JltI { d, imm, t } => jmp!(JmpCond::Lt, r!(d), imm as u64, t),
            Op::JleI { d, imm, t } => jmp!(JmpCond::Le, r!(d), imm as u64, t),
            Op::JsltI { d, imm, t } => jmp!(JmpCond::Slt, r!(d), imm as u64, t),
            Op::JsleI { d, imm, t } => jmp!(JmpCond::Sle, r!(d), imm as u64, t),
            Op::JeqR { d, s, t } => jmp!(JmpCond::Eq, r!(d), r!(s), t),
            Op::JgtR { d, s, t } => jmp!(JmpCond::Gt, r!(d), r!(s), t),
            Op::JgeR { d, s, t } => jmp!(JmpCond::Ge, r!(d), r!(s), t),
            Op::JsetR { d, s, t } => jmp!(JmpCond::Set, r!(d), r!(s), t),
            Op::JneR { d, s, t } => jmp!(JmpCond::Ne, r!(d), r!(s), t),
            Op::JsgtR { d, s, t } => jmp!(JmpCond::Sgt, r!(d), r!(s), t),
            Op::JsgeR { d, s, t } => jmp!(JmpCond::Sge, r!(d), r!(s), t),
            Op::JltR { d, s, t } => jmp!(JmpCond::Lt, r!(d), r!(s), t),
            Op::JleR { d, s, t } => jmp!(JmpCond::Le, r!(d), r!(s), t),
            Op::JsltR { d, s, t } => jmp!(JmpCond::Slt, r!(d), r!(s), t),
            Op::JsleR { d, s, t } => jmp!(JmpCond::Sle, r!(d), r!(s), t),
            Op::Jmp32I { cond, d, imm, t } => {
                if cond.eval32(r!(d), imm as u64) {
                    pc = t as usize;
                }
            }
            Op::Jmp32R { cond, d, s, t } => {
                if cond.eval32(r!(d), r!(s)) {
                    pc = t as usize;
                }
            }
            Op::CallHelper { id, f } => {
                sync_out!();
                regs[0] = f(regs[1], regs[2], regs[3], regs[4], regs[5], ctx);
                sync_in!();
                if let Some(fault) = ctx.fault.take() {
                    fail!(error::helper_memory(pc - 1, id, fault));
                }
                take_tail_call!();
            }
            Op::Callx { r } => {
                let id = r!(r);
                let Some(h) = u32::try_from(id).ok().and_then(|id| registry.get(id)) else {
                    fail!(error::unknown_helper(pc - 1, id));
                };
                sync_out!();
                regs[0] = (h.func)(regs[1], regs[2], regs[3], regs[4], regs[5], ctx);
                sync_in!();
                if let Some(fault) = ctx.fault.take() {
                    fail!(error::helper_memory(pc - 1, h.id, fault));
                }
                take_tail_call!();
            }
            Op::CallLocal { t } => {
                if depth + 1 >= MAX_CALL_FRAMES {
                    fail!(error::call_depth(pc - 1));
                }
                frames[depth] = Frame {
                    ret: pc,
                    saved: [regs[6], regs[7], regs[8], regs[9]],
                };
                depth += 1;
                regs[10] = stack_hi - (depth * STACK_FRAME_SIZE) as u64;
                stack_lo = regs[10] - STACK_FRAME_SIZE as u64;
                stack_span = stack_hi - stack_lo;
                ctx.set_call_depth(depth);
                pc = t as usize;
            }
            Op::Exit => exit!(),
        }
    };
    shared.remaining.set(remaining);
    result
}

/// Signed 64-bit division: by zero gives 0, `INT_MIN / -1` wraps to `INT_MIN`.
#[inline(always)]
fn sdiv64(a: u64, b: u64) -> u64 {
    if b == 0 {
        0
    } else {
        (a as i64).wrapping_div(b as i64) as u64
    }
}

/// Signed 64-bit modulo: by zero leaves `a`, `INT_MIN % -1` is 0.
#[inline(always)]
fn smod64(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        (a as i64).wrapping_rem(b as i64) as u64
    }
}

#[inline(always)]
fn sdiv32(a: u64, b: u32) -> u64 {
    if b == 0 {
        0
    } else {
        (a as i32).wrapping_div(b as i32) as u32 as u64
    }
}

/// 32-bit modulo by zero leaves the low 32 bits of `a`, zero-extended.
#[inline(always)]
fn mod32(a: u64, b: u32) -> u64 {
    (a as u32).checked_rem(b).unwrap_or(a as u32) as u64
}

#[inline(always)]
fn smod32(a: u64, b: u32) -> u64 {
    if b == 0 {
        a as u32 as u64
    } else {
        (a as i32).wrapping_rem(b as i32) as u32 as u64
    }
}

/// `End` semantics (RFC 9669 §4.2): convert the low `bits` to the byte order, zero-extend.
fn byte_order(v: u64, order: ByteOrder, bits: u8) -> u64 {
    match (order, bits) {
        (ByteOrder::ToLe, 16) => (v as u16).to_le() as u64,
        (ByteOrder::ToLe, 32) => (v as u32).to_le() as u64,
        (ByteOrder::ToLe, _) => v.to_le(),
        (ByteOrder::ToBe, 16) => (v as u16).to_be() as u64,
        (ByteOrder::ToBe, 32) => (v as u32).to_be() as u64,
        (ByteOrder::ToBe, _) => v.to_be(),
        (ByteOrder::Swap, 16) => (v as u16).swap_bytes() as u64,
        (ByteOrder::Swap, 32) => (v as u32).swap_bytes() as u64,
        (ByteOrder::Swap, _) => v.swap_bytes(),
    }
}

/// Performs an atomic read-modify-write and returns the old value (zero-extended).
///
/// # Safety
/// `addr` must be aligned to `size` and valid for reads and writes of `size` bytes.
unsafe fn atomic(addr: u64, size: Size, op: AtomicOp, src: u64, expected: u64) -> u64 {
    const ORD: Ordering = Ordering::SeqCst;
    if size == Size::W {
        // SAFETY: aligned and valid per the function contract.
        let p = unsafe { AtomicU32::from_ptr(addr as *mut u32) };
        let v = src as u32;
        (match op {
            AtomicOp::Add => p.fetch_add(v, ORD),
            AtomicOp::Or => p.fetch_or(v, ORD),
            AtomicOp::And => p.fetch_and(v, ORD),
            AtomicOp::Xor => p.fetch_xor(v, ORD),
            AtomicOp::Xchg => p.swap(v, ORD),
            AtomicOp::Cmpxchg => p
                .compare_exchange(expected as u32, v, ORD, ORD)
                .unwrap_or_else(|old| old),
        }) as u64
    } else {
        // SAFETY: aligned and valid per the function contract.
        let p = unsafe { AtomicU64::from_ptr(addr as *mut u64) };
        match op {
            AtomicOp::Add => p.fetch_add(src, ORD),
            AtomicOp::Or => p.fetch_or(src, ORD),
            AtomicOp::And => p.fetch_and(src, ORD),
            AtomicOp::Xor => p.fetch_xor(src, ORD),
            AtomicOp::Xchg => p.swap(src, ORD),
            AtomicOp::Cmpxchg => p
                .compare_exchange(expected, src, ORD, ORD)
                .unwrap_or_else(|old| old),
        }
    }
}

/// Legacy packet load: `size` bytes at packet offset `off`, big-endian. `None` if the
/// context has no packet, `Some(None)` if the access is outside the packet. The offset is
/// an `int` as in the kernel's `bpf_skb_load_helper_*`, so negative offsets (the kernel's
/// ancillary `SKF_*_OFF` areas, which oxbpf does not model) are outside.
#[inline(never)]
pub(crate) fn ld_packet(ctx: &RunContext, size: Size, off: u64) -> Option<Option<u64>> {
    let (data, len) = ctx.packet()?;
    let off = off as i32;
    let n = size.bytes() as u64;
    if off < 0 || (off as u64) > len || n > len - off as u64 {
        return Some(None);
    }
    let a = data + off as u64;
    // SAFETY: `[a, a + n)` lies in the packet, readable by `set_packet`'s contract.
    let v = unsafe {
        match size {
            Size::B => (a as *const u8).read() as u64,
            Size::H => u16::from_be((a as *const u16).read_unaligned()) as u64,
            Size::W => u32::from_be((a as *const u32).read_unaligned()) as u64,
            Size::DW => u64::from_be((a as *const u64).read_unaligned()),
        }
    };
    Some(Some(v))
}
