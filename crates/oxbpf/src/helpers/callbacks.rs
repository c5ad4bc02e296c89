//! Helpers that run program code: `bpf_loop` and `bpf_for_each_map_elem` call a BPF
//! subprogram through the engine's callback hook ([`RunContext::call_bpf`]);
//! `bpf_tail_call` asks the engine to continue in another program
//! ([`RunContext::tail_call`]). See `vm/hooks.rs` for the engine side.

use super::errno::{E2BIG, EBUSY, EINVAL, ENOENT};
use super::map::map_arg;
use super::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::maps::MapType;
use crate::vm::{Access, CallbackFailed, MemRegion, RunContext, TailCall, MAX_TAIL_CALL_CNT};

/// Most iterations `bpf_loop` runs (`BPF_MAX_LOOPS`).
pub const BPF_MAX_LOOPS: u64 = 1 << 23;

/// What a helper returns when its callback could not run: the engine stops the run with
/// the callback's error (the value is then unseen); without an engine (a direct call),
/// -EINVAL.
fn callback_failed(_: CallbackFailed) -> u64 {
    neg_errno(EINVAL)
}

/// `long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags)`: calls
/// `callback_fn(i, callback_ctx)` for `i` in `0..nr_loops` until it returns non-zero.
/// Returns the number of calls made, -EINVAL for non-zero flags, -E2BIG above
/// [`BPF_MAX_LOOPS`].
///
/// With flags 0 the kernel verifier replaces the call by inline code, and programs see
/// that code's behaviour, which oxbpf reproduces: the whole 64-bit `r1` is compared with
/// the limit, and -E2BIG is returned as a 32-bit value (zero-extended: `0xfffffff9`), as
/// the kernel oracle test shows.
pub extern "C" fn bpf_loop(
    nr_loops: u64,
    callback_fn: u64,
    callback_ctx: u64,
    flags: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    if flags != 0 {
        return neg_errno(EINVAL);
    }
    if nr_loops > BPF_MAX_LOOPS {
        return u64::from(neg_errno(E2BIG) as u32);
    }
    let nr = nr_loops;
    for i in 0..nr {
        match ctx.call_bpf(callback_fn, [i, callback_ctx, 0, 0, 0]) {
            Ok(0) => {}
            Ok(_) => return i + 1,
            Err(e) => return callback_failed(e),
        }
    }
    nr
}

/// `long bpf_for_each_map_elem(struct bpf_map *map, void *callback_fn, void *callback_ctx,
/// u64 flags)`: calls `callback_fn(map, key, value, callback_ctx)` for each element of an
/// array or hash map until it returns non-zero. Returns the number of elements visited,
/// -EINVAL for non-zero flags or other map types.
///
/// Keys and values are made accessible to the callback: array keys live in a temporary
/// buffer registered read-only for the call, hash keys in the map's key memory.
pub extern "C" fn bpf_for_each_map_elem(
    map: u64,
    callback_fn: u64,
    callback_ctx: u64,
    flags: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    let key_len = u64::from(m.def().key_size);
    let value_len = u64::from(m.def().value_size);
    let mut failed = None;
    let visited = m.for_each_elem(flags, |key, value| {
        let (key, value) = (key as usize as u64, value as usize as u64);
        let key_region = MemRegion {
            start: key,
            len: key_len,
            writable: false,
        };
        let temp_key = ctx.check(key, key_len, Access::Read).is_err();
        if temp_key {
            // SAFETY: the map keeps the key valid and unchanged for the duration of the
            // callback (for_each_elem's contract); the region is removed right after.
            unsafe { ctx.add_region(key_region) };
        }
        if ctx.check(value, value_len, Access::Read).is_err() {
            ctx.refresh_map_regions(m);
        }
        let r = ctx.call_bpf(callback_fn, [map, key, value, callback_ctx, 0]);
        if temp_key {
            ctx.remove_region(&key_region);
        }
        match r {
            Ok(ret) => ret,
            Err(e) => {
                failed = Some(e);
                1
            }
        }
    });
    match failed {
        Some(e) => callback_failed(e),
        None => visited as u64,
    }
}

/// `long bpf_tail_call(void *ctx, struct bpf_map *prog_array_map, u32 index)`: continue in
/// the program at `index` of the prog array, with `ctx` as its `r1`; the current function
/// does not resume (the engine performs the jump when this helper returns 0).
///
/// Checks in the kernel's order: index in range (-E2BIG), at most [`MAX_TAIL_CALL_CNT`]
/// tail calls per run (-EBUSY; the count grows even if the slot then turns out empty, as
/// in the kernel), a program in the slot that the runtime's program table knows (-ENOENT).
/// The kernel's prototype is `RET_VOID` (the program cannot read `r0` after a failed tail
/// call), so these values are oxbpf's choice; a map that is not a prog array is -EINVAL.
pub extern "C" fn bpf_tail_call(
    ctx_arg: u64,
    map: u64,
    index: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if m.map_type() != MapType::ProgArray {
        return neg_errno(EINVAL);
    }
    let index = index as u32;
    if index >= m.def().max_entries {
        return neg_errno(E2BIG);
    }
    if ctx.tail_call_count >= MAX_TAIL_CALL_CNT {
        return neg_errno(EBUSY);
    }
    ctx.tail_call_count += 1;
    let Some(prog_id) = m.prog_array_get(index) else {
        return neg_errno(ENOENT);
    };
    let Some(program) = ctx.programs().and_then(|t| t.program(prog_id)) else {
        return neg_errno(ENOENT);
    };
    ctx.tail_call = Some(TailCall {
        prog_id,
        program,
        ctx_arg,
    });
    0
}

/// The helpers of this file with their kernel prototypes.
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(
        12,
        bpf_tail_call,
        HelperProto::new(
            &[ArgKind::PtrToCtx, ArgKind::ConstMapPtr, ArgKind::Anything],
            RetKind::Void,
        ),
    ),
    kernel_helper(
        164,
        bpf_for_each_map_elem,
        HelperProto::new(
            &[
                ArgKind::ConstMapPtr,
                ArgKind::PtrToFunc,
                ArgKind::PtrToStack { maybe_null: true },
                ArgKind::Anything,
            ],
            RetKind::Integer,
        ),
    ),
    kernel_helper(
        181,
        bpf_loop,
        HelperProto::new(
            &[
                ArgKind::Anything,
                ArgKind::PtrToFunc,
                ArgKind::PtrToStack { maybe_null: true },
                ArgKind::Anything,
            ],
            RetKind::Integer,
        ),
    ),
];
