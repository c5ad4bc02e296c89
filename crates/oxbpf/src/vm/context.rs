//! [`RunContext`]: the state of one run besides the program and its registers.

use std::mem::offset_of;
use std::ptr::NonNull;
use std::sync::Arc;

use super::hooks::{ProgramTable, TailCall};
use super::region::{Access, Fault, FaultKind, MemRegion};
use super::trace::TraceLog;
use super::{STACK_FRAME_SIZE, STACK_SIZE};
use crate::maps::Map;

/// The stack buffer: every frame of a call chain, 16-byte aligned so that `r10` and every
/// 8-byte stack slot are naturally aligned (atomics on the stack need it).
#[repr(C, align(16))]
struct StackBuf([u8; STACK_SIZE]);

/// A map named by an `lddw` pseudo form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapRef {
    /// `BPF_PSEUDO_MAP_FD` / `BPF_PSEUDO_MAP_VALUE`: `imm` is a map file descriptor or id.
    Fd(i32),
    /// `BPF_PSEUDO_MAP_IDX` / `BPF_PSEUDO_MAP_IDX_VALUE`: `imm` indexes the program's maps.
    Idx(i32),
}

/// Resolves the map references of `lddw` pseudo forms when a program is loaded, as the
/// kernel rewrites them into map pointers before running. The runtime / object loader
/// implements it; raw programs without maps have none, and such forms are a load error.
pub trait MapResolver {
    /// The handle of the map (an opaque value helpers such as `map_lookup_elem` receive
    /// as their map argument), or `None` if there is no such map.
    fn map_handle(&self, map: MapRef) -> Option<u64>;
    /// The real address of byte `off` of the map's value (array maps with one element such
    /// as `.data`/`.rodata`/`.bss`), or `None` if the map has no such value or `off` is out
    /// of range. The memory must also be registered as a region in each run's
    /// [`RunContext`] for checked mode to accept accesses to it.
    fn map_value_addr(&self, map: MapRef, off: u32) -> Option<u64>;
}

/// A BPF callback failed (the engine stops the run with the reason once the helper that
/// called it returns; the helper should return at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackFailed;

