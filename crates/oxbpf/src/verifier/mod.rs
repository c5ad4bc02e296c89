//! The verifier: proves a program safe before it runs unchecked, modelled on the Linux
//! kernel's `kernel/bpf/verifier.c` in privileged (root) mode.
//!
//! [`verify`] runs, in order:
//! 1. control-flow checks (module `cfg`): jump targets, subprograms, reachability, loops;
//! 2. path exploration: every path is executed on abstract states — registers typed as
//!    scalars (tracked with a [`tnum::Tnum`] and signed/unsigned 64/32-bit ranges, see
//!    [`scalar`]) or pointers (ctx, stack, map value, packet, memory) with fixed and
//!    variable offsets, and an 8-byte-slot stack with per-byte state. Conditional jumps
//!    narrow both edges ([`branch`]); a jump decided by the bounds explores one edge only,
//!    which is how bounded loops terminate;
//! 3. state pruning: at jump targets a state already proven safe that includes the
//!    current one ends the path (ranges within, tnums within, stack subsumption, dead
//!    registers ignored via static liveness). As in the kernel, only scalars marked
//!    *precise* are compared by range: a scalar becomes precise in the stored states when
//!    a safety check depends on its value (pointer arithmetic, helper sizes, jumps decided
//!    by the bounds, the return range), found by backtracking through the path's
//!    instruction history (module `precision`). Loops whose bodies branch on data then
//!    converge instead of exploring every combination of counters and accumulators.
//!
//! Like root on Linux, pointer leaks are allowed, uninitialised stack may be read (it
//! yields an unknown scalar — checked on this machine's 6.18 kernel with `bpf(2)`), and
//! stack accesses must be aligned while packet/map accesses need not be.
//!
//! Messages use the kernel's wording (`R1 invalid mem access 'map_value_or_null'`,
//! `invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)`); a rejection's log also
//! shows the instruction (LLVM syntax), the offending register's state in kernel notation
//! and a one-sentence hint.
//!
//! Checked against the running kernel (tests, as root): every case of the table with a
//! kernel program type (XDP, socket filter, sched_cls, kprobe, cgroup skb, tracepoint;
//! maps with BTF and inner templates as needed) gets the kernel's verdict and message (a short list of documented exceptions), and random
//! bounds, packet-check, stack-traffic and loop programs get the kernel's verdict; where
//! oxbpf is more precise (it keeps signed bounds through shifts, tracks 32-bit bounds of
//! 32-bit divisions, reads bytes of spilled constants), run-time tests check the extra
//! acceptances are safe.
//!
//! Also modelled: map-in-map lookups (a nullable handle to a map like the inner
//! template, [`MapMeta::inner`]), callbacks of `bpf_loop` and `bpf_for_each_map_elem`
//! (verified like loops: the call site is re-entered until states converge, module
//! `callbacks`), `BPF_LD_ABS`/`IND` (module `ldabs`), `bpf_spin_lock` (lock offset from
//! [`MapMeta::spin_lock_off`]), the combined stack of call chains, and constant strings
//! in frozen read-only maps with `bpf_snprintf`'s load-time format check (module
//! `conststr`, contents from [`MapMeta::frozen`]). Whether the program has BTF
//! `func_info` ([`VerifyConfig::func_info`]) decides, as in the kernel, whether
//! subprograms may use `BPF_LD_ABS`/`IND` and tail calls and whether callbacks load.
//!
//! Not modelled yet (rejected with a message saying so, or absent): kfuncs, `callx`,
//! other callback-taking helpers, BTF ids, dynptrs, iterators, `ARG_PTR_TO_LONG` helper
//! arguments (the runtime loads such programs unverified, with run-time checks); the kernel's scalar links with a constant delta (`r2 = r1 + 4`
//! stays linked in the kernel). Context rules of the other program
//! types come from their layouts in `program` (`ProgramType::ctx_access`).
//!
//! ```
//! use oxbpf::isa;
//! use oxbpf::verifier::{self, ctx::Xdp, VerifyConfig};
//! // r0 = 2 (XDP_PASS); exit
//! let prog = isa::decode(&[0xb7, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]).unwrap();
//! let config = VerifyConfig { log_level: 1, ..VerifyConfig::new(&Xdp) };
//! let ok = verifier::verify(&prog, &config).unwrap();
//! assert!(ok.log.starts_with("processed 2 insns (limit 1000000)"));
//! ```

