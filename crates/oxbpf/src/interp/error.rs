//! Load-time and run-time errors of the interpreter.

use crate::isa::{DecodeError, LdPseudo, ValidateError};
use crate::vm::{Fault, MAX_CALL_FRAMES};

/// Why a program cannot be loaded into the interpreter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes do not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A structural rule of the ISA is broken (jump targets, `r10` writes, ...).
    #[error(transparent)]
    Invalid(#[from] ValidateError),
    /// A `call` names a helper id the registry does not have.
    #[error("instruction {slot}: call to unknown helper id {id}")]
    UnknownHelper { slot: usize, id: i32 },
    /// Kernel function calls need BTF and a kfunc table, which the interpreter lacks.
    #[error("instruction {slot}: kfunc calls are not supported (btf id {btf_id})")]
    Kfunc { slot: usize, btf_id: i32 },
    /// An `lddw` names a map but the program was loaded without a map resolver, or the
    /// resolver does not know the map (or the value offset).
    #[error("instruction {slot}: lddw {pseudo:?} with imm {imm} (off {off}) names no known map")]
    UnresolvedMap {
        slot: usize,
        pseudo: LdPseudo,
        imm: i32,
        off: i32,
    },
    /// An `lddw` form the interpreter does not implement (`BTF_ID`: kernel variables).
    #[error("instruction {slot}: lddw {pseudo:?} is not supported by the interpreter")]
    UnsupportedPseudo { slot: usize, pseudo: LdPseudo },
    /// A chain of calls is deeper than [`MAX_CALL_FRAMES`] frames.
    #[error("instruction {slot}: call makes the call chain {depth} frames deep (at most {MAX_CALL_FRAMES})")]
    CallTooDeep { slot: usize, depth: usize },
    /// More slots than the compact form can index.
    #[error("program has {slots} slots, more than the interpreter supports")]
    TooLarge { slots: usize },
}

/// Why a run stopped without reaching `exit` of the entry function.
///
/// Kept small (it travels in every `Result` of the hot loop's exits); slots are `u32`
/// because programs are limited to 2^32 slots at load time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// A load, store or atomic left the valid memory (checked mode), wrote read-only
    /// memory, or an atomic was unaligned.
    #[error("instruction {slot}: {fault}")]
    Memory { slot: u32, fault: Fault },
    /// A helper was handed memory outside the valid regions.
    #[error("instruction {slot}: helper {helper}: {fault}")]
    HelperMemory {
        slot: u32,
        helper: u32,
        fault: Fault,
    },
    /// The instruction budget ran out before this instruction.
    #[error("instruction {slot}: instruction budget of {budget} exhausted")]
    Budget { slot: u32, budget: u64 },
    /// A BPF-to-BPF call would create a ninth frame.
    #[error("instruction {slot}: call exceeds the maximum of {MAX_CALL_FRAMES} frames")]
    CallDepth { slot: u32 },
    /// `callx` with a register holding no registered helper id.
    #[error("instruction {slot}: callx to unknown helper id {id}")]
    UnknownHelper { slot: u32, id: u64 },
    /// A helper asked to call a BPF callback that is not the start of a function.
    #[error("instruction {slot}: helper called {func:#x}, which is not a function of the program")]
    BadCallback { slot: u32, func: u64 },
    /// `LD_ABS` / `LD_IND` with no packet set in the run context.
    #[error("instruction {slot}: LD_ABS/LD_IND but the run context has no packet")]
    NoPacket { slot: u32 },
    /// A tail call's target is neither an interpreter nor a compiled program.
    #[error("instruction {slot}: tail call target program {prog_id} is not a runnable program")]
    TailCallTarget { slot: u32, prog_id: u32 },
}

impl RunError {
    /// The slot of the instruction that stopped the run.
    pub fn slot(&self) -> usize {
        match *self {
            RunError::Memory { slot, .. }
            | RunError::HelperMemory { slot, .. }
            | RunError::Budget { slot, .. }
            | RunError::CallDepth { slot }
            | RunError::UnknownHelper { slot, .. }
            | RunError::BadCallback { slot, .. }
            | RunError::NoPacket { slot }
            | RunError::TailCallTarget { slot, .. } => slot as usize,
        }
    }
}

// Constructors called from the hot loop: out of line so the loop stays small.

#[cold]
#[inline(never)]
pub(super) fn memory(slot: usize, fault: Fault) -> RunError {
    RunError::Memory {
        slot: slot as u32,
        fault,
    }
}

#[cold]
#[inline(never)]
pub(super) fn helper_memory(slot: usize, helper: u32, fault: Fault) -> RunError {
    RunError::HelperMemory {
        slot: slot as u32,
        helper,
        fault,
    }
}

#[cold]
#[inline(never)]
pub(super) fn budget(slot: usize, budget: u64) -> RunError {
    RunError::Budget {
        slot: slot as u32,
        budget,
    }
}

#[cold]
#[inline(never)]
pub(super) fn call_depth(slot: usize) -> RunError {
    RunError::CallDepth { slot: slot as u32 }
}

#[cold]
#[inline(never)]
pub(super) fn unknown_helper(slot: usize, id: u64) -> RunError {
    RunError::UnknownHelper {
        slot: slot as u32,
        id,
    }
}

#[cold]
#[inline(never)]
pub(super) fn no_packet(slot: usize) -> RunError {
    RunError::NoPacket { slot: slot as u32 }
}

#[cold]
#[inline(never)]
pub(super) fn bad_callback(slot: usize, func: u64) -> RunError {
    RunError::BadCallback {
        slot: slot as u32,
        func,
    }
}

#[cold]
#[inline(never)]
pub(super) fn tail_call_target(slot: usize, prog_id: u32) -> RunError {
    RunError::TailCallTarget {
        slot: slot as u32,
        prog_id,
    }
}
