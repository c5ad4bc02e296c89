//! `bpf_probe_read*`: copy memory from an arbitrary address that may be invalid.
//!
//! oxbpf runs in one process, so "kernel" and "user" memory are both the host process's
//! memory and the `_kernel`/`_user` variants read the same memory. The kernel refuses
//! user addresses in the `_kernel` variants with -ERANGE; oxbpf does so for NULL-page
//! addresses, where the `_user` variants (and the legacy ones, which try user memory
//! first for such addresses) give -EFAULT. The source is read with
//! `process_vm_readv(2)` on our own pid, which reports an unmapped or unreadable address
//! as `EFAULT` instead of faulting, so a bad address returns `-EFAULT` and never crashes
//! the host. Where that syscall is not permitted, `/proc/self/mem` gives the same
//! guarantee; failing both, only memory in the run's regions is readable.
//!
//! The destination is a program buffer and is checked like any helper argument (a fault
//! if it is not writable for `size` bytes). On failure it is zeroed, as in the kernel.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use super::errno::{EFAULT, ERANGE};
use super::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::vm::{Access, RunContext};

/// Reads `dst.len()` bytes of host memory at `addr`; `false` if any of them is not
/// readable. Never faults.
pub fn read_host_memory(addr: u64, dst: &mut [u8], ctx: &mut RunContext) -> bool {
    if dst.is_empty() {
        return true;
    }
    if addr.checked_add(dst.len() as u64).is_none() {
        return false;
    }
    match vm_readv(addr, dst) {
        Ok(ok) => ok,
        Err(()) => match proc_self_mem() {
            Some(f) => f.read_exact_at(dst, addr).is_ok(),
            None => ctx.read_bytes(addr, dst).is_ok(),
        },
    }
}

/// `process_vm_readv` on our own pid: `Ok(true)` if all bytes were read, `Ok(false)` if the
/// source is not readable, `Err` if the syscall itself is unavailable.
fn vm_readv(addr: u64, dst: &mut [u8]) -> Result<bool, ()> {
    let local = libc::iovec {
        iov_base: dst.as_mut_ptr().cast(),
        iov_len: dst.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: dst.len(),
    };
    // SAFETY: `local` describes `dst`, writable for its length; the kernel validates the
    // remote range (our own address space) and reports bad addresses as EFAULT rather than
    // touching them from user mode.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return match errno {
            libc::ENOSYS | libc::EPERM => Err(()),
            _ => Ok(false),
        };
    }
    Ok(n as usize == dst.len())
}

fn proc_self_mem() -> Option<&'static File> {
    static MEM: OnceLock<Option<File>> = OnceLock::new();
    MEM.get_or_init(|| File::open("/proc/self/mem").ok())
        .as_ref()
}

/// Addresses below this are never mapped (Linux's default `vm.mmap_min_addr`). The kernel's
/// `_kernel` probes refuse user-space addresses with -ERANGE; oxbpf cannot tell kernel from
/// user addresses, but NULL-page pointers (the usual case) get the kernel's -ERANGE.
const MMAP_MIN_ADDR: u64 = 65536;

/// Zeroes `[addr, addr + len)`, already checked writable.
fn zero(addr: u64, len: u64) {
    // SAFETY: the caller checked the range writable in the run context.
    unsafe { std::ptr::write_bytes(addr as usize as *mut u8, 0, len as usize) };
}

/// `long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr)`: 0, or
/// -EFAULT (unreadable) / -ERANGE (NULL page) with `dst` zeroed.
pub extern "C" fn bpf_probe_read_kernel(
    dst: u64,
    size: u64,
    src: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    probe_read(dst, size, src, true, ctx)
}

/// `long bpf_probe_read_user(void *dst, u32 size, const void *unsafe_ptr)` (also the
/// legacy `bpf_probe_read`): as [`bpf_probe_read_kernel`], but NULL-page addresses are
/// -EFAULT as for any unmapped user address.
pub extern "C" fn bpf_probe_read_user(
    dst: u64,
    size: u64,
    src: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    probe_read(dst, size, src, false, ctx)
}

