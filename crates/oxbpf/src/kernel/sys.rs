//! The bpf(2) choke point and the `union bpf_attr` layouts it is called with.
//!
//! Every bpf(2) call in oxbpf goes through [`bpf`]: one place to log, mock or audit the
//! syscall. Each command's part of `union bpf_attr` (UAPI `<linux/bpf.h>`) is its own
//! `#[repr(C)]` struct with explicit padding fields, so a zeroed `Default` value has no
//! uninitialised bytes and the offsets below are checked at compile time against the UAPI.
//! We pass `size_of` of our struct; the kernel zero-extends a shorter attr and only
//! requires that bytes past its own definition are zero.

use std::fmt;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `BPF_OBJ_NAME_LEN`: object names are at most 15 bytes plus a NUL.
pub const OBJ_NAME_LEN: usize = 16;

/// The bpf(2) commands oxbpf issues (`enum bpf_cmd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Cmd {
    /// `BPF_MAP_CREATE`
    MapCreate = 0,
    /// `BPF_MAP_LOOKUP_ELEM`
    MapLookupElem = 1,
    /// `BPF_MAP_UPDATE_ELEM`
    MapUpdateElem = 2,
    /// `BPF_MAP_DELETE_ELEM`
    MapDeleteElem = 3,
    /// `BPF_MAP_GET_NEXT_KEY`
    MapGetNextKey = 4,
    /// `BPF_PROG_LOAD`
    ProgLoad = 5,
    /// `BPF_PROG_TEST_RUN`
    ProgTestRun = 10,
    /// `BPF_PROG_GET_NEXT_ID`
    ProgGetNextId = 11,
    /// `BPF_MAP_GET_NEXT_ID`
    MapGetNextId = 12,
    /// `BPF_PROG_GET_FD_BY_ID`
    ProgGetFdById = 13,
    /// `BPF_MAP_GET_FD_BY_ID`
    MapGetFdById = 14,
    /// `BPF_OBJ_GET_INFO_BY_FD`
    ObjGetInfoByFd = 15,
    /// `BPF_BTF_LOAD`
    BtfLoad = 18,
    /// `BPF_MAP_FREEZE`
    MapFreeze = 22,
}

