//! Helper calls: prototypes, argument checks, map compatibility, ring buffer references.

use super::asm::*;
use super::maps::*;
use super::*;

/// r0 = ringbuf_reserve(map 0, size, 0).
fn reserve(size: i32) -> Vec<Insn> {
    vec![ldmap(R1, 0), mov(R2, size), mov(R3, 0), call(131)]
}

pub(super) fn cases() -> Vec<Case> {
    use Ty::{Ranged, Xdp};
    let printk = |size: Vec<Insn>| {
        cat(&[
            vec![
                ld64(R1, 0x000a_6968),
                stx(DW, R10, -8, R1),
                movr(R1, R10),
                alu(Add, R1, -8),
            ],
            size,
            vec![call(6)],
            ret(0),
        ])
    };
    vec![
        accept(
            "map update with key and value on the stack",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    st(DW, R10, -16, 0),
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                ],
                vec![movr(R3, R10), alu(Add, R3, -16), mov(R4, 0), call(2)],
                ret(0),
            ]),
        )
        .maps(&[HASH8]),
        accept(
            "map delete",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                    call(3),
                ],
                ret(0),
            ]),
        )
        .maps(&[HASH8]),
        reject(
            "map key runs off the stack",
            Xdp,
            cat(&[
                vec![ldmap(R1, 0), movr(R2, R10), alu(Add, R2, -4), call(1)],
                ret(0),
            ]),
            "invalid read from stack R2 off=-4 size=8",
        )
        .maps(&[HASH8]),
        reject(
            "map key is a number",
            Xdp,
            cat(&[vec![ldmap(R1, 0), mov(R2, 0), call(1)], ret(0)]),
            "R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem",
        )
        .maps(&[HASH8]),
        reject(
            "map argument is not a map",
            Xdp,
            cat(&[
                vec![mov(R1, 0), movr(R2, R10), alu(Add, R2, -8), call(1)],
                ret(0),
            ]),
            "R1 type=scalar expected=map_ptr",
        ),
        reject(
            "map key register not set",
            Xdp,
            cat(&[vec![ldmap(R1, 0), call(1)], ret(0)]),
            "R2 !read_ok",
        )
        .maps(&[HASH8]),
        accept(
            "map key in a map value",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 4), movr(R2, R0), ldmap(R1, 0), call(1)],
                ret(0),
            ]),
        )
        .maps(&[HASH8]),
        reject(
            "map value argument too small",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                ],
                vec![movr(R3, R10), alu(Add, R3, -4), mov(R4, 0), call(2)],
                ret(0),
            ]),
            "invalid read from stack R3 off=-4 size=48",
        )
        .maps(&[ARRAY48]),
        reject(
            "unknown helper id",
            Xdp,
            cat(&[vec![call(9999)], ret(0)]),
            "invalid func unknown#9999",
        ),
        reject(
            "helper without a prototype",
            Xdp,
            cat(&[vec![call(9)], ret(0)]),
            "program of this type cannot use helper bpf_skb_store_bytes#9",
        ),
        reject(
            "helper not allowed for the program type",
            Ranged,
            cat(&[vec![call(5)], ret(0)]),
            "program of this type cannot use helper bpf_ktime_get_ns#5",
        ),
        reject(
            "GPL-only helper from a non-GPL program",
            Xdp,
            printk(vec![mov(R2, 8)]),
            "cannot call GPL-restricted function from non-GPL compatible program",
        )
        .nongpl(),
        accept(
            "trace_printk with a stack buffer",
            Xdp,
            printk(vec![mov(R2, 8)]),
        ),
        reject(
            "trace_printk of zero bytes",
            Xdp,
            printk(vec![mov(R2, 0)]),
            "invalid zero-sized read",
        ),
        reject(
            "trace_printk with a negative size",
            Xdp,
            printk(vec![movr(R6, R1), call(7), movr(R2, R0), movr(R1, R6)]),
            "R2 min value is negative, either use unsigned or 'var &= const'",
        ),
        reject(
            "trace_printk with a size that may be zero",
            Xdp,
            printk(vec![movr(R6, R1), call(7), mov32r(R2, R0), movr(R1, R6)]),
            "R2 invalid zero-sized read: u64=[0,4294967295]",
        ),
        reject(
            "trace_printk with an unbounded size",
            Xdp,
            printk(vec![
                movr(R6, R1),
                call(7),
                mov32r(R2, R0),
                alu(Or, R2, 1),
                movr(R1, R6),
            ]),
            "R2 unbounded memory access, use 'var &= const' or 'if (var < const)'",
        ),
        reject(
            "trace_printk size beyond the buffer",
            Xdp,
            printk(vec![mov(R2, 16)]),
            "invalid read from stack R1 off=-8 size=16",
        ),
        accept(
            "trace_printk with a bounded variable size",
            Xdp,
            printk(vec![
                movr(R6, R1),
                call(7),
                alu(And, R0, 7),
                alu(Add, R0, 1),
                movr(R2, R0),
                movr(R1, R6),
            ]),
        ),
        reject(
            "helpers clobber r1-r5",
            Xdp,
            vec![call(7), movr(R0, R1), exit()],
            "R1 !read_ok",
        ),
        accept(
            "helpers keep r6-r9",
            Xdp,
            vec![mov(R6, 1), call(7), movr(R0, R6), exit()],
        ),
        reject(
            "lookup on a ring buffer",
            Xdp,
            cat(&[lookup(0), ret(0)]),
            "invalid zero-sized read",
        )
        .maps(&[RINGBUF]),
        accept(
            "ring buffer reserve and submit",
            Xdp,
            cat(&[
                reserve(8),
                vec![
                    jmp(JNE, R0, 0, 2),
                    mov(R0, 0),
                    exit(),
                    st(DW, R0, 0, 7),
                    movr(R1, R0),
                    mov(R2, 0),
                    call(132),
                ],
                ret(0),
            ]),
        )
        .maps(&[RINGBUF]),
        accept(
            "ring buffer reserve and discard",
            Xdp,
            cat(&[
                reserve(8),
                vec![jmp(JEQ, R0, 0, 3), movr(R1, R0), mov(R2, 0), call(133)],
                ret(0),
            ]),
        )
        .maps(&[RINGBUF]),
        reject(
            "ring buffer record leaked",
            Xdp,
            cat(&[
                reserve(8),
                vec![jmp(JEQ, R0, 0, 1), st(DW, R0, 0, 7)],
                ret(0),
            ]),
            "Unreleased reference id=",
        )
        .maps(&[RINGBUF]),
        reject(
            "ring buffer record used without a null check",
            Xdp,
            cat(&[reserve(8), vec![st(DW, R0, 0, 7)], ret(0)]),
            "R0 invalid mem access 'ringbuf_mem_or_null'",
        )
        .maps(&[RINGBUF]),
        reject(
            "ring buffer record out of bounds",
            Xdp,
            cat(&[
                reserve(8),
                vec![
                    jmp(JEQ, R0, 0, 4),
                    st(DW, R0, 8, 7),
                    movr(R1, R0),
                    mov(R2, 0),
                    call(132),
                ],
                ret(0),
            ]),
            "invalid access to memory, mem_size=8 off=8 size=8",
        )
        .maps(&[RINGBUF]),
        reject(
            "ring buffer reserve of a variable size",
            Xdp,
            cat(&[
                vec![call(7), movr(R2, R0), ldmap(R1, 0), mov(R3, 0), call(131)],
                ret(0),
            ]),
            "R2 is not a known constant'",
        )
        .maps(&[RINGBUF]),
        reject(
            "submit something that is not a record",
            Xdp,
            cat(&[vec![movr(R1, R10), mov(R2, 0), call(132)], ret(0)]),
            "R1 type=fp expected=ringbuf_mem",
        ),
        reject(
            "submit a moved record pointer",
            Xdp,
            cat(&[
                reserve(8),
                vec![
                    jmp(JEQ, R0, 0, 4),
                    alu(Add, R0, 1),
                    movr(R1, R0),
                    mov(R2, 0),
                    call(132),
                ],
                ret(0),
            ]),
            "R1 must have zero offset when passed to release func",
        )
        .maps(&[RINGBUF]),
        reject(
            "record used after submit",
            Xdp,
            cat(&[
                reserve(8),
                vec![
                    jmp(JEQ, R0, 0, 5),
                    movr(R6, R0),
                    movr(R1, R0),
                    mov(R2, 0),
                    call(132),
                    st(DW, R6, 0, 1),
                ],
                ret(0),
            ]),
            "R6 invalid mem access 'scalar'",
        )
        .maps(&[RINGBUF]),
        accept(
            "ringbuf_output from the stack",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                    mov(R3, 8),
                    mov(R4, 0),
                    call(130),
                ],
                vec![exit()],
            ]),
        )
        .maps(&[RINGBUF]),
        reject(
            "ringbuf_output to a hash map",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                    mov(R3, 8),
                    mov(R4, 0),
                    call(130),
                ],
                vec![exit()],
            ]),
            "cannot pass map_type 1 into func bpf_ringbuf_output#130",
        )
        .maps(&[HASH8]),
        accept(
            "queue push",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                    mov(R3, 0),
                    call(87),
                ],
                ret(0),
            ]),
        )
        .maps(&[QUEUE8]),
        accept(
            "queue pop into uninitialised stack",
            Xdp,
            cat(&[
                vec![
                    ldmap(R1, 0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                    call(88),
                    ldx(DW, R0, R10, -8),
                ],
                vec![exit()],
            ]),
        )
        .maps(&[QUEUE8]),
        reject(
            "lookup on a queue",
            Xdp,
            cat(&[lookup(0), ret(0)]),
            "invalid zero-sized read",
        )
        .maps(&[QUEUE8]),
        accept(
            "tail call",
            Xdp,
            cat(&[vec![ldmap(R2, 0), mov(R3, 0), call(12)], ret(2)]),
        )
        .maps(&[PROG_ARRAY]),
        reject(
            "tail call through a hash map",
            Xdp,
            cat(&[vec![ldmap(R2, 0), mov(R3, 0), call(12)], ret(2)]),
            "expected prog array map for tail call",
        )
        .maps(&[HASH8]),
        reject(
            "lookup in a program array",
            Xdp,
            cat(&[lookup(0), ret(0)]),
            "cannot pass map_type 3 into func bpf_map_lookup_elem#1",
        )
        .maps(&[PROG_ARRAY]),
        accept(
            "xdp_adjust_head with ctx",
            Xdp,
            cat(&[vec![mov(R2, 0), call(44)], ret(2)]),
        ),
        reject(
            "xdp_adjust_head needs ctx",
            Xdp,
            cat(&[vec![movr(R1, R10), mov(R2, 0), call(44)], ret(2)]),
            "R1 type=fp expected=ctx",
        ),
        reject(
            "xdp_adjust_head with a moved ctx",
            Xdp,
            cat(&[vec![alu(Add, R1, 8), mov(R2, 0), call(44)], ret(2)]),
            "dereference of modified ctx ptr R1 off=8 disallowed",
        ),
        accept(
            "probe_read_kernel writes uninitialised stack",
            Xdp,
            cat(&[
                vec![
                    movr(R1, R10),
                    alu(Add, R1, -16),
                    mov(R2, 16),
                    mov(R3, 0),
                    call(113),
                    ldx(DW, R0, R10, -16),
                ],
                vec![exit()],
            ]),
        ),
        reject(
            "probe_read_kernel into ctx",
            Xdp,
            cat(&[vec![mov(R2, 4), mov(R3, 0), call(113)], ret(0)]),
            "R1 type=ctx expected=fp, pkt, pkt_meta, map_key, map_value, mem",
        ),
    ]
}

#[test]
fn helpers_table() {
    check_table(&cases());
}

/// Number of cases in this table.
pub(super) fn count() -> usize {
    cases().len()
}
