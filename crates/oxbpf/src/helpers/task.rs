//! Helpers about the current task: pid/tgid, uid/gid, comm, and `bpf_get_func_ip`.
//!
//! In the kernel "current" is the task the program runs in (for `BPF_PROG_TEST_RUN`, the
//! process that issued the syscall). oxbpf runs programs in the host process, so these
//! report the calling thread of the host process.

use super::{kernel_helper, ArgKind, Helper, HelperProto, RetKind};
use crate::vm::{Access, RunContext};

/// Bytes of a task name, NUL included (`TASK_COMM_LEN`).
pub const TASK_COMM_LEN: usize = 16;

/// `u64 bpf_get_current_pid_tgid(void)`: `tgid << 32 | pid` (process id, thread id).
pub extern "C" fn bpf_get_current_pid_tgid(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    // SAFETY: getpid and gettid have no preconditions.
    let (tgid, pid) = unsafe { (libc::getpid(), libc::gettid()) };
    (u64::from(tgid as u32) << 32) | u64::from(pid as u32)
}

/// `u64 bpf_get_current_uid_gid(void)`: `gid << 32 | uid`.
pub extern "C" fn bpf_get_current_uid_gid(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: &mut RunContext,
) -> u64 {
    // SAFETY: getuid and getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    (u64::from(gid) << 32) | u64::from(uid)
}

/// The calling thread's name (what `/proc/thread-self/comm` shows), without the NUL.
pub fn current_comm() -> Vec<u8> {
    let mut name = [0u8; TASK_COMM_LEN];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, into the buffer.
    let rc = unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) };
    if rc != 0 {
        return Vec::new();
    }
    let len = name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(TASK_COMM_LEN - 1);
    name[..len].to_vec()
}

/// `long bpf_get_current_comm(void *buf, u32 size_of_buf)`: the thread name, truncated to
/// `size - 1` bytes, NUL-terminated and zero-padded to `size` (the kernel's
/// `strscpy_pad`). Returns 0.
pub extern "C" fn bpf_get_current_comm(
    buf: u64,
    size: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    let size = size as u32 as usize;
    if size == 0 {
        return 0;
    }
    if !ctx.check_arg(buf, size as u64, Access::Write) {
        return 0;
    }
    let comm = current_comm();
    let mut out = vec![0u8; size];
    let n = comm.len().min(size - 1);
    out[..n].copy_from_slice(&comm[..n]);
    let _ = ctx.write_bytes(buf, &out);
    0
}

/// `u64 bpf_get_func_ip(void *ctx)`: the address of the traced function
/// ([`RunContext::func_ip`], set by the runtime for kprobe/fentry-style attachments;
/// 0 when the program is not attached to a function, as for the kernel's kretprobes).
pub extern "C" fn bpf_get_func_ip(
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    ctx.func_ip
}

const NO_ARGS: HelperProto = HelperProto::new(&[], RetKind::Integer);

/// Program types with `bpf_get_func_ip`: kprobe and tracing (fentry/fexit/fmod_ret).
const FUNC_IP_TYPES: &[u32] = &[2, 26];

/// The helpers of this file with their kernel prototypes.
pub(super) const HELPERS: &[Helper] = &[
    kernel_helper(14, bpf_get_current_pid_tgid, NO_ARGS),
    kernel_helper(15, bpf_get_current_uid_gid, NO_ARGS),
    kernel_helper(
        16,
        bpf_get_current_comm,
        HelperProto::new(
            &[ArgKind::PtrToUninitMem, ArgKind::ConstSize],
            RetKind::Integer,
        ),
    ),
    kernel_helper(
        173,
        bpf_get_func_ip,
        HelperProto::new(&[ArgKind::PtrToCtx], RetKind::Integer)
            .gpl()
            .only(FUNC_IP_TYPES),
    ),
];
