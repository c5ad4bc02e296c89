//! Control flow: jump ranges, lddw halves, reachability, fall-off, loops.

use super::asm::*;
use super::*;

pub(super) fn cases() -> Vec<Case> {
    use Ty::Xdp;
    vec![
        accept("exit with r0 set", Xdp, ret(0)),
        reject("r0 not set at exit", Xdp, vec![exit()], "R0 !read_ok"),
        reject("empty program", Xdp, vec![], "program is empty"),
        reject(
            "jump forward out of range",
            Xdp,
            vec![ja(5), exit()],
            "jump out of range from insn 0 to 6",
        ),
        reject(
            "jump backward out of range",
            Xdp,
            vec![ja(-3), exit()],
            "jump out of range from insn 0 to -2",
        ),
        reject(
            "conditional jump out of range",
            Xdp,
            vec![mov(R0, 0), jmp(JEQ, R0, 0, 10), exit()],
            "jump out of range from insn 1 to 12",
        ),
        reject(
            "jump into the second half of lddw",
            Xdp,
            vec![ja(1), ld64(R0, 1), exit()],
            "jump into the middle of ldimm64 insn 1",
        ),
        reject(
            "unreachable instruction",
            Xdp,
            vec![mov(R0, 0), exit(), mov(R0, 1), exit()],
            "unreachable insn 2",
        ),
        reject(
            "unreachable after unconditional jump",
            Xdp,
            vec![mov(R0, 0), ja(1), mov(R0, 1), exit()],
            "unreachable insn 2",
        ),
        reject(
            "falls off the end",
            Xdp,
            vec![mov(R0, 0)],
            "last insn is not an exit or jmp",
        ),
        reject(
            "conditional jump as last instruction",
            Xdp,
            vec![mov(R0, 0), jmp(JEQ, R0, 0, -2)],
            "last insn is not an exit or jmp",
        ),
        reject(
            "lddw counts two slots in jumps",
            Xdp,
            vec![mov(R0, 0), ja(2), ld64(R0, 7), exit()],
            "unreachable insn 2",
        ),
        accept(
            "jump over lddw",
            Xdp,
            vec![
                mov(R0, 0),
                jmp(JEQ, R0, 1, 2),
                ld64(R1, 1 << 40),
                mov(R0, 1),
                exit(),
            ],
        ),
        reject(
            "gotol skips code",
            Xdp,
            vec![mov(R0, 0), gotol(1), mov(R0, 1), exit()],
            "unreachable insn 2",
        ),
        accept("gotol", Xdp, vec![mov(R0, 0), gotol(0), exit()]),
        reject(
            "self loop",
            Xdp,
            vec![ja(-1)],
            "infinite loop detected at insn 0",
        ),
        reject(
            "loop on a constant condition",
            Xdp,
            vec![mov(R0, 0), jmp(JEQ, R0, 0, -1), exit()],
            "infinite loop detected at insn 1",
        ),
        accept(
            "bounded loop with constant trip count",
            Xdp,
            vec![
                mov(R1, 0),
                alu(Add, R1, 1),
                jmp(JLT, R1, 10, -2),
                mov(R0, 0),
                exit(),
            ],
        ),
        accept(
            "bounded loop with a bounded variable trip count",
            Ty::Raw(8),
            vec![
                alu(And, R2, 15),
                mov(R1, 0),
                alu(Add, R1, 1),
                jmpr(JLT, R1, R2, -2),
                mov(R0, 0),
                exit(),
            ],
        ),
        reject(
            "loop that never ends exhausts the budget",
            Xdp,
            vec![
                mov(R1, 0),
                alu(Add, R1, 1),
                jmp(JNE, R1, 0, -2),
                mov(R0, 0),
                exit(),
            ],
            "BPF program is too large. Processed 20001 insn",
        )
        .limit(20_000),
        accept(
            "loop counting down",
            Xdp,
            vec![
                mov(R1, 20),
                alu(Sub, R1, 1),
                jmp(JNE, R1, 0, -2),
                mov(R0, 0),
                exit(),
            ],
        ),
        accept(
            "nested bounded loops",
            Xdp,
            vec![
                mov(R1, 0),
                mov(R2, 0),
                alu(Add, R2, 1),
                jmp(JLT, R2, 4, -2),
                alu(Add, R1, 1),
                jmp(JLT, R1, 4, -5),
                mov(R0, 0),
                exit(),
            ],
        ),
        accept(
            "diamond of branches is pruned",
            Ty::Raw(8),
            vec![
                mov(R0, 0),
                jmp(JEQ, R2, 0, 1),
                mov(R3, 1),
                jmp(JEQ, R2, 1, 1),
                mov(R3, 2),
                jmp(JEQ, R2, 2, 1),
                mov(R3, 3),
                exit(),
            ],
        ),
    ]
}

#[test]
fn cfg_table() {
    check_table(&cases());
}

/// Number of cases in this table.
pub(super) fn count() -> usize {
    cases().len()
}
