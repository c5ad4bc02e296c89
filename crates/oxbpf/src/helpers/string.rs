//! String and formatting helpers: `bpf_strncmp`, `bpf_snprintf`, `bpf_trace_vprintk`.
//!
//! Formats follow the kernel's `bpf_bprintf_prepare` rules ([`format_printk`]).
//! `ARG_PTR_TO_CONST_STR` arguments (the kernel verifies at load time that they are
//! NUL-terminated strings in read-only map memory) must here be readable up to a NUL;
//! otherwise the helper records a fault.

use super::errno::{EFAULT, EINVAL};
use super::printk::{format_printk, print_to_trace};
use super::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::vm::{Access, Fault, FaultKind, RunContext};

/// Arguments `bpf_snprintf` and `bpf_trace_vprintk` accept (`MAX_BPRINTF_VARARGS`).
pub const MAX_BPRINTF_VARARGS: u64 = 12;

/// Reads a constant string argument (without its NUL), or records a fault.
fn const_str(ctx: &mut RunContext, addr: u64) -> Option<Vec<u8>> {
    let s = ctx.read_cstr(addr, usize::MAX);
    if s.is_none() {
        ctx.fault = Some(Fault {
            addr,
            size: 1,
            access: Access::Read,
            kind: FaultKind::OutOfBounds,
        });
    }
    s
}

/// Reads `len` bytes at `addr` or records a fault.
fn read_arg(ctx: &mut RunContext, addr: u64, len: u64) -> Option<Vec<u8>> {
    if !ctx.check_arg(addr, len, Access::Read) {
        return None;
    }
    let mut buf = vec![0u8; len as usize];
    ctx.read_bytes(addr, &mut buf).ok()?;
    Some(buf)
}

/// The `u64` arguments array of the bprintf helpers after the kernel's checks: a multiple
/// of 8 bytes, at most [`MAX_BPRINTF_VARARGS`] values, non-NULL when non-empty.
fn varargs(ctx: &mut RunContext, data: u64, data_len: u64) -> Result<Vec<u64>, u64> {
    if data_len % 8 != 0 || data_len > MAX_BPRINTF_VARARGS * 8 || (data_len != 0 && data == 0) {
        return Err(neg_errno(EINVAL));
    }
    let bytes = read_arg(ctx, data, data_len).ok_or(neg_errno(EFAULT))?;
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// `long bpf_strncmp(const char *s1, u32 s1_sz, const char *s2)`: compares at most `s1_sz`
/// bytes as the kernel's `strncmp`: 0 if equal, -1 or 1 by the first differing byte
/// (unsigned).
pub extern "C" fn bpf_strncmp(
    s1: u64,
    s1_sz: u64,
    s2: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let n = u64::from(s1_sz as u32);
    let Some(a) = read_arg(ctx, s1, n) else {
        return neg_errno(EFAULT);
    };
    let Some(b) = const_str(ctx, s2) else {
        return neg_errno(EFAULT);
    };
    for (i, &c1) in a.iter().enumerate() {
        let c2 = b.get(i).copied().unwrap_or(0);
        if c1 != c2 {
            return if c1 < c2 { -1i64 as u64 } else { 1 };
        }
        if c1 == 0 {
            break;
        }
    }
    0
}

/// `long bpf_snprintf(char *str, u32 str_size, const char *fmt, u64 *data, u32 data_len)`:
/// formats into `str` (truncated and NUL-terminated when `str_size > 0`) and returns the
/// length of the whole formatted string including its NUL; -EINVAL for a bad format or
/// arguments array, -ENOSPC if the kernel's argument staging buffer would overflow.
pub extern "C" fn bpf_snprintf(
    str: u64,
    str_size: u64,
    fmt: u64,
    data: u64,
    data_len: u64,
    ctx: &mut RunContext,
) -> u64 {
    let size = u64::from(str_size as u32);
    if !ctx.check_arg(str, size, Access::Write) {
        return neg_errno(EFAULT);
    }
    let Some(mut f) = const_str(ctx, fmt) else {
        return neg_errno(EFAULT);
    };
    let args = match varargs(ctx, data, u64::from(data_len as u32)) {
        Ok(a) => a,
        Err(e) => return e,
    };
    f.push(0);
    match format_printk(&f, &args, ctx) {
        Ok(mut msg) => {
            let full = msg.len() as u64 + 1;
            if size > 0 {
                msg.truncate(size as usize - 1);
                msg.push(0);
                let _ = ctx.write_bytes(str, &msg);
            }
            full
        }
        Err(e) => neg_errno(e),
    }
}

/// `long bpf_trace_vprintk(const char *fmt, u32 fmt_size, const void *data, u32 data_len)`:
/// `bpf_trace_printk` with up to [`MAX_BPRINTF_VARARGS`] arguments from an array. Returns
/// the message length or -EINVAL / -ENOSPC.
pub extern "C" fn bpf_trace_vprintk(
    fmt: u64,
    fmt_size: u64,
    data: u64,
    data_len: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let args = match varargs(ctx, data, u64::from(data_len as u32)) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let size = u64::from(fmt_size as u32);
    if size == 0 {
        return neg_errno(EINVAL);
    }
    let Some(f) = read_arg(ctx, fmt, size) else {
        return neg_errno(EFAULT);
    };
    print_to_trace(&f, &args, ctx)
}

const RO_MEM: ArgKind = ArgKind::PtrToMem {
    readonly: true,
    maybe_null: false,
};
const RO_MEM_OR_NULL: ArgKind = ArgKind::PtrToMem {
    readonly: true,
    maybe_null: true,
};

/// The helpers of this file with their kernel prototypes.
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(
        165,
        bpf_snprintf,
        HelperProto::new(
            &[
                ArgKind::PtrToMem {
                    readonly: false,
                    maybe_null: true,
                },
                ArgKind::ConstSizeOrZero,
                ArgKind::PtrToConstStr,
                RO_MEM_OR_NULL,
                ArgKind::ConstSizeOrZero,
            ],
            RetKind::Integer,
        )
        .gpl(),
    ),
    kernel_helper(
        177,
        bpf_trace_vprintk,
        HelperProto::new(
            &[
                RO_MEM,
                ArgKind::ConstSize,
                RO_MEM_OR_NULL,
                ArgKind::ConstSizeOrZero,
            ],
            RetKind::Integer,
        )
        .gpl(),
    ),
    kernel_helper(
        182,
        bpf_strncmp,
        HelperProto::new(
            &[RO_MEM, ArgKind::ConstSize, ArgKind::PtrToConstStr],
            RetKind::Integer,
        ),
    ),
];
