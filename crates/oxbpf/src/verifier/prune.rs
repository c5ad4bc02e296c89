//! State subsumption for pruning (kernel `states_equal`, `regsafe`, `stacksafe`): an old
//! state, fully explored and proven safe, that includes every concrete state the current
//! one describes makes exploring the current one unnecessary. Scalars compare by range
//! only where the old state marked them precise (module `precision`).

use super::cfg::Cfg;
use super::state::{Frame, RegState, RegType, SlotByte, VState};

/// A consistent renaming of ids between the old and the current state (kernel
/// `bpf_idmap`): linked registers in the old state must be linked the same way now.
struct IdMap {
    pairs: Vec<(u32, u32)>,
    tmp: u32,
}

impl IdMap {
    /// Whether old id `o` may correspond to current id `c`.
    fn check(&mut self, o: u32, c: u32) -> bool {
        if o == 0 {
            return true;
        }
        // An unlinked current register gets a fresh id: it may stand for `o` once.
        let c = if c == 0 {
            self.tmp += 1;
            u32::MAX - self.tmp
        } else {
            c
        };
        for &(a, b) in &self.pairs {
            if a == o || b == c {
                return a == o && b == c;
            }
        }
        self.pairs.push((o, c));
        true
    }
}

/// Whether `old` includes `cur` at instruction `pc`.
///
/// `exact` compares every scalar by range, precise or not (kernel `RANGE_WITHIN`): for
/// ancestors still being explored, whose precision marks are not final yet.
pub(super) fn states_equal(old: &VState, cur: &VState, flow: &Cfg, pc: usize, exact: bool) -> bool {
    if old.frames.len() != cur.frames.len() || old.refs.len() != cur.refs.len() {
        return false;
    }
    let mut ids = IdMap {
        pairs: Vec::new(),
        tmp: 0,
    };
    for (a, b) in old.refs.iter().zip(&cur.refs) {
        if !ids.check(a.0, b.0) {
            return false;
        }
    }
    // The same spin lock must be held (kernel `refsafe` on `active_lock`).
    match (old.lock, cur.lock) {
        (None, None) => {}
        (Some((ma, ia)), Some((mb, ib))) if ma == mb && ids.check(ia, ib) => {}
        _ => return false,
    }
    let live = live_masks(cur, flow, pc);
    for (i, (fo, fc)) in old.frames.iter().zip(&cur.frames).enumerate() {
        if fo.callsite != fc.callsite {
            return false;
        }
        if !frame_safe(fo, fc, live[i], exact, &mut ids) {
            return false;
        }
    }
    true
}

/// The registers live in each frame of `cur` at `pc`: in the innermost frame at `pc`, in
/// a caller after its call returns (r0 is then redefined).
pub(super) fn live_masks(cur: &VState, flow: &Cfg, pc: usize) -> Vec<u16> {
    let depth = cur.frames.len();
    (0..depth)
        .map(|i| {
            if i + 1 == depth {
                flow.live_in.get(pc).copied().unwrap_or(u16::MAX)
            } else {
                // A caller's registers after its call returns (r0 is then redefined); a
                // callback returns to the helper call itself, which reads r1-r5 again (after
                // a BPF-to-BPF call they are uninitialised anyway).
                let ret = cur.frames[i + 1].callsite + 1;
                (flow.live_in.get(ret).copied().unwrap_or(u16::MAX) & !1) | 0b11_1110
            }
        })
        .collect()
}

fn frame_safe(old: &Frame, cur: &Frame, live: u16, exact: bool, ids: &mut IdMap) -> bool {
    for r in 0..10 {
        if live & (1 << r) != 0 && !regsafe(&old.regs[r], &cur.regs[r], exact, ids) {
            return false;
        }
    }
    let n = old.stack.len().max(cur.stack.len());
    for spi in 0..n {
        let (so, sc) = (old.slot(spi), cur.slot(spi));
        // Matching spills compare as registers; the bytes after them byte by byte.
        let mut from = 0;
        if let (Some((ro, ko)), Some((rc, kc))) = (so.spilled_part(), sc.spilled_part()) {
            if ko == kc {
                if !regsafe(ro, rc, exact, ids) {
                    return false;
                }
                from = ko;
            }
        } else if !exact
            && so
                .spill()
                .is_some_and(|r| r.ty == RegType::Scalar && !r.precise)
            && sc
                .bytes
                .iter()
                .all(|&b| matches!(b, SlotByte::Misc | SlotByte::Zero))
        {
            // An imprecise spilled number: any data read from the slot now is a number
            // no check depended on (kernel `is_spilled_unbound_scalar_reg64`).
            continue;
        }
        for b in from..8 {
            let ok = match so.bytes[b] {
                // Never read on the old path, or read as an unknown number.
                SlotByte::Invalid => true,
                SlotByte::Misc => match sc.bytes[b] {
                    SlotByte::Spill => sc.spilled.is_some_and(|r| r.ty == RegType::Scalar),
                    _ => true,
                },
                SlotByte::Zero => sc.bytes[b] == SlotByte::Zero,
                // A spill in the old state not matched by a spill now.
                SlotByte::Spill => false,
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// Kernel `regsafe`: whether every value `cur` may hold is one `old` was proven with.
fn regsafe(old: &RegState, cur: &RegState, exact: bool, ids: &mut IdMap) -> bool {
    if old.ty == RegType::NotInit {
        return true;
    }
    if cur.ty == RegType::NotInit {
        return false;
    }
    let same_kind = match (old.ty, cur.ty) {
        (RegType::PtrToPacket { range: a }, RegType::PtrToPacket { range: b })
        | (RegType::PtrToPacketMeta { range: a }, RegType::PtrToPacketMeta { range: b }) => a <= b,
        (a, b) => a == b,
    };
    if old.ty == RegType::Scalar && cur.ty == RegType::Scalar && !old.precise && !exact {
        // No check on the old path depended on this number's value.
        return true;
    }
    same_kind
        && old.off == cur.off
        && old.var.includes(&cur.var)
        && ids.check(old.id, cur.id)
        && ids.check(old.ref_obj_id, cur.ref_obj_id)
}
