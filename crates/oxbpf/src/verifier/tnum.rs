//! Tracked numbers ("tnums", kernel `kernel/bpf/tnum.c`): per-bit knowledge of a 64-bit
//! value. A bit whose `mask` bit is set is unknown; otherwise it equals the `value` bit.
//! Every operation over-approximates: for all `x ∈ a`, `y ∈ b`, `op(x, y) ∈ op(a, b)`.

use std::fmt;

/// A set of 64-bit values described by known bits. Invariant: `value & mask == 0`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tnum {
    /// The known bits' values (0 where unknown).
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Every value.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Builds a tnum, clearing value bits under the mask to keep the invariant.
    pub const fn new(value: u64, mask: u64) -> Tnum {
        Tnum {
            value: value & !mask,
            mask,
        }
    }

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum containing every value of `min..=max` (unsigned).
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum::new(min & !delta, delta)
    }

    /// Whether the value is fully known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether nothing is known.
    pub const fn is_unknown(self) -> bool {
        self.mask == u64::MAX
    }

    /// Whether `v` is one of the values.
    pub const fn contains(self, v: u64) -> bool {
        (v & !self.mask) == self.value
    }

    /// Whether every value of `b` is a value of `self` (kernel `tnum_in(self, b)`).
    pub const fn includes(self, b: Tnum) -> bool {
        if b.mask & !self.mask != 0 {
            return false;
        }
        (b.value & !self.mask) == self.value
    }

    /// The largest value in the set.
    pub const fn umax(self) -> u64 {
        self.value | self.mask
    }

    /// Shift left by a constant `< 64`.
    pub const fn lshift(self, s: u32) -> Tnum {
        Tnum {
            value: self.value << s,
            mask: self.mask << s,
        }
    }

    /// Logical shift right by a constant `< 64`.
    pub const fn rshift(self, s: u32) -> Tnum {
        Tnum {
            value: self.value >> s,
            mask: self.mask >> s,
        }
    }

    /// Arithmetic shift right by a constant, at 32 or 64 bits (a 32-bit result is
    /// zero-extended, as the ALU32 class does).
    pub const fn arshift(self, s: u32, bits32: bool) -> Tnum {
        if bits32 {
            Tnum {
                value: ((self.value as u32 as i32) >> s) as u32 as u64,
                mask: ((self.mask as u32 as i32) >> s) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> s) as u64,
                mask: ((self.mask as i64) >> s) as u64,
            }
        }
    }

    /// Addition: carries out of unknown bits make the bits they reach unknown.
    pub const fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum::new(sv, mu)
    }

    /// Subtraction.
    pub const fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum::new(dv, mu)
    }

    /// Two's complement negation.
    pub const fn neg(self) -> Tnum {
        Tnum::constant(0).sub(self)
    }

    /// Bitwise and.
    pub const fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// Bitwise or.
    pub const fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// Bitwise exclusive or.
    pub const fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum::new(v, mu)
    }

    /// Multiplication as a sum of partial products: a known-one bit of `self` adds `b`
    /// shifted, an unknown bit adds "zero or `b`" (every bit of `b` possibly set).
    pub const fn mul(self, b: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        let mut a = self;
        let mut b = b;
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum::new(0, b.mask));
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum::new(0, b.value | b.mask));
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(acc_v).add(acc_m)
    }

    /// Values in both sets (the caller knows they overlap).
    pub const fn intersect(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Tnum::new(v, mu)
    }

    /// Whether the two sets can share a value (no bit known differently in both).
    pub const fn overlaps(self, b: Tnum) -> bool {
        let known = !self.mask & !b.mask;
        (self.value ^ b.value) & known == 0
    }

    /// The smallest tnum containing both sets.
    pub const fn union(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask | (self.value ^ b.value);
        Tnum::new(self.value, mu)
    }

    /// Truncation to the low `bytes` bytes (zero-extended).
    pub const fn cast(self, bytes: u32) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let keep = (1u64 << (bytes * 8)) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The low 32 bits (zero-extended).
    pub const fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// The high 32 bits kept, the low 32 bits known zero.
    pub const fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// The high 32 bits of `self` with the low 32 bits of `sub`.
    pub const fn with_subreg(self, sub: Tnum) -> Tnum {
        self.clear_subreg().or(sub.subreg())
    }

    /// Sign extension from the low `bits` bits to 64 bits.
    pub const fn sign_extend(self, bits: u32) -> Tnum {
        if bits >= 64 {
            return self;
        }
        let t = self.cast(bits / 8);
        let sign = 1u64 << (bits - 1);
        let upper = !((1u64 << bits) - 1);
        if t.mask & sign != 0 {
            Tnum {
                value: t.value,
                mask: t.mask | upper,
            }
        } else if t.value & sign != 0 {
            Tnum {
                value: t.value | upper,
                mask: t.mask,
            }
        } else {
            t
        }
    }

    /// Byte swap of the low `bits` ∈ {16, 32, 64} bits, zero-extended; exact because a
    /// byte swap only moves bits.
    pub const fn bswap(self, bits: u32) -> Tnum {
        match bits {
            16 => Tnum {
                value: (self.value as u16).swap_bytes() as u64,
                mask: (self.mask as u16).swap_bytes() as u64,
            },
            32 => Tnum {
                value: (self.value as u32).swap_bytes() as u64,
                mask: (self.mask as u32).swap_bytes() as u64,
            },
            _ => Tnum {
                value: self.value.swap_bytes(),
                mask: self.mask.swap_bytes(),
            },
        }
    }
}

