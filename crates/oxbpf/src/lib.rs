//! oxbpf: the eBPF system in user space.

pub mod helpers;
pub mod interp;
pub mod isa;
pub mod vm;
