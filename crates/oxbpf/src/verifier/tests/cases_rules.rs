//! Rules that were thin in the table: helpers allowed per program type and licence,
//! return ranges, stack across call chains, frame depth, unreachable code and `lddw`
//! halves, packet metadata, read-only map values.

use super::asm::*;
use super::maps::*;
use super::*;

/// `probe_read_kernel(fp-8, 8, 0)`, return 0.
fn probe_read() -> Vec<Insn> {
    cat(&[
        vec![
            movr(R1, R10),
            alu(Add, R1, -8),
            mov(R2, 8),
            mov(R3, 0),
            call(113),
        ],
        ret(0),
    ])
}

/// A chain of `n` functions, each calling the next; the last returns 0.
fn call_chain(n: usize) -> Vec<Insn> {
    let mut p = Vec::new();
    for _ in 0..n - 1 {
        p.extend([callf(1), exit()]);
    }
    p.extend(ret(0));
    p
}

/// `st fp-depth`, then `rest`.
fn touch(depth: i16, rest: Vec<Insn>) -> Vec<Insn> {
    cat(&[vec![st(DW, R10, -depth, 0)], rest])
}

pub(super) fn cases() -> Vec<Case> {
    let mut v = helpers_and_returns();
    v.extend(stack_and_frames());
    v.extend(meta_and_rodata());
    v
}

fn helpers_and_returns() -> Vec<Case> {
    use Ty::{Named, Xdp};
    let cgroup = Named("cgroup_skb");
    vec![
        reject(
            "helper: probe_read not in XDP",
            Xdp,
            cat(&[
                vec![
                    movr(R1, R10),
                    alu(Add, R1, -8),
                    mov(R2, 8),
                    mov(R3, 0),
                    call(4),
                ],
                ret(0),
            ]),
            "program of this type cannot use helper bpf_probe_read#4",
        )
        .registry(),
        accept(
            "helper: probe_read_kernel in kprobe",
            Named("kprobe"),
            probe_read(),
        )
        .registry(),
        reject(
            "helper: get_func_ip not in a socket filter",
            Named("socket_filter"),
            cat(&[vec![call(173)], ret(0)]),
            "program of this type cannot use helper bpf_get_func_ip#173",
        )
        .registry(),
        accept(
            "helper: ktime_get_ns in a socket filter",
            Named("socket_filter"),
            cat(&[vec![call(5)], ret(0)]),
        )
        .registry(),
        reject(
            "helper: GPL-only probe_read_kernel from a non-GPL kprobe",
            Named("kprobe"),
            probe_read(),
            "cannot call GPL-restricted function from non-GPL compatible program",
        )
        .registry()
        .nongpl(),
        reject(
            "helper: GPL-only trace_printk from a non-GPL socket filter",
            Named("socket_filter"),
            cat(&[
                vec![
                    st(DW, R10, -8, 0x0a_6968),
                    movr(R1, R10),
                    alu(Add, R1, -8),
                    mov(R2, 8),
                    call(6),
                ],
                ret(0),
            ]),
            "cannot call GPL-restricted function from non-GPL compatible program",
        )
        .registry()
        .nongpl(),
        accept(
            "helper: get_prandom_u32 from a non-GPL XDP program",
            Xdp,
            cat(&[vec![call(7)], ret(0)]),
        )
        .registry()
        .nongpl(),
        accept(
            "helper: map lookup from a non-GPL tracepoint",
            Named("tracepoint"),
            cat(&[lookup(0), ret(0)]),
        )
        .maps(&[HASH8])
        .registry()
        .nongpl(),
        accept("return: cgroup_skb returns 1", cgroup, ret(1)),
        reject(
            "return: cgroup_skb returns 2",
            cgroup,
            ret(2),
            "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]",
        ),
        reject(
            "return: cgroup_skb returns a pointer",
            cgroup,
            vec![movr(R0, R1), exit()],
            "At program exit the register R0 is not a known value (ctx)",
        ),
        reject(
            "return: cgroup_skb returns an unbounded number",
            cgroup,
            vec![call(7), exit()],
            "At program exit the register R0 has",
        ),
        accept(
            "return: cgroup_skb result masked to one bit",
            cgroup,
            vec![call(7), alu(And, R0, 1), exit()],
        ),
        reject(
            "return: cgroup_skb returns -1",
            cgroup,
            ret(-1),
            "At program exit the register R0 has smin=-1 smax=-1 should have been in [0, 1]",
        ),
        accept(
            "return: a socket filter may return any number",
            Named("socket_filter"),
            vec![call(7), exit()],
        ),
    ]
}

