//! Program types: context layouts, return semantics, `test_run`, packet helpers.
//!
//! A [`ProgramType`] is data: its kernel number and names, the UAPI context struct with
//! the fields the type may read or write ([`CtxLayout`]), what its return value means
//! ([`ReturnKind`]) and how [`test_run`] builds its input ([`RunInput`]).
//!
//! **Packet pointers in `__u32` fields.** `xdp_md.data` and `__sk_buff.data_end` are
//! 32-bit in the UAPI; the kernel rewrites those loads into 64-bit pointer loads at
//! verification time. oxbpf instead places the context and the packet in memory below
//! 4 GiB (`MAP_32BIT`), so the zero-extended `__u32` the program loads is the real
//! address: no instruction is rewritten, and the interpreter, the JIT and an unverified
//! program all see the same thing.
//!
//! **Field permissions** become checked-mode regions: each run of readable fields is a
//! read-only region, writable fields a writable one, and fields the type may not touch
//! (`data` for socket filters, the first 8 bytes of a tracepoint record) no region at
//! all, so a forbidden access faults where the kernel's verifier would have refused the
//! program.
//!
//! [`test_run`] follows the kernel's `BPF_PROG_TEST_RUN` (`net/bpf/test_run.c`): XDP gets
//! `XDP_PACKET_HEADROOM` (256) bytes of headroom in a 4096-byte frame, so
//! `xdp_adjust_head`/`meta`/`tail` move the packet and `data_out` reflects the moves
//! (from `data_meta`); XDP data beyond the linear frame (3,520 bytes, or `data_end` of
//! `ctx_in`) goes to page-sized fragments that `xdp_load_bytes`/`store_bytes`/
//! `get_buff_len`/`adjust_tail` reach and `data_out` appends; socket filters see the packet from the network header and get the
//! Ethernet header back zeroed in `data_out`; tc sees it from the Ethernet header.
//! The same context is reused across `repeat` runs, and `duration_ns` is the mean.

mod access;
pub mod ctx;
mod frags;
mod lowmem;
mod packet;
mod testrun;
mod types;

pub use access::TypeAccess;
pub use ctx::{CtxField, CtxLayout, FieldAccess};
pub use frags::{
    bpf_xdp_get_buff_len, bpf_xdp_load_bytes, bpf_xdp_store_bytes, BPF_F_XDP_HAS_FRAGS,
    MAX_SKB_FRAGS, XDP_FRAG_SIZE,
};
pub(crate) use packet::ctx_packet_bytes;
pub use packet::{
    bpf_skb_load_bytes, bpf_skb_store_bytes, bpf_xdp_adjust_head, bpf_xdp_adjust_meta,
    bpf_xdp_adjust_tail, ETH_HLEN, PACKET_HELPERS, SKB_HEADROOM, XDP_FRAME_LEN, XDP_FRAME_SIZE,
    XDP_PACKET_HEADROOM, XDP_TAILROOM,
};
pub use testrun::{test_run, Engine, TestRun, TestRunError, TestRunOutput};
pub use types::{ProgramType, ReturnKind, RunInput, PROGRAM_TYPES};

use crate::helpers::Registry;

/// `BPF_F_SLEEPABLE`: the `BPF_PROG_LOAD` flag of sleepable (`.s`) sections.
pub const BPF_F_SLEEPABLE: u32 = 1 << 4;

/// The `BPF_PROG_LOAD` flags libbpf derives from a section name (`xdp.frags` →
/// [`BPF_F_XDP_HAS_FRAGS`], `.s` → [`BPF_F_SLEEPABLE`]).
pub fn load_flags(kind: &crate::object::ProgramKind) -> u32 {
    let mut f = 0;
    if kind.xdp_frags {
        f |= BPF_F_XDP_HAS_FRAGS;
    }
    if kind.sleepable {
        f |= BPF_F_SLEEPABLE;
    }
    f
}

/// Adds the packet helpers to `registry` (keeping any helper already registered under
/// the same id, so an embedder's or a newer implementation wins).
pub fn register_packet_helpers(registry: &mut Registry) {
    for h in PACKET_HELPERS {
        if registry.get(h.id).is_none() {
            registry.register(*h);
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(all(test, target_os = "linux"))]
mod tests_access;
#[cfg(all(test, target_os = "linux"))]
mod tests_frags;
#[cfg(all(test, target_os = "linux"))]
mod tests_kernel;
