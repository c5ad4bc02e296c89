//! Map helpers: lookup, update, delete, queue/stack push/pop/peek, per-CPU lookup.
//!
//! Every pointer argument is checked against the run's regions with the size the map
//! implies (`key_size`, `value_size`), and the map argument must be a map registered for
//! the run ([`RunContext::add_map`]); otherwise the helper records a fault. Results are the
//! kernel's: a pointer or NULL for lookups, `0` or `-errno` otherwise.

use super::{kernel_helper, ArgKind, Helper, HelperProto, RetKind};
use crate::maps::{Map, MapType};
use crate::vm::{Access, RunContext};

/// The registered map behind `handle`, or `None` with a fault recorded.
///
/// Helpers use the reference only during their own call, in which nothing unregisters
/// maps (callbacks run programs, which cannot).
pub(super) fn map_arg<'a>(ctx: &mut RunContext, handle: u64) -> Option<&'a Map> {
    // SAFETY: see above; the reference does not outlive the helper call.
    match unsafe { ctx.map(handle) } {
        Ok(m) => Some(m),
        Err(f) => {
            ctx.fault = Some(f);
            None
        }
    }
}

/// Bytes of one value as programs see it (one CPU's copy for per-CPU maps).
fn value_size(map: &Map) -> u64 {
    u64::from(map.def().value_size)
}

fn key_size(map: &Map) -> u64 {
    u64::from(map.def().key_size)
}

/// After a lookup returned `p`: map-in-map lookups return inner map handles, which become
/// valid map arguments; values must be accessible to the program, so memory the map
/// allocated since its regions were registered is added.
fn publish_value(ctx: &mut RunContext, map: &Map, p: u64) {
    if matches!(map.map_type(), MapType::ArrayOfMaps | MapType::HashOfMaps) {
        // SAFETY: `p` was just returned by a lookup in this registered map-in-map.
        unsafe { ctx.add_inner_map(p) };
    } else if ctx.check(p, value_size(map), Access::Read).is_err() {
        ctx.refresh_map_regions(map);
    }
}

/// `void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)`: a pointer to the
/// value (the current CPU's copy for per-CPU maps), an inner map for map-in-maps, or NULL.
pub extern "C" fn bpf_map_lookup_elem(
    map: u64,
    key: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(key, key_size(m), Access::Read) {
        return 0;
    }
    // SAFETY: `key` was checked readable for `key_size` bytes.
    let p = unsafe { m.lookup_ptr(key as usize as *const u8) } as usize as u64;
    if p != 0 {
        publish_value(ctx, m, p);
    }
    p
}

/// `void *bpf_map_lookup_percpu_elem(struct bpf_map *map, const void *key, u32 cpu)`: CPU
/// `cpu`'s copy in a per-CPU map, or NULL.
pub extern "C" fn bpf_map_lookup_percpu_elem(
    map: u64,
    key: u64,
    cpu: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(key, key_size(m), Access::Read) {
        return 0;
    }
    // SAFETY: `key` was checked readable for `key_size` bytes.
    let p = unsafe { m.lookup_percpu_ptr(key as usize as *const u8, cpu as u32) } as usize as u64;
    if p != 0 {
        publish_value(ctx, m, p);
    }
    p
}

/// `long bpf_map_update_elem(struct bpf_map *map, const void *key, const void *value,
/// u64 flags)`: 0, or -EEXIST (`BPF_NOEXIST`, present), -ENOENT (`BPF_EXIST`, absent),
/// -E2BIG (full or index out of range), -EINVAL (flags), -EPERM (read-only map)...
pub extern "C" fn bpf_map_update_elem(
    map: u64,
    key: u64,
    value: u64,
    flags: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(key, key_size(m), Access::Read)
        || !ctx.check_arg(value, value_size(m), Access::Read)
    {
        return 0;
    }
    // SAFETY: both pointers were checked readable for the map's key and value sizes.
    let r = unsafe {
        m.update_from_prog(
            key as usize as *const u8,
            value as usize as *const u8,
            flags,
        )
    };
    r as u64
}

/// `long bpf_map_delete_elem(struct bpf_map *map, const void *key)`: 0, -ENOENT, or
/// -EINVAL for arrays.
pub extern "C" fn bpf_map_delete_elem(
    map: u64,
    key: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(key, key_size(m), Access::Read) {
        return 0;
    }
    // SAFETY: `key` was checked readable for `key_size` bytes.
    unsafe { m.delete_from_prog(key as usize as *const u8) as u64 }
}

/// `long bpf_map_push_elem(struct bpf_map *map, const void *value, u64 flags)`: 0,
/// -E2BIG when full (unless `BPF_EXIST`, which drops the oldest), -EINVAL.
pub extern "C" fn bpf_map_push_elem(
    map: u64,
    value: u64,
    flags: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(value, value_size(m), Access::Read) {
        return 0;
    }
    // SAFETY: `value` was checked readable for `value_size` bytes.
    unsafe { m.push_from_prog(value as usize as *const u8, flags) as u64 }
}

/// `long bpf_map_pop_elem(struct bpf_map *map, void *value)`: 0 or -ENOENT when empty.
pub extern "C" fn bpf_map_pop_elem(
    map: u64,
    value: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(value, value_size(m), Access::Write) {
        return 0;
    }
    // SAFETY: `value` was checked writable for `value_size` bytes.
    unsafe { m.pop_from_prog(value as usize as *mut u8) as u64 }
}

/// `long bpf_map_peek_elem(struct bpf_map *map, void *value)`: 0 or -ENOENT when empty.
pub extern "C" fn bpf_map_peek_elem(
    map: u64,
    value: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let Some(m) = map_arg(ctx, map) else { return 0 };
    if !ctx.check_arg(value, value_size(m), Access::Write) {
        return 0;
    }
    // SAFETY: `value` was checked writable for `value_size` bytes.
    unsafe { m.peek_from_prog(value as usize as *mut u8) as u64 }
}

const MAP: ArgKind = ArgKind::ConstMapPtr;
const KEY: ArgKind = ArgKind::PtrToMapKey;
const VALUE: ArgKind = ArgKind::PtrToMapValue;

/// The map helpers with their kernel prototypes (none GPL-only, every program type).
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(
        1,
        bpf_map_lookup_elem,
        HelperProto::new(&[MAP, KEY], RetKind::PtrToMapValueOrNull),
    ),
    kernel_helper(
        2,
        bpf_map_update_elem,
        HelperProto::new(&[MAP, KEY, VALUE, ArgKind::Anything], RetKind::Integer),
    ),
    kernel_helper(
        3,
        bpf_map_delete_elem,
        HelperProto::new(&[MAP, KEY], RetKind::Integer),
    ),
    kernel_helper(
        87,
        bpf_map_push_elem,
        HelperProto::new(&[MAP, VALUE, ArgKind::Anything], RetKind::Integer),
    ),
    kernel_helper(
        88,
        bpf_map_pop_elem,
        HelperProto::new(&[MAP, ArgKind::PtrToUninitMapValue], RetKind::Integer),
    ),
    kernel_helper(
        89,
        bpf_map_peek_elem,
        HelperProto::new(&[MAP, ArgKind::PtrToUninitMapValue], RetKind::Integer),
    ),
    kernel_helper(
        195,
        bpf_map_lookup_percpu_elem,
        HelperProto::new(&[MAP, KEY, ArgKind::Anything], RetKind::PtrToMapValueOrNull),
    ),
];
