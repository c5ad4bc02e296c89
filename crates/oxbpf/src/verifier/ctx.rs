//! Program-type hooks: how `r1`..`r5` start, which context fields may be accessed and what
//! they load (kernel `bpf_verifier_ops::is_valid_access`), the allowed helpers and the
//! return range. Each program type implements [`CtxAccess`]; two are built in.

/// What an entry register holds when the program starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EntryArg {
    /// Not initialised.
    None,
    /// The context pointer.
    Ctx,
    /// A pointer to `size` bytes of memory.
    Mem { size: u32 },
    /// A number.
    Scalar,
}

/// What a permitted context load produces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CtxField {
    /// A number, zero-extended from the access size.
    Scalar,
    /// The packet's first byte (kernel `PTR_TO_PACKET`).
    PacketData,
    /// One past the packet's last byte (`PTR_TO_PACKET_END`).
    PacketEnd,
    /// The packet metadata's first byte (`PTR_TO_PACKET_META`).
    PacketMeta,
}

/// A context access the program type does not permit.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[error("context access not permitted")]
pub struct CtxDenied;

/// The verifier's view of a program type.
pub trait CtxAccess {
    /// A short name for the log (`xdp`, `raw_mem`).
    fn name(&self) -> &str;

    /// What `r1`..`r5` hold at entry (index 0 is `r1`).
    fn entry_args(&self) -> [EntryArg; 5];

    /// Whether the context bytes `[off, off + size)` may be read (`write == false`) or
    /// written, and what a read produces.
    fn check_access(&self, off: i32, size: u32, write: bool) -> Result<CtxField, CtxDenied>;

    /// The kernel's program type number (`enum bpf_prog_type`), if this type has one;
    /// helpers restricted to some program types are checked against it.
    fn kernel_prog_type(&self) -> Option<u32> {
        None
    }

    /// The range `r0` must lie in at program exit, if restricted.
    fn return_range(&self) -> Option<(i64, i64)> {
        None
    }

    /// Whether the program type may call helper `id`.
    fn helper_allowed(&self, id: i32) -> bool {
        let _ = id;
        true
    }
}

/// The raw-memory program of `oxbpf run`: `r1` points to `size` bytes of input memory,
/// `r2` holds its length. There is no context structure.
#[derive(Clone, Copy, Debug)]
pub struct RawMem {
    /// Size of the input memory in bytes, known at verification time.
    pub size: u32,
}

impl CtxAccess for RawMem {
    fn name(&self) -> &str {
        "raw_mem"
    }

    fn entry_args(&self) -> [EntryArg; 5] {
        [
            EntryArg::Mem { size: self.size },
            EntryArg::Scalar,
            EntryArg::None,
            EntryArg::None,
            EntryArg::None,
        ]
    }

    fn check_access(&self, _off: i32, _size: u32, _write: bool) -> Result<CtxField, CtxDenied> {
        Err(CtxDenied)
    }
}

/// XDP (`struct xdp_md`): `data`, `data_end`, `data_meta` are packet pointers,
/// `ingress_ifindex`, `rx_queue_index` numbers; all `u32`, read-only. `egress_ifindex` is
/// readable only by programs attached to device maps ([`XdpDevmap`]), as in the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct Xdp;

/// XDP attached to a device map (`BPF_XDP_DEVMAP`): [`Xdp`] plus `egress_ifindex` at 20.
#[derive(Clone, Copy, Debug, Default)]
pub struct XdpDevmap;

/// `offsetof(struct xdp_md, egress_ifindex)`.
const XDP_EGRESS_IFINDEX: i32 = 20;

/// `sizeof(struct xdp_md)`.
const XDP_MD_SIZE: i32 = 24;

impl CtxAccess for Xdp {
    fn name(&self) -> &str {
        "xdp"
    }

    fn kernel_prog_type(&self) -> Option<u32> {
        Some(6)
    }

    fn entry_args(&self) -> [EntryArg; 5] {
        [
            EntryArg::Ctx,
            EntryArg::None,
            EntryArg::None,
            EntryArg::None,
            EntryArg::None,
        ]
    }

    fn check_access(&self, off: i32, size: u32, write: bool) -> Result<CtxField, CtxDenied> {
        if write
            || size != 4
            || !(0..XDP_MD_SIZE).contains(&off)
            || off % 4 != 0
            || off == XDP_EGRESS_IFINDEX
        {
            return Err(CtxDenied);
        }
        Ok(match off {
            0 => CtxField::PacketData,
            4 => CtxField::PacketEnd,
            8 => CtxField::PacketMeta,
            _ => CtxField::Scalar,
        })
    }
}

impl CtxAccess for XdpDevmap {
    fn name(&self) -> &str {
        "xdp_devmap"
    }

    fn entry_args(&self) -> [EntryArg; 5] {
        Xdp.entry_args()
    }

    fn kernel_prog_type(&self) -> Option<u32> {
        Xdp.kernel_prog_type()
    }

    fn check_access(&self, off: i32, size: u32, write: bool) -> Result<CtxField, CtxDenied> {
        if off == XDP_EGRESS_IFINDEX && size == 4 && !write {
            return Ok(CtxField::Scalar);
        }
        Xdp.check_access(off, size, write)
    }
}
