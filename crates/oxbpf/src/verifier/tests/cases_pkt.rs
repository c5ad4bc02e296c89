//! Direct packet access: ranges proven by comparisons with `data_end`.

use super::asm::*;
use super::*;

/// r2 = data, r3 = data_end, r4 = data + n.
fn pkt(n: i32) -> Vec<Insn> {
    vec![
        ldx(W, R2, R1, 0),
        ldx(W, R3, R1, 4),
        movr(R4, R2),
        alu(Add, R4, n),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    use Ty::Xdp;
    let xdp_pass = ret(2);
    vec![
        reject(
            "packet read without a check",
            Xdp,
            cat(&[vec![ldx(W, R2, R1, 0), ldx(B, R0, R2, 0)], xdp_pass.clone()]),
            "invalid access to packet, off=0 size=1, R2(id=0,off=0,r=0)",
        ),
        reject(
            "packet read says outside of the packet",
            Xdp,
            cat(&[vec![ldx(W, R2, R1, 0), ldx(B, R0, R2, 0)], xdp_pass.clone()]),
            "R2 offset is outside of the packet",
        ),
        accept(
            "packet read after if (data + 8 > end)",
            Xdp,
            cat(&[
                pkt(8),
                vec![jmpr(JGT, R4, R3, 1), ldx(DW, R0, R2, 0)],
                xdp_pass.clone(),
            ]),
        ),
        reject(
            "packet read past the checked range",
            Xdp,
            cat(&[
                pkt(8),
                vec![jmpr(JGT, R4, R3, 1), ldx(DW, R0, R2, 1)],
                xdp_pass.clone(),
            ]),
            "invalid access to packet, off=1 size=8, R2(id=0,off=1,r=8)",
        ),
        reject(
            "packet read on the failing edge",
            Xdp,
            cat(&[
                pkt(8),
                vec![jmpr(JGT, R4, R3, 2), mov(R0, 2), exit(), ldx(B, R0, R2, 0)],
                xdp_pass.clone(),
            ]),
            "invalid access to packet",
        ),
        accept(
            "packet check with end < ptr",
            Xdp,
            cat(&[
                pkt(8),
                vec![jmpr(JLT, R3, R4, 1), ldx(DW, R0, R2, 0)],
                xdp_pass.clone(),
            ]),
        ),
        accept(
            "packet check with jge",
            Xdp,
            cat(&[
                pkt(4),
                vec![jmpr(JGE, R4, R3, 1), ldx(W, R0, R2, 0)],
                xdp_pass.clone(),
            ]),
        ),
        accept(
            "packet check with jle jumping to the access",
            Xdp,
            cat(&[
                pkt(4),
                vec![jmpr(JLE, R4, R3, 2), mov(R0, 1), exit(), ldx(W, R0, R2, 0)],
                xdp_pass.clone(),
            ]),
        ),
        accept(
            "checked range holds for the advanced pointer",
            Xdp,
            cat(&[
                pkt(8),
                vec![jmpr(JGT, R4, R3, 1), ldx(W, R0, R4, -4)],
                xdp_pass.clone(),
            ]),
        ),
        reject(
            "packet negative offset",
            Xdp,
            cat(&[
                pkt(8),
                vec![jmpr(JGT, R4, R3, 1), ldx(B, R0, R2, -1)],
                xdp_pass.clone(),
            ]),
            "invalid access to packet, off=-1 size=1",
        ),
        accept(
            "packet write after a check",
            Xdp,
            cat(&[
                pkt(2),
                vec![jmpr(JGT, R4, R3, 1), st(H, R2, 0, 0x1234)],
                xdp_pass.clone(),
            ]),
        ),
        reject(
            "variable offset needs a new check",
            Xdp,
            cat(&[
                pkt(8),
                vec![
                    jmpr(JGT, R4, R3, 3),
                    ldx(B, R5, R2, 0),
                    alur(Add, R2, R5),
                    ldx(B, R0, R2, 0),
                ],
                xdp_pass.clone(),
            ]),
            "invalid access to packet, off=0 size=1, R2(id=",
        ),
        accept(
            "variable offset re-checked",
            Xdp,
            cat(&[
                pkt(8),
                vec![
                    jmpr(JGT, R4, R3, 6),
                    ldx(B, R5, R2, 0),
                    alur(Add, R2, R5),
                    movr(R6, R2),
                    alu(Add, R6, 1),
                    jmpr(JGT, R6, R3, 1),
                    ldx(B, R0, R2, 0),
                ],
                xdp_pass.clone(),
            ]),
        ),
        reject(
            "xdp_adjust_head invalidates packet pointers",
            Xdp,
            cat(&[
                pkt(8),
                vec![
                    jmpr(JGT, R4, R3, 5),
                    movr(R7, R2),
                    mov(R2, 0),
                    call(44),
                    ldx(B, R0, R7, 0),
                    mov(R0, 2),
                ],
                xdp_pass.clone(),
            ]),
            "R7 invalid mem access 'scalar'",
        ),
        reject(
            "packet end cannot be read",
            Xdp,
            cat(&[vec![ldx(W, R3, R1, 4), ldx(B, R0, R3, 0)], xdp_pass.clone()]),
            "R3 invalid mem access 'pkt_end'",
        ),
        accept(
            "metadata read after a check against data",
            Xdp,
            cat(&[
                vec![
                    ldx(W, R2, R1, 8),
                    ldx(W, R3, R1, 0),
                    movr(R4, R2),
                    alu(Add, R4, 4),
                    jmpr(JGT, R4, R3, 1),
                    ldx(W, R0, R2, 0),
                ],
                xdp_pass.clone(),
            ]),
        ),
        reject(
            "metadata read without a check",
            Xdp,
            cat(&[vec![ldx(W, R2, R1, 8), ldx(W, R0, R2, 0)], xdp_pass.clone()]),
            "invalid access to packet, off=0 size=4",
        ),
        accept(
            "comparing packet pointers with numbers is allowed for root",
            Xdp,
            cat(&[
                vec![ldx(W, R2, R1, 0), jmp(JEQ, R2, 5, 0)],
                xdp_pass.clone(),
            ]),
        ),
        accept(
            "32-bit packet compare proves nothing but is allowed",
            Xdp,
            cat(&[pkt(8), vec![jmp32r(JGT, R4, R3, 0)], xdp_pass]),
        ),
    ]
}

#[test]
fn pkt_table() {
    check_table(&cases());
}

/// Number of cases in this table.
pub(super) fn count() -> usize {
    cases().len()
}
