//! Helper prototypes as the verifier needs them (kernel `struct bpf_func_proto`). This is
//! the verifier's own representation; the shared [`crate::helpers::Registry`] implements
//! [`HelperLookup`] by translating its [`crate::helpers::HelperProto`]s, and
//! [`BuiltinHelpers`] covers kernel helpers the registry does not have (yet).

/// What a helper argument must be (kernel `enum bpf_arg_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ArgKind {
    /// Not used by the helper.
    Unused,
    /// Any initialised value.
    Anything,
    /// A map handle (`ARG_CONST_MAP_PTR`).
    ConstMapPtr,
    /// A pointer to `key_size` readable bytes (`ARG_PTR_TO_MAP_KEY`).
    MapKey,
    /// A pointer to `value_size` readable bytes (`ARG_PTR_TO_MAP_VALUE`).
    MapValue,
    /// A pointer to `value_size` writable bytes (`ARG_PTR_TO_MAP_VALUE | MEM_UNINIT`).
    UninitMapValue,
    /// A pointer to memory whose size is the next argument; `write` if the helper
    /// writes it (`ARG_PTR_TO_MEM`, `| MEM_UNINIT`).
    Mem { write: bool },
    /// The size of the previous memory argument, > 0 (`ARG_CONST_SIZE`).
    ConstSize,
    /// The size of the previous memory argument, ≥ 0 (`ARG_CONST_SIZE_OR_ZERO`).
    ConstSizeOrZero,
    /// The context pointer (`ARG_PTR_TO_CTX`).
    Ctx,
    /// A ring buffer record to release (`ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`).
    AllocMem,
    /// A constant allocation size (`ARG_CONST_ALLOC_SIZE_OR_ZERO`).
    ConstAllocSizeOrZero,
    /// A pointer into the stack, or null if `maybe_null` (`ARG_PTR_TO_STACK_OR_NULL`): a
    /// callback's context.
    Stack { maybe_null: bool },
    /// A subprogram to call back (`ARG_PTR_TO_FUNC`).
    Func,
    /// A map value's `struct bpf_spin_lock` (`ARG_PTR_TO_SPIN_LOCK`).
    SpinLock,
    /// A NUL-terminated string in a frozen read-only map value at a constant offset
    /// (`ARG_PTR_TO_CONST_STR`).
    ConstStr,
    /// A kind the verifier does not model yet (named for the message); calls are rejected.
    Unsupported(&'static str),
}

/// What a helper returns (kernel `enum bpf_return_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RetKind {
    /// A number.
    Integer,
    /// Nothing (`r0` is unknown afterwards).
    Void,
    /// A map value pointer or null (`RET_PTR_TO_MAP_VALUE_OR_NULL`).
    MapValueOrNull,
    /// A newly acquired ring buffer record or null (`RET_PTR_TO_RINGBUF_MEM_OR_NULL`).
    AllocMemOrNull,
}

/// A helper's prototype.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HelperProto {
    /// The name without `bpf_`, for messages.
    pub name: &'static str,
    pub args: [ArgKind; 5],
    pub ret: RetKind,
    /// Callable only from GPL-compatible programs.
    pub gpl_only: bool,
    /// Invalidates packet pointers (e.g. `xdp_adjust_head`).
    pub changes_pkt_data: bool,
    /// Kernel program type numbers allowed to call it (`None`: every type).
    pub prog_types: Option<&'static [u32]>,
}

/// Looks up helper prototypes by kernel helper id.
pub trait HelperLookup {
    /// The prototype of helper `id`, or `None` if unknown.
    fn proto(&self, id: i32) -> Option<HelperProto>;
}

/// A built-in table of common kernel helpers (kernel ids), for use until a registry is
/// plugged in and for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuiltinHelpers;

const fn p(name: &'static str, args: &[ArgKind], ret: RetKind, gpl_only: bool) -> HelperProto {
    let mut a = [ArgKind::Unused; 5];
    let mut i = 0;
    while i < args.len() {
        a[i] = args[i];
        i += 1;
    }
    HelperProto {
        name,
        args: a,
        ret,
        gpl_only,
        changes_pkt_data: false,
        prog_types: None,
    }
}

/// Helpers that move packet data (kernel `bpf_helper_changes_pkt_data`): packet pointers
/// are invalid after them.
fn changes_pkt_data(id: i32) -> bool {
    matches!(
        id,
        9 | 10 | 11 | 13 | 18 | 19 | 31 | 32 | 38 | 39 | 43 | 44 | 50 | 54 | 65 | 111 | 136
    )
}

