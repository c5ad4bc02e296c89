//! Helper prototypes: what the verifier checks at a call (kernel `struct bpf_func_proto`).

/// What a helper expects in one argument register (kernel `enum bpf_arg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// The argument is not used (`ARG_DONTCARE`); the register need not be initialised.
    DontCare,
    /// Any initialised value (`ARG_ANYTHING`).
    Anything,
    /// A pointer to memory the helper reads (`readonly`, `MEM_RDONLY`) or may also write,
    /// whose size is the next argument (`ARG_PTR_TO_MEM`). `maybe_null`: `PTR_MAYBE_NULL`.
    PtrToMem { readonly: bool, maybe_null: bool },
    /// A pointer to memory the helper only writes, initialising it (`ARG_PTR_TO_UNINIT_MEM`
    /// / `MEM_UNINIT`); the size is the next argument.
    PtrToUninitMem,
    /// The size of the preceding memory argument, a known constant > 0 (`ARG_CONST_SIZE`).
    ConstSize,
    /// As [`ArgKind::ConstSize`] but 0 is allowed (`ARG_CONST_SIZE_OR_ZERO`).
    ConstSizeOrZero,
    /// The program's context pointer (`ARG_PTR_TO_CTX`).
    PtrToCtx,
    /// A map handle loaded by `lddw` (`ARG_CONST_MAP_PTR`).
    ConstMapPtr,
    /// A pointer to memory holding a key of the map in the map argument
    /// (`ARG_PTR_TO_MAP_KEY`).
    PtrToMapKey,
    /// A pointer to memory holding a value of the map in the map argument
    /// (`ARG_PTR_TO_MAP_VALUE`).
    PtrToMapValue,
    /// A pointer to memory the helper fills with a value of the map in the map argument
    /// (`ARG_PTR_TO_MAP_VALUE | MEM_UNINIT`, e.g. `map_pop_elem`).
    PtrToUninitMapValue,
    /// A size the helper allocates, a known constant, 0 allowed
    /// (`ARG_CONST_ALLOC_SIZE_OR_ZERO`, `ringbuf_reserve`); the returned memory has it.
    ConstAllocSizeOrZero,
    /// A record from `ringbuf_reserve` that the helper releases
    /// (`ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`).
    PtrToRingbufMem,
    /// A pointer into the program's stack (`ARG_PTR_TO_STACK`).
    PtrToStack { maybe_null: bool },
    /// A pointer to a NUL-terminated constant string in read-only map memory
    /// (`ARG_PTR_TO_CONST_STR`).
    PtrToConstStr,
    /// A pointer to a BPF subprogram used as a callback (`ARG_PTR_TO_FUNC`).
    PtrToFunc,
    /// A `long` the helper writes its result to (`ARG_PTR_TO_LONG`).
    PtrToLong,
    /// A map value's `struct bpf_spin_lock` (`ARG_PTR_TO_SPIN_LOCK`).
    PtrToSpinLock,
}

/// What a helper returns in `r0` (kernel `enum bpf_return_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetKind {
    /// A scalar (`RET_INTEGER`).
    Integer,
    /// Nothing meaningful (`RET_VOID`); `r0` is unreadable after the call.
    Void,
    /// A pointer to a value of the map argument, or NULL (`RET_PTR_TO_MAP_VALUE_OR_NULL`).
    PtrToMapValueOrNull,
    /// A pointer to memory of a size given by a constant argument, or NULL
    /// (`RET_PTR_TO_MEM_OR_NULL`, e.g. `ringbuf_reserve`).
    PtrToMemOrNull,
}

/// The program types allowed to call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgTypes {
    /// Every program type.
    All,
    /// Only these kernel program type numbers (`enum bpf_prog_type`).
    Only(&'static [u32]),
}

impl ProgTypes {
    /// Whether the program type with this kernel number may call the helper.
    pub fn allows(&self, prog_type: u32) -> bool {
        match self {
            ProgTypes::All => true,
            ProgTypes::Only(types) => types.contains(&prog_type),
        }
    }
}

/// A helper's prototype: argument kinds (r1..r5), return kind, licence and program-type
/// restrictions. The verifier checks calls against it; the engines ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelperProto {
    /// Kinds of r1..r5; trailing unused arguments are [`ArgKind::DontCare`].
    pub args: [ArgKind; 5],
    /// What `r0` holds after the call.
    pub ret: RetKind,
    /// Only programs with a GPL-compatible licence may call it.
    pub gpl_only: bool,
    /// Program types that may call it.
    pub prog_types: ProgTypes,
}

impl HelperProto {
    /// A prototype with the given argument kinds (the rest [`ArgKind::DontCare`]), allowed
    /// for every program type and licence.
    pub const fn new(args: &[ArgKind], ret: RetKind) -> HelperProto {
        let mut a = [ArgKind::DontCare; 5];
        let mut i = 0;
        while i < args.len() && i < 5 {
            a[i] = args[i];
            i += 1;
        }
        HelperProto {
            args: a,
            ret,
            gpl_only: false,
            prog_types: ProgTypes::All,
        }
    }

    /// The same prototype, GPL-only.
    pub const fn gpl(mut self) -> HelperProto {
        self.gpl_only = true;
        self
    }

    /// The same prototype, restricted to these program types.
    pub const fn only(mut self, types: &'static [u32]) -> HelperProto {
        self.prog_types = ProgTypes::Only(types);
        self
    }

    /// Number of arguments the helper uses.
    pub fn arg_count(&self) -> usize {
        self.args
            .iter()
            .rposition(|a| *a != ArgKind::DontCare)
            .map_or(0, |i| i + 1)
    }
}
