//! Scalar precision tracking (kernel `mark_chain_precision`, `backtrack_insn`,
//! `propagate_precision`).
//!
//! Checkpoint states start with every scalar imprecise: pruning then treats an old
//! imprecise scalar as matching any scalar, which is what lets loops with branchy bodies
//! converge. When a scalar's value decides safety (a pointer offset, a helper's size, a
//! jump decided by the bounds, the return range, a zero written to the stack), the
//! verifier walks the current path's instruction history backwards, following the data
//! flow through registers and stack slots, and marks every scalar that produced the value
//! precise in each checkpoint on the path. Only precise scalars are then compared by
//! range, so a pruned path can only differ in values no check depended on. When a path is
//! pruned, the old state's precise scalars are marked on the current path the same way
//! (their values mattered after the prune point).
//!
//! The current state itself is never marked: only checkpoints are compared for pruning.
//! Anything the backtracker does not model (atomics on tracked slots, unexpected frame
//! changes) falls back to marking every scalar of every checkpoint on the path precise,
//! which is always sound.

use super::exec::Env;
use super::log::insn_text;
use super::state::{Frame, RegState, RegType, StackSlot, VState, MAX_FRAMES};
use crate::isa::{AtomicOp, CallTarget, Insn, Reg, Src};

/// A register or stack slot linked to another by a scalar id (kernel `linked_reg`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Link {
    Reg { frame: u8, reg: u8 },
    Slot { frame: u8, spi: u8 },
}

/// One executed instruction of the current path (kernel `bpf_jmp_history_entry`, kept
/// for every instruction rather than only jumps).
#[derive(Clone, Debug)]
pub(super) struct Hist {
    /// Instruction index.
    pub pc: u32,
    /// Frame depth when it ran (0 = main program).
    pub depth: u8,
    /// For a fixed-offset stack access: the frame and slot it touched.
    pub stack: Option<(u8, u8)>,
    /// For a conditional jump on linked scalars: every register and slot sharing the id
    /// (they were narrowed together).
    pub linked: Option<Box<[Link]>>,
}

/// The registers and slots still to be traced, per frame (kernel `backtrack_state`).
#[derive(Clone, Debug)]
struct Bt {
    frame: usize,
    regs: [u16; MAX_FRAMES],
    stack: [u64; MAX_FRAMES],
}

/// The backtracker met something it does not model.
struct Unsupported;

impl Bt {
    fn new(frame: usize) -> Bt {
        Bt {
            frame,
            regs: [0; MAX_FRAMES],
            stack: [0; MAX_FRAMES],
        }
    }

    fn is_empty(&self) -> bool {
        self.regs.iter().all(|&m| m == 0) && self.stack.iter().all(|&m| m == 0)
    }

    fn reg(&self, r: Reg) -> bool {
        self.regs[self.frame] & (1 << r.idx()) != 0
    }

    fn set(&mut self, r: Reg) {
        self.regs[self.frame] |= 1 << r.idx();
    }

    fn clear(&mut self, r: Reg) {
        self.regs[self.frame] &= !(1 << r.idx());
    }

    fn slot(&self, (fr, spi): (u8, u8)) -> bool {
        self.stack
            .get(fr as usize)
            .is_some_and(|m| spi < 64 && m & (1 << spi) != 0)
    }

    fn set_slot(&mut self, (fr, spi): (u8, u8)) -> Result<(), Unsupported> {
        match self.stack.get_mut(fr as usize) {
            Some(m) if spi < 64 => {
                *m |= 1 << spi;
                Ok(())
            }
            _ => Err(Unsupported),
        }
    }

    fn clear_slot(&mut self, (fr, spi): (u8, u8)) {
        if let Some(m) = self.stack.get_mut(fr as usize) {
            if spi < 64 {
                *m &= !(1 << spi);
            }
        }
    }

    fn link_set(&self, l: Link) -> bool {
        match l {
            Link::Reg { frame, reg } => self
                .regs
                .get(frame as usize)
                .is_some_and(|m| m & (1 << reg) != 0),
            Link::Slot { frame, spi } => self.slot((frame, spi)),
        }
    }

    /// Kernel `bt_sync_linked_regs`: registers narrowed together at a jump need
    /// precision together.
    fn sync_links(&mut self, links: Option<&[Link]>) -> Result<(), Unsupported> {
        let Some(links) = links else { return Ok(()) };
        if !links.iter().any(|&l| self.link_set(l)) {
            return Ok(());
        }
        for &l in links {
            match l {
                Link::Reg { frame, reg } => match self.regs.get_mut(frame as usize) {
                    Some(m) => *m |= 1 << reg,
                    None => return Err(Unsupported),
                },
                Link::Slot { frame, spi } => self.set_slot((frame, spi))?,
            }
        }
        Ok(())
    }
}

