//! Interpreter tests: programs built from `Insn` values.

mod alu;
mod callbacks;
mod control;
mod mem;

use super::*;
use crate::isa::{AluOp, Insn, JmpCond, Reg, Size, Src, Width};

/// Places instructions at consecutive slots.
pub(super) fn located(prog: &[Insn]) -> Vec<Located> {
    let mut slot = 0;
    prog.iter()
        .map(|&insn| {
            let l = Located { slot, insn };
            slot += insn.slots();
            l
        })
        .collect()
}

pub(super) fn load(prog: &[Insn]) -> Interpreter {
    Interpreter::new(&located(prog), &Registry::standard()).unwrap()
}

/// Runs in checked mode with no input.
pub(super) fn run(prog: &[Insn]) -> Result<u64, RunError> {
    load(prog).run(&mut RunContext::new(), 0, 0)
}

/// Runs in checked mode, then in unchecked mode, and checks both agree.
pub(super) fn run_both(prog: &[Insn], mem: &mut [u8]) -> Result<u64, RunError> {
    let mut copy = mem.to_vec();
    let mut vm = load(prog);
    let checked = vm.run_with_mem(&mut RunContext::new(), mem);
    if checked.is_ok() {
        // SAFETY: the checked run of the same program on the same input made only valid
        // accesses; the program is deterministic, so the unchecked run makes the same.
        unsafe { vm.set_mode(Mode::Unchecked) };
        assert_eq!(vm.run_with_mem(&mut RunContext::new(), &mut copy), checked);
        assert_eq!(copy, mem);
    }
    checked
}

pub(super) fn alu64(op: AluOp, dst: Reg, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    }
}

pub(super) fn alu32(op: AluOp, dst: Reg, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W32,
        op,
        dst,
        src,
    }
}

pub(super) fn mov(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Mov, dst, Src::Imm(imm))
}

pub(super) fn movr(dst: Reg, src: Reg) -> Insn {
    alu64(AluOp::Mov, dst, Src::Reg(src))
}

pub(super) fn ld64(dst: Reg, v: u64) -> Insn {
    Insn::ld_imm64(dst, v)
}

pub(super) fn jmp(width: Width, cond: JmpCond, dst: Reg, src: Src, off: i16) -> Insn {
    Insn::Jmp {
        width,
        cond,
        dst,
        src,
        off,
    }
}

pub(super) fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Ldx {
        size,
        dst,
        src,
        off,
    }
}

pub(super) fn stx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Stx {
        size,
        dst,
        src,
        off,
    }
}

pub(super) fn call(id: i32) -> Insn {
    Insn::Call(crate::isa::CallTarget::Helper(id))
}

pub(super) fn call_local(rel: i32) -> Insn {
    Insn::Call(crate::isa::CallTarget::Local(rel))
}

#[test]
fn error_type_stays_small() {
    assert!(std::mem::size_of::<RunError>() <= 32);
    assert!(std::mem::size_of::<lower::Op>() <= 16);
}
