//! Helper functions callable from BPF programs, by kernel helper id.
//!
//! A helper is an `extern "C"` function of the five argument registers plus the
//! [`RunContext`] ([`HelperFn`]); the interpreter and the JIT call it the same way (for the
//! JIT: eBPF r1-r5 in rdi, rsi, rdx, rcx, r8 and the context in r9). Each helper carries its
//! [`HelperProto`] so the verifier checks calls against the same [`Registry`] the engines
//! dispatch from. Embedders add their own helpers with [`Registry::register`].
//!
//! Helpers must not panic: a panic cannot unwind out of an `extern "C"` function and aborts
//! the process.
//!
//! A helper reports errors as the kernel does, with a negative errno in `r0`. A
//! memory-safety violation (a pointer argument outside the valid regions) is recorded in
//! [`RunContext::fault`] and the engine stops the run with it when the helper returns.
//! Helpers check every pointer argument against the run's regions in both engine modes,
//! with the size the prototype implies (a map's `key_size`/`value_size`, the size
//! argument), and accept only maps registered for the run ([`RunContext::add_map`]).
//!
//! Files by family: `map.rs` (lookup/update/delete, queue/stack, per-CPU lookup),
//! `callbacks.rs` (`loop`, `for_each_map_elem`, `tail_call`; see [`crate::vm`]'s hooks),
//! `ringbuf.rs` (ring buffer, `perf_event_output`), `probe.rs` (`probe_read*`), `task.rs`
//! (pid/uid/comm, `get_func_ip`), `string.rs` (`strncmp`, `snprintf`, `trace_vprintk`),
//! `csum.rs`, `printk.rs`, `basic.rs` (clocks, random, CPU id).
//!
//! `README.md` beside this file maps every helper and map type to the tests of its bad
//! arguments and full maps (with the kernel's errnos).

mod basic;
mod callbacks;
mod csum;
pub mod ids;
mod map;
mod printk;
mod probe;
mod proto;
mod ringbuf;
mod spin_lock;
mod string;
mod task;

use std::collections::HashMap;

use crate::vm::RunContext;

pub use basic::{boottime_ns, monotonic_ns, JIFFIES_HZ};
pub use callbacks::{bpf_for_each_map_elem, bpf_loop, bpf_tail_call, BPF_MAX_LOOPS};
pub use csum::{bpf_csum_diff, csum_diff, csum_partial};
pub use map::{
    bpf_map_delete_elem, bpf_map_lookup_elem, bpf_map_lookup_percpu_elem, bpf_map_peek_elem,
    bpf_map_pop_elem, bpf_map_push_elem, bpf_map_update_elem,
};
pub use printk::{bpf_trace_printk, format_printk, MAX_PRINTK_ARGS};
pub use probe::{
    bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_probe_read_user_str,
    read_host_memory,
};
pub use proto::{ArgKind, HelperProto, ProgTypes, RetKind};
pub use ringbuf::{
    bpf_perf_event_output, bpf_ringbuf_discard, bpf_ringbuf_output, bpf_ringbuf_query,
    bpf_ringbuf_reserve, bpf_ringbuf_submit,
};
pub use string::{bpf_snprintf, bpf_strncmp, bpf_trace_vprintk, MAX_BPRINTF_VARARGS};
pub use task::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_get_func_ip,
    current_comm, TASK_COMM_LEN,
};

/// The helper calling convention shared by the interpreter and the JIT.
pub type HelperFn =
    extern "C" fn(r1: u64, r2: u64, r3: u64, r4: u64, r5: u64, ctx: &mut RunContext) -> u64;

/// A helper: its kernel id, name, implementation and prototype.
#[derive(Clone, Copy, Debug)]
pub struct Helper {
    /// Kernel helper id (`BPF_FUNC_*`), or an embedder-chosen id.
    pub id: u32,
    /// Name without the `bpf_` prefix.
    pub name: &'static str,
    /// The implementation.
    pub func: HelperFn,
    /// What the verifier checks at a call.
    pub proto: HelperProto,
}

