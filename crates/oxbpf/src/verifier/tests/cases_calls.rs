//! BPF-to-BPF calls, program exit and return ranges, unsupported forms.

use super::asm::*;
use super::*;
use crate::isa::{CallTarget, Insn, LdPseudo};

pub(super) fn cases() -> Vec<Case> {
    use Ty::{Ranged, Xdp};
    vec![
        accept(
            "call a function",
            Xdp,
            vec![mov(R1, 5), callf(1), exit(), movr(R0, R1), exit()],
        ),
        reject(
            "jump across a function boundary",
            Xdp,
            vec![mov(R0, 0), callf(2), ja(2), exit(), mov(R0, 1), exit()],
            "jump out of range from insn 2 to 5",
        ),
        reject(
            "function falls into the next",
            Xdp,
            vec![callf(1), exit(), mov(R0, 0)],
            "last insn is not an exit or jmp",
        ),
        reject(
            "call target out of range",
            Xdp,
            vec![callf(5), exit()],
            "call to invalid destination",
        ),
        reject(
            "call clobbers the caller's r1-r5",
            Xdp,
            vec![
                mov(R1, 1),
                callf(2),
                movr(R0, R1),
                exit(),
                mov(R0, 0),
                exit(),
            ],
            "R1 !read_ok",
        ),
        accept(
            "call keeps the caller's r6-r9",
            Xdp,
            vec![
                mov(R6, 7),
                callf(2),
                movr(R0, R6),
                exit(),
                mov(R0, 0),
                exit(),
            ],
        ),
        reject(
            "callee does not see the caller's r6",
            Xdp,
            vec![
                mov(R6, 7),
                callf(2),
                mov(R0, 0),
                exit(),
                movr(R0, R6),
                exit(),
            ],
            "R6 !read_ok",
        ),
        reject(
            "unbounded recursion",
            Xdp,
            vec![callf(-1), exit()],
            "the call stack of 9 frames is too deep",
        ),
        reject(
            "returning a stack pointer",
            Xdp,
            vec![callf(1), exit(), movr(R0, R10), exit()],
            "cannot return stack pointer to the caller",
        ),
        accept(
            "callee reads the caller's stack",
            Xdp,
            vec![
                st(DW, R10, -8, 5),
                movr(R1, R10),
                alu(Add, R1, -8),
                callf(1),
                exit(),
                ldx(DW, R0, R1, 0),
                exit(),
            ],
        ),
        accept(
            "callee writes the caller's stack",
            Xdp,
            vec![
                movr(R1, R10),
                alu(Add, R1, -8),
                callf(2),
                ldx(DW, R0, R10, -8),
                exit(),
                st(DW, R1, 0, 3),
                mov(R0, 0),
                exit(),
            ],
        ),
        reject(
            "callee's stack is its own",
            Xdp,
            vec![callf(1), exit(), st(DW, R10, 8, 0), mov(R0, 0), exit()],
            "invalid write to stack R10 off=8 size=8",
        ),
        reject(
            "callee must set r0",
            Xdp,
            vec![callf(1), exit(), exit()],
            "R0 !read_ok",
        ),
        accept(
            "callee returns a value used as a bound",
            Xdp,
            vec![
                callf(6),
                movr(R3, R10),
                alu(Add, R3, -16),
                alur(Add, R3, R0),
                st(B, R3, 0, 0),
                mov(R0, 0),
                exit(),
                mov(R0, 4),
                exit(),
            ],
        ),
        accept(
            "two calls to the same function",
            Xdp,
            vec![
                mov(R1, 1),
                callf(3),
                mov(R1, 2),
                callf(1),
                exit(),
                movr(R0, R1),
                exit(),
            ],
        ),
        // Exit and return ranges.
        accept("return value in range", Ranged, ret(1)),
        reject(
            "return value out of range",
            Ranged,
            ret(2),
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]",
        ),
        reject(
            "unknown return value",
            Ranged,
            vec![call(7), exit()],
            "At program exit the register R0 has unknown scalar value should have been in [0, 1]",
        ),
        reject(
            "pointer as return value",
            Ranged,
            vec![movr(R0, R10), exit()],
            "At program exit the register R0 is not a known value (fp)",
        ),
        accept(
            "return value masked into range",
            Ranged,
            vec![call(7), alu(And, R0, 1), exit()],
        ),
        accept(
            "return of a pointer without a range (root)",
            Xdp,
            vec![movr(R0, R10), exit()],
        ),
        accept(
            "return range after a bounding branch",
            Ranged,
            vec![ldx(W, R0, R1, 0), jmp(JLE, R0, 1, 1), mov(R0, 0), exit()],
        ),
        // Unsupported or not allowed forms.
        reject(
            "legacy packet load",
            Xdp,
            vec![
                movr(R6, R1),
                Insn::LdAbs {
                    size: crate::isa::Size::B,
                    imm: 0,
                },
                exit(),
            ],
            "BPF_LD_[ABS|IND] instructions not allowed for this program type",
        ),
        reject(
            "kfunc call",
            Xdp,
            cat(&[vec![Insn::Call(CallTarget::Kfunc(1))], ret(0)]),
            "not supported",
        ),
        reject(
            "indirect call",
            Xdp,
            cat(&[vec![mov(R2, 1), Insn::Callx { reg: R2 }], ret(0)]),
            "not supported",
        ),
        accept(
            "function pointer load",
            Xdp,
            vec![
                Insn::LdImm64 {
                    dst: R1,
                    pseudo: LdPseudo::Func,
                    imm: 3,
                    imm2: 0,
                },
                mov(R0, 0),
                exit(),
                mov(R0, 1),
                exit(),
            ],
        ),
        reject(
            "BTF id load",
            Xdp,
            cat(&[
                vec![Insn::LdImm64 {
                    dst: R1,
                    pseudo: LdPseudo::BtfId,
                    imm: 1,
                    imm2: 0,
                }],
                ret(0),
            ]),
            "not supported",
        ),
        accept("64-bit immediate", Xdp, vec![ld64(R0, 1 << 40), exit()]),
    ]
}

#[test]
fn calls_table() {
    check_table(&cases());
}

/// Number of cases in this table.
pub(super) fn count() -> usize {
    cases().len()
}
