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
        // Pruning must not let a safe state stand for an unsafe one (the first path explored
        // is the fall-through, whose state is stored at the join).
        reject(
            "pruning: a wider range is not included",
            Xdp,
            vec![
                ldx(W, R2, R1, 12),
                mov(R6, 8),
                jmp(JEQ, R2, 0, 1),
                ja(1),
                mov(R6, 300),
                movr(R3, R10),
                alu(Add, R3, -256),
                alur(Add, R3, R6),
                st(B, R3, 0, 0),
                mov(R0, 0),
                exit(),
            ],
            "invalid write to stack R3 off=44 size=1",
        ),
        reject(
            "pruning: a shorter packet range is not included",
            Xdp,
            vec![
                ldx(W, R2, R1, 0),
                ldx(W, R3, R1, 4),
                movr(R4, R2),
                alu(Add, R4, 8),
                ldx(W, R5, R1, 12),
                jmp(JEQ, R5, 0, 1),
                alu(Add, R4, -4),
                mov(R0, 2),
                jmpr(JGT, R4, R3, 1),
                ldx(DW, R0, R2, 0),
                mov(R0, 2),
                exit(),
            ],
            "invalid access to packet, off=0 size=8, R2(id=0,off=0,r=4)",
        ),
        reject(
            "pruning: a spilled pointer is not a number",
            Xdp,
            vec![
                ldx(W, R2, R1, 12),
                st(DW, R10, -8, 0),
                jmp(JEQ, R2, 0, 1),
                stx(DW, R10, -8, R10),
                ldx(DW, R3, R10, -8),
                alu(And, R3, 8),
                mov(R0, 0),
                exit(),
            ],
            "R3 bitwise operator &= on pointer prohibited",
        ),
        reject(
            "pruning: an unchecked map value is not a checked one",
            Xdp,
            vec![
                st(DW, R10, -8, 0),
                movr(R2, R10),
                alu(Add, R2, -8),
                ldmap(R1, 0),
                call(1),
                movr(R6, R0),
                jmp(JEQ, R6, 0, 4),
                call(7),
                jmp(JEQ, R0, 0, 1),
                ja(1),
                ja(0),
                ldx(DW, R0, R6, 0),
                exit(),
            ],
            "R6 invalid mem access 'scalar'",
        )
        .maps(&[super::maps::HASH8]),
        reject(
            "pruning: an uninitialised register is not an initialised one",
            Xdp,
            vec![
                ldx(W, R2, R1, 12),
                mov(R0, 0),
                jmp(JEQ, R2, 0, 1),
                mov(R7, 1),
                movr(R0, R7),
                exit(),
            ],
            "R7 !read_ok",
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