/// Helpers by id. [`Registry::standard`] holds the ones oxbpf implements.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    helpers: HashMap<u32, Helper>,
}

/// Errno values (`asm-generic/errno-base.h`, `errno.h`), as helpers return them negated.
pub mod errno {
    /// Bad address.
    pub const EFAULT: i64 = 14;
    /// Device or resource busy.
    pub const EBUSY: i64 = 16;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
    /// Result out of range (the kernel's `_kernel` probes given a user address).
    pub const ERANGE: i64 = 34;
    /// No space left.
    pub const ENOSPC: i64 = 28;
    /// Argument list too long.
    pub const E2BIG: i64 = 7;
    /// No such entry.
    pub const ENOENT: i64 = 2;
}

/// `-errno` as a helper return value.
#[inline]
pub(crate) fn neg_errno(e: i64) -> u64 {
    (-e) as u64
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A registry with every helper oxbpf implements so far.
    pub fn standard() -> Registry {
        let mut r = Registry::new();
        let tables = [
            basic::HELPERS,
            printk::HELPERS,
            map::HELPERS,
            callbacks::HELPERS,
            ringbuf::HELPERS,
            probe::HELPERS,
            task::HELPERS,
            string::HELPERS,
            csum::HELPERS,
            spin_lock::HELPERS,
        ];
        for h in tables.into_iter().flatten() {
            r.register(*h);
        }
        r
    }

    /// Adds a helper (replacing and returning any helper with the same id).
    pub fn register(&mut self, helper: Helper) -> Option<Helper> {
        self.helpers.insert(helper.id, helper)
    }

    /// Removes the helper with this id.
    pub fn unregister(&mut self, id: u32) -> Option<Helper> {
        self.helpers.remove(&id)
    }

    /// The helper with this id.
    #[inline]
    pub fn get(&self, id: u32) -> Option<&Helper> {
        self.helpers.get(&id)
    }

    /// Every registered helper, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Helper> {
        self.helpers.values()
    }

    /// Number of registered helpers.
    pub fn len(&self) -> usize {
        self.helpers.len()
    }

    /// Whether no helper is registered.
    pub fn is_empty(&self) -> bool {
        self.helpers.is_empty()
    }
}

