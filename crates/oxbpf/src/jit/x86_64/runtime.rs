//! The per-run state compiled code works on ([`JitFrame`]) and the Rust functions it calls
//! on its slow paths (region-table checks, the fault check after a helper, `callx` lookup,
//! legacy packet loads).
//!
//! Compiled code keeps a pointer to the frame in `r12` and reads the fields before
//! `fault` at the `OFF_*` offsets; everything from `fault` on is only touched from Rust.

use std::mem::offset_of;

use crate::helpers::Registry;
use crate::interp::{Interpreter, RunError};
use crate::isa::Size;
use crate::jit::JitProgram;
use crate::vm::{
    Access, CallbackFailed, Fault, MemRegion, RunContext, MAX_CALL_FRAMES, STACK_FRAME_SIZE,
};

/// Why compiled code stopped early (`JitFrame::err_kind`). 0: it did not.
pub(crate) mod err {
    /// A load/store left the valid memory; `JitFrame::fault` says how.
    pub const MEMORY: u32 = 1;
    /// An atomic at a misaligned address (`err_aux` = address, `err_size` = size).
    pub const UNALIGNED: u32 = 2;
    /// A helper recorded a fault; `err_aux` = helper id.
    pub const HELPER_MEMORY: u32 = 3;
    /// A `callx` helper recorded a fault; the id is in `JitFrame::callx_id`.
    pub const CALLX_MEMORY: u32 = 4;
    /// The instruction budget ran out at the block starting at `err_slot`.
    pub const BUDGET: u32 = 5;
    /// A BPF-to-BPF call would exceed the frame limit.
    pub const CALL_DEPTH: u32 = 6;
    /// `callx` with an unknown helper id (in `err_aux`).
    pub const UNKNOWN_HELPER: u32 = 7;
    /// `LD_ABS`/`LD_IND` stopped the program; `status` says why (see `ld`).
    pub const LD_PACKET: u32 = 8;
    /// A callback or tail-call target failed; the error is in `JitFrame::nested`.
    pub const NESTED: u32 = 9;
}

/// `JitFrame::status` values after a helper call (0: continue).
pub(crate) mod status {
    /// The helper recorded a memory fault (now in `JitFrame::fault`).
    pub const FAULT: u32 = 1;
    /// A callback the helper ran failed (the error is in `JitFrame::nested`).
    pub const NESTED: u32 = 2;
    /// The helper left a tail call to perform (`RunContext::tail_call`).
    pub const TAIL_CALL: u32 = 3;
}

/// `JitFrame::status` values after a legacy packet load.
pub(crate) mod ld {
    /// Outside the packet: the program ends with `r0 = 0`.
    pub const OUT_OF_BOUNDS: u32 = 1;
    /// The run context has no packet.
    pub const NO_PACKET: u32 = 2;
}

/// A cached region as compiled code tests it: `addr - start < lim[k]` accepts an access of
/// `1 << k` bytes (`lim[k] = len - size + 1`, 0 when the region is smaller than the access).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RegionCache {
    start: u64,
    lim: [u64; 4],
}

impl RegionCache {
    fn set(&mut self, r: &MemRegion) {
        self.start = r.start;
        for (k, lim) in self.lim.iter_mut().enumerate() {
            *lim = r.len.saturating_sub((1u64 << k) - 1);
        }
    }
}

