//! Executable memory for JIT-compiled code, W^X.
//!
//! The code is copied into a fresh private anonymous mapping while it is read-write, then
//! the mapping is switched to read-execute before anyone can call it; it is never writable
//! and executable at the same time. x86 keeps instruction fetch coherent with data writes,
//! so no cache flush is needed after the copy.

use std::io;
use std::mem::size_of;
use std::ptr::NonNull;

use thiserror::Error;

/// Failures to set up executable memory.
#[derive(Debug, Error)]
pub enum MemoryError {
    /// There is no code to map.
    #[error("cannot map empty code")]
    Empty,
    /// Rounding the code length up to whole pages overflows.
    #[error("code of {len} bytes is too large to map")]
    TooLarge {
        /// The code length.
        len: usize,
    },
    /// `mmap` failed.
    #[error("mmap of {len} bytes failed: {source}")]
    Map {
        /// The mapping length asked for.
        len: usize,
        /// The OS error.
        source: io::Error,
    },
    /// `mprotect` to read-execute failed.
    #[error("mprotect of {len} bytes to read-execute failed: {source}")]
    Protect {
        /// The mapping length.
        len: usize,
        /// The OS error.
        source: io::Error,
    },
    /// An entry point lies outside the code.
    #[error("entry offset {offset} is outside the {len}-byte code")]
    EntryOutOfRange {
        /// The requested offset.
        offset: usize,
        /// The code length.
        len: usize,
    },
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let raw = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(raw)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// Machine code mapped read-execute; unmapped on drop.
#[derive(Debug)]
pub struct ExecMemory {
    ptr: NonNull<u8>,
    map_len: usize,
    code_len: usize,
}

// SAFETY: the mapping is owned exclusively by this value and is read-only (RX) once
// constructed, so sharing or moving it across threads cannot cause a data race.
unsafe impl Send for ExecMemory {}
// SAFETY: as above, `&ExecMemory` only allows reading and executing immutable memory.
unsafe impl Sync for ExecMemory {}

impl ExecMemory {
    /// Maps `code` executable. The rest of the last page is filled with `int3`, so a jump
    /// past the end traps instead of running stale bytes.
    pub fn new(code: &[u8]) -> Result<ExecMemory, MemoryError> {
        if code.is_empty() {
            return Err(MemoryError::Empty);
        }
        let map_len = code
            .len()
            .checked_next_multiple_of(page_size())
            .ok_or(MemoryError::TooLarge { len: code.len() })?;
        // SAFETY: a private anonymous mapping with no address hint creates new memory and
        // cannot alias or replace any existing mapping.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(MemoryError::Map {
                len: map_len,
                source: io::Error::last_os_error(),
            });
        }
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or(MemoryError::Map {
            len: map_len,
            source: io::Error::other("mmap returned a null mapping"),
        })?;
        // Owned from here on: early returns unmap through Drop.
        let mem = ExecMemory {
            ptr,
            map_len,
            code_len: code.len(),
        };
        // SAFETY: `ptr` is a fresh read-write mapping of `map_len >= code.len()` bytes that
        // nothing else references, and `code` cannot overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(code.as_ptr(), ptr.as_ptr(), code.len());
            std::ptr::write_bytes(ptr.as_ptr().add(code.len()), 0xCC, map_len - code.len());
        }
        // SAFETY: `ptr..ptr+map_len` is exactly our own mapping; no Rust reference to it
        // exists while its protection changes.
        let rc = unsafe { libc::mprotect(raw, map_len, libc::PROT_READ | libc::PROT_EXEC) };
        if rc != 0 {
            return Err(MemoryError::Protect {
                len: map_len,
                source: io::Error::last_os_error(),
            });
        }
        Ok(mem)
    }

    /// Length of the code (not of the page-rounded mapping).
    pub fn code_len(&self) -> usize {
        self.code_len
    }

    /// Address of the first code byte.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The code as mapped (readable, for disassembly of what actually runs).
    pub fn code(&self) -> &[u8] {
        // SAFETY: the mapping is readable, at least `code_len` bytes long, immutable for the
        // lifetime of `self`, and lives as long as the returned borrow.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.code_len) }
    }

    /// The code at `offset` as a function pointer of type `F`, for example
    /// `unsafe extern "sysv64" fn(u64, u64) -> u64`.
    ///
    /// # Safety
    /// `F` must be a function pointer type whose ABI and signature match the code at
    /// `offset`, and the pointer must not be called after `self` is dropped.
    pub unsafe fn entry<F: Copy>(&self, offset: usize) -> Result<F, MemoryError> {
        const { assert!(size_of::<F>() == size_of::<*const u8>()) };
        if offset >= self.code_len {
            return Err(MemoryError::EntryOutOfRange {
                offset,
                len: self.code_len,
            });
        }
        // SAFETY: `offset` is inside the mapping, so the address is in bounds.
        let addr = unsafe { self.ptr.as_ptr().add(offset) }.cast_const();
        // SAFETY: `F` is pointer-sized (checked above) and the caller guarantees it is a
        // function pointer type matching the code at `addr`.
        Ok(unsafe { std::mem::transmute_copy::<*const u8, F>(&addr) })
    }
}

impl Drop for ExecMemory {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`map_len` describe exactly the mapping created in `new`, which is
        // unmapped only here; function pointers from `entry` must not outlive `self`.
        let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.map_len) };
        debug_assert_eq!(rc, 0, "munmap of our own mapping cannot fail");
    }
}
