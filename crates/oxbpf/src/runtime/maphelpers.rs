//! The map, ring buffer and probe-read helpers the runtime needs to run clang-built
//! objects: `map_lookup_elem` (1), `map_update_elem` (2), `map_delete_elem` (3),
//! `probe_read` (4), `perf_event_output` (25), `probe_read_user` (112), `probe_read_kernel` (113),
//! `ringbuf_output` (130), `ringbuf_reserve` (131), `ringbuf_submit` (132),
//! `ringbuf_discard` (133).
//!
//! [`register`] adds them only under ids the registry does not have yet, so the `helpers`
//! module's implementations take over wherever it provides them.
//!
//! Programs are not verified, so every pointer is checked before use: map handles must
//! name a live map of this process ([`LIVE_MAPS`]), keys and values must lie in valid
//! memory (a violation is a recorded fault, as for any helper), and ring buffer samples
//! must come from a reservation of the current thread that is still open.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use crate::helpers::{
    errno, kernel_helper, neg_errno, ArgKind, Helper, HelperProto, Registry, RetKind,
};
use crate::maps::{ringbuf_discard, ringbuf_submit, Map};
use crate::vm::{Access, RunContext};

/// Handles of the maps the runtime created and keeps alive (with their `Arc`s).
static LIVE_MAPS: LazyLock<RwLock<HashMap<u64, Arc<Map>>>> = LazyLock::new(Default::default);

/// Records `map` as a valid handle for helpers until [`forget_map`].
pub(crate) fn remember_map(map: &Arc<Map>) {
    LIVE_MAPS.write().insert(map.handle(), Arc::clone(map));
}

/// Drops the runtime's record of `map`.
pub(crate) fn forget_map(map: &Arc<Map>) {
    LIVE_MAPS.write().remove(&map.handle());
}

/// The live map behind `handle`: either one the runtime created or an inner map reached
/// through one (map-in-map lookups return inner handles the outer map keeps alive, and
/// the runtime records every inner map it stores).
fn map_of(handle: u64) -> Option<Arc<Map>> {
    LIVE_MAPS.read().get(&handle).cloned()
}

thread_local! {
    /// Ring buffer samples reserved on this thread and not yet submitted or discarded.
    static RESERVED: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
}

fn check(rc: &mut RunContext, addr: u64, len: u64, access: Access) -> bool {
    match rc.check(addr, len, access) {
        Ok(()) => true,
        Err(f) => {
            rc.fault = Some(f);
            false
        }
    }
}

extern "C" fn map_lookup_elem(
    m: u64,
    key: u64,
    _: u64,
    _: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let Some(map) = map_of(m) else { return 0 };
    if !check(rc, key, map.def().key_size as u64, Access::Read) {
        return 0;
    }
    // SAFETY: the key range was checked readable; the map is alive (held by LIVE_MAPS and
    // by the runtime for the whole run).
    unsafe { map.lookup_ptr(key as *const u8) as u64 }
}

extern "C" fn map_update_elem(
    m: u64,
    key: u64,
    value: u64,
    flags: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let Some(map) = map_of(m) else {
        return neg_errno(errno::EINVAL);
    };
    let def = map.def();
    if !check(rc, key, def.key_size as u64, Access::Read)
        || !check(rc, value, def.value_size as u64, Access::Read)
    {
        return neg_errno(errno::EFAULT);
    }
    // SAFETY: key and value ranges checked readable.
    unsafe { map.update_from_prog(key as *const u8, value as *const u8, flags) as u64 }
}

extern "C" fn map_delete_elem(
    m: u64,
    key: u64,
    _: u64,
    _: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let Some(map) = map_of(m) else {
        return neg_errno(errno::EINVAL);
    };
    if !check(rc, key, map.def().key_size as u64, Access::Read) {
        return neg_errno(errno::EFAULT);
    }
    // SAFETY: key range checked readable.
    unsafe { map.delete_from_prog(key as *const u8) as u64 }
}

/// `probe_read*`: copies `size` bytes from `src` if they are valid memory; otherwise the
/// destination is zeroed and `-EFAULT` returned (a probe read may fail; it is not a fault).
extern "C" fn probe_read(
    dst: u64,
    size: u64,
    src: u64,
    _: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let n = size as u32 as u64;
    if !check(rc, dst, n, Access::Write) {
        return neg_errno(errno::EFAULT);
    }
    if rc.check(src, n, Access::Read).is_ok() {
        // SAFETY: both ranges checked; `copy` allows overlap.
        unsafe { std::ptr::copy(src as *const u8, dst as *mut u8, n as usize) };
        0
    } else {
        // SAFETY: the destination was checked writable.
        unsafe { std::ptr::write_bytes(dst as *mut u8, 0, n as usize) };
        neg_errno(errno::EFAULT)
    }
}

extern "C" fn ringbuf_output(
    m: u64,
    data: u64,
    size: u64,
    flags: u64,
    _: u64,
    rc: &mut RunContext,
) -> u64 {
    let Some(map) = map_of(m) else {
        return neg_errno(errno::EINVAL);
    };
    if !check(rc, data, size, Access::Read) {
        return neg_errno(errno::EFAULT);
    }
    // SAFETY: data range checked readable.
    unsafe { map.ringbuf_output(data as *const u8, size, flags) as u64 }
}

