//! Load-time call-depth check. Function boundaries themselves (no jump across functions,
//! no fall-through into the next) are `isa::validate`'s job.

use crate::isa::{function_starts, CallTarget, Insn, Located};
use crate::vm::MAX_CALL_FRAMES;

use super::error::LoadError;

/// Rejects non-recursive call chains deeper than [`MAX_CALL_FRAMES`] frames (the entry
/// function counts as one). Recursion is left to the run-time frame limit. Expects a
/// validated program.
pub(super) fn check_call_depth(insns: &[Located]) -> Result<(), LoadError> {
    let starts = function_starts(insns);
    let func_index = |slot: usize| starts.partition_point(|&s| s <= slot) - 1;
    // Per function: (call slot, callee function index).
    let mut calls: Vec<Vec<(usize, usize)>> = vec![Vec::new(); starts.len()];
    for l in insns {
        if let (Insn::Call(CallTarget::Local(_)), Some(t)) = (l.insn, l.target_slot()) {
            calls[func_index(l.slot)].push((l.slot, func_index(t as usize)));
        }
    }
    // Iterative DFS with an on-path marker (edges back onto the path are recursion). A
    // function already explored at a smaller or equal depth is not explored again, which
    // bounds the work by functions x frames; with recursion that may miss a chain, which
    // the run-time frame limit still stops.
    let mut on_path = vec![false; starts.len()];
    let mut best = vec![usize::MAX; starts.len()];
    best[0] = 1;
    on_path[0] = true;
    let mut stack: Vec<(usize, usize, usize)> = vec![(0, 0, 1)]; // (func, next edge, frames)
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
        if depth + 1 > MAX_CALL_FRAMES {
            return Err(LoadError::CallTooDeep {
                slot,
                depth: depth + 1,
            });
        }
        best[callee] = depth + 1;
        on_path[callee] = true;
        stack.push((callee, 0, depth + 1));
    }
    Ok(())
}
