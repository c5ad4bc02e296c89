//! Scalar bounds: a [`Tnum`] plus signed/unsigned 64-bit and 32-bit ranges, kept mutually
//! consistent by [`Scalar::sync`] (kernel `reg_bounds_sync`), and the transfer functions of
//! every arithmetic instruction form (kernel `adjust_scalar_min_max_vals`).
//!
//! The transfer functions are written once for both widths: operands are viewed as
//! views of the chosen width with `i128` bounds, so overflow of the width is visible as
//! a bound outside the width's range and widens to "unbounded".

use super::tnum::Tnum;
use crate::isa::{AluOp, ByteOrder, Width};
use std::fmt;

/// What is known about a 64-bit scalar (or about a pointer's variable offset).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Scalar {
    /// Known bits.
    pub var_off: Tnum,
    pub smin: i64,
    pub smax: i64,
    pub umin: u64,
    pub umax: u64,
    pub s32_min: i32,
    pub s32_max: i32,
    pub u32_min: u32,
    pub u32_max: u32,
}

impl Scalar {
    /// Any value.
    pub const UNKNOWN: Scalar = Scalar {
        var_off: Tnum::UNKNOWN,
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        s32_min: i32::MIN,
        s32_max: i32::MAX,
        u32_min: 0,
        u32_max: u32::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Scalar {
        Scalar {
            var_off: Tnum::constant(v),
            smin: v as i64,
            smax: v as i64,
            umin: v,
            umax: v,
            s32_min: v as i32,
            s32_max: v as i32,
            u32_min: v as u32,
            u32_max: v as u32,
        }
    }

    /// Any value of `lo..=hi` (unsigned).
    pub fn urange(lo: u64, hi: u64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.umin = lo;
        s.umax = hi;
        s.var_off = Tnum::range(lo, hi);
        s.sync();
        s
    }

    /// Any value of `lo..=hi` (signed).
    pub fn srange(lo: i64, hi: i64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.smin = lo;
        s.smax = hi;
        s.sync();
        s
    }

    /// The value, if known.
    pub fn as_const(&self) -> Option<u64> {
        self.var_off.is_const().then_some(self.var_off.value)
    }

    /// The low 32 bits, if known.
    pub fn as_const32(&self) -> Option<u32> {
        self.var_off
            .subreg()
            .is_const()
            .then_some(self.var_off.value as u32)
    }

    /// Whether `v` satisfies every constraint.
    pub fn contains(&self, v: u64) -> bool {
        let (s, u32v, s32v) = (v as i64, v as u32, v as i32);
        self.var_off.contains(v)
            && self.smin <= s
            && s <= self.smax
            && self.umin <= v
            && v <= self.umax
            && self.s32_min <= s32v
            && s32v <= self.s32_max
            && self.u32_min <= u32v
            && u32v <= self.u32_max
    }

    /// Whether the constraints contradict each other (no value satisfies them). Only
    /// range contradictions are detected; a state reported non-empty may still be empty.
    pub fn is_empty(&self) -> bool {
        self.smin > self.smax
            || self.umin > self.umax
            || self.s32_min > self.s32_max
            || self.u32_min > self.u32_max
            || self.var_off.value & self.var_off.mask != 0
            || self.umin > self.var_off.umax()
            || self.umax < self.var_off.value
    }

    /// Whether every value of `cur` is a value of `self` (kernel `range_within` plus
    /// `tnum_in`), for state pruning.
    pub fn includes(&self, cur: &Scalar) -> bool {
        self.smin <= cur.smin
            && cur.smax <= self.smax
            && self.umin <= cur.umin
            && cur.umax <= self.umax
            && self.s32_min <= cur.s32_min
            && cur.s32_max <= self.s32_max
            && self.u32_min <= cur.u32_min
            && cur.u32_max <= self.u32_max
            && self.var_off.includes(cur.var_off)
    }

    /// Whether nothing at all is known.
    pub fn is_unknown(&self) -> bool {
        *self == Scalar::UNKNOWN
    }

    /// Propagates knowledge between the tnum and the four ranges until each says as much
    /// as the others allow (kernel `reg_bounds_sync`).
    pub fn sync(&mut self) {
        // A contradiction (a dead branch edge) must stay visible: stop at the first one
        // rather than let a later deduction "repair" it.
        self.update_from_tnum();
        for _ in 0..2 {
            if self.is_empty() {
                return;
            }
            self.deduce();
        }
        if self.is_empty() {
            return;
        }
        self.bound_offset();
        self.update_from_tnum();
    }

    /// Ranges from known bits (kernel `__update_reg_bounds`).
    fn update_from_tnum(&mut self) {
        let t = self.var_off;
        self.smin = self.smin.max((t.value | (t.mask & (1 << 63))) as i64);
        self.smax = self
            .smax
            .min((t.value | (t.mask & (i64::MAX as u64))) as i64);
        self.umin = self.umin.max(t.value);
        self.umax = self.umax.min(t.value | t.mask);
        let t = t.subreg();
        let (v, m) = (t.value as u32, t.mask as u32);
        self.s32_min = self.s32_min.max((v | (m & (1 << 31))) as i32);
        self.s32_max = self.s32_max.min((v | (m & (i32::MAX as u32))) as i32);
        self.u32_min = self.u32_min.max(v);
        self.u32_max = self.u32_max.min(v | m);
    }

    /// Kernel `__reg_deduce_bounds`: 32 from 64, signed from unsigned and back, 64 from 32.
    fn deduce(&mut self) {
        // Each step assumes a consistent state; stop at a contradiction.
        self.deduce32();
        if self.is_empty() {
            return;
        }
        self.deduce64();
        if self.is_empty() {
            return;
        }
        self.deduce_mixed();
    }

    fn deduce32(&mut self) {
        // Upper halves equal: the low halves form a range of their own.
        if self.umin >> 32 == self.umax >> 32 {
            self.u32_min = self.u32_min.max(self.umin as u32);
            self.u32_max = self.u32_max.min(self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.s32_min = self.s32_min.max(self.umin as i32);
                self.s32_max = self.s32_max.min(self.umax as i32);
            }
        }
        if self.smin >> 32 == self.smax >> 32 {
            self.u32_min = self.u32_min.max(self.smin as u32);
            self.u32_max = self.u32_max.min(self.smax as u32);
            if (self.smin as i32) <= (self.smax as i32) {
                self.s32_min = self.s32_min.max(self.smin as i32);
                self.s32_max = self.s32_max.min(self.smax as i32);
            }
        }
        // Upper halves differ by one and the low halves wrap through the 32-bit sign
        // boundary: the low halves still form one signed range.
        if ((self.umin >> 32) as u32).wrapping_add(1) == (self.umax >> 32) as u32
            && (self.umin as i32) < 0
            && (self.umax as i32) >= 0
        {
            self.s32_min = self.s32_min.max(self.umin as i32);
            self.s32_max = self.s32_max.min(self.umax as i32);
        }
        if ((self.smin >> 32) as u32).wrapping_add(1) == (self.smax >> 32) as u32
            && (self.smin as i32) < 0
            && (self.smax as i32) >= 0
        {
            self.s32_min = self.s32_min.max(self.smin as i32);
            self.s32_max = self.s32_max.min(self.smax as i32);
        }
        if (self.u32_min as i32) <= (self.u32_max as i32) {
            self.s32_min = self.s32_min.max(self.u32_min as i32);
            self.s32_max = self.s32_max.min(self.u32_max as i32);
        }
        if (self.s32_min as u32) <= (self.s32_max as u32) {
            self.u32_min = self.u32_min.max(self.s32_min as u32);
            self.u32_max = self.u32_max.min(self.s32_max as u32);
        } else if self.s32_min > self.s32_max {
            // Contradictory already: leave it for `is_empty`.
        } else if self.u32_max < self.s32_min as u32 {
            // The signed range crosses zero; the unsigned range lies in its non-negative
            // part ...
            self.s32_min = self.u32_min as i32;
            self.s32_max = (self.s32_max as u32).min(self.u32_max) as i32;
        } else if (self.s32_max as u32) < self.u32_min {
            // ... or in its negative part.
            self.s32_min = (self.s32_min as u32).max(self.u32_min) as i32;
            self.s32_max = self.u32_max as i32;
        }
    }

    fn deduce64(&mut self) {
        if (self.umin as i64) <= (self.umax as i64) {
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        if (self.smin as u64) <= (self.smax as u64) {
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        } else if self.smin > self.smax {
            // Contradictory already: leave it for `is_empty`.
        } else if self.umax < self.smin as u64 {
            // The signed range crosses zero but the unsigned range lies in its
            // non-negative part.
            self.smin = self.umin as i64;
            self.smax = (self.smax as u64).min(self.umax) as i64;
        } else if (self.smax as u64) < self.umin {
            // ... or in its negative part.
            self.smin = (self.smin as u64).max(self.umin) as i64;
            self.smax = self.umax as i64;
        }
    }

    fn deduce_mixed(&mut self) {
        // The low half of every value lies in [u32_min, u32_max]: move each 64-bit bound
        // to the nearest value with such a low half (into the next or previous 2^32 block
        // when its own low half is outside).
        let lo = 0xffff_ffffu64;
        let (l32, h32) = (u64::from(self.u32_min), u64::from(self.u32_max));
        let empty = |s: &mut Scalar| {
            s.umin = 1;
            s.umax = 0;
        };
        let l = self.umin & lo;
        if l > h32 {
            match (self.umin >> 32).checked_add(1).filter(|&h| h <= lo) {
                Some(h) => self.umin = (h << 32) | l32,
                None => return empty(self),
            }
        } else if l < l32 {
            self.umin = (self.umin & !lo) | l32;
        }
        let l = self.umax & lo;
        if l < l32 {
            match (self.umax >> 32).checked_sub(1) {
                Some(h) => self.umax = (h << 32) | h32,
                None => return empty(self),
            }
        } else if l > h32 {
            self.umax = (self.umax & !lo) | h32;
        }
        let l = self.smin as u64 & lo;
        if l > h32 {
            match (self.smin >> 32)
                .checked_add(1)
                .filter(|&h| h <= i64::from(i32::MAX))
            {
                Some(h) => self.smin = ((h << 32) as u64 | l32) as i64,
                None => return empty(self),
            }
        } else if l < l32 {
            self.smin = ((self.smin as u64 & !lo) | l32) as i64;
        }
        let l = self.smax as u64 & lo;
        if l < l32 {
            match (self.smax >> 32)
                .checked_sub(1)
                .filter(|&h| h >= i64::from(i32::MIN))
            {
                Some(h) => self.smax = ((h << 32) as u64 | h32) as i64,
                None => return empty(self),
            }
        } else if l > h32 {
            self.smax = ((self.smax as u64 & !lo) | h32) as i64;
        }
        if self.is_empty() {
            return;
        }
        // After a sign-extending load the upper half is all zeros or all ones; a
        // non-negative low half then pins the whole value.
        if self.s32_min >= 0 && self.smin >= i32::MIN as i64 && self.smax <= i32::MAX as i64 {
            self.smin = self.s32_min as i64;
            self.smax = self.s32_max as i64;
            self.umin = self.s32_min as u64;
            self.umax = self.s32_max as u64;
            self.var_off = self
                .var_off
                .intersect(Tnum::range(self.smin as u64, self.smax as u64));
        }
    }

    /// Known bits from the ranges (kernel `__reg_bound_offset`).
    fn bound_offset(&mut self) {
        let v64 = self.var_off.intersect(Tnum::range(self.umin, self.umax));
        let v32 = v64
            .subreg()
            .intersect(Tnum::range(self.u32_min as u64, self.u32_max as u64));
        self.var_off = v64.clear_subreg().or(v32);
    }

    /// The result of a 32-bit operation whose low half is `self`: zero-extended.
    pub fn zext32(&self) -> Scalar {
        View::of(self, Width::W32).build()
    }

    /// The low `bytes` bytes, zero-extended (a narrow load or a truncation).
    pub fn truncate(&self, bytes: u32) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        if bytes == 4 {
            // The low half keeps everything known about it.
            return self.zext32();
        }
        let max = (1u64 << (bytes * 8)) - 1;
        let mut s = Scalar::UNKNOWN;
        s.var_off = self.var_off.cast(bytes);
        if self.umax <= max {
            s.umin = self.umin;
            s.umax = self.umax;
        } else {
            s.umin = 0;
            s.umax = max;
        }
        s.smin = 0;
        s.smax = s.umax as i64;
        s.sync();
        s
    }

    /// Sign extension of the low `bits` ∈ {8, 16, 32} bits to 64 bits (kernel
    /// `coerce_reg_to_size_sx`).
    pub fn sign_extend(&self, bits: u32) -> Scalar {
        let half = 1i64 << (bits - 1);
        // Values already representable keep their bounds.
        if self.smin >= -half && self.smax < half && (self.umax < half as u64 || self.smin < 0) {
            let mut s = Scalar::UNKNOWN;
            s.smin = self.smin;
            s.smax = self.smax;
            s.var_off = self.var_off.sign_extend(bits);
            s.sync();
            return s;
        }
        let mut s = Scalar::UNKNOWN;
        s.smin = -half;
        s.smax = half - 1;
        s.var_off = self.var_off.sign_extend(bits);
        s.sync();
        s
    }
}

impl fmt::Display for Scalar {
    /// Kernel notation: `1`, `-5`, or `scalar(smin=..,umax=..,var_off=(..; ..))` listing only
    /// the bounds that say something beyond the others.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.as_const() {
            return write!(f, "{}", c as i64);
        }
        write!(f, "scalar(")?;
        let mut parts: Vec<String> = Vec::new();
        let unsigned_is_signed = self.smin >= 0;
        if self.smin != i64::MIN && !(unsigned_is_signed && self.smin as u64 == self.umin) {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != i64::MAX {
            if unsigned_is_signed && self.smax as u64 == self.umax {
                parts.push(format!("smax=umax={:#x}", self.umax));
            } else {
                parts.push(format!("smax={}", self.smax));
            }
        }
        if self.umin != 0 && !(unsigned_is_signed && self.smin as u64 == self.umin) {
            parts.push(format!("umin={}", self.umin));
        } else if self.umin != 0 {
            parts.push(format!("smin=umin={}", self.umin));
        }
        if self.umax != u64::MAX && !(unsigned_is_signed && self.smax as u64 == self.umax) {
            parts.push(format!("umax={:#x}", self.umax));
        }
        if self.s32_min != i32::MIN && i64::from(self.s32_min) != self.smin {
            parts.push(format!("smin32={}", self.s32_min));
        }
        if self.s32_max != i32::MAX && i64::from(self.s32_max) != self.smax {
            parts.push(format!("smax32={}", self.s32_max));
        }
        if self.u32_min != 0 && u64::from(self.u32_min) != self.umin {
            parts.push(format!("umin32={}", self.u32_min));
        }
        if self.u32_max != u32::MAX && u64::from(self.u32_max) != self.umax {
            parts.push(format!("umax32={:#x}", self.u32_max));
        }
        if !self.var_off.is_unknown() {
            parts.push(format!("var_off={}", self.var_off));
        }
        write!(f, "{})", parts.join(","))
    }
}

