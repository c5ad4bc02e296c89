//! Memory regions a run may touch, and the fault recorded when an access leaves them.

use std::fmt;

/// A range of host memory valid for the current run.
///
/// `#[repr(C)]` so that JIT-compiled code can scan the region table inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct MemRegion {
    /// First address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// Whether stores and atomics may write it.
    pub writable: bool,
}

impl MemRegion {
    /// Whether `[addr, addr + size)` lies entirely inside the region (overflow-safe).
    #[inline(always)]
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        let off = addr.wrapping_sub(self.start);
        off < self.len && size <= self.len - off || (size == 0 && off == self.len)
    }
}

/// Direction of a memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// Why an access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The range is not inside any single valid region.
    OutOfBounds,
    /// A write to a region registered read-only.
    ReadOnly,
    /// An atomic access whose address is not a multiple of its size.
    Unaligned,
    /// A helper's map argument is not the handle of a map registered for the run.
    NotAMap,
}

/// A refused memory access: where, how big, which direction and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// First address of the access.
    pub addr: u64,
    /// Size of the access in bytes.
    pub size: u32,
    /// Read or write.
    pub access: Access,
    /// Why it was refused.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Fault {
            addr,
            size,
            access,
            kind,
        } = *self;
        match kind {
            FaultKind::OutOfBounds => write!(
                f,
                "{access} of {size} bytes at {addr:#x} is outside any valid memory region"
            ),
            FaultKind::ReadOnly => write!(
                f,
                "{access} of {size} bytes at {addr:#x} hits read-only memory"
            ),
            FaultKind::Unaligned => write!(
                f,
                "atomic {access} of {size} bytes at unaligned address {addr:#x}"
            ),
            FaultKind::NotAMap => write!(f, "{addr:#x} is not a map of this run"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_is_overflow_safe() {
        let r = MemRegion {
            start: 100,
            len: 10,
            writable: true,
        };
        assert!(r.contains(100, 10));
        assert!(r.contains(109, 1));
        assert!(!r.contains(109, 2));
        assert!(!r.contains(99, 1));
        assert!(!r.contains(110, 1));
        assert!(!r.contains(105, u64::MAX));
        assert!(!r.contains(u64::MAX, 2));
        let top = MemRegion {
            start: u64::MAX - 7,
            len: 8,
            writable: false,
        };
        assert!(top.contains(u64::MAX - 7, 8));
        assert!(!top.contains(u64::MAX, 2));
    }
}