/// The state of one run of compiled code.
#[repr(C)]
pub(crate) struct JitFrame {
    pub ctx: *mut RunContext,
    /// `rsp` right after the entry trampoline's pushes: errors unwind to it.
    pub saved_rsp: u64,
    /// Instructions left (copied to/from `r9` at entry and exit).
    pub remaining: u64,
    /// A call is refused when `r10 <= min_fp` (the chain would get a ninth frame).
    pub min_fp: u64,
    pub err_kind: u32,
    pub err_slot: u32,
    /// Set by the Rust slow paths: nonzero after a helper fault or a failed packet load.
    pub status: u32,
    pub err_size: u32,
    pub err_aux: u64,
    /// Scratch memory for the compiled code (divisor immediates, a spilled register).
    pub scratch: u64,
    /// `r9` (the budget) during helper calls: callbacks the helper runs use and update it.
    pub r9_save: u64,
    pub read_cache: RegionCache,
    pub write_cache: RegionCache,
    /// What the trampoline starts with: r1-r5, `r10`, and the function's code address.
    pub args: [u64; 5],
    pub entry_fp: u64,
    pub entry_func: u64,
    /// Slot of the helper call in progress (for errors of the callbacks it runs).
    pub call_slot: u32,
    // ---- Rust only ----
    pub fault: Option<Fault>,
    pub callx_id: u32,
    pub registry: *const Registry,
    /// The error of a failed callback or tail-call target.
    pub nested: Option<RunError>,
    /// The program being run (for callbacks) and the run's budget (for errors).
    pub prog: *const JitProgram,
    pub budget: u64,
}

pub(crate) const OFF_CTX: i32 = offset_of!(JitFrame, ctx) as i32;
pub(crate) const OFF_SAVED_RSP: i32 = offset_of!(JitFrame, saved_rsp) as i32;
pub(crate) const OFF_REMAINING: i32 = offset_of!(JitFrame, remaining) as i32;
pub(crate) const OFF_MIN_FP: i32 = offset_of!(JitFrame, min_fp) as i32;
pub(crate) const OFF_ERR_KIND: i32 = offset_of!(JitFrame, err_kind) as i32;
pub(crate) const OFF_ERR_SLOT: i32 = offset_of!(JitFrame, err_slot) as i32;
pub(crate) const OFF_STATUS: i32 = offset_of!(JitFrame, status) as i32;
pub(crate) const OFF_ERR_SIZE: i32 = offset_of!(JitFrame, err_size) as i32;
pub(crate) const OFF_ERR_AUX: i32 = offset_of!(JitFrame, err_aux) as i32;
pub(crate) const OFF_SCRATCH: i32 = offset_of!(JitFrame, scratch) as i32;
pub(crate) const OFF_R9_SAVE: i32 = offset_of!(JitFrame, r9_save) as i32;
pub(crate) const OFF_READ_CACHE: i32 = offset_of!(JitFrame, read_cache) as i32;
pub(crate) const OFF_WRITE_CACHE: i32 = offset_of!(JitFrame, write_cache) as i32;
pub(crate) const OFF_ARGS: i32 = offset_of!(JitFrame, args) as i32;
pub(crate) const OFF_ENTRY_FP: i32 = offset_of!(JitFrame, entry_fp) as i32;
pub(crate) const OFF_ENTRY_FUNC: i32 = offset_of!(JitFrame, entry_func) as i32;
pub(crate) const OFF_CALL_SLOT: i32 = offset_of!(JitFrame, call_slot) as i32;
/// Offset of `lim` inside a [`RegionCache`].
pub(crate) const OFF_CACHE_LIM: i32 = offset_of!(RegionCache, lim) as i32;

impl JitFrame {
    /// A frame for running the function at code address `entry_func` of `prog` in call
    /// frame `depth` with `args` in r1-r5 and `remaining` instructions left of `budget`.
    pub(crate) fn new(
        ctx: &mut RunContext,
        prog: &JitProgram,
        entry_func: u64,
        depth: usize,
        args: [u64; 5],
        remaining: u64,
        budget: u64,
    ) -> JitFrame {
        let (_, hi) = ctx.stack_range();
        JitFrame {
            entry_fp: ctx.frame_pointer(depth),
            ctx,
            saved_rsp: 0,
            remaining,
            min_fp: ctx_min_fp(hi),
            err_kind: 0,
            err_slot: 0,
            status: 0,
            err_size: 0,
            err_aux: 0,
            scratch: 0,
            r9_save: 0,
            read_cache: RegionCache::default(),
            write_cache: RegionCache::default(),
            args,
            entry_func,
            call_slot: 0,
            fault: None,
            callx_id: 0,
            registry: prog.registry(),
            nested: None,
            prog,
            budget,
        }
    }
}