/// Bounds of one width as `i128`, so that results outside the width are visible.
#[derive(Clone, Copy, Debug)]
pub(super) struct View {
    pub(super) w: Width,
    /// Known bits of the low `w` bits (upper bits known zero for `W32`).
    pub(super) t: Tnum,
    pub(super) smin: i128,
    pub(super) smax: i128,
    pub(super) umin: i128,
    pub(super) umax: i128,
}

fn width_bits(w: Width) -> u32 {
    match w {
        Width::W32 => 32,
        Width::W64 => 64,
    }
}

impl View {
    pub(super) fn of(s: &Scalar, w: Width) -> View {
        match w {
            Width::W64 => View {
                w,
                t: s.var_off,
                smin: s.smin.into(),
                smax: s.smax.into(),
                umin: s.umin.into(),
                umax: s.umax.into(),
            },
            Width::W32 => View {
                w,
                t: s.var_off.subreg(),
                smin: s.s32_min.into(),
                smax: s.s32_max.into(),
                umin: s.u32_min.into(),
                umax: s.u32_max.into(),
            },
        }
    }

    fn smin_w(w: Width) -> i128 {
        -(1i128 << (width_bits(w) - 1))
    }
    fn smax_w(w: Width) -> i128 {
        (1i128 << (width_bits(w) - 1)) - 1
    }
    fn umax_w(w: Width) -> i128 {
        (1i128 << width_bits(w)) - 1
    }

