//! Helper functions callable from BPF programs, by kernel helper id.

pub mod ids;
