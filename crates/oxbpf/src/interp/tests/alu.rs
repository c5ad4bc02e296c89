//! Arithmetic semantics (RFC 9669 §4), edge cases included.

use super::*;
use crate::isa::ByteOrder;

/// Runs `r0 = a; r0 op= b` with `b` in a register and, where it fits, as an immediate.
fn binop(width: Width, op: AluOp, a: u64, b: u64) -> u64 {
    let alu = |src| Insn::Alu {
        width,
        op,
        dst: Reg::R0,
        src,
    };
    let by_reg = run(&[
        ld64(Reg::R0, a),
        ld64(Reg::R1, b),
        alu(Src::Reg(Reg::R1)),
        Insn::Exit,
    ])
    .unwrap();
    let imm = match width {
        Width::W32 => Some(b as u32 as i32),
        Width::W64 => i32::try_from(b as i64).ok(),
    };
    if let Some(imm) = imm {
        let by_imm = run(&[ld64(Reg::R0, a), alu(Src::Imm(imm)), Insn::Exit]).unwrap();
        assert_eq!(by_imm, by_reg, "{width:?} {op:?} {a:#x} imm {imm:#x}");
    }
    by_reg
}

const fn n(v: i64) -> u64 {
    v as u64
}

#[test]
fn alu64_semantics() {
    use AluOp::*;
    let cases: &[(AluOp, u64, u64, u64)] = &[
        (Add, u64::MAX, 2, 1),
        (Add, 5, n(-1), 4),
        (Sub, 0, 1, u64::MAX),
        (Mul, 1 << 63, 2, 0),
        (Mul, 3, n(-2), n(-6)),
        (Div, 7, 2, 3),
        (Div, 7, 0, 0),
        (Div, u64::MAX, 2, u64::MAX / 2),
        (Div, 7, n(-1), 0),
        (Sdiv, n(-7), 2, n(-3)),
        (Sdiv, 7, n(-2), n(-3)),
        (Sdiv, 7, 0, 0),
        (Sdiv, n(i64::MIN), n(-1), n(i64::MIN)),
        (Mod, 7, 3, 1),
        (Mod, 7, 0, 7),
        (Mod, n(-1), 0, n(-1)),
        (Smod, n(-7), 2, n(-1)),
        (Smod, 7, n(-2), 1),
        (Smod, n(i64::MIN), n(-1), 0),
        (Smod, n(-7), 0, n(-7)),
        (Or, 0xf0, 0x0f, 0xff),
        (And, 0xff, 0x3c, 0x3c),
        (And, 0xffff_ffff_0000_0000, n(-1), 0xffff_ffff_0000_0000),
        (Xor, 0xff, 0x0f, 0xf0),
        (Lsh, 1, 63, 1 << 63),
        (Lsh, 1, 65, 2),
        (Rsh, 1 << 63, 63, 1),
        (Rsh, 8, 67, 1),
        (Rsh, n(-1), 60, 0xf),
        (Arsh, n(-16), 2, n(-4)),
        (Arsh, n(i64::MIN), 63, n(-1)),
        (Arsh, n(-16), 65, n(-8)),
        (Arsh, 16, 2, 4),
        (Mov, 5, 9, 9),
        (Mov, 5, n(-1), u64::MAX),
    ];
    for &(op, a, b, want) in cases {
        assert_eq!(binop(Width::W64, op, a, b), want, "{op:?} {a:#x} {b:#x}");
    }
}

#[test]
fn alu32_semantics_zero_extend() {
    use AluOp::*;
    let cases: &[(AluOp, u64, u64, u64)] = &[
        (Add, 0xffff_ffff, 1, 0),
        (Add, 0x1_0000_0005, 1, 6),
        (Sub, 0, 1, 0xffff_ffff),
        (Mul, 0x1_0000_0002, 3, 6),
        (Div, 0x1_0000_0006, 3, 2),
        (Div, 5, 0, 0),
        // The divisor's low 32 bits are zero.
        (Div, 5, 0x1_0000_0000, 0),
        (Sdiv, n(-7), 2, n(-3) as u32 as u64),
        (Sdiv, i32::MIN as u32 as u64, n(-1), i32::MIN as u32 as u64),
        (Sdiv, 7, 0, 0),
        (Mod, 7, 3, 1),
        (Mod, 0xffff_ffff_0000_0007, 0, 7),
        (Smod, n(-7), 2, 0xffff_ffff),
        (Smod, i32::MIN as u32 as u64, n(-1), 0),
        (Smod, 0xabc_ffff_fff9, 0, 0xffff_fff9),
        (Or, 0xffff_ffff_0000_0000, 1, 1),
        (And, 0xffff_ffff_ffff_ffff, 0xff, 0xff),
        (Xor, 0xffff_ffff_0000_00ff, 0xf, 0xf0),
        (Lsh, 1, 33, 2),
        (Lsh, 0xffff_ffff, 4, 0xffff_fff0),
        (Rsh, 0xffff_ffff_8000_0000, 31, 1),
        (Arsh, 0x8000_0000, 31, 0xffff_ffff),
        (Arsh, 0xffff_ffff_0000_0010, 34, 4),
        (Arsh, 0xffff_ffff_8000_0000, 4, 0xf800_0000),
        (Mov, 0xdead, 0xffff_ffff_0000_0001, 1),
        (Mov, 0, n(-1), 0xffff_ffff),
    ];
    for &(op, a, b, want) in cases {
        assert_eq!(binop(Width::W32, op, a, b), want, "{op:?} {a:#x} {b:#x}");
    }
}

