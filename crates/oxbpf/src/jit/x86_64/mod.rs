//! The x86-64 back end.
//!
//! - [`encoder`]: typed instruction constructors emitting into an [`Asm`] code sink, with
//!   labels, forward/backward branches and rel8/rel32 relaxation.
//! - [`operands`]: registers, sizes, memory operands and condition codes.
//! - [`memory`]: executable memory that is never writable and executable at once.
//! - `compile` (with `alu`, `mem`, `calls`): the eBPF compiler, `runtime`: the per-run
//!   frame and the Rust slow paths compiled code calls.

mod alu;
mod calls;
pub(crate) mod compile;
pub mod encoder;
mod mem;
#[cfg(unix)]
pub mod memory;
pub mod operands;
pub(crate) mod runtime;

pub use encoder::{
    AluOp, Asm, AsmError, Code, Cond, Ext, Label, Mark, Mem, Reg, Rm, Scale, ShiftOp, Size, Width,
};
#[cfg(unix)]
pub use memory::{ExecMemory, MemoryError};

#[cfg(test)]
mod encoder_tests;
#[cfg(all(test, unix, target_arch = "x86_64"))]
mod memory_tests;