/// How helpers call BPF functions (`bpf_loop`, `bpf_for_each_map_elem`, timers): the engine
/// running the program installs one for the duration of a run.
#[derive(Clone, Copy, Debug)]
pub struct CallbackHook {
    /// The engine's state for the run.
    pub data: *const (),
    /// Runs the BPF function `func` (the engine-specific value `lddw src=4` produced) in a
    /// new call frame with `args` in r1-r5 and returns its r0.
    ///
    /// # Safety
    /// `data` must be the value installed with this function, during the run.
    pub call: unsafe fn(
        data: *const (),
        ctx: &mut RunContext,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, CallbackFailed>,
}

/// Everything one run needs besides the program: stack, region table, trace log, CPU id,
/// packet, and the fault a helper reports. One per executing thread; reuse it across runs.
///
/// `#[repr(C)]` with the fields engines read first, so that JIT-compiled code can load
/// them at the offsets given by the `OFFSET_*` constants.
#[repr(C)]
pub struct RunContext {
    /// Lowest valid stack address of the current call chain (bottom of the deepest frame).
    stack_lo: u64,
    /// One past the highest stack address (the frame pointer of frame 0).
    stack_hi: u64,
    /// Mirror of `regions` for JIT code: pointer and count.
    regions_ptr: *const MemRegion,
    regions_len: usize,
    /// Index of the region that satisfied the last table lookup.
    last_region: usize,
    /// The owned stack buffer (allocated in `new`, freed in `drop`). A raw pointer rather
    /// than a `Box` because programs access it through raw addresses while helpers hold
    /// `&mut RunContext`.
    stack: NonNull<StackBuf>,
    pub(super) regions: Vec<MemRegion>,
    /// Packet for `LD_ABS`/`LD_IND`: start address and length.
    packet: Option<(u64, u64)>,
    rng: u64,
    /// Set by the engine for the duration of a run so helpers can call BPF callbacks.
    callback: Option<CallbackHook>,
    /// A memory-safety violation a helper detected; the engine stops the run with it right
    /// after the helper returns.
    pub fault: Option<Fault>,
    /// The CPU id `bpf_get_smp_processor_id` returns (and per-CPU maps index by).
    pub cpu_id: u32,
    /// Tail calls taken in the current run (`MAX_TAIL_CALL_CNT` applies).
    pub tail_call_count: u32,
    /// Instructions executed by the last run (also set when it failed).
    pub insn_count: u64,
    /// Messages written by `bpf_trace_printk`.
    pub trace: TraceLog,
    /// A tail call `bpf_tail_call` decided; the engine performs it right after the helper
    /// returns (see [`TailCall`]).
    pub tail_call: Option<TailCall>,
    /// What `bpf_get_func_ip` returns: the address of the traced function for tracing
    /// attachments, set by the runtime (0 when there is none).
    pub func_ip: u64,
    /// Programs tail calls may jump to.
    pub(super) programs: Option<Arc<dyn ProgramTable>>,
    /// Maps whose handles helpers accept; the context keeps them alive.
    pub(super) maps: Vec<Arc<Map>>,
    /// Index of the map found by the last handle lookup.
    pub(super) last_map: usize,
    /// Ring buffer records (address, length) reserved and not yet submitted or discarded.
    pub(super) ringbuf_records: Vec<(u64, u64)>,
}

// SAFETY: the stack buffer is owned by the context; registered regions are, by the contract
// of `add_region` / `set_packet`, valid for whichever thread runs the program; the callback
// hook's data pointer is installed only while a run is in progress on the current thread.
unsafe impl Send for RunContext {}

impl Default for RunContext {
    fn default() -> Self {
        RunContext::new()
    }
}

impl Drop for RunContext {
    fn drop(&mut self) {
        self.discard_ringbuf_records();
        // SAFETY: `stack` came from `Box::leak` in `new` and is freed only here.
        drop(unsafe { Box::from_raw(self.stack.as_ptr()) });
    }
}

impl RunContext {
    /// Offset of the lowest valid stack address (`u64`).
    pub const OFFSET_STACK_LO: usize = offset_of!(RunContext, stack_lo);
    /// Offset of the stack top (`u64`).
    pub const OFFSET_STACK_HI: usize = offset_of!(RunContext, stack_hi);
    /// Offset of the region table pointer (`*const MemRegion`).
    pub const OFFSET_REGIONS_PTR: usize = offset_of!(RunContext, regions_ptr);
    /// Offset of the region count (`usize`).
    pub const OFFSET_REGIONS_LEN: usize = offset_of!(RunContext, regions_len);

    /// A fresh context: zeroed stack, no regions, CPU 0, empty trace log.
    pub fn new() -> RunContext {
        let stack = NonNull::from(Box::leak(Box::new(StackBuf([0; STACK_SIZE]))));
        let hi = stack.as_ptr() as u64 + STACK_SIZE as u64;
        // Seed the per-context generator from the clock and the stack address so that
        // contexts created together differ.
        let seed = crate::helpers::monotonic_ns() ^ hi.rotate_left(32);
        let mut ctx = RunContext {
            stack_lo: hi - STACK_FRAME_SIZE as u64,
            stack_hi: hi,
            regions_ptr: NonNull::dangling().as_ptr(),
            regions_len: 0,
            last_region: 0,
            stack,
            regions: Vec::new(),
            packet: None,
            rng: seed | 1,
            callback: None,
            fault: None,
            cpu_id: 0,
            tail_call_count: 0,
            insn_count: 0,
            trace: TraceLog::new(),
            tail_call: None,
            func_ip: 0,
            programs: None,
            maps: Vec::new(),
            last_map: 0,
            ringbuf_records: Vec::new(),
        };
        ctx.sync_regions();
        ctx
    }

    /// The frame pointer (`r10`) of call frame `depth` (0 = entry function). Frames grow
    /// downwards: frame `d` occupies `[top - (d+1)*512, top - d*512)`.
    #[inline(always)]
    pub fn frame_pointer(&self, depth: usize) -> u64 {
        self.stack_hi - (depth * STACK_FRAME_SIZE) as u64
    }

    /// Makes frames `0..=depth` the valid stack (engines call this on call and exit).
    #[inline(always)]
    pub fn set_call_depth(&mut self, depth: usize) {
        debug_assert!(depth < super::MAX_CALL_FRAMES);
        self.stack_lo = self.stack_hi - ((depth + 1) * STACK_FRAME_SIZE) as u64;
    }

    /// The valid stack range `[lo, hi)` of the current call chain.
    #[inline(always)]
    pub fn stack_range(&self) -> (u64, u64) {
        (self.stack_lo, self.stack_hi)
    }