/// Kernel `backtrack_insn`: what instruction `e` needed, given what is needed after it.
fn backtrack_insn(insn: &Insn, e: &Hist, bt: &mut Bt) -> Result<(), Unsupported> {
    let d = e.depth as usize;
    if d == bt.frame + 1 {
        // Backwards out of a callee's `exit`: the caller's r0 was the callee's r0.
        if !matches!(insn, Insn::Exit) || bt.regs[bt.frame] & 0b11_1110 != 0 {
            return Err(Unsupported);
        }
        let r0 = bt.regs[bt.frame] & 1;
        bt.regs[bt.frame] &= !1;
        bt.frame = d;
        bt.regs[d] |= r0;
        return Ok(());
    }
    if d + 1 == bt.frame {
        // Backwards into the call: the callee's r1-r5 were the caller's.
        let callee = bt.frame;
        if !matches!(insn, Insn::Call(CallTarget::Local(_)))
            || bt.regs[callee] & !0b11_1110 != 0
            || bt.stack[callee] != 0
        {
            return Err(Unsupported);
        }
        bt.regs[d] |= bt.regs[callee];
        bt.regs[callee] = 0;
        bt.frame = d;
        return Ok(());
    }
    if d != bt.frame {
        return Err(Unsupported);
    }
    match *insn {
        Insn::Alu { dst, src, op, .. } => {
            if !bt.reg(dst) {
                return Ok(());
            }
            if op == crate::isa::AluOp::Mov {
                bt.clear(dst);
            }
            if let Src::Reg(s) = src {
                bt.set(s);
            }
        }
        Insn::MovSx { dst, src, .. } => {
            if bt.reg(dst) {
                bt.clear(dst);
                bt.set(src);
            }
        }
        Insn::Neg { .. } | Insn::End { .. } | Insn::Ja { .. } | Insn::Gotol { .. } => {}
        Insn::LdImm64 { dst, .. } => bt.clear(dst),
        Insn::Ldx { dst, .. } | Insn::LdxSx { dst, .. } => {
            if bt.reg(dst) {
                bt.clear(dst);
                if let Some(s) = e.stack {
                    bt.set_slot(s)?;
                }
            }
        }
        Insn::St { size, .. } => {
            if let Some(s) = e.stack.filter(|&s| bt.slot(s)) {
                // A narrower store leaves other bytes of the slot as they were.
                if size.bytes() == 8 {
                    bt.clear_slot(s);
                }
            }
        }
        Insn::Stx { size, src, .. } => {
            if let Some(s) = e.stack.filter(|&s| bt.slot(s)) {
                if size.bytes() == 8 {
                    bt.clear_slot(s);
                }
                bt.set(src);
            }
        }
        Insn::Atomic { op, fetch, src, .. } => {
            if e.stack.is_some_and(|s| bt.slot(s)) {
                return Err(Unsupported);
            }
            let out = if op == AtomicOp::Cmpxchg {
                Reg::R0
            } else {
                src
            };
            if fetch && bt.reg(out) {
                if e.stack.is_some() {
                    return Err(Unsupported);
                }
                // Fetched from map or packet memory: an unknown number.
                bt.clear(out);
            }
        }
        Insn::Jmp { dst, src, .. } => {
            bt.sync_links(e.linked.as_deref())?;
            if let Src::Reg(s) = src {
                if bt.reg(dst) || bt.reg(s) {
                    bt.set(dst);
                    bt.set(s);
                }
            }
            bt.sync_links(e.linked.as_deref())?;
        }
        Insn::Call(CallTarget::Helper(_)) | Insn::LdAbs { .. } | Insn::LdInd { .. } => {
            // The arguments are clobbered; r0 is the helper's (or the load's) result.
            if bt.regs[bt.frame] & 0b11_1110 != 0 {
                return Err(Unsupported);
            }
            bt.clear(Reg::R0);
        }
        Insn::Call(_) | Insn::Callx { .. } | Insn::Exit => return Err(Unsupported),
    }
    Ok(())
}

/// Kernel `fmt_reg_mask` / `fmt_stack_mask` for `bt`'s frame: `r2,r6` and `-8,-16`.
fn masks_text(bt: &Bt) -> (String, String) {
    let f = bt.frame;
    let regs: Vec<String> = (0..16)
        .filter(|r| bt.regs[f] & (1 << r) != 0)
        .map(|r| format!("r{r}"))
        .collect();
    let stack: Vec<String> = (0..64)
        .filter(|s| bt.stack[f] & (1u64 << s) != 0)
        .map(|s| format!("-{}", (s + 1) * 8))
        .collect();
    (regs.join(","), stack.join(","))
}

