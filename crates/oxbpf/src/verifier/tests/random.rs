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
    for seed in 0..super::n_programs(600) {
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
    // The mutations must exercise both verdicts.
    assert!(
        accepted_mutants > 100 && accepted_mutants < mutants,
        "{accepted_mutants} of {mutants} mutants accepted"
    );
}

/// A random instruction of any form, with operands biased toward valid ones.
fn any_insn(rng: &mut Rng) -> Insn {
    use crate::isa::{AluOp, AtomicOp, ByteOrder, CallTarget, JmpCond, LdPseudo, Src, Width};
    let reg = |rng: &mut Rng| rng.pick(&REGS);
    let any_reg = |rng: &mut Rng| Reg::new(rng.below(11) as u8).unwrap_or(Reg::R0);
    let width = |rng: &mut Rng| rng.pick(&[Width::W32, Width::W64]);
    let size = |rng: &mut Rng| rng.pick(&[Size::B, Size::H, Size::W, Size::DW]);
    let off = |rng: &mut Rng| (rng.below(80) as i16 - 64) & !3;
    let src = |rng: &mut Rng| {
        if rng.chance(1, 2) {
            Src::Reg(Reg::new(rng.below(11) as u8).unwrap_or(Reg::R0))
        } else {
            Src::Imm(rng.interesting_i32())
        }
    };
    let jo = |rng: &mut Rng| rng.below(3) as i16 - i16::from(rng.chance(1, 20));
    match rng.below(16) {
        0..=3 => Insn::Alu {
            width: width(rng),
            op: rng.pick(&AluOp::ALL),
            dst: reg(rng),
            src: src(rng),
        },
        4 => Insn::Neg {
            width: width(rng),
            dst: reg(rng),
        },
        5 => Insn::End {
            order: rng.pick(&[ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]),
            dst: reg(rng),
            bits: rng.pick(&[16, 32, 64]),
        },
        6 => Insn::LdImm64 {
            dst: reg(rng),
            pseudo: rng.pick(&[
                LdPseudo::Imm,
                LdPseudo::MapIdx,
                LdPseudo::MapIdxValue,
                LdPseudo::MapFd,
            ]),
            imm: rng.below(4) as i32,
            imm2: rng.below(16) as i32,
        },
        7 | 8 => Insn::Ldx {
            size: size(rng),
            dst: reg(rng),
            src: any_reg(rng),
            off: off(rng),
        },
        9 => Insn::Stx {
            size: size(rng),
            dst: any_reg(rng),
            src: any_reg(rng),
            off: off(rng),
        },
        10 => Insn::St {
            size: size(rng),
            dst: any_reg(rng),
            off: off(rng),
            imm: rng.interesting_i32(),
        },
        11 => Insn::Atomic {
            size: rng.pick(&[Size::W, Size::DW]),
            op: AtomicOp::Add,
            fetch: rng.chance(1, 2),
            dst: any_reg(rng),
            src: reg(rng),
            off: off(rng),
        },
        12 | 13 => Insn::Jmp {
            width: width(rng),
            cond: rng.pick(&JmpCond::ALL),
            dst: reg(rng),
            src: src(rng),
            off: jo(rng),
        },
        14 => Insn::Call(match rng.below(10) {
            0 => CallTarget::Local(rng.below(4) as i32),
            _ => CallTarget::Helper(rng.pick(&[1, 2, 3, 5, 6, 7, 12, 44, 130, 131, 132, 133])),
        }),
        _ => Insn::Alu {
            width: width(rng),
            op: AluOp::Mov,
            dst: reg(rng),
            src: src(rng),
        },
    }
}

