//! Program-level structural checks that need more than one instruction: jump targets,
//! `lddw` halves, writes to the frame pointer, subprogram boundaries, falling off the end.
//!
//! These are the checks every engine relies on even without the verifier (the kernel does
//! them in `check_cfg` / `check_subprogs`); the verifier proves the rest.

use super::{CallTarget, Insn, LdPseudo, Located, Reg};

/// What is structurally wrong with a program.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValidateErrorKind {
    /// The program has no instructions.
    #[error("program is empty")]
    Empty,
    /// A jump or call lands outside the program.
    #[error("jump out of range: target slot {target} (program has {len} slots)")]
    JumpOutOfRange { target: i64, len: usize },
    /// A jump or call lands on the second slot of an `lddw`.
    #[error("jump into the middle of lddw at slot {target}")]
    JumpIntoLdImm64 { target: i64 },
    /// An instruction writes `r10`.
    #[error("r10 (frame pointer) is read-only")]
    WritesFramePointer,
    /// The last instruction can fall through past the end.
    #[error("last instruction falls off the end of the program (must be exit or jump)")]
    FallsOffEnd,
    /// A jump leaves the function it is in (functions start at local-call targets).
    #[error("jump from function at slot {from_func} into function at slot {to_func} (target slot {target})")]
    JumpCrossesFunction {
        target: i64,
        from_func: usize,
        to_func: usize,
    },
    /// A function's last instruction is not `exit` or an unconditional jump.
    #[error("function at slot {func} does not end with exit or an unconditional jump")]
    FunctionFallsThrough { func: usize },
}

/// A structural error at an instruction slot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("instruction {slot}: {kind}")]
pub struct ValidateError {
    /// Slot of the offending instruction.
    pub slot: usize,
    /// What is wrong.
    pub kind: ValidateErrorKind,
}

/// Checks the structural rules of a decoded program (see the module docs).
pub fn validate(insns: &[Located]) -> Result<(), ValidateError> {
    let last = insns.last().ok_or(ValidateError {
        slot: 0,
        kind: ValidateErrorKind::Empty,
    })?;
    let len = last.slot + last.insn.slots();
    // Which slots start an instruction.
    let mut starts = vec![false; len];
    for l in insns {
        starts[l.slot] = true;
    }
    for l in insns {
        let err = |kind| ValidateError { slot: l.slot, kind };
        if let Some(target) = l.target_slot() {
            if target < 0 || target >= len as i64 {
                return Err(err(ValidateErrorKind::JumpOutOfRange { target, len }));
            }
            if !starts[target as usize] {
                return Err(err(ValidateErrorKind::JumpIntoLdImm64 { target }));
            }
        }
        if l.insn.def_reg() == Some(Reg::R10) {
            return Err(err(ValidateErrorKind::WritesFramePointer));
        }
    }
    if !last.insn.is_terminator() {
        return Err(ValidateError {
            slot: last.slot,
            kind: ValidateErrorKind::FallsOffEnd,
        });
    }
    check_functions(insns, len)
}