impl fmt::Display for Tnum {
    /// Kernel `tnum_strn` notation: `(0x0; 0xff)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::testrng::Rng;

    /// A random tnum containing `x`.
    pub(crate) fn tnum_around(r: &mut Rng, x: u64) -> Tnum {
        let mask = r.bits_mask();
        Tnum::new(x, mask)
    }

    /// A random member of `t`.
    fn member(r: &mut Rng, t: Tnum) -> u64 {
        t.value | (r.next() & t.mask)
    }

    #[test]
    fn range_and_contains() {
        let t = Tnum::range(0, 255);
        assert_eq!(t, Tnum::new(0, 0xff));
        assert_eq!(Tnum::range(5, 5), Tnum::constant(5));
        assert!(Tnum::range(0, u64::MAX).is_unknown());
        assert_eq!(format!("{}", Tnum::new(0, 0xff)), "(0x0; 0xff)");
        let mut r = Rng::new(1);
        for _ in 0..2000 {
            let (a, b) = (r.interesting(), r.interesting());
            let (lo, hi) = (a.min(b), a.max(b));
            let t = Tnum::range(lo, hi);
            assert!(t.contains(lo) && t.contains(hi));
            let mid = lo + (hi - lo) / 2;
            assert!(t.contains(mid));
        }
    }

    #[test]
    fn ops_are_sound() {
        let mut r = Rng::new(7);
        for _ in 0..20000 {
            let (x, y) = (r.interesting(), r.interesting());
            let (a, b) = (tnum_around(&mut r, x), tnum_around(&mut r, y));
            let (x, y) = (member(&mut r, a), member(&mut r, b));
            let s = (r.next() % 64) as u32;
            let checks: [(Tnum, u64, &str); 14] = [
                (a.add(b), x.wrapping_add(y), "add"),
                (a.sub(b), x.wrapping_sub(y), "sub"),
                (a.mul(b), x.wrapping_mul(y), "mul"),
                (a.and(b), x & y, "and"),
                (a.or(b), x | y, "or"),
                (a.xor(b), x ^ y, "xor"),
                (a.neg(), x.wrapping_neg(), "neg"),
                (a.lshift(s), x << s, "lsh"),
                (a.rshift(s), x >> s, "rsh"),
                (a.arshift(s, false), ((x as i64) >> s) as u64, "arsh"),
                (
                    a.arshift(s % 32, true),
                    ((x as u32 as i32) >> (s % 32)) as u32 as u64,
                    "arsh32",
                ),
                (a.union(b), y, "union"),
                (a.sign_extend(16), x as i16 as i64 as u64, "sext16"),
                (a.bswap(32), (x as u32).swap_bytes() as u64, "bswap32"),
            ];
            for (t, v, name) in checks {
                assert!(t.contains(v), "{name}: {a} {b} x={x:#x} y={y:#x} -> {t}");
                assert_eq!(t.value & t.mask, 0, "{name} invariant");
            }
            assert!(a.cast(2).contains(x & 0xffff));
            assert!(a
                .with_subreg(b)
                .contains((x & !0xffff_ffff) | (y & 0xffff_ffff)));
            // A value in both sets is in their intersection; disjoint sets share none.
            let z = member(&mut r, a);
            if b.contains(z) {
                assert!(a.overlaps(b) && a.intersect(b).contains(z));
            }
            if !a.overlaps(b) {
                assert!(!b.contains(x));
            }
            assert!(a.includes(Tnum::constant(x)));
        }
    }
}
