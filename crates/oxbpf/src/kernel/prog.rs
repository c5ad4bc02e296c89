//! Programs: `BPF_PROG_LOAD`, `BPF_PROG_TEST_RUN`, `BPF_OBJ_GET_INFO_BY_FD`.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::sys::{self, Cmd};
use super::{check_name, len_u32, load_with_log, KernelError, Result};

/// BTF describing a program: the BTF object plus raw `bpf_func_info` / `bpf_line_info`
/// records (their counts are derived from the byte lengths and record sizes).
#[derive(Debug, Clone, Copy)]
pub struct ProgBtf<'a> {
    /// A loaded BTF object ([`super::Btf`]).
    pub btf_fd: BorrowedFd<'a>,
    /// Raw `bpf_func_info` records (may be empty).
    pub func_info: &'a [u8],
    /// Size of one `func_info` record as the caller laid it out (the kernel's is 8).
    pub func_info_rec_size: u32,
    /// Raw `bpf_line_info` records (may be empty).
    pub line_info: &'a [u8],
    /// Size of one `line_info` record (the kernel's is 16).
    pub line_info_rec_size: u32,
}

/// What to load with `BPF_PROG_LOAD`. Build with [`ProgLoad::new`] and struct update syntax.
#[derive(Debug, Clone, Default)]
#[doc(alias = "BPF_PROG_LOAD")]
pub struct ProgLoad<'a> {
    /// `enum bpf_prog_type` number (e.g. [`super::PROG_TYPE_XDP`]).
    pub prog_type: u32,
    /// Raw instructions, 8 bytes per slot, with map fds already patched in.
    pub insns: &'a [u8],
    /// License; `"GPL"` unlocks GPL-only helpers.
    pub license: &'a str,
    /// `enum bpf_attach_type` number the verifier should assume (0 if not needed).
    pub expected_attach_type: u32,
    /// Program name, at most 15 bytes of `[A-Za-z0-9_.]` (may be empty).
    pub name: &'a str,
    /// `BPF_F_*` load flags (e.g. `BPF_F_SLEEPABLE`).
    pub prog_flags: u32,
    /// `kern_version` (ignored by current kernels).
    pub kern_version: u32,
    /// Map fds that `BPF_PSEUDO_MAP_IDX` / `_IDX_VALUE` instructions index (may be empty).
    pub fd_array: &'a [RawFd],
    /// Verifier log level: 0 (none; a failed load is retried at 1 to get the log), 1, 2,
    /// or with `BPF_LOG_STATS` (4).
    pub log_level: u32,
    /// Optional BTF with func_info and line_info.
    pub btf: Option<ProgBtf<'a>>,
    /// `attach_btf_id` for tracing-style types (0 if not needed).
    pub attach_btf_id: u32,
}

impl<'a> ProgLoad<'a> {
    /// A GPL-licensed, unnamed program of `prog_type` with no log.
    pub fn new(prog_type: u32, insns: &'a [u8]) -> Self {
        ProgLoad {
            prog_type,
            insns,
            license: "GPL",
            ..ProgLoad::default()
        }
    }
}

/// A program loaded in the kernel, with the verifier log from its load.
#[derive(Debug)]
pub struct Program {
    fd: OwnedFd,
    log: String,
}

/// Input for `BPF_PROG_TEST_RUN`. Zero capacities mean "don't copy that buffer out".
#[derive(Debug, Clone, Default)]
#[doc(alias = "BPF_PROG_TEST_RUN")]
pub struct TestRun<'a> {
    /// Packet (or other) data in.
    pub data_in: &'a [u8],
    /// Capacity of the `data_out` buffer (0: none).
    pub data_out_capacity: usize,
    /// Context in (e.g. `struct __sk_buff`, `struct xdp_md`), empty for none.
    pub ctx_in: &'a [u8],
    /// Capacity of the `ctx_out` buffer (0: none).
    pub ctx_out_capacity: usize,
    /// Run count for timing (0 and 1 both mean once).
    pub repeat: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// CPU to run on, with `BPF_F_TEST_RUN_ON_CPU`.
    pub cpu: u32,
    /// Batch size for `BPF_F_TEST_XDP_LIVE_FRAMES`.
    pub batch_size: u32,
}

/// Output of `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value, truncated to 32 bits by the kernel.
    pub retval: u32,
    /// Mean run time in nanoseconds over `repeat` runs.
    pub duration_ns: u32,
    /// `data_out`, trimmed to the size the kernel reported.
    pub data_out: Vec<u8>,
    /// `ctx_out`, trimmed to the size the kernel reported.
    pub ctx_out: Vec<u8>,
}