/// The call depth of the function running in `ctx` (compiled code keeps the context's
/// valid stack in step with calls).
pub(crate) fn call_depth(ctx: &RunContext) -> usize {
    let (lo, hi) = ctx.stack_range();
    ((hi - lo) / STACK_FRAME_SIZE as u64) as usize - 1
}

/// The lowest frame pointer from which a call is still allowed: frame depth 6 (the callee
/// gets depth 7, the eighth frame).
fn ctx_min_fp(stack_hi: u64) -> u64 {
    stack_hi - ((MAX_CALL_FRAMES - 1) * STACK_FRAME_SIZE) as u64
}

/// Checked-mode slow path: `[addr, addr + size)` must be in the call chain's stack or one
/// registered region (writable when bit 8 of `size_access` is set). Returns 0 when the
/// access is allowed (caching the region), 1 after recording the fault in the frame.
pub(crate) extern "C" fn check_access(frame: *mut JitFrame, addr: u64, size_access: u64) -> u64 {
    // SAFETY: compiled code passes the frame `JitProgram::run` created for this run; no
    // other reference to it is in use while compiled code runs.
    let frame = unsafe { &mut *frame };
    // SAFETY: `ctx` is the run's context, exclusively borrowed by `run` for the whole run;
    // helpers get it only while they run, never at the same time as this function.
    let ctx = unsafe { &mut *frame.ctx };
    let size = size_access & 0xff;
    let access = if size_access & 0x100 != 0 {
        Access::Write
    } else {
        Access::Read
    };
    let (lo, hi) = ctx.stack_range();
    // The stack spans at least one 512-byte frame, so `span - size` cannot underflow.
    if addr.wrapping_sub(lo) <= (hi - lo) - size {
        return 0;
    }
    match ctx.find_region(addr, size, access) {
        Ok(r) => {
            frame.read_cache.set(&r);
            if r.writable {
                frame.write_cache.set(&r);
            }
            0
        }
        Err(f) => {
            frame.fault = Some(f);
            1
        }
    }
}

/// Called right after every helper with the helper's return value (passed through): sets
/// `status` as the interpreter orders the checks after a helper (a failed callback, then a
/// fault the helper recorded, then a pending tail call); forgets the cached regions since
/// the helper may have changed the table.
pub(crate) extern "C" fn after_helper(frame: *mut JitFrame, ret: u64) -> u64 {
    // SAFETY: as in `check_access`.
    let frame = unsafe { &mut *frame };
    // SAFETY: as in `check_access`; the helper has returned.
    let ctx = unsafe { &mut *frame.ctx };
    frame.read_cache = RegionCache::default();
    frame.write_cache = RegionCache::default();
    if frame.nested.is_some() {
        frame.status = status::NESTED;
    } else if let Some(f) = ctx.fault.take() {
        frame.fault = Some(f);
        frame.status = status::FAULT;
    } else if ctx.tail_call.is_some() {
        frame.status = status::TAIL_CALL;
    }
    ret
}