    /// A view with nothing known except what `t` says.
    fn unknown(w: Width, t: Tnum) -> View {
        View {
            w,
            t: match w {
                Width::W32 => t.subreg(),
                Width::W64 => t,
            },
            smin: View::smin_w(w),
            smax: View::smax_w(w),
            umin: 0,
            umax: View::umax_w(w),
        }
    }

    /// Sets signed bounds, or leaves them unbounded if they do not fit the width.
    fn set_s(&mut self, lo: Option<i128>, hi: Option<i128>) {
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo >= View::smin_w(self.w) && hi <= View::smax_w(self.w) => {
                self.smin = lo;
                self.smax = hi;
            }
            _ => {
                self.smin = View::smin_w(self.w);
                self.smax = View::smax_w(self.w);
            }
        }
    }

    /// Sets unsigned bounds, or leaves them unbounded if they do not fit the width.
    fn set_u(&mut self, lo: Option<i128>, hi: Option<i128>) {
        match (lo, hi) {
            (Some(lo), Some(hi)) if lo >= 0 && hi <= View::umax_w(self.w) => {
                self.umin = lo;
                self.umax = hi;
            }
            _ => {
                self.umin = 0;
                self.umax = View::umax_w(self.w);
            }
        }
    }

    pub(super) fn as_const(&self) -> Option<i128> {
        self.t.is_const().then_some(self.t.value as i128)
    }

    /// The scalar whose low `w` bits this view describes; a 32-bit result is
    /// zero-extended.
    /// Writes a (tightened) view back into what `s` knows about its low `w` bits, keeping
    /// the rest, and re-syncs (unless the result is already contradictory).
    pub(super) fn write_back(&self, s: &mut Scalar) {
        match self.w {
            Width::W64 => {
                s.var_off = self.t;
                s.smin = self.smin as i64;
                s.smax = self.smax as i64;
                s.umin = self.umin as u64;
                s.umax = self.umax as u64;
            }
            Width::W32 => {
                s.var_off = s.var_off.with_subreg(self.t);
                s.s32_min = self.smin as i32;
                s.s32_max = self.smax as i32;
                s.u32_min = self.umin as u32;
                s.u32_max = self.umax as u32;
            }
        }
        if !s.is_empty() {
            s.sync();
        }
    }

    pub(super) fn build(&self) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        match self.w {
            Width::W64 => {
                s.var_off = self.t;
                s.smin = self.smin as i64;
                s.smax = self.smax as i64;
                s.umin = self.umin as u64;
                s.umax = self.umax as u64;
            }
            Width::W32 => {
                s.var_off = self.t.subreg();
                s.s32_min = self.smin as i32;
                s.s32_max = self.smax as i32;
                s.u32_min = self.umin as u32;
                s.u32_max = self.umax as u32;
                s.umin = self.umin as u64;
                s.umax = self.umax as u64;
                s.smin = 0;
                s.smax = u32::MAX as i64;
            }
        }
        s.sync();
        s
    }
}

