//! Assembler and disassembler for BPF programs.
//!
//! Two input syntaxes, detected per program ([`Syntax::Auto`]):
//! - the **LLVM** syntax that `llvm-objdump -d` prints and clang's inline assembler reads
//!   (`r0 = 1`, `w1 += w2`, `if r1 > r2 goto +3`, `r1 = *(u32 *)(r2 + 4)`, ...). The output
//!   of `llvm-objdump -d` itself (slot column, raw bytes, `<sym+0x10>` annotations, function
//!   headers) is accepted as is;
//! - the **mnemonic** syntax of the bpf_conformance / uBPF test data (`mov32 %r0, 1`,
//!   `ldxw %r1, [%r2+4]`, `jeq %r1, 0, +2`, `lock fetch add32 [%r1+0], %r2`, ...).
//!
//! Output styles ([`Style`]): LLVM syntax (optionally with `llvm-objdump`'s slot and raw
//! bytes columns), bpftool's `dump xlated` form (see [`disassemble_xlated`] for the hooks
//! that name maps, functions and source lines), strace's symbolic structure form, and the
//! conformance mnemonic syntax. LLVM and mnemonic output assemble back to the same bytes.
//!
//! The assembler checks syntax and field ranges; program structure (jump targets inside the
//! program, a final `exit`...) is [`isa::validate`]'s job.
//!
//! ```
//! use oxbpf::asm::{self, DisasmOptions, Style};
//! let bytes = asm::assemble("r0 = 1\nif r1 > 5 goto done\nr0 += r1\ndone:\nexit").unwrap();
//! let prog = oxbpf::isa::decode(&bytes).unwrap();
//! let text = asm::disassemble(&prog, &DisasmOptions::new(Style::Llvm));
//! assert_eq!(text, "r0 = 0x1\nif r1 > 0x5 goto +0x1\nr0 += r1\nexit\n");
//! assert_eq!(asm::assemble(&text).unwrap(), bytes);
//! let same = asm::assemble("mov %r0, 1\njgt %r1, 5, +1\nadd %r0, %r1\nexit").unwrap();
//! assert_eq!(same, bytes);
//! ```

mod disasm;
mod lexer;
mod parse_llvm;
mod parse_mnemonic;
mod xlated;

pub use disasm::{disassemble, disassemble_bytes, fmt_insn, DisasmOptions, Style};
pub use xlated::{disassemble_xlated, fmt_xlated, BpftoolHooks, XlatedHooks};

use crate::helpers::ids::helper_id;
use crate::isa::{self, CallTarget, Insn, LdPseudo, Located};
use lexer::{Cursor, Tok, Token};
use std::collections::HashMap;
use std::fmt;

/// Which assembly syntax a program is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// Decide from the text: lines with `%r` registers or conformance mnemonics are mnemonic
    /// syntax, lines with `=`, `if`, `goto`... are LLVM syntax. A program may not mix them.
    Auto,
    /// `llvm-objdump` syntax.
    Llvm,
    /// bpf_conformance / uBPF mnemonic syntax.
    Mnemonic,
}

