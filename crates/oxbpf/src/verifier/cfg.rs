//! Control-flow checks before path exploration (kernel `check_subprogs` + `check_cfg`):
//! jump targets in range and on instruction starts, subprogram boundaries from local
//! calls, no jump across a boundary, no fall-through off a subprogram, every instruction
//! reachable. Back-edges are allowed (bounded loops are proven by exploration, kernel
//! ≥ 5.3) but recorded: their targets become forced checkpoints for loop detection.
//!
//! Also computes static register liveness per instruction, which state pruning uses to
//! ignore dead registers.

use super::VerifyError;
use crate::isa::{AtomicOp, CallTarget, Insn, LdPseudo, Located, Reg, Src};

/// One function of the program: instructions `start..end` (indices into the program).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subprog {
    /// Index of the first instruction.
    pub start: usize,
    /// One past the last instruction.
    pub end: usize,
}

/// The control-flow facts the explorer needs, all indexed by instruction index.
#[derive(Clone, Debug)]
pub struct Cfg {
    /// Functions in program order; `subprogs[0]` is the main program.
    pub subprogs: Vec<Subprog>,
    /// Where pruning may compare states: jump targets, fall-throughs of conditional
    /// jumps, instructions after calls.
    pub prune_point: Vec<bool>,
    /// Targets of back-edges (loop heads): always checkpointed.
    pub force_checkpoint: Vec<bool>,
    /// Back-edges found, as `(from, to)` instruction indices.
    pub back_edges: Vec<(usize, usize)>,
    /// Registers live before each instruction (bit `n` = `rN`).
    pub live_in: Vec<u16>,
    /// For each instruction index, the subprogram containing it.
    pub subprog_of: Vec<usize>,
    /// Helper calls found to take a callback (set during exploration): loop heads where
    /// the callback may run again.
    pub callback_site: Vec<bool>,
    /// Subprograms that contain `BPF_LD_ABS`/`BPF_LD_IND` (kernel `has_ld_abs`).
    pub has_ld_abs: Vec<bool>,
    /// Subprograms that call `bpf_tail_call` (kernel `has_tail_call`).
    pub has_tail_call: Vec<bool>,
}

/// Maps slots to instruction indices.
pub struct SlotMap {
    idx: Vec<Option<usize>>,
}

impl SlotMap {
    pub fn new(prog: &[Located]) -> SlotMap {
        let len = prog.last().map_or(0, |l| l.slot + l.insn.slots());
        let mut idx = vec![None; len];
        for (i, l) in prog.iter().enumerate() {
            if let Some(e) = idx.get_mut(l.slot) {
                *e = Some(i);
            }
        }
        SlotMap { idx }
    }

    /// The instruction starting at `slot`, if any.
    pub fn at(&self, slot: i64) -> Option<usize> {
        usize::try_from(slot)
            .ok()
            .and_then(|s| self.idx.get(s).copied().flatten())
    }

    /// Total number of slots.
    pub fn len(&self) -> usize {
        self.idx.len()
    }

    /// Whether the program has no slots.
    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }
}

fn err(prog: &[Located], i: usize, message: String) -> VerifyError {
    VerifyError {
        insn: prog.get(i).map_or(i, |l| l.slot),
        message,
        log: String::new(),
    }
}

/// Resolves a jump/call target slot to an instruction index, with the kernel's messages.
fn target(prog: &[Located], slots: &SlotMap, i: usize, slot: i64) -> Result<usize, VerifyError> {
    let from = prog[i].slot;
    if slot < 0 || slot >= slots.len() as i64 {
        return Err(err(
            prog,
            i,
            format!("jump out of range from insn {from} to {slot}"),
        ));
    }
    slots.at(slot).ok_or_else(|| {
        err(
            prog,
            i,
            format!("jump into the middle of ldimm64 insn {}", slot - 1),
        )
    })
}

/// Successor instruction indices within the function (calls fall through).
fn successors(prog: &[Located], slots: &SlotMap, i: usize) -> Result<Vec<usize>, VerifyError> {
    let l = &prog[i];
    let next = i + 1;
    Ok(match l.insn {
        Insn::Exit => vec![],
        Insn::Ja { .. } | Insn::Gotol { .. } => {
            vec![target(prog, slots, i, l.target_slot().unwrap_or(-1))?]
        }
        Insn::Jmp { .. } => vec![next, target(prog, slots, i, l.target_slot().unwrap_or(-1))?],
        _ => vec![next],
    })
}