fn checked_corners(
    a: &View,
    b: &View,
    f: impl Fn(i128, i128) -> Option<i128>,
) -> (Option<i128>, Option<i128>) {
    let c = [
        f(a.smin, b.smin),
        f(a.smin, b.smax),
        f(a.smax, b.smin),
        f(a.smax, b.smax),
    ];
    if c.iter().any(Option::is_none) {
        return (None, None);
    }
    let c = c.map(|x| x.unwrap_or_default());
    (c.iter().min().copied(), c.iter().max().copied())
}

/// The result of `dst = dst op src` at `width` for scalar operands (`Mov` included).
pub fn alu(op: AluOp, width: Width, dst: &Scalar, src: &Scalar) -> Scalar {
    let mut r = alu_width(op, width, dst, src);
    // For these operations the low 32 bits of a 64-bit result depend only on the low 32
    // bits of the operands, so the 32-bit result bounds them too (the kernel tracks both
    // widths for 64-bit operations as well).
    if width == Width::W64
        && matches!(
            op,
            AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::And | AluOp::Or | AluOp::Xor | AluOp::Lsh
        )
    {
        let lo = alu_width(op, Width::W32, dst, src);
        r.s32_min = r.s32_min.max(lo.s32_min);
        r.s32_max = r.s32_max.min(lo.s32_max);
        r.u32_min = r.u32_min.max(lo.u32_min);
        r.u32_max = r.u32_max.min(lo.u32_max);
        r.var_off = r
            .var_off
            .with_subreg(r.var_off.subreg().intersect(lo.var_off.subreg()));
        r.sync();
    }
    r
}

