//! `bpf_trace_printk` and the kernel's printf-like format rules (`bpf_bprintf_prepare` in
//! `kernel/bpf/helpers.c`, formatting as `bstr_printf` in `lib/vsprintf.c`).
//!
//! Accepted: plain text (printable ASCII, whitespace, bytes >= 0x80), `%%`, and
//! `%[flags][width]conv` with flags from `0+- `, a width not starting with 0, and `conv` one
//! of `d i u x X` with an optional `l`/`ll`, `c`, `s`, `p` (`%p %pK %px %ps %pS %pB %pks
//! %pus %pI4 %pi4 %pI6 %pi6`). No precision, no other length modifiers. At most three
//! arguments for `bpf_trace_printk`. Anything else is `-EINVAL` and prints nothing.
//!
//! Differences from the kernel, deliberate: `%p` prints the real address (the kernel hashes
//! it to hide kernel addresses; oxbpf has none), and `%ps`/`%pS`/`%pB` print the address as
//! `0x…` since there is no kernel symbol table; `%pus` reads the same (only) address space
//! as `%pks`, where the kernel would read user memory.

use super::errno::{EFAULT, EINVAL, ENOSPC};
use super::{kernel_helper, neg_errno, ArgKind, Helper, HelperProto, RetKind};
use crate::vm::{RunContext, TraceLine};

/// Arguments `bpf_trace_printk` accepts after the format (`MAX_TRACE_PRINTK_VARARGS`).
pub const MAX_PRINTK_ARGS: usize = 3;
/// Size of the kernel's output buffer, NUL included (`MAX_BPRINTF_BUF`): longer messages
/// are truncated in the log, the return value is still the full length.
const MAX_BPRINTF_BUF: usize = 1024;
/// Size of the kernel's staging buffer for the binary arguments and copied strings
/// (`MAX_BPRINTF_BIN_ARGS`).
const MAX_BPRINTF_BIN_ARGS: usize = 512;

/// `long bpf_trace_printk(const char *fmt, u32 fmt_size, ...)`: formats up to three
/// arguments and appends the message to the context's trace log. Returns the message
/// length, `-EINVAL` for a bad format, `-EFAULT` (and a recorded fault) if `fmt` is not
/// readable memory.
pub extern "C" fn bpf_trace_printk(
    fmt: u64,
    fmt_size: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    ctx: &mut RunContext,
) -> u64 {
    let size = fmt_size as u32 as usize;
    if size == 0 {
        // No room for the NUL terminator.
        return neg_errno(EINVAL);
    }
    // Formats are short string literals: copy them to the stack, not the heap (this
    // runs on every call, e.g. each of a test run's repeats).
    let mut small = [0u8; 128];
    let mut large = Vec::new();
    let buf: &mut [u8] = if size <= small.len() {
        &mut small[..size]
    } else {
        large.resize(size, 0);
        &mut large
    };
    // `read_bytes` checks the range first and copies nothing if it is not readable.
    if let Err(f) = ctx.read_bytes(fmt, buf) {
        ctx.fault = Some(f);
        return neg_errno(EFAULT);
    }
    print_to_trace(buf, &[a1, a2, a3], ctx)
}

/// Formats `fmt` with `args` and appends the message to the trace log (truncated to the
/// kernel's buffer); returns its full length or `-errno` (shared with `trace_vprintk`).
pub(super) fn print_to_trace(fmt: &[u8], args: &[u64], ctx: &mut RunContext) -> u64 {
    match format_printk(fmt, args, ctx) {
        Ok(mut msg) => {
            let len = msg.len();
            msg.truncate(MAX_BPRINTF_BUF - 1);
            // Valid UTF-8 (the usual case) becomes the line's text without a copy.
            let text = String::from_utf8(msg)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            ctx.trace.push(TraceLine {
                cpu: ctx.cpu_id,
                timestamp_ns: super::monotonic_ns(),
                text,
            });
            len as u64
        }
        Err(e) => neg_errno(e),
    }
}

/// The prototype of `bpf_trace_printk` (kernel: GPL-only, `ARG_PTR_TO_MEM | MEM_RDONLY`,
/// `ARG_CONST_SIZE`, then plain values).
pub(super) const HELPERS: &[Helper] = &[kernel_helper(
    6,
    bpf_trace_printk,
    HelperProto::new(
        &[
            ArgKind::PtrToMem {
                readonly: true,
                maybe_null: false,
            },
            ArgKind::ConstSize,
        ],
        RetKind::Integer,
    )
    .gpl(),
)];

/// Formatting flags and width of one conversion.
#[derive(Clone, Copy, Default)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    width: Option<usize>,
}