/// `struct bpf_prog_info` as Rust values, plus the instruction dumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    /// `enum bpf_prog_type` number.
    pub prog_type: u32,
    /// Kernel-wide program id.
    pub id: u32,
    /// The program tag: first 8 bytes of the SHA-1 of the instructions (map fds zeroed).
    pub tag: [u8; 8],
    /// Name given at load time.
    pub name: String,
    /// Byte length of the translated (post-verifier) instructions.
    pub xlated_prog_len: u32,
    /// Byte length of the JITed code (0 when interpreted).
    pub jited_prog_len: u32,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// Load time, ns since boot.
    pub load_time_ns: u64,
    /// Uid that loaded it.
    pub created_by_uid: u32,
    /// Whether the license is GPL-compatible.
    pub gpl_compatible: bool,
    /// Id of the program's BTF (0 for none).
    pub btf_id: u32,
    /// Instructions the verifier processed.
    pub verified_insns: u32,
    /// Number of `bpf_func_info` records the program was loaded with.
    pub nr_func_info: u32,
    /// Number of `bpf_line_info` records the program was loaded with.
    pub nr_line_info: u32,
    /// Cumulative run time (only with `BPF_ENABLE_STATS`).
    pub run_time_ns: u64,
    /// Run count (only with `BPF_ENABLE_STATS`).
    pub run_cnt: u64,
    /// Translated instructions as the kernel dumps them (map pointers shown as ids);
    /// empty if the kernel withholds them (`kptr_restrict`).
    pub xlated_insns: Vec<u8>,
    /// JITed machine code; empty if withheld or not JITed.
    pub jited_insns: Vec<u8>,
}

impl Program {
    /// `BPF_PROG_LOAD`: loads `opts.insns`. On success the verifier log (empty at log
    /// level 0) is kept in [`Program::log`]; on failure [`KernelError::ProgRejected`]
    /// carries the errno and the log.
    #[doc(alias = "BPF_PROG_LOAD")]
    pub fn load(opts: &ProgLoad<'_>) -> Result<Program> {
        if opts.insns.len() % 8 != 0 || opts.insns.is_empty() {
            return Err(KernelError::InsnLength {
                name: opts.name.into(),
                len: opts.insns.len(),
            });
        }
        let prog_name = check_name(opts.name)?;
        let license = CString::new(opts.license).map_err(|_| KernelError::LicenseNul {
            license: opts.license.into(),
        })?;
        let insn_cnt = len_u32("insns", opts.insns.len() / 8)?;
        let mut base = sys::ProgLoadAttr {
            prog_type: opts.prog_type,
            insn_cnt,
            insns: sys::ptr_u64(opts.insns.as_ptr()),
            license: sys::ptr_u64(license.as_ptr()),
            kern_version: opts.kern_version,
            prog_flags: opts.prog_flags,
            prog_name,
            expected_attach_type: opts.expected_attach_type,
            attach_btf_id: opts.attach_btf_id,
            ..Default::default()
        };
        if !opts.fd_array.is_empty() {
            base.fd_array = sys::ptr_u64(opts.fd_array.as_ptr());
        }
        if let Some(btf) = &opts.btf {
            base.prog_btf_fd = btf.btf_fd.as_raw_fd() as u32;
            let (ptr, cnt) = records("func_info", btf.func_info, btf.func_info_rec_size)?;
            base.func_info_rec_size = btf.func_info_rec_size;
            base.func_info = ptr;
            base.func_info_cnt = cnt;
            let (ptr, cnt) = records("line_info", btf.line_info, btf.line_info_rec_size)?;
            base.line_info_rec_size = btf.line_info_rec_size;
            base.line_info = ptr;
            base.line_info_cnt = cnt;
        }
        let (res, log) = load_with_log(opts.log_level, |level, buf| {
            let mut attr = sys::ProgLoadAttr {
                log_level: level,
                log_size: buf.len() as u32,
                log_buf: if buf.is_empty() {
                    0
                } else {
                    sys::ptr_u64(buf.as_mut_ptr())
                },
                ..base.clone()
            };
            // `license`, `insns`, `fd_array` and the BTF record buffers are borrowed
            // for the whole of `load`, so the pointers in `attr` stay valid.
            let res = sys::bpf_fd(Cmd::ProgLoad, &mut attr);
            (res, attr.log_true_size)
        });
        match res {
            Ok(fd) => Ok(Program { fd, log }),
            Err(e) => Err(KernelError::ProgRejected {
                name: opts.name.into(),
                source: e.source,
                log,
            }),
        }
    }

    /// Wraps an fd that refers to a BPF program (e.g. from `BPF_OBJ_GET`).
    pub fn from_fd(fd: OwnedFd) -> Program {
        Program {
            fd,
            log: String::new(),
        }
    }

    /// `BPF_PROG_GET_FD_BY_ID`: opens the program with this kernel id.
    #[doc(alias = "BPF_PROG_GET_FD_BY_ID")]
    pub fn from_id(id: u32) -> Result<Program> {
        Ok(Program::from_fd(super::fd_by_id(Cmd::ProgGetFdById, id)?))
    }

    /// The verifier log from loading (empty if loaded at log level 0).
    pub fn log(&self) -> &str {
        &self.log
    }

