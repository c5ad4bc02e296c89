//! Parser for the mnemonic syntax of the bpf_conformance and uBPF test data:
//! `mov32 %r0, 1`, `ldxw %r1, [%r2+4]`, `jeq %r1, 0, +2`, `lock fetch add32 [%r1+0], %r2`,
//! `call local label`, `ja32 label`...

use super::lexer::{Cursor, Tok};
use super::parse_llvm::pseudo_operand;
use super::{AsmError, AsmErrorKind, FixKind, Fixup, Parsed};
use crate::isa::{AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, Reg, Size, Src, Width};

/// The shape of a mnemonic's operands.
#[derive(Clone, Copy, Debug)]
enum Form {
    Alu(AluOp, Width),
    Neg(Width),
    MovSx(Width, u8),
    End(ByteOrder, u8),
    Ldx(Size, bool),
    St(Size),
    Stx(Size),
    Lddw,
    LdAbs(Size),
    LdInd(Size),
    Ja,
    Ja32,
    Jmp(JmpCond, Width),
    Exit,
}

fn alu_base(s: &str) -> Option<AluOp> {
    Some(match s {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::Sdiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "mod" => AluOp::Mod,
        "smod" => AluOp::Smod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    })
}

fn jmp_base(s: &str) -> Option<JmpCond> {
    Some(match s {
        "jeq" => JmpCond::Eq,
        "jgt" => JmpCond::Gt,
        "jge" => JmpCond::Ge,
        "jset" => JmpCond::Set,
        "jne" => JmpCond::Ne,
        "jsgt" => JmpCond::Sgt,
        "jsge" => JmpCond::Sge,
        "jlt" => JmpCond::Lt,
        "jle" => JmpCond::Le,
        "jslt" => JmpCond::Slt,
        "jsle" => JmpCond::Sle,
        _ => return None,
    })
}