/// Walks `seg` backwards; stops early once nothing is left to trace. With `log`, each
/// step is written as the kernel's level-2 `mark_precise: ... before N: insn` line.
fn walk(
    prog: &[crate::isa::Located],
    seg: &[Hist],
    bt: &mut Bt,
    mut log: Option<&mut String>,
) -> Result<(), Unsupported> {
    for e in seg.iter().rev() {
        let l = prog.get(e.pc as usize).ok_or(Unsupported)?;
        let insn = l.insn;
        if let Some(log) = log.as_deref_mut() {
            let (regs, stack) = masks_text(bt);
            log.push_str(&format!(
                "mark_precise: frame{}: regs={regs} stack={stack} before {}: {}\n",
                bt.frame,
                l.slot,
                insn_text(&insn, l.slot)
            ));
        }
        backtrack_insn(&insn, e, bt)?;
        if bt.is_empty() {
            break;
        }
    }
    Ok(())
}

/// Marks `bt`'s registers and slots precise in checkpoint state `st`, dropping from `bt`
/// those already precise (their producers were marked then) or not scalars.
fn mark_in_state(st: &mut VState, bt: &mut Bt) -> Result<(), Unsupported> {
    if st.frames.len() != bt.frame + 1 {
        return Err(Unsupported);
    }
    for (fr, f) in st.frames.iter_mut().enumerate() {
        for r in 0..11 {
            if bt.regs[fr] & (1 << r) == 0 {
                continue;
            }
            let reg = &mut f.regs[r];
            if reg.ty != RegType::Scalar || reg.precise {
                bt.regs[fr] &= !(1 << r);
            } else {
                reg.precise = true;
            }
        }
        for spi in 0..64 {
            if bt.stack[fr] & (1 << spi) == 0 {
                continue;
            }
            match f.stack.get_mut(spi).and_then(|s| s.spilled.as_mut()) {
                Some(reg) if reg.ty == RegType::Scalar && !reg.precise => reg.precise = true,
                _ => bt.stack[fr] &= !(1 << spi),
            }
        }
    }
    Ok(())
}

/// Marks every scalar of `st` precise (the fallback when backtracking gives up).
fn mark_all_in_state(st: &mut VState) {
    st.for_each_reg(|r| {
        if r.ty == RegType::Scalar {
            r.precise = true;
        }
    });
}

