//! Constant strings (kernel `check_reg_const_str`) and `bpf_snprintf`'s load-time format
//! check (kernel `check_bpf_snprintf_call`, which runs `bpf_bprintf_prepare` without
//! arguments): the format must lie NUL-terminated in a frozen read-only array value, so
//! its conversions can be checked once, at load.

use super::exec::{Env, Reject};
use super::state::{RegState, RegType, VState};
use super::{F_RDONLY_PROG, MAP_TYPE_ARRAY};
use crate::isa::Reg;

/// `bpf_snprintf`, whose format is checked at load time.
pub(super) const SNPRINTF: i32 = 165;
/// `BPF_MAP_TYPE_PERCPU_ARRAY`: has direct value access, but not for strings.
const MAP_TYPE_PERCPU_ARRAY: u32 = 6;

impl Env<'_> {
    /// The bytes of the constant string `reg` points to, up to (without) its NUL, after
    /// the kernel's checks in its order: a map value pointer into a frozen
    /// `BPF_F_RDONLY_PROG` array at a constant offset, inside the value, terminated
    /// within it.
    pub(super) fn const_str(
        &mut self,
        pc: usize,
        st: &mut VState,
        r: Reg,
        reg: &RegState,
    ) -> Result<Vec<u8>, Reject> {
        let n = r.num();
        let RegType::PtrToMapValue { map } = reg.ty else {
            return Err(Reject::reg(
                r,
                format!("R{n} type={} expected=map_value", reg.ty.name()),
            ));
        };
        let info = self.map_info(map);
        let frozen = self.map_meta(map).frozen.clone();
        let Some(value) = frozen.filter(|_| info.flags & F_RDONLY_PROG != 0) else {
            return Err(Reject::reg(
                r,
                format!("R{n} does not point to a readonly map'"),
            ));
        };
        let Some(var) = reg.var.as_const() else {
            return Err(Reject::reg(r, format!("R{n} is not a constant address'")));
        };
        match info.map_type {
            MAP_TYPE_ARRAY => {}
            MAP_TYPE_PERCPU_ARRAY => {
                return Err(Reject::reg(
                    r,
                    "only array map supports direct string value access",
                ))
            }
            _ => {
                return Err(Reject::reg(
                    r,
                    "no direct value access support for this map type",
                ))
            }
        }
        // Kernel `check_map_access(reg->off, value_size - reg->off)`: the rest of the value
        // from the fixed offset must be readable.
        let size = i64::from(info.value_size) - i64::from(reg.off);
        if size <= 0 || reg.off < 0 {
            return Err(Reject::reg(
                r,
                format!(
                    "invalid access to map value, value_size={} off={} size={size}",
                    info.value_size, reg.off
                ),
            ));
        }
        self.helper_mem(pc, st, r, size as u32, size as u32, false)?;
        let off = i64::from(reg.off).wrapping_add(var as i64);
        // Kernel `array_map_direct_value_addr`: one element, offset inside it.
        if info.max_entries != 1 || off < 0 || off >= i64::from(info.value_size) {
            return Err(Reject::reg(r, "direct value access on string failed"));
        }
        let tail = value.get(off as usize..).unwrap_or_default();
        match tail.iter().position(|&b| b == 0) {
            Some(end) => Ok(tail[..end].to_vec()),
            None => Err(Reject::reg(r, "string is not zero-terminated")),
        }
    }

    /// Kernel `check_bpf_snprintf_call`: `data_len` (r5's known bits) a multiple of 8 and
    /// the format (r3) valid for that many arguments.
    pub(super) fn check_snprintf(&mut self, pc: usize, st: &mut VState) -> Result<(), Reject> {
        let data_len = st.cur().regs[5].var.var_off.value;
        if data_len % 8 != 0 {
            // The kernel fails with EINVAL without a message.
            return Err(Reject::reg(
                Reg::R5,
                "data_len is not a multiple of 8 (EINVAL)",
            ));
        }
        let fmt_reg = st.cur().regs[3];
        let fmt = self.const_str(pc, st, Reg::R3, &fmt_reg)?;
        if !format_ok(&fmt, data_len / 8) {
            return Err(Reject::reg(Reg::R3, "Invalid format string"));
        }
        Ok(())
    }
}

/// Kernel `isspace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What may follow `%s`: the end, a space or punctuation.
fn ends_conversion(c: u8) -> bool {
    c == 0 || is_space(c) || c.is_ascii_punctuation()
}

/// Kernel `bpf_bprintf_prepare` without arguments: printable ASCII only, at most
/// `num_args` conversions, each one of `%[0+- ][width]` then `d i u x X` (optionally
/// `l`/`ll`), `c`, `s`, `p`, `pK px ps pS pB`, `pks pus`, `pi4 pI4 pi6 pI6`.
pub(super) fn format_ok(fmt: &[u8], num_args: u64) -> bool {
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    let mut nspec = 0u64;
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        if !c.is_ascii() || !((0x20..0x7f).contains(&c) || is_space(c)) {
            return false;
        }
        if c != b'%' {
            i += 1;
            continue;
        }
        if at(i + 1) == b'%' {
            i += 2;
            continue;
        }
        if nspec >= num_args {
            return false;
        }
        i += 1;
        while matches!(at(i), b'0' | b'+' | b'-' | b' ') {
            i += 1;
        }
        if (b'1'..=b'9').contains(&at(i)) {
            i += 1;
            while at(i).is_ascii_digit() {
                i += 1;
            }
        }
        match at(i) {
            b'p' => {
                let ext = at(i + 1);
                if ext == 0 || is_space(ext) || ext.is_ascii_punctuation() {
                } else if matches!(ext, b'k' | b'u') && at(i + 2) == b's' {
                    i += 2;
                    if !ends_conversion(at(i + 1)) {
                        return false;
                    }
                } else if matches!(ext, b'K' | b'x' | b's' | b'S' | b'B') {
                    i += 1;
                } else if matches!(ext, b'i' | b'I') && matches!(at(i + 2), b'4' | b'6') {
                    i += 2;
                } else {
                    return false;
                }
            }
            b's' => {
                if !ends_conversion(at(i + 1)) {
                    return false;
                }
            }
            b'c' => {}
            _ => {
                for _ in 0..2 {
                    if at(i) == b'l' {
                        i += 1;
                    }
                }
                if !matches!(at(i), b'i' | b'd' | b'u' | b'x' | b'X') {
                    return false;
                }
            }
        }
        i += 1;
        nspec += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::format_ok;

    #[test]
    fn formats_as_the_kernel_checks_them() {
        let ok: &[(&str, u64)] = &[
            ("plain text\n", 0),
            ("100%% sure", 0),
            ("%d %u %x %X %i", 5),
            ("%lld %llu %lx %-08d %+5i % d", 6),
            ("%s, %c %pK %px %ps %pS %pB", 7),
            ("%pI4 %pi6 %pks. %pus", 4),
            ("%p-%p", 2),
        ];
        for (f, n) in ok {
            assert!(format_ok(f.as_bytes(), *n), "{f:?} with {n} args");
        }
        let bad: &[(&str, u64)] = &[
            ("%d %d", 1),
            ("%d", 0),
            ("%f", 1),
            ("%hd", 1),
            ("%lllx", 1),
            ("%sx", 1),
            ("%pI5", 1),
            ("%pz", 1),
            ("%pksx", 1),
            ("tab\x01", 0),
            ("caf\u{e9}", 0),
            ("%", 1),
        ];
        for (f, n) in bad {
            assert!(!format_ok(f.as_bytes(), *n), "{f:?} with {n} args");
        }
    }
}
