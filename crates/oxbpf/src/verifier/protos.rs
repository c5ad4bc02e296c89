//! Helper prototypes as the verifier needs them (kernel `struct bpf_func_proto`). This is
//! the verifier's own representation; a registry of helpers implements [`HelperLookup`]
//! to plug its prototypes in.

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
    }
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
            _ => return None,
        };
        pr.changes_pkt_data = matches!(id, 44 | 54 | 65);
        Some(pr)
    }
}
