//! The combined stack of a call chain (kernel `check_max_stack_depth`): after every path
//! is explored, each chain of BPF-to-BPF calls and synchronous callbacks from the main
//! program may use at most 512 bytes in all, each frame's depth rounded up to 16 bytes
//! as the kernel does when it JITs (`round_up_stack_depth`); a subprogram that tail-calls
//! may only be entered with less than 256 bytes of callers' stack.

use super::cfg::Cfg;
use super::state::{MAX_FRAMES, MAX_STACK};
use crate::isa::{CallTarget, Insn, LdPseudo, Located};

/// The subprogram indices that `sub` calls or passes as a callback.
fn callees(prog: &[Located], flow: &Cfg, sub: usize) -> Vec<usize> {
    let sp = &flow.subprogs[sub];
    let mut out = Vec::new();
    for l in &prog[sp.start..sp.end] {
        let imm = match l.insn {
            Insn::Call(CallTarget::Local(imm)) => imm,
            Insn::LdImm64 {
                pseudo: LdPseudo::Func,
                imm,
                ..
            } => imm,
            _ => continue,
        };
        let slot = l.slot as i64 + 1 + i64::from(imm);
        if let Some(k) = flow
            .subprogs
            .iter()
            .position(|s| prog.get(s.start).is_some_and(|x| x.slot as i64 == slot))
        {
            out.push(k);
        }
    }
    out
}

/// The kernel's message if some call chain's stack exceeds [`MAX_STACK`] or has more
/// than [`MAX_FRAMES`] frames; `depths` are the per-subprogram stack depths.
pub(super) fn check(prog: &[Located], flow: &Cfg, depths: &[u32]) -> Option<String> {
    let round = |d: u32| i64::from(d.div_ceil(16) * 16);
    let calls: Vec<Vec<usize>> = (0..flow.subprogs.len())
        .map(|k| callees(prog, flow, k))
        .collect();
    // Depth-first over call chains from the main program: (subprogram, depth so far,
    // frames so far). Recursion was already rejected while exploring; the frame limit
    // bounds the walk regardless.
    let mut todo = vec![(0usize, round(depths.first().copied().unwrap_or(0)), 1usize)];
    while let Some((sub, depth, frames)) = todo.pop() {
        if depth > MAX_STACK {
            return Some(format!(
                "combined stack size of {frames} calls is {depth}. Too large"
            ));
        }
        for &c in &calls[sub] {
            if frames >= MAX_FRAMES {
                return Some(format!("the call stack of {frames} frames is too deep !"));
            }
            // A tail call unwinds only its own frame: the callers' stack stays, so it is
            // bounded for a subprogram that tail-calls (x86-64 JIT rule).
            if flow.has_tail_call[c] && depth >= 256 {
                return Some(format!(
                    "tail_calls are not allowed when call stack of previous frames is {depth} bytes. Too large"
                ));
            }
            let d = depth + round(depths.get(c).copied().unwrap_or(0));
            todo.push((c, d, frames + 1));
        }
    }
    None
}