pub mod branch;
mod callbacks;
pub mod cfg;
mod check;
mod conststr;
pub mod ctx;
mod exec;
mod ldabs;
mod log;
mod maprefs;
mod mem;
mod precision;
pub mod protos;
mod prune;
pub mod scalar;
mod stackdepth;
pub mod state;
pub mod tnum;

#[cfg(test)]
mod testrng;
#[cfg(test)]
mod tests;

use crate::isa::Located;
pub use ctx::{CtxAccess, CtxDenied, CtxField, EntryArg};
pub use maprefs::spin_lock_offset;
pub use protos::{ArgKind, BuiltinHelpers, HelperLookup, HelperProto, RetKind};

/// The kernel's limit on processed instructions (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const COMPLEXITY_LIMIT_INSNS: u64 = 1_000_000;

/// A map the program may use, as the verifier needs it. `lddw` map references
/// (`BPF_PSEUDO_MAP_FD` / `BPF_PSEUDO_MAP_IDX` and their `_VALUE` forms) carry an index
/// into [`VerifyConfig::maps`] in `imm` (the loader resolves fds to indices first).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapInfo {
    /// Kernel map type number (`BPF_MAP_TYPE_*`).
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `BPF_F_*` creation flags (`BPF_F_RDONLY_PROG` forbids program writes).
    pub flags: u32,
}

/// What the verifier knows about a map beyond [`MapInfo`] (kernel `struct bpf_map`'s
/// `inner_map_meta`, `btf` and `record`); parallel to [`VerifyConfig::maps`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapMeta {
    /// The map's name, for messages.
    pub name: String,
    /// For an array or hash of maps: the inner map template. A lookup yields a handle
    /// to a map like it.
    pub inner: Option<MapInfo>,
    /// Whether the map's value has BTF (needed for `bpf_spin_lock`).
    pub btf: bool,
    /// Offset of the value's `struct bpf_spin_lock`, if it has one.
    pub spin_lock_off: Option<u32>,
    /// `Some` once the map is frozen (`BPF_MAP_FREEZE`, e.g. `.rodata`): the bytes of its
    /// first value (an array's element 0; empty for other types). With
    /// [`F_RDONLY_PROG`] this makes the map read-only for good (kernel
    /// `bpf_map_is_rdonly`), so constant strings may point into it.
    pub frozen: Option<Vec<u8>>,
}

