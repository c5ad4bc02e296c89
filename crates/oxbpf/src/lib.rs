//! oxbpf: the eBPF system in user space.

pub mod btf;
pub mod object;