fn size_suffix(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

/// Splits a `32`/`64` width suffix off a mnemonic (no suffix means 64-bit).
fn width_suffix(s: &str) -> (&str, Width) {
    if let Some(b) = s.strip_suffix("32") {
        (b, Width::W32)
    } else if let Some(b) = s.strip_suffix("64") {
        (b, Width::W64)
    } else {
        (s, Width::W64)
    }
}

fn lookup(m: &str) -> Option<Form> {
    let (base, width) = width_suffix(m);
    if let Some(op) = alu_base(base) {
        return Some(Form::Alu(op, width));
    }
    if base == "neg" {
        return Some(Form::Neg(width));
    }
    if let Some(c) = jmp_base(base) {
        return Some(Form::Jmp(c, width));
    }
    Some(match m {
        "movsx832" => Form::MovSx(Width::W32, 8),
        "movsx1632" => Form::MovSx(Width::W32, 16),
        "movsx864" => Form::MovSx(Width::W64, 8),
        "movsx1664" => Form::MovSx(Width::W64, 16),
        "movsx3264" => Form::MovSx(Width::W64, 32),
        "lddw" => Form::Lddw,
        "ja" => Form::Ja,
        "ja32" => Form::Ja32,
        "exit" => Form::Exit,
        _ => {
            for (prefix, order) in [
                ("le", ByteOrder::ToLe),
                ("be", ByteOrder::ToBe),
                ("bswap", ByteOrder::Swap),
                ("swap", ByteOrder::Swap),
            ] {
                if let Some(bits) = m.strip_prefix(prefix) {
                    return match bits {
                        "16" => Some(Form::End(order, 16)),
                        "32" => Some(Form::End(order, 32)),
                        "64" => Some(Form::End(order, 64)),
                        _ => None,
                    };
                }
            }
            if let Some(s) = m.strip_prefix("ldxs").and_then(size_suffix) {
                if s != Size::DW {
                    return Some(Form::Ldx(s, true));
                }
            }
            if let Some(s) = m.strip_prefix("ldabs").and_then(size_suffix) {
                return (s != Size::DW).then_some(Form::LdAbs(s));
            }
            if let Some(s) = m.strip_prefix("ldind").and_then(size_suffix) {
                return (s != Size::DW).then_some(Form::LdInd(s));
            }
            if let Some(s) = m.strip_prefix("ldx").and_then(size_suffix) {
                return Some(Form::Ldx(s, false));
            }
            if let Some(s) = m.strip_prefix("stx").and_then(size_suffix) {
                return Some(Form::Stx(s));
            }
            if let Some(s) = m.strip_prefix("st").and_then(size_suffix) {
                return Some(Form::St(s));
            }
            return None;
        }
    })
}

/// Whether `word` is a mnemonic of this syntax (used to detect the syntax).
pub(crate) fn is_mnemonic(word: &str) -> bool {
    lookup(word).is_some() && word != "exit"
}

/// The number of comma-separated operands left on the line.
fn operand_count(c: &Cursor) -> usize {
    let mut n = 0;
    let mut depth = 0i32;
    let mut any = false;
    let mut i = 0;
    while let Some(t) = c.peek_at(i) {
        any = true;
        match t {
            Tok::Punct("[" | "(") => depth += 1,
            Tok::Punct("]" | ")") => depth -= 1,
            Tok::Punct(",") if depth == 0 => n += 1,
            _ => {}
        }
        i += 1;
    }
    if any {
        n + 1
    } else {
        0
    }
}

fn check_count(
    c: &Cursor,
    mnemonic: &str,
    col: usize,
    want: usize,
    expected: &'static str,
) -> Result<(), AsmError> {
    let found = operand_count(c);
    if found == want {
        Ok(())
    } else {
        Err(c.err_at(
            col,
            AsmErrorKind::OperandCount {
                mnemonic: mnemonic.to_string(),
                expected,
                found,
            },
        ))
    }
}

/// `%rN`.
fn reg(c: &mut Cursor) -> Result<Reg, AsmError> {
    let col = c.col();
    if !c.eat_punct("%") {
        return Err(c.expected("a register (%r0..%r10)"));
    }
    let (name, _) = c.ident("a register name after `%`")?;
    let bad = || {
        c.err_at(
            col,
            AsmErrorKind::BadRegister {
                name: format!("%{name}"),
            },
        )
    };
    let digits = name.strip_prefix('r').ok_or_else(bad)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse::<u8>().ok().and_then(Reg::new).ok_or_else(bad)
}

fn comma(c: &mut Cursor) -> Result<(), AsmError> {
    c.expect_punct(",")
}

/// `[%rN]`, `[%rN+off]`, `[%rN-off]`.
fn mem(c: &mut Cursor) -> Result<(Reg, i16), AsmError> {
    if !c.eat_punct("[") {
        return Err(c.expected("a memory operand `[%rN+offset]`"));
    }
    let r = reg(c)?;
    let off = if c.is_punct("+") || c.is_punct("-") {
        let (v, hex, col) = c.signed_num("an offset")?;
        c.check_off16(v, hex && v >= 0, col)?
    } else {
        0
    };
    c.expect_punct("]")?;
    Ok((r, off))
}

fn src_operand(c: &mut Cursor) -> Result<Src, AsmError> {
    if c.is_punct("%") {
        Ok(Src::Reg(reg(c)?))
    } else {
        Ok(Src::Imm(c.imm32("a register or an immediate")?))
    }
}

/// `+N`, `-N`, `N` (relative slots) or a label.
fn target(c: &mut Cursor, kind: FixKind) -> Result<(i128, Option<Fixup>, usize), AsmError> {
    let col = c.col();
    if let Some(Tok::Ident(name)) = c.peek() {
        c.bump();
        return Ok((
            0,
            Some(Fixup {
                label: name.clone(),
                col,
                kind,
            }),
            col,
        ));
    }
    let (v, _, col) = c.signed_num("a jump offset (+N, -N) or a label")?;
    Ok((v, None, col))
}

fn off16(c: &Cursor, v: i128, col: usize) -> Result<i16, AsmError> {
    i16::try_from(v).map_err(|_| c.err_at(col, AsmErrorKind::OffsetOutOfRange { value: v }))
}

fn imm32_rel(c: &Cursor, v: i128, col: usize) -> Result<i32, AsmError> {
    i32::try_from(v).map_err(|_| {
        c.err_at(
            col,
            AsmErrorKind::ImmOutOfRange {
                value: v,
                range: "signed 32-bit",
            },
        )
    })
}

/// Parses one instruction line (labels already removed).
pub(crate) fn parse_line(c: &mut Cursor) -> Result<Parsed, AsmError> {
    let (word, wcol) = c.ident("a mnemonic")?;
    let m = word.to_ascii_lowercase();
    let p = match m.as_str() {
        "lock" => lock(c, wcol)?,
        "call" => call(c)?,
        _ => {
            let form = lookup(&m).ok_or_else(|| {
                c.err_at(
                    wcol,
                    AsmErrorKind::UnknownMnemonic {
                        mnemonic: word.to_string(),
                    },
                )
            })?;
            insn(c, &m, wcol, form)?
        }
    };
    c.expect_end()?;
    Ok(p)
}

fn insn(c: &mut Cursor, m: &str, wcol: usize, form: Form) -> Result<Parsed, AsmError> {
    let count = |c: &Cursor, n, what| check_count(c, m, wcol, n, what);
    let done = |i| Ok(Parsed::done(i));
    match form {
        Form::Alu(op, width) => {
            count(c, 2, "2 (destination, source)")?;
            let dst = reg(c)?;
            comma(c)?;
            let src = src_operand(c)?;
            done(Insn::Alu {
                width,
                op,
                dst,
                src,
            })
        }
        Form::Neg(width) => {
            count(c, 1, "1 (register)")?;
            done(Insn::Neg {
                width,
                dst: reg(c)?,
            })
        }
        Form::MovSx(width, bits) => {
            count(c, 2, "2 (destination, source)")?;
            let dst = reg(c)?;
            comma(c)?;
            let src = reg(c)?;
            done(Insn::MovSx {
                width,
                dst,
                src,
                bits,
            })
        }
        Form::End(order, bits) => {
            count(c, 1, "1 (register)")?;
            done(Insn::End {
                order,
                dst: reg(c)?,
                bits,
            })
        }
        Form::Ldx(size, sx) => {
            count(c, 2, "2 (destination, [source+offset])")?;
            let dst = reg(c)?;
            comma(c)?;
            let (src, off) = mem(c)?;
            done(if sx {
                Insn::LdxSx {
                    size,
                    dst,
                    src,
                    off,
                }
            } else {
                Insn::Ldx {
                    size,
                    dst,
                    src,
                    off,
                }
            })
        }
        Form::St(size) => {
            count(c, 2, "2 ([destination+offset], immediate)")?;
            let (dst, off) = mem(c)?;
            comma(c)?;
            let imm = c.imm32("an immediate")?;
            done(Insn::St {
                size,
                dst,
                off,
                imm,
            })
        }
        Form::Stx(size) => {
            count(c, 2, "2 ([destination+offset], source)")?;
            let (dst, off) = mem(c)?;
            comma(c)?;
            let src = reg(c)?;
            done(Insn::Stx {
                size,
                dst,
                src,
                off,
            })
        }
        Form::Lddw => {
            count(c, 2, "2 (destination, 64-bit immediate)")?;
            let dst = reg(c)?;
            comma(c)?;
            if let Some(p) = pseudo_operand(c, dst)? {
                return Ok(p);
            }
            let v = c.imm64("a 64-bit immediate")?;
            done(Insn::ld_imm64(dst, v))
        }
        Form::LdAbs(size) => {
            count(c, 1, "1 (offset)")?;
            done(Insn::LdAbs {
                size,
                imm: c.imm32("an offset")?,
            })
        }
        Form::LdInd(size) => {
            count(c, 2, "2 (register, offset)")?;
            let src = reg(c)?;
            comma(c)?;
            done(Insn::LdInd {
                size,
                src,
                imm: c.imm32("an offset")?,
            })
        }
        Form::Ja => {
            count(c, 1, "1 (target)")?;
            let (v, fixup, col) = target(c, FixKind::JumpOff)?;
            Ok(Parsed {
                insn: Insn::Ja {
                    off: off16(c, v, col)?,
                },
                fixup,
            })
        }
        Form::Ja32 => {
            count(c, 1, "1 (target)")?;
            let (v, fixup, col) = target(c, FixKind::Imm)?;
            Ok(Parsed {
                insn: Insn::Gotol {
                    imm: imm32_rel(c, v, col)?,
                },
                fixup,
            })
        }
        Form::Jmp(cond, width) => {
            count(c, 3, "3 (register, register or immediate, target)")?;
            let dst = reg(c)?;
            comma(c)?;
            let src = src_operand(c)?;
            comma(c)?;
            let (v, fixup, col) = target(c, FixKind::JumpOff)?;
            Ok(Parsed {
                insn: Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off: off16(c, v, col)?,
                },
                fixup,
            })
        }
        Form::Exit => {
            count(c, 0, "none")?;
            done(Insn::Exit)
        }
    }
}