fn probe_read(dst: u64, size: u64, src: u64, kernel: bool, ctx: &mut RunContext) -> u64 {
    let size = u64::from(size as u32);
    if size == 0 {
        return 0;
    }
    if !ctx.check_arg(dst, size, Access::Write) {
        return neg_errno(EFAULT);
    }
    if kernel && src < MMAP_MIN_ADDR {
        zero(dst, size);
        return neg_errno(ERANGE);
    }
    let mut buf = vec![0u8; size as usize];
    if read_host_memory(src, &mut buf, ctx) {
        // Through the context: the destination was checked writable above.
        let _ = ctx.write_bytes(dst, &buf);
        0
    } else {
        zero(dst, size);
        neg_errno(EFAULT)
    }
}

/// `long bpf_probe_read_kernel_str(void *dst, u32 size, const void *unsafe_ptr)`: copies a NUL-terminated string of at
/// most `size - 1` bytes plus the NUL and returns the length including the NUL (a string
/// that does not fit is truncated and terminated, returning `size`). -EFAULT with `dst`
/// zeroed if the source becomes unreadable before the NUL (-ERANGE for the NULL page); 0
/// for `size == 0`.
pub extern "C" fn bpf_probe_read_kernel_str(
    dst: u64,
    size: u64,
    src: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    probe_read_str(dst, size, src, true, ctx)
}

/// `long bpf_probe_read_user_str(void *dst, u32 size, const void *unsafe_ptr)` (also the
/// legacy `bpf_probe_read_str`): as [`bpf_probe_read_kernel_str`], NULL-page addresses
/// -EFAULT.
pub extern "C" fn bpf_probe_read_user_str(
    dst: u64,
    size: u64,
    src: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    probe_read_str(dst, size, src, false, ctx)
}

fn probe_read_str(dst: u64, size: u64, src: u64, kernel: bool, ctx: &mut RunContext) -> u64 {
    let size = u64::from(size as u32);
    if size == 0 {
        return 0;
    }
    if !ctx.check_arg(dst, size, Access::Write) {
        return neg_errno(EFAULT);
    }
    if kernel && src < MMAP_MIN_ADDR {
        zero(dst, size);
        return neg_errno(ERANGE);
    }
    const PAGE: u64 = 4096;
    let mut out: Vec<u8> = Vec::with_capacity(size.min(PAGE) as usize);
    let mut done = false;
    while !done && (out.len() as u64) < size {
        let at = src.wrapping_add(out.len() as u64);
        // Page by page, so that a string ending before an unmapped page is read whole.
        let chunk = (PAGE - at % PAGE).min(size - out.len() as u64) as usize;
        let mut buf = vec![0u8; chunk];
        if !read_host_memory(at, &mut buf, ctx) {
            zero(dst, size);
            return neg_errno(EFAULT);
        }
        if let Some(nul) = buf.iter().position(|&b| b == 0) {
            buf.truncate(nul + 1);
            done = true;
        }
        out.extend_from_slice(&buf);
    }
    if !done {
        // Truncated: the last byte becomes the terminator.
        if let Some(last) = out.last_mut() {
            *last = 0;
        }
    }
    let _ = ctx.write_bytes(dst, &out);
    out.len() as u64
}

const PROBE_ARGS: [ArgKind; 3] = [
    ArgKind::PtrToUninitMem,
    ArgKind::ConstSizeOrZero,
    ArgKind::Anything,
];

/// Program types with the legacy `bpf_probe_read`/`bpf_probe_read_str` (tracing types:
/// kprobe, tracepoint, perf_event, raw_tracepoint, raw_tracepoint_writable, tracing, lsm).
const TRACING: &[u32] = &[2, 5, 7, 17, 24, 26, 29];

const PROBE: HelperProto = HelperProto::new(&PROBE_ARGS, RetKind::Integer).gpl();

/// The helpers of this file with their kernel prototypes (all GPL-only).
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(4, bpf_probe_read_user, PROBE.only(TRACING)),
    kernel_helper(45, bpf_probe_read_user_str, PROBE.only(TRACING)),
    kernel_helper(112, bpf_probe_read_user, PROBE),
    kernel_helper(113, bpf_probe_read_kernel, PROBE),
    kernel_helper(114, bpf_probe_read_user_str, PROBE),
    kernel_helper(115, bpf_probe_read_kernel_str, PROBE),
];
