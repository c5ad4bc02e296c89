//! Native code generation for eBPF programs.
//!
//! Only x86-64 is supported. [`x86_64`] holds the pieces the compiler is built from: a
//! typed instruction encoder with labels and branch relaxation, and W^X executable memory.

pub mod x86_64;
