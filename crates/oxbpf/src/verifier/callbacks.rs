//! Callbacks (kernel `push_callback_call`, `set_loop_callback_state`,
//! `set_map_elem_callback_state`): a helper that calls a BPF subprogram (`bpf_loop`,
//! `bpf_for_each_map_elem`) forks at the call — one path continues after the helper
//! (the callback ran some number of times, maybe none), the other enters the callback
//! with typed arguments. When the callback returns (`r0` in `[0, 1]`), the path goes
//! back to the helper call, which may run the callback again: the call site is a loop
//! head, and the iteration ends when a state there is included in an ancestor state at
//! the same site. Scalars that change from one iteration to the next are widened to
//! unknown (the kernel widens imprecise ones; this verifier has no precision marks), so
//! a counter kept in the caller's stack converges in two rounds.

use super::exec::{Env, Reject};
use super::scalar::Scalar;
use super::state::{Frame, RegState, RegType, SlotByte, VState, MAX_FRAMES};
use crate::isa::{CallTarget, Insn};

/// `BPF_FUNC_for_each_map_elem`.
pub(super) const FOR_EACH_MAP_ELEM: i32 = 164;
/// `BPF_FUNC_loop`.
pub(super) const LOOP: i32 = 181;

/// The range a callback must return in (kernel `callback_ret_range`).
const CALLBACK_RET: (i64, i64) = (0, 1);

impl Env<'_> {
    /// The state entering callback `start` of helper `id` called at `pc`: a new frame
    /// whose arguments are typed as the helper passes them. `st` is the caller's state at
    /// the call (arguments checked, registers not yet clobbered).
    pub(super) fn callback_entry(
        &mut self,
        pc: usize,
        st: &VState,
        id: i32,
        start: u32,
        map: Option<u32>,
    ) -> Result<VState, Reject> {
        if st.frames.len() >= MAX_FRAMES {
            return Err(Reject::new(format!(
                "the call stack of {} frames is too deep",
                st.frames.len() + 1
            )));
        }
        self.flow.callback_site[pc] = true;
        self.flow.prune_point[pc] = true;
        self.flow.force_checkpoint[pc] = true;
        let mut cb = st.clone();
        let caller = st.cur().regs;
        let mut f = Frame::new(st.frames.len() as u8, pc, start as usize);
        match id {
            LOOP => {
                // callback(u32 index, void *ctx)
                f.regs[1] = RegState::unknown();
                f.regs[2] = caller[3];
            }
            FOR_EACH_MAP_ELEM => {
                // callback(map, key, value, ctx)
                let m = map.ok_or_else(|| Reject::new("callback without a map"))?;
                f.regs[1] = RegState::ptr(RegType::ConstPtrToMap { map: m });
                f.regs[2] = RegState::ptr(RegType::PtrToMapKey { map: m });
                f.regs[3] = RegState::ptr(RegType::PtrToMapValue { map: m });
                f.regs[4] = caller[3];
            }
            _ => {
                return Err(Reject::new(format!(
                    "callbacks of helper #{id} are not supported"
                )))
            }
        }
        cb.frames.push(f);
        Ok(cb)
    }

    /// Whether the innermost frame of `st` is a callback (its call site is a helper call).
    pub(super) fn in_callback(&self, st: &VState) -> bool {
        st.frames.len() > 1
            && matches!(
                self.prog[st.cur().callsite].insn,
                Insn::Call(CallTarget::Helper(_))
            )
    }

    /// `exit` of a callback: checks `r0`, drops the frame and returns the call site (the
    /// helper call runs again: the callback may be called once more).
    pub(super) fn callback_exit(&mut self, st: &mut VState) -> Result<usize, Reject> {
        let r0 = *st.reg(crate::isa::Reg::R0);
        if r0.ty != RegType::Scalar {
            return Err(Reject::reg(crate::isa::Reg::R0, "R0 not a scalar value"));
        }
        let (lo, hi) = CALLBACK_RET;
        if r0.var.smin < lo || r0.var.smax > hi {
            let mut m = String::from("At callback return the register R0 has");
            if r0.var.smin > i64::MIN {
                m.push_str(&format!(" smin={}", r0.var.smin));
            }
            if r0.var.smax < i64::MAX {
                m.push_str(&format!(" smax={}", r0.var.smax));
            }
            if r0.var.smin == i64::MIN && r0.var.smax == i64::MAX {
                m.push_str(" unknown scalar value");
            }
            m.push_str(&format!(" should have been in [{lo}, {hi}]"));
            return Err(Reject::reg(crate::isa::Reg::R0, m));
        }
        let depth = st.frames.len() - 1;
        let callsite = st.cur().callsite;
        st.frames.pop();
        st.callback_returns = st.callback_returns.wrapping_add(1);
        st.for_each_reg(|x| {
            if x.ty == (RegType::PtrToStack { frame: depth as u8 }) {
                *x = RegState::unknown();
            }
        });
        self.widen_at(callsite, st);
        Ok(callsite)
    }

    /// Widens scalars of `st` that differ from an in-progress state at call site `pc`
    /// (kernel `widen_imprecise_scalars`), so repeated callback runs converge.
    fn widen_at(&self, pc: usize, st: &mut VState) {
        let Some(old) = self
            .in_progress_at(pc)
            .find(|o| {
                o.frames.len() == st.frames.len()
                    && o.frames
                        .iter()
                        .zip(&st.frames)
                        .all(|(a, b)| a.callsite == b.callsite)
            })
            .cloned()
        else {
            return;
        };
        for (fo, fc) in old.frames.iter().zip(st.frames.iter_mut()) {
            for (ro, rc) in fo.regs.iter().zip(fc.regs.iter_mut()) {
                widen_reg(ro, rc);
            }
            for (spi, sc) in fc.stack.iter_mut().enumerate() {
                let so = fo.slot(spi);
                if let (Some(ro), Some(rc)) = (so.spilled.as_ref(), sc.spilled.as_mut()) {
                    if so.bytes == sc.bytes {
                        widen_reg(ro, rc);
                    }
                }
                for (bo, bc) in so.bytes.iter().zip(sc.bytes.iter_mut()) {
                    if *bo == SlotByte::Misc && *bc == SlotByte::Zero {
                        *bc = SlotByte::Misc;
                    }
                }
            }
        }
    }
}

/// A scalar that differs between iterations becomes unknown.
fn widen_reg(old: &RegState, cur: &mut RegState) {
    if old.ty == RegType::Scalar && cur.ty == RegType::Scalar && old.var != cur.var {
        *cur = RegState::scalar(Scalar::UNKNOWN);
    }
}
