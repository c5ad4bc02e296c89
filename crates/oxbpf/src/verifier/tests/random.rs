//! Random programs: the generator's programs (which the kernel accepts) must be accepted,
//! and mutated programs that the verifier accepts must never fault when run in the
//! interpreter's checked mode (the verifier's proof is what unchecked mode relies on).

use crate::helpers::Registry;
use crate::interp::{Interpreter, RunError};
use crate::isa::{Insn, Reg, Size};
use crate::testgen::{self, GenConfig, Rng, RESULT_BYTES};
use crate::verifier::{ctx::RawMem, verify, VerifyConfig};
use crate::vm::RunContext;

const REGS: [Reg; 10] = [
    Reg::R0,
    Reg::R1,
    Reg::R2,
    Reg::R3,
    Reg::R4,
    Reg::R5,
    Reg::R6,
    Reg::R7,
    Reg::R8,
    Reg::R9,
];

/// One random change that tends to break memory safety.
fn mutate(rng: &mut Rng, prog: &mut [Insn]) {
    let i = rng.below(prog.len() as u64) as usize;
    let reg = |rng: &mut Rng| rng.pick(&REGS);
    let off = |rng: &mut Rng| (rng.below(640) as i64 - 560) as i16;
    prog[i] = match (rng.below(6), prog[i]) {
        // Move a memory access somewhere else.
        (0, Insn::Ldx { size, dst, src, .. }) => Insn::Ldx {
            size,
            dst,
            src,
            off: off(rng),
        },
        (0, Insn::Stx { size, dst, src, .. }) => Insn::Stx {
            size,
            dst,
            src,
            off: off(rng),
        },
        (0, Insn::St { size, dst, imm, .. }) => Insn::St {
            size,
            dst,
            off: off(rng),
            imm,
        },
        // Access through another base register.
        (1, Insn::Ldx { size, dst, off, .. }) => Insn::Ldx {
            size,
            dst,
            src: reg(rng),
            off,
        },
        (1, Insn::Stx { size, src, off, .. }) => Insn::Stx {
            size,
            dst: reg(rng),
            src,
            off,
        },
        // Load the memory pointer (saved at r10-8) into a register.
        (2, _) => Insn::Ldx {
            size: Size::DW,
            dst: reg(rng),
            src: Reg::R10,
            off: -8,
        },
        // Pointer arithmetic with whatever a register holds.
        (3, _) => Insn::Alu {
            width: crate::isa::Width::W64,
            op: rng.pick(&[
                crate::isa::AluOp::Add,
                crate::isa::AluOp::Sub,
                crate::isa::AluOp::And,
            ]),
            dst: reg(rng),
            src: crate::isa::Src::Reg(reg(rng)),
        },
        // A stack pointer in a register.
        (4, _) => Insn::Alu {
            width: crate::isa::Width::W64,
            op: crate::isa::AluOp::Mov,
            dst: reg(rng),
            src: crate::isa::Src::Reg(Reg::R10),
        },
        // An access through any register at any offset.
        (_, _) => Insn::Ldx {
            size: rng.pick(&[Size::B, Size::H, Size::W, Size::DW]),
            dst: reg(rng),
            src: reg(rng),
            off: off(rng),
        },
    };
}

#[test]
fn generated_programs_are_accepted_and_mutants_are_safe() {
    let helpers = Registry::standard();
    let ty = RawMem {
        size: RESULT_BYTES as u32,
    };
    let config = VerifyConfig::new(&ty);
    let gen = GenConfig {
        body_len: 30,
        ..GenConfig::default()
    };
    let (mut accepted_mutants, mut mutants) = (0, 0);
    for seed in 0..600u64 {
        let mut rng = Rng::new(seed);
        let insns = testgen::random_program(&mut rng, &gen);
        let prog = testgen::locate(&insns);
        if let Err(e) = verify(&prog, &config) {
            panic!("seed {seed}: generated program rejected: {e}\n{}", e.log);
        }
        for _ in 0..20 {
            let mut m = insns.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut m);
            }
            // The mutant must still decode (e.g. no write to r10).
            let bytes = testgen::to_bytes(&m);
            let Ok(prog) = crate::isa::decode(&bytes) else {
                continue;
            };
            mutants += 1;
            if verify(&prog, &config).is_err() {
                continue;
            }
            accepted_mutants += 1;
            let Ok(interp) = Interpreter::new(&prog, &helpers) else {
                panic!("seed {seed}: verified program does not load:\n{m:?}");
            };
            let mut mem = vec![0u8; RESULT_BYTES];
            let mut ctx = RunContext::new();
            match interp.run_with_mem(&mut ctx, &mut mem) {
                Ok(_) | Err(RunError::Budget { .. }) => {}
                Err(e) => panic!("seed {seed}: verified program faults: {e}\n{m:?}"),
            }
        }
    }
    eprintln!("{accepted_mutants} of {mutants} mutants accepted");
    // The mutations must exercise both verdicts.
    assert!(
        accepted_mutants > 100 && accepted_mutants < mutants,
        "{accepted_mutants} of {mutants} mutants accepted"
    );
}
