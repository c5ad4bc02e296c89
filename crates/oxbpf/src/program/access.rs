//! The verifier's view of each program type ([`CtxAccess`]), derived from the type's
//! [`CtxLayout`]: the layout says which fields exist and which are writable; the access
//! size rules below are the kernel's `*_is_valid_access` functions, per context struct.

use super::ctx::{CtxField as LayoutField, FieldAccess};
use super::types::{ProgramType, RunInput};
use crate::object::prog_type as pt;
use crate::verifier::{CtxAccess, CtxDenied, CtxField, EntryArg};

/// A program type as the verifier sees it: see [`ProgramType::ctx_access`].
#[derive(Clone, Copy, Debug)]
pub struct TypeAccess {
    ty: &'static ProgramType,
}

impl ProgramType {
    /// The verifier's view of this type (entry registers, context access rules from the
    /// layout, helper restrictions by kernel type number, return range). `None` for the
    /// raw-memory type, whose input size is only known per run: verify those with
    /// [`crate::verifier::ctx::RawMem`] and the memory size.
    pub fn ctx_access(&'static self) -> Option<TypeAccess> {
        match self.input {
            RunInput::Memory => None,
            _ => Some(TypeAccess { ty: self }),
        }
    }
}

/// The kernel's `bpf_ctx_narrow_access_ok`: a power-of-two load no wider than the field.
fn narrow_ok(size: u32, field_size: u32) -> bool {
    size <= field_size && size.is_power_of_two()
}

/// `struct __sk_buff` (`bpf_skb_is_valid_access` plus the per-type tables): `cb` takes any
/// size, packet pointers and IPv4/IPv6 address words exactly 4 bytes, `tstamp` and
/// `hwtstamp` exactly 8, other fields narrow loads and full-width stores.
fn skb_size_ok(f: &LayoutField, off: u32, size: u32, write: bool) -> bool {
    match f.name {
        "cb" => true,
        "data" | "data_end" | "data_meta" | "remote_ip4" | "local_ip4" | "remote_ip6"
        | "local_ip6" => size == 4,
        "tstamp" | "hwtstamp" => size == 8,
        _ if write => size == 4 && off == f.off,
        _ => narrow_ok(size, 4),
    }
}

impl CtxAccess for TypeAccess {
    fn name(&self) -> &str {
        self.ty.bpftool_name
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

    fn kernel_prog_type(&self) -> Option<u32> {
        Some(self.ty.id)
    }

    fn return_range(&self) -> Option<(i64, i64)> {
        // The kernel restricts cgroup skb programs to 0/1 (deny/allow); the other types
        // here take any value.
        (self.ty.id == pt::CGROUP_SKB).then_some((0, 1))
    }

    fn check_access(&self, off: i32, size: u32, write: bool) -> Result<CtxField, CtxDenied> {
        let layout = self.ty.ctx;
        let off = u32::try_from(off).map_err(|_| CtxDenied)?;
        // Every type requires natural alignment of the access within the struct.
        if size == 0 || off % size != 0 {
            return Err(CtxDenied);
        }
        let f = layout.field_at(off).ok_or(CtxDenied)?;
        let end = off.checked_add(size).ok_or(CtxDenied)?;
        if end > f.off + f.size || (write && f.access != FieldAccess::ReadWrite) {
            return Err(CtxDenied);
        }
        let size_ok = match self.ty.input {
            // `xdp_is_valid_access`: 4-byte loads only.
            RunInput::Xdp => size == 4,
            RunInput::Skb { .. } => skb_size_ok(f, off, size, write),
            // `pe_prog_is_valid_access`: registers as whole longs, the two u64 fields
            // with narrow loads.
            RunInput::CtxOnly if self.ty.id == pt::PERF_EVENT => match f.name {
                "regs" => size == 8,
                _ => narrow_ok(size, 8),
            },
            // kprobe (`pt_regs`), tracepoint and raw tracepoint: any aligned load.
            RunInput::CtxOnly => true,
            RunInput::Memory => true,
        };
        if !size_ok {
            return Err(CtxDenied);
        }
        if !self.ty.direct_packet_access() {
            return Ok(CtxField::Scalar);
        }
        Ok(match f.name {
            "data" => CtxField::PacketData,
            "data_end" => CtxField::PacketEnd,
            "data_meta" => CtxField::PacketMeta,
            _ => CtxField::Scalar,
        })
    }
}
