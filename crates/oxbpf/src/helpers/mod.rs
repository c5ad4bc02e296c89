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

mod basic;
pub mod ids;
mod printk;
mod proto;

use std::collections::HashMap;

use crate::vm::RunContext;

pub use basic::{boottime_ns, monotonic_ns, JIFFIES_HZ};
pub use printk::{bpf_trace_printk, format_printk, MAX_PRINTK_ARGS};
pub use proto::{ArgKind, HelperProto, ProgTypes, RetKind};

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
        for h in basic::HELPERS.iter().chain(printk::HELPERS) {
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
            (5, "ktime_get_ns"),
            (6, "trace_printk"),
            (7, "get_prandom_u32"),
            (8, "get_smp_processor_id"),
            (42, "get_numa_node_id"),
            (118, "jiffies64"),
            (125, "ktime_get_boot_ns"),
        ] {
            let h = r.get(id).unwrap();
            assert_eq!(h.name, name);
            assert_eq!(ids::helper_id(name), Some(id as i32));
        }
        assert!(r.get(1).is_none());
        let p = r.get(6).unwrap().proto;
        assert!(p.gpl_only);
        assert_eq!(p.arg_count(), 2);
        assert_eq!(p.args[1], ArgKind::ConstSize);
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