extern "C" fn ringbuf_reserve(
    m: u64,
    size: u64,
    flags: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    let Some(map) = map_of(m) else { return 0 };
    let p = map.ringbuf_reserve(size, flags) as u64;
    if p != 0 {
        RESERVED.with(|r| r.borrow_mut().insert(p));
    }
    p
}

fn commit(sample: u64, flags: u64, discard: bool) -> u64 {
    if !RESERVED.with(|r| r.borrow_mut().remove(&sample)) {
        return neg_errno(errno::EINVAL);
    }
    // SAFETY: `sample` came from `ringbuf_reserve` on this thread and was not committed
    // yet (just removed from the open set); the map is alive (LIVE_MAPS holds it).
    unsafe {
        if discard {
            ringbuf_discard(sample as *mut u8, flags)
        } else {
            ringbuf_submit(sample as *mut u8, flags)
        }
    };
    0
}

extern "C" fn ringbuf_submit_h(
    s: u64,
    flags: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    commit(s, flags, false)
}

extern "C" fn ringbuf_discard_h(
    s: u64,
    flags: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    commit(s, flags, true)
}

/// `bpf_perf_event_output(ctx, map, flags, data, size)`: one sample to the channel `flags`
/// selects. Appending context bytes (`BPF_F_CTXLEN_MASK`) is not modelled: -EOPNOTSUPP.
extern "C" fn perf_event_output(
    _ctx: u64,
    m: u64,
    flags: u64,
    data: u64,
    size: u64,
    rc: &mut RunContext,
) -> u64 {
    let Some(map) = map_of(m) else {
        return neg_errno(errno::EINVAL);
    };
    if flags & crate::maps::BPF_F_CTXLEN_MASK != 0 {
        return neg_errno(95);
    }
    if !check(rc, data, size, Access::Read) {
        return neg_errno(errno::EFAULT);
    }
    // SAFETY: the range was checked readable.
    let bytes = unsafe { std::slice::from_raw_parts(data as *const u8, size as usize) };
    map.perf_event_output(flags, bytes) as u64
}

const MEM_RO: ArgKind = ArgKind::PtrToMem {
    readonly: true,
    maybe_null: false,
};
const PROBE: HelperProto = HelperProto::new(
    &[
        ArgKind::PtrToUninitMem,
        ArgKind::ConstSizeOrZero,
        ArgKind::Anything,
    ],
    RetKind::Integer,
)
.gpl();

/// The helpers of this file with their kernel prototypes.
pub const MAP_HELPERS: &[Helper] = &[
    kernel_helper(
        1,
        map_lookup_elem,
        HelperProto::new(
            &[ArgKind::ConstMapPtr, ArgKind::PtrToMapKey],
            RetKind::PtrToMapValueOrNull,
        ),
    ),
    kernel_helper(
        2,
        map_update_elem,
        HelperProto::new(
            &[
                ArgKind::ConstMapPtr,
                ArgKind::PtrToMapKey,
                ArgKind::PtrToMapValue,
                ArgKind::Anything,
            ],
            RetKind::Integer,
        ),
    ),
    kernel_helper(
        3,
        map_delete_elem,
        HelperProto::new(
            &[ArgKind::ConstMapPtr, ArgKind::PtrToMapKey],
            RetKind::Integer,
        ),
    ),
    kernel_helper(4, probe_read, PROBE),
    kernel_helper(
        25,
        perf_event_output,
        HelperProto::new(
            &[
                ArgKind::PtrToCtx,
                ArgKind::ConstMapPtr,
                ArgKind::Anything,
                MEM_RO,
                ArgKind::ConstSizeOrZero,
            ],
            RetKind::Integer,
        ),
    ),
    kernel_helper(112, probe_read, PROBE),
    kernel_helper(113, probe_read, PROBE),
    kernel_helper(
        130,
        ringbuf_output,
        HelperProto::new(
            &[
                ArgKind::ConstMapPtr,
                MEM_RO,
                ArgKind::ConstSizeOrZero,
                ArgKind::Anything,
            ],
            RetKind::Integer,
        ),
    ),
    kernel_helper(
        131,
        ringbuf_reserve,
        HelperProto::new(
            &[ArgKind::ConstMapPtr, ArgKind::Anything, ArgKind::Anything],
            RetKind::PtrToMemOrNull,
        ),
    ),
    kernel_helper(
        132,
        ringbuf_submit_h,
        HelperProto::new(&[ArgKind::Anything, ArgKind::Anything], RetKind::Void),
    ),
    kernel_helper(
        133,
        ringbuf_discard_h,
        HelperProto::new(&[ArgKind::Anything, ArgKind::Anything], RetKind::Void),
    ),
];

/// Adds the helpers of this file under ids `registry` does not have yet.
pub fn register(registry: &mut Registry) {
    for h in MAP_HELPERS {
        if registry.get(h.id).is_none() {
            registry.register(*h);
        }
    }
}