    /// Registers memory the program may access in checked mode (and helpers in any mode).
    ///
    /// # Safety
    /// `[start, start + len)` must stay valid for reads (and writes if `writable`) through
    /// raw pointers, from any thread that runs with this context, until the region is
    /// removed or the context is dropped; no Rust reference may be used to access it
    /// while a run is in progress.
    pub unsafe fn add_region(&mut self, region: MemRegion) {
        self.regions.push(region);
        self.sync_regions();
    }

    /// Removes a region added with [`add_region`](Self::add_region); returns whether it
    /// was present.
    pub fn remove_region(&mut self, region: &MemRegion) -> bool {
        let Some(i) = self.regions.iter().rposition(|r| r == region) else {
            return false;
        };
        self.regions.remove(i);
        self.sync_regions();
        true
    }

    /// Removes every region.
    pub fn clear_regions(&mut self) {
        self.regions.clear();
        self.sync_regions();
    }

    /// The registered regions (the stack is implicit and not listed).
    pub fn regions(&self) -> &[MemRegion] {
        &self.regions
    }

    fn sync_regions(&mut self) {
        self.regions_ptr = self.regions.as_ptr();
        self.regions_len = self.regions.len();
        self.last_region = 0;
    }

    /// Sets the packet `LD_ABS`/`LD_IND` read from.
    ///
    /// # Safety
    /// `[data, data + len)` must stay readable until the packet is cleared or replaced or
    /// the context is dropped.
    pub unsafe fn set_packet(&mut self, data: *const u8, len: usize) {
        self.packet = Some((data as u64, len as u64));
    }

    /// Forgets the packet.
    pub fn clear_packet(&mut self) {
        self.packet = None;
    }

    /// The packet (start address, length), if one is set.
    #[inline]
    pub fn packet(&self) -> Option<(u64, u64)> {
        self.packet
    }

    /// Checks that `[addr, addr + size)` is inside the stack of the current call chain or a
    /// single registered region, writable for [`Access::Write`].
    #[inline(always)]
    pub fn check(&mut self, addr: u64, size: u64, access: Access) -> Result<(), Fault> {
        let off = addr.wrapping_sub(self.stack_lo);
        let span = self.stack_hi - self.stack_lo;
        if off < span && size <= span - off {
            return Ok(());
        }
        self.check_regions(addr, size, access)
    }

    /// The region-table part of [`check`](Self::check), with a last-hit cache.
    #[inline]
    pub fn check_regions(&mut self, addr: u64, size: u64, access: Access) -> Result<(), Fault> {
        self.find_region(addr, size, access).map(|_| ())
    }

    /// The registered region that contains `[addr, addr + size)` and permits `access`
    /// (engines cache it to skip the table on the next access).
    #[inline(never)]
    pub fn find_region(
        &mut self,
        addr: u64,
        size: u64,
        access: Access,
    ) -> Result<MemRegion, Fault> {
        if let Some(r) = self.regions.get(self.last_region) {
            if r.contains(addr, size) && (r.writable || access == Access::Read) {
                return Ok(*r);
            }
        }
        let mut read_only = false;
        for (i, r) in self.regions.iter().enumerate() {
            if r.contains(addr, size) {
                if r.writable || access == Access::Read {
                    self.last_region = i;
                    return Ok(*r);
                }
                read_only = true;
            }
        }
        Err(Fault {
            addr,
            size: size.min(u32::MAX as u64) as u32,
            access,
            kind: if read_only {
                FaultKind::ReadOnly
            } else {
                FaultKind::OutOfBounds
            },
        })
    }