#[test]
fn the_verifier_never_panics() {
    use crate::verifier::{ctx::Xdp, MapInfo};
    let maps = [
        MapInfo {
            map_type: 1,
            key_size: 8,
            value_size: 8,
            max_entries: 4,
            flags: 0,
        },
        MapInfo {
            map_type: 2,
            key_size: 4,
            value_size: 16,
            max_entries: 1,
            flags: 0,
        },
        MapInfo {
            map_type: 27,
            key_size: 0,
            value_size: 0,
            max_entries: 4096,
            flags: 0,
        },
    ];
    let raw = RawMem { size: 64 };
    let (mut accepted, mut total) = (0, 0);
    let mut reasons = std::collections::BTreeMap::new();
    for seed in 0..super::n_programs(4000) {
        let mut rng = Rng::new(seed ^ 0x5eed);
        let n = 2 + rng.below(24) as usize;
        // Initialised registers (r6 = r1, r7 = a stack pointer) so paths get deep.
        let mut insns = vec![
            Insn::Alu {
                width: crate::isa::Width::W64,
                op: crate::isa::AluOp::Mov,
                dst: Reg::R6,
                src: crate::isa::Src::Reg(Reg::R1),
            },
            Insn::Alu {
                width: crate::isa::Width::W64,
                op: crate::isa::AluOp::Mov,
                dst: Reg::R7,
                src: crate::isa::Src::Reg(Reg::R10),
            },
            Insn::Alu {
                width: crate::isa::Width::W64,
                op: crate::isa::AluOp::Add,
                dst: Reg::R7,
                src: crate::isa::Src::Imm(-64),
            },
        ];
        for r in [
            Reg::R0,
            Reg::R2,
            Reg::R3,
            Reg::R4,
            Reg::R5,
            Reg::R8,
            Reg::R9,
        ] {
            insns.push(Insn::Alu {
                width: crate::isa::Width::W64,
                op: crate::isa::AluOp::Mov,
                dst: r,
                src: crate::isa::Src::Imm(rng.below(16) as i32),
            });
        }
        insns.extend((0..n).map(|_| any_insn(&mut rng)));
        insns.push(Insn::Exit);
        let bytes = testgen::to_bytes(&insns);
        let Ok(prog) = crate::isa::decode(&bytes) else {
            continue;
        };
        total += 1;
        for (i, ty) in [&Xdp as &dyn crate::verifier::CtxAccess, &raw]
            .into_iter()
            .enumerate()
        {
            let config = VerifyConfig {
                maps: &maps,
                log_level: (seed % 3) as u32,
                insn_limit: 50_000,
                ..VerifyConfig::new(ty)
            };
            match verify(&prog, &config) {
                Ok(_) if i == 0 => accepted += 1,
                Err(e) => {
                    let key: String = e
                        .message
                        .chars()
                        .take_while(|c| !c.is_ascii_digit())
                        .collect();
                    *reasons.entry(key).or_insert(0) += 1;
                }
                _ => {}
            }
        }
    }
    // Deep enough to reach many different checks, and some programs pass them all.
    assert!(
        total > 3000 && accepted > 50 && reasons.len() >= 20,
        "{accepted} of {total} accepted: {reasons:?}"
    );
}

