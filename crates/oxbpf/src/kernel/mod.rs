//! The real kernel's bpf(2) as a backend: load programs, create maps, `test_run`, get info.
//!
//! Tests use it as an oracle (run the same bytes in the kernel and in oxbpf, compare);
//! users use it to load for real. All calls go through one choke point,
//! [`sys::bpf`], which returns a [`SysError`] naming the command and the errno. Objects are
//! owned file descriptors ([`OwnedFd`]): dropping a [`Program`], [`Map`] or [`Btf`] closes it.
//!
//! ```no_run
//! use oxbpf::kernel::{self, ProgLoad, TestRun};
//! // r0 = 42; exit
//! let insns = [0xb7, 0, 0, 0, 42, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
//! if let Err(reason) = kernel::available() {
//!     eprintln!("SKIPPED: kernel unavailable: {reason}");
//!     return;
//! }
//! let prog = kernel::Program::load(&ProgLoad::new(kernel::PROG_TYPE_XDP, &insns)).unwrap();
//! let out = prog.test_run(&TestRun { data_in: &[0; 64], ..TestRun::default() }).unwrap();
//! assert_eq!(out.retval, 42);
//! ```

mod btf;
mod map;
pub mod mem;
mod prog;
pub mod sys;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

pub use btf::Btf;
pub use map::{Map, MapBtf, MapCreate, MapInfo};
pub use mem::{run_program_with_mem, KernelRun, MEM_RUN_MAX};
pub use prog::{ProgBtf, ProgInfo, ProgLoad, Program, TestRun, TestRunOutput};
pub use sys::{Cmd, SysError};

