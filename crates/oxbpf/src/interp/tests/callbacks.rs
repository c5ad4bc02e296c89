//! BPF callbacks called by helpers through `RunContext::call_bpf` (`lddw src=4`).

use super::*;
use crate::helpers::{errno, ArgKind, Helper, HelperProto, RetKind};
use crate::isa::LdPseudo;
use crate::vm::CallbackFailed;

/// A test helper with `bpf_loop`'s contract: calls `callback(i, cb_ctx)` for i in
/// 0..nr_loops, stops after a nonzero return, returns the number of calls.
extern "C" fn test_loop(
    nr: u64,
    func: u64,
    cb_ctx: u64,
    flags: u64,
    _: u64,
    ctx: &mut RunContext,
) -> u64 {
    if flags != 0 {
        return (-errno::EINVAL) as u64;
    }
    for i in 0..nr as u32 {
        match ctx.call_bpf(func, [i as u64, cb_ctx, 0, 0, 0]) {
            Ok(0) => {}
            Ok(_) => return i as u64 + 1,
            // The engine stops the run with the callback's error.
            Err(CallbackFailed) => return 0,
        }
    }
    nr as u32 as u64
}

const LOOP_ID: u32 = 0x3000;

fn registry() -> Registry {
    let mut r = Registry::standard();
    r.register(Helper {
        id: LOOP_ID,
        name: "test_loop",
        func: test_loop,
        proto: HelperProto::new(
            &[
                ArgKind::Anything,
                ArgKind::PtrToFunc,
                ArgKind::PtrToStack { maybe_null: true },
                ArgKind::Anything,
            ],
            RetKind::Integer,
        ),
    });
    r
}

fn load_cb(prog: &[Insn]) -> Interpreter {
    Interpreter::new(&located(prog), &registry()).unwrap()
}

/// `lddw dst, <function at slot target>` placed at slot `at`.
fn func_addr(dst: Reg, at: usize, target: usize) -> Insn {
    Insn::LdImm64 {
        dst,
        pseudo: LdPseudo::Func,
        imm: target as i32 - at as i32 - 1,
        imm2: 0,
    }
}

/// Main: *(r10-8) = 0; r0 = test_loop(n, callback, r10-8, 0) + 100 * *(r10-8).
/// Callback (slot 14): *(r2) += r1; r0 = (r1 == stop_at).
fn summing(n: i32, stop_at: i32) -> Vec<Insn> {
    vec![
        Insn::St {
            size: Size::DW,
            dst: Reg::R10,
            off: -8,
            imm: 0,
        },
        mov(Reg::R1, n),
        func_addr(Reg::R2, 2, 14),
        movr(Reg::R3, Reg::R10),
        alu64(AluOp::Add, Reg::R3, Src::Imm(-8)),
        mov(Reg::R4, 0),
        call(LOOP_ID as i32),
        ldx(Size::DW, Reg::R6, Reg::R10, -8),
        alu64(AluOp::Mul, Reg::R6, Src::Imm(100)),
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R6)),
        Insn::Exit,
        // Padding (unreachable) so the callback starts at slot 14.
        Insn::Exit,
        Insn::Exit,
        // slot 14: the callback.
        ldx(Size::DW, Reg::R3, Reg::R2, 0),
        alu64(AluOp::Add, Reg::R3, Src::Reg(Reg::R1)),
        stx(Size::DW, Reg::R2, Reg::R3, 0),
        mov(Reg::R0, 0),
        jmp(Width::W64, JmpCond::Ne, Reg::R1, Src::Imm(stop_at), 1),
        mov(Reg::R0, 1),
        Insn::Exit,
    ]
}

#[test]
fn helpers_call_bpf_callbacks() {
    let mut ctx = RunContext::new();
    // sum(0..10) = 45 over 10 calls.
    let vm = load_cb(&summing(10, -1));
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(4510));
    // Callback instructions count: 11 in main, 6 per callback call (the jump is taken).
    assert_eq!(ctx.insn_count, 11 + 10 * 6);
    // Stop after the callback returns 1 for i == 3: 4 calls, sum 0+1+2+3.
    assert_eq!(load_cb(&summing(10, 3)).run(&mut ctx, 0, 0), Ok(604));
    // Unchecked mode behaves the same.
    let mut vm = load_cb(&summing(10, -1));
    // SAFETY: the checked run above made only valid accesses, and the program is
    // deterministic.
    unsafe { vm.set_mode(Mode::Unchecked) };
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(4510));
    // No run in progress: nothing to call.
    assert_eq!(ctx.call_bpf(14, [0; 5]), Err(CallbackFailed));
}

#[test]
fn callback_errors_stop_the_run() {
    let mut ctx = RunContext::new();
    // A handle that is no function.
    let mut prog = summing(10, -1);
    prog[2] = ld64(Reg::R2, 12345);
    assert_eq!(
        load_cb(&prog).run(&mut ctx, 0, 0),
        Err(RunError::BadCallback {
            slot: 7,
            func: 12345
        })
    );
    // A fault inside the callback names the callback's instruction.
    let mut prog = summing(10, -1);
    prog[4] = mov(Reg::R3, 0x10);
    match load_cb(&prog).run(&mut ctx, 0, 0) {
        Err(RunError::Memory { slot: 14, fault }) => assert_eq!(fault.addr, 0x10),
        other => panic!("expected a fault in the callback, got {other:?}"),
    }
    // The budget covers callbacks.
    let mut vm = load_cb(&summing(10, -1));
    vm.set_budget(Some(40));
    assert!(matches!(
        vm.run(&mut ctx, 0, 0),
        Err(RunError::Budget { budget: 40, slot }) if slot >= 14
    ));
    assert_eq!(ctx.insn_count, 40);
}

#[test]
fn callbacks_get_their_own_frame_and_count_toward_depth() {
    // The callback calls test_loop with itself: each level adds a frame; the call that
    // would make a ninth frame fails.
    let prog = [
        // main (slot 0)
        mov(Reg::R1, 1),
        func_addr(Reg::R2, 1, 7),
        mov(Reg::R3, 0),
        mov(Reg::R4, 0),
        call(LOOP_ID as i32),
        Insn::Exit,
        // callback (slot 7): store to its own frame, then recurse.
        stx(Size::DW, Reg::R10, Reg::R10, -512),
        mov(Reg::R1, 1),
        func_addr(Reg::R2, 9, 7),
        mov(Reg::R3, 0),
        mov(Reg::R4, 0),
        call(LOOP_ID as i32),
        Insn::Exit,
    ];
    let mut ctx = RunContext::new();
    assert_eq!(
        load_cb(&prog).run(&mut ctx, 0, 0),
        Err(RunError::CallDepth { slot: 13 })
    );
}