/// Runs the control-flow checks.
pub fn check_cfg(prog: &[Located]) -> Result<Cfg, VerifyError> {
    let n = prog.len();
    if n == 0 {
        return Err(err(prog, 0, "program is empty".into()));
    }
    let slots = SlotMap::new(prog);
    // Subprogram starts: 0, local call targets, function-pointer loads.
    let mut starts = vec![0usize];
    for (i, l) in prog.iter().enumerate() {
        let callee_slot = match l.insn {
            Insn::Call(CallTarget::Local(imm)) => Some(l.slot as i64 + 1 + imm as i64),
            Insn::LdImm64 {
                pseudo: LdPseudo::Func,
                imm,
                ..
            } => Some(l.slot as i64 + 1 + imm as i64),
            _ => None,
        };
        if let Some(s) = callee_slot {
            let t = slots
                .at(s)
                .ok_or_else(|| err(prog, i, "call to invalid destination".into()))?;
            starts.push(t);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut subprogs = Vec::new();
    let mut subprog_of = vec![0; n];
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(n);
        subprogs.push(Subprog { start: s, end });
        for e in &mut subprog_of[s..end] {
            *e = k;
        }
    }
    // Per function: jumps stay inside, the last instruction does not fall through.
    for sp in &subprogs {
        let last = &prog[sp.end - 1].insn;
        if !last.is_terminator() {
            return Err(err(
                prog,
                sp.end - 1,
                "last insn is not an exit or jmp".into(),
            ));
        }
        for i in sp.start..sp.end {
            for s in successors(prog, &slots, i)? {
                if s < sp.start || s >= sp.end {
                    let to = prog.get(s).map_or(slots.len(), |l| l.slot);
                    return Err(err(
                        prog,
                        i,
                        format!("jump out of range from insn {} to {}", prog[i].slot, to),
                    ));
                }
            }
        }
    }
    // Depth-first search from the entry, following calls into callees.
    let mut prune_point = vec![false; n];
    let mut force_checkpoint = vec![false; n];
    let mut back_edges = Vec::new();
    // 0 = undiscovered, 1 = on the DFS stack, 2 = done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    let edges = |i: usize| -> Result<Vec<usize>, VerifyError> {
        let mut e = successors(prog, &slots, i)?;
        match prog[i].insn {
            Insn::Call(CallTarget::Local(_)) => {
                e.push(target(
                    prog,
                    &slots,
                    i,
                    prog[i].target_slot().unwrap_or(-1),
                )?);
            }
            // A function whose address is taken is reachable (as a callback).
            Insn::LdImm64 {
                pseudo: LdPseudo::Func,
                imm,
                ..
            } => e.push(target(
                prog,
                &slots,
                i,
                prog[i].slot as i64 + 1 + imm as i64,
            )?),
            _ => {}
        }
        Ok(e)
    };
    state[0] = 1;
    stack.push((0, edges(0)?, 0));
    while let Some((t, succ, k)) = stack.last_mut() {
        let t = *t;
        if *k == succ.len() {
            state[t] = 2;
            stack.pop();
            continue;
        }
        let w = succ[*k];
        *k += 1;
        match state[w] {
            0 => {
                state[w] = 1;
                let e = edges(w)?;
                stack.push((w, e, 0));
            }
            1 => {
                back_edges.push((t, w));
                force_checkpoint[w] = true;
            }
            _ => {}
        }
    }
    if let Some(i) = state.iter().position(|&s| s == 0) {
        return Err(err(prog, i, format!("unreachable insn {}", prog[i].slot)));
    }
    for (i, l) in prog.iter().enumerate() {
        match l.insn {
            Insn::Jmp { .. } => {
                for s in successors(prog, &slots, i)? {
                    prune_point[s] = true;
                }
            }
            Insn::Ja { .. } | Insn::Gotol { .. } => {
                for s in successors(prog, &slots, i)? {
                    prune_point[s] = true;
                }
            }
            Insn::Call(_) | Insn::Callx { .. } if i + 1 < n => prune_point[i + 1] = true,
            _ => {}
        }
    }
    for &(_, to) in &back_edges {
        prune_point[to] = true;
    }
    let live_in = liveness(prog, &slots, &subprogs)?;
    let mut has_ld_abs = vec![false; subprogs.len()];
    let mut has_tail_call = vec![false; subprogs.len()];
    for (i, l) in prog.iter().enumerate() {
        match l.insn {
            Insn::LdAbs { .. } | Insn::LdInd { .. } => has_ld_abs[subprog_of[i]] = true,
            Insn::Call(crate::isa::CallTarget::Helper(12)) => has_tail_call[subprog_of[i]] = true,
            _ => {}
        }
    }
    Ok(Cfg {
        callback_site: vec![false; n],
        has_ld_abs,
        has_tail_call,
        subprogs,
        prune_point,
        force_checkpoint,
        back_edges,
        live_in,
        subprog_of,
    })
}

