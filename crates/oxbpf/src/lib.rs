//! oxbpf: the eBPF system in user space.