    /// Copies `buf.len()` bytes at `addr` into `buf` after checking them.
    pub fn read_bytes(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.check(addr, buf.len() as u64, Access::Read)?;
        // SAFETY: the range is inside the stack or a region registered readable (contract
        // of `add_region`); `buf` is a distinct Rust allocation.
        unsafe { std::ptr::copy(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    /// Copies `data` to `addr` after checking the range is writable.
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        self.check(addr, data.len() as u64, Access::Write)?;
        // SAFETY: the range is inside the stack or a region registered writable.
        unsafe { std::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    /// Reads a NUL-terminated string at `addr` with "probe" semantics, as the kernel's
    /// `strncpy_from_kernel_nofault`: at most `max - 1` bytes are returned (truncated, like
    /// the kernel), and `None` if `addr` is not readable or the readable memory ends before
    /// a NUL and before the limit.
    pub fn read_cstr(&mut self, addr: u64, max: usize) -> Option<Vec<u8>> {
        if max == 0 {
            return Some(Vec::new());
        }
        // How many bytes from `addr` are readable in one piece.
        let avail = {
            let (lo, hi) = (self.stack_lo, self.stack_hi);
            if addr >= lo && addr < hi {
                hi - addr
            } else {
                self.regions
                    .iter()
                    .filter(|r| r.contains(addr, 1))
                    .map(|r| r.start + r.len - addr)
                    .max()?
            }
        };
        let n = avail.min(max as u64) as usize;
        // SAFETY: `[addr, addr + n)` lies in the stack or one registered readable region.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, n) };
        match bytes.iter().position(|&b| b == 0) {
            Some(len) => Some(bytes[..len].to_vec()),
            None if n == max => Some(bytes[..max - 1].to_vec()),
            None => None,
        }
    }

    /// Installs (or with `None` removes) the engine's callback hook, returning the previous
    /// one. Engines call this at the start and end of a run.
    ///
    /// # Safety
    /// While installed, `hook.data` must stay valid for `hook.call`.
    pub unsafe fn set_callback_hook(&mut self, hook: Option<CallbackHook>) -> Option<CallbackHook> {
        std::mem::replace(&mut self.callback, hook)
    }

    /// Calls the BPF function `func` (a callback argument a program passed to a helper,
    /// produced by `lddw src=4`) with `args` in r1-r5, in a new call frame of the running
    /// program; returns its r0. Fails if no program is running, `func` names no function,
    /// the call chain would exceed 8 frames, or the callback itself fails; the engine then
    /// stops the run with the reason when the helper returns.
    pub fn call_bpf(&mut self, func: u64, args: [u64; 5]) -> Result<u64, CallbackFailed> {
        let hook = self.callback.ok_or(CallbackFailed)?;
        // SAFETY: the engine installed `hook` for the current run and keeps `data` valid
        // while it is installed (contract of `set_callback_hook`).
        unsafe { (hook.call)(hook.data, self, func, args) }
    }

    /// The next value of the context's pseudo-random generator (xorshift64*; not
    /// cryptographically secure, as the kernel documents for `bpf_get_prandom_u32`).
    pub fn prandom_u32(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_frames_and_regions() {
        let mut ctx = RunContext::new();
        let top = ctx.frame_pointer(0);
        assert_eq!(top % 16, 0);
        assert!(ctx.check(top - 8, 8, Access::Write).is_ok());
        assert!(ctx.check(top - 512, 8, Access::Read).is_ok());
        let f = ctx.check(top - 513, 8, Access::Read).unwrap_err();
        assert_eq!(f.kind, FaultKind::OutOfBounds);
        assert!(ctx.check(top - 4, 8, Access::Read).is_err());
        ctx.set_call_depth(1);
        assert_eq!(ctx.frame_pointer(1), top - 512);
        assert!(ctx.check(top - 600, 8, Access::Read).is_ok());
        assert!(ctx.check(top - 1025, 8, Access::Read).is_err());

        let data = [1u8, 2, 3, 0, 5];
        let r = MemRegion {
            start: data.as_ptr() as u64,
            len: data.len() as u64,
            writable: false,
        };
        // SAFETY: `data` outlives `ctx`'s use of it and is only read.
        unsafe { ctx.add_region(r) };
        let mut buf = [0u8; 2];
        ctx.read_bytes(r.start + 1, &mut buf).unwrap();
        assert_eq!(buf, [2, 3]);
        assert_eq!(
            ctx.write_bytes(r.start, &[0]).unwrap_err().kind,
            FaultKind::ReadOnly
        );
        assert_eq!(ctx.read_cstr(r.start, 64), Some(vec![1, 2, 3]));
        assert_eq!(ctx.read_cstr(r.start, 2), Some(vec![1]));
        assert_eq!(ctx.read_cstr(r.start + 4, 64), None);
        assert_eq!(ctx.read_cstr(0x10, 64), None);
        assert!(ctx.remove_region(&r));
        assert!(ctx.read_bytes(r.start, &mut buf).is_err());
    }

    #[test]
    fn prandom_varies() {
        let mut ctx = RunContext::new();
        let a: Vec<u32> = (0..4).map(|_| ctx.prandom_u32()).collect();
        assert!(a.windows(2).any(|w| w[0] != w[1]));
    }
}