/// What is wrong with an assembly line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AsmErrorKind {
    /// The first word names no instruction.
    #[error("Invalid mnemonic `{mnemonic}`")]
    UnknownMnemonic { mnemonic: String },
    /// A register outside r0..r10.
    #[error("Invalid register `{name}` (registers are r0..r10)")]
    BadRegister { name: String },
    /// A `w` register where an `r` register is needed or the other way round.
    #[error("register `{name}` has the wrong width here (expected a {expected} register)")]
    RegisterWidth {
        name: String,
        expected: &'static str,
    },
    /// An immediate that does not fit its field.
    #[error("immediate {} out of range ({range})", show_num(*.value))]
    ImmOutOfRange { value: i128, range: &'static str },
    /// A memory or jump offset outside the signed 16-bit range.
    #[error("offset {} out of range (signed 16-bit, or hex up to 0xffff)", show_num(*.value))]
    OffsetOutOfRange { value: i128 },
    /// A label too far away for the 16-bit offset of this jump.
    #[error("jump to `{label}` spans {distance} slots, beyond the 16-bit offset range")]
    JumpOutOfRange { label: String, distance: i64 },
    /// A jump or call names a label that is not defined.
    #[error("undefined label `{label}`")]
    UndefinedLabel { label: String },
    /// The same label is defined twice.
    #[error("label `{label}` is already defined on line {first_line}")]
    DuplicateLabel { label: String, first_line: usize },
    /// Wrong number of operands for a mnemonic.
    #[error("Invalid number of operands for {mnemonic}: expected {expected}, found {found}")]
    OperandCount {
        mnemonic: String,
        expected: &'static str,
        found: usize,
    },
    /// Something else than the grammar allows at this point.
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    /// Tokens left after a complete instruction.
    #[error("unexpected {found} after the end of the instruction")]
    TrailingInput { found: String },
    /// A malformed or too large number.
    #[error("invalid number `{text}`")]
    BadNumber { text: String },
    /// A character that starts no token.
    #[error("unexpected character `{ch}`")]
    UnexpectedChar { ch: char },
    /// A byte-swap or sign-extension width the instruction does not have.
    #[error("invalid width {bits} for {what}")]
    BadWidth { what: &'static str, bits: u64 },
    /// LLVM and mnemonic syntax in one program.
    #[error("this line is {this} syntax but line {other_line} is {other} syntax")]
    MixedSyntax {
        this: &'static str,
        other: &'static str,
        other_line: usize,
    },
}

/// A number for an error message: decimal, plus hex when that is how large ones are written.
fn show_num(v: i128) -> String {
    if v.unsigned_abs() < 0x10000 {
        v.to_string()
    } else if v < 0 {
        format!("{v} (-{:#x})", v.unsigned_abs())
    } else {
        format!("{v} ({v:#x})")
    }
}

/// An assembly error, located by 1-based line and (when known) column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// 1-based line number in the source text.
    pub line: usize,
    /// 1-based column of the offending token, if known.
    pub column: Option<usize>,
    /// What is wrong.
    pub kind: AsmErrorKind,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "line {}, column {}: {}", self.line, c, self.kind),
            None => write!(f, "line {}: {}", self.line, self.kind),
        }
    }
}

impl std::error::Error for AsmError {}

/// Which field of an instruction a label reference fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FixKind {
    /// A jump's 16-bit offset (`goto`, `if ... goto`, `ja`, `jeq`...).
    JumpOff,
    /// A 32-bit immediate slot offset (`gotol`, local `call`, `lddw` of a function).
    Imm,
    /// `call name` in LLVM syntax: a local call if `name` is a label, else a helper by name.
    CallOrHelper,
}

/// An unresolved label reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fixup {
    pub label: String,
    pub col: usize,
    pub kind: FixKind,
}

/// One parsed instruction, maybe waiting for a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub insn: Insn,
    pub fixup: Option<Fixup>,
}

impl Parsed {
    pub fn done(insn: Insn) -> Self {
        Parsed { insn, fixup: None }
    }
}

/// Assembles a program (syntax detected automatically) to wire bytes.
pub fn assemble(text: &str) -> Result<Vec<u8>, AsmError> {
    Ok(isa::encode(&assemble_located(text)?))
}

/// Assembles a program (syntax detected automatically) to decoded instructions.
pub fn assemble_located(text: &str) -> Result<Vec<Located>, AsmError> {
    assemble_with(text, Syntax::Auto)
}

/// One instruction line after labels are taken off.
struct SrcLine {
    line: usize,
    toks: Vec<Token>,
    end_col: usize,
}

