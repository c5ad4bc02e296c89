//! Unit tests of the assembler and disassembler: round trips over every valid encoding,
//! exact spellings, and errors.

use super::*;
use crate::isa::{decode, decode_one, Reg, Size, Src, Width};

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
    eprintln!("{} encodings", all.len());
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
    // Decimal mode against `llvm-mc --disassemble`, which prints immediates in decimal.
    let (same_dec, skipped_dec) = compare_with_objdump(
        include_bytes!("testdata/sweep.bin"),
        include_str!("testdata/sweep.llvm-mc.txt"),
        &DisasmOptions {
            hex: false,
            ..llvm_opts()
        },
    );
    assert_eq!((same_dec, skipped_dec), (same, skipped));
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

/// Assembles `input` (one instruction) and prints it back with `opts`.
fn reprint(input: &str, opts: &DisasmOptions) -> String {
    let p = assemble_located(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(p.len(), 1, "{input}");
    fmt_insn(&p[0].insn, p[0].slot, opts)
}

#[test]
fn llvm_spellings() {
    // (input as a clang user writes it, llvm-objdump-19 --mcpu=v4 output, decimal output)
    let cases = [
        ("r0 = 1", "r0 = 0x1", "r0 = 1"),
        ("w1 += w2", "w1 += w2", "w1 += w2"),
        (
            "r1 = 0x1122334455667788 ll",
            "r1 = 0x1122334455667788 ll",
            "r1 = 1234605616436508552 ll",
        ),
        ("r1 = -1 ll", "r1 = -0x1 ll", "r1 = -1 ll"),
        (
            "r2 = *(u32 *)(r1 + 0x4)",
            "w2 = *(u32 *)(r1 + 0x4)",
            "w2 = *(u32 *)(r1 + 4)",
        ),
        (
            "*(u64 *)(r10 - 0x8) = r1",
            "*(u64 *)(r10 - 0x8) = r1",
            "*(u64 *)(r10 - 8) = r1",
        ),
        (
            "*(u32 *)(r10 - 8) = 5",
            "*(u32 *)(r10 - 0x8) = 0x5",
            "*(u32 *)(r10 - 8) = 5",
        ),
        (
            "if r1 > r2 goto +3",
            "if r1 > r2 goto +0x3",
            "if r1 > r2 goto +3",
        ),
        (
            "if w1 s< -1 goto -5",
            "if w1 s< -0x1 goto -0x5",
            "if w1 s< -1 goto -5",
        ),
        ("goto +2", "goto +0x2", "goto +2"),
        ("gotol +70000", "gotol +0x11170", "gotol +70000"),
        ("call 6", "call 0x6", "call 6"),
        ("call -1", "call -0x1", "call -1"),
        ("call +3", "call +0x3", "call +3"),
        ("call 0xffffffff", "call 0xffffffff", "call 4294967295"),
        ("call kfunc 77", "call kfunc 0x4d", "call kfunc 77"),
        ("callx r2", "callx r2", "callx r2"),
        ("r1 = be16 r1", "r1 = be16 r1", "r1 = be16 r1"),
        ("r1 = le32 r1", "r1 = le32 r1", "r1 = le32 r1"),
        ("r1 = bswap32 r1", "r1 = bswap32 r1", "r1 = bswap32 r1"),
        ("r1 = (s8)r2", "r1 = (s8)r2", "r1 = (s8)r2"),
        ("w1 = (s16)w2", "w1 = (s16)w2", "w1 = (s16)w2"),
        (
            "r1 = *(s8 *)(r2 + 1)",
            "r1 = *(s8 *)(r2 + 0x1)",
            "r1 = *(s8 *)(r2 + 1)",
        ),
        (
            "lock *(u64 *)(r1 + 0) += r2",
            "lock *(u64 *)(r1 + 0x0) += r2",
            "lock *(u64 *)(r1 + 0) += r2",
        ),
        (
            "lock *(u32 *)(r1 + 0) |= w2",
            "lock *(u32 *)(r1 + 0x0) |= w2",
            "lock *(u32 *)(r1 + 0) |= w2",
        ),
        (
            "r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)",
            "r0 = atomic_fetch_add((u64 *)(r1 + 0x0), r0)",
            "r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)",
        ),
        (
            "w0 = atomic_fetch_xor((u32 *)(r1 - 4), w0)",
            "w0 = atomic_fetch_xor((u32 *)(r1 - 0x4), w0)",
            "w0 = atomic_fetch_xor((u32 *)(r1 - 4), w0)",
        ),
        (
            "r0 = xchg_64(r1 + 0, r0)",
            "r0 = xchg_64(r1 + 0x0, r0)",
            "r0 = xchg_64(r1 + 0, r0)",
        ),
        (
            "w3 = xchg32_32(r1 + 8, w3)",
            "w3 = xchg32_32(r1 + 0x8, w3)",
            "w3 = xchg32_32(r1 + 8, w3)",
        ),
        (
            "r0 = cmpxchg_64(r1 + 0, r0, r2)",
            "r0 = cmpxchg_64(r1 + 0x0, r0, r2)",
            "r0 = cmpxchg_64(r1 + 0, r0, r2)",
        ),
        (
            "w0 = cmpxchg32_32(r1 + 0, w0, w2)",
            "w0 = cmpxchg32_32(r1 + 0x0, w0, w2)",
            "w0 = cmpxchg32_32(r1 + 0, w0, w2)",
        ),
        (
            "r0 = *(u8 *)skb[12]",
            "r0 = *(u8 *)skb[0xc]",
            "r0 = *(u8 *)skb[12]",
        ),
        (
            "r0 = *(u16 *)skb[r1 + 4]",
            "r0 = *(u16 *)skb[r1 + 0x4]",
            "r0 = *(u16 *)skb[r1 + 4]",
        ),
        (
            "r0 = *(u32 *)skb[r1]",
            "r0 = *(u32 *)skb[r1]",
            "r0 = *(u32 *)skb[r1]",
        ),
        (
            "r0 = *(u32 *)skb[r1 - 2]",
            "r0 = *(u32 *)skb[r1 - 0x2]",
            "r0 = *(u32 *)skb[r1 - 2]",
        ),
        ("r1 = map[fd:5]", "r1 = map[fd:5]", "r1 = map[fd:5]"),
        (
            "r1 = map[id:5][0]+16",
            "r1 = map[fd:5][0]+16",
            "r1 = map[fd:5][0]+16",
        ),
        ("r1 = map[idx:2]", "r1 = map[idx:2]", "r1 = map[idx:2]"),
        (
            "r1 = map[idx:2]+8",
            "r1 = map[idx:2]+8",
            "r1 = map[idx:2]+8",
        ),
        ("r1 = btf_id[77]", "r1 = btf_id[77]", "r1 = btf_id[77]"),
        ("r1 = subprog[+3]", "r1 = subprog[+0x3]", "r1 = subprog[+3]"),
        (
            "r1 = pseudo(1, 0x100000005)",
            "r1 = pseudo(1, 0x100000005)",
            "r1 = pseudo(1, 0x100000005)",
        ),
        (
            "ld_pseudo r1, 2, 5",
            "r1 = map[fd:5][0]+0",
            "r1 = map[fd:5][0]+0",
        ),
        ("exit", "exit", "exit"),
        ("r1 = -r1", "r1 = -r1", "r1 = -r1"),
        ("w1 = -w1", "w1 = -w1", "w1 = -w1"),
        ("r1 s/= r2", "r1 s/= r2", "r1 s/= r2"),
        ("r1 s%= 3", "r1 s%= 0x3", "r1 s%= 3"),
        ("r1 s>>= 3", "r1 s>>= 0x3", "r1 s>>= 3"),
        ("w1 = 0xffffffff", "w1 = -0x1", "w1 = -1"),
        (
            "r1 &= -0x80000000",
            "r1 &= -0x80000000",
            "r1 &= -2147483648",
        ),
        (
            "*(u8 *)(r1 + 0x7fff) = w2",
            "*(u8 *)(r1 + 0x7fff) = w2",
            "*(u8 *)(r1 + 32767) = w2",
        ),
        (
            "r2 = *(u16 *)(r1 - 32768)",
            "w2 = *(u16 *)(r1 - 0x8000)",
            "w2 = *(u16 *)(r1 - 32768)",
        ),
    ];
    let hex = llvm_opts();
    let dec = DisasmOptions {
        hex: false,
        ..llvm_opts()
    };
    for (input, want_hex, want_dec) in cases {
        assert_eq!(reprint(input, &hex), want_hex, "{input}");
        assert_eq!(reprint(input, &dec), want_dec, "{input}");
        assert_eq!(reprint(want_dec, &hex), want_hex, "{want_dec}");
    }
    // Plain llvm-objdump (no ALU32): `r` registers in sub-64-bit loads and stores.
    let plain = DisasmOptions {
        alu32: false,
        ..llvm_opts()
    };
    assert_eq!(
        reprint("w2 = *(u8 *)(r1 + 1)", &plain),
        "r2 = *(u8 *)(r1 + 0x1)"
    );
    assert_eq!(
        reprint("*(u32 *)(r1 + 0) = w2", &plain),
        "*(u32 *)(r1 + 0x0) = r2"
    );
    assert_eq!(
        reprint("lock *(u32 *)(r1 + 0) += w2", &plain),
        "lock *(u32 *)(r1 + 0x0) += r2"
    );
}

#[test]
fn labels_comments_and_objdump_input() {
    let text = "\
        ; a comment\n\
        start:  r0 = 0 // trailing\n\
        call sub # local call by label\n\
        call bpf_map_lookup_elem\n\
        call map_lookup_elem\n\
        if r0 == 0 goto out\n\
        gotol start\n\
        out: exit\n\
        sub:\n\
        r0 = 7\n\
        exit\n";
    let p = assemble_located(text).unwrap();
    let insns: Vec<Insn> = p.iter().map(|l| l.insn).collect();
    assert_eq!(insns[1], Insn::Call(CallTarget::Local(5)));
    assert_eq!(insns[2], Insn::Call(CallTarget::Helper(1)));
    assert_eq!(insns[3], Insn::Call(CallTarget::Helper(1)));
    assert_eq!(
        insns[4],
        Insn::Jmp {
            width: Width::W64,
            cond: crate::isa::JmpCond::Eq,
            dst: Reg::R0,
            src: Src::Imm(0),
            off: 1
        }
    );
    assert_eq!(insns[5], Insn::Gotol { imm: -6 });
    // A label may shadow a helper name.
    let p = assemble_located("call trace_printk\nexit\ntrace_printk:\nexit").unwrap();
    assert_eq!(p[0].insn, Insn::Call(CallTarget::Local(1)));
    // llvm-objdump output, headers included, assembles as is.
    let dump = "\nt.o:\tfile format elf64-bpf\n\nDisassembly of section .text:\n\n\
        0000000000000000 <f>:\n       0:\tb7 00 00 00 01 00 00 00\tr0 = 0x1\n\
               1:\t05 00 ff ff 00 00 00 00\tgoto -0x1 <f+0x8>\n       2:\tgoto -0x3 <f>\n";
    assert_eq!(
        assemble(dump).unwrap(),
        [
            0xb7, 0, 0, 0, 1, 0, 0, 0, 0x05, 0, 0xff, 0xff, 0, 0, 0, 0, 0x05, 0, 0xfd, 0xff, 0, 0,
            0, 0
        ]
    );
}

#[test]
fn mnemonic_syntax() {
    let text = "\
        mov32 %r0, 1\n\
        ldxw %r1, [%r2+4]\n\
        jeq %r1, 0, +2\n\
        lddw %r0, 0x1122334455667788\n\
        lock fetch add32 [%r1+0], %r2\n\
        call local fn\n\
        call %r2\n\
        ja32 fn\n\
        be16 %r1\n\
        swap16 %r1\n\
        bswap64 %r1\n\
        movsx832 %r1, %r2\n\
        neg32 %r3\n\
        ja exit\n\
        exit\n\
        fn:\n\
        stxdw [%r10-8], %r1\n\
        exit\n";
    let p = assemble_located(text).unwrap();
    let conf = DisasmOptions::new(Style::Conformance);
    let printed: Vec<String> = p.iter().map(|l| fmt_insn(&l.insn, l.slot, &conf)).collect();
    assert_eq!(
        printed,
        [
            "mov32 %r0, 1",
            "ldxw %r1, [%r2+4]",
            "jeq %r1, 0, +2",
            "lddw %r0, 0x1122334455667788",
            "lock fetch add32 [%r1+0], %r2",
            "call local +9",
            "call %r2",
            "ja32 +7",
            "be16 %r1",
            "bswap16 %r1",
            "bswap64 %r1",
            "movsx832 %r1, %r2",
            "neg32 %r3",
            "ja +0",
            "exit",
            "stxdw [%r10-8], %r1",
            "exit",
        ]
    );
    // Hex immediates are 32-bit patterns; decimal ones signed.
    assert_eq!(
        one("add32 %r9, 0xffffffff"),
        one("add32 %r9, -1"),
        "hex and decimal spellings of -1"
    );
    assert_eq!(one("lddw %r1, -1"), one("lddw %r1, 0xFFFFFFFFFFFFFFFF"));
    assert_eq!(
        one("ldabsh 12"),
        Insn::LdAbs {
            size: Size::H,
            imm: 12
        }
    );
    assert_eq!(
        one("ldindw %r1, -4"),
        Insn::LdInd {
            size: Size::W,
            src: Reg::R1,
            imm: -4
        }
    );
    assert_eq!(one("call runtime 9"), Insn::Call(CallTarget::Kfunc(9)));
}

fn err(text: &str) -> AsmError {
    match assemble(text) {
        Ok(b) => panic!("{text:?} assembled to {b:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_line_column_and_kind() {
    let e = err("r0 = 1\nr11 = 1");
    assert_eq!((e.line, e.column), (2, Some(1)));
    assert!(matches!(e.kind, AsmErrorKind::BadRegister { .. }));
    assert_eq!(
        e.to_string(),
        "line 2, column 1: Invalid register `r11` (registers are r0..r10)"
    );
    assert!(matches!(
        err("mov %r0, %r11").kind,
        AsmErrorKind::BadRegister { .. }
    ));
    // LLVM syntax: like llvm-mc, any 32-bit pattern, decimal or hex; not beyond.
    assert_eq!(one("r1 = 4294967295"), one("r1 = -1"));
    assert_eq!(one("if r1 > 0xffffffff goto +1"), one("if r1 > -1 goto +1"));
    assert!(matches!(
        err("r1 = -2147483649").kind,
        AsmErrorKind::ImmOutOfRange { .. }
    ));
    assert!(matches!(
        err("r1 += 4294967296").kind,
        AsmErrorKind::ImmOutOfRange { .. }
    ));
    let e = err("r1 = 0x100000000");
    assert_eq!(e.column, Some(6));
    assert!(matches!(e.kind, AsmErrorKind::ImmOutOfRange { .. }));
    assert!(matches!(
        err("mov32 %r0, 2147483648").kind,
        AsmErrorKind::ImmOutOfRange { .. }
    ));
    assert!(matches!(
        err("mov32 %r0, -2147483649").kind,
        AsmErrorKind::ImmOutOfRange { .. }
    ));
    assert!(matches!(
        err("mov32 %r0, 0x100000000").kind,
        AsmErrorKind::ImmOutOfRange { .. }
    ));
    assert!(matches!(
        err("r1 = *(u8 *)(r2 + 40000)").kind,
        AsmErrorKind::OffsetOutOfRange { value: 40000 }
    ));
    assert!(matches!(
        err("ldxb %r0, [%r1+0x10000]").kind,
        AsmErrorKind::OffsetOutOfRange { .. }
    ));
    assert!(matches!(
        err("ja +32768").kind,
        AsmErrorKind::OffsetOutOfRange { .. }
    ));
    assert!(matches!(
        err("goto nowhere").kind,
        AsmErrorKind::UndefinedLabel { .. }
    ));
    assert!(matches!(
        err("call nowhere").kind,
        AsmErrorKind::UndefinedLabel { .. }
    ));
    assert!(matches!(
        err("frob %r1").kind,
        AsmErrorKind::UnknownMnemonic { .. }
    ));
    assert!(matches!(
        err("frob r1").kind,
        AsmErrorKind::UnknownMnemonic { .. }
    ));
    let e = err("jeq %r1, 0");
    assert!(
        matches!(e.kind, AsmErrorKind::OperandCount { found: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("Invalid number of operands for jeq"));
    assert!(matches!(
        err("add %r1").kind,
        AsmErrorKind::OperandCount { .. }
    ));
    assert!(matches!(
        err("exit %r1").kind,
        AsmErrorKind::OperandCount { .. }
    ));
    let e = err("a:\nexit\na:\nexit");
    assert!(matches!(
        e.kind,
        AsmErrorKind::DuplicateLabel { first_line: 1, .. }
    ));
    assert_eq!(e.line, 3);
    let e = err("mov %r0, 1\nr0 = 1");
    assert!(matches!(
        e.kind,
        AsmErrorKind::MixedSyntax { other_line: 1, .. }
    ));
    assert!(matches!(
        err("w1 += r2").kind,
        AsmErrorKind::RegisterWidth { .. }
    ));
    assert!(matches!(
        err("if r1 > w2 goto +1").kind,
        AsmErrorKind::RegisterWidth { .. }
    ));
    assert!(matches!(
        err("w1 = 1 ll").kind,
        AsmErrorKind::RegisterWidth { .. }
    ));
    assert!(matches!(
        err("r1 = *(u8 *)(r2 + 1) extra").kind,
        AsmErrorKind::TrailingInput { .. }
    ));
    assert!(matches!(
        err("r1 = be17 r1").kind,
        AsmErrorKind::Expected { .. }
    ));
    assert!(matches!(
        err("r1 = be16 r2").kind,
        AsmErrorKind::Expected { .. }
    ));
    assert!(matches!(
        err("lock *(u8 *)(r1 + 0) += w2").kind,
        AsmErrorKind::BadWidth { .. }
    ));
    assert!(matches!(
        err("r1 = 5 `").kind,
        AsmErrorKind::UnexpectedChar { ch: '`' }
    ));
    // A label 40000 slots away does not fit a 16-bit jump, but fits `gotol`.
    let far = format!("goto end\n{}end:\nexit", "r0 = 0\n".repeat(40000));
    assert!(matches!(
        err(&far).kind,
        AsmErrorKind::JumpOutOfRange {
            distance: 40000,
            ..
        }
    ));
    assert!(assemble(&far.replacen("goto", "gotol", 1)).is_ok());
}

/// No input makes the assembler panic: every prefix of every line the disassemblers print.
#[test]
fn prefixes_never_panic() {
    let prog = decode(&golden_sweep_encodings().concat()).unwrap();
    let mut lines = 0;
    for style in [Style::Llvm, Style::Conformance] {
        for line in disassemble(&prog, &DisasmOptions::new(style)).lines() {
            for (i, _) in line.char_indices() {
                let _ = assemble(&line[..i]);
                let _ = assemble(&line[i..]);
            }
            lines += 1;
        }
    }
    assert!(lines > 4000);
}

/// Random token soup never makes the assembler panic (a cheap stand-in for a fuzz target).
#[test]
fn random_token_soup_never_panics() {
    const WORDS: &[&str] = &[
        "r1",
        "w2",
        "r10",
        "r11",
        "%r3",
        "%r",
        "%",
        "=",
        "+=",
        "s>>=",
        "s<",
        "*",
        "(",
        ")",
        "[",
        "]",
        "+",
        "-",
        ",",
        ":",
        "u32",
        "s8",
        "u64",
        "0",
        "0x10",
        "-0x8000",
        "99999999999999999999",
        "4294967296",
        "goto",
        "gotol",
        "if",
        "call",
        "callx",
        "lock",
        "ll",
        "exit",
        "label",
        "label:",
        "map",
        "[fd:",
        "skb",
        "ldxw",
        "lddw",
        "jeq",
        "mov32",
        "lock fetch",
        "xchg_64",
        "atomic_fetch_add",
        "be16",
        "swap64",
        "movsx832",
        "ja32",
        "local",
        "runtime",
        "kfunc",
        "subprog",
        "pseudo",
        "btf_id",
        "#",
        ";",
        "//",
        "\t",
        "é",
        "<f+0x10>",
        "0:",
        "\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ok = 0;
    for _ in 0..50_000 {
        let n = 1 + next() % 9;
        let text: Vec<&str> = (0..n)
            .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
            .collect();
        let sep = if next() % 2 == 0 { " " } else { "" };
        let text = text.join(sep);
        if assemble(&text).is_ok() {
            ok += 1;
        }
    }
    // Some of the soup is valid (`exit`, `r1 = 0`...), most is not.
    assert!(ok > 0);
}

#[test]
fn example_program_assembles() {
    let p = assemble_located(include_str!("../../../../examples/hello.s")).unwrap();
    assert_eq!(p.len(), 10);
    assert_eq!(
        p[0].insn,
        Insn::St {
            size: Size::W,
            dst: Reg::R10,
            off: -16,
            imm: 0x6c6c6548
        }
    );
    assert_eq!(p[7].insn, Insn::Call(CallTarget::Helper(6)));
}