/// `BPF_MAP_TYPE_PROG_ARRAY`.
pub const MAP_TYPE_PROG_ARRAY: u32 = 3;
/// `BPF_MAP_TYPE_ARRAY`.
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_MAP_TYPE_ARRAY_OF_MAPS`.
pub const MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
/// `BPF_MAP_TYPE_HASH_OF_MAPS`.
pub const MAP_TYPE_HASH_OF_MAPS: u32 = 13;
/// `BPF_MAP_TYPE_QUEUE`.
pub const MAP_TYPE_QUEUE: u32 = 22;
/// `BPF_MAP_TYPE_STACK`.
pub const MAP_TYPE_STACK: u32 = 23;
/// `BPF_MAP_TYPE_RINGBUF`.
pub const MAP_TYPE_RINGBUF: u32 = 27;
/// `BPF_F_RDONLY_PROG`.
pub const F_RDONLY_PROG: u32 = 1 << 7;

/// What to verify against.
#[derive(Clone, Copy)]
pub struct VerifyConfig<'a> {
    /// The program type: entry registers, context fields, helpers, return range.
    pub prog_type: &'a dyn CtxAccess,
    /// The maps `lddw` may reference, by index.
    pub maps: &'a [MapInfo],
    /// More about the maps, by the same index (may be shorter than `maps`: the rest have
    /// no inner template, no BTF and no spin lock).
    pub map_meta: &'a [MapMeta],
    /// Helper prototypes.
    pub helpers: &'a dyn HelperLookup,
    /// Whether the program's license is GPL-compatible.
    pub gpl: bool,
    /// 0: no log; 1: the summary, and on rejection the failing path; 2: every
    /// instruction of every path.
    pub log_level: u32,
    /// Limit on processed instructions (default [`COMPLEXITY_LIMIT_INSNS`]).
    pub insn_limit: u64,
    /// Whether the program comes with BTF `func_info` (kernel `prog->aux->func_info`;
    /// default false), each subprogram then taken as a static function returning `int`.
    /// Without it the kernel rejects `BPF_LD_ABS`/`IND` and tail calls in subprograms
    /// and callbacks (`lddw` of a function).
    pub func_info: bool,
}

impl<'a> VerifyConfig<'a> {
    /// No maps, the built-in helper table, GPL, no log, the kernel's limit.
    pub fn new(prog_type: &'a dyn CtxAccess) -> VerifyConfig<'a> {
        VerifyConfig {
            prog_type,
            maps: &[],
            map_meta: &[],
            helpers: &BuiltinHelpers,
            gpl: true,
            log_level: 0,
            insn_limit: COMPLEXITY_LIMIT_INSNS,
            func_info: false,
        }
    }
}

/// The kind of memory an instruction accesses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum MemKind {
    Stack,
    Ctx,
    MapValue,
    Packet,
    Mem,
}

/// What the verifier proved about one instruction, over all paths that reach it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct InsnFacts {
    /// Some path reached the instruction.
    pub visited: bool,
    /// The memory kind accessed, if the same on every path.
    pub mem: Option<MemKind>,
    /// Different paths access different kinds of memory here.
    pub mem_mixed: bool,
    /// For a division or modulo by a register: the divisor may be zero on some path.
    pub divisor_may_be_zero: bool,
}

/// Counters for the kernel's summary line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Stats {
    /// Instructions processed over all paths.
    pub insns_processed: u64,
    /// Most states stored at one instruction.
    pub max_states_per_insn: u32,
    /// States stored for pruning.
    pub total_states: u32,
    /// Most states stored at once.
    pub peak_states: u32,
    /// Liveness read marks (0: this verifier uses static liveness).
    pub mark_read: u32,
    /// Paths ended by pruning.
    pub pruned: u32,
}

impl Stats {
    /// `processed N insns (limit 1000000) max_states_per_insn M total_states T
    /// peak_states P mark_read K`.
    pub fn summary(&self, limit: u64) -> String {
        format!(
            "processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read {}",
            self.insns_processed,
            limit,
            self.max_states_per_insn,
            self.total_states,
            self.peak_states,
            self.mark_read
        )
    }
}

/// A program proven safe.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Facts per instruction (parallel to the input slice).
    pub facts: Vec<InsnFacts>,
    pub stats: Stats,
    /// Stack bytes used by each subprogram (in program order).
    pub stack_depth: Vec<u32>,
    /// The verifier log at the configured level.
    pub log: String,
}

/// Why a program was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("insn {insn}: {message}")]
pub struct VerifyError {
    /// The slot index of the offending instruction (as the kernel counts).
    pub insn: usize,
    /// The kernel-style message (may span lines, as the kernel's does).
    pub message: String,
    /// The log: with level ≥ 1 the failing path, then the instruction, the offending
    /// register's state, the message, a fix hint and the summary line.
    pub log: String,
}

/// Verifies `prog` (decoded with [`crate::isa::decode`]) against `config`.
pub fn verify(prog: &[Located], config: &VerifyConfig<'_>) -> Result<Verified, VerifyError> {
    let flow = cfg::check_cfg(prog).map_err(|mut e| {
        e.log = format!("{}\n{}\n", e.message, log::hint(&e.message));
        if config.log_level >= 1 {
            e.log.push_str(&Stats::default().summary(config.insn_limit));
            e.log.push('\n');
        }
        e
    })?;
    if let Some(message) = ldabs::check_abnormal_return(&flow, config.func_info) {
        let mut log = format!("{message}\n{}\n", log::hint(message));
        if config.log_level >= 1 {
            log.push_str(&Stats::default().summary(config.insn_limit));
            log.push('\n');
        }
        return Err(VerifyError {
            insn: 0,
            message: message.into(),
            log,
        });
    }
    let depth_flow = cfg::check_cfg(prog)?;
    let verified = exec::Env::new(prog, config, flow).run()?;
    if let Some(message) = stackdepth::check(prog, &depth_flow, &verified.stack_depth) {
        let mut log = verified.log;
        log.push_str(&format!("{message}\n{}\n", log::hint(&message)));
        return Err(VerifyError {
            insn: 0,
            message,
            log,
        });
    }
    Ok(verified)
}
