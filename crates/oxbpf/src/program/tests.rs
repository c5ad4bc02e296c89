//! Program types without the kernel: permissions as regions, kprobe/tracepoint/memory
//! inputs, repeat semantics.

use super::*;
use crate::asm::assemble;
use crate::interp::{Interpreter, RunError};
use crate::vm::{Access, FaultKind, RunContext};

fn vm(src: &str) -> Interpreter {
    let mut r = Registry::standard();
    register_packet_helpers(&mut r);
    Interpreter::from_bytes(&assemble(src).unwrap(), &r).unwrap()
}

fn run(
    ty: &str,
    src: &str,
    data: &[u8],
    ctx: Option<&[u8]>,
) -> Result<TestRunOutput, TestRunError> {
    test_run(
        &vm(src),
        ProgramType::from_name(ty).unwrap(),
        &TestRun {
            data_in: data,
            ctx_in: ctx,
            repeat: 1,
        },
        &mut RunContext::new(),
    )
}

fn fault(r: Result<TestRunOutput, TestRunError>) -> (Access, FaultKind) {
    match r {
        Err(TestRunError::Run {
            source: RunError::Memory { fault, .. },
            ..
        }) => (fault.access, fault.kind),
        other => panic!("expected a memory fault, got {other:?}"),
    }
}

#[test]
fn forbidden_and_read_only_ctx_fields_fault() {
    let pkt = [0u8; 60];
    // Socket filters may not read `data`.
    let (a, k) = fault(run("socket", "r0 = *(u32 *)(r1 + 76)\nexit", &pkt, None));
    assert_eq!((a, k), (Access::Read, FaultKind::OutOfBounds));
    // ... nor write `mark`; tc may.
    let w = "r2 = 5\n*(u32 *)(r1 + 8) = r2\nr0 = 0\nexit";
    assert_eq!(fault(run("socket", w, &pkt, None)).1, FaultKind::ReadOnly);
    let o = run("tc", w, &pkt, Some(&[0u8; 192])).unwrap();
    assert_eq!(o.ctx_out[8], 5);
    // XDP context is read-only.
    assert_eq!(fault(run("xdp", w, &pkt, None)).1, FaultKind::ReadOnly);
    // Tracepoint records hide their first 8 bytes.
    let rec = [1u8; 16];
    assert!(matches!(
        fault(run(
            "tracepoint",
            "r0 = *(u32 *)(r1 + 4)\nexit",
            &[],
            Some(&rec)
        ))
        .1,
        FaultKind::OutOfBounds
    ));
    let o = run("tracepoint", "r0 = *(u8 *)(r1 + 8)\nexit", &[], Some(&rec)).unwrap();
    assert_eq!(o.retval, 1);
}

#[test]
fn xdp_packet_bounds_follow_adjust_head() {
    // Reading one byte in front of data faults before adjust_head and works after.
    let before = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 - 1)\nexit";
    assert_eq!(fault(run("xdp", before, &[0u8; 60], None)).0, Access::Read);
    let after = "r6 = r1\nr2 = -2\ncall 44\nr2 = *(u32 *)(r6 + 0)\nr0 = *(u8 *)(r2 + 1)\nexit";
    let o = run("xdp", after, &[0u8; 60], None).unwrap();
    assert_eq!(o.retval, 0);
    assert_eq!(o.data_out.len(), 62);
    // A program passing something other than its ctx gets -EINVAL.
    let o = run("xdp", "r1 = r10\nr2 = 4\ncall 44\nexit", &[0u8; 60], None).unwrap();
    assert_eq!(o.retval as i32, -22);
}

#[test]
fn kprobe_reads_pt_regs_and_memory_type_gets_r1_r2() {
    let mut regs = vec![0u8; 168];
    regs[112..120].copy_from_slice(&40u64.to_ne_bytes()); // di
    regs[104..112].copy_from_slice(&2u64.to_ne_bytes()); // si
    let src = "r0 = *(u64 *)(r1 + 112)\nr2 = *(u64 *)(r1 + 104)\nr0 += r2\nexit";
    assert_eq!(run("kprobe", src, &[], Some(&regs)).unwrap().retval, 42);
    // Short input is zero-padded; data_in is refused.
    assert_eq!(run("kprobe", src, &[], Some(&regs[..8])).unwrap().retval, 0);
    assert_eq!(
        run("kprobe", src, &[1], None).unwrap_err().errno(),
        libc::EINVAL
    );
    let mem = "r0 = *(u8 *)(r1 + 1)\nr0 += r2\n*(u8 *)(r1 + 0) = r0\nexit";
    let o = run("memory", mem, &[0, 5, 0], None).unwrap();
    assert_eq!(o.retval, 8);
    assert_eq!(o.data_out, vec![8, 5, 0]);
}

#[test]
fn repeat_reuses_the_context() {
    // Each run increments cb[0]; after 5 runs ctx_out holds 5.
    let src = "r2 = *(u32 *)(r1 + 48)\nr2 += 1\n*(u32 *)(r1 + 48) = r2\nr0 = r2\nexit";
    let o = test_run(
        &vm(src),
        ProgramType::from_name("tc").unwrap(),
        &TestRun {
            data_in: &[0u8; 60],
            ctx_in: None,
            repeat: 5,
        },
        &mut RunContext::new(),
    )
    .unwrap();
    assert_eq!(o.retval, 5);
    assert_eq!(o.ctx_out[48], 5);
}

#[test]
fn oversized_xdp_packets_go_to_fragments_up_to_max_skb_frags() {
    // data_end - data: the linear part only.
    let src = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u32 *)(r1 + 4)\nr0 -= r2\nexit";
    let o = run("xdp", src, &vec![7u8; 3521], None).unwrap();
    assert_eq!((o.retval, o.data_out.len()), (3520, 3521));
    let most = 3520 + MAX_SKB_FRAGS * XDP_FRAG_SIZE;
    let o = run("xdp", src, &vec![7u8; most], None).unwrap();
    assert_eq!((o.retval, o.data_out), (3520, vec![7u8; most]));
    let e = run("xdp", src, &vec![0u8; most + 1], None).unwrap_err();
    assert_eq!(e.errno(), libc::ENOMEM);
}
