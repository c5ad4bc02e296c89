//! What helpers need from the engine and the runtime besides memory and callbacks
//! ([`RunContext::call_bpf`]): tail calls, the maps a run may name, and the ring buffer
//! records it holds.
//!
//! # Tail calls
//! `bpf_tail_call` resolves the target through the runtime's [`ProgramTable`]
//! ([`RunContext::set_programs`]), counts it ([`MAX_TAIL_CALL_CNT`]) and leaves a
//! [`TailCall`] in [`RunContext::tail_call`]. Right after the helper returns, the engine takes
//! it, runs the target from its first instruction with `r1` = the helper's context argument
//! in place of the current function (same stack frame depth, fresh registers) and treats
//! the target's `r0` as the current function's return value. At the entry function that is
//! the kernel's "jump, never return"; from a subprogram the kernel also returns to the
//! subprogram's caller. A failed tail call leaves nothing and the program continues.
//!
//! # Maps
//! Programs hold maps as handles ([`Map::handle`]). Helpers accept only handles of maps
//! registered for the run ([`RunContext::add_map`], which also registers the map's value and
//! key memory as regions); anything else is a fault, so a forged handle can never be
//! dereferenced. Inner maps returned by map-in-map lookups are registered as they are
//! returned.

use std::any::Any;
use std::sync::Arc;

use super::context::RunContext;
use super::region::{Access, Fault, FaultKind, MemRegion};
use crate::maps::{self, Map, MapType};

/// Tail calls one run may take (the kernel's `MAX_TAIL_CALL_CNT`): the 34th fails.
pub const MAX_TAIL_CALL_CNT: u32 = 33;

/// The runtime's table of loaded programs, for tail calls (the kernel's program idr).
pub trait ProgramTable: Send + Sync {
    /// The executable form of program `id`. Each engine downcasts it to what it runs (the
    /// interpreter to [`Interpreter`](crate::interp::Interpreter)); `None` if no such
    /// program is loaded.
    fn program(&self, id: u32) -> Option<Arc<dyn Any + Send + Sync>>;
}

/// A tail call decided by `bpf_tail_call`, for the engine to perform.
///
/// The helper resolves the target through the runtime's [`ProgramTable`]
/// ([`RunContext::set_programs`]), counts it ([`MAX_TAIL_CALL_CNT`] per run, in
/// [`RunContext::tail_call_count`]) and leaves this in [`RunContext::tail_call`]. Right
/// after the helper returns, the engine takes it and runs the target from its first
/// instruction in place of the current function (same frame depth, fresh registers,
/// `r1` = [`ctx_arg`](Self::ctx_arg), the run's remaining budget); the target's `r0` is the
/// current function's return value. At the entry function that is the kernel's "jump,
/// never return"; from a subprogram, as in the kernel, the subprogram's caller resumes.
#[derive(Clone)]
pub struct TailCall {
    /// Id of the target program.
    pub prog_id: u32,
    /// The target, from the [`ProgramTable`].
    pub program: Arc<dyn Any + Send + Sync>,
    /// `r1` for the target (the helper's context argument).
    pub ctx_arg: u64,
}

impl std::fmt::Debug for TailCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TailCall")
            .field("prog_id", &self.prog_id)
            .field("ctx_arg", &format_args!("{:#x}", self.ctx_arg))
            .finish()
    }
}

fn map_region(r: maps::MemRegion) -> MemRegion {
    MemRegion {
        start: r.start as u64,
        len: r.len as u64,
        writable: r.writable,
    }
}

impl RunContext {
    /// Sets the table tail calls resolve program ids with.
    pub fn set_programs(&mut self, programs: Option<Arc<dyn ProgramTable>>) {
        self.programs = programs;
    }

    /// The program table tail calls use.
    pub fn programs(&self) -> Option<&Arc<dyn ProgramTable>> {
        self.programs.as_ref()
    }

    /// Registers a map the program may name: helpers accept its handle, and its value and
    /// key memory become regions (value memory writable unless `BPF_F_RDONLY_PROG`, keys
    /// read-only). The context keeps the map alive. Registering a map twice is harmless.
    pub fn add_map(&mut self, map: &Arc<Map>) {
        if !self.maps.iter().any(|m| Arc::ptr_eq(m, map)) {
            self.maps.push(Arc::clone(map));
        }
        self.refresh_map_regions(map);
    }

    /// Forgets every registered map and removes their memory from the region table (the
    /// context no longer keeps them alive); records still reserved are discarded first.
    pub fn clear_maps(&mut self) {
        self.discard_ringbuf_records();
        for map in std::mem::take(&mut self.maps) {
            for r in map.value_regions().into_iter().chain(map.key_regions()) {
                let r = map_region(r);
                while self.remove_region(&r) {}
            }
        }
        self.last_map = 0;
    }

