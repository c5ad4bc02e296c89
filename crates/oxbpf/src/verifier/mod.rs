//! The verifier (kernel `kernel/bpf/verifier.c`, privileged mode).

pub mod branch;
pub mod scalar;
pub mod tnum;

#[cfg(test)]
mod testrng;