/// Whether a line (labels removed) is mnemonic syntax, LLVM syntax, or either.
fn classify(toks: &[Token]) -> Option<Syntax> {
    let has = |p: &str| {
        toks.iter()
            .any(|t| matches!(t.tok, Tok::Punct(q) if q == p))
    };
    let percent_reg = toks.windows(2).any(|w| {
        w[0].tok == Tok::Punct("%")
            && matches!(&w[1].tok, Tok::Ident(s) if s.starts_with('r') || s.starts_with('w'))
    });
    if percent_reg {
        return Some(Syntax::Mnemonic);
    }
    let first = match toks.first().map(|t| &t.tok) {
        Some(Tok::Ident(s)) => s.as_str(),
        _ => return Some(Syntax::Llvm),
    };
    let second = toks.get(1).map(|t| &t.tok);
    match first {
        "if" | "goto" | "gotol" | "callx" | "ld_pseudo" => Some(Syntax::Llvm),
        "exit" => None,
        "call" => match second {
            Some(Tok::Ident(s)) if s == "local" || s == "runtime" => Some(Syntax::Mnemonic),
            Some(Tok::Punct("+")) => Some(Syntax::Llvm),
            _ => None,
        },
        "lock" => {
            if has("=") || has("*") {
                Some(Syntax::Llvm)
            } else if toks.len() == 1 {
                None
            } else {
                Some(Syntax::Mnemonic)
            }
        }
        _ if has("=")
            || toks.iter().any(
                |t| matches!(t.tok, Tok::Punct(p) if p.ends_with('=') && p != "==" && p != "!="),
            ) =>
        {
            Some(Syntax::Llvm)
        }
        w if parse_mnemonic::is_mnemonic(w) => Some(Syntax::Mnemonic),
        _ => Some(Syntax::Llvm),
    }
}

/// `0000000000000000 <prog>:` — a function header line of `llvm-objdump -d`.
fn objdump_symbol_header(line: &str) -> Option<&str> {
    let (addr, rest) = line.trim().split_once(' ')?;
    if addr.is_empty() || !addr.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    rest.strip_prefix('<')?.strip_suffix(">:")
}

/// Assembles a program in the given syntax.
pub fn assemble_with(text: &str, syntax: Syntax) -> Result<Vec<Located>, AsmError> {
    // Pass 1: tokens and labels. A label refers to the index of the next instruction line.
    let mut lines: Vec<SrcLine> = Vec::new();
    let mut labels: HashMap<String, (usize, usize)> = HashMap::new(); // name -> (insn idx, line)
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let start = lexer::strip_objdump_prefix(raw);
        let body = lexer::strip_comment(&raw[start..]);
        let trimmed = body.trim();
        // Blank lines and llvm-objdump's banner, section and relocation (`-r`) lines.
        if trimmed.is_empty()
            || trimmed.starts_with("Disassembly of section")
            || trimmed.contains("file format")
            || trimmed.contains("R_BPF_")
        {
            continue;
        }
        let mut add_label = |name: &str, col: usize| -> Result<(), AsmError> {
            if let Some(&(_, first_line)) = labels.get(name) {
                return Err(AsmError {
                    line,
                    column: Some(col),
                    kind: AsmErrorKind::DuplicateLabel {
                        label: name.to_string(),
                        first_line,
                    },
                });
            }
            labels.insert(name.to_string(), (lines.len(), line));
            Ok(())
        };
        if let Some(sym) = objdump_symbol_header(trimmed) {
            add_label(sym, 1)?;
            continue;
        }
        let toks = lexer::lex(body, line, start)?;
        let mut k = 0;
        while let (Some(Tok::Ident(name)), Some(Tok::Punct(":"))) =
            (toks.get(k).map(|t| &t.tok), toks.get(k + 1).map(|t| &t.tok))
        {
            add_label(name, toks[k].col)?;
            k += 2;
        }
        if k < toks.len() {
            lines.push(SrcLine {
                line,
                toks: toks[k..].to_vec(),
                end_col: start + body.len() + 1,
            });
        }
    }

    let syntax = match syntax {
        Syntax::Auto => detect(&lines)?,
        s => s,
    };

    // Pass 2: parse each instruction and lay out slots.
    let mut parsed = Vec::with_capacity(lines.len());
    let mut slots = Vec::with_capacity(lines.len() + 1);
    let mut slot = 0usize;
    for l in &lines {
        let mut c = Cursor::new(&l.toks, l.line, l.end_col);
        let p = match syntax {
            Syntax::Mnemonic => parse_mnemonic::parse_line(&mut c)?,
            _ => parse_llvm::parse_line(&mut c)?,
        };
        slots.push(slot);
        slot += p.insn.slots();
        parsed.push(p);
    }
    slots.push(slot);

    // The mnemonic syntax has an implicit label `exit` on the first `exit` instruction.
    let implicit_exit = parsed.iter().position(|p| p.insn == Insn::Exit);

    // Pass 3: resolve label references.
    let mut out = Vec::with_capacity(parsed.len());
    for (idx, (p, l)) in parsed.into_iter().zip(&lines).enumerate() {
        let mut insn = p.insn;
        if let Some(fx) = p.fixup {
            let target = match labels.get(&fx.label) {
                Some(&(i, _)) => Some(slots[i]),
                None if syntax == Syntax::Mnemonic && fx.label == "exit" => {
                    implicit_exit.map(|i| slots[i])
                }
                None => None,
            };
            let err = |kind| AsmError {
                line: l.line,
                column: Some(fx.col),
                kind,
            };
            match target {
                Some(t) => {
                    let rel = t as i64 - (slots[idx] as i64 + 1);
                    set_relative(&mut insn, rel).map_err(|()| {
                        err(AsmErrorKind::JumpOutOfRange {
                            label: fx.label.clone(),
                            distance: rel,
                        })
                    })?;
                }
                None => match (fx.kind, helper_id(&fx.label)) {
                    (FixKind::CallOrHelper, Some(id)) => {
                        insn = Insn::Call(CallTarget::Helper(id));
                    }
                    _ => {
                        return Err(err(AsmErrorKind::UndefinedLabel { label: fx.label }));
                    }
                },
            }
        }
        out.push(Located {
            slot: slots[idx],
            insn,
        });
    }
    Ok(out)
}