/// `lock [fetch] {add,or,and,xor}[32] [dst+off], src`, `lock xchg[32] ...`,
/// `lock cmpxchg[32] ...`.
fn lock(c: &mut Cursor, wcol: usize) -> Result<Parsed, AsmError> {
    let fetch = c.eat_ident("fetch");
    let (opname, ocol) = match c.peek() {
        Some(Tok::Ident(_)) => c.ident("an atomic operation")?,
        _ => {
            return Err(c.err_at(
                wcol,
                AsmErrorKind::OperandCount {
                    mnemonic: "lock".into(),
                    expected: "an operation and 2 operands ([destination+offset], source)",
                    found: 0,
                },
            ))
        }
    };
    let (base, width) = width_suffix(opname);
    let (op, fetch) = match base {
        "add" => (AtomicOp::Add, fetch),
        "or" => (AtomicOp::Or, fetch),
        "and" => (AtomicOp::And, fetch),
        "xor" => (AtomicOp::Xor, fetch),
        "xchg" => (AtomicOp::Xchg, true),
        "cmpxchg" => (AtomicOp::Cmpxchg, true),
        _ => {
            return Err(c.err_at(
                ocol,
                AsmErrorKind::UnknownMnemonic {
                    mnemonic: format!("lock {opname}"),
                },
            ))
        }
    };
    check_count(c, "lock", wcol, 2, "2 ([destination+offset], source)")?;
    let (dst, off) = mem(c)?;
    comma(c)?;
    let src = reg(c)?;
    Ok(Parsed::done(Insn::Atomic {
        size: match width {
            Width::W32 => Size::W,
            Width::W64 => Size::DW,
        },
        op,
        fetch,
        dst,
        src,
        off,
    }))
}