impl Spec {
    /// Pads `body` to the width with spaces (strings, characters, pointers formats).
    fn pad(&self, out: &mut Vec<u8>, body: &[u8]) {
        let fill = self.width.unwrap_or(0).saturating_sub(body.len());
        if !self.left {
            out.resize(out.len() + fill, b' ');
        }
        out.extend_from_slice(body);
        if self.left {
            out.resize(out.len() + fill, b' ');
        }
    }

    /// Formats a number as the kernel's `number()`: sign (only for signed conversions),
    /// zero or space padding to the width.
    fn number(&self, out: &mut Vec<u8>, value: u64, signed: bool, hex: bool, upper: bool) {
        let (neg, mag) = if signed && (value as i64) < 0 {
            (true, (value as i64).unsigned_abs())
        } else {
            (false, value)
        };
        let sign: &[u8] = match (signed, neg) {
            (true, true) => b"-",
            (true, false) if self.plus => b"+",
            (true, false) if self.space => b" ",
            _ => b"",
        };
        // Digits into a stack buffer (no allocation per conversion): 20 decimal digits
        // at most for a u64.
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        let mut v = mag;
        // Constant bases, so the divisions compile to shifts and multiplications.
        if hex {
            let alpha = if upper { b'A' } else { b'a' };
            loop {
                let d = (v & 15) as u8;
                at -= 1;
                buf[at] = if d < 10 { b'0' + d } else { alpha + d - 10 };
                v >>= 4;
                if v == 0 {
                    break;
                }
            }
        } else {
            loop {
                at -= 1;
                buf[at] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
        }
        let digits = &buf[at..];
        let len = sign.len() + digits.len();
        let fill = self.width.unwrap_or(0).saturating_sub(len);
        if self.left {
            out.extend_from_slice(sign);
            out.extend_from_slice(digits);
            out.resize(out.len() + fill, b' ');
        } else if self.zero {
            out.extend_from_slice(sign);
            out.resize(out.len() + fill, b'0');
            out.extend_from_slice(digits);
        } else {
            out.resize(out.len() + fill, b' ');
            out.extend_from_slice(sign);
            out.extend_from_slice(digits);
        }
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_punct(c: u8) -> bool {
    c.is_ascii_punctuation()
}

/// Tracks the kernel's argument staging buffer so that formats that overflow it fail with
/// `-ENOSPC` as in the kernel.
struct BinArgs {
    used: usize,
}

impl BinArgs {
    fn remaining(&self) -> usize {
        MAX_BPRINTF_BIN_ARGS - self.used
    }

    /// Reserves an aligned scalar of `size` bytes.
    fn scalar(&mut self, size: usize) -> Result<(), i64> {
        self.used = self.used.next_multiple_of(4);
        if self.remaining() < size {
            return Err(ENOSPC);
        }
        self.used += size;
        Ok(())
    }

    fn bytes(&mut self, n: usize) {
        self.used = (self.used + n).min(MAX_BPRINTF_BIN_ARGS);
    }
}

/// Formats `fmt` (its bytes up to `fmt_size`, which must contain the NUL terminator) with
/// `args` as the kernel's printf-like helpers do. Strings and IP addresses are read from
/// `ctx` memory with probe semantics: unreadable memory prints as an empty string (`%s`)
/// or zeros (`%pI4`), as in the kernel. Returns the message or a positive errno.
pub fn format_printk(fmt: &[u8], args: &[u64], ctx: &mut RunContext) -> Result<Vec<u8>, i64> {
    let n = fmt.iter().position(|&b| b == 0).ok_or(EINVAL)?;
    let fmt = &fmt[..n];
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(n + 16);
    let mut bin = BinArgs { used: 0 };
    let mut nspec = 0;
    let mut i = 0;
    while i < n {
        let c = fmt[i];
        if c.is_ascii() && !(c.is_ascii_graphic() || c == b' ' || is_space(c)) {
            return Err(EINVAL);
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            out.push(b'%');
            i += 2;
            continue;
        }
        let Some(&arg) = args.get(nspec) else {
            return Err(EINVAL);
        };
        i += 1;
        if !at(i).is_ascii() {
            return Err(EINVAL);
        }
        let mut spec = Spec::default();
        loop {
            match at(i) {
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b'-' => spec.left = true,
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        if (b'1'..=b'9').contains(&at(i)) {
            let mut w: usize = 0;
            while at(i).is_ascii_digit() {
                w = w.saturating_mul(10).saturating_add((at(i) - b'0') as usize);
                i += 1;
            }
            // The kernel's printf_spec keeps the width in a small field; huge widths are
            // clamped rather than allocating without bound.
            spec.width = Some(w.min(MAX_BPRINTF_BUF));
        }
        match at(i) {
            b'p' => {
                let ext = at(i + 1);
                if (ext == b'k' || ext == b'u') && at(i + 2) == b's' {
                    i += 2;
                    string_arg(&mut out, &spec, arg, at(i + 1), &mut bin, ctx)?;
                } else if ext == 0
                    || is_space(ext)
                    || is_punct(ext)
                    || matches!(ext, b'K' | b'x' | b's' | b'S')
                {
                    bin.scalar(8)?;
                    match ext {
                        b's' | b'S' => spec.pad(&mut out, format!("{arg:#x}").as_bytes()),
                        _ if spec.width.is_none() => {
                            out.extend_from_slice(format!("{arg:016x}").as_bytes())
                        }
                        _ => spec.number(&mut out, arg, false, true, false),
                    }
                    // The extension letter is part of the conversion; punctuation or a
                    // space after `%p` is ordinary text.
                    if ext.is_ascii_alphanumeric() {
                        i += 1;
                    }
                } else if ext == b'B' {
                    let s = format!("{arg:#x}");
                    bin.bytes(s.len() + 1);
                    spec.pad(&mut out, s.as_bytes());
                    i += 1;
                } else if (ext == b'i' || ext == b'I') && matches!(at(i + 2), b'4' | b'6') {
                    let v6 = at(i + 2) == b'6';
                    let len = if v6 { 16 } else { 4 };
                    if bin.remaining() < len {
                        return Err(ENOSPC);
                    }
                    let mut ip = [0u8; 16];
                    if ctx.read_bytes(arg, &mut ip[..len]).is_err() {
                        ip = [0; 16];
                    }
                    let text = ip_string(&ip[..len], ext == b'I');
                    bin.bytes(text.len() + 1);
                    spec.pad(&mut out, text.as_bytes());
                    i += 2;
                } else {
                    return Err(EINVAL);
                }
            }
            b's' => string_arg(&mut out, &spec, arg, at(i + 1), &mut bin, ctx)?,
            b'c' => {
                if bin.remaining() == 0 {
                    return Err(ENOSPC);
                }
                bin.bytes(1);
                spec.pad(&mut out, &[arg as u8]);
            }
            _ => {
                let mut long = false;
                if at(i) == b'l' {
                    long = true;
                    i += 1;
                    if at(i) == b'l' {
                        i += 1;
                    }
                }
                let conv = at(i);
                if !matches!(conv, b'i' | b'd' | b'u' | b'x' | b'X') {
                    return Err(EINVAL);
                }
                bin.scalar(if long { 8 } else { 4 })?;
                let signed = matches!(conv, b'i' | b'd');
                let value = match (long, signed) {
                    (true, _) => arg,
                    (false, true) => arg as u32 as i32 as i64 as u64,
                    (false, false) => arg as u32 as u64,
                };
                let hex = matches!(conv, b'x' | b'X');
                spec.number(&mut out, value, signed, hex, conv == b'X');
            }
        }
        i += 1;
        nspec += 1;
    }
    Ok(out)
}

/// `%s` / `%pks` / `%pus`: the next format byte must end the conversion (NUL, space or
/// punctuation); the string is copied with probe semantics into what is left of the
/// staging buffer.
fn string_arg(
    out: &mut Vec<u8>,
    spec: &Spec,
    ptr: u64,
    next: u8,
    bin: &mut BinArgs,
    ctx: &mut RunContext,
) -> Result<(), i64> {
    if next != 0 && !is_space(next) && !is_punct(next) {
        return Err(EINVAL);
    }
    let room = bin.remaining();
    if room == 0 {
        return Err(ENOSPC);
    }
    let s = ctx.read_cstr(ptr, room).unwrap_or_default();
    bin.bytes(s.len() + 1);
    spec.pad(out, &s);
    Ok(())
}

/// `%pI4` `1.2.3.4`, `%pi4` `001.002.003.004`, `%pI6` `0001:0db8:…`, `%pi6` 32 hex digits.
fn ip_string(ip: &[u8], dotted: bool) -> String {
    match (ip.len(), dotted) {
        (4, true) => format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
        (4, false) => format!("{:03}.{:03}.{:03}.{:03}", ip[0], ip[1], ip[2], ip[3]),
        (_, true) => ip
            .chunks(2)
            .map(|g| format!("{:02x}{:02x}", g[0], g[1]))
            .collect::<Vec<_>>()
            .join(":"),
        (_, false) => ip.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests;
