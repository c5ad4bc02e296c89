//! Path exploration (kernel `do_check`): a worklist of states, conditional jumps that
//! fork with narrowed registers, checkpoints at prune points with the kernel's
//! branch-count scheme for loop detection, and the complexity limits.

use super::cfg::{Cfg, SlotMap};
use super::ctx::EntryArg;
use super::log::{hint, insn_text};
use super::precision::{same_state, Hist, Link};
use super::prune::{live_masks, states_equal};
use super::scalar::Scalar;
use super::state::{Frame, RegState, RegType, VState};
use super::{branch, InsnFacts, MemKind, Stats, Verified, VerifyConfig, VerifyError};
use crate::isa::{AluOp, JmpCond, Located, Reg, Src, Width};

/// Maximum pending branches (kernel `BPF_COMPLEXITY_LIMIT_JMP_SEQ`).
const JMP_SEQ_LIMIT: usize = 8192;

/// A rejection found while exploring: the message and the register to show.
#[derive(Debug)]
pub(super) struct Reject {
    pub msg: String,
    pub reg: Option<Reg>,
}

impl Reject {
    pub(super) fn new(msg: impl Into<String>) -> Reject {
        Reject {
            msg: msg.into(),
            reg: None,
        }
    }

    pub(super) fn reg(r: Reg, msg: impl Into<String>) -> Reject {
        Reject {
            msg: msg.into(),
            reg: Some(r),
        }
    }
}

/// What happens after an instruction.
pub(super) enum Flow {
    /// Continue at this instruction index.
    Goto(usize),
    /// Continue at `cont`; also explore `other` at `target` later.
    Fork {
        cont: usize,
        target: usize,
        other: VState,
    },
    /// The path is finished (program exit, or a dead edge).
    End,
}

/// A stored state for pruning (kernel `bpf_verifier_state_list`).
pub(super) struct Checkpoint {
    /// The state before its instruction ran; precision marks accumulate here.
    pub state: VState,
    /// Unfinished paths descending from this state (kernel `branches`).
    branches: u32,
    pub parent: Option<usize>,
    /// The instructions from the parent checkpoint to this one (kernel `jmp_history`);
    /// dropped once the subtree is explored.
    pub hist: Vec<Hist>,
    /// Times it pruned a path / failed to (for eviction, kernel `hit_cnt`/`miss_cnt`).
    hits: u32,
    misses: u32,
}

/// A branch waiting to be explored.
struct Pending {
    state: VState,
    pc: usize,
    from: usize,
    parent: Option<usize>,
    /// The path's instructions since `parent`.
    hist: Vec<Hist>,
}

/// The verifier environment (kernel `struct bpf_verifier_env`).
pub(super) struct Env<'a> {
    pub prog: &'a [Located],
    pub config: &'a VerifyConfig<'a>,
    pub flow: Cfg,
    pub slots: SlotMap,
    pub log: String,
    pub stats: Stats,
    pub facts: Vec<InsnFacts>,
    pub id_gen: u32,
    pub stack_depth: Vec<u32>,
    pub(super) checkpoints: Vec<Checkpoint>,
    explored: Vec<Vec<usize>>,
    worklist: Vec<Pending>,
    /// The newest checkpoint on the current path.
    pub(super) parent: Option<usize>,
    /// The current path's instructions since `parent`.
    pub(super) hist: Vec<Hist>,
    /// The stack slot `(frame, slot)` the current instruction accessed at a fixed offset.
    pub(super) insn_stack: Option<(u8, u8)>,
    /// Scalars linked to the current conditional jump's operands.
    pub(super) insn_links: Option<Box<[Link]>>,
    /// The instruction being executed (the backtracker's `last_idx` in the log).
    pub(super) insn_idx: usize,
    jmps_processed: u64,
    prev_jmps: u64,
    prev_insns: u64,
    /// Checkpoints currently available for pruning.
    live_states: u32,
}

