//! Line preprocessing and tokenizing shared by both assembler syntaxes.

use super::{AsmError, AsmErrorKind};

/// One token of an assembly line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A name: mnemonic, register, label, keyword (`[A-Za-z_.$][A-Za-z0-9_.$]*`).
    Ident(String),
    /// An unsigned number as written (decimal or `0x` hex); a sign is a separate token.
    Num { value: u64, hex: bool },
    /// An operator or punctuation, longest match (`s>>=`, `+=`, `(`...).
    Punct(&'static str),
}

/// A token and the 1-based column it starts at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
}

/// Operators, longest first so that the first prefix match is the longest one.
const PUNCTS: &[&str] = &[
    "s>>=", "<<=", ">>=", "s>=", "s<=", "s/=", "s%=", "+=", "-=", "*=", "/=", "%=", "|=", "&=",
    "^=", "==", "!=", "<=", ">=", "s>", "s<", "<", ">", "=", "(", ")", "[", "]", "*", "+", "-",
    ",", ":", "%", "&", "|", "^", "/", "!", "~", "#", "@",
];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'.' || c == b'$'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'$'
}

/// Removes a comment: `;`, `//` and `#` start one in both syntaxes.
pub(crate) fn strip_comment(line: &str) -> &str {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b';' | b'#' => return &line[..i],
            b'/' if b.get(i + 1) == Some(&b'/') => return &line[..i],
            _ => {}
        }
        i += 1;
    }
    line
}

/// Strips what `llvm-objdump -d` prints around the instruction text, so its output can be
/// assembled again: the `   12:` slot column and the raw bytes column (tab separated).
/// Returns the byte offset in `line` where the instruction text starts.
pub(crate) fn strip_objdump_prefix(line: &str) -> usize {
    let trimmed = line.trim_start();
    let lead = line.len() - trimmed.len();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || trimmed.as_bytes().get(digits) != Some(&b':') {
        return 0;
    }
    let after = &trimmed[digits + 1..];
    if !after.starts_with(|c: char| c.is_ascii_whitespace()) {
        return 0;
    }
    let mut pos = lead + digits + 1;
    // Optional raw-bytes field: hex pairs separated by single spaces, ended by a tab.
    let rest = &line[pos..];
    let fields = rest.trim_start_matches([' ', '\t']);
    let skipped = rest.len() - fields.len();
    if let Some(tab) = fields.find('\t') {
        let bytes = &fields[..tab];
        let all_hex_pairs = !bytes.is_empty()
            && bytes
                .split(' ')
                .all(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()));
        if all_hex_pairs {
            return pos + skipped + tab + 1;
        }
    }
    pos += skipped;
    pos
}

/// Tokenizes one line (comments already removed). `offset` is the column of `text[0]` minus 1.
pub(crate) fn lex(text: &str, line: usize, offset: usize) -> Result<Vec<Token>, AsmError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let col = offset + i + 1;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Signed operators start with `s`: take them before identifiers.
        if c == b's' && matches!(b.get(i + 1), Some(b'<' | b'>' | b'/' | b'%')) {
            if let Some(p) = PUNCTS
                .iter()
                .find(|p| p.starts_with('s') && text[i..].starts_with(**p))
            {
                out.push(Token {
                    tok: Tok::Punct(p),
                    col,
                });
                i += p.len();
                continue;
            }
        }
        if is_ident_start(c) {
            let start = i;
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(text[start..i].to_string()),
                col,
            });
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &text[start..i];
            let bad = || AsmError {
                line,
                column: Some(col),
                kind: AsmErrorKind::BadNumber {
                    text: word.to_string(),
                },
            };
            let (value, hex) = match word.strip_prefix("0x").or(word.strip_prefix("0X")) {
                Some(h) => (u64::from_str_radix(h, 16).map_err(|_| bad())?, true),
                None => (word.parse::<u64>().map_err(|_| bad())?, false),
            };
            out.push(Token {
                tok: Tok::Num { value, hex },
                col,
            });
            continue;
        }
        match PUNCTS.iter().find(|p| text[i..].starts_with(**p)) {
            Some(p) => {
                out.push(Token {
                    tok: Tok::Punct(p),
                    col,
                });
                i += p.len();
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(AsmError {
                    line,
                    column: Some(col),
                    kind: AsmErrorKind::UnexpectedChar { ch },
                });
            }
        }
    }
    Ok(out)
}

