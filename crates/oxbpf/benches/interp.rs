//! Interpreter throughput: an ALU+jump loop, a stack memory loop, an input-memory loop and
//! a helper-call loop, in checked and unchecked mode. Throughput is reported in executed eBPF instructions.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::isa::{AluOp, CallTarget, Insn, JmpCond, Located, Reg, Size, Src, Width};
use oxbpf::vm::RunContext;

fn located(prog: &[Insn]) -> Vec<Located> {
    let mut slot = 0;
    prog.iter()
        .map(|&insn| {
            let l = Located { slot, insn };
            slot += insn.slots();
            l
        })
        .collect()
}

fn alu(op: AluOp, dst: Reg, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    }
}

/// r0 = sum(1..=n): 3 instructions per iteration.
fn sum_loop(n: i32) -> Vec<Insn> {
    vec![
        alu(AluOp::Mov, Reg::R0, Src::Imm(0)),
        alu(AluOp::Mov, Reg::R1, Src::Imm(n)),
        alu(AluOp::Add, Reg::R0, Src::Reg(Reg::R1)),
        alu(AluOp::Add, Reg::R1, Src::Imm(-1)),
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Ne,
            dst: Reg::R1,
            src: Src::Imm(0),
            off: -3,
        },
        Insn::Exit,
    ]
}

/// Store to and load from the stack each iteration: 5 instructions per iteration.
fn stack_loop(n: i32) -> Vec<Insn> {
    vec![
        alu(AluOp::Mov, Reg::R0, Src::Imm(0)),
        alu(AluOp::Mov, Reg::R1, Src::Imm(n)),
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R1,
            off: -8,
        },
        Insn::Ldx {
            size: Size::DW,
            dst: Reg::R3,
            src: Reg::R10,
            off: -8,
        },
        alu(AluOp::Add, Reg::R0, Src::Reg(Reg::R3)),
        alu(AluOp::Add, Reg::R1, Src::Imm(-1)),
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Ne,
            dst: Reg::R1,
            src: Src::Imm(0),
            off: -5,
        },
        Insn::Exit,
    ]
}

/// Sums the bytes of the input memory (r1 = address, r2 = length): 5 per byte.
fn input_loop() -> Vec<Insn> {
    vec![
        alu(AluOp::Mov, Reg::R0, Src::Imm(0)),
        alu(AluOp::Add, Reg::R2, Src::Reg(Reg::R1)),
        Insn::Ldx {
            size: Size::B,
            dst: Reg::R3,
            src: Reg::R1,
            off: 0,
        },
        alu(AluOp::Add, Reg::R0, Src::Reg(Reg::R3)),
        alu(AluOp::Add, Reg::R1, Src::Imm(1)),
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Lt,
            dst: Reg::R1,
            src: Src::Reg(Reg::R2),
            off: -4,
        },
        Insn::Exit,
    ]
}

/// Calls `bpf_get_smp_processor_id` in a loop: 3 instructions (one helper call) per
/// iteration.
fn helper_loop(n: i32) -> Vec<Insn> {
    vec![
        alu(AluOp::Mov, Reg::R6, Src::Imm(n)),
        Insn::Call(CallTarget::Helper(8)),
        alu(AluOp::Add, Reg::R6, Src::Imm(-1)),
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Ne,
            dst: Reg::R6,
            src: Src::Imm(0),
            off: -3,
        },
        Insn::Exit,
    ]
}

fn bench(c: &mut Criterion) {
    let helpers = Registry::standard();
    let mut ctx = RunContext::new();
    let mut group = c.benchmark_group("interp");
    for (name, prog) in [
        ("sum_loop", sum_loop(1_000_000)),
        ("stack_loop", stack_loop(1_000_000)),
        ("input_loop", input_loop()),
        ("helper_loop", helper_loop(100_000)),
    ] {
        for mode in [Mode::Checked, Mode::Unchecked] {
            let mut vm = Interpreter::new(&located(&prog), &helpers).unwrap();
            vm.set_budget(None);
            // SAFETY: these programs only touch their own stack slot and the input memory,
            // which `run_with_mem` registers; every access is in bounds.
            unsafe { vm.set_mode(mode) };
            let mut mem = vec![1u8; 1 << 20];
            vm.run_with_mem(&mut ctx, &mut mem).unwrap();
            let insns = ctx.insn_count;
            group.throughput(Throughput::Elements(insns));
            group.bench_function(format!("{name}/{mode:?}"), |b| {
                b.iter(|| vm.run_with_mem(&mut ctx, &mut mem).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
