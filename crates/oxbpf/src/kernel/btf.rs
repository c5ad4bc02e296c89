//! BTF objects: `BPF_BTF_LOAD`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::sys::{self, Cmd};
use super::{len_u32, load_with_log, KernelError, Result};

/// A BTF object loaded in the kernel, with the log from its load.
#[derive(Debug)]
pub struct Btf {
    fd: OwnedFd,
    log: String,
}

impl Btf {
    /// `BPF_BTF_LOAD` from raw BTF bytes (header, types, strings). On failure
    /// [`KernelError::BtfRejected`] carries the kernel's BTF log (a failed load at
    /// `log_level` 0 is retried at 1 to get it).
    #[doc(alias = "BPF_BTF_LOAD")]
    pub fn load(bytes: &[u8], log_level: u32) -> Result<Btf> {
        let btf_size = len_u32("btf", bytes.len())?;
        let (res, log) = load_with_log(log_level, |level, buf| {
            let mut attr = sys::BtfLoadAttr {
                btf: sys::ptr_u64(bytes.as_ptr()),
                btf_size,
                btf_log_level: level,
                btf_log_size: buf.len() as u32,
                btf_log_buf: if buf.is_empty() {
                    0
                } else {
                    sys::ptr_u64(buf.as_mut_ptr())
                },
                ..Default::default()
            };
            // `bytes` and `buf` are borrowed across the call.
            let res = sys::bpf_fd(Cmd::BtfLoad, &mut attr);
            (res, attr.btf_log_true_size)
        });
        match res {
            Ok(fd) => Ok(Btf { fd, log }),
            Err(e) => Err(KernelError::BtfRejected {
                source: e.source,
                log,
            }),
        }
    }

    /// The kernel's log from loading (empty at log level 0).
    pub fn log(&self) -> &str {
        &self.log
    }
}

impl AsFd for Btf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
