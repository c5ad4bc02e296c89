//! The per-run state compiled code works on ([`JitFrame`]) and the Rust functions it calls
//! on its slow paths (region-table checks, the fault check after a helper, `callx` lookup,
//! legacy packet loads).
//!
//! Compiled code keeps a pointer to the frame in `r12` and reads the fields before
//! `fault` at the `OFF_*` offsets; everything from `fault` on is only touched from Rust.

use std::mem::offset_of;

use crate::helpers::Registry;
use crate::isa::Size;
use crate::vm::{Access, Fault, MemRegion, RunContext};

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
    /// `r9` (the budget) across helper calls in unchecked mode.
    pub r9_save: u64,
    pub read_cache: RegionCache,
    pub write_cache: RegionCache,
    // ---- Rust only ----
    pub fault: Option<Fault>,
    pub callx_id: u32,
    pub registry: *const Registry,
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
/// Offset of `lim` inside a [`RegionCache`].
pub(crate) const OFF_CACHE_LIM: i32 = offset_of!(RegionCache, lim) as i32;

impl JitFrame {
    pub(crate) fn new(ctx: &mut RunContext, remaining: u64, registry: &Registry) -> JitFrame {
        let (_, hi) = ctx.stack_range();
        JitFrame {
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
            fault: None,
            callx_id: 0,
            registry,
        }
    }
}

/// The lowest frame pointer from which a call is still allowed: frame depth 6 (the callee
/// gets depth 7, the eighth frame).
fn ctx_min_fp(stack_hi: u64) -> u64 {
    use crate::vm::{MAX_CALL_FRAMES, STACK_FRAME_SIZE};
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

/// Called right after every helper with the helper's return value (passed through): takes
/// a fault the helper recorded into the frame and sets `status`; forgets the cached regions
/// since the helper may have changed the table.
pub(crate) extern "C" fn after_helper(frame: *mut JitFrame, ret: u64) -> u64 {
    // SAFETY: as in `check_access`.
    let frame = unsafe { &mut *frame };
    // SAFETY: as in `check_access`; the helper has returned.
    let ctx = unsafe { &mut *frame.ctx };
    frame.read_cache = RegionCache::default();
    frame.write_cache = RegionCache::default();
    if let Some(f) = ctx.fault.take() {
        frame.fault = Some(f);
        frame.status = 1;
    }
    ret
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
