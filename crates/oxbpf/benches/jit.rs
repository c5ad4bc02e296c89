//! JIT against the interpreter: compile time of a ~4,000-instruction program, and
//! throughput (executed eBPF instructions) on an ALU loop, a stack loop and an input-memory
//! loop, checked and unchecked, with and without the instruction budget.
//!
//! `cargo bench -p oxbpf --bench jit`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::isa::{AluOp, Insn, JmpCond, Reg, Size, Src, Width};
use oxbpf::jit::{JitOptions, JitProgram};
use oxbpf::testgen::{locate, random_program, GenConfig, Rng};
use oxbpf::vm::RunContext;

fn alu(op: AluOp, dst: Reg, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    }
}

fn jne(dst: Reg, src: Src, off: i16) -> Insn {
    Insn::Jmp {
        width: Width::W64,
        cond: JmpCond::Ne,
        dst,
        src,
        off,
    }
}

/// r0 = sum(1..=n): 3 instructions per iteration.
fn sum_loop(n: i32) -> Vec<Insn> {
    vec![
        alu(AluOp::Mov, Reg::R0, Src::Imm(0)),
        alu(AluOp::Mov, Reg::R1, Src::Imm(n)),
        alu(AluOp::Add, Reg::R0, Src::Reg(Reg::R1)),
        alu(AluOp::Add, Reg::R1, Src::Imm(-1)),
        jne(Reg::R1, Src::Imm(0), -3),
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
        jne(Reg::R1, Src::Imm(0), -5),
        Insn::Exit,
    ]
}

/// Sums the bytes of the input memory (r1 = address, r2 = length): 4 per byte.
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

fn compile_time(c: &mut Criterion) {
    let helpers = Registry::standard();
    let cfg = GenConfig {
        body_len: 3_800,
        ..GenConfig::default()
    };
    let prog = locate(&random_program(&mut Rng::new(4000), &cfg));
    let mut group = c.benchmark_group("jit_compile");
    group.throughput(Throughput::Elements(prog.len() as u64));
    for (name, opts) in [
        ("checked", JitOptions::new()),
        // SAFETY: compiled only, never run.
        ("unchecked", unsafe { JitOptions::new().unchecked() }),
    ] {
        group.bench_function(format!("{}_insns/{name}", prog.len()), |b| {
            b.iter(|| JitProgram::compile(&prog, &helpers, None, opts).unwrap())
        });
    }
    group.bench_function(format!("{}_insns/interp_load", prog.len()), |b| {
        b.iter(|| Interpreter::new(&prog, &helpers).unwrap())
    });
    group.finish();
}

fn throughput(c: &mut Criterion) {
    let helpers = Registry::standard();
    let mut ctx = RunContext::new();
    let mut group = c.benchmark_group("engines");
    for (name, prog) in [
        ("sum_loop", sum_loop(1_000_000)),
        ("stack_loop", stack_loop(1_000_000)),
        ("input_loop", input_loop()),
    ] {
        let prog = locate(&prog);
        let mut mem = vec![1u8; 1 << 20];
        let mut vm = Interpreter::new(&prog, &helpers).unwrap();
        vm.set_budget(None);
        vm.run_with_mem(&mut ctx, &mut mem).unwrap();
        group.throughput(Throughput::Elements(ctx.insn_count));
        for mode in [Mode::Checked, Mode::Unchecked] {
            // SAFETY: these programs only touch their own stack slot and the input memory,
            // which `run_with_mem` registers; every access is in bounds.
            unsafe { vm.set_mode(mode) };
            group.bench_function(format!("{name}/interp/{mode:?}"), |b| {
                b.iter(|| vm.run_with_mem(&mut ctx, &mut mem).unwrap())
            });
            for budget in [None, Some(u64::MAX)] {
                let mut opts = JitOptions::new().budget(budget);
                if mode == Mode::Unchecked {
                    // SAFETY: as above.
                    opts = unsafe { opts.unchecked() };
                }
                let jit = JitProgram::compile(&prog, &helpers, None, opts).unwrap();
                let counted = if budget.is_some() {
                    "budget"
                } else {
                    "nobudget"
                };
                group.bench_function(format!("{name}/jit/{mode:?}/{counted}"), |b| {
                    b.iter(|| jit.run_with_mem(&mut ctx, &mut mem).unwrap())
                });
            }
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = compile_time, throughput
}
criterion_main!(benches);
