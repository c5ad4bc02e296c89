//! The maps' error type: every variant carries the kernel errno the same failure gives
//! through bpf(2) or a helper, so callers can compare behaviour with the real kernel.

use super::MapType;

/// Kernel errno values used by maps (from `asm-generic/errno-base.h` / `errno.h`).
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such entry.
    pub const ENOENT: i32 = 2;
    /// Argument list too long: full map, index past the end, sizes too big.
    pub const E2BIG: i32 = 7;
    /// Bad file descriptor (unknown map/program id).
    pub const EBADF: i32 = 9;
    /// Try again: no room in a ring buffer.
    pub const EAGAIN: i32 = 11;
    /// Out of memory.
    pub const ENOMEM: i32 = 12;
    /// Device or resource busy.
    pub const EBUSY: i32 = 16;
    /// Element already exists.
    pub const EEXIST: i32 = 17;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// No space left (LPM trie full).
    pub const ENOSPC: i32 = 28;
    /// Operation not supported (uapi value).
    pub const EOPNOTSUPP: i32 = 95;
    /// Kernel-internal "operation not supported" (`include/linux/errno.h`), which bpf(2)
    /// leaks to user space for e.g. ring buffer lookups.
    pub const ENOTSUPP: i32 = 524;
}

/// A failed map operation. [`MapError::errno`] gives the kernel errno for the same case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// `map_type` is not a number this crate knows (or not a map type at all).
    #[error("unknown map type {raw}")]
    UnknownType {
        /// The raw `enum bpf_map_type` value.
        raw: u32,
    },
    /// A map type name that is not one bpftool prints.
    #[error("unknown map type name {name:?}")]
    UnknownTypeName {
        /// The name given.
        name: String,
    },
    /// The map definition is rejected with EINVAL (sizes, flags, layout).
    #[error("invalid {map_type} map definition: {reason}")]
    InvalidDef {
        /// Map type being created.
        map_type: MapType,
        /// What is wrong, in kernel terms.
        reason: &'static str,
    },
    /// The map definition is too big (E2BIG).
    #[error("{map_type} map definition too big: {reason}")]
    DefTooBig {
        /// Map type being created.
        map_type: MapType,
        /// Which size is too big.
        reason: &'static str,
    },
    /// A map-in-map definition lacks its inner map template (the kernel's bad `inner_map_fd`).
    #[error("{map_type} map needs an inner map definition")]
    MissingInner {
        /// Map type being created.
        map_type: MapType,
    },
    /// Map name with characters other than alphanumerics, `_` and `.`, or too long.
    #[error("invalid map name {name:?}")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// Key or value buffer of the wrong length for this map.
    #[error("{what} size mismatch: expected {expected} bytes, got {got}")]
    SizeMismatch {
        /// "key" or "value".
        what: &'static str,
        /// Size the map needs.
        expected: usize,
        /// Size supplied.
        got: usize,
    },
    /// Flags not valid for this operation.
    #[error("invalid flags {flags:#x} for {op}")]
    InvalidFlags {
        /// Operation name (kernel command or helper).
        op: &'static str,
        /// The rejected flags.
        flags: u64,
    },
    /// Any other EINVAL from an operation.
    #[error("invalid argument to {op}: {reason}")]
    InvalidArg {
        /// Operation name.
        op: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The key is not in the map (or the queue/stack is empty, or iteration ended).
    #[error("no such element")]
    NotFound,
    /// `BPF_NOEXIST` and the key already exists.
    #[error("element already exists")]
    Exists,
    /// The map has `max_entries` elements (E2BIG for hash maps and queues).
    #[error("map full ({max_entries} entries)")]
    Full {
        /// The map's capacity.
        max_entries: u32,
    },
    /// LPM trie full (the trie reports ENOSPC, unlike hash maps).
    #[error("LPM trie full ({max_entries} entries)")]
    NoSpace {
        /// The map's capacity.
        max_entries: u32,
    },
    /// Array index past `max_entries` on update (E2BIG as the kernel).
    #[error("index {index} out of range (max_entries {max_entries})")]
    IndexOutOfRange {
        /// The index given.
        index: u32,
        /// The array's size.
        max_entries: u32,
    },
    /// Operation the map type does not implement.
    #[error("{op} not supported on {map_type} maps")]
    NotSupported {
        /// Operation name.
        op: &'static str,
        /// The map's type.
        map_type: MapType,
        /// The errno the kernel returns in this case (EINVAL, ENOTSUPP or EOPNOTSUPP).
        errno: i32,
    },
    /// Write to a frozen map or one created read-only for this side (EPERM).
    #[error("{op} not permitted: {reason}")]
    PermissionDenied {
        /// Operation name.
        op: &'static str,
        /// Frozen, BPF_F_RDONLY, ...
        reason: &'static str,
    },
    /// `freeze` on a map already frozen. The kernel answers EPERM: a frozen map is no
    /// longer writable from the syscall side, and that check comes first.
    #[error("map already frozen")]
    AlreadyFrozen,
    /// A map or program id that the runtime does not know (EBADF).
    #[error("bad map or program id {id}")]
    BadId {
        /// The id given as value.
        id: u32,
    },
    /// Memory for the map could not be allocated.
    #[error("cannot allocate {bytes} bytes of map memory")]
    NoMemory {
        /// Size of the failed allocation.
        bytes: usize,
    },
}

impl MapError {
    /// The positive kernel errno for this error.
    pub fn errno(&self) -> i32 {
        use errno::*;
        match self {
            MapError::UnknownType { .. }
            | MapError::UnknownTypeName { .. }
            | MapError::InvalidDef { .. }
            | MapError::InvalidName { .. }
            | MapError::SizeMismatch { .. }
            | MapError::InvalidFlags { .. }
            | MapError::InvalidArg { .. } => EINVAL,
            MapError::DefTooBig { .. } | MapError::Full { .. } => E2BIG,
            MapError::IndexOutOfRange { .. } => E2BIG,
            MapError::MissingInner { .. } | MapError::BadId { .. } => EBADF,
            MapError::NotFound => ENOENT,
            MapError::Exists => EEXIST,
            MapError::NoSpace { .. } => ENOSPC,
            MapError::NotSupported { errno, .. } => *errno,
            MapError::PermissionDenied { .. } | MapError::AlreadyFrozen => EPERM,
            MapError::NoMemory { .. } => ENOMEM,
        }
    }

    /// The value a helper returns for this error: the negative errno, as `r0`.
    #[cold]
    pub fn helper_ret(&self) -> i64 {
        -i64::from(self.errno())
    }
}

/// Turn a map result into a helper's `r0`: 0 on success, `-errno` on failure.
pub(crate) fn ret(r: Result<(), MapError>) -> i64 {
    match r {
        Ok(()) => 0,
        Err(e) => e.helper_ret(),
    }
}
