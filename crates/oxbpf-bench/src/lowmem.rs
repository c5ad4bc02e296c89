//! Packet memory below 4 GiB and the `struct xdp_md` that points into it.
//!
//! The benchmark programs are XDP programs: they read `ctx->data` and `ctx->data_end` as
//! 32-bit fields. The kernel rewrites those loads into 64-bit pointer loads; oxbpf (until
//! its runtime has XDP contexts), rbpf and native code load the fields as they are. With
//! the packet mapped below 4 GiB (`MAP_32BIT`) the 32-bit fields hold the real
//! addresses, so every engine runs the very same instructions on the very same context.

use std::ptr::NonNull;

use thiserror::Error;

/// `struct xdp_md` (linux/bpf.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpMd {
    /// Address of the first packet byte.
    pub data: u32,
    /// One past the last packet byte.
    pub data_end: u32,
    /// Start of the metadata area (= `data`: none).
    pub data_meta: u32,
    /// Interface index (0 here).
    pub ingress_ifindex: u32,
    /// RX queue (0 here).
    pub rx_queue_index: u32,
    /// Egress interface (0 here).
    pub egress_ifindex: u32,
}

/// Failure to map memory below 4 GiB.
#[derive(Debug, Error)]
#[error("mmap of {len} bytes with MAP_32BIT failed: {source}")]
pub struct LowMemError {
    /// Requested length.
    pub len: usize,
    /// The OS error.
    pub source: std::io::Error,
}

/// A packet in memory mapped below 4 GiB, with its `xdp_md`.
pub struct Packet {
    base: NonNull<u8>,
    map_len: usize,
    len: usize,
    ctx: Box<XdpMd>,
}

impl Packet {
    /// Maps a copy of `bytes` below 4 GiB.
    pub fn new(bytes: &[u8]) -> Result<Packet, LowMemError> {
        let map_len = bytes.len().max(1).next_multiple_of(4096);
        // SAFETY: an anonymous private mapping at an address the kernel chooses; no existing
        // memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(LowMemError {
                len: map_len,
                source: std::io::Error::last_os_error(),
            });
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or_else(|| LowMemError {
            len: map_len,
            source: std::io::Error::other("mmap returned null"),
        })?;
        let start = base.as_ptr() as u64;
        let data = u32::try_from(start).map_err(|_| LowMemError {
            len: map_len,
            source: std::io::Error::other(format!("address {start:#x} is above 4 GiB")),
        })?;
        // MAP_32BIT places the whole mapping in the low 2 GiB, so the end fits as well.
        let data_end = data + bytes.len() as u32;
        // SAFETY: the mapping is `map_len >= bytes.len()` bytes, writable, and new.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.as_ptr(), bytes.len()) };
        Ok(Packet {
            base,
            map_len,
            len: bytes.len(),
            ctx: Box::new(XdpMd {
                data,
                data_end,
                data_meta: data,
                ..XdpMd::default()
            }),
        })
    }

    /// Address of the first packet byte.
    pub fn addr(&self) -> u64 {
        self.base.as_ptr() as u64
    }

    /// Packet length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packet bytes. Raw-pointer writers (the engines) must not run while the slice
    /// is alive; the borrow of `self` ensures that for engines that take `&mut Packet`.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `len` bytes of the live mapping, initialised in `new`.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }

    /// The packet bytes, mutably.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `bytes`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr(), self.len) }
    }

    /// The context pointing at the packet.
    pub fn ctx(&self) -> &XdpMd {
        &self.ctx
    }

    /// The context as bytes (rbpf's metadata buffer).
    pub fn ctx_bytes(&self) -> &[u8] {
        let p: *const XdpMd = &*self.ctx;
        // SAFETY: `XdpMd` is `repr(C)` plain old data without padding (six u32).
        unsafe { std::slice::from_raw_parts(p.cast::<u8>(), std::mem::size_of::<XdpMd>()) }
    }
}

impl Drop for Packet {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in `new`, which nothing else owns.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.map_len) };
    }
}
