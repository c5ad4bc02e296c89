//! Conditional jumps on scalars: deciding a branch from the bounds (kernel
//! `is_scalar_branch_taken`) and narrowing both operands on each edge (kernel
//! `regs_refine_cond_op` + `reg_bounds_sync`), at 32 and 64 bits.

use super::scalar::{Scalar, View};
use super::tnum::Tnum;
use crate::isa::{JmpCond, Width};

/// Whether `a cond b` holds for every value (`Some(true)`), for none (`Some(false)`), or
/// depends on the values (`None`).
pub fn is_branch_taken(cond: JmpCond, width: Width, a: &Scalar, b: &Scalar) -> Option<bool> {
    let (a, b) = (View::of(a, width), View::of(b, width));
    taken(cond, &a, &b)
}

fn taken(cond: JmpCond, a: &View, b: &View) -> Option<bool> {
    match cond {
        JmpCond::Eq => {
            if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
                return Some(x == y);
            }
            let disjoint = a.umin > b.umax
                || a.umax < b.umin
                || a.smin > b.smax
                || a.smax < b.smin
                || !a.t.overlaps(b.t);
            disjoint.then_some(false)
        }
        JmpCond::Ne => taken(JmpCond::Eq, a, b).map(|t| !t),
        JmpCond::Set => {
            if a.t.value & b.t.value != 0 {
                Some(true)
            } else if a.t.umax() & b.t.umax() == 0 {
                Some(false)
            } else {
                None
            }
        }
        JmpCond::Gt => decide(a.umin > b.umax, a.umax <= b.umin),
        JmpCond::Ge => decide(a.umin >= b.umax, a.umax < b.umin),
        JmpCond::Sgt => decide(a.smin > b.smax, a.smax <= b.smin),
        JmpCond::Sge => decide(a.smin >= b.smax, a.smax < b.smin),
        JmpCond::Lt | JmpCond::Le | JmpCond::Slt | JmpCond::Sle => taken(cond.swap(), b, a),
    }
}

fn decide(always: bool, never: bool) -> Option<bool> {
    if always {
        Some(true)
    } else if never {
        Some(false)
    } else {
        None
    }
}

/// What each operand can be on the edge where `a cond b` is `outcome`; `None` if no
/// values reach that edge.
pub fn refine(
    cond: JmpCond,
    width: Width,
    a: &Scalar,
    b: &Scalar,
    outcome: bool,
) -> Option<(Scalar, Scalar)> {
    if let Some(t) = is_branch_taken(cond, width, a, b) {
        if t != outcome {
            return None;
        }
    }
    let (mut va, mut vb) = (View::of(a, width), View::of(b, width));
    match (outcome, cond.negate()) {
        (true, _) => narrow(cond, &mut va, &mut vb)?,
        (false, Some(neg)) => narrow(neg, &mut va, &mut vb)?,
        (false, None) => not_set(&mut va, &mut vb),
    }
    let (mut ra, mut rb) = (*a, *b);
    va.write_back(&mut ra);
    vb.write_back(&mut rb);
    if ra.is_empty() || rb.is_empty() {
        return None;
    }
    Some((ra, rb))
}

/// Narrows `a` and `b` given that `a cond b` holds; `None` when that is impossible.
fn narrow(cond: JmpCond, a: &mut View, b: &mut View) -> Option<()> {
    match cond {
        JmpCond::Eq => {
            if !a.t.overlaps(b.t) {
                return None;
            }
            let (umin, umax) = (a.umin.max(b.umin), a.umax.min(b.umax));
            let (smin, smax) = (a.smin.max(b.smin), a.smax.min(b.smax));
            let t = a.t.intersect(b.t);
            for v in [&mut *a, &mut *b] {
                (v.umin, v.umax, v.smin, v.smax, v.t) = (umin, umax, smin, smax, t);
            }
        }
        JmpCond::Ne => {
            // Only a constant at the edge of the other range teaches anything.
            let (c, v) = match (a.as_const(), b.as_const()) {
                (Some(x), Some(y)) if x == y => return None,
                (_, Some(c)) => (c, a),
                (Some(c), _) => (c, b),
                _ => return Some(()),
            };
            let sc = signed(c, v.w);
            if v.umin == c {
                v.umin += 1;
            }
            if v.umax == c {
                v.umax -= 1;
            }
            if v.smin == sc {
                v.smin += 1;
            }
            if v.smax == sc {
                v.smax -= 1;
            }
        }
        JmpCond::Set => {
            // A single-bit constant mask tells that bit is set.
            let (c, v) = match (a.as_const(), b.as_const()) {
                (_, Some(c)) => (c, a),
                (Some(c), _) => (c, b),
                _ => return Some(()),
            };
            if (c as u64).is_power_of_two() {
                v.t = v.t.or(Tnum::constant(c as u64));
            }
        }
        JmpCond::Gt => {
            a.umin = a.umin.max(b.umin + 1);
            b.umax = b.umax.min(a.umax - 1);
        }
        JmpCond::Ge => {
            a.umin = a.umin.max(b.umin);
            b.umax = b.umax.min(a.umax);
        }
        JmpCond::Sgt => {
            a.smin = a.smin.max(b.smin + 1);
            b.smax = b.smax.min(a.smax - 1);
        }
        JmpCond::Sge => {
            a.smin = a.smin.max(b.smin);
            b.smax = b.smax.min(a.smax);
        }
        JmpCond::Lt | JmpCond::Le | JmpCond::Slt | JmpCond::Sle => narrow(cond.swap(), b, a)?,
    }
    Some(())
}