/// A position in one line's tokens, with the helpers both parsers use.
pub(crate) struct Cursor<'a> {
    toks: &'a [Token],
    pos: usize,
    /// 1-based line number, for errors.
    pub line: usize,
    /// Column just past the end of the line, for "expected X, found end of line".
    end_col: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(toks: &'a [Token], line: usize, end_col: usize) -> Self {
        Cursor {
            toks,
            pos: 0,
            line,
            end_col,
        }
    }

    pub fn peek(&self) -> Option<&'a Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    pub fn peek_at(&self, n: usize) -> Option<&'a Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    /// Column of the next token (or of the end of the line).
    pub fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_col, |t| t.col)
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub fn bump(&mut self) -> Option<&'a Tok> {
        let t = self.toks.get(self.pos).map(|t| &t.tok);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// An error at the next token.
    pub fn err(&self, kind: AsmErrorKind) -> AsmError {
        AsmError {
            line: self.line,
            column: Some(self.col()),
            kind,
        }
    }

    /// An error at a given column.
    pub fn err_at(&self, col: usize, kind: AsmErrorKind) -> AsmError {
        AsmError {
            line: self.line,
            column: Some(col),
            kind,
        }
    }

    /// Describes the next token for "expected X, found Y" messages.
    pub fn found(&self) -> String {
        match self.peek() {
            None => "end of line".to_string(),
            Some(Tok::Ident(s)) => format!("`{s}`"),
            Some(Tok::Num { value, hex: true }) => format!("`{value:#x}`"),
            Some(Tok::Num { value, hex: false }) => format!("`{value}`"),
            Some(Tok::Punct(p)) => format!("`{p}`"),
        }
    }

    pub fn expected(&self, what: &str) -> AsmError {
        self.err(AsmErrorKind::Expected {
            expected: what.to_string(),
            found: self.found(),
        })
    }

    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::Punct(q)) if *q == p)
    }

    pub fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(q)) if q == s)
    }

    pub fn eat_punct(&mut self, p: &str) -> bool {
        let yes = self.is_punct(p);
        if yes {
            self.pos += 1;
        }
        yes
    }

    pub fn eat_ident(&mut self, s: &str) -> bool {
        let yes = self.is_ident(s);
        if yes {
            self.pos += 1;
        }
        yes
    }

    pub fn expect_punct(&mut self, p: &str) -> Result<(), AsmError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{p}`")))
        }
    }

    pub fn expect_ident(&mut self, s: &str) -> Result<(), AsmError> {
        if self.eat_ident(s) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{s}`")))
        }
    }

    /// Any identifier.
    pub fn ident(&mut self, what: &str) -> Result<(&'a str, usize), AsmError> {
        let col = self.col();
        match self.peek() {
            Some(Tok::Ident(s)) => {
                self.pos += 1;
                Ok((s.as_str(), col))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// An optionally signed number, as an `i128` so callers can range-check it. Returns the
    /// value, whether it was written in hex, and its column.
    pub fn signed_num(&mut self, what: &str) -> Result<(i128, bool, usize), AsmError> {
        let col = self.col();
        let neg = if self.eat_punct("-") {
            true
        } else {
            self.eat_punct("+");
            false
        };
        match self.peek() {
            Some(Tok::Num { value, hex }) => {
                self.pos += 1;
                let v = *value as i128;
                Ok((if neg { -v } else { v }, *hex, col))
            }
            _ => Err(self.expected(what)),
        }
    }

    /// A 32-bit immediate: decimal in the signed 32-bit range, hex from -0x80000000 up to
    /// 0xffffffff (stored as the same 32 bits).
    pub fn imm32(&mut self, what: &str) -> Result<i32, AsmError> {
        let (v, hex, col) = self.signed_num(what)?;
        let max = if hex {
            u32::MAX as i128
        } else {
            i32::MAX as i128
        };
        if v < i32::MIN as i128 || v > max {
            return Err(self.err_at(
                col,
                AsmErrorKind::ImmOutOfRange {
                    value: v,
                    range: if hex {
                        "32-bit: -0x80000000..0xffffffff"
                    } else {
                        "signed 32-bit"
                    },
                },
            ));
        }
        Ok(v as u32 as i32)
    }

    /// A 32-bit immediate as LLVM reads it: any value from -2^31 to 2^32-1, decimal or hex,
    /// stored as the same 32 bits (`r1 = 4294967295` is `r1 = -1`).
    pub fn imm32_llvm(&mut self, what: &str) -> Result<i32, AsmError> {
        let (v, _, col) = self.signed_num(what)?;
        if v < i32::MIN as i128 || v > u32::MAX as i128 {
            return Err(self.err_at(
                col,
                AsmErrorKind::ImmOutOfRange {
                    value: v,
                    range: "32-bit: -2147483648..4294967295",
                },
            ));
        }
        Ok(v as u32 as i32)
    }

    /// A 64-bit immediate (signed or unsigned 64-bit range).
    pub fn imm64(&mut self, what: &str) -> Result<u64, AsmError> {
        let (v, _, col) = self.signed_num(what)?;
        if v < i64::MIN as i128 || v > u64::MAX as i128 {
            return Err(self.err_at(
                col,
                AsmErrorKind::ImmOutOfRange {
                    value: v,
                    range: "64-bit",
                },
            ));
        }
        Ok(v as u64)
    }

    /// Checks a signed 16-bit offset: decimal in -32768..32767, hex up to 0xffff.
    pub fn check_off16(&self, v: i128, hex: bool, col: usize) -> Result<i16, AsmError> {
        let max = if hex {
            u16::MAX as i128
        } else {
            i16::MAX as i128
        };
        if v < i16::MIN as i128 || v > max {
            return Err(self.err_at(col, AsmErrorKind::OffsetOutOfRange { value: v }));
        }
        Ok(v as u16 as i16)
    }

    pub fn expect_end(&self) -> Result<(), AsmError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err(AsmErrorKind::TrailingInput {
                found: self.found(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s, 1, 0).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn signed_operators_and_idents() {
        assert_eq!(
            toks("r1 s>>= 0x3"),
            vec![
                Tok::Ident("r1".into()),
                Tok::Punct("s>>="),
                Tok::Num {
                    value: 3,
                    hex: true
                }
            ]
        );
        assert_eq!(
            toks("if w1 s< -1 goto +2"),
            vec![
                Tok::Ident("if".into()),
                Tok::Ident("w1".into()),
                Tok::Punct("s<"),
                Tok::Punct("-"),
                Tok::Num {
                    value: 1,
                    hex: false
                },
                Tok::Ident("goto".into()),
                Tok::Punct("+"),
                Tok::Num {
                    value: 2,
                    hex: false
                },
            ]
        );
        // `skb` is an identifier, not `s` + `kb`.
        assert_eq!(toks("skb")[0], Tok::Ident("skb".into()));
        assert_eq!(toks("%r1")[0], Tok::Punct("%"));
    }

    #[test]
    fn bad_numbers_and_chars() {
        let e = lex("r1 = 0xzz", 4, 0).unwrap_err();
        assert_eq!((e.line, e.column), (4, Some(6)));
        assert!(matches!(e.kind, AsmErrorKind::BadNumber { .. }));
        assert!(lex("r1 = 99999999999999999999", 1, 0).is_err());
        assert!(matches!(
            lex("r1 = `", 1, 0).unwrap_err().kind,
            AsmErrorKind::UnexpectedChar { ch: '`' }
        ));
    }

    #[test]
    fn objdump_prefix() {
        let l = "      14:\t18 02 00 00 05 00 00 00 00 00 00 00 4d 00 00 00\tr2 = 0x4d00000005 ll";
        assert_eq!(&l[strip_objdump_prefix(l)..], "r2 = 0x4d00000005 ll");
        let l = "       0:\tr8 = r1";
        assert_eq!(&l[strip_objdump_prefix(l)..].trim(), &"r8 = r1");
        assert_eq!(strip_objdump_prefix("r0 = 1"), 0);
        assert_eq!(strip_objdump_prefix("label:"), 0);
        assert_eq!(
            strip_comment("r0 = 1 ; hi // x # y"),
            "r0 = 1 ",
            "comment markers"
        );
        assert_eq!(strip_comment("r0 /= 2 // q"), "r0 /= 2 ");
    }
}
