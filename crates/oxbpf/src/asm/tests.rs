//! Unit tests of the assembler and disassembler: round trips over every valid encoding,
//! exact spellings, and errors.

use super::*;
use crate::isa::{decode, decode_one, encode, AluOp, Reg, Size, Src, Width};

fn llvm_opts() -> DisasmOptions {
    DisasmOptions::new(Style::Llvm)
}

fn one(text: &str) -> Insn {
    let p = assemble_located(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(p.len(), 1, "{text}");
    p[0].insn
}

/// Every valid single instruction over all opcodes and a set of interesting field values
/// (registers, offsets and immediates at their limits), as bytes (8, or 16 for `lddw`).
fn sweep_encodings() -> Vec<Vec<u8>> {
    sweep(
        &[0x00, 0x01, 0x21, 0xa0, 0x0a, 0x99, 0x5f],
        &[0, 1, -1, 8, 16, 32, 0x7fff, i16::MIN],
        &[
            0,
            1,
            -1,
            16,
            32,
            64,
            0x40,
            0x41,
            0x50,
            0x51,
            0xa0,
            0xa1,
            0xe1,
            0xf1,
            0x7fff_ffff,
            i32::MIN,
            70000,
        ],
    )
}

/// A smaller sweep for the llvm-objdump golden file (every opcode, fewer field values).
fn golden_sweep_encodings() -> Vec<Vec<u8>> {
    sweep(
        &[0x21, 0x0a],
        &[0, -1, 0x7fff, i16::MIN],
        &[
            0,
            -1,
            16,
            32,
            64,
            0x41,
            0x51,
            0xa1,
            0xe1,
            0xf1,
            0x7fff_ffff,
            i32::MIN,
        ],
    )
}

fn sweep(regs: &[u8], offs: &[i16], imms: &[i32]) -> Vec<Vec<u8>> {
    let seconds = [0i32, 7, -1, i32::MIN];
    let mut out = Vec::new();
    for op in 0..=255u8 {
        for &rg in regs {
            for &off in offs {
                for &imm in imms {
                    let mut b = [op, rg, 0, 0, 0, 0, 0, 0];
                    b[2..4].copy_from_slice(&off.to_le_bytes());
                    b[4..8].copy_from_slice(&imm.to_le_bytes());
                    for (k, &imm2) in seconds.iter().enumerate() {
                        let mut second = [0u8; 8];
                        second[4..8].copy_from_slice(&imm2.to_le_bytes());
                        let Ok(insn) = decode_one(&b, Some(&second)) else {
                            break;
                        };
                        let mut v = Vec::new();
                        insn.encode_into(&mut v);
                        if insn.slots() == 1 {
                            if k == 0 {
                                out.push(v);
                            }
                            break;
                        }
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

fn round_trip(bytes: &[u8], opts: &DisasmOptions) {
    let prog = decode(bytes).unwrap();
    let text = disassemble(&prog, opts);
    let back = assemble(&text).unwrap_or_else(|e| panic!("{:?} {text:?}: {e}", opts.style));
    assert_eq!(back, bytes, "{:?}: {text}", opts.style);
    // The canonical text is stable.
    let again = disassemble(&decode(&back).unwrap(), opts);
    assert_eq!(again, text);
}

#[test]
fn sweep_round_trips_in_every_reassemblable_style() {
    let all = sweep_encodings();
    assert!(all.len() > 10_000, "only {} encodings", all.len());
    let mut styles = vec![
        DisasmOptions::new(Style::Conformance),
        llvm_opts(),
        DisasmOptions {
            hex: false,
            alu32: false,
            ..llvm_opts()
        },
        DisasmOptions {
            raw_bytes: true,
            symbol: Some("prog".into()),
            ..llvm_opts()
        },
    ];
    for opts in styles.drain(..) {
        // Instruction by instruction (each its own program) for precise failure messages...
        for b in &all {
            round_trip(b, &opts);
        }
        // ...and all at once, so the slot column and target annotations are exercised.
        round_trip(&all.concat(), &opts);
    }
}

/// Writes `testdata/sweep.bin` (all sweep encodings); `testdata/regen.sh` runs it and then
/// llvm-objdump to rebuild the golden files.
#[test]
#[ignore = "fixture generator, run by testdata/regen.sh"]
fn write_sweep_fixture() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/asm/testdata");
    std::fs::write(dir.join("sweep.bin"), golden_sweep_encodings().concat()).unwrap();
}

/// Where LLVM's printer is lossy or has no spelling, our output differs on purpose:
/// pseudo `lddw` (LLVM: `ld_pseudo r1, 0x1, 0x5`, without the second immediate), `LD_IND`
/// with an offset (LLVM drops it), kfunc calls and local calls with a non-negative offset
/// (LLVM prints them like helper calls), and negative helper ids (LLVM prints them like local
/// calls).
fn documented_divergence(insn: &Insn) -> bool {
    matches!(
        insn,
        Insn::LdImm64 { pseudo, .. } if *pseudo != LdPseudo::Imm
    ) || matches!(insn, Insn::LdInd { imm, .. } if *imm != 0)
        || matches!(
            insn,
            Insn::Call(CallTarget::Kfunc(_))
                | Insn::Call(CallTarget::Local(0..))
                | Insn::Call(CallTarget::Helper(i32::MIN..=-1))
        )
}

/// Compares our LLVM-style output, line by line, with llvm-objdump's; returns how many
/// lines matched exactly and how many were documented divergences.
fn compare_with_objdump(bin: &[u8], expected: &str, opts: &DisasmOptions) -> (usize, usize) {
    let prog = decode(bin).unwrap();
    let ours = disassemble(prog.as_slice(), opts);
    let theirs: Vec<&str> = expected.lines().collect();
    let ours: Vec<&str> = ours.lines().collect();
    assert_eq!(ours.len(), theirs.len());
    let (mut same, mut skipped) = (0, 0);
    for ((o, t), l) in ours.iter().zip(&theirs).zip(&prog) {
        if o == t {
            same += 1;
        } else if documented_divergence(&l.insn) || (!opts.alu32 && t.ends_with("<unknown>")) {
            skipped += 1;
        } else {
            panic!("slot {}:\n ours:    {o}\n objdump: {t}", l.slot);
        }
    }
    (same, skipped)
}

#[test]
fn golden_llvm_objdump_sweep() {
    let (same, skipped) = compare_with_objdump(
        include_bytes!("testdata/sweep.bin"),
        include_str!("testdata/sweep.objdump-v4.txt"),
        &DisasmOptions {
            raw_bytes: true,
            symbol: Some("f".into()),
            ..llvm_opts()
        },
    );
    assert_eq!(
        include_bytes!("testdata/sweep.bin").as_slice(),
        golden_sweep_encodings().concat(),
        "sweep fixture is stale: run testdata/regen.sh"
    );
    eprintln!("sweep: {same} identical, {skipped} documented divergences");
    assert!(same > 1_500);
}

#[test]
fn golden_llvm_objdump_clang_program() {
    let bin = include_bytes!("testdata/prog.bin");
    let opts = DisasmOptions {
        raw_bytes: true,
        symbol: Some("prog".into()),
        ..llvm_opts()
    };
    let (same, skipped) =
        compare_with_objdump(bin, include_str!("testdata/prog.objdump-v4.txt"), &opts);
    assert_eq!(skipped, 0, "clang output has no form LLVM prints lossily");
    assert!(same > 100);
    // Plain `llvm-objdump -d` (no --mcpu): `r` registers in loads and stores; it cannot
    // decode the 32-bit atomic fetch forms at all.
    let plain = DisasmOptions {
        alu32: false,
        ..opts
    };
    let (same_plain, skipped_plain) =
        compare_with_objdump(bin, include_str!("testdata/prog.objdump.txt"), &plain);
    assert_eq!(same_plain + skipped_plain, same + skipped);
    // objdump's own output assembles back to the same bytes.
    assert_eq!(
        assemble(include_str!("testdata/prog.objdump-v4.txt")).unwrap(),
        bin
    );
}
