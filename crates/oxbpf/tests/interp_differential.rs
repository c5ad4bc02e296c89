//! The interpreter against the running kernel: random programs (`testgen`) and every
//! arithmetic, jump and byte-order instruction on a matrix of edge-case operands; same
//! `r0`, same memory. Skips loudly when bpf(2) is unavailable.
#![cfg(target_os = "linux")]

use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::isa::{AluOp, ByteOrder, Insn, JmpCond, Reg, Size, Src, Width};
use oxbpf::kernel::{self, run_program_with_mem};
use oxbpf::testgen::{locate, random_program, to_bytes, GenConfig, Rng, RESULT_BYTES};
use oxbpf::vm::RunContext;

#[test]
fn interpreter_matches_kernel_on_random_programs() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let helpers = Registry::standard();
    let mut ctx = RunContext::new();
    let mut rng = Rng::new(0x0bf_1e7e);
    let short = GenConfig::default();
    let long = GenConfig {
        body_len: 300,
        ..GenConfig::default()
    };
    // 1500 short programs, then 300 long ones.
    for n in 0..1800 {
        let prog = random_program(&mut rng, if n < 1500 { &short } else { &long });
        let bytes = to_bytes(&prog);
        let want = run_program_with_mem(&bytes, &[0u8; RESULT_BYTES])
            .unwrap_or_else(|e| panic!("program {n}: kernel rejected a generated program: {e}"));
        let mut vm = Interpreter::new(&locate(&prog), &helpers)
            .unwrap_or_else(|e| panic!("program {n}: {e}"));
        for mode in [Mode::Checked, Mode::Unchecked] {
            // SAFETY: the kernel verifier accepted this program with the same memory size,
            // so every access it makes is valid.
            unsafe { vm.set_mode(mode) };
            let mut mem = [0u8; RESULT_BYTES];
            let r0 = vm
                .run_with_mem(&mut ctx, &mut mem)
                .unwrap_or_else(|e| panic!("program {n} ({mode:?}): {e}"));
            assert_eq!(r0, want.r0, "program {n} ({mode:?}): r0");
            assert_eq!(
                &mem[..],
                &want.mem_after[..],
                "program {n} ({mode:?}): registers"
            );
        }
    }
}

/// Operand values that hit the edge cases: zero divisors, `INT_MIN / -1`, shift amounts at
/// and beyond the width, sign and zero extension boundaries.
const EDGES: [u64; 13] = [
    0,
    1,
    u64::MAX,
    2,
    7,
    (-7i64) as u64,
    31,
    32,
    63,
    64,
    0x8000_0000,
    0xffff_ffff,
    i64::MIN as u64,
];

/// Runs `prog` (which stores its results through `r1`) in the kernel and in both
/// interpreter modes, and compares the memory.
fn compare(what: &str, prog: &[Insn], mem_len: usize) {
    let helpers = Registry::standard();
    let want = run_program_with_mem(&to_bytes(prog), &vec![0u8; mem_len])
        .unwrap_or_else(|e| panic!("{what}: kernel rejected: {e}"));
    let mut vm = Interpreter::new(&locate(prog), &helpers).unwrap();
    for mode in [Mode::Checked, Mode::Unchecked] {
        // SAFETY: the kernel verifier accepted the program for this memory size.
        unsafe { vm.set_mode(mode) };
        let mut mem = vec![0u8; mem_len];
        let r0 = vm.run_with_mem(&mut RunContext::new(), &mut mem).unwrap();
        assert_eq!(r0, want.r0, "{what} ({mode:?}): r0");
        for (i, (got, want)) in mem.chunks(8).zip(want.mem_after.chunks(8)).enumerate() {
            let (a, b) = (EDGES[i / EDGES.len()], EDGES[i % EDGES.len()]);
            assert_eq!(got, want, "{what} ({mode:?}) with {a:#x}, {b:#x}");
        }
    }
}

/// A program that applies `body(a, b)` (leaving its result in r2) to every pair of edge
/// values and stores the results at `r1 + 8 * pair`.
fn matrix(body: impl Fn(u64, u64) -> Option<Vec<Insn>>) -> Vec<Insn> {
    let mut prog = vec![Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R9,
        src: Src::Reg(Reg::R1),
    }];
    for (i, (a, b)) in EDGES
        .iter()
        .flat_map(|&a| EDGES.iter().map(move |&b| (a, b)))
        .enumerate()
    {
        let Some(ops) = body(a, b) else { continue };
        prog.push(Insn::ld_imm64(Reg::R2, a));
        prog.push(Insn::ld_imm64(Reg::R3, b));
        prog.extend(ops);
        prog.push(Insn::Stx {
            size: Size::DW,
            dst: Reg::R9,
            src: Reg::R2,
            off: 8 * i as i16,
        });
    }
    prog.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R0,
        src: Src::Imm(0),
    });
    prog.push(Insn::Exit);
    prog
}

#[test]
fn alu_and_jump_edge_cases_match_kernel() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let mem_len = EDGES.len() * EDGES.len() * 8;
    for width in [Width::W64, Width::W32] {
        let bits = if width == Width::W64 { 64 } else { 32 };
        for op in AluOp::ALL {
            let alu = |src| Insn::Alu {
                width,
                op,
                dst: Reg::R2,
                src,
            };
            compare(
                &format!("{op:?} {bits} reg"),
                &matrix(|_, _| Some(vec![alu(Src::Reg(Reg::R3))])),
                mem_len,
            );
            // Immediate forms the verifier accepts: no constant zero divisor, no
            // constant shift beyond the width.
            let imm_ok = |b: u64| {
                let imm = match width {
                    Width::W64 => i32::try_from(b as i64).ok()?,
                    Width::W32 => b as u32 as i32,
                };
                let div = matches!(op, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod);
                let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
                if (div && imm == 0) || (shift && !(0..bits).contains(&imm)) {
                    return None;
                }
                Some(imm)
            };
            compare(
                &format!("{op:?} {bits} imm"),
                &matrix(|_, b| Some(vec![alu(Src::Imm(imm_ok(b)?))])),
                mem_len,
            );
        }
        for cond in JmpCond::ALL {
            // r2 = (r2 cond r3) ? 1 : 0
            let jump = |_, _| {
                Some(vec![
                    Insn::Jmp {
                        width,
                        cond,
                        dst: Reg::R2,
                        src: Src::Reg(Reg::R3),
                        off: 2,
                    },
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R2,
                        src: Src::Imm(0),
                    },
                    Insn::Ja { off: 1 },
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R2,
                        src: Src::Imm(1),
                    },
                ])
            };
            compare(&format!("{cond:?} {bits}"), &matrix(jump), mem_len);
        }
    }
    // Unary operations on the first operand.
    let unary = [
        Insn::Neg {
            width: Width::W64,
            dst: Reg::R2,
        },
        Insn::Neg {
            width: Width::W32,
            dst: Reg::R2,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 8,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 16,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 32,
        },
        Insn::MovSx {
            width: Width::W32,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 8,
        },
        Insn::MovSx {
            width: Width::W32,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 16,
        },
    ];
    let mut ends = Vec::new();
    for order in [ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap] {
        for bits in [16, 32, 64] {
            ends.push(Insn::End {
                order,
                dst: Reg::R2,
                bits,
            });
        }
    }
    for insn in unary.into_iter().chain(ends) {
        compare(
            &format!("{insn:?}"),
            &matrix(|_, _| Some(vec![insn])),
            mem_len,
        );
    }
}
