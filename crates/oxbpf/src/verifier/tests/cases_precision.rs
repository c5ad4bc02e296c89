//! Precision tracking: programs where two paths reach a join with different scalars, the
//! first explored path is safe and the second is not. Pruning the second path against
//! the first's checkpoint is only sound if the scalar that decided the first path's safety
//! was marked precise there. The kernel rejects every `reject` case (the oracle checks it).

use super::asm::*;
use super::*;

/// `r6` = an unknown `u32` from the context; two paths (`fall` explored first, then
/// `taken`) that meet at the instruction after this block. The fall path is padded so
/// the join gets a checkpoint (at least 2 jumps and 8 instructions since the last one,
/// the kernel's heuristic).
fn diverge(fall: &[Insn], taken: &[Insn]) -> Vec<Insn> {
    let pad = 8;
    let mut p = vec![
        ldx(W, R6, R1, 12),
        jmp(JGT, R6, 10, (fall.len() + pad + 1) as i16),
    ];
    p.extend_from_slice(fall);
    p.extend(std::iter::repeat_n(mov(R0, 0), pad));
    p.push(ja(taken.len() as i16));
    p.extend_from_slice(taken);
    p
}

pub(super) fn cases() -> Vec<Case> {
    use Ty::Xdp;
    let stack_off = |fall: i32, taken: i32| {
        cat(&[
            diverge(&[mov(R7, fall)], &[mov(R7, taken)]),
            vec![movr(R2, R10), alur(Add, R2, R7), st(DW, R2, 0, 0)],
            ret(2),
        ])
    };
    let spilled_off = |fall: i32, taken: i32| {
        cat(&[
            diverge(
                &[mov(R7, fall), stx(DW, R10, -16, R7)],
                &[mov(R7, taken), stx(DW, R10, -16, R7)],
            ),
            vec![
                mov(R7, 0),
                ldx(DW, R8, R10, -16),
                movr(R2, R10),
                alur(Add, R2, R8),
                st(DW, R2, 0, 0),
            ],
            ret(2),
        ])
    };
    let map_off = |fall: i32, taken: i32| {
        cat(&[
            diverge(&[mov(R7, fall)], &[mov(R7, taken)]),
            lookup(0),
            vec![jmp(JEQ, R0, 0, 2), alur(Add, R0, R7), ldx(DW, R1, R0, 0)],
            ret(2),
        ])
    };
    let decided = |fall: i32, taken: i32| {
        cat(&[
            diverge(&[mov(R7, fall)], &[mov(R7, taken)]),
            // Decided on the fall path; on the other the read past the frame runs.
            vec![jmp(JEQ, R7, 0, 1), ldx(DW, R0, R10, 8)],
            ret(2),
        ])
    };
    // Linked copies: `if r6 > 10` bounds r7 only while r7 is still a copy of r6.
    let linked = |unlink: bool| {
        let taken = if unlink {
            vec![ldx(W, R6, R1, 12)]
        } else {
            vec![mov(R0, 0)]
        };
        cat(&[
            vec![ldx(W, R8, R1, 16), ldx(W, R6, R1, 12), movr(R7, R6)],
            vec![jmp(JNE, R8, 0, 10)],
            std::iter::repeat_n(mov(R0, 0), 9).collect(),
            vec![ja(taken.len() as i16)],
            taken,
            vec![
                jmp(JGT, R6, 10, 4),
                movr(R2, R10),
                alu(Add, R2, -16),
                alur(Add, R2, R7),
                st(B, R2, 0, 0),
            ],
            ret(2),
        ])
    };
    // A loop counter used as a stack offset: every iteration's value matters.
    let counter_off = |bound: i32| {
        vec![
            mov(R6, 0),
            movr(R2, R10),
            alu(Add, R2, -64),
            alur(Add, R2, R6),
            st(B, R2, 0, 0),
            alu(Add, R6, 1),
            jmp(JLT, R6, bound, -6),
            mov(R0, 2),
            exit(),
        ]
    };
    // A loop whose body branches on packet-independent unknowns and accumulates them:
    // the accumulators differ per path but nothing depends on their values.
    let branchy_loop = |bound: i32, acc_base: Option<i32>| {
        let mut p = vec![
            ldx(W, R8, R1, 12),
            mov(R6, 0),
            mov(R7, 0),
            mov(R9, 0),
            // loop:
            movr(R3, R8),
            alur(Rsh, R3, R6),
            alu(And, R3, 1),
            jmp(JEQ, R3, 0, 2),
            alu(Add, R7, 3),
            ja(1),
            alu(Add, R9, 1),
            movr(R2, R10),
            alu(Add, R2, -128),
            alur(Add, R2, R6),
            st(B, R2, 0, 1),
            alu(Add, R6, 1),
            jmp(JLT, R6, bound, -13),
        ];
        if let Some(base) = acc_base {
            // r9 counts zero bits, up to `bound`: now its value matters, and states at
            // the loop head differ by it (the kernel gives up on 64 iterations).
            p.extend([
                movr(R2, R10),
                alu(Add, R2, base),
                alur(Add, R2, R9),
                st(B, R2, 0, 1),
            ]);
        }
        p.extend([mov(R0, 2), exit()]);
        p
    };
    vec![
        accept("join: both stack offsets safe", Xdp, stack_off(-8, -16)),
        reject(
            "join: stack offset unsafe on the second path",
            Xdp,
            stack_off(-8, 0),
            "invalid write to stack R2 off=0 size=8",
        ),
        accept("join: both spilled offsets safe", Xdp, spilled_off(-8, -24)),
        reject(
            "join: spilled stack offset unsafe on the second path",
            Xdp,
            spilled_off(-8, 0),
            "invalid write to stack R2 off=0 size=8",
        ),
        accept("join: both map value offsets safe", Xdp, map_off(40, 32)).maps(&[maps::ARRAY48]),
        reject(
            "join: map value offset unsafe on the second path",
            Xdp,
            map_off(40, 44),
            "invalid access to map value, value_size=48 off=44 size=8",
        )
        .maps(&[maps::ARRAY48]),
        accept(
            "join: branch decided alike on both paths",
            Xdp,
            decided(0, 0),
        ),
        reject(
            "join: branch decided differently on the second path",
            Xdp,
            decided(0, 1),
            "invalid read from stack R10 off=8 size=8",
        ),
        accept(
            "join: linked copy bounded on both paths",
            Xdp,
            linked(false),
        ),
        reject(
            "join: copy no longer linked on the second path",
            Xdp,
            linked(true),
            "variable-offset write to stack R2",
        ),
        accept("loop counter as stack offset", Xdp, counter_off(64)),
        reject(
            "loop counter as stack offset, one iteration too many",
            Xdp,
            counter_off(65),
            "invalid write to stack R2 off=0 size=1",
        ),
        accept("branchy loop body", Xdp, branchy_loop(64, None)),
        accept(
            "branchy loop, accumulator as offset",
            Xdp,
            branchy_loop(8, Some(-9)),
        ),
        reject(
            "branchy loop, accumulator as offset past the frame",
            Xdp,
            branchy_loop(9, Some(-9)),
            "invalid write to stack R2 off=0 size=1",
        ),
    ]
}

#[test]
fn precision_table() {
    check_table(&cases());
}

/// Number of cases in this table.
pub(super) fn count() -> usize {
    cases().len()
}