/// Builds a [`Helper`] entry for a kernel helper id, taking the name from [`ids`].
pub(crate) const fn kernel_helper(id: u32, func: HelperFn, proto: HelperProto) -> Helper {
    Helper {
        id,
        name: ids::HELPER_NAMES[id as usize],
        func,
        proto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_registry_uses_kernel_ids_and_names() {
        let r = Registry::standard();
        for (id, name) in [
            (1, "map_lookup_elem"),
            (2, "map_update_elem"),
            (3, "map_delete_elem"),
            (4, "probe_read"),
            (5, "ktime_get_ns"),
            (6, "trace_printk"),
            (7, "get_prandom_u32"),
            (8, "get_smp_processor_id"),
            (12, "tail_call"),
            (14, "get_current_pid_tgid"),
            (15, "get_current_uid_gid"),
            (16, "get_current_comm"),
            (25, "perf_event_output"),
            (28, "csum_diff"),
            (42, "get_numa_node_id"),
            (45, "probe_read_str"),
            (87, "map_push_elem"),
            (88, "map_pop_elem"),
            (89, "map_peek_elem"),
            (93, "spin_lock"),
            (94, "spin_unlock"),
            (112, "probe_read_user"),
            (113, "probe_read_kernel"),
            (114, "probe_read_user_str"),
            (115, "probe_read_kernel_str"),
            (118, "jiffies64"),
            (125, "ktime_get_boot_ns"),
            (130, "ringbuf_output"),
            (131, "ringbuf_reserve"),
            (132, "ringbuf_submit"),
            (133, "ringbuf_discard"),
            (134, "ringbuf_query"),
            (164, "for_each_map_elem"),
            (165, "snprintf"),
            (173, "get_func_ip"),
            (177, "trace_vprintk"),
            (181, "loop"),
            (182, "strncmp"),
            (195, "map_lookup_percpu_elem"),
        ] {
            let h = r.get(id).unwrap_or_else(|| panic!("helper {id} missing"));
            assert_eq!(h.name, name);
            assert_eq!(ids::helper_id(name), Some(id as i32));
        }
        assert_eq!(r.len(), 39);
        assert!(r.get(9).is_none());
        let p = r.get(6).unwrap().proto;
        assert!(p.gpl_only);
        assert_eq!(p.arg_count(), 2);
        assert_eq!(p.args[1], ArgKind::ConstSize);
        // Kernel prototypes: licence, kinds, program types.
        let lookup = r.get(1).unwrap().proto;
        assert_eq!(
            lookup.args[..2],
            [ArgKind::ConstMapPtr, ArgKind::PtrToMapKey]
        );
        assert_eq!(lookup.ret, RetKind::PtrToMapValueOrNull);
        assert!(!lookup.gpl_only);
        assert_eq!(r.get(12).unwrap().proto.ret, RetKind::Void);
        assert_eq!(r.get(181).unwrap().proto.args[1], ArgKind::PtrToFunc);
        assert!(r.get(113).unwrap().proto.gpl_only);
        assert!(r.get(4).unwrap().proto.prog_types.allows(2));
        assert!(!r.get(4).unwrap().proto.prog_types.allows(6));
        assert!(!r.get(173).unwrap().proto.prog_types.allows(6));
        assert!(r.get(28).unwrap().proto.prog_types.allows(6));
        assert_eq!(r.get(131).unwrap().proto.ret, RetKind::PtrToMemOrNull);
    }

    /// The audit table in `README.md` names every registered helper and map type, so a
    /// helper added without tests of its bad arguments shows up here.
    #[test]
    fn test_audit_lists_every_helper_and_map_type() {
        let readme = include_str!("README.md");
        let mut listed = std::collections::HashSet::new();
        let mut types = std::collections::HashSet::new();
        for line in readme.lines().filter(|l| l.starts_with("| ")) {
            let first = line.split('|').nth(1).unwrap_or("").trim();
            for part in first.split(',').map(str::trim) {
                if let Some((a, b)) = part.split_once('–') {
                    if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                        listed.extend(a..=b);
                    }
                } else if let Ok(id) = part.parse::<u32>() {
                    listed.insert(id);
                } else {
                    // "hash (prealloc, no-prealloc)": the name before any remark.
                    types.insert(part.split(" (").next().unwrap_or(part).to_string());
                }
            }
        }
        let mut r = Registry::standard();
        crate::program::register_packet_helpers(&mut r);
        let mut missing: Vec<_> = r
            .iter()
            .map(|h| h.id)
            .filter(|id| !listed.contains(id))
            .collect();
        missing.sort();
        assert!(
            missing.is_empty(),
            "helpers missing from README.md: {missing:?}"
        );
        for t in crate::maps::MapType::ALL {
            assert!(
                types.contains(t.name()),
                "map type {} missing from README.md",
                t.name()
            );
        }
    }

    #[test]
    fn embedders_register_helpers() {
        extern "C" fn add(a: u64, b: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
            a.wrapping_add(b)
        }
        let mut r = Registry::standard();
        let n = r.len();
        let h = Helper {
            id: 0x1000,
            name: "my_add",
            func: add,
            proto: HelperProto::new(&[ArgKind::Anything, ArgKind::Anything], RetKind::Integer),
        };
        assert!(r.register(h).is_none());
        assert_eq!(r.len(), n + 1);
        let mut ctx = RunContext::new();
        assert_eq!((r.get(0x1000).unwrap().func)(2, 3, 0, 0, 0, &mut ctx), 5);
        assert!(r.unregister(0x1000).is_some());
    }
}

#[cfg(test)]
mod program_tests;
