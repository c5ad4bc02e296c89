//! Parser for the LLVM (`llvm-objdump`) syntax: `r0 = 1`, `if w1 s< -1 goto -5`,
//! `*(u64 *)(r10 - 0x8) = r1`, `r0 = atomic_fetch_add((u64 *)(r1 + 0), r0)`...

use super::lexer::{Cursor, Tok};
use super::{AsmError, AsmErrorKind, FixKind, Fixup, Parsed};
use crate::isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, LdPseudo, Reg, Size, Src, Width,
};

/// A register operand with the width its name implies (`rN` 64-bit, `wN` 32-bit).
#[derive(Clone, Copy)]
struct RegOp {
    reg: Reg,
    width: Width,
    col: usize,
}

fn reg_name(r: RegOp) -> String {
    match r.width {
        Width::W64 => format!("r{}", r.reg.num()),
        Width::W32 => format!("w{}", r.reg.num()),
    }
}

/// Parses `rN` / `wN` if the next token is one.
fn try_reg(c: &mut Cursor) -> Result<Option<RegOp>, AsmError> {
    let col = c.col();
    let Some(Tok::Ident(s)) = c.peek() else {
        return Ok(None);
    };
    let Some(width) = (match s.as_bytes().first() {
        Some(b'r') => Some(Width::W64),
        Some(b'w') => Some(Width::W32),
        _ => None,
    }) else {
        return Ok(None);
    };
    let digits = &s[1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let reg = digits
        .parse::<u8>()
        .ok()
        .and_then(Reg::new)
        .ok_or_else(|| c.err(AsmErrorKind::BadRegister { name: s.clone() }))?;
    c.bump();
    Ok(Some(RegOp { reg, width, col }))
}

fn reg(c: &mut Cursor) -> Result<RegOp, AsmError> {
    match try_reg(c)? {
        Some(r) => Ok(r),
        None => Err(c.expected("a register")),
    }
}

/// Requires `r` to have the given width.
fn want_width(c: &Cursor, r: RegOp, width: Width) -> Result<Reg, AsmError> {
    if r.width == width {
        Ok(r.reg)
    } else {
        Err(c.err_at(
            r.col,
            AsmErrorKind::RegisterWidth {
                name: reg_name(r),
                expected: match width {
                    Width::W64 => "64-bit r",
                    Width::W32 => "32-bit w",
                },
            },
        ))
    }
}

/// `u8`..`u64` (or `s8`..`s32` for sign-extending loads).
fn size_name(c: &mut Cursor) -> Result<(Size, bool), AsmError> {
    let (name, _) = c.ident("a type (u8, u16, u32, u64, s8, s16, s32)")?;
    Ok(match name {
        "u8" => (Size::B, false),
        "u16" => (Size::H, false),
        "u32" => (Size::W, false),
        "u64" => (Size::DW, false),
        "s8" => (Size::B, true),
        "s16" => (Size::H, true),
        "s32" => (Size::W, true),
        _ => {
            return Err(AsmError {
                line: c.line,
                column: Some(c.col()),
                kind: AsmErrorKind::Expected {
                    expected: "a type (u8, u16, u32, u64, s8, s16, s32)".into(),
                    found: format!("`{name}`"),
                },
            })
        }
    })
}

/// `*(TYPE *)` — returns the size and whether the type is signed.
fn deref_type(c: &mut Cursor) -> Result<(Size, bool), AsmError> {
    c.expect_punct("*")?;
    c.expect_punct("(")?;
    let t = size_name(c)?;
    c.expect_punct("*")?;
    c.expect_punct(")")?;
    Ok(t)
}

/// `REG + OFF`, `REG - OFF` or `REG` (without parentheses).
fn base_off(c: &mut Cursor) -> Result<(Reg, i16), AsmError> {
    let r = reg(c)?;
    let base = want_width(c, r, Width::W64)?;
    let off = if c.is_punct("+") || c.is_punct("-") {
        let (v, hex, col) = c.signed_num("an offset")?;
        c.check_off16(v, hex && v >= 0, col)?
    } else {
        0
    };
    Ok((base, off))
}

/// `(REG + OFF)`.
fn mem(c: &mut Cursor) -> Result<(Reg, i16), AsmError> {
    c.expect_punct("(")?;
    let m = base_off(c)?;
    c.expect_punct(")")?;
    Ok(m)
}

/// A jump target: `+N`, `-N` (slots after the next instruction) or a label, optionally
/// followed by llvm-objdump's `<sym+0x10>` annotation.
fn target(c: &mut Cursor, kind: FixKind) -> Result<(i64, Option<Fixup>), AsmError> {
    let r = match c.peek() {
        Some(Tok::Ident(name)) => {
            let col = c.col();
            c.bump();
            (
                0,
                Some(Fixup {
                    label: name.clone(),
                    col,
                    kind,
                }),
            )
        }
        _ => {
            let (v, _, col) = c.signed_num("a jump offset (+N, -N) or a label")?;
            let v = i64::try_from(v)
                .map_err(|_| c.err_at(col, AsmErrorKind::OffsetOutOfRange { value: v }))?;
            (v, None)
        }
    };
    if c.eat_punct("<") {
        // llvm-objdump's target annotation: ignore up to the closing `>`.
        while !c.at_end() && !c.eat_punct(">") {
            c.bump();
        }
    }
    Ok(r)
}

fn jump_off(c: &Cursor, v: i64) -> Result<i16, AsmError> {
    i16::try_from(v).map_err(|_| c.err(AsmErrorKind::OffsetOutOfRange { value: v as i128 }))
}

fn jump_imm(c: &Cursor, v: i64) -> Result<i32, AsmError> {
    i32::try_from(v).map_err(|_| {
        c.err(AsmErrorKind::ImmOutOfRange {
            value: v as i128,
            range: "signed 32-bit",
        })
    })
}

/// A 32-bit field written as an unsigned number (map ids, fds, BTF ids); negative values
/// are accepted as their 32-bit pattern.
fn u32_field(c: &mut Cursor, what: &str) -> Result<i32, AsmError> {
    let (v, _, col) = c.signed_num(what)?;
    if v < i32::MIN as i128 || v > u32::MAX as i128 {
        return Err(c.err_at(
            col,
            AsmErrorKind::ImmOutOfRange {
                value: v,
                range: "32-bit",
            },
        ));
    }
    Ok(v as u32 as i32)
}

/// The pseudo `lddw` operands shared by both syntaxes (the bpftool spellings):
/// `map[fd:N]`, `map[fd:N][0]+M`, `map[idx:N]`, `map[idx:N]+M`, `btf_id[N]`,
/// `subprog[+N]` / `subprog[label]`, and the general `pseudo(SRC, IMM64)`.
/// Returns `None` if the next token starts none of these.
pub(crate) fn pseudo_operand(c: &mut Cursor, dst: Reg) -> Result<Option<Parsed>, AsmError> {
    let Some(Tok::Ident(word)) = c.peek() else {
        return Ok(None);
    };
    let ld = |pseudo, imm, imm2| Insn::LdImm64 {
        dst,
        pseudo,
        imm,
        imm2,
    };
    match word.as_str() {
        "map" => {
            c.bump();
            c.expect_punct("[")?;
            let (kind, kcol) = c.ident("`fd`, `id` or `idx`")?;
            let by_idx = match kind {
                "fd" | "id" => false,
                "idx" => true,
                other => {
                    return Err(c.err_at(
                        kcol,
                        AsmErrorKind::Expected {
                            expected: "`fd`, `id` or `idx`".into(),
                            found: format!("`{other}`"),
                        },
                    ))
                }
            };
            c.expect_punct(":")?;
            let imm = u32_field(c, "a map number")?;
            c.expect_punct("]")?;
            let value_off = if by_idx {
                if c.eat_punct("+") {
                    Some(u32_field(c, "a value offset")?)
                } else {
                    None
                }
            } else if c.eat_punct("[") {
                let (z, _, zcol) = c.signed_num("`0`")?;
                if z != 0 {
                    return Err(c.err_at(
                        zcol,
                        AsmErrorKind::Expected {
                            expected: "`0`".into(),
                            found: format!("`{z}`"),
                        },
                    ));
                }
                c.expect_punct("]")?;
                c.expect_punct("+")?;
                Some(u32_field(c, "a value offset")?)
            } else {
                None
            };
            let insn = match (by_idx, value_off) {
                (false, None) => ld(LdPseudo::MapFd, imm, 0),
                (false, Some(o)) => ld(LdPseudo::MapValue, imm, o),
                (true, None) => ld(LdPseudo::MapIdx, imm, 0),
                (true, Some(o)) => ld(LdPseudo::MapIdxValue, imm, o),
            };
            Ok(Some(Parsed::done(insn)))
        }
        "btf_id" => {
            c.bump();
            c.expect_punct("[")?;
            let imm = u32_field(c, "a BTF id")?;
            c.expect_punct("]")?;
            Ok(Some(Parsed::done(ld(LdPseudo::BtfId, imm, 0))))
        }
        "subprog" => {
            c.bump();
            c.expect_punct("[")?;
            let (rel, fixup) = target(c, FixKind::Imm)?;
            c.expect_punct("]")?;
            let imm = jump_imm(c, rel)?;
            Ok(Some(Parsed {
                insn: ld(LdPseudo::Func, imm, 0),
                fixup,
            }))
        }
        "pseudo" => {
            c.bump();
            c.expect_punct("(")?;
            let (src, _, scol) = c.signed_num("a pseudo kind 0..6")?;
            let pseudo = u8::try_from(src)
                .ok()
                .and_then(LdPseudo::from_src)
                .ok_or_else(|| {
                    c.err_at(
                        scol,
                        AsmErrorKind::ImmOutOfRange {
                            value: src,
                            range: "pseudo kind 0..6",
                        },
                    )
                })?;
            c.expect_punct(",")?;
            let v = c.imm64("a 64-bit immediate")?;
            c.expect_punct(")")?;
            Ok(Some(Parsed::done(ld(
                pseudo,
                v as u32 as i32,
                (v >> 32) as u32 as i32,
            ))))
        }
        _ => Ok(None),
    }
}

fn alu_op(p: &str) -> Option<AluOp> {
    Some(match p {
        "+=" => AluOp::Add,
        "-=" => AluOp::Sub,
        "*=" => AluOp::Mul,
        "/=" => AluOp::Div,
        "s/=" => AluOp::Sdiv,
        "|=" => AluOp::Or,
        "&=" => AluOp::And,
        "<<=" => AluOp::Lsh,
        ">>=" => AluOp::Rsh,
        "%=" => AluOp::Mod,
        "s%=" => AluOp::Smod,
        "^=" => AluOp::Xor,
        "=" => AluOp::Mov,
        "s>>=" => AluOp::Arsh,
        _ => return None,
    })
}

fn jmp_cond(p: &str) -> Option<JmpCond> {
    Some(match p {
        "==" => JmpCond::Eq,
        ">" => JmpCond::Gt,
        ">=" => JmpCond::Ge,
        "&" => JmpCond::Set,
        "!=" => JmpCond::Ne,
        "s>" => JmpCond::Sgt,
        "s>=" => JmpCond::Sge,
        "<" => JmpCond::Lt,
        "<=" => JmpCond::Le,
        "s<" => JmpCond::Slt,
        "s<=" => JmpCond::Sle,
        _ => return None,
    })
}

/// `REG` or an immediate, as the second operand of arithmetic and jumps of `width`.
fn src_operand(c: &mut Cursor, width: Width) -> Result<Src, AsmError> {
    match try_reg(c)? {
        Some(r) => Ok(Src::Reg(want_width(c, r, width)?)),
        None => Ok(Src::Imm(c.imm32_llvm("a register or an immediate")?)),
    }
}

/// Atomic operand width from a memory size; only W and DW exist.
fn atomic_size(c: &Cursor, size: Size, col: usize) -> Result<Width, AsmError> {
    match size {
        Size::W => Ok(Width::W32),
        Size::DW => Ok(Width::W64),
        Size::B | Size::H => Err(c.err_at(
            col,
            AsmErrorKind::BadWidth {
                what: "an atomic operation (u32 or u64)",
                bits: size.bytes() as u64 * 8,
            },
        )),
    }
}

/// A register whose letter may be `w` only for sub-64-bit memory sizes.
fn data_reg(c: &mut Cursor, size: Size) -> Result<Reg, AsmError> {
    let r = reg(c)?;
    if size == Size::DW {
        want_width(c, r, Width::W64)
    } else {
        Ok(r.reg)
    }
}

/// Parses one instruction line (labels already removed).
pub(crate) fn parse_line(c: &mut Cursor) -> Result<Parsed, AsmError> {
    let p = parse_insn(c)?;
    c.expect_end()?;
    Ok(p)
}

fn parse_insn(c: &mut Cursor) -> Result<Parsed, AsmError> {
    if c.is_punct("*") {
        return store(c);
    }
    if let Some(dst) = try_reg(c)? {
        return assign(c, dst);
    }
    let (word, wcol) = c.ident("an instruction")?;
    match word {
        "exit" => Ok(Parsed::done(Insn::Exit)),
        "goto" => {
            let (rel, fixup) = target(c, FixKind::JumpOff)?;
            Ok(Parsed {
                insn: Insn::Ja {
                    off: jump_off(c, rel)?,
                },
                fixup,
            })
        }
        "gotol" => {
            let (rel, fixup) = target(c, FixKind::Imm)?;
            Ok(Parsed {
                insn: Insn::Gotol {
                    imm: jump_imm(c, rel)?,
                },
                fixup,
            })
        }
        "if" => {
            let d = reg(c)?;
            let ccol = c.col();
            let found = c.found();
            let cond = match c.bump() {
                Some(Tok::Punct(p)) => jmp_cond(p),
                _ => None,
            }
            .ok_or_else(|| {
                c.err_at(
                    ccol,
                    AsmErrorKind::Expected {
                        expected: "a comparison (==, !=, >, >=, <, <=, &, s>, s>=, s<, s<=)".into(),
                        found,
                    },
                )
            })?;
            let src = src_operand(c, d.width)?;
            c.expect_ident("goto")?;
            let (rel, fixup) = target(c, FixKind::JumpOff)?;
            Ok(Parsed {
                insn: Insn::Jmp {
                    width: d.width,
                    cond,
                    dst: d.reg,
                    src,
                    off: jump_off(c, rel)?,
                },
                fixup,
            })
        }
        "call" => call(c),
        "callx" => {
            let r = reg(c)?;
            Ok(Parsed::done(Insn::Callx {
                reg: want_width(c, r, Width::W64)?,
            }))
        }
        "lock" => {
            if c.at_end() {
                return Err(c.err_at(
                    wcol,
                    AsmErrorKind::OperandCount {
                        mnemonic: "lock".into(),
                        expected: "a memory operand, an operator and a register",
                        found: 0,
                    },
                ));
            }
            let tcol = c.col();
            let (size, signed) = deref_type(c)?;
            if signed {
                return Err(c.err_at(
                    tcol,
                    AsmErrorKind::Expected {
                        expected: "u32 or u64".into(),
                        found: "a signed type".into(),
                    },
                ));
            }
            let width = atomic_size(c, size, tcol)?;
            let (dst, off) = mem(c)?;
            let ocol = c.col();
            let found = c.found();
            let op = match c.bump() {
                Some(Tok::Punct("+=")) => AtomicOp::Add,
                Some(Tok::Punct("|=")) => AtomicOp::Or,
                Some(Tok::Punct("&=")) => AtomicOp::And,
                Some(Tok::Punct("^=")) => AtomicOp::Xor,
                _ => {
                    return Err(c.err_at(
                        ocol,
                        AsmErrorKind::Expected {
                            expected: "+=, |=, &= or ^=".into(),
                            found,
                        },
                    ))
                }
            };
            let r = reg(c)?;
            let src = if width == Width::W64 {
                want_width(c, r, Width::W64)?
            } else {
                r.reg
            };
            Ok(Parsed::done(Insn::Atomic {
                size,
                op,
                fetch: false,
                dst,
                src,
                off,
            }))
        }
        "ld_pseudo" => {
            let d = reg(c)?;
            let dst = want_width(c, d, Width::W64)?;
            c.expect_punct(",")?;
            let (src, _, scol) = c.signed_num("a pseudo kind 0..6")?;
            let pseudo = u8::try_from(src)
                .ok()
                .and_then(LdPseudo::from_src)
                .ok_or_else(|| {
                    c.err_at(
                        scol,
                        AsmErrorKind::ImmOutOfRange {
                            value: src,
                            range: "pseudo kind 0..6",
                        },
                    )
                })?;
            c.expect_punct(",")?;
            let v = c.imm64("a 64-bit immediate")?;
            Ok(Parsed::done(Insn::LdImm64 {
                dst,
                pseudo,
                imm: v as u32 as i32,
                imm2: (v >> 32) as u32 as i32,
            }))
        }
        other => Err(c.err_at(
            wcol,
            AsmErrorKind::UnknownMnemonic {
                mnemonic: other.to_string(),
            },
        )),
    }
}

/// `call N` (helper id, unsigned), `call +N` / `call -N` (local, relative), `call label`
/// (local, or a helper by name), `call kfunc N`.
fn call(c: &mut Cursor) -> Result<Parsed, AsmError> {
    if c.eat_ident("kfunc") {
        let id = u32_field(c, "a kfunc BTF id")?;
        return Ok(Parsed::done(Insn::Call(CallTarget::Kfunc(id))));
    }
    match c.peek() {
        Some(Tok::Punct("+" | "-")) => {
            let (rel, _) = target(c, FixKind::Imm)?;
            Ok(Parsed::done(Insn::Call(CallTarget::Local(jump_imm(
                c, rel,
            )?))))
        }
        Some(Tok::Num { .. }) => {
            let id = u32_field(c, "a helper id")?;
            Ok(Parsed::done(Insn::Call(CallTarget::Helper(id))))
        }
        _ => {
            let (name, col) = c.ident("a helper id, a relative offset or a function name")?;
            Ok(Parsed {
                insn: Insn::Call(CallTarget::Local(0)),
                fixup: Some(Fixup {
                    label: name.to_string(),
                    col,
                    kind: FixKind::CallOrHelper,
                }),
            })
        }
    }
}

/// `*(TYPE *)(REG + OFF) = REG|IMM`.
fn store(c: &mut Cursor) -> Result<Parsed, AsmError> {
    let tcol = c.col();
    let (size, signed) = deref_type(c)?;
    if signed {
        return Err(c.err_at(
            tcol,
            AsmErrorKind::Expected {
                expected: "an unsigned type for a store".into(),
                found: "a signed type".into(),
            },
        ));
    }
    let (dst, off) = mem(c)?;
    c.expect_punct("=")?;
    if try_reg_peek(c) {
        let src = data_reg(c, size)?;
        return Ok(Parsed::done(Insn::Stx {
            size,
            dst,
            src,
            off,
        }));
    }
    let imm = c.imm32_llvm("a register or an immediate")?;
    Ok(Parsed::done(Insn::St {
        size,
        dst,
        off,
        imm,
    }))
}

/// Whether the next token is a register name.
fn try_reg_peek(c: &Cursor) -> bool {
    matches!(c.peek(), Some(Tok::Ident(s))
        if s.len() > 1 && (s.starts_with('r') || s.starts_with('w'))
            && s[1..].bytes().all(|b| b.is_ascii_digit()))
}

/// Everything that starts with a destination register.
fn assign(c: &mut Cursor, d: RegOp) -> Result<Parsed, AsmError> {
    let ocol = c.col();
    let found = c.found();
    let op = match c.bump() {
        Some(Tok::Punct(p)) => alu_op(p),
        _ => None,
    }
    .ok_or_else(|| {
        c.err_at(
            ocol,
            AsmErrorKind::Expected {
                expected: "an assignment operator (=, +=, -=, ...)".into(),
                found,
            },
        )
    })?;
    let width = d.width;
    if op != AluOp::Mov {
        let src = src_operand(c, width)?;
        return Ok(Parsed::done(Insn::Alu {
            width,
            op,
            dst: d.reg,
            src,
        }));
    }
    // `dst = ...`
    if c.is_punct("-") && matches!(c.peek_at(1), Some(Tok::Ident(_))) {
        c.bump();
        let s = reg(c)?;
        let s = want_width(c, s, width)?;
        if s != d.reg {
            return Err(c.expected(&format!("`{}` (negation is in place)", reg_name(d))));
        }
        return Ok(Parsed::done(Insn::Neg { width, dst: d.reg }));
    }
    if c.is_punct("(") {
        // Sign-extending move `(s8)src`.
        c.bump();
        let (bits, bcol) = c.ident("s8, s16 or s32")?;
        let bits: u8 = match bits {
            "s8" => 8,
            "s16" => 16,
            "s32" if width == Width::W64 => 32,
            other => {
                return Err(c.err_at(
                    bcol,
                    AsmErrorKind::Expected {
                        expected: "s8, s16 (or s32 for 64-bit)".into(),
                        found: format!("`{other}`"),
                    },
                ))
            }
        };
        c.expect_punct(")")?;
        let s = reg(c)?;
        return Ok(Parsed::done(Insn::MovSx {
            width,
            dst: d.reg,
            src: want_width(c, s, width)?,
            bits,
        }));
    }
    if c.is_punct("*") {
        return load(c, d);
    }
    if matches!(c.peek(), Some(Tok::Ident(w)) if matches!(w.as_str(), "map" | "btf_id" | "subprog" | "pseudo"))
    {
        if let Some(p) = pseudo_operand(c, want_width(c, d, Width::W64)?)? {
            return Ok(p);
        }
    }
    if let Some(Tok::Ident(w)) = c.peek() {
        let w = w.clone();
        if let Some(p) = byte_swap(c, d, &w)? {
            return Ok(p);
        }
        if let Some(p) = atomic_call(c, d, &w)? {
            return Ok(p);
        }
    }
    if let Some(s) = try_reg(c)? {
        return Ok(Parsed::done(Insn::Alu {
            width,
            op: AluOp::Mov,
            dst: d.reg,
            src: Src::Reg(want_width(c, s, width)?),
        }));
    }
    // An immediate: `ll` makes it the two-slot 64-bit load.
    let (v, _, col) = c.signed_num("a register, an immediate or an expression")?;
    if c.eat_ident("ll") {
        let dst = want_width(c, d, Width::W64)?;
        if v < i64::MIN as i128 || v > u64::MAX as i128 {
            return Err(c.err_at(
                col,
                AsmErrorKind::ImmOutOfRange {
                    value: v,
                    range: "64-bit",
                },
            ));
        }
        return Ok(Parsed::done(Insn::ld_imm64(dst, v as u64)));
    }
    if v < i32::MIN as i128 || v > u32::MAX as i128 {
        return Err(c.err_at(
            col,
            AsmErrorKind::ImmOutOfRange {
                value: v,
                range: "32-bit (add `ll` for a 64-bit immediate)",
            },
        ));
    }
    Ok(Parsed::done(Insn::Alu {
        width,
        op: AluOp::Mov,
        dst: d.reg,
        src: Src::Imm(v as u32 as i32),
    }))
}

/// `dst = be16 dst`, `le32`, `bswap64`...
fn byte_swap(c: &mut Cursor, d: RegOp, w: &str) -> Result<Option<Parsed>, AsmError> {
    let (order, bits) = if let Some(b) = w.strip_prefix("bswap") {
        (ByteOrder::Swap, b)
    } else if let Some(b) = w.strip_prefix("be") {
        (ByteOrder::ToBe, b)
    } else if let Some(b) = w.strip_prefix("le") {
        (ByteOrder::ToLe, b)
    } else {
        return Ok(None);
    };
    let bits: u8 = match bits {
        "16" => 16,
        "32" => 32,
        "64" => 64,
        _ => return Ok(None),
    };
    c.bump();
    let s = reg(c)?;
    if s.reg != d.reg {
        return Err(c.err_at(
            s.col,
            AsmErrorKind::Expected {
                expected: format!("`{}` (byte swaps are in place)", reg_name(d)),
                found: format!("`{}`", reg_name(s)),
            },
        ));
    }
    Ok(Some(Parsed::done(Insn::End {
        order,
        dst: d.reg,
        bits,
    })))
}

/// `dst = atomic_fetch_OP((TYPE *)(REG + OFF), dst)`, `xchg_64(REG + OFF, dst)`,
/// `cmpxchg_64(REG + OFF, r0, src)` and the 32-bit forms.
fn atomic_call(c: &mut Cursor, d: RegOp, w: &str) -> Result<Option<Parsed>, AsmError> {
    let fetch_op = match w {
        "atomic_fetch_add" => Some(AtomicOp::Add),
        "atomic_fetch_or" => Some(AtomicOp::Or),
        "atomic_fetch_and" => Some(AtomicOp::And),
        "atomic_fetch_xor" => Some(AtomicOp::Xor),
        _ => None,
    };
    if let Some(op) = fetch_op {
        c.bump();
        c.expect_punct("(")?;
        c.expect_punct("(")?;
        let tcol = c.col();
        let (size, _) = size_name(c)?;
        let width = atomic_size(c, size, tcol)?;
        c.expect_punct("*")?;
        c.expect_punct(")")?;
        let (dst, off) = mem(c)?;
        c.expect_punct(",")?;
        let s = reg(c)?;
        c.expect_punct(")")?;
        let src = want_width(c, d, width)?;
        if s.reg != src {
            return Err(c.err_at(
                s.col,
                AsmErrorKind::Expected {
                    expected: format!("`{}` (the fetched value replaces it)", reg_name(d)),
                    found: format!("`{}`", reg_name(s)),
                },
            ));
        }
        return Ok(Some(Parsed::done(Insn::Atomic {
            size,
            op,
            fetch: true,
            dst,
            src,
            off,
        })));
    }
    let (op, width) = match w {
        "xchg_64" => (AtomicOp::Xchg, Width::W64),
        "xchg32_32" => (AtomicOp::Xchg, Width::W32),
        "cmpxchg_64" => (AtomicOp::Cmpxchg, Width::W64),
        "cmpxchg32_32" => (AtomicOp::Cmpxchg, Width::W32),
        _ => return Ok(None),
    };
    c.bump();
    let size = match width {
        Width::W64 => Size::DW,
        Width::W32 => Size::W,
    };
    c.expect_punct("(")?;
    let (dst, off) = base_off(c)?;
    c.expect_punct(",")?;
    let first = reg(c)?;
    let src = if op == AtomicOp::Cmpxchg {
        // `r0 = cmpxchg_64(r1 + 0, r0, src)`: the old value and comparand are r0.
        if want_width(c, d, width)? != Reg::R0 {
            return Err(c.err_at(
                d.col,
                AsmErrorKind::Expected {
                    expected: "r0 / w0 as the destination of cmpxchg".into(),
                    found: format!("`{}`", reg_name(d)),
                },
            ));
        }
        if want_width(c, first, width)? != Reg::R0 {
            return Err(c.err_at(
                first.col,
                AsmErrorKind::Expected {
                    expected: "r0 / w0 as the comparand of cmpxchg".into(),
                    found: format!("`{}`", reg_name(first)),
                },
            ));
        }
        c.expect_punct(",")?;
        let s = reg(c)?;
        want_width(c, s, width)?
    } else {
        let s = want_width(c, first, width)?;
        if s != want_width(c, d, width)? {
            return Err(c.err_at(
                first.col,
                AsmErrorKind::Expected {
                    expected: format!("`{}` (xchg writes the old value back)", reg_name(d)),
                    found: format!("`{}`", reg_name(first)),
                },
            ));
        }
        s
    };
    c.expect_punct(")")?;
    Ok(Some(Parsed::done(Insn::Atomic {
        size,
        op,
        fetch: true,
        dst,
        src,
        off,
    })))
}

/// `dst = *(TYPE *)(REG + OFF)` and the packet loads `r0 = *(TYPE *)skb[...]`.
fn load(c: &mut Cursor, d: RegOp) -> Result<Parsed, AsmError> {
    let (size, signed) = deref_type(c)?;
    if c.eat_ident("skb") {
        // Legacy packet loads: `skb[imm]` (LD_ABS) or `skb[REG + imm]` (LD_IND).
        if d.reg != Reg::R0 || signed || size == Size::DW {
            return Err(c.err_at(
                d.col,
                AsmErrorKind::Expected {
                    expected: "`r0 = *(u8|u16|u32 *)skb[...]`".into(),
                    found: "another form".into(),
                },
            ));
        }
        c.expect_punct("[")?;
        let insn = if try_reg_peek(c) {
            let s = reg(c)?;
            let src = want_width(c, s, Width::W64)?;
            let imm = if c.is_punct("+") || c.is_punct("-") {
                c.imm32_llvm("an offset")?
            } else {
                0
            };
            Insn::LdInd { size, src, imm }
        } else {
            Insn::LdAbs {
                size,
                imm: c.imm32_llvm("an offset")?,
            }
        };
        c.expect_punct("]")?;
        return Ok(Parsed::done(insn));
    }
    let (src, off) = mem(c)?;
    if signed {
        if size == Size::DW {
            return Err(c.expected("s8, s16 or s32"));
        }
        let dst = want_width(c, d, Width::W64)?;
        return Ok(Parsed::done(Insn::LdxSx {
            size,
            dst,
            src,
            off,
        }));
    }
    let dst = if size == Size::DW {
        want_width(c, d, Width::W64)?
    } else {
        d.reg
    };
    Ok(Parsed::done(Insn::Ldx {
        size,
        dst,
        src,
        off,
    }))
}
