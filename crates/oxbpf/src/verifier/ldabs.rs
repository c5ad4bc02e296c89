//! Legacy packet loads `BPF_LD_ABS`/`BPF_LD_IND` (kernel `check_ld_abs`): only in
//! programs with a socket buffer context, with the context in `r6`, in subprograms only
//! with BTF `func_info` (see [`check_abnormal_return`]); they clobber r1-r5 and leave an unknown
//! number in `r0` (a load outside the packet ends the program with 0 at run time).

use super::cfg::Cfg;
use super::exec::{Env, Reject};
use super::state::{RegState, RegType, VState};
use crate::isa::Reg;

/// Kernel `may_access_skb`: socket filters, `sched_cls`, `sched_act`.
fn may_access_skb(prog_type: Option<u32>) -> bool {
    matches!(prog_type, Some(1 | 3 | 4))
}

impl Env<'_> {
    /// Checks `BPF_LD_ABS` (`src` `None`) or `BPF_LD_IND` at `pc` and applies its effect.
    pub(super) fn ld_abs(&mut self, st: &mut VState, src: Option<Reg>) -> Result<(), Reject> {
        if !may_access_skb(self.config.prog_type.kernel_prog_type()) {
            return Err(Reject::new(
                "BPF_LD_[ABS|IND] instructions not allowed for this program type",
            ));
        }
        let ctx = self.read_reg(st, Reg::R6)?;
        if st.lock.is_some() {
            return Err(Reject::new(
                "BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region",
            ));
        }
        if let Some(&(id, at)) = st.refs.first() {
            let slot = self.prog.get(at).map_or(at, |l| l.slot);
            return Err(Reject::new(format!(
                "Unreleased reference id={id} alloc_insn={slot}\nBPF_LD_[ABS|IND] would lead to reference leak"
            )));
        }
        if ctx.ty != RegType::PtrToCtx {
            return Err(Reject::reg(
                Reg::R6,
                "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
            ));
        }
        if let Some(r) = src {
            self.read_reg(st, r)?;
        }
        if ctx.off != 0 || ctx.var.as_const() != Some(0) {
            return Err(Reject::reg(
                Reg::R6,
                format!(
                    "dereference of modified ctx ptr R6 off={} disallowed",
                    ctx.off
                ),
            ));
        }
        for i in 1..=5 {
            st.cur_mut().regs[i] = RegState::NOT_INIT;
        }
        st.cur_mut().regs[0] = RegState::unknown();
        Ok(())
    }
}

/// Kernel `check_abnormal_return`, applied when the program has no BTF `func_info`:
/// `BPF_LD_ABS`/`BPF_LD_IND` and tail calls only in the main program (a subprogram's
/// abnormal return would need its BTF return type to be `int`).
pub(super) fn check_abnormal_return(flow: &Cfg, func_info: bool) -> Option<&'static str> {
    if func_info {
        return None;
    }
    (1..flow.subprogs.len()).find_map(|i| {
        if flow.has_ld_abs[i] {
            Some("LD_ABS is not allowed in subprogs without BTF")
        } else if flow.has_tail_call[i] {
            Some("tail_call is not allowed in subprogs without BTF")
        } else {
            None
        }
    })
}
