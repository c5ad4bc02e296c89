//! Memory: stack (bounds, alignment, spill/fill, uninitialised reads), context, raw
//! memory, map values.

use super::asm::*;
use super::maps::*;
use super::*;

pub(super) fn cases() -> Vec<Case> {
    use Ty::{Ranged, Raw, Xdp};
    let null_check = |then: Vec<Insn>| cat(&[vec![jmp(JNE, R0, 0, 2), mov(R0, 0), exit()], then]);
    vec![
        // Stack bounds and alignment.
        reject(
            "stack write above the frame",
            Xdp,
            cat(&[vec![st(DW, R10, 8, 0)], ret(0)]),
            "invalid write to stack R10 off=8 size=8",
        ),
        reject(
            "stack write below 512",
            Xdp,
            cat(&[vec![st(DW, R10, -520, 0)], ret(0)]),
            "invalid write to stack R10 off=-520 size=8",
        ),
        reject(
            "stack read at the frame pointer",
            Xdp,
            vec![ldx(DW, R0, R10, 0), exit()],
            "invalid read from stack R10 off=0 size=8",
        ),
        accept(
            "stack write at -512",
            Xdp,
            cat(&[vec![st(DW, R10, -512, 0)], ret(0)]),
        ),
        reject(
            "misaligned stack write",
            Xdp,
            cat(&[vec![st(W, R10, -6, 0)], ret(0)]),
            "misaligned stack access off 0+0+-6 size 4",
        ),
        reject(
            "misaligned through an offset pointer",
            Xdp,
            cat(&[
                vec![movr(R2, R10), alu(Add, R2, -3), stx(H, R2, 0, R1)],
                ret(0),
            ]),
            "misaligned stack access off 0+-3+0 size 2",
        ),
        accept(
            "uninitialised stack read is allowed for root",
            Xdp,
            vec![ldx(DW, R0, R10, -8), exit()],
        ),
        accept(
            "uninitialised narrow stack read",
            Xdp,
            vec![ldx(B, R0, R10, -1), exit()],
        ),
        // Spill and fill.
        accept(
            "spill and fill keep a pointer",
            Xdp,
            vec![
                stx(DW, R10, -8, R1),
                ldx(DW, R2, R10, -8),
                ldx(W, R0, R2, 12),
                exit(),
            ],
        ),
        accept(
            "spill and fill keep a constant",
            Xdp,
            cat(&[
                vec![
                    mov(R1, 8),
                    stx(DW, R10, -8, R1),
                    ldx(DW, R2, R10, -8),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R2),
                    st(DW, R3, -8, 0),
                ],
                ret(0),
            ]),
        ),
        accept(
            "st of an immediate spills a constant",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 16),
                    ldx(DW, R2, R10, -8),
                    movr(R3, R10),
                    alu(Add, R3, -32),
                    alur(Add, R3, R2),
                    st(DW, R3, 0, 0),
                ],
                ret(0),
            ]),
        ),
        reject(
            "narrow fill of a spilled pointer",
            Xdp,
            vec![stx(DW, R10, -8, R1), ldx(W, R0, R10, -8), exit()],
            "invalid size of register fill",
        ),
        reject(
            "narrow spill of a pointer",
            Xdp,
            cat(&[vec![stx(W, R10, -8, R1)], ret(0)]),
            "invalid size of register spill",
        ),
        reject(
            "partly overwritten spill is data",
            Xdp,
            vec![
                stx(DW, R10, -8, R1),
                st(W, R10, -8, 0),
                ldx(DW, R2, R10, -8),
                ldx(W, R0, R2, 0),
                exit(),
            ],
            "R2 invalid mem access 'scalar'",
        ),
        accept(
            "zeroed stack bytes read as zero",
            Xdp,
            cat(&[
                vec![
                    st(W, R10, -8, 0),
                    ldx(W, R2, R10, -8),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R2),
                    st(DW, R3, -8, 0),
                ],
                ret(0),
            ]),
        ),
        reject(
            "written stack bytes read as unknown",
            Xdp,
            cat(&[
                vec![
                    ldx(W, R4, R1, 12),
                    stx(W, R10, -8, R4),
                    ldx(W, R2, R10, -8),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R2),
                    st(DW, R3, -8, 0),
                ],
                ret(0),
            ]),
            "misaligned stack access off (0x0; 0xffffffff)+-16+-8 size 8",
        ),
        accept(
            "narrow read of a spilled constant",
            Xdp,
            cat(&[
                vec![
                    ld64(R1, 0x0000_0008_0000_0000),
                    stx(DW, R10, -8, R1),
                    ldx(W, R2, R10, -4),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R2),
                    st(DW, R3, 0, 0),
                ],
                ret(0),
            ]),
        ),
        // Narrow spills (a scalar written at the start of a slot keeps its bounds).
        accept(
            "narrow spill keeps bounds",
            Xdp,
            cat(&[
                vec![
                    ldx(W, R2, R1, 12),
                    jmp(JGT, R2, 8, 6),
                    stx(W, R10, -8, R2),
                    ldx(W, R3, R10, -8),
                ],
                vec![
                    movr(R4, R10),
                    alu(Add, R4, -16),
                    alur(Add, R4, R3),
                    st(B, R4, 0, 0),
                ],
                ret(0),
            ]),
        ),
        accept(
            "narrow store of an immediate is a constant",
            Xdp,
            cat(&[
                vec![
                    st(W, R10, -8, 8),
                    ldx(W, R2, R10, -8),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R2),
                ],
                vec![st(DW, R3, 0, 0)],
                ret(0),
            ]),
        ),
        reject(
            "narrow store inside a slot is data",
            Xdp,
            cat(&[
                vec![
                    st(W, R10, -4, 8),
                    ldx(W, R2, R10, -4),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R2),
                ],
                vec![st(DW, R3, 0, 0)],
                ret(0),
            ]),
            "misaligned stack access off (0x0; 0xffffffff)+-16+0 size 8",
        ),
        accept(
            "narrow fill of a full spill keeps the low bytes",
            Xdp,
            cat(&[
                vec![
                    ldx(W, R2, R1, 12),
                    alu(And, R2, 7),
                    stx(DW, R10, -8, R2),
                    ldx(W, R3, R10, -8),
                ],
                vec![
                    movr(R4, R10),
                    alu(Add, R4, -16),
                    alur(Add, R4, R3),
                    st(B, R4, 0, 0),
                ],
                ret(0),
            ]),
        ),
        accept(
            "narrow spill of a wide value is truncated",
            Xdp,
            cat(&[
                vec![
                    ld64(R2, 0x1_0000_0008),
                    stx(W, R10, -8, R2),
                    ldx(W, R3, R10, -8),
                    movr(R4, R10),
                ],
                vec![alu(Add, R4, -16), alur(Add, R4, R3), st(DW, R4, 0, 0)],
                ret(0),
            ]),
        ),
        reject(
            "bytes after a narrow spill are unknown",
            Xdp,
            cat(&[
                vec![
                    ld64(R2, 8),
                    stx(W, R10, -8, R2),
                    ldx(DW, R3, R10, -8),
                    movr(R4, R10),
                ],
                vec![alu(Add, R4, -16), alur(Add, R4, R3), st(DW, R4, 0, 0)],
                ret(0),
            ]),
            "math between fp pointer and register with unbounded min value is not allowed",
        ),
        // Variable stack offsets.
        accept(
            "bounded variable stack write",
            Xdp,
            cat(&[
                vec![
                    call(7),
                    alu(And, R0, 7),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R0),
                    st(B, R3, 0, 1),
                ],
                ret(0),
            ]),
        ),
        reject(
            "variable stack write reaching the frame",
            Xdp,
            cat(&[
                vec![
                    call(7),
                    alu(And, R0, 0xffff),
                    movr(R3, R10),
                    alu(Add, R3, -8),
                    alur(Add, R3, R0),
                    st(B, R3, 0, 1),
                ],
                ret(0),
            ]),
            "invalid variable-offset write to stack R3 var_off=(0x0; 0xffff) off=-8 size=1",
        ),
        reject(
            "misaligned variable stack write",
            Xdp,
            cat(&[
                vec![
                    call(7),
                    alu(And, R0, 7),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    alur(Add, R3, R0),
                    st(DW, R3, 0, 1),
                ],
                ret(0),
            ]),
            "misaligned stack access off (0x0; 0x7)+-16+0 size 8",
        ),
        accept(
            "bounded variable stack read",
            Xdp,
            vec![
                call(7),
                alu(And, R0, 8),
                movr(R3, R10),
                alu(Add, R3, -16),
                alur(Add, R3, R0),
                ldx(DW, R0, R3, 0),
                exit(),
            ],
        ),
        // Context.
        accept(
            "xdp reads ingress_ifindex",
            Xdp,
            vec![ldx(W, R0, R1, 12), exit()],
        ),
        reject(
            "xdp ctx is read-only",
            Xdp,
            cat(&[vec![st(W, R1, 12, 0)], ret(0)]),
            "invalid bpf_context access off=12 size=4",
        ),
        reject(
            "xdp 8-byte ctx read",
            Xdp,
            vec![ldx(DW, R0, R1, 0), exit()],
            "invalid bpf_context access off=0 size=8",
        ),
        reject(
            "xdp read past ctx",
            Xdp,
            vec![ldx(W, R0, R1, 24), exit()],
            "invalid bpf_context access off=24 size=4",
        ),
        reject(
            "xdp misaligned ctx read",
            Xdp,
            vec![ldx(H, R0, R1, 2), exit()],
            "invalid bpf_context access off=2 size=2",
        ),
        reject(
            "modified ctx pointer",
            Xdp,
            vec![alu(Add, R1, 4), ldx(W, R0, R1, 0), exit()],
            "dereference of modified ctx ptr R1 off=4 disallowed",
        ),
        reject(
            "variable ctx access",
            Xdp,
            vec![
                ldx(W, R2, R1, 12),
                alu(And, R2, 4),
                alur(Add, R1, R2),
                ldx(W, R0, R1, 0),
                exit(),
            ],
            "variable ctx access var_off=(0x0; 0x4) disallowed",
        ),
        reject(
            "dereference a number",
            Xdp,
            vec![mov(R2, 0), ldx(W, R0, R2, 0), exit()],
            "R2 invalid mem access 'scalar'",
        ),
        reject(
            "dereference a map handle",
            Xdp,
            vec![ldmap(R2, 0), ldx(W, R0, R2, 0), exit()],
            "R2 invalid mem access 'map_ptr'",
        )
        .maps(&[HASH8]),
        accept(
            "writable ctx field",
            Ranged,
            cat(&[vec![st(W, R1, 0, 5)], ret(0)]),
        ),
        reject(
            "read-only ctx field",
            Ranged,
            cat(&[vec![st(W, R1, 4, 5)], ret(0)]),
            "invalid bpf_context access off=4 size=4",
        ),
        // Raw memory (oxbpf run).
        accept(
            "raw memory read in bounds",
            Raw(64),
            vec![ldx(DW, R0, R1, 56), exit()],
        ),
        reject(
            "raw memory read past the end",
            Raw(64),
            vec![ldx(DW, R0, R1, 60), exit()],
            "invalid access to memory, mem_size=64 off=60 size=8",
        ),
        reject(
            "raw memory negative offset",
            Raw(64),
            vec![ldx(B, R0, R1, -1), exit()],
            "invalid access to memory, mem_size=64 off=-1 size=1",
        ),
        reject(
            "raw memory index too big",
            Raw(64),
            vec![
                alu(And, R2, 0x78),
                alur(Add, R1, R2),
                ldx(DW, R0, R1, 0),
                exit(),
            ],
            "R1 max value is outside of the allowed memory range",
        ),
        reject(
            "raw memory unbounded index",
            Raw(64),
            vec![alur(Add, R1, R2), ldx(DW, R0, R1, 0), exit()],
            "math between mem pointer and register with unbounded min value is not allowed",
        ),
        reject(
            "raw memory possibly negative index",
            Raw(256),
            vec![
                alu(And, R2, 0xff),
                alu(Sub, R2, 8),
                jmp(JSGT, R2, 56, 2),
                alur(Add, R1, R2),
                ldx(B, R0, R1, 0),
                exit(),
            ],
            "R1 min value is negative, either use unsigned index or do a if (index >=0) check.",
        ),
        accept(
            "raw memory write",
            Raw(16),
            cat(&[vec![st(DW, R1, 8, 1)], ret(0)]),
        ),
        accept(
            "raw memory length register is a number",
            Raw(16),
            vec![movr(R0, R2), exit()],
        ),
        // Map values.
        reject(
            "map value without null check",
            Xdp,
            cat(&[lookup(0), vec![ldx(DW, R1, R0, 0)], ret(0)]),
            "R0 invalid mem access 'map_value_or_null'",
        )
        .maps(&[HASH8]),
        accept(
            "map value after null check",
            Xdp,
            cat(&[lookup(0), null_check(vec![ldx(DW, R1, R0, 0)]), ret(0)]),
        )
        .maps(&[HASH8]),
        accept(
            "null check with jeq",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 1), st(DW, R0, 0, 1)],
                ret(0),
            ]),
        )
        .maps(&[HASH8]),
        reject(
            "null branch holds zero",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JNE, R0, 0, 1), st(DW, R0, 0, 1)],
                ret(0),
            ]),
            "R0 invalid mem access 'scalar'",
        )
        .maps(&[HASH8]),
        accept(
            "null check of a copy covers the original",
            Xdp,
            cat(&[
                lookup(0),
                vec![movr(R6, R0), jmp(JEQ, R6, 0, 1), st(DW, R0, 0, 1)],
                ret(0),
            ]),
        )
        .maps(&[HASH8]),
        reject(
            "map value read past the end",
            Xdp,
            cat(&[lookup(0), null_check(vec![ldx(DW, R1, R0, 8)]), ret(0)]),
            "invalid access to map value, value_size=8 off=8 size=8",
        )
        .maps(&[HASH8]),
        reject(
            "map value negative offset",
            Xdp,
            cat(&[lookup(0), null_check(vec![ldx(W, R1, R0, -4)]), ret(0)]),
            "invalid access to map value, value_size=8 off=-4 size=4",
        )
        .maps(&[HASH8]),
        accept(
            "map value bounded variable offset",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![
                    movr(R6, R0),
                    call(7),
                    alu(And, R0, 0x28),
                    alur(Add, R6, R0),
                    ldx(DW, R1, R6, 0),
                ]),
                ret(0),
            ]),
        )
        .maps(&[ARRAY48]),
        reject(
            "map value variable offset too large",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![
                    movr(R6, R0),
                    call(7),
                    alu(And, R0, 0x30),
                    alur(Add, R6, R0),
                    ldx(DW, R1, R6, 0),
                ]),
                ret(0),
            ]),
            "R6 max value is outside of the allowed memory range",
        )
        .maps(&[ARRAY48]),
        reject(
            "map value unbounded index",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![
                    ldx(W, R1, R0, 0),
                    alur(Add, R0, R1),
                    ldx(B, R1, R0, 0),
                ]),
                ret(0),
            ]),
            "R0 unbounded memory access, make sure to bounds check any such access",
        )
        .maps(&[ARRAY48]),
        accept(
            "map value index bounded by a jump",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![
                    ldx(W, R1, R0, 0),
                    jmp(JGT, R1, 5, 3),
                    alu(Lsh, R1, 3),
                    alur(Add, R0, R1),
                    ldx(DW, R1, R0, 0),
                ]),
                ret(0),
            ]),
        )
        .maps(&[ARRAY48]),
        reject(
            "map value index with only a signed upper bound",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![
                    ldx(DW, R1, R0, 0),
                    jmp(JSGT, R1, 5, 2),
                    alur(Add, R0, R1),
                    ldx(B, R1, R0, 0),
                ]),
                ret(0),
            ]),
            "math between map_value pointer and register with unbounded min value is not allowed",
        )
        .maps(&[ARRAY48]),
        accept(
            "map value index with signed bounds",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![
                    ldx(DW, R1, R0, 0),
                    jmp(JSGT, R1, 5, 3),
                    jmp(JSLT, R1, 0, 2),
                    alur(Add, R0, R1),
                    ldx(B, R1, R0, 0),
                ]),
                ret(0),
            ]),
        )
        .maps(&[ARRAY48]),
        reject(
            "write into a read-only map",
            Xdp,
            cat(&[lookup(0), null_check(vec![st(DW, R0, 0, 1)]), ret(0)]),
            "write into map forbidden, value_size=8 off=0 size=8",
        )
        .maps(&[RDONLY8]),
        accept(
            "read from a read-only map",
            Xdp,
            cat(&[lookup(0), null_check(vec![ldx(DW, R1, R0, 0)]), ret(0)]),
        )
        .maps(&[RDONLY8]),
        accept(
            "map value pointer may be stored in a map (root)",
            Xdp,
            cat(&[lookup(0), null_check(vec![stx(DW, R0, 0, R0)]), ret(0)]),
        )
        .maps(&[HASH8]),
        accept(
            "direct map value address",
            Xdp,
            cat(&[vec![ldmapval(R1, 0, 4), ldx(W, R0, R1, 0)], vec![exit()]]),
        )
        .maps(&[ARRAY48]),
        reject(
            "direct map value address past the value",
            Xdp,
            cat(&[vec![ldmapval(R1, 0, 48)], ret(0)]),
            "invalid access to map value pointer, value_size=48 off=48",
        )
        .maps(&[ARRAY48]),
        reject(
            "direct value address of a hash map",
            Xdp,
            cat(&[vec![ldmapval(R1, 0, 0)], ret(0)]),
            "no direct value access support for this map type",
        )
        .maps(&[HASH8]),
        reject(
            "map index out of range",
            Xdp,
            cat(&[vec![ldmap(R1, 5)], ret(0)]),
            "fd 5 is not pointing to valid bpf_map",
        )
        .maps(&[HASH8]),
        // Atomics.
        accept(
            "atomic add on the stack",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    mov(R1, 1),
                    atomic(DW, Atomic::Add, false, R10, -8, R1),
                ],
                ret(0),
            ]),
        ),
        accept(
            "atomic fetch-add returns a number",
            Xdp,
            vec![
                st(DW, R10, -8, 0),
                mov(R1, 1),
                atomic(DW, Atomic::Add, true, R10, -8, R1),
                movr(R0, R1),
                exit(),
            ],
        ),
        reject(
            "atomic on ctx",
            Xdp,
            cat(&[
                vec![mov(R2, 1), atomic(W, Atomic::Add, false, R1, 0, R2)],
                ret(0),
            ]),
            "BPF_ATOMIC stores into R1 ctx is not allowed",
        ),
        reject(
            "cmpxchg needs r0",
            Xdp,
            cat(&[
                vec![mov(R2, 1), atomic(DW, Atomic::Cmpxchg, true, R10, -8, R2)],
                ret(0),
            ]),
            "R0 !read_ok",
        ),
        accept(
            "atomic xchg on a map value",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![mov(R1, 3), atomic(DW, Atomic::Xchg, true, R0, 0, R1)]),
                ret(0),
            ]),
        )
        .maps(&[HASH8]),
        reject(
            "atomic out of map value bounds",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![mov(R1, 3), atomic(W, Atomic::Or, false, R0, 6, R1)]),
                ret(0),
            ]),
            "misaligned value access off 0+0+6 size 4",
        )
        .maps(&[HASH8]),
        reject(
            "atomic past the map value",
            Xdp,
            cat(&[
                lookup(0),
                null_check(vec![mov(R1, 3), atomic(W, Atomic::Or, false, R0, 8, R1)]),
                ret(0),
            ]),
            "invalid access to map value, value_size=8 off=8 size=4",
        )
        .maps(&[HASH8]),
    ]
}

#[test]
fn mem_table() {
    check_table(&cases());
}

/// Number of cases in this table.
pub(super) fn count() -> usize {
    cases().len()
}