impl Cmd {
    /// The kernel's name for the command, as used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "BPF_MAP_CREATE",
            Cmd::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Cmd::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Cmd::MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            Cmd::MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            Cmd::ProgLoad => "BPF_PROG_LOAD",
            Cmd::ProgTestRun => "BPF_PROG_TEST_RUN",
            Cmd::ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            Cmd::MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            Cmd::ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            Cmd::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Cmd::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::BtfLoad => "BPF_BTF_LOAD",
            Cmd::MapFreeze => "BPF_MAP_FREEZE",
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed bpf(2) call: which command and the errno it returned.
#[derive(Debug, thiserror::Error)]
#[error("bpf({cmd}) failed: {source}")]
pub struct SysError {
    /// The command that failed.
    pub cmd: Cmd,
    /// The OS error (its `raw_os_error()` is the errno).
    #[source]
    pub source: io::Error,
}

impl SysError {
    /// The errno the kernel returned (`E*` constants from `libc`).
    pub fn errno(&self) -> i32 {
        self.source.raw_os_error().unwrap_or(0)
    }
}

/// Marker for the attr structs below: plain `#[repr(C)]` data with explicit padding, no
/// pointers the kernel could not read other than those the caller keeps alive.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, contain only integer fields and arrays of them (so
/// every byte is initialised and any bit pattern the kernel writes back is valid), and
/// match the UAPI layout of the command's part of `union bpf_attr` as a prefix.
pub unsafe trait Attr: Default {}

/// The bpf(2) choke point: issues `cmd` with `attr`, passing our struct's full size.
///
/// Returns the syscall's non-negative result (an fd for the commands that create objects,
/// 0 otherwise). Pointers inside `attr` must stay valid for the duration of the call, which
/// the callers guarantee by borrowing the buffers across it.
pub fn bpf<A: Attr>(cmd: Cmd, attr: &mut A) -> Result<i64, SysError> {
    let size = size_of::<A>() as libc::c_uint;
    // SAFETY: `attr` is a live, exclusively borrowed `Attr` (repr(C), all-integer, UAPI
    // layout) of exactly `size` bytes; the kernel reads and may write back within it.
    // Pointers stored inside it are borrowed by the caller for this call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as u32 as libc::c_long,
            attr as *mut A as *mut libc::c_void,
            size,
        )
    };
    if ret < 0 {
        Err(SysError {
            cmd,
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(ret)
    }
}

/// [`bpf`] for commands that return a new file descriptor.
pub fn bpf_fd<A: Attr>(cmd: Cmd, attr: &mut A) -> Result<OwnedFd, SysError> {
    let ret = bpf(cmd, attr)?;
    let raw = i32::try_from(ret).map_err(|_| SysError {
        cmd,
        source: io::Error::new(io::ErrorKind::InvalidData, "fd out of range"),
    })?;
    // SAFETY: the kernel just returned `raw` as a new file descriptor for this process;
    // nothing else owns it, so wrapping it in an `OwnedFd` (which closes it) is sound.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Pointer to user memory as the kernel's `__aligned_u64`.
pub fn ptr_u64<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// Copies `name` into a NUL-terminated `char[BPF_OBJ_NAME_LEN]`; the caller checked the
/// length (at most 15 bytes).
pub fn obj_name(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    let n = name.len().min(OBJ_NAME_LEN - 1);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Reads a NUL-terminated `char[N]` back into a `String` (lossy on invalid UTF-8).
pub fn name_from(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `BPF_MAP_CREATE`.
#[derive(Default, Debug)]
#[repr(C)]
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; OBJ_NAME_LEN],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for MapCreateAttr {}

/// `BPF_MAP_*_ELEM`, `BPF_MAP_GET_NEXT_KEY` and `BPF_MAP_FREEZE` (which uses `map_fd` only).
#[derive(Default, Debug)]
#[repr(C)]
pub struct MapElemAttr {
    pub map_fd: u32,
    pub _pad0: u32,
    pub key: u64,
    /// `value` or `next_key` (a union in the UAPI).
    pub value_or_next_key: u64,
    pub flags: u64,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for MapElemAttr {}

/// `BPF_PROG_LOAD`.
#[derive(Default, Debug, Clone)]
#[repr(C)]
pub struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    /// `attach_prog_fd` or `attach_btf_obj_fd` (a union in the UAPI).
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    /// Output (Linux >= 6.4, after this machine's header): the log size the verifier
    /// needed, so a too-small buffer can be regrown exactly. It sits in what older
    /// headers leave as tail padding, which older kernels require to be zero — it is.
    pub log_true_size: u32,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for ProgLoadAttr {}

/// `BPF_PROG_TEST_RUN` (`test` in the UAPI union).
#[derive(Default, Debug)]
#[repr(C)]
pub struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad0: u32,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for TestRunAttr {}

/// `BPF_*_GET_NEXT_ID` and `BPF_*_GET_FD_BY_ID`.
#[derive(Default, Debug)]
#[repr(C)]
pub struct GetIdAttr {
    /// `start_id`, `prog_id`, `map_id`, `btf_id` or `link_id` (a union in the UAPI).
    pub start_id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for GetIdAttr {}

/// `BPF_OBJ_GET_INFO_BY_FD` (`info` in the UAPI union).
#[derive(Default, Debug)]
#[repr(C)]
pub struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for InfoAttr {}

/// `BPF_BTF_LOAD`.
#[derive(Default, Debug)]
#[repr(C)]
pub struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    /// Output (Linux >= 6.4): the log size needed; tail padding in older headers.
    pub btf_log_true_size: u32,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl Attr for BtfLoadAttr {}

/// Marker for the `struct bpf_*_info` buffers `BPF_OBJ_GET_INFO_BY_FD` fills.
///
/// # Safety
/// Same contract as [`Attr`]: `#[repr(C)]`, integer fields only, UAPI layout.
pub unsafe trait InfoStruct: Default {}

/// `BPF_OBJ_GET_INFO_BY_FD`: fills `info` (its first `size_of::<T>()` bytes at most) for
/// the object behind `fd`. Pointer fields the caller set in `info` must point to buffers
/// of the advertised lengths that stay alive across the call.
pub fn obj_get_info<T: InfoStruct>(fd: BorrowedFd<'_>, info: &mut T) -> Result<(), SysError> {
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: size_of::<T>() as u32,
        info: ptr_u64(info as *mut T),
    };
    bpf(Cmd::ObjGetInfoByFd, &mut attr).map(drop)
}

/// `struct bpf_prog_info`, filled by `BPF_OBJ_GET_INFO_BY_FD` on a program fd.
#[derive(Default, Debug, Clone)]
#[repr(C)]
pub struct ProgInfoRaw {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; OBJ_NAME_LEN],
    pub ifindex: u32,
    /// Bit 0: `gpl_compatible`; the other 31 bits are padding.
    pub gpl_compatible_bits: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad0: u32,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl InfoStruct for ProgInfoRaw {}

/// `struct bpf_map_info`, filled by `BPF_OBJ_GET_INFO_BY_FD` on a map fd.
#[derive(Default, Debug, Clone)]
#[repr(C)]
pub struct MapInfoRaw {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; OBJ_NAME_LEN],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub _pad0: u32,
    pub map_extra: u64,
}
// SAFETY: repr(C), integers only, layout checked against the UAPI below.
unsafe impl InfoStruct for MapInfoRaw {}

/// Compile-time layout checks against `/usr/include/linux/bpf.h` (offsets computed by hand
/// from the UAPI, `__aligned_u64` on 8-byte boundaries).
const _: () = {
    assert!(offset_of!(MapCreateAttr, map_name) == 28);
    assert!(offset_of!(MapCreateAttr, map_ifindex) == 44);
    assert!(offset_of!(MapCreateAttr, btf_vmlinux_value_type_id) == 60);
    assert!(offset_of!(MapCreateAttr, map_extra) == 64);
    assert!(size_of::<MapCreateAttr>() == 72);

    assert!(offset_of!(MapElemAttr, key) == 8);
    assert!(offset_of!(MapElemAttr, value_or_next_key) == 16);
    assert!(offset_of!(MapElemAttr, flags) == 24);
    assert!(size_of::<MapElemAttr>() == 32);

    assert!(offset_of!(ProgLoadAttr, insns) == 8);
    assert!(offset_of!(ProgLoadAttr, log_buf) == 32);
    assert!(offset_of!(ProgLoadAttr, prog_name) == 48);
    assert!(offset_of!(ProgLoadAttr, expected_attach_type) == 68);
    assert!(offset_of!(ProgLoadAttr, func_info) == 80);
    assert!(offset_of!(ProgLoadAttr, line_info) == 96);
    assert!(offset_of!(ProgLoadAttr, attach_prog_fd) == 112);
    assert!(offset_of!(ProgLoadAttr, fd_array) == 120);
    assert!(offset_of!(ProgLoadAttr, core_relos) == 128);
    assert!(offset_of!(ProgLoadAttr, core_relo_rec_size) == 136);
    assert!(offset_of!(ProgLoadAttr, log_true_size) == 140);
    assert!(size_of::<ProgLoadAttr>() == 144);

    assert!(offset_of!(TestRunAttr, data_in) == 16);
    assert!(offset_of!(TestRunAttr, repeat) == 32);
    assert!(offset_of!(TestRunAttr, ctx_in) == 48);
    assert!(offset_of!(TestRunAttr, flags) == 64);
    assert!(offset_of!(TestRunAttr, batch_size) == 72);
    assert!(size_of::<TestRunAttr>() == 80);

    assert!(size_of::<GetIdAttr>() == 12);
    assert!(offset_of!(InfoAttr, info) == 8);
    assert!(size_of::<InfoAttr>() == 16);

    assert!(offset_of!(BtfLoadAttr, btf_size) == 16);
    assert!(offset_of!(BtfLoadAttr, btf_log_true_size) == 28);
    assert!(size_of::<BtfLoadAttr>() == 32);

    assert!(offset_of!(ProgInfoRaw, tag) == 8);
    assert!(offset_of!(ProgInfoRaw, jited_prog_insns) == 24);
    assert!(offset_of!(ProgInfoRaw, load_time) == 40);
    assert!(offset_of!(ProgInfoRaw, map_ids) == 56);
    assert!(offset_of!(ProgInfoRaw, name) == 64);
    assert!(offset_of!(ProgInfoRaw, gpl_compatible_bits) == 84);
    assert!(offset_of!(ProgInfoRaw, netns_dev) == 88);
    assert!(offset_of!(ProgInfoRaw, btf_id) == 128);
    assert!(offset_of!(ProgInfoRaw, func_info) == 136);
    assert!(offset_of!(ProgInfoRaw, line_info) == 152);
    assert!(offset_of!(ProgInfoRaw, prog_tags) == 184);
    assert!(offset_of!(ProgInfoRaw, run_time_ns) == 192);
    assert!(offset_of!(ProgInfoRaw, verified_insns) == 216);
    assert!(size_of::<ProgInfoRaw>() == 232);

    assert!(offset_of!(MapInfoRaw, name) == 24);
    assert!(offset_of!(MapInfoRaw, netns_dev) == 48);
    assert!(offset_of!(MapInfoRaw, btf_id) == 64);
    assert!(offset_of!(MapInfoRaw, map_extra) == 80);
    assert!(size_of::<MapInfoRaw>() == 88);
};