fn stack_and_frames() -> Vec<Case> {
    use Ty::Xdp;
    vec![
        reject(
            "stack: 256 and 320 bytes over two calls",
            Xdp,
            cat(&[touch(256, vec![callf(1), exit()]), touch(320, ret(0))]),
            "combined stack size of 2 calls is 576. Too large",
        ),
        accept(
            "stack: 256 and 256 bytes over two calls",
            Xdp,
            cat(&[touch(256, vec![callf(1), exit()]), touch(256, ret(0))]),
        ),
        reject(
            "stack: three frames of 192 bytes",
            Xdp,
            cat(&[
                touch(192, vec![callf(1), exit()]),
                touch(192, vec![callf(1), exit()]),
                touch(192, ret(0)),
            ]),
            "combined stack size of 3 calls is 576. Too large",
        ),
        accept(
            "stack: siblings each within the limit",
            Xdp,
            cat(&[
                touch(256, vec![callf(2), callf(4), exit()]),
                touch(256, ret(0)),
                touch(256, ret(0)),
            ]),
        ),
        reject(
            "stack: a callback's frame counts",
            Xdp,
            cat(&[
                touch(
                    256,
                    vec![
                        mov(R1, 1),
                        Insn::LdImm64 {
                            dst: R2,
                            pseudo: crate::isa::LdPseudo::Func,
                            imm: 6,
                            imm2: 0,
                        },
                        mov(R3, 0),
                        mov(R4, 0),
                        call(181),
                    ],
                ),
                ret(0),
                touch(320, ret(0)),
            ]),
            "combined stack size of 2 calls is 576. Too large",
        ),
        accept("calls: 8 frames deep", Xdp, call_chain(8)),
        reject(
            "calls: 9 frames deep",
            Xdp,
            call_chain(9),
            "the call stack of 9 frames is too deep",
        ),
        reject(
            "unreachable: code after a subprogram's exit",
            Xdp,
            vec![callf(1), exit(), mov(R0, 0), exit(), mov(R0, 1), exit()],
            "unreachable insn 4",
        ),
        reject(
            "unreachable: branch over dead code into the exit",
            Xdp,
            vec![mov(R0, 0), ja(2), mov(R0, 1), mov(R0, 2), exit()],
            "unreachable insn 2",
        ),
        reject(
            "lddw: backward jump into its second half",
            Xdp,
            vec![ld64(R0, 1), jmp(JEQ, R0, 0, -2), exit()],
            "jump into the middle of ldimm64 insn 0",
        ),
    ]
}

fn meta_and_rodata() -> Vec<Case> {
    use Ty::{Named, Xdp};
    // r2 = data_meta, r3 = data; r4 = meta + 4
    let meta_xdp = vec![
        ldx(W, R2, R1, 8),
        ldx(W, R3, R1, 0),
        movr(R4, R2),
        alu(Add, R4, 4),
    ];
    vec![
        accept(
            "packet meta: write after a check against data",
            Xdp,
            cat(&[
                meta_xdp.clone(),
                vec![jmpr(JGT, R4, R3, 1), st(W, R2, 0, 7)],
                ret(2),
            ]),
        ),
        reject(
            "packet meta: a check against data_end proves nothing",
            Xdp,
            cat(&[
                meta_xdp.clone(),
                vec![ldx(W, R3, R1, 4), jmpr(JGT, R4, R3, 1), ldx(W, R0, R2, 0)],
                ret(2),
            ]),
            "invalid access to packet",
        ),
        reject(
            "packet meta: past the checked range",
            Xdp,
            cat(&[
                meta_xdp,
                vec![jmpr(JGT, R4, R3, 1), ldx(W, R0, R2, 4)],
                ret(2),
            ]),
            "invalid access to packet",
        ),
        accept(
            "packet meta: sched_cls reads it after a check",
            Named("sched_cls"),
            cat(&[
                vec![
                    ldx(W, R2, R1, 140),
                    ldx(W, R3, R1, 76),
                    movr(R4, R2),
                    alu(Add, R4, 4),
                    jmpr(JGT, R4, R3, 1),
                    ldx(W, R0, R2, 0),
                ],
                ret(0),
            ]),
        ),
        reject(
            "packet meta: not in a socket filter",
            Named("socket_filter"),
            cat(&[vec![ldx(W, R2, R1, 140)], ret(0)]),
            "invalid bpf_context access off=140 size=4",
        ),
        reject(
            "rodata: atomic add into a read-only value",
            Xdp,
            cat(&[
                vec![
                    ldmapval(R1, 0, 0),
                    mov(R2, 1),
                    atomic(DW, Atomic::Add, false, R1, 0, R2),
                ],
                ret(0),
            ]),
            "write into map forbidden, value_size=8 off=0 size=8",
        )
        .maps(&[RDONLY8]),
        reject(
            "rodata: store through a looked-up value",
            Xdp,
            cat(&[lookup(0), vec![jmp(JEQ, R0, 0, 1), st(W, R0, 4, 1)], ret(0)]),
            "write into map forbidden, value_size=8 off=4 size=4",
        )
        .maps(&[RDONLY8]),
        accept(
            "rodata: read through the direct value address",
            Xdp,
            cat(&[vec![ldmapval(R1, 0, 4), ldx(W, R0, R1, 0)], ret(0)]),
        )
        .maps(&[RDONLY8]),
        reject(
            "rodata: helper writes into a read-only value",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 4), movr(R2, R0), ldmap(R1, 1), call(88)],
                ret(0),
            ]),
            "write into map forbidden",
        )
        .maps(&[RDONLY8, QUEUE8]),
    ]
}

#[test]
fn rules_table() {
    check_table(&cases());
}