/// `a & b == 0` with one side constant: the constant's bits are clear in the other.
fn not_set(a: &mut View, b: &mut View) {
    let width_mask = match a.w {
        Width::W32 => u32::MAX as u64,
        Width::W64 => u64::MAX,
    };
    let (c, v) = match (a.as_const(), b.as_const()) {
        (_, Some(c)) => (c, a),
        (Some(c), _) => (c, b),
        _ => return,
    };
    v.t = v.t.and(Tnum::constant(!(c as u64) & width_mask));
}

fn signed(c: i128, w: Width) -> i128 {
    match w {
        Width::W32 => (c as u32 as i32).into(),
        Width::W64 => (c as u64 as i64).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verifier::scalar::tests::{members, scalar_around};
    use crate::verifier::testrng::Rng;

    #[test]
    fn branches_are_sound() {
        let mut r = Rng::new(99);
        for _ in 0..20000 {
            let (x, y) = (r.interesting(), r.interesting());
            let (a, b) = (scalar_around(&mut r, x), scalar_around(&mut r, y));
            // Sometimes compare against a constant, the common case.
            let b = if r.one_in(3) { Scalar::constant(y) } else { b };
            let xs = members(&mut r, &a, x, 3);
            let ys = members(&mut r, &b, y, 2);
            for w in [Width::W64, Width::W32] {
                for cond in JmpCond::ALL {
                    let decided = is_branch_taken(cond, w, &a, &b);
                    for &x in &xs {
                        for &y in &ys {
                            let t = cond.eval(w, x, y);
                            assert!(
                                decided.is_none() || decided == Some(t),
                                "{cond:?} {w:?} {x:#x} {y:#x}: decided {decided:?} in {a} / {b}"
                            );
                            let (ra, rb) = refine(cond, w, &a, &b, t).unwrap_or_else(|| {
                                panic!("{cond:?} {w:?} {x:#x} {y:#x} outcome {t} deemed impossible: {a} / {b}")
                            });
                            assert!(
                                ra.contains(x) && rb.contains(y),
                                "{cond:?} {w:?} {t} {x:#x} {y:#x}: {ra} / {rb} from {a} / {b}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refinement_narrows() {
        let u = Scalar::UNKNOWN;
        let (a, _) = refine(JmpCond::Gt, Width::W64, &u, &Scalar::constant(10), false).unwrap();
        assert_eq!((a.umin, a.umax), (0, 10));
        let (a, _) = refine(JmpCond::Sgt, Width::W64, &u, &Scalar::constant(0), true).unwrap();
        assert_eq!((a.smin, a.smax), (1, i64::MAX));
        let (a, _) = refine(JmpCond::Lt, Width::W32, &u, &Scalar::constant(16), true).unwrap();
        assert_eq!((a.u32_min, a.u32_max), (0, 15));
        let (a, _) = refine(JmpCond::Eq, Width::W64, &u, &Scalar::constant(7), true).unwrap();
        assert_eq!(a.as_const(), Some(7));
        let (a, _) = refine(JmpCond::Set, Width::W64, &u, &Scalar::constant(8), false).unwrap();
        assert_eq!(a.var_off, Tnum::new(0, !8));
        let c = Scalar::urange(0, 5);
        assert_eq!(
            is_branch_taken(JmpCond::Gt, Width::W64, &c, &Scalar::constant(5)),
            Some(false)
        );
        assert!(refine(JmpCond::Gt, Width::W64, &c, &Scalar::constant(5), true).is_none());
        let (a, _) = refine(JmpCond::Ne, Width::W64, &c, &Scalar::constant(5), true).unwrap();
        assert_eq!(a.umax, 4);
    }
}
