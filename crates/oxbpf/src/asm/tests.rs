//! Unit tests of the assembler and disassembler.

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

#[test]
fn smoke() {
    let bytes = assemble("r0 = 1\nif r1 > 5 goto done\nr0 += r1\ndone:\nexit").unwrap();
    let prog = decode(&bytes).unwrap();
    let text = disassemble(&prog, &llvm_opts());
    assert_eq!(text, "r0 = 0x1\nif r1 > 0x5 goto +0x1\nr0 += r1\nexit\n");
    assert_eq!(
        one("w1 += w2"),
        Insn::Alu {
            width: Width::W32,
            op: AluOp::Add,
            dst: Reg::R1,
            src: Src::Reg(Reg::R2)
        }
    );
    assert_eq!(
        one("r2 = *(u32 *)(r1 + 0x4)"),
        Insn::Ldx {
            size: Size::W,
            dst: Reg::R2,
            src: Reg::R1,
            off: 4
        }
    );
}