/// [`alu`] at one width only.
fn alu_width(op: AluOp, width: Width, dst: &Scalar, src: &Scalar) -> Scalar {
    let a = View::of(dst, width);
    let b = View::of(src, width);
    let bits = width_bits(width);
    // Identities keep everything known about `dst` (signed bounds included).
    let all_ones = match width {
        Width::W32 => u32::MAX as i128,
        Width::W64 => u64::MAX as i128,
    };
    match (op, b.as_const()) {
        (AluOp::Or | AluOp::Xor, Some(0)) => return a.build(),
        (AluOp::And, Some(c)) if c == all_ones => return a.build(),
        _ => {}
    }
    let mut r = View::unknown(width, Tnum::UNKNOWN);
    match op {
        AluOp::Mov => return b.build(),
        AluOp::Add => {
            r.t = a.t.add(b.t);
            r.set_s(Some(a.smin + b.smin), Some(a.smax + b.smax));
            r.set_u(Some(a.umin + b.umin), Some(a.umax + b.umax));
        }
        AluOp::Sub => {
            r.t = a.t.sub(b.t);
            r.set_s(Some(a.smin - b.smax), Some(a.smax - b.smin));
            r.set_u(Some(a.umin - b.umax), Some(a.umax - b.umin));
        }
        AluOp::Mul => {
            r.t = a.t.mul(b.t);
            r.set_u(a.umin.checked_mul(b.umin), a.umax.checked_mul(b.umax));
            let (lo, hi) = checked_corners(&a, &b, i128::checked_mul);
            r.set_s(lo, hi);
        }
        AluOp::Div => match b.as_const() {
            Some(0) => return View::of(&Scalar::constant(0), width).build(),
            _ if b.umin == 0 => r.set_u(Some(0), Some(a.umax)),
            _ => r.set_u(Some(a.umin / b.umax), Some(a.umax / b.umin)),
        },
        AluOp::Mod => match b.as_const() {
            // Modulo by zero leaves dst (truncated to the width).
            Some(0) => return a.build(),
            _ if b.umin == 0 => r.set_u(Some(0), Some(a.umax)),
            _ if a.umax < b.umin => return a.build(),
            _ => r.set_u(Some(0), Some(a.umax.min(b.umax - 1))),
        },
        AluOp::Sdiv => match b.as_const().map(|c| sign_w(c, bits)) {
            Some(0) => return View::of(&Scalar::constant(0), width).build(),
            // x / -1 overflows only for the minimum, which stays the minimum.
            Some(-1) if a.smin == View::smin_w(width) => {}
            Some(-1) => r.set_s(Some(-a.smax), Some(-a.smin)),
            Some(c) => {
                let (p, q) = (a.smin / c, a.smax / c);
                r.set_s(Some(p.min(q)), Some(p.max(q)));
            }
            None if b.smin > 0 => {
                let (lo, hi) = checked_corners(&a, &b, |x, y| Some(x / y));
                r.set_s(lo, hi);
            }
            None => {}
        },
        AluOp::Smod => match b.as_const().map(|c| sign_w(c, bits)) {
            Some(0) => return a.build(),
            Some(c) => {
                let m = c.abs() - 1;
                let lo = if a.smin < 0 { a.smin.max(-m) } else { 0 };
                let hi = if a.smax > 0 { a.smax.min(m) } else { 0 };
                r.set_s(Some(lo), Some(hi));
            }
            None => {}
        },
        AluOp::And => {
            r.t = a.t.and(b.t);
            r.set_u(Some(0), Some(a.umax.min(b.umax)));
            if a.smin >= 0 || b.smin >= 0 {
                // A non-negative operand clears the sign bit.
                let hi = match (a.smin >= 0, b.smin >= 0) {
                    (true, true) => a.smax.min(b.smax),
                    (true, false) => a.smax,
                    _ => b.smax,
                };
                r.set_s(Some(0), Some(hi));
            }
        }
        AluOp::Or => {
            r.t = a.t.or(b.t);
            r.set_u(Some(a.umin.max(b.umin)), Some(View::umax_w(width)));
        }
        AluOp::Xor => r.t = a.t.xor(b.t),
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            // Like the kernel, only constant in-range shift amounts are tracked.
            let Some(k) = b.as_const().filter(|&k| k < bits as i128) else {
                return r.build();
            };
            let k32 = k as u32;
            match op {
                AluOp::Lsh => {
                    r.t = a.t.lshift(k32);
                    r.set_u(Some(a.umin << k32), Some(a.umax << k32));
                    r.set_s(Some(a.smin << k32), Some(a.smax << k32));
                }
                AluOp::Rsh => {
                    r.t = a.t.rshift(k32);
                    r.set_u(Some(a.umin >> k32), Some(a.umax >> k32));
                }
                _ => {
                    r.t = a.t.arshift(k32, width == Width::W32);
                    r.set_s(Some(a.smin >> k32), Some(a.smax >> k32));
                }
            }
        }
    }
    if width == Width::W32 {
        r.t = r.t.subreg();
    }
    r.build()
}

