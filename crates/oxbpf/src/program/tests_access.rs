//! The program types' verifier context rules ([`ProgramType::ctx_access`]) against the
//! running kernel: hand-written context accesses per type, each with the verdict the
//! kernel's `*_is_valid_access` gives (written down here, and checked against
//! `BPF_PROG_LOAD` where bpf(2) is available).

use super::*;
use crate::asm::assemble_located;
use crate::kernel;
use crate::verifier::{self, VerifyConfig};

/// (type, program body before `r0 = 0; exit`, accepted by the kernel).
const CASES: &[(&str, &str, bool)] = &[
    // Socket filter: `__sk_buff` without packet pointers; only `cb` is writable.
    ("socket", "r2 = *(u32 *)(r1 + 0)", true),
    ("socket", "r2 = *(u8 *)(r1 + 3)", true),
    ("socket", "r2 = *(u16 *)(r1 + 16)", true),
    ("socket", "r2 = *(u64 *)(r1 + 0)", false),
    ("socket", "r2 = *(u32 *)(r1 + 2)", false),
    ("socket", "*(u32 *)(r1 + 8) = r2", false),
    ("socket", "r2 = 1\n*(u32 *)(r1 + 48) = r2", true),
    ("socket", "r2 = 1\n*(u8 *)(r1 + 49) = r2", true),
    ("socket", "r2 = 1\n*(u64 *)(r1 + 56) = r2", true),
    ("socket", "r2 = *(u32 *)(r1 + 76)", false),
    ("socket", "r2 = *(u32 *)(r1 + 92)", false),
    ("socket", "r2 = *(u32 *)(r1 + 188)", false),
    // tc: direct packet access, more writable fields.
    (
        "tc",
        "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 14\nif r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 13)",
        true,
    ),
    ("tc", "r2 = *(u32 *)(r1 + 76)\nr0 = *(u8 *)(r2 + 0)", false),
    ("tc", "r2 = *(u16 *)(r1 + 76)", false),
    ("tc", "r2 = 1\n*(u32 *)(r1 + 8) = r2", true),
    ("tc", "r2 = 1\n*(u16 *)(r1 + 8) = r2", false),
    ("tc", "r2 = 1\n*(u32 *)(r1 + 0) = r2", false),
    ("tc", "r2 = 1\n*(u32 *)(r1 + 72) = r2", true),
    ("tc", "r2 = *(u64 *)(r1 + 152)", true),
    ("tc", "r2 = *(u32 *)(r1 + 152)", false),
    ("tc", "r2 = *(u64 *)(r1 + 184)", true),
    ("tc", "r2 = 1\n*(u64 *)(r1 + 184) = r2", false),
    ("tc", "r2 = *(u32 *)(r1 + 92)", false),
    // kprobe: read-only pt_regs, any aligned size.
    ("kprobe", "r2 = *(u64 *)(r1 + 112)", true),
    ("kprobe", "r2 = *(u32 *)(r1 + 116)", true),
    ("kprobe", "r2 = *(u8 *)(r1 + 167)", true),
    ("kprobe", "r2 = *(u64 *)(r1 + 168)", false),
    ("kprobe", "r2 = *(u64 *)(r1 + 4)", false),
    ("kprobe", "r2 = 1\n*(u64 *)(r1 + 0) = r2", false),
    // Tracepoint: the record after the 8 common bytes, read-only.
    ("tracepoint", "r2 = *(u64 *)(r1 + 8)", true),
    ("tracepoint", "r2 = *(u32 *)(r1 + 4)", false),
    ("tracepoint", "r2 = *(u64 *)(r1 + 8184)", true),
    ("tracepoint", "r2 = *(u64 *)(r1 + 8192)", false),
    ("tracepoint", "r2 = 1\n*(u64 *)(r1 + 8) = r2", false),
    // Raw tracepoint: up to 12 u64 arguments.
    ("raw_tp", "r2 = *(u64 *)(r1 + 0)", true),
    ("raw_tp", "r2 = *(u64 *)(r1 + 88)", true),
    ("raw_tp", "r2 = *(u32 *)(r1 + 4)", true),
    ("raw_tp", "r2 = *(u64 *)(r1 + 96)", false),
    ("raw_tp", "r2 = 1\n*(u64 *)(r1 + 0) = r2", false),
    // perf_event: registers as whole longs, sample_period and addr narrow.
    ("perf_event", "r2 = *(u64 *)(r1 + 0)", true),
    ("perf_event", "r2 = *(u32 *)(r1 + 0)", false),
    ("perf_event", "r2 = *(u32 *)(r1 + 168)", true),
    ("perf_event", "r2 = *(u64 *)(r1 + 176)", true),
    ("perf_event", "r2 = *(u64 *)(r1 + 184)", false),
    ("perf_event", "r2 = 1\n*(u64 *)(r1 + 168) = r2", false),
];

#[test]
fn context_rules_match_the_kernel() {
    let kernel_ok = kernel::available();
    if let Err(reason) = &kernel_ok {
        eprintln!("SKIPPED kernel comparison: {reason}");
    }
    let mut compared = 0;
    for &(ty, body, expected) in CASES {
        let t = ProgramType::from_name(ty).unwrap();
        let access = t.ctx_access().unwrap();
        let src = format!("{body}\nr0 = 0\nexit");
        let prog = assemble_located(&src).unwrap();
        let ours = verifier::verify(&prog, &VerifyConfig::new(&access));
        assert_eq!(
            ours.is_ok(),
            expected,
            "{ty}: {body:?}: oxbpf says {ours:?}"
        );
        if kernel_ok.is_ok() {
            let bytes = crate::isa::encode(&prog);
            let k = kernel::Program::load(&kernel::ProgLoad::new(t.id, &bytes));
            assert_eq!(
                k.is_ok(),
                expected,
                "{ty}: {body:?}: kernel says {:?}",
                k.err()
            );
            compared += 1;
        }
    }
    if kernel_ok.is_ok() {
        assert_eq!(compared, CASES.len());
        eprintln!("{compared} context accesses: oxbpf and the kernel agree");
    }
}

#[test]
fn every_type_but_raw_memory_has_a_verifier_model() {
    for t in PROGRAM_TYPES {
        let access = t.ctx_access();
        assert_eq!(
            access.is_none(),
            t.input == RunInput::Memory,
            "{}",
            t.bpftool_name
        );
        if let Some(a) = access {
            use crate::verifier::CtxAccess;
            assert_eq!(a.kernel_prog_type(), Some(t.id));
            // Fields outside the layout are refused.
            assert!(a.check_access(t.ctx.size as i32, 4, false).is_err());
        }
    }
}