/// Stores a resolved relative slot offset into the field that holds it.
fn set_relative(insn: &mut Insn, rel: i64) -> Result<(), ()> {
    let off16 = || i16::try_from(rel).map_err(|_| ());
    let imm32 = || i32::try_from(rel).map_err(|_| ());
    match insn {
        Insn::Ja { off } | Insn::Jmp { off, .. } => *off = off16()?,
        Insn::Gotol { imm } => *imm = imm32()?,
        Insn::Call(t) => *t = CallTarget::Local(imm32()?),
        Insn::LdImm64 {
            pseudo: LdPseudo::Func,
            imm,
            ..
        } => *imm = imm32()?,
        Insn::Alu { .. }
        | Insn::Neg { .. }
        | Insn::MovSx { .. }
        | Insn::End { .. }
        | Insn::LdImm64 { .. }
        | Insn::LdAbs { .. }
        | Insn::LdInd { .. }
        | Insn::Ldx { .. }
        | Insn::LdxSx { .. }
        | Insn::St { .. }
        | Insn::Stx { .. }
        | Insn::Atomic { .. }
        | Insn::Callx { .. }
        | Insn::Exit => return Err(()),
    }
    Ok(())
}

fn syntax_name(s: Syntax) -> &'static str {
    match s {
        Syntax::Mnemonic => "mnemonic",
        Syntax::Llvm | Syntax::Auto => "LLVM",
    }
}

/// Decides the syntax of a whole program; lines that read the same in both do not count.
fn detect(lines: &[SrcLine]) -> Result<Syntax, AsmError> {
    let mut seen: Option<(Syntax, usize)> = None;
    for l in lines {
        let Some(s) = classify(&l.toks) else { continue };
        match seen {
            None => seen = Some((s, l.line)),
            Some((first, first_line)) if first != s => {
                return Err(AsmError {
                    line: l.line,
                    column: l.toks.first().map(|t| t.col),
                    kind: AsmErrorKind::MixedSyntax {
                        this: syntax_name(s),
                        other: syntax_name(first),
                        other_line: first_line,
                    },
                });
            }
            Some(_) => {}
        }
    }
    Ok(seen.map_or(Syntax::Llvm, |(s, _)| s))
}

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
mod tests;