/// `c` (the low `bits` bits of a constant) as a signed number of that width.
fn sign_w(c: i128, bits: u32) -> i128 {
    if bits == 32 {
        (c as u32 as i32).into()
    } else {
        (c as u64 as i64).into()
    }
}

/// `dst = -dst`.
pub fn neg(width: Width, dst: &Scalar) -> Scalar {
    alu(AluOp::Sub, width, &Scalar::constant(0), dst)
}

/// Sign-extending move of the low `bits` of `src` (`movsx`); a 32-bit move zero-extends
/// the 32-bit result.
pub fn movsx(width: Width, src: &Scalar, bits: u8) -> Scalar {
    let ext = src.sign_extend(bits.into());
    match width {
        Width::W64 => ext,
        Width::W32 => ext.zext32(),
    }
}

/// Byte-order conversion of the low `bits` (little-endian host: `ToLe` only truncates).
pub fn end(order: ByteOrder, dst: &Scalar, bits: u8) -> Scalar {
    let bits = u32::from(bits);
    match order {
        ByteOrder::ToLe => dst.truncate(bits / 8),
        ByteOrder::ToBe | ByteOrder::Swap => {
            let mut s = Scalar::UNKNOWN;
            s.var_off = dst.var_off.bswap(bits);
            s.sync();
            s
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::verifier::testrng::Rng;

    /// The concrete semantics of the ALU (RFC 9669 §4.1), the ground truth for soundness.
    pub(crate) fn concrete(op: AluOp, w: Width, a: u64, b: u64) -> u64 {
        match w {
            Width::W64 => match op {
                AluOp::Add => a.wrapping_add(b),
                AluOp::Sub => a.wrapping_sub(b),
                AluOp::Mul => a.wrapping_mul(b),
                AluOp::Div => a.checked_div(b).unwrap_or(0),
                AluOp::Sdiv => {
                    if b == 0 {
                        0
                    } else {
                        (a as i64).wrapping_div(b as i64) as u64
                    }
                }
                AluOp::Mod => a.checked_rem(b).unwrap_or(a),
                AluOp::Smod => {
                    if b == 0 {
                        a
                    } else {
                        (a as i64).wrapping_rem(b as i64) as u64
                    }
                }
                AluOp::Or => a | b,
                AluOp::And => a & b,
                AluOp::Xor => a ^ b,
                AluOp::Lsh => a << (b & 63),
                AluOp::Rsh => a >> (b & 63),
                AluOp::Arsh => ((a as i64) >> (b & 63)) as u64,
                AluOp::Mov => b,
            },
            Width::W32 => {
                let (a, b) = (a as u32, b as u32);
                (match op {
                    AluOp::Add => a.wrapping_add(b),
                    AluOp::Sub => a.wrapping_sub(b),
                    AluOp::Mul => a.wrapping_mul(b),
                    AluOp::Div => a.checked_div(b).unwrap_or(0),
                    AluOp::Sdiv => {
                        if b == 0 {
                            0
                        } else {
                            (a as i32).wrapping_div(b as i32) as u32
                        }
                    }
                    AluOp::Mod => a.checked_rem(b).unwrap_or(a),
                    AluOp::Smod => {
                        if b == 0 {
                            a
                        } else {
                            (a as i32).wrapping_rem(b as i32) as u32
                        }
                    }
                    AluOp::Or => a | b,
                    AluOp::And => a & b,
                    AluOp::Xor => a ^ b,
                    AluOp::Lsh => a << (b & 31),
                    AluOp::Rsh => a >> (b & 31),
                    AluOp::Arsh => ((a as i32) >> (b & 31)) as u32,
                    AluOp::Mov => b,
                }) as u64
            }
        }
    }

    /// A random abstract state that contains `x`.
    pub(crate) fn scalar_around(r: &mut Rng, x: u64) -> Scalar {
        if r.one_in(5) {
            return Scalar::constant(x);
        }
        let mut s = Scalar::UNKNOWN;
        s.var_off = Tnum::new(x, r.bits_mask());
        let spread = |r: &mut Rng| {
            if r.one_in(2) {
                r.below(20)
            } else {
                r.next() & r.bits_mask()
            }
        };
        if r.one_in(2) {
            s.umin = x.saturating_sub(spread(r));
            s.umax = x.saturating_add(spread(r));
        }
        if r.one_in(2) {
            s.smin = (x as i64).saturating_sub(spread(r) as i64 & i64::MAX);
            s.smax = (x as i64).saturating_add(spread(r) as i64 & i64::MAX);
        }
        if r.one_in(2) {
            s.u32_min = (x as u32).saturating_sub(spread(r) as u32);
            s.u32_max = (x as u32).saturating_add(spread(r) as u32);
        }
        if r.one_in(2) {
            s.s32_min = (x as i32).saturating_sub(spread(r) as i32 & i32::MAX);
            s.s32_max = (x as i32).saturating_add(spread(r) as i32 & i32::MAX);
        }
        assert!(s.contains(x));
        let before = s;
        s.sync();
        assert!(s.contains(x), "sync lost {x:#x}: {before:?} -> {s:?}");
        s
    }

    /// Up to `n` random members of `s` (always including `x`).
    pub(crate) fn members(r: &mut Rng, s: &Scalar, x: u64, n: usize) -> Vec<u64> {
        let mut v = vec![x];
        for _ in 0..n * 4 {
            if v.len() > n {
                break;
            }
            let y = match r.below(3) {
                0 => s.var_off.value | (r.next() & s.var_off.mask),
                1 => s.umin.wrapping_add(r.below(4)),
                _ => s.umax.wrapping_sub(r.below(4)),
            };
            if s.contains(y) {
                v.push(y);
            }
        }
        v
    }

    #[test]
    fn sync_is_sound_and_tightens() {
        let mut r = Rng::new(11);
        for _ in 0..50000 {
            let x = r.interesting();
            let s = scalar_around(&mut r, x);
            assert!(!s.is_empty());
            let mut again = s;
            again.sync();
            assert!(s.includes(&again));
        }
        let s = Scalar::urange(0, 255);
        assert_eq!(s.var_off, Tnum::new(0, 0xff));
        assert_eq!((s.smin, s.smax, s.u32_max, s.s32_min), (0, 255, 255, 0));
        let s = Scalar::srange(-1, 1);
        assert_eq!((s.s32_min, s.s32_max), (-1, 1));
    }

    #[test]
    fn alu_is_sound() {
        let mut r = Rng::new(42);
        for _ in 0..30000 {
            let (x, y) = (r.interesting(), r.interesting());
            let (a, b) = (scalar_around(&mut r, x), scalar_around(&mut r, y));
            let xs = members(&mut r, &a, x, 3);
            let ys = members(&mut r, &b, y, 3);
            for w in [Width::W64, Width::W32] {
                for op in AluOp::ALL {
                    let res = alu(op, w, &a, &b);
                    for &x in &xs {
                        for &y in &ys {
                            let c = concrete(op, w, x, y);
                            assert!(
                                res.contains(c),
                                "{op:?} {w:?}: {x:#x} op {y:#x} = {c:#x} not in {res} from {a} and {b}"
                            );
                        }
                    }
                }
                for &x in &xs {
                    assert!(neg(w, &a).contains(concrete(AluOp::Sub, w, 0, x)));
                }
            }
            for &x in &xs {
                for bits in [8u8, 16, 32] {
                    let sx = match bits {
                        8 => x as i8 as i64 as u64,
                        16 => x as i16 as i64 as u64,
                        _ => x as i32 as i64 as u64,
                    };
                    assert!(
                        movsx(Width::W64, &a, bits).contains(sx),
                        "movsx{bits} {x:#x} {a}"
                    );
                    if bits < 32 {
                        assert!(movsx(Width::W32, &a, bits).contains(sx as u32 as u64));
                    }
                }
                for bits in [16u8, 32, 64] {
                    let le = if bits == 64 {
                        x
                    } else {
                        x & ((1u64 << bits) - 1)
                    };
                    let sw = match bits {
                        16 => (x as u16).swap_bytes() as u64,
                        32 => (x as u32).swap_bytes() as u64,
                        _ => x.swap_bytes(),
                    };
                    assert!(end(ByteOrder::ToLe, &a, bits).contains(le));
                    assert!(end(ByteOrder::ToBe, &a, bits).contains(sw));
                    assert!(end(ByteOrder::Swap, &a, bits).contains(sw));
                }
            }
        }
    }

    #[test]
    fn alu_is_precise_on_constants() {
        let mut r = Rng::new(5);
        for _ in 0..5000 {
            let (x, y) = (r.interesting(), r.interesting());
            for w in [Width::W64, Width::W32] {
                for op in [
                    AluOp::Add,
                    AluOp::Sub,
                    AluOp::Mul,
                    AluOp::And,
                    AluOp::Or,
                    AluOp::Xor,
                    AluOp::Mov,
                ] {
                    let res = alu(op, w, &Scalar::constant(x), &Scalar::constant(y));
                    assert_eq!(
                        res.as_const(),
                        Some(concrete(op, w, x, y)),
                        "{op:?} {w:?} {x:#x} {y:#x}"
                    );
                }
            }
        }
        let s = alu(
            AluOp::And,
            Width::W64,
            &Scalar::UNKNOWN,
            &Scalar::constant(0xff),
        );
        assert_eq!((s.umin, s.umax, s.smin, s.smax), (0, 255, 0, 255));
        assert_eq!(format!("{s}"), "scalar(smax=umax=0xff,var_off=(0x0; 0xff))");
        let s = alu(
            AluOp::Rsh,
            Width::W64,
            &Scalar::UNKNOWN,
            &Scalar::constant(60),
        );
        assert_eq!(s.umax, 15);
        let s = alu(
            AluOp::Mod,
            Width::W64,
            &Scalar::UNKNOWN,
            &Scalar::constant(10),
        );
        assert_eq!(s.umax, 9);
    }
}
