//! oxbpf: the eBPF system in user space.

#[cfg(target_os = "linux")]
pub mod kernel;
