//! oxbpf: the eBPF system in user space.

pub mod asm;
pub mod helpers;
pub mod isa;