fn unary(insn: Insn, a: u64) -> u64 {
    run(&[ld64(Reg::R1, a), insn, Insn::Exit]).unwrap()
}

#[test]
fn neg_and_sign_extending_moves() {
    let neg = |width| Insn::Neg {
        width,
        dst: Reg::R1,
    };
    let prog = |insn| [ld64(Reg::R1, 0), insn, movr(Reg::R0, Reg::R1), Insn::Exit];
    let go = |insn: Insn, a: u64| {
        let mut p = prog(insn);
        p[0] = ld64(Reg::R1, a);
        run(&p).unwrap()
    };
    assert_eq!(go(neg(Width::W64), 5), n(-5));
    assert_eq!(go(neg(Width::W64), n(i64::MIN)), n(i64::MIN));
    assert_eq!(go(neg(Width::W32), 5), 0xffff_fffb);
    assert_eq!(go(neg(Width::W32), 0x1_0000_0000), 0);
    let movsx = |width, bits| Insn::MovSx {
        width,
        dst: Reg::R0,
        src: Reg::R1,
        bits,
    };
    assert_eq!(unary(movsx(Width::W64, 8), 0x180), n(-128));
    assert_eq!(unary(movsx(Width::W64, 8), 0x17f), 0x7f);
    assert_eq!(unary(movsx(Width::W64, 16), 0xffff_8000), n(-32768));
    assert_eq!(
        unary(movsx(Width::W64, 32), 0x8000_0000),
        n(i32::MIN as i64)
    );
    assert_eq!(unary(movsx(Width::W32, 8), 0xff), 0xffff_ffff);
    assert_eq!(unary(movsx(Width::W32, 16), 0x1_8000), 0xffff_8000);
    assert_eq!(unary(movsx(Width::W32, 16), 0x1234_7fff), 0x7fff);
}

#[test]
fn byte_order() {
    let end = |order, bits| Insn::End {
        order,
        dst: Reg::R1,
        bits,
    };
    let go = |insn: Insn| {
        run(&[
            ld64(Reg::R1, 0x0102_0304_0506_0708),
            insn,
            movr(Reg::R0, Reg::R1),
            Insn::Exit,
        ])
        .unwrap()
    };
    assert_eq!(go(end(ByteOrder::ToLe, 16)), 0x0708);
    assert_eq!(go(end(ByteOrder::ToLe, 32)), 0x0506_0708);
    assert_eq!(go(end(ByteOrder::ToLe, 64)), 0x0102_0304_0506_0708);
    assert_eq!(go(end(ByteOrder::ToBe, 16)), 0x0807);
    assert_eq!(go(end(ByteOrder::ToBe, 32)), 0x0807_0605);
    assert_eq!(go(end(ByteOrder::ToBe, 64)), 0x0807_0605_0403_0201);
    assert_eq!(go(end(ByteOrder::Swap, 16)), 0x0807);
    assert_eq!(go(end(ByteOrder::Swap, 32)), 0x0807_0605);
    assert_eq!(go(end(ByteOrder::Swap, 64)), 0x0807_0605_0403_0201);
}

#[test]
fn immediates() {
    assert_eq!(
        run(&[ld64(Reg::R0, 0xdead_beef_cafe_f00d), Insn::Exit]),
        Ok(0xdead_beef_cafe_f00d)
    );
    assert_eq!(run(&[mov(Reg::R0, -1), Insn::Exit]), Ok(u64::MAX));
    assert_eq!(
        run(&[alu32(AluOp::Mov, Reg::R0, Src::Imm(-1)), Insn::Exit]),
        Ok(0xffff_ffff)
    );
    // r2 starts at 0; r1 and r2 are the run arguments.
    let vm = load(&[
        movr(Reg::R0, Reg::R1),
        alu64(AluOp::Sub, Reg::R0, Src::Reg(Reg::R2)),
        Insn::Exit,
    ]);
    assert_eq!(vm.run(&mut RunContext::new(), 50, 8), Ok(42));
}
