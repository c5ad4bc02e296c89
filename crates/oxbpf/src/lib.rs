//! oxbpf: the eBPF system in user space.
pub mod maps;