    /// `BPF_PROG_TEST_RUN`: runs the program once (or `repeat` times) on the inputs.
    ///
    /// If an output buffer is too small the kernel answers `ENOSPC`, reported as
    /// [`KernelError::OutputTooSmall`] with the size needed.
    #[doc(alias = "BPF_PROG_TEST_RUN")]
    pub fn test_run(&self, run: &TestRun<'_>) -> Result<TestRunOutput> {
        let mut data_out = vec![0u8; run.data_out_capacity];
        let mut ctx_out = vec![0u8; run.ctx_out_capacity];
        let opt_ptr = |b: &[u8]| {
            if b.is_empty() {
                0
            } else {
                sys::ptr_u64(b.as_ptr())
            }
        };
        let mut attr = sys::TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: len_u32("data_in", run.data_in.len())?,
            data_size_out: len_u32("data_out", data_out.len())?,
            data_in: opt_ptr(run.data_in),
            data_out: opt_ptr(&data_out),
            repeat: run.repeat,
            ctx_size_in: len_u32("ctx_in", run.ctx_in.len())?,
            ctx_size_out: len_u32("ctx_out", ctx_out.len())?,
            ctx_in: opt_ptr(run.ctx_in),
            ctx_out: opt_ptr(&ctx_out),
            flags: run.flags,
            cpu: run.cpu,
            batch_size: run.batch_size,
            ..Default::default()
        };
        // All buffers referenced by `attr` live until the end of this function.
        match sys::bpf(Cmd::ProgTestRun, &mut attr) {
            Ok(_) => {}
            Err(e) if e.errno() == libc::ENOSPC => {
                let (what, needed, capacity) = if attr.data_size_out as usize > data_out.len() {
                    ("data_out", attr.data_size_out, data_out.len())
                } else {
                    ("ctx_out", attr.ctx_size_out, ctx_out.len())
                };
                return Err(KernelError::OutputTooSmall {
                    what,
                    needed,
                    capacity,
                });
            }
            Err(e) => return Err(e.into()),
        }
        data_out.truncate(attr.data_size_out as usize);
        ctx_out.truncate(attr.ctx_size_out as usize);
        Ok(TestRunOutput {
            retval: attr.retval,
            duration_ns: attr.duration,
            data_out,
            ctx_out,
        })
    }

    /// `BPF_OBJ_GET_INFO_BY_FD`: the program's info, map ids, and xlated/JITed dumps.
    #[doc(alias = "BPF_OBJ_GET_INFO_BY_FD")]
    pub fn info(&self) -> Result<ProgInfo> {
        // First call learns the array lengths, second fills them.
        let mut first = sys::ProgInfoRaw::default();
        sys::obj_get_info(self.fd.as_fd(), &mut first)?;
        let mut map_ids = vec![0u32; first.nr_map_ids as usize];
        let mut xlated = vec![0u8; first.xlated_prog_len as usize];
        let mut jited = vec![0u8; first.jited_prog_len as usize];
        let mut raw = sys::ProgInfoRaw {
            nr_map_ids: first.nr_map_ids,
            map_ids: sys::ptr_u64(map_ids.as_mut_ptr()),
            xlated_prog_len: first.xlated_prog_len,
            xlated_prog_insns: sys::ptr_u64(xlated.as_mut_ptr()),
            jited_prog_len: first.jited_prog_len,
            jited_prog_insns: sys::ptr_u64(jited.as_mut_ptr()),
            ..Default::default()
        };
        // The vectors above outlive the call and have exactly the advertised lengths.
        sys::obj_get_info(self.fd.as_fd(), &mut raw)?;
        // The kernel reports the real lengths; it zeroes a dump it withholds.
        map_ids.truncate(raw.nr_map_ids as usize);
        if raw.xlated_prog_insns == 0 {
            xlated.clear();
        }
        xlated.truncate(raw.xlated_prog_len as usize);
        if raw.jited_prog_insns == 0 {
            jited.clear();
        }
        jited.truncate(raw.jited_prog_len as usize);
        Ok(ProgInfo {
            prog_type: raw.prog_type,
            id: raw.id,
            tag: raw.tag,
            name: sys::name_from(&raw.name),
            xlated_prog_len: raw.xlated_prog_len,
            jited_prog_len: raw.jited_prog_len,
            map_ids,
            load_time_ns: raw.load_time,
            created_by_uid: raw.created_by_uid,
            gpl_compatible: raw.gpl_compatible_bits & 1 != 0,
            btf_id: raw.btf_id,
            verified_insns: raw.verified_insns,
            nr_func_info: raw.nr_func_info,
            nr_line_info: raw.nr_line_info,
            run_time_ns: raw.run_time_ns,
            run_cnt: raw.run_cnt,
            xlated_insns: xlated,
            jited_insns: jited,
        })
    }
}

impl AsFd for Program {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `(pointer, count)` for a record array, checking the length is whole records.
fn records(what: &'static str, bytes: &[u8], rec_size: u32) -> Result<(u64, u32)> {
    if bytes.is_empty() {
        return Ok((0, 0));
    }
    if rec_size == 0 || bytes.len() % rec_size as usize != 0 {
        return Err(KernelError::RecordLength {
            what,
            len: bytes.len(),
            rec_size,
        });
    }
    Ok((
        sys::ptr_u64(bytes.as_ptr()),
        len_u32(what, bytes.len() / rec_size as usize)?,
    ))
}