/// `call N` (helper), `call local label|±N`, `call runtime N` (kfunc), `call %rN` (callx).
fn call(c: &mut Cursor) -> Result<Parsed, AsmError> {
    if c.is_punct("%") {
        return Ok(Parsed::done(Insn::Callx { reg: reg(c)? }));
    }
    if c.eat_ident("local") {
        let (v, fixup, col) = target(c, FixKind::Imm)?;
        return Ok(Parsed {
            insn: Insn::Call(CallTarget::Local(imm32_rel(c, v, col)?)),
            fixup,
        });
    }
    if c.eat_ident("runtime") {
        return Ok(Parsed::done(Insn::Call(CallTarget::Kfunc(
            c.imm32("a kfunc id")?,
        ))));
    }
    if let Some(Tok::Ident(name)) = c.peek() {
        // A helper by name (the LLVM syntax's `call bpf_map_lookup_elem` reads the same).
        let col = c.col();
        let name = name.clone();
        c.bump();
        return Ok(Parsed {
            insn: Insn::Call(CallTarget::Local(0)),
            fixup: Some(Fixup {
                label: name,
                col,
                kind: FixKind::CallOrHelper,
            }),
        });
    }
    Ok(Parsed::done(Insn::Call(CallTarget::Helper(
        c.imm32("a helper id")?,
    ))))
}
