//! Load-time structure checks: functions (subprograms) and call depth.

use crate::isa::{CallTarget, Insn, Located};
use crate::vm::MAX_CALL_FRAMES;

use super::error::LoadError;

/// Checks the function structure as the kernel's `check_subprogs` does: functions start at
/// slot 0 and at every local call target; jumps stay inside their function; a function's
/// last instruction does not fall through into the next; and no non-recursive call chain
/// is deeper than [`MAX_CALL_FRAMES`]. Recursion is left to the run-time frame limit.
pub(super) fn check_functions(insns: &[Located]) -> Result<(), LoadError> {
    let mut starts: Vec<usize> = vec![0];
    for l in insns {
        if let (Insn::Call(CallTarget::Local(_)), Some(t)) = (l.insn, l.target_slot()) {
            starts.push(t as usize);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let func_of = |slot: usize| starts[starts.partition_point(|&s| s <= slot) - 1];
    // Callee function starts per function index.
    let mut calls: Vec<Vec<(usize, usize)>> = vec![Vec::new(); starts.len()];
    for (i, l) in insns.iter().enumerate() {
        let func = func_of(l.slot);
        let fi = starts.partition_point(|&s| s < func);
        match (l.insn, l.target_slot()) {
            (Insn::Call(CallTarget::Local(_)), Some(t)) => {
                let callee = starts.partition_point(|&s| s < t as usize);
                calls[fi].push((l.slot, callee));
            }
            (Insn::Ja { .. } | Insn::Gotol { .. } | Insn::Jmp { .. }, Some(t))
                if func_of(t as usize) != func =>
            {
                return Err(LoadError::JumpOutOfFunction {
                    slot: l.slot,
                    target: t as usize,
                    func,
                });
            }
            _ => {}
        }
        let next_starts_function = insns.get(i + 1).is_some_and(|n| func_of(n.slot) != func);
        if next_starts_function && !l.insn.is_terminator() {
            return Err(LoadError::FallsIntoNextFunction { slot: l.slot, func });
        }
    }
    // Longest call chain from the entry function, ignoring recursive (back) edges.
    // Iterative DFS with an on-path marker. A function already explored at a smaller or
    // equal depth is not explored again, which bounds the work by functions x frames; with
    // recursion that may miss a chain, which the run-time frame limit still stops.
    let mut on_path = vec![false; starts.len()];
    let mut best = vec![usize::MAX; starts.len()];
    best[0] = 1;
    let mut stack: Vec<(usize, usize, usize)> = vec![(0, 0, 1)]; // (func, next edge, depth)
    on_path[0] = true;
    while let Some(top) = stack.last_mut() {
        let (f, edge, depth) = *top;
        let Some(&(slot, callee)) = calls[f].get(edge) else {
            on_path[f] = false;
            stack.pop();
            continue;
        };
        top.1 += 1;
        if on_path[callee] || best[callee] <= depth + 1 {
            continue;
        }
        best[callee] = depth + 1;
        if depth + 1 > MAX_CALL_FRAMES {
            return Err(LoadError::CallTooDeep {
                slot,
                depth: depth + 1,
            });
        }
        on_path[callee] = true;
        stack.push((callee, 0, depth + 1));
    }
    Ok(())
}