const CALLER_SAVED: u16 = 0b11_1111; // r0-r5
const ARGS: u16 = 0b11_1110; // r1-r5

fn bit(r: Reg) -> u16 {
    1 << r.num()
}

/// Registers read and written by an instruction.
fn use_def(insn: &Insn) -> (u16, u16) {
    let src_bit = |s: Src| match s {
        Src::Reg(r) => bit(r),
        Src::Imm(_) => 0,
    };
    match *insn {
        Insn::Alu { op, dst, src, .. } => {
            let u = if op == crate::isa::AluOp::Mov {
                0
            } else {
                bit(dst)
            };
            (u | src_bit(src), bit(dst))
        }
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => (bit(dst), bit(dst)),
        Insn::MovSx { dst, src, .. } => (bit(src), bit(dst)),
        Insn::LdImm64 { dst, .. } => (0, bit(dst)),
        Insn::LdAbs { .. } => (bit(Reg::R6), CALLER_SAVED),
        Insn::LdInd { src, .. } => (bit(Reg::R6) | bit(src), CALLER_SAVED),
        Insn::Ldx { dst, src, .. } | Insn::LdxSx { dst, src, .. } => (bit(src), bit(dst)),
        Insn::St { dst, .. } => (bit(dst), 0),
        Insn::Stx { dst, src, .. } => (bit(dst) | bit(src), 0),
        Insn::Atomic {
            op,
            fetch,
            dst,
            src,
            ..
        } => {
            if op == AtomicOp::Cmpxchg {
                (bit(dst) | bit(src) | bit(Reg::R0), bit(Reg::R0))
            } else if fetch {
                (bit(dst) | bit(src), bit(src))
            } else {
                (bit(dst) | bit(src), 0)
            }
        }
        Insn::Ja { .. } | Insn::Gotol { .. } => (0, 0),
        Insn::Jmp { dst, src, .. } => (bit(dst) | src_bit(src), 0),
        Insn::Call(_) => (ARGS, CALLER_SAVED),
        Insn::Callx { reg } => (ARGS | bit(reg), CALLER_SAVED),
        Insn::Exit => (bit(Reg::R0), 0),
    }
}

/// Backward dataflow: registers live before each instruction, per function.
fn liveness(
    prog: &[Located],
    slots: &SlotMap,
    subprogs: &[Subprog],
) -> Result<Vec<u16>, VerifyError> {
    let n = prog.len();
    let mut succ = Vec::with_capacity(n);
    for i in 0..n {
        succ.push(successors(prog, slots, i)?);
    }
    let ud: Vec<(u16, u16)> = prog.iter().map(|l| use_def(&l.insn)).collect();
    let mut live = vec![0u16; n];
    for sp in subprogs {
        let mut changed = true;
        while changed {
            changed = false;
            for i in (sp.start..sp.end).rev() {
                let out = succ[i]
                    .iter()
                    .fold(0u16, |acc, &s| acc | live.get(s).copied().unwrap_or(0));
                let (u, d) = ud[i];
                let inn = u | (out & !d);
                if inn != live[i] {
                    live[i] = inn;
                    changed = true;
                }
            }
        }
    }
    Ok(live)
}