/// Start slots of the functions of a program: slot 0 and every target of a local call or a
/// `BPF_PSEUDO_FUNC` load, sorted. Assumes targets were checked to be in range.
pub fn function_starts(insns: &[Located]) -> Vec<usize> {
    let mut starts = vec![0usize];
    for l in insns {
        let rel = match l.insn {
            Insn::Call(CallTarget::Local(imm))
            | Insn::LdImm64 {
                pseudo: LdPseudo::Func,
                imm,
                ..
            } => imm,
            _ => continue,
        };
        if let Ok(t) = usize::try_from(l.slot as i64 + 1 + rel as i64) {
            starts.push(t);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// Jumps stay inside their function and every function ends with a terminator (the
/// kernel's `check_subprogs`).
fn check_functions(insns: &[Located], len: usize) -> Result<(), ValidateError> {
    let starts = function_starts(insns);
    for &s in &starts {
        if s >= len || insns.binary_search_by_key(&s, |l| l.slot).is_err() {
            let slot = insns
                .iter()
                .find(|l| {
                    matches!(
                        l.insn,
                        Insn::LdImm64 {
                            pseudo: LdPseudo::Func,
                            ..
                        }
                    )
                })
                .map_or(0, |l| l.slot);
            return Err(ValidateError {
                slot,
                kind: ValidateErrorKind::JumpOutOfRange {
                    target: s as i64,
                    len,
                },
            });
        }
    }
    let func_of = |slot: usize| starts[starts.partition_point(|&s| s <= slot) - 1];
    for l in insns {
        if matches!(l.insn, Insn::Call(_)) {
            continue;
        }
        if let Some(target) = l.target_slot() {
            let (from, to) = (func_of(l.slot), func_of(target as usize));
            if from != to {
                return Err(ValidateError {
                    slot: l.slot,
                    kind: ValidateErrorKind::JumpCrossesFunction {
                        target,
                        from_func: from,
                        to_func: to,
                    },
                });
            }
        }
    }
    for (i, &s) in starts.iter().enumerate().skip(1) {
        let prev = insns
            .iter()
            .rev()
            .find(|l| l.slot < s)
            .expect("function start > 0 has a previous instruction");
        if !prev.insn.is_terminator() {
            return Err(ValidateError {
                slot: prev.slot,
                kind: ValidateErrorKind::FunctionFallsThrough {
                    func: starts[i - 1],
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{decode, JmpCond, Src, Width};

    fn prog(insns: &[Insn]) -> Vec<Located> {
        let mut bytes = Vec::new();
        for i in insns {
            i.encode_into(&mut bytes);
        }
        decode(&bytes).unwrap()
    }

    #[test]
    fn structural_errors() {
        assert_eq!(validate(&[]).unwrap_err().kind, ValidateErrorKind::Empty);
        let p = prog(&[Insn::Ja { off: 5 }, Insn::Exit]);
        assert!(matches!(
            validate(&p).unwrap_err().kind,
            ValidateErrorKind::JumpOutOfRange { target: 6, len: 2 }
        ));
        let p = prog(&[Insn::Ja { off: 1 }, Insn::ld_imm64(Reg::R0, 1), Insn::Exit]);
        assert_eq!(
            validate(&p).unwrap_err().kind,
            ValidateErrorKind::JumpIntoLdImm64 { target: 2 }
        );
        let p = prog(&[Insn::Neg {
            width: Width::W64,
            dst: Reg::R10,
        }]);
        assert_eq!(
            validate(&p).unwrap_err().kind,
            ValidateErrorKind::WritesFramePointer
        );
        let p = prog(&[Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R0,
            src: Src::Imm(0),
            off: -1,
        }]);
        assert_eq!(
            validate(&p).unwrap_err().kind,
            ValidateErrorKind::FallsOffEnd
        );
        let p = prog(&[Insn::ld_imm64(Reg::R0, 1), Insn::Exit]);
        validate(&p).unwrap();
        // main: call f; (falls into f) f: exit
        let p = prog(&[Insn::Call(CallTarget::Local(0)), Insn::Exit]);
        assert_eq!(
            validate(&p).unwrap_err().kind,
            ValidateErrorKind::FunctionFallsThrough { func: 0 }
        );
        // main: call f; exit; f: ja main
        let p = prog(&[
            Insn::Call(CallTarget::Local(1)),
            Insn::Exit,
            Insn::Ja { off: -3 },
        ]);
        assert!(matches!(
            validate(&p).unwrap_err().kind,
            ValidateErrorKind::JumpCrossesFunction { .. }
        ));
        let p = prog(&[Insn::Call(CallTarget::Local(1)), Insn::Exit, Insn::Exit]);
        validate(&p).unwrap();
    }
}