    /// The maps registered for runs.
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// Adds the map's current value and key memory to the region table (maps that allocate
    /// on demand grow new memory; helpers call this when a map returns a pointer outside
    /// the known regions).
    /// Ring buffer memory is not added: programs may write only the records they reserve,
    /// each registered for as long as it is reserved
    /// ([`push_ringbuf_record`](Self::push_ringbuf_record)), so a checked program cannot
    /// corrupt record headers.
    pub fn refresh_map_regions(&mut self, map: &Map) {
        if map.map_type() == MapType::RingBuf {
            return;
        }
        let regions = map.value_regions().into_iter().chain(map.key_regions());
        for r in regions.map(map_region) {
            if !self.regions.contains(&r) {
                // SAFETY: map memory never moves and is freed only when the map is dropped;
                // the map is registered (the context holds an `Arc`) or an inner map kept
                // alive by its registered outer map.
                unsafe { self.add_region(r) };
            }
        }
    }

    /// The registered map with this handle. A handle that names no registered map is a
    /// fault (a program passing a forged map pointer), reported as an access of the handle
    /// address.
    ///
    /// # Safety
    /// The reference must not be used after the map is unregistered
    /// ([`clear_maps`](Self::clear_maps)) or the context dropped. Helpers use it only
    /// within their call, during which nothing unregisters maps.
    #[inline]
    pub unsafe fn map<'a>(&mut self, handle: u64) -> Result<&'a Map, Fault> {
        let hit = match self.maps.get(self.last_map) {
            Some(m) if Arc::as_ptr(m) as usize as u64 == handle => true,
            _ => match self
                .maps
                .iter()
                .position(|m| Arc::as_ptr(m) as usize as u64 == handle)
            {
                Some(i) => {
                    self.last_map = i;
                    true
                }
                None => false,
            },
        };
        if !hit {
            return Err(Fault {
                addr: handle,
                size: 0,
                access: Access::Read,
                kind: FaultKind::NotAMap,
            });
        }
        // SAFETY: the handle is the address of a map the context holds an `Arc` of; the
        // caller uses the reference only while the map stays registered.
        Ok(unsafe { Map::from_handle(handle) })
    }

    /// Registers an inner map returned by a map-in-map lookup so later helpers accept its
    /// handle.
    ///
    /// # Safety
    /// `handle` must come from a lookup in a map-in-map registered with this context (whose
    /// inner maps are `Arc`s the outer map keeps alive).
    pub unsafe fn add_inner_map(&mut self, handle: u64) {
        if self
            .maps
            .iter()
            .any(|m| Arc::as_ptr(m) as usize as u64 == handle)
        {
            return;
        }
        // SAFETY: by the function contract `handle` is the address of an `Arc<Map>` kept
        // alive by a registered outer map. Increment first so the `Arc` rebuilt here owns
        // one count of its own.
        let inner = unsafe {
            let p = handle as usize as *const Map;
            Arc::increment_strong_count(p);
            Arc::from_raw(p)
        };
        self.add_map(&inner);
    }

    /// Records a ring buffer record of `len` bytes the program reserved
    /// (`bpf_ringbuf_reserve`) and registers it as writable memory until it is committed.
    ///
    /// # Safety
    /// `sample` must come from [`Map::ringbuf_reserve`] with `len` bytes, on a map
    /// registered with this context, and not be committed yet.
    pub unsafe fn push_ringbuf_record(&mut self, sample: u64, len: u64) {
        // SAFETY: the reserved record stays valid and is the program's until it is
        // submitted or discarded, which removes the region first.
        unsafe {
            self.add_region(MemRegion {
                start: sample,
                len,
                writable: true,
            })
        };
        self.ringbuf_records.push((sample, len));
    }

    /// Takes a record the program reserved and has not committed yet, removing its region;
    /// `false` if `sample` is no such record.
    pub fn take_ringbuf_record(&mut self, sample: u64) -> bool {
        match self.ringbuf_records.iter().rposition(|&(s, _)| s == sample) {
            Some(i) => {
                let (start, len) = self.ringbuf_records.swap_remove(i);
                self.remove_region(&MemRegion {
                    start,
                    len,
                    writable: true,
                });
                true
            }
            None => false,
        }
    }

    /// Discards every record the program reserved but did not submit or discard (the
    /// kernel verifier rejects such programs; a program run unverified must not leave the
    /// ring blocked). Engines call this when a run ends.
    #[inline]
    pub fn discard_ringbuf_records(&mut self) {
        // Inline: engines call this after every run, and almost always nothing is left.
        if !self.ringbuf_records.is_empty() {
            self.discard_ringbuf_records_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn discard_ringbuf_records_slow(&mut self) {
        while let Some(&(sample, _)) = self.ringbuf_records.last() {
            self.take_ringbuf_record(sample);
            // SAFETY: every recorded sample came from `Map::ringbuf_reserve` on a map the
            // context holds (`push_ringbuf_record`'s contract) and was neither submitted
            // nor discarded (those remove it from the list).
            unsafe { maps::ringbuf_discard(sample as usize as *mut u8, 0) };
        }
    }

    /// Checks `[addr, addr + len)` and records a fault if it is not accessible; `true` if
    /// it is. Helpers use it for pointer arguments. An empty range touches nothing and is
    /// always accepted (the kernel allows NULL with a zero size).
    #[inline]
    pub fn check_arg(&mut self, addr: u64, len: u64, access: Access) -> bool {
        if len == 0 {
            return true;
        }
        match self.check(addr, len, access) {
            Ok(()) => true,
            Err(f) => {
                self.fault = Some(f);
                false
            }
        }
    }
}
