//! The run-time memory model shared by the interpreter and the JIT.
//!
//! Programs see real host addresses (see `ARCHITECTURE.md`, "Memory model"): `r10` points
//! into a real stack buffer owned by the [`RunContext`], packet and context pointers are the
//! embedder's real addresses, map lookups return real pointers into map memory.
//!
//! * [`MemRegion`] / [`Fault`]: the table of memory valid for a run and what went wrong
//!   when an access left it.
//! * [`RunContext`]: everything one run needs besides the program — the stack, the region
//!   table, the trace log, the CPU id, the packet for `LD_ABS`, and the fault a helper
//!   reports. Helpers receive it as their sixth argument.
//! * [`ProgramTable`], [`TailCall`]: how helpers take tail calls, which maps they accept
//!   and which ring buffer records a run holds (see `hooks.rs`).
//! * [`MapResolver`]: how `lddw` map pseudo forms become map handles and value addresses at
//!   load time (filled in by the runtime / object loader).
//! * [`CallbackHook`] / [`RunContext::call_bpf`]: how helpers such as `bpf_loop` call a BPF
//!   function of the running program (the value `lddw src=4` loaded) in a new frame.
//!
//! Checked mode consults the region table on every access; unchecked mode (verified code)
//! does not. The table is maintained in both modes, and helpers always check the memory they
//! are handed through it, so the runtime registers map arenas and other embedder memory
//! regardless of the mode.
//!
//! For helpers, the runtime also gives each run's context:
//! * the program's maps, with [`RunContext::add_map`]: helpers accept only handles of
//!   registered maps (a forged handle is a fault, never dereferenced), and their value and
//!   key memory become regions;
//! * the table of loaded programs tail calls jump to, with [`RunContext::set_programs`];
//! * for tracing attachments, [`RunContext::func_ip`] (`bpf_get_func_ip`);
//! * the CPU id in both [`RunContext::cpu_id`] (`bpf_get_smp_processor_id`) and
//!   [`crate::maps::set_current_cpu`] (per-CPU maps, `BPF_F_CURRENT_CPU`).

mod context;
mod hooks;
mod region;
mod trace;

pub use context::{CallbackFailed, CallbackHook, MapRef, MapResolver, RunContext};
pub use hooks::{ProgramTable, TailCall, MAX_TAIL_CALL_CNT};
pub use region::{Access, Fault, FaultKind, MemRegion};
pub use trace::{TraceLine, TraceLog, TRACE_LOG_CAPACITY};

/// Bytes of stack per call frame (`MAX_BPF_STACK`).
pub const STACK_FRAME_SIZE: usize = 512;

/// Maximum number of frames in a BPF-to-BPF call chain (`MAX_CALL_FRAMES`), the entry
/// function included.
pub const MAX_CALL_FRAMES: usize = 8;

/// Size of the stack buffer holding every frame of a call chain.
pub const STACK_SIZE: usize = STACK_FRAME_SIZE * MAX_CALL_FRAMES;