impl<'a> Env<'a> {
    pub(super) fn new(prog: &'a [Located], config: &'a VerifyConfig<'a>, flow: Cfg) -> Env<'a> {
        let n = prog.len();
        let nsub = flow.subprogs.len();
        Env {
            prog,
            config,
            slots: SlotMap::new(prog),
            flow,
            log: String::new(),
            stats: Stats::default(),
            facts: vec![InsnFacts::default(); n],
            id_gen: 0,
            stack_depth: vec![0; nsub],
            checkpoints: Vec::new(),
            explored: vec![Vec::new(); n],
            worklist: Vec::new(),
            parent: None,
            hist: Vec::new(),
            insn_stack: None,
            insn_links: None,
            insn_idx: 0,
            jmps_processed: 0,
            prev_jmps: 0,
            prev_insns: 0,
            live_states: 0,
        }
    }

    /// Counts a jump or call for the checkpoint heuristic.
    pub(super) fn jmps_seen(&mut self) {
        self.jmps_processed += 1;
    }

    /// A fresh id for linking registers.
    pub(super) fn new_id(&mut self) -> u32 {
        self.id_gen += 1;
        self.id_gen
    }

    /// The instruction index a jump/call at `pc` lands on (checked by `check_cfg`).
    pub(super) fn target_of(&self, pc: usize) -> usize {
        let t = self.prog[pc].target_slot().unwrap_or(-1);
        self.slots.at(t).unwrap_or(pc)
    }

    fn initial_state(&self) -> VState {
        let mut f = Frame::new(0, 0, 0);
        for (i, a) in self.config.prog_type.entry_args().iter().enumerate() {
            f.regs[i + 1] = match *a {
                EntryArg::None => RegState::NOT_INIT,
                EntryArg::Ctx => RegState::ptr(RegType::PtrToCtx),
                EntryArg::Mem { size } => RegState::ptr(RegType::PtrToMem {
                    size,
                    ringbuf: false,
                }),
                EntryArg::Scalar => RegState::unknown(),
            };
        }
        VState {
            frames: vec![f],
            refs: Vec::new(),
            lock: None,
            callback_returns: 0,
        }
    }

    /// Records the memory kind accessed at `pc`.
    pub(super) fn note_mem(&mut self, pc: usize, kind: MemKind) {
        let f = &mut self.facts[pc];
        match f.mem {
            None if !f.mem_mixed => f.mem = Some(kind),
            Some(k) if k != kind => {
                f.mem = None;
                f.mem_mixed = true;
            }
            _ => {}
        }
    }

    /// Records stack use of the current function.
    pub(super) fn note_stack(&mut self, st: &VState, frame: usize, lowest_off: i64) {
        let sp = st.frames[frame].subprog;
        let sub = self.flow.subprog_of.get(sp).copied().unwrap_or(0);
        let d = u32::try_from(-lowest_off).unwrap_or(0);
        if let Some(x) = self.stack_depth.get_mut(sub) {
            *x = (*x).max(d);
        }
    }

    fn level(&self) -> u32 {
        self.config.log_level
    }

    /// Explores all paths.
    pub(super) fn run(mut self) -> Result<Verified, VerifyError> {
        let limit = self.config.insn_limit;
        self.worklist.push(Pending {
            state: self.initial_state(),
            pc: 0,
            from: 0,
            parent: None,
            hist: Vec::new(),
        });
        let mut first = true;
        while let Some(p) = self.worklist.pop() {
            let path_log_start = self.log.len();
            let (mut st, mut pc) = (p.state, p.pc);
            self.parent = p.parent;
            self.hist = p.hist;
            if self.level() >= 1 {
                let line = st.regs_line(self.config.maps);
                if first {
                    self.log.push_str(&format!("{pc}: {line}\n"));
                } else {
                    let (from, to) = (self.prog[p.from].slot, self.prog[pc].slot);
                    self.log
                        .push_str(&format!("\nfrom {from} to {to}: {line}\n"));
                }
            }
            first = false;
            loop {
                self.stats.insns_processed += 1;
                if self.stats.insns_processed > limit {
                    let msg = format!(
                        "BPF program is too large. Processed {} insn",
                        self.stats.insns_processed
                    );
                    return Err(self.fail(pc, &st, Reject::new(msg)));
                }
                self.insn_idx = pc;
                match self.prune_check(pc, &st) {
                    Ok(true) => {
                        self.stats.pruned += 1;
                        if self.level() >= 1 {
                            self.log
                                .push_str(&format!("{}: safe\n", self.prog[pc].slot));
                        }
                        self.finish_path();
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => return Err(self.fail(pc, &st, e)),
                }
                self.facts[pc].visited = true;
                let before = (self.level() >= 1).then_some(self.log.len());
                let depth = (st.frames.len() - 1) as u8;
                self.insn_stack = None;
                self.insn_links = None;
                self.insn_idx = pc;
                let step = self.step(pc, &mut st);
                let flow = match step {
                    Ok(f) => f,
                    Err(e) => return Err(self.fail(pc, &st, e)),
                };
                self.hist.push(Hist {
                    pc: pc as u32,
                    depth,
                    stack: self.insn_stack.take(),
                    linked: self.insn_links.take(),
                });
                if let Some(at) = before {
                    self.log_insn(pc, &st, at);
                }
                match flow {
                    Flow::Goto(n) => pc = n,
                    Flow::Fork {
                        cont,
                        target,
                        other,
                    } => {
                        if let Some(c) = self.parent {
                            self.checkpoints[c].branches += 1;
                        }
                        self.worklist.push(Pending {
                            state: other,
                            pc: target,
                            from: pc,
                            parent: self.parent,
                            hist: self.hist.clone(),
                        });
                        if self.worklist.len() > JMP_SEQ_LIMIT {
                            let msg = format!(
                                "The sequence of {} jumps is too complex.",
                                self.worklist.len()
                            );
                            return Err(self.fail(pc, &st, Reject::new(msg)));
                        }
                        pc = cont;
                    }
                    Flow::End => {
                        self.finish_path();
                        break;
                    }
                }
            }
            // At level 1 only the failing path stays in the log.
            if self.level() == 1 {
                self.log.truncate(path_log_start);
            }
        }
        let summary = self.stats.summary(limit);
        if self.level() >= 1 {
            self.log.push_str(&summary);
            self.log.push('\n');
        }
        Ok(Verified {
            facts: self.facts,
            stats: self.stats,
            stack_depth: self.stack_depth,
            log: self.log,
        })
    }

    /// Appends the instruction and the register it wrote to the log.
    fn log_insn(&mut self, pc: usize, st: &VState, at: usize) {
        let l = &self.prog[pc];
        let mut line = format!("{}: {}", l.slot, insn_text(&l.insn, l.slot));
        if let Some(r) = l.insn.def_reg() {
            let reg = st.reg(r);
            if reg.ty != RegType::NotInit {
                line.push_str(&format!(
                    " ; R{}={}",
                    r.num(),
                    reg.display(self.config.maps)
                ));
            }
        }
        line.push('\n');
        self.log.insert_str(at, &line);
    }

    /// Builds the error with the log: instruction, register state, message, hint, summary.
    fn fail(&mut self, pc: usize, st: &VState, e: Reject) -> VerifyError {
        let l = &self.prog[pc];
        let mut log = std::mem::take(&mut self.log);
        if self.config.log_level >= 1 {
            log.push_str(&format!("{}: {}\n", l.slot, insn_text(&l.insn, l.slot)));
            if let Some(r) = e.reg {
                let reg = st.reg(r);
                log.push_str(&format!(
                    "R{} type={} R{}={}\n",
                    r.num(),
                    reg.ty.name(),
                    r.num(),
                    reg.display(self.config.maps)
                ));
            }
        }
        log.push_str(&e.msg);
        log.push('\n');
        log.push_str(hint(&e.msg));
        log.push('\n');
        if self.config.log_level >= 1 {
            log.push_str(&self.stats.summary(self.config.insn_limit));
            log.push('\n');
        }
        VerifyError {
            insn: l.slot,
            message: e.msg,
            log,
        }
    }

    /// Kernel `update_branch_counts`: a path ended; finish every ancestor whose
    /// descendants are all done.
    fn finish_path(&mut self) {
        let mut cur = self.parent;
        while let Some(c) = cur {
            let cp = &mut self.checkpoints[c];
            cp.branches = cp.branches.saturating_sub(1);
            if cp.branches > 0 {
                break;
            }
            // Explored: nothing will backtrack through it any more.
            cp.hist = Vec::new();
            cur = cp.parent;
        }
    }

    /// Kernel `is_state_visited`: `true` if an explored state includes `st` (the path can
    /// stop); otherwise maybe stores `st` as a new checkpoint.
    fn prune_check(&mut self, pc: usize, st: &VState) -> Result<bool, Reject> {
        if !self.flow.prune_point[pc] {
            return Ok(false);
        }
        let force = self.flow.force_checkpoint[pc];
        let add = force
            || (self.jmps_processed - self.prev_jmps >= 2
                && self.stats.insns_processed - self.prev_insns >= 8);
        // Newest first, as the kernel's list: the latest iteration's state is the likely
        // match, and older ones are not charged a miss for it.
        let mut i = self.explored[pc].len();
        while i > 0 {
            i -= 1;
            let c = self.explored[pc][i];
            let cp = &mut self.checkpoints[c];
            if cp.branches > 0 {
                // A callback's call site is a loop head (the callback may run again): an
                // ancestor there that includes this state means the iteration converged.
                // Its precision marks are not final yet, so every scalar compares by range,
                // and the path's scalars become precise: the rest of the ancestor's
                // exploration may still find that their values matter.
                if self.flow.callback_site[pc] && states_equal(&cp.state, st, &self.flow, pc, true)
                {
                    cp.hits += 1;
                    self.mark_all_precise();
                    return Ok(true);
                }
                // An ancestor on the current path: identical means no progress.
                if same_state(&cp.state, st) && !self.flow.callback_site[pc] {
                    return Err(Reject::new(format!(
                        "infinite loop detected at insn {}",
                        self.prog[pc].slot
                    )));
                }
                // The kernel also skips new states inside loops until 20 jumps or 100
                // instructions have passed. Not here: loop heads are forced checkpoints,
                // evicted after 64 iterations' misses, so the body's states are what
                // prunes a long loop (with the kernel's rule maps.o exceeds 1M insns).
            } else if states_equal(&cp.state, st, &self.flow, pc, false) {
                cp.hits += 1;
                // The old state's precise scalars matter after this point on the
                // current path too.
                let live = live_masks(st, &self.flow, pc);
                self.propagate_precision(c, st, &live);
                return Ok(true);
            }
            // Kernel: a miss only counts when a new state replaces this one here.
            if !add {
                continue;
            }
            cp.misses += 1;
            // Kernel heuristic: a state that keeps missing is unlikely to help; loop heads
            // keep theirs longer so loops can still be recognised.
            let n = if force && cp.branches > 0 { 64 } else { 3 };
            if cp.misses > cp.hits * n + n {
                if cp.branches == 0 {
                    cp.state = VState {
                        frames: Vec::new(),
                        refs: Vec::new(),
                        lock: None,
                        callback_returns: 0,
                    };
                }
                self.explored[pc].remove(i);
                self.live_states -= 1;
            }
        }
        if add {
            self.prev_jmps = self.jmps_processed;
            self.prev_insns = self.stats.insns_processed;
            let id = self.checkpoints.len();
            self.checkpoints.push(Checkpoint {
                state: st.clone(),
                branches: 1,
                parent: self.parent,
                hist: std::mem::take(&mut self.hist),
                hits: 0,
                misses: 0,
            });
            self.parent = Some(id);
            self.explored[pc].push(id);
            self.stats.total_states += 1;
            self.live_states += 1;
            self.stats.peak_states = self.stats.peak_states.max(self.live_states);
            let n = self.explored[pc].len() as u32;
            self.stats.max_states_per_insn = self.stats.max_states_per_insn.max(n);
        }
        Ok(false)
    }

    /// States stored at `pc` whose paths are still being explored (loop ancestors).
    pub(super) fn in_progress_at(&self, pc: usize) -> impl Iterator<Item = &VState> {
        self.explored[pc]
            .iter()
            .map(|&c| &self.checkpoints[c])
            .filter(|c| c.branches > 0)
            .map(|c| &c.state)
    }

    /// A register operand that must be initialised.
    pub(super) fn read_reg(&self, st: &VState, r: Reg) -> Result<RegState, Reject> {
        let reg = *st.reg(r);
        if reg.ty == RegType::NotInit {
            return Err(Reject::reg(r, format!("R{} !read_ok", r.num())));
        }
        Ok(reg)
    }

    /// A conditional jump (kernel `check_cond_jmp_op`).
    pub(super) fn cond_jmp(
        &mut self,
        pc: usize,
        st: &mut VState,
        (width, cond, dst, src): (Width, JmpCond, Reg, Src),
    ) -> Result<Flow, Reject> {
        self.jmps_processed += 1;
        let target = self.target_of(pc);
        let fall = pc + 1;
        let a = self.read_reg(st, dst)?;
        let (b, src_reg) = match src {
            Src::Reg(r) => (self.read_reg(st, r)?, Some(r)),
            Src::Imm(k) => (RegState::scalar(Scalar::constant(k as i64 as u64)), None),
        };
        let operands: Vec<Reg> = std::iter::once(dst).chain(src_reg).collect();
        self.record_links(st, &operands);
        // A scalar operand whose value decides the outcome needs precision.
        let scalars: Vec<Reg> = operands
            .iter()
            .copied()
            .filter(|&r| st.reg(r).ty == RegType::Scalar)
            .collect();
        // Nullable pointer against zero: each edge learns null / non-null.
        if width == Width::W64 && matches!(cond, JmpCond::Eq | JmpCond::Ne) {
            let (ptr, other) = if a.ty.is_or_null() { (a, b) } else { (b, a) };
            if ptr.ty.is_or_null() && other.is_const_zero() {
                self.mark_precise(st, &scalars);
                let mut null_st = st.clone();
                let keep_id = self.keeps_id(&ptr);
                mark_ptr_or_null(&mut null_st, ptr.id, true, keep_id);
                mark_ptr_or_null(st, ptr.id, false, keep_id);
                // `==` jumps on null; `!=` jumps on non-null.
                let other = if cond == JmpCond::Eq {
                    null_st
                } else {
                    std::mem::replace(st, null_st)
                };
                return Ok(Flow::Fork {
                    cont: fall,
                    target,
                    other,
                });
            }
            // A valid pointer is never null.
            let non_null = |r: &RegState| r.ty.is_ptr() && !r.ty.is_or_null();
            if (non_null(&a) && b.is_const_zero()) || (non_null(&b) && a.is_const_zero()) {
                self.mark_precise(st, &scalars);
                return Ok(Flow::Goto(if cond == JmpCond::Ne { target } else { fall }));
            }
        }
        if a.ty == RegType::Scalar && b.ty == RegType::Scalar {
            let taken = branch::refine(cond, width, &a.var, &b.var, true);
            let not_taken = branch::refine(cond, width, &a.var, &b.var, false);
            if taken.is_none() || not_taken.is_none() {
                // Kernel `is_branch_taken` decided it: the bounds pruned an edge.
                self.mark_precise(st, &scalars);
            }
            let apply = |st: &mut VState, (ra, rb): (Scalar, Scalar)| {
                set_scalar(st, dst, ra);
                if let Some(r) = src_reg {
                    set_scalar(st, r, rb);
                }
            };
            return Ok(match (taken, not_taken) {
                (Some(t), Some(f)) => {
                    let mut other = st.clone();
                    apply(&mut other, t);
                    apply(st, f);
                    Flow::Fork {
                        cont: fall,
                        target,
                        other,
                    }
                }
                (Some(t), None) => {
                    apply(st, t);
                    Flow::Goto(target)
                }
                (None, Some(f)) => {
                    apply(st, f);
                    Flow::Goto(fall)
                }
                (None, None) => Flow::End,
            });
        }
        // Packet pointer against packet end: one edge proves a range.
        let mut other = st.clone();
        if width == Width::W64 {
            if let Some((on_taken, pkt, limit)) = pkt_compare(cond, &a, &b) {
                if limit > 0 {
                    let s = if on_taken { &mut other } else { &mut *st };
                    mark_pkt_range(s, &pkt, limit as u32);
                }
            }
        }
        Ok(Flow::Fork {
            cont: fall,
            target,
            other,
        })
    }
}

/// Writes a narrowed scalar into `r` and into every scalar linked to it by id
/// (kernel `find_equal_scalars`).
fn set_scalar(st: &mut VState, r: Reg, v: Scalar) {
    let RegState { id, off, .. } = *st.reg(r);
    st.reg_mut(r).var = v;
    if id != 0 {
        // Linked registers differ by a constant (their `off`, kernel `BPF_ADD_CONST`).
        st.for_each_reg(|x| {
            if x.ty == RegType::Scalar && x.id == id {
                x.var = if x.off == off {
                    v
                } else {
                    let delta = i64::from(x.off) - i64::from(off);
                    super::scalar::alu(AluOp::Add, Width::W64, &v, &Scalar::constant(delta as u64))
                };
            }
        });
    }
}

/// Kernel `mark_ptr_or_null_regs`: every copy of the nullable pointer `id` becomes the
/// constant 0 (`null`) or the non-null type; a null ring buffer record needs no release.
/// `keep_id`: the id stays (it names a map value's spin lock).
fn mark_ptr_or_null(st: &mut VState, id: u32, null: bool, keep_id: bool) {
    let mut released = None;
    st.for_each_reg(|r| {
        if r.id != id || !r.ty.is_or_null() {
            return;
        }
        if null {
            if r.ref_obj_id != 0 {
                released = Some(r.ref_obj_id);
            }
            *r = RegState::scalar(Scalar::constant(0));
        } else {
            r.ty = match r.ty {
                RegType::PtrToMapValueOrNull { map } => RegType::PtrToMapValue { map },
                RegType::PtrToMapOrNull { map } => RegType::ConstPtrToMap { map },
                RegType::PtrToMemOrNull { size } => RegType::PtrToMem {
                    size,
                    ringbuf: true,
                },
                t => t,
            };
            if !keep_id {
                r.id = 0;
            }
        }
    });
    if let Some(rid) = released {
        st.refs.retain(|&(i, _)| i != rid);
    }
}

/// For `pkt cond pkt_end` (either order) or `pkt_meta cond pkt`: which edge proves the
/// bytes before the pointer are in bounds, the pointer, and the byte count.
fn pkt_compare(cond: JmpCond, a: &RegState, b: &RegState) -> Option<(bool, RegState, i32)> {
    let is_end_for = |p: &RegState, e: &RegState| match p.ty {
        RegType::PtrToPacket { .. } => e.ty == RegType::PtrToPacketEnd,
        RegType::PtrToPacketMeta { .. } => matches!(e.ty, RegType::PtrToPacket { .. }),
        _ => false,
    };
    let (pkt, cond) = if is_end_for(a, b) {
        (a, cond)
    } else if is_end_for(b, a) {
        (b, cond.swap())
    } else {
        return None;
    };
    // With `pkt op end`: the edge on which `pkt <= end` holds proves `off` bytes; where
    // `pkt < end` holds, one more.
    let (on_taken, strict) = match cond {
        JmpCond::Gt => (false, false),
        JmpCond::Ge => (false, true),
        JmpCond::Lt => (true, true),
        JmpCond::Le => (true, false),
        _ => return None,
    };
    if pkt.off < 0 {
        return None;
    }
    Some((on_taken, *pkt, pkt.off + i32::from(strict)))
}

/// Kernel `find_good_pkt_pointers`: every packet pointer with the same id learns that
/// `range` bytes from its base are inside the packet.
fn mark_pkt_range(st: &mut VState, pkt: &RegState, range: u32) {
    let want_meta = matches!(pkt.ty, RegType::PtrToPacketMeta { .. });
    st.for_each_reg(|r| {
        if r.id != pkt.id || r.var != pkt.var {
            return;
        }
        match &mut r.ty {
            RegType::PtrToPacket { range: rr } if !want_meta => *rr = (*rr).max(range),
            RegType::PtrToPacketMeta { range: rr } if want_meta => *rr = (*rr).max(range),
            _ => {}
        }
    });
}