impl HelperLookup for BuiltinHelpers {
    fn proto(&self, id: i32) -> Option<HelperProto> {
        use ArgKind::*;
        use RetKind::*;
        let mut pr = match id {
            1 => p(
                "map_lookup_elem",
                &[ConstMapPtr, MapKey],
                MapValueOrNull,
                false,
            ),
            2 => p(
                "map_update_elem",
                &[ConstMapPtr, MapKey, MapValue, Anything],
                Integer,
                false,
            ),
            3 => p("map_delete_elem", &[ConstMapPtr, MapKey], Integer, false),
            5 => p("ktime_get_ns", &[], Integer, false),
            6 => p(
                "trace_printk",
                &[Mem { write: false }, ConstSize],
                Integer,
                true,
            ),
            7 => p("get_prandom_u32", &[], Integer, false),
            8 => p("get_smp_processor_id", &[], Integer, false),
            // On success control does not return; verification continues as on failure.
            12 => p("tail_call", &[Ctx, ConstMapPtr, Anything], Integer, false),
            14 => p("get_current_pid_tgid", &[], Integer, false),
            23 => p("redirect", &[Anything, Anything], Integer, false),
            44 => p("xdp_adjust_head", &[Ctx, Anything], Integer, false),
            51 => p(
                "redirect_map",
                &[ConstMapPtr, Anything, Anything],
                Integer,
                false,
            ),
            54 => p("xdp_adjust_meta", &[Ctx, Anything], Integer, false),
            65 => p("xdp_adjust_tail", &[Ctx, Anything], Integer, false),
            87 => p(
                "map_push_elem",
                &[ConstMapPtr, MapValue, Anything],
                Integer,
                false,
            ),
            88 => p(
                "map_pop_elem",
                &[ConstMapPtr, UninitMapValue],
                Integer,
                false,
            ),
            89 => p(
                "map_peek_elem",
                &[ConstMapPtr, UninitMapValue],
                Integer,
                false,
            ),
            113 => p(
                "probe_read_kernel",
                &[Mem { write: true }, ConstSizeOrZero, Anything],
                Integer,
                true,
            ),
            93 => p("spin_lock", &[SpinLock], Void, false),
            94 => p("spin_unlock", &[SpinLock], Void, false),
            118 => p("jiffies64", &[], Integer, false),
            125 => p("ktime_get_boot_ns", &[], Integer, false),
            130 => p(
                "ringbuf_output",
                &[ConstMapPtr, Mem { write: false }, ConstSizeOrZero, Anything],
                Integer,
                false,
            ),
            131 => p(
                "ringbuf_reserve",
                &[ConstMapPtr, ConstAllocSizeOrZero, Anything],
                AllocMemOrNull,
                false,
            ),
            132 => p("ringbuf_submit", &[AllocMem, Anything], Void, false),
            133 => p("ringbuf_discard", &[AllocMem, Anything], Void, false),
            134 => p("ringbuf_query", &[ConstMapPtr, Anything], Integer, false),
            164 => p(
                "for_each_map_elem",
                &[ConstMapPtr, Func, Stack { maybe_null: true }, Anything],
                Integer,
                false,
            ),
            181 => p(
                "loop",
                &[Anything, Func, Stack { maybe_null: true }, Anything],
                Integer,
                false,
            ),
            _ => return None,
        };
        pr.changes_pkt_data = changes_pkt_data(id);
        Some(pr)
    }
}

impl HelperLookup for crate::helpers::Registry {
    /// Translates the registry's prototype kind by kind.
    fn proto(&self, id: i32) -> Option<HelperProto> {
        use crate::helpers::{ArgKind as A, ProgTypes, RetKind as R};
        let h = self.get(u32::try_from(id).ok()?)?;
        let mut args = [ArgKind::Unused; 5];
        for (i, a) in h.proto.args.iter().enumerate() {
            args[i] = match *a {
                A::DontCare => ArgKind::Unused,
                A::Anything => ArgKind::Anything,
                A::PtrToMem { readonly, .. } => ArgKind::Mem { write: !readonly },
                A::PtrToUninitMem => ArgKind::Mem { write: true },
                A::ConstSize => ArgKind::ConstSize,
                A::ConstSizeOrZero => ArgKind::ConstSizeOrZero,
                A::PtrToCtx => ArgKind::Ctx,
                A::ConstMapPtr => ArgKind::ConstMapPtr,
                A::PtrToMapKey => ArgKind::MapKey,
                A::PtrToMapValue => ArgKind::MapValue,
                A::PtrToUninitMapValue => ArgKind::UninitMapValue,
                A::ConstAllocSizeOrZero => ArgKind::ConstAllocSizeOrZero,
                A::PtrToRingbufMem => ArgKind::AllocMem,
                A::PtrToStack { maybe_null } => ArgKind::Stack { maybe_null },
                A::PtrToConstStr => ArgKind::ConstStr,
                A::PtrToFunc => ArgKind::Func,
                A::PtrToSpinLock => ArgKind::SpinLock,
                A::PtrToLong => ArgKind::Unsupported("ARG_PTR_TO_LONG"),
            };
        }
        Some(HelperProto {
            name: h.name,
            args,
            ret: match h.proto.ret {
                R::Integer => RetKind::Integer,
                R::Void => RetKind::Void,
                R::PtrToMapValueOrNull => RetKind::MapValueOrNull,
                R::PtrToMemOrNull => RetKind::AllocMemOrNull,
            },
            gpl_only: h.proto.gpl_only,
            changes_pkt_data: changes_pkt_data(id),
            prog_types: match h.proto.prog_types {
                ProgTypes::All => None,
                ProgTypes::Only(t) => Some(t),
            },
        })
    }
}

/// Looks a helper up in `first`, then in `second` (e.g. a registry, then the built-in
/// table for helpers it does not implement yet).
#[derive(Clone, Copy)]
pub struct Chain<'a>(pub &'a dyn HelperLookup, pub &'a dyn HelperLookup);

impl HelperLookup for Chain<'_> {
    fn proto(&self, id: i32) -> Option<HelperProto> {
        self.0.proto(id).or_else(|| self.1.proto(id))
    }
}