/// Performs the tail call the helper at `slot` left in the context: runs the target (a
/// compiled program or an interpreter program) in place of the current function, in the
/// same call frame, on the instructions left in `remaining`, and returns its `r0`. On
/// failure the error goes to `nested` and `status` stays nonzero.
pub(crate) extern "C" fn tail_call(frame: *mut JitFrame, slot: u64) -> u64 {
    // SAFETY: as in `check_access`.
    let frame = unsafe { &mut *frame };
    // SAFETY: as in `check_access`; no helper is running.
    let ctx = unsafe { &mut *frame.ctx };
    let Some(tc) = ctx.tail_call.take() else {
        frame.status = 0;
        return 0;
    };
    let depth = call_depth(ctx);
    let r = if let Some(p) = tc.program.downcast_ref::<JitProgram>() {
        p.run_nested(
            ctx,
            0,
            depth,
            [tc.ctx_arg, 0, 0, 0, 0],
            &mut frame.remaining,
            frame.budget,
        )
    } else if let Some(p) = tc.program.downcast_ref::<Interpreter>() {
        // The caller's checks carry over to a target of a checked caller.
        // SAFETY: as in `check_access`; `prog` is the program being run.
        let checked = unsafe { &*frame.prog }.options().mode() == crate::interp::Mode::Checked;
        p.run_tail_target(
            ctx,
            tc.ctx_arg,
            depth,
            &mut frame.remaining,
            frame.budget,
            checked,
        )
    } else {
        Err(RunError::TailCallTarget {
            slot: slot as u32,
            prog_id: tc.prog_id,
        })
    };
    ctx.set_call_depth(depth);
    match r {
        Ok(r0) => {
            frame.status = 0;
            r0
        }
        Err(e) => {
            frame.nested = Some(e);
            frame.status = status::NESTED;
            0
        }
    }
}

/// The [`CallbackHook`](crate::vm::CallbackHook) of a run of compiled code: runs the
/// function starting at slot `func` in a new frame on the budget the helper's caller left
/// (as the interpreter's callbacks).
///
/// # Safety
/// `data` must be the `JitFrame` of the run in progress, whose compiled code is suspended
/// in a helper call.
pub(crate) unsafe fn callback(
    data: *const (),
    ctx: &mut RunContext,
    func: u64,
    args: [u64; 5],
) -> Result<u64, CallbackFailed> {
    // SAFETY: per the contract, `data` is the live frame; compiled code does not touch it
    // while the helper runs.
    let frame = unsafe { &mut *(data as *mut JitFrame) };
    if frame.nested.is_some() {
        return Err(CallbackFailed);
    }
    // SAFETY: `prog` is the program being run, alive for the whole run.
    let prog = unsafe { &*frame.prog };
    let slot = frame.call_slot;
    let depth = call_depth(ctx);
    let r = match usize::try_from(func).ok().filter(|&f| prog.is_function(f)) {
        None => Err(RunError::BadCallback { slot, func }),
        Some(_) if depth + 1 >= MAX_CALL_FRAMES => Err(RunError::CallDepth { slot }),
        Some(f) => {
            ctx.set_call_depth(depth + 1);
            let r = prog.run_nested(ctx, f, depth + 1, args, &mut frame.r9_save, frame.budget);
            ctx.set_call_depth(depth);
            r
        }
    };
    r.map_err(|e| {
        frame.nested = Some(e);
        CallbackFailed
    })
}

/// `callx`: the function of helper `id`, or 0 (with the id in `err_aux`) if there is none.
pub(crate) extern "C" fn callx_lookup(frame: *mut JitFrame, id: u64) -> u64 {
    // SAFETY: as in `check_access`.
    let frame = unsafe { &mut *frame };
    // SAFETY: `registry` points at the compiled program's registry, which outlives the run.
    let registry = unsafe { &*frame.registry };
    match u32::try_from(id).ok().and_then(|id| registry.get(id)) {
        Some(h) => {
            frame.callx_id = h.id;
            h.func as usize as u64
        }
        None => {
            frame.err_aux = id;
            0
        }
    }
}

/// `LD_ABS`/`LD_IND` with the interpreter's semantics: the value, or 0 with `status` set.
pub(crate) extern "C" fn ld_packet(frame: *mut JitFrame, off: u64, size: u64) -> u64 {
    // SAFETY: as in `check_access`.
    let frame = unsafe { &mut *frame };
    // SAFETY: as in `check_access`.
    let ctx = unsafe { &*frame.ctx };
    let size = match size {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    };
    match crate::interp::ld_packet(ctx, size, off) {
        Some(Some(v)) => v,
        Some(None) => {
            frame.status = ld::OUT_OF_BOUNDS;
            0
        }
        None => {
            frame.status = ld::NO_PACKET;
            0
        }
    }
}
