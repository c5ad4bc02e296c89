//! oxbpf: the eBPF system in user space.

pub mod helpers;
pub mod isa;
pub mod verifier;
