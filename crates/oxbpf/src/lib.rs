//! oxbpf: the eBPF system in user space.

pub mod asm;
pub mod btf;
pub mod helpers;
pub mod interp;
pub mod isa;
pub mod jit;
#[cfg(target_os = "linux")]
pub mod kernel;
pub mod object;
pub mod testgen;
pub mod verifier;
pub mod vm;
