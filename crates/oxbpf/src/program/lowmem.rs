//! Memory below 4 GiB for contexts and packets.
//!
//! The UAPI contexts hold packet pointers in `__u32` fields (`xdp_md.data`,
//! `__sk_buff.data_end`...). The kernel rewrites those loads into 64-bit pointer loads
//! when it verifies the program. oxbpf instead places the context and the packet in
//! memory whose addresses fit in 32 bits, so the `__u32` a program loads *is* the real
//! pointer (clang zero-extends it) and no instruction needs rewriting, with or without a
//! verifier, in the interpreter and the JIT alike.

use std::ptr::NonNull;

/// An anonymous mapping whose every address is below 2^32.
pub(crate) struct LowMem {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned exclusively by this value; it is plain memory.
unsafe impl Send for LowMem {}

impl LowMem {
    /// Maps `len` zeroed bytes (rounded up to pages) below 4 GiB.
    pub(crate) fn new(len: usize) -> std::io::Result<LowMem> {
        let page = 4096;
        let len = len.div_ceil(page).max(1) * page;
        let p = map_low(len)?;
        Ok(LowMem { ptr: p, len })
    }

    /// Start address.
    pub(crate) fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Copies `data` to byte `off`; false if it does not fit.
    pub(crate) fn write(&mut self, off: usize, data: &[u8]) -> bool {
        match off.checked_add(data.len()) {
            Some(end) if end <= self.len => {
                // SAFETY: `[off, end)` lies inside the mapping (checked above).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        data.as_ptr(),
                        self.ptr.as_ptr().add(off),
                        data.len(),
                    )
                };
                true
            }
            _ => false,
        }
    }

    /// A copy of `len` bytes at byte `off`, or `None` if out of range.
    pub(crate) fn read(&self, off: usize, len: usize) -> Option<Vec<u8>> {
        let end = off.checked_add(len)?;
        if end > self.len {
            return None;
        }
        let mut v = vec![0u8; len];
        // SAFETY: `[off, end)` lies inside the mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(off), v.as_mut_ptr(), len) };
        Some(v)
    }

    /// Writes a native-endian `u32` at byte `off`.
    pub(crate) fn set_u32(&mut self, off: usize, v: u32) -> bool {
        self.write(off, &v.to_ne_bytes())
    }
}

impl Drop for LowMem {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping made by `map_low` and unmapped only here.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn map_low(len: usize) -> std::io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping at an address the kernel picks; no existing
    // memory is affected. MAP_32BIT places it in the first 2 GiB.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| std::io::Error::other("mmap returned NULL"))
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn map_low(len: usize) -> std::io::Result<NonNull<u8>> {
    // Without MAP_32BIT, ask for an address hint below 4 GiB and accept only that.
    for hint in (1u64..16).map(|i| i << 27) {
        // SAFETY: an anonymous private mapping; without MAP_FIXED the hint cannot replace
        // existing mappings.
        let p = unsafe {
            libc::mmap(
                hint as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            continue;
        }
        if (p as u64).saturating_add(len as u64) <= u32::MAX as u64 {
            if let Some(nn) = NonNull::new(p.cast()) {
                return Ok(nn);
            }
        }
        // SAFETY: unmapping the mapping just made.
        unsafe { libc::munmap(p, len) };
    }
    Err(std::io::Error::other(
        "no memory below 4 GiB for the packet",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_4g_and_round_trips() {
        let mut m = LowMem::new(100).unwrap();
        assert!(m.addr() + 4096 <= u32::MAX as u64);
        assert!(m.write(4090, &[1, 2, 3, 4, 5, 6]));
        assert!(!m.write(4091, &[0; 6]));
        assert_eq!(m.read(4090, 6).unwrap(), vec![1, 2, 3, 4, 5, 6]);
        assert!(m.set_u32(0, 0xdead_beef));
        assert_eq!(m.read(0, 4).unwrap(), 0xdead_beefu32.to_ne_bytes());
        assert!(m.read(4095, 2).is_none());
    }
}
