//! oxbpf: the eBPF system in user space.

pub mod asm;
pub mod helpers;
pub mod isa;
pub mod jit;
#[cfg(target_os = "linux")]
pub mod kernel;
pub mod maps;
pub mod testgen;