/// `BPF_PROG_TYPE_SOCKET_FILTER`
pub const PROG_TYPE_SOCKET_FILTER: u32 = 1;
/// `BPF_PROG_TYPE_SCHED_CLS`
pub const PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_PROG_TYPE_XDP`
pub const PROG_TYPE_XDP: u32 = 6;
/// `BPF_MAP_TYPE_HASH`
pub const MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_ARRAY`
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_ANY`: create or update.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only; `EEXIST` if the key is there.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: update only; `ENOENT` if the key is missing.
pub const BPF_EXIST: u64 = 2;

/// Everything that can go wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A bpf(2) call failed; carries the command and errno.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// `BPF_PROG_LOAD` failed: the verifier's log says why.
    #[error("BPF_PROG_LOAD of `{name}` failed: {source}\nverifier log:\n{log}")]
    ProgRejected {
        /// Program name passed to the kernel.
        name: String,
        /// The errno (`EACCES` for verifier rejections, `EINVAL` for bad attrs...).
        #[source]
        source: io::Error,
        /// The verifier log (may be empty, e.g. for attr errors caught before verifying).
        log: String,
    },
    /// `BPF_BTF_LOAD` failed: the BTF log says why.
    #[error("BPF_BTF_LOAD failed: {source}\nBTF log:\n{log}")]
    BtfRejected {
        /// The errno.
        #[source]
        source: io::Error,
        /// The kernel's BTF log.
        log: String,
    },
    /// Instruction bytes that are not a whole number of 8-byte slots.
    #[error("program `{name}` is {len} bytes, not a whole number of 8-byte instruction slots")]
    InsnLength {
        /// Program name.
        name: String,
        /// Byte length given.
        len: usize,
    },
    /// Object names are at most 15 bytes (`BPF_OBJ_NAME_LEN` - 1) of `[A-Za-z0-9_.]`.
    #[error("object name `{name}` is invalid: at most 15 bytes of [A-Za-z0-9_.]")]
    BadName {
        /// The rejected name.
        name: String,
    },
    /// The license string has an interior NUL.
    #[error("license `{license}` contains a NUL byte")]
    LicenseNul {
        /// The rejected license.
        license: String,
    },
    /// func_info / line_info bytes are not a whole number of records.
    #[error("{what} is {len} bytes, not a multiple of its record size {rec_size}")]
    RecordLength {
        /// `func_info` or `line_info`.
        what: &'static str,
        /// Byte length given.
        len: usize,
        /// Record size given.
        rec_size: u32,
    },
    /// A key or value buffer of the wrong size for the map.
    #[error("map {map_id}: {what} is {got} bytes, the map expects {expected}")]
    ElemSize {
        /// Kernel id of the map (0 if unknown).
        map_id: u32,
        /// `key` or `value`.
        what: &'static str,
        /// Size expected by the map.
        expected: usize,
        /// Size given.
        got: usize,
    },
    /// `BPF_PROG_TEST_RUN` returned `ENOSPC`: an output buffer was too small.
    #[error("BPF_PROG_TEST_RUN: {what} needs {needed} bytes, buffer has {capacity}")]
    OutputTooSmall {
        /// `data_out` or `ctx_out`.
        what: &'static str,
        /// Size the kernel wanted to write.
        needed: u32,
        /// Capacity given.
        capacity: usize,
    },
    /// A size the UAPI carries as `u32` does not fit.
    #[error("{what} is {len} bytes, too large for bpf(2)")]
    TooLarge {
        /// Which buffer.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// [`run_program_with_mem`] could not wrap or run the program.
    #[error("run_program_with_mem: {reason}")]
    MemRun {
        /// What went wrong.
        reason: String,
    },
}

impl KernelError {
    /// The errno behind this error, if it came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Sys(e) => Some(e.errno()),
            KernelError::ProgRejected { source, .. } | KernelError::BtfRejected { source, .. } => {
                source.raw_os_error()
            }
            _ => None,
        }
    }

    /// The verifier or BTF log carried by a rejection, if any.
    pub fn log(&self) -> Option<&str> {
        match self {
            KernelError::ProgRejected { log, .. } | KernelError::BtfRejected { log, .. } => {
                Some(log)
            }
            _ => None,
        }
    }
}

/// Result alias for this module.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// Checks that bpf(2) works here: loads a two-instruction XDP program and `test_run`s it.
///
/// Returns `Err(reason)` when the kernel cannot be used (not root / no `CAP_BPF`, bpf(2)
/// compiled out, `test_run` missing...), so tests can say loudly why they skipped. The
/// probe runs once per process.
pub fn available() -> Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn probe() -> Result<(), String> {
    // r0 = 2 (XDP_PASS); exit
    const INSNS: [u8; 16] = [0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let explain = |e: &KernelError| -> String {
        let why = match e.errno() {
            Some(libc::EPERM) | Some(libc::EACCES) if euid != 0 => {
                format!("not root (euid {euid}) and no CAP_BPF")
            }
            Some(libc::EPERM) => "bpf(2) denied (EPERM) even as root (seccomp/LSM?)".into(),
            Some(libc::ENOSYS) => "bpf(2) not implemented (ENOSYS: CONFIG_BPF_SYSCALL off)".into(),
            _ => "bpf(2) probe failed".into(),
        };
        format!("{why}: {e}")
    };
    let prog = Program::load(&ProgLoad {
        name: "oxbpf_probe",
        ..ProgLoad::new(PROG_TYPE_XDP, &INSNS)
    })
    .map_err(|e| explain(&e))?;
    let out = prog
        .test_run(&TestRun {
            data_in: &[0u8; 64],
            ..TestRun::default()
        })
        .map_err(|e| explain(&e))?;
    if out.retval != 2 {
        return Err(format!(
            "probe program returned {} instead of 2 (XDP_PASS)",
            out.retval
        ));
    }
    Ok(())
}

/// Walks `BPF_PROG_GET_NEXT_ID` / `BPF_MAP_GET_NEXT_ID` from the start.
fn next_ids(cmd: Cmd) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut start = 0u32;
    loop {
        let mut attr = sys::GetIdAttr {
            start_id: start,
            ..Default::default()
        };
        match sys::bpf(cmd, &mut attr) {
            Ok(_) => {
                ids.push(attr.next_id);
                start = attr.next_id;
            }
            Err(e) if e.errno() == libc::ENOENT => return Ok(ids),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Ids of all programs loaded in the kernel (`BPF_PROG_GET_NEXT_ID`).
#[doc(alias = "BPF_PROG_GET_NEXT_ID")]
pub fn prog_ids() -> Result<Vec<u32>> {
    next_ids(Cmd::ProgGetNextId)
}

/// Ids of all maps in the kernel (`BPF_MAP_GET_NEXT_ID`).
#[doc(alias = "BPF_MAP_GET_NEXT_ID")]
pub fn map_ids() -> Result<Vec<u32>> {
    next_ids(Cmd::MapGetNextId)
}

/// Opens an fd for an object id (`BPF_PROG_GET_FD_BY_ID`, `BPF_MAP_GET_FD_BY_ID`).
fn fd_by_id(cmd: Cmd, id: u32) -> Result<OwnedFd> {
    let mut attr = sys::GetIdAttr {
        start_id: id,
        ..Default::default()
    };
    Ok(sys::bpf_fd(cmd, &mut attr)?)
}

/// Validates an object name: the kernel accepts at most 15 bytes of `[A-Za-z0-9_.]`.
fn check_name(name: &str) -> Result<[u8; sys::OBJ_NAME_LEN]> {
    let ok = name.len() < sys::OBJ_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if ok {
        Ok(sys::obj_name(name))
    } else {
        Err(KernelError::BadName { name: name.into() })
    }
}

/// Converts a buffer length to the `u32` the UAPI carries.
fn len_u32(what: &'static str, len: usize) -> Result<u32> {
    u32::try_from(len).map_err(|_| KernelError::TooLarge { what, len })
}

/// First log buffer size; grown on `ENOSPC` up to [`LOG_MAX`].
const LOG_INITIAL: usize = 64 * 1024;
/// Largest log buffer we allocate (the kernel's own cap is 1 GiB).
const LOG_MAX: usize = 256 * 1024 * 1024;

/// Runs a load command (`BPF_PROG_LOAD`, `BPF_BTF_LOAD`) with a verifier log that grows
/// on `ENOSPC`. `attempt(level, buf)` issues the call with that log level and buffer and
/// returns the fd or the error plus the kernel's `log_true_size` (0 if not reported).
///
/// A load requested with `log_level == 0` that fails is retried once at level 1, so the
/// error always carries the log. Returns the fd and log text, or the errno and log text.
fn load_with_log(
    log_level: u32,
    mut attempt: impl FnMut(u32, &mut [u8]) -> (Result<OwnedFd, SysError>, u32),
) -> (Result<OwnedFd, SysError>, String) {
    let mut level = log_level;
    let mut size = if level == 0 { 0 } else { LOG_INITIAL };
    loop {
        let mut buf = vec![0u8; size];
        let (res, true_size) = attempt(level, &mut buf);
        match res {
            Ok(fd) => return (Ok(fd), log_text(&buf)),
            // A truncated log makes the kernel fail the load even when verification
            // passed; retry with the size it asked for (or double when it doesn't say).
            Err(e) if e.errno() == libc::ENOSPC && level > 0 && size < LOG_MAX => {
                let wanted = (true_size as usize).max(size.saturating_mul(2));
                size = wanted.min(LOG_MAX);
            }
            Err(_) if level == 0 => {
                level = 1;
                size = LOG_INITIAL;
            }
            Err(e) => return (Err(e), log_text(&buf)),
        }
    }
}

/// The log buffer up to its NUL, as text.
fn log_text(buf: &[u8]) -> String {
    sys::name_from(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn enospc() -> SysError {
        SysError {
            cmd: Cmd::ProgLoad,
            source: io::Error::from_raw_os_error(libc::ENOSPC),
        }
    }

    fn eacces() -> SysError {
        SysError {
            cmd: Cmd::ProgLoad,
            source: io::Error::from_raw_os_error(libc::EACCES),
        }
    }

    fn some_fd() -> OwnedFd {
        File::open("/dev/null").expect("open /dev/null").into()
    }

    fn write_log(buf: &mut [u8], text: &str) {
        let n = text.len().min(buf.len().saturating_sub(1));
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
    }

    #[test]
    fn failed_load_without_log_is_retried_with_one() {
        let mut levels = Vec::new();
        let (res, log) = load_with_log(0, |level, buf| {
            levels.push((level, buf.len()));
            if level > 0 {
                write_log(buf, "0: (bf) r0 = r3\nR3 !read_ok\n");
            }
            (Err(eacces()), 0)
        });
        assert_eq!(levels, vec![(0, 0), (1, LOG_INITIAL)]);
        assert_eq!(res.expect_err("still fails").errno(), libc::EACCES);
        assert_eq!(log, "0: (bf) r0 = r3\nR3 !read_ok\n");
    }

    #[test]
    fn enospc_grows_to_true_size_or_doubles() {
        let mut sizes = Vec::new();
        let (res, log) = load_with_log(1, |_, buf| {
            sizes.push(buf.len());
            match sizes.len() {
                // First: kernel reports the exact size it needs.
                1 => (Err(enospc()), (LOG_INITIAL * 5) as u32),
                // Second: no true size reported (older kernel): double.
                2 => (Err(enospc()), 0),
                _ => {
                    write_log(buf, "processed 2 insns");
                    (Ok(some_fd()), 0)
                }
            }
        });
        assert_eq!(sizes, vec![LOG_INITIAL, LOG_INITIAL * 5, LOG_INITIAL * 10]);
        assert!(res.is_ok());
        assert_eq!(log, "processed 2 insns");
    }

    #[test]
    fn log_growth_stops_at_the_cap() {
        let mut calls = 0;
        let (res, _) = load_with_log(2, |_, buf| {
            calls += 1;
            assert!(buf.len() <= LOG_MAX);
            (Err(enospc()), u32::MAX)
        });
        assert_eq!(calls, 2, "initial size, then the cap");
        assert_eq!(res.expect_err("gives up").errno(), libc::ENOSPC);
    }

    #[test]
    fn names_follow_kernel_rules() {
        assert_eq!(
            &check_name("ok_name.1").expect("valid")[..10],
            b"ok_name.1\0"
        );
        assert!(check_name("").is_ok());
        assert!(check_name("fifteen_chars_x").is_ok());
        assert!(check_name("sixteen_chars_xx").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name("dash-no").is_err());
    }
}