/// A random bounds program: a number from the context, some arithmetic, some
/// comparisons, then its use as an offset from `fp - 256` (valid in `[-256, 256)`).
pub(super) fn bounds_program(rng: &mut crate::testgen::Rng) -> Vec<Insn> {
    use super::asm::*;
    use crate::isa::{JmpCond, Src, Width};
    let mut p = vec![match rng.below(3) {
        0 => ldx(W, R2, R1, 12),
        1 => ldxsx(W, R2, R1, 12),
        _ => ldx(W, R2, R1, 16),
    }];
    if rng.chance(1, 4) {
        p.extend([ldx(W, R3, R1, 20), alu(Lsh, R3, 32), alur(Or, R2, R3)]);
    }
    let imm = |rng: &mut crate::testgen::Rng| match rng.below(4) {
        0 => rng.below(300) as i32,
        1 => rng.below(64) as i32 - 32,
        2 => rng.interesting_i32(),
        _ => 1 << rng.below(31),
    };
    let n_ops = rng.below(4);
    for _ in 0..n_ops {
        let width = rng.pick(&[Width::W64, Width::W32]);
        let op = rng.pick(&[
            Add, Sub, Mul, And, Or, Xor, Lsh, Rsh, Arsh, Div, Mod, Sdiv, Smod,
        ]);
        let mut k = imm(rng);
        if matches!(op, Lsh | Rsh | Arsh) {
            k = rng.below(if width == Width::W64 { 64 } else { 32 }) as i32;
        }
        if matches!(op, Div | Mod | Sdiv | Smod) && k == 0 {
            k = 7;
        }
        p.push(match rng.below(10) {
            0 => Insn::Neg { width, dst: R2 },
            1 => Insn::MovSx {
                width,
                dst: R2,
                src: R2,
                bits: rng.pick(&[8, 16]),
            },
            2 => Insn::End {
                order: rng.pick(&[Order::ToLe, Order::ToBe, Order::Swap]),
                dst: R2,
                bits: rng.pick(&[16, 32, 64]),
            },
            _ => Insn::Alu {
                width,
                op,
                dst: R2,
                src: Src::Imm(k),
            },
        });
    }
    // Sometimes compare a linked copy (plus a constant) instead of the value itself.
    let cmp = if rng.chance(1, 3) {
        p.push(movr(R5, R2));
        if rng.chance(1, 2) {
            p.push(alu(Add, R5, rng.below(40) as i32));
        }
        R5
    } else {
        R2
    };
    let n_jumps = 1 + rng.below(3) as usize;
    let body = 4;
    for j in 0..n_jumps {
        let remaining = (n_jumps - j - 1) as i16;
        p.push(Insn::Jmp {
            width: rng.pick(&[Width::W64, Width::W32]),
            cond: rng.pick(&JmpCond::ALL),
            dst: cmp,
            src: Src::Imm(imm(rng)),
            off: remaining + body + 1,
        });
    }
    p.extend([
        movr(R3, R10),
        alu(Add, R3, -256),
        alur(Add, R3, R2),
        st(B, R3, 0, 0),
    ]);
    p.extend([ja(0), mov(R0, 2), exit()]);
    p
}

/// Every bounds program the verifier accepts keeps `fp - 256 + offset` inside the stack
/// frame (offset in `[-256, 256)`) when run:
/// the store through the computed pointer is replaced by a store of the offset itself
/// into memory, and the program is run on many context values.
#[test]
fn accepted_bounds_hold_at_run_time() {
    use super::asm::*;
    let helpers = Registry::standard();
    let (mut accepted, mut reached) = (0, 0);
    for seed in 0..super::n_programs(4000) {
        let mut rng = Rng::new(seed);
        let insns = bounds_program(&mut rng);
        let c = super::accept("bounds", super::Ty::Xdp, insns.clone());
        if super::run(&c, 0).is_err() {
            continue;
        }
        accepted += 1;
        // `*(u8 *)(r3 + 0) = 0` becomes `*(u64 *)(r1 + 0) = r2` (r1 is never clobbered).
        let probe: Vec<Insn> = insns
            .iter()
            .map(|i| match *i {
                Insn::St {
                    size: Size::B,
                    dst: R3,
                    off: 0,
                    imm: 0,
                } => stx(DW, R1, 0, R2),
                i => i,
            })
            .collect();
        let prog = testgen::locate(&probe);
        let interp = Interpreter::new(&prog, &helpers).expect("loads");
        for _ in 0..200 {
            let mut mem = [0u8; 24];
            mem[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            mem[12..16].copy_from_slice(&(rng.interesting_u64() as u32).to_le_bytes());
            mem[16..20].copy_from_slice(&(rng.interesting_u64() as u32).to_le_bytes());
            mem[20..24].copy_from_slice(&(rng.next_u64() as u32).to_le_bytes());
            let mut ctx = RunContext::new();
            interp.run_with_mem(&mut ctx, &mut mem).expect("runs");
            let off = u64::from_le_bytes(mem[..8].try_into().unwrap_or_default());
            if off != u64::MAX {
                reached += 1;
                // fp - 256 + off must stay inside the 512-byte frame.
                let off = off as i64;
                assert!(
                    (-256..256).contains(&off),
                    "seed {seed}: offset {off} leaves the stack frame\n{insns:?}"
                );
            }
        }
    }
    assert!(
        accepted > 300 && reached > 1000,
        "{accepted} accepted, {reached} runs reached the store"
    );
}
