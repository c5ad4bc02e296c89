//! Program-level structural checks that need more than one instruction: jump targets,
//! `lddw` halves, writes to the frame pointer, falling off the end.
//!
//! These are the checks every engine relies on even without the verifier (the kernel does
//! them in `check_cfg` / `check_subprogs`); the verifier proves the rest.

use super::{Located, Reg};

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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::{decode, Insn, JmpCond, Src, Width};

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
    }
}
