//! `bpf_csum_diff`: the ones'-complement checksum difference used to update IP/L4
//! checksums incrementally (with `l3_csum_replace`/`l4_csum_replace` or by hand).

use super::errno::EFAULT;
use super::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::vm::{Access, RunContext};

/// Adds with end-around carry (the kernel's `csum_add`).
fn csum_add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u32)
}

/// The x86-64 `csum_partial`: the 32-bit ones'-complement sum of `data` in memory order
/// (a trailing partial word zero-padded), plus `seed`, not folded to 16 bits.
pub fn csum_partial(data: &[u8], seed: u32) -> u32 {
    let mut sum = u64::from(seed);
    let words = data.chunks_exact(4);
    let tail = words.remainder();
    for w in words {
        sum += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
    }
    if !tail.is_empty() {
        let mut w = [0u8; 4];
        w[..tail.len()].copy_from_slice(tail);
        sum += u64::from(u32::from_ne_bytes(w));
    }
    // At most 2^30 words per call, so two folds bring the sum into 32 bits.
    let folded = (sum & 0xffff_ffff) + (sum >> 32);
    csum_add(folded as u32, (folded >> 32) as u32)
}

/// Folds a 32-bit sum to 16 bits with end-around carry (the kernel's `csum_from32to16`).
fn from32to16(x: u32) -> u32 {
    let x = (x & 0xffff) + (x >> 16);
    (x & 0xffff) + (x >> 16)
}

/// The checksum difference of replacing `from` by `to`, with
/// `seed` (a previous checksum) folded in, as Linux 6.13+ computes it: push (`to` only),
/// pull (`from` only) or diff, the 32-bit result folded to 16 bits (checked against the
/// kernel by the oracle test).
pub fn csum_diff(from: &[u8], to: &[u8], seed: u32) -> u32 {
    let sum = match (from.is_empty(), to.is_empty()) {
        (false, false) => csum_add(csum_partial(to, seed), !csum_partial(from, 0)),
        (true, false) => csum_partial(to, seed),
        (false, true) => !csum_partial(from, !seed),
        (true, true) => seed,
    };
    from32to16(sum)
}

/// `s64 bpf_csum_diff(__be32 *from, u32 from_size, __be32 *to, u32 to_size, __wsum seed)`:
/// see [`csum_diff`]. Linux 6.13+ accepts any sizes (older kernels required multiples of 4
/// and at most 512 bytes in all); so does oxbpf, as the kernel oracle test shows.
pub extern "C" fn bpf_csum_diff(
    from: u64,
    from_size: u64,
    to: u64,
    to_size: u64,
    seed: u64,
    ctx: &mut RunContext,
) -> u64 {
    let (from_size, to_size) = (u64::from(from_size as u32), u64::from(to_size as u32));
    let mut read = |addr: u64, len: u64| -> Option<Vec<u8>> {
        if !ctx.check_arg(addr, len, Access::Read) {
            return None;
        }
        let mut buf = vec![0u8; len as usize];
        if len > 0 {
            ctx.read_bytes(addr, &mut buf).ok()?;
        }
        Some(buf)
    };
    let (Some(a), Some(b)) = (read(from, from_size), read(to, to_size)) else {
        return neg_errno(EFAULT);
    };
    u64::from(csum_diff(&a, &b, seed as u32))
}

const RO_MEM_OR_NULL: ArgKind = ArgKind::PtrToMem {
    readonly: true,
    maybe_null: true,
};

/// Program types with `bpf_csum_diff`: sched_cls, sched_act, xdp, lwt_in/out/xmit,
/// lwt_seg6local.
const CSUM_TYPES: &[u32] = &[3, 4, 6, 10, 11, 12, 18];

/// The helper with its kernel prototype.
pub(super) const HELPERS: &[Helper] = &[kernel_helper(
    28,
    bpf_csum_diff,
    HelperProto::new(
        &[
            RO_MEM_OR_NULL,
            ArgKind::ConstSizeOrZero,
            RO_MEM_OR_NULL,
            ArgKind::ConstSizeOrZero,
            ArgKind::Anything,
        ],
        RetKind::Integer,
    )
    .only(CSUM_TYPES),
)];