impl Env<'_> {
    /// Kernel `mark_chain_precision`: the values of `regs` (scalars of the innermost frame
    /// of `st`, before the current instruction) decide safety.
    pub(super) fn mark_precise(&mut self, st: &VState, regs: &[Reg]) {
        let mut bt = Bt::new(st.frames.len() - 1);
        for &r in regs {
            if st.reg(r).ty == RegType::Scalar {
                bt.set(r);
            }
        }
        self.backtrack(bt);
    }

    /// Kernel `propagate_precision`: the current path at `cur` was pruned by checkpoint
    /// `old`; the scalars `old` needed precise (in registers live per `live`, one mask per
    /// frame, and in spilled slots) need to be precise on the current path too.
    pub(super) fn propagate_precision(&mut self, old: usize, cur: &VState, live: &[u16]) {
        let mut bt = Bt::new(cur.frames.len() - 1);
        let old = &self.checkpoints[old].state;
        // The kernel's level-2 line per frame, innermost first: `frame 0: propagating r6,fp-8`.
        let mut lines = Vec::new();
        for (fr, f) in old.frames.iter().enumerate().take(MAX_FRAMES) {
            let mask = live.get(fr).copied().unwrap_or(u16::MAX);
            let mut what = Vec::new();
            for (r, reg) in f.regs.iter().enumerate() {
                if reg.ty == RegType::Scalar && reg.precise && mask & (1 << r) != 0 {
                    bt.regs[fr] |= 1 << r;
                    what.push(format!("r{r}"));
                }
            }
            for (spi, s) in f.stack.iter().enumerate().take(64) {
                if s.spilled
                    .is_some_and(|r| r.ty == RegType::Scalar && r.precise)
                {
                    bt.stack[fr] |= 1 << spi;
                    what.push(format!("fp{}", -8 * (spi as i64 + 1)));
                }
            }
            if !what.is_empty() {
                lines.push(format!("frame {fr}: propagating {}\n", what.join(",")));
            }
        }
        if self.config.log_level >= 2 {
            for l in lines.iter().rev() {
                self.log.push_str(l);
            }
        }
        if !bt.is_empty() {
            self.backtrack(bt);
        }
    }

    /// Kernel `__mark_chain_precision`: through the current segment, then each checkpoint
    /// on the path and the segment that led to it.
    fn backtrack(&mut self, mut bt: Bt) {
        if bt.is_empty() {
            return;
        }
        let prog = self.prog;
        let slot = |pc: usize| prog.get(pc).map_or(pc, |l| l.slot) as i64;
        let logging = self.config.log_level >= 2;
        // Kernel segment header: the segment's last and first instruction, and the first
        // of the segment walked before it (-1 for the current one).
        let header = |log: &mut String, bt: &Bt, seg: &[Hist], last: usize, subseq: i64| {
            let first = seg.first().map_or(last, |e| e.pc as usize);
            log.push_str(&format!(
                "mark_precise: frame{}: last_idx {} first_idx {} subseq_idx {subseq} \n",
                bt.frame,
                slot(last),
                slot(first)
            ));
            slot(first)
        };
        let mut subseq = -1;
        if logging {
            subseq = header(&mut self.log, &bt, &self.hist, self.insn_idx, subseq);
        }
        let log = logging.then_some(&mut self.log);
        if walk(prog, &self.hist, &mut bt, log).is_err() {
            return self.mark_all_precise();
        }
        let mut c = self.parent;
        while let Some(i) = c {
            if bt.is_empty() {
                return;
            }
            let cp = &mut self.checkpoints[i];
            if mark_in_state(&mut cp.state, &mut bt).is_err() {
                return self.mark_all_precise();
            }
            if logging {
                let (regs, stack) = masks_text(&bt);
                self.log.push_str(&format!(
                    "mark_precise: frame{}: parent state regs={regs} stack={stack}:  {}\n",
                    bt.frame,
                    cp.state.regs_line(self.config.maps)
                ));
            }
            if bt.is_empty() {
                return;
            }
            if logging {
                let last = cp.hist.last().map_or(0, |e| e.pc as usize);
                subseq = header(&mut self.log, &bt, &cp.hist, last, subseq);
            }
            let log = logging.then_some(&mut self.log);
            if walk(prog, &cp.hist, &mut bt, log).is_err() {
                return self.mark_all_precise();
            }
            c = cp.parent;
        }
        // Left over at the program's entry: no checkpoint precedes it.
    }

    /// Kernel `mark_all_scalars_precise`: every checkpoint on the current path.
    pub(super) fn mark_all_precise(&mut self) {
        if self.config.log_level >= 2 {
            let frame = self
                .parent
                .map_or(0, |i| self.checkpoints[i].state.frames.len() - 1);
            self.log.push_str(&format!(
                "mark_precise: frame{frame}: falling back to forcing all scalars precise\n"
            ));
        }
        let mut c = self.parent;
        while let Some(i) = c {
            let cp = &mut self.checkpoints[i];
            mark_all_in_state(&mut cp.state);
            c = cp.parent;
        }
    }

    /// The registers and spilled slots linked by id to `dst` and `src` of a conditional
    /// jump (kernel `collect_linked_regs`), recorded in the history so the backtracker
    /// treats them as one.
    pub(super) fn record_links(&mut self, st: &VState, regs: &[Reg]) {
        let mut links = Vec::new();
        for &r in regs {
            let reg = st.reg(r);
            if reg.ty != RegType::Scalar || reg.id == 0 {
                continue;
            }
            let id = reg.id;
            for (fr, f) in st.frames.iter().enumerate() {
                for (i, x) in f.regs.iter().enumerate() {
                    if x.ty == RegType::Scalar && x.id == id {
                        links.push(Link::Reg {
                            frame: fr as u8,
                            reg: i as u8,
                        });
                    }
                }
                for (spi, s) in f.stack.iter().enumerate().take(64) {
                    if s.spilled
                        .is_some_and(|x| x.ty == RegType::Scalar && x.id == id)
                    {
                        links.push(Link::Slot {
                            frame: fr as u8,
                            spi: spi as u8,
                        });
                    }
                }
            }
        }
        if links.len() > 1 {
            self.insn_links = Some(links.into_boxed_slice());
        }
    }
}

/// Whether two states are the same apart from precision marks (the infinite-loop check).
pub(super) fn same_state(a: &VState, b: &VState) -> bool {
    fn reg_eq(x: &RegState, y: &RegState) -> bool {
        RegState {
            precise: false,
            ..*x
        } == RegState {
            precise: false,
            ..*y
        }
    }
    fn slot_eq(x: &StackSlot, y: &StackSlot) -> bool {
        x.bytes == y.bytes
            && match (&x.spilled, &y.spilled) {
                (Some(p), Some(q)) => reg_eq(p, q),
                (None, None) => true,
                _ => false,
            }
    }
    fn frame_eq(x: &Frame, y: &Frame) -> bool {
        x.callsite == y.callsite
            && x.subprog == y.subprog
            && x.regs.iter().zip(&y.regs).all(|(p, q)| reg_eq(p, q))
            && (0..x.stack.len().max(y.stack.len())).all(|i| slot_eq(&x.slot(i), &y.slot(i)))
    }
    a.refs == b.refs
        && a.lock == b.lock
        && a.callback_returns == b.callback_returns
        && a.frames.len() == b.frames.len()
        && a.frames.iter().zip(&b.frames).all(|(x, y)| frame_eq(x, y))
}
