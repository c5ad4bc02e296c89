//! Map-in-map lookups, callbacks (`bpf_loop`, `bpf_for_each_map_elem`), legacy packet
//! loads (`BPF_LD_ABS`/`BPF_LD_IND`) and `bpf_spin_lock`.

use super::asm::*;
use super::maps::*;
use super::*;
use crate::isa::{LdPseudo, Reg, Size};

/// Slots an instruction list takes (`lddw` takes two).
fn slots(insns: &[Insn]) -> i32 {
    insns
        .iter()
        .map(|i| {
            if matches!(i, Insn::LdImm64 { .. }) {
                2
            } else {
                1
            }
        })
        .sum()
}

/// `rD = &function`, the function starting `off` slots after the next instruction.
fn ldfunc(d: Reg, off: i32) -> Insn {
    Insn::LdImm64 {
        dst: d,
        pseudo: LdPseudo::Func,
        imm: off,
        imm2: 0,
    }
}

/// `pre`, then `r2 = callback`, `r3 = ctx`, `call helper`, then `post` (which must end
/// the main program), then the callback `body`. `pre` sets `r1` (and whatever `ctx`
/// needs); `ctx` sets `r3`.
pub(super) fn with_callback(
    pre: Vec<Insn>,
    ctx: Vec<Insn>,
    helper: i32,
    post: Vec<Insn>,
    body: Vec<Insn>,
) -> Vec<Insn> {
    let after = cat(&[ctx.clone(), vec![mov(R4, 0), call(helper)], post.clone()]);
    let mut p = pre;
    // The offset counts from the lddw's second slot.
    p.push(ldfunc(R2, slots(&after) + 1));
    p.extend(after);
    p.extend(body);
    p
}

/// `bpf_loop(4, callback, ctx, 0)`, then `post`.
fn bpf_loop(ctx: Vec<Insn>, post: Vec<Insn>, body: Vec<Insn>) -> Vec<Insn> {
    with_callback(vec![mov(R1, 4)], ctx, 181, post, body)
}

/// `bpf_for_each_map_elem(map 0, callback, ctx, 0)`, then exit 0.
fn for_each(ctx: Vec<Insn>, body: Vec<Insn>) -> Vec<Insn> {
    with_callback(vec![ldmap(R1, 0)], ctx, 164, ret(0), body)
}

/// `r3 = fp - 8` with the slot zeroed.
fn stack_ctx() -> Vec<Insn> {
    vec![st(DW, R10, -8, 0), movr(R3, R10), alu(Add, R3, -8)]
}

const OUTER_ARRAY: MapInfo = MapInfo {
    map_type: 12,
    key_size: 4,
    value_size: 4,
    max_entries: 4,
    flags: 0,
};
const OUTER_HASH: MapInfo = MapInfo {
    map_type: 13,
    key_size: 4,
    value_size: 4,
    max_entries: 4,
    flags: 0,
};
const INNER_ARRAY: MapInfo = MapInfo {
    map_type: 2,
    key_size: 4,
    value_size: 8,
    max_entries: 2,
    flags: 0,
};
/// An array whose 8-byte value starts with a `struct bpf_spin_lock`.
const LOCKED: MapInfo = MapInfo {
    map_type: 2,
    key_size: 4,
    value_size: 8,
    max_entries: 1,
    flags: 0,
};

fn outer(inner: MapInfo) -> Vec<MapMeta> {
    vec![MapMeta {
        name: "outer".into(),
        inner: Some(inner),
        ..MapMeta::default()
    }]
}

fn lock_meta(btf: bool, off: Option<u32>) -> Vec<MapMeta> {
    vec![MapMeta {
        name: "locked".into(),
        btf,
        spin_lock_off: off,
        ..MapMeta::default()
    }]
}

/// Looks up map 0's value, `r6` = it (or exit 0 if null).
fn value_in_r6() -> Vec<Insn> {
    cat(&[
        lookup(0),
        vec![jmp(JEQ, R0, 0, 1), ja(2)],
        ret(0),
        vec![movr(R6, R0)],
    ])
}

/// `r0 = lookup(inner map handle in r1, key fp-8)`.
fn inner_lookup() -> Vec<Insn> {
    vec![movr(R2, R10), alu(Add, R2, -8), call(1)]
}

fn ld_abs(size: Size, k: i32) -> Insn {
    Insn::LdAbs { size, imm: k }
}

fn ld_ind(size: Size, src: Reg, k: i32) -> Insn {
    Insn::LdInd { size, src, imm: k }
}

pub(super) fn cases() -> Vec<Case> {
    let mut v = map_in_map();
    v.extend(callbacks());
    v.extend(legacy_loads());
    v.extend(spin_locks());
    v
}

fn map_in_map() -> Vec<Case> {
    use Ty::Xdp;
    let inner_then = |tail: Vec<Insn>| {
        cat(&[
            lookup(0),
            vec![jmp(JEQ, R0, 0, 1), ja(2)],
            ret(0),
            vec![movr(R1, R0)],
            inner_lookup(),
            tail,
        ])
    };
    vec![
        accept(
            "map-in-map: lookup in the inner map",
            Xdp,
            inner_then(cat(&[vec![jmp(JEQ, R0, 0, 1), ldx(DW, R0, R0, 0)], ret(0)])),
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
        reject(
            "map-in-map: inner value read past its size",
            Xdp,
            inner_then(cat(&[vec![jmp(JEQ, R0, 0, 1), ldx(DW, R0, R0, 8)], ret(0)])),
            "invalid access to map value, value_size=8 off=8 size=8",
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
        reject(
            "map-in-map: inner value not null-checked",
            Xdp,
            inner_then(cat(&[vec![ldx(DW, R0, R0, 0)], ret(0)])),
            "R0 invalid mem access 'map_value_or_null'",
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
        reject(
            "map-in-map: result used as a map before the null check",
            Xdp,
            cat(&[lookup(0), vec![movr(R1, R0)], inner_lookup(), ret(0)]),
            "R1 type=map_ptr_or_null expected=map_ptr",
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
        reject(
            "map-in-map: result dereferenced before the null check",
            Xdp,
            cat(&[lookup(0), vec![ldx(W, R0, R0, 0)], ret(0)]),
            "R0 invalid mem access 'map_ptr_or_null'",
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
        reject(
            "map-in-map: arithmetic on the inner map handle",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 2), alu(Add, R0, 8), ja(0)],
                ret(0),
            ]),
            "R0 pointer arithmetic on map_ptr prohibited",
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
        accept(
            "map-in-map: hash of maps, update in the inner hash",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 1), ja(2)],
                ret(0),
                vec![
                    movr(R1, R0),
                    movr(R2, R10),
                    alu(Add, R2, -8),
                    st(DW, R10, -16, 7),
                    movr(R3, R10),
                    alu(Add, R3, -16),
                    mov(R4, 0),
                    call(2),
                ],
                ret(0),
            ]),
        )
        .maps(&[OUTER_HASH])
        .meta(outer(HASH8)),
        reject(
            "map-in-map: inner key larger than the stack left",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 1), ja(2)],
                ret(0),
                vec![movr(R1, R0), movr(R2, R10), alu(Add, R2, -4), call(1)],
                ret(0),
            ]),
            "invalid read from stack R2 off=-4 size=8",
        )
        .maps(&[OUTER_HASH])
        .meta(outer(HASH8)),
        accept(
            "map-in-map: inner handle kept across a helper call",
            Xdp,
            cat(&[
                lookup(0),
                vec![movr(R6, R0), jmp(JEQ, R6, 0, 1), ja(2)],
                ret(0),
                vec![call(7), movr(R1, R6)],
                inner_lookup(),
                ret(0),
            ]),
        )
        .maps(&[OUTER_ARRAY])
        .meta(outer(INNER_ARRAY)),
    ]
}

fn callbacks() -> Vec<Case> {
    use Ty::Xdp;
    vec![
        accept(
            "bpf_loop: trivial callback",
            Xdp,
            bpf_loop(vec![mov(R3, 0)], ret(0), ret(0)),
        ),
        accept(
            "bpf_loop: callback adds to the caller's stack",
            Xdp,
            bpf_loop(
                stack_ctx(),
                cat(&[vec![ldx(DW, R0, R10, -8), alu(And, R0, 1)], vec![exit()]]),
                cat(&[
                    vec![ldx(DW, R3, R2, 0), alur(Add, R3, R1), stx(DW, R2, 0, R3)],
                    ret(0),
                ]),
            ),
        ),
        accept(
            "bpf_loop: callback returns 1 to stop",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), ret(1)),
        ),
        reject(
            "bpf_loop: callback returns 2",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), ret(2)),
            "At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]",
        ),
        reject(
            "bpf_loop: callback returns the index",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), vec![movr(R0, R1), exit()]),
            "At callback return the register R0 has",
        ),
        reject(
            "bpf_loop: callback returns a pointer",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), vec![movr(R0, R2), exit()]),
            "cannot return stack pointer to the caller",
        ),
        reject(
            "bpf_loop: callback returns nothing",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), vec![exit()]),
            "R0 not a scalar value",
        ),
        reject(
            "bpf_loop: callback reads an argument that is not passed",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), vec![movr(R0, R3), exit()]),
            "R3 !read_ok",
        ),
        reject(
            "bpf_loop: callback writes past the caller's stack",
            Xdp,
            bpf_loop(stack_ctx(), ret(0), cat(&[vec![st(DW, R2, 8, 0)], ret(0)])),
            "invalid write to stack",
        ),
        accept(
            "bpf_loop: null context",
            Xdp,
            bpf_loop(vec![mov(R3, 0)], ret(0), ret(0)),
        ),
        reject(
            "bpf_loop: callback dereferences a null context",
            Xdp,
            bpf_loop(
                vec![mov(R3, 0)],
                ret(0),
                cat(&[vec![ldx(DW, R0, R2, 0)], ret(0)]),
            ),
            "R2 invalid mem access 'scalar'",
        ),
        reject(
            "bpf_loop: context is not a stack pointer",
            Xdp,
            bpf_loop(vec![mov(R3, 1)], ret(0), ret(0)),
            "R3 type=scalar expected=fp",
        ),
        reject(
            "bpf_loop: callback pointer moved",
            Xdp,
            with_callback(
                vec![mov(R1, 4)],
                vec![alu(Add, R2, 1), mov(R3, 0)],
                181,
                ret(0),
                vec![mov(R0, 0), mov(R0, 0), exit()],
            ),
            "dereference of modified func ptr R2 off=1 disallowed",
        ),
        reject(
            "bpf_loop: callback is not a function",
            Xdp,
            cat(&[
                vec![mov(R1, 4), mov(R2, 0), mov(R3, 0), mov(R4, 0), call(181)],
                ret(0),
            ]),
            "R2 type=scalar expected=func",
        ),
        reject(
            "bpf_loop: the result is a number",
            Xdp,
            bpf_loop(
                vec![mov(R3, 0)],
                cat(&[vec![ldx(DW, R0, R0, 0)], ret(0)]),
                ret(0),
            ),
            "R0 invalid mem access 'scalar'",
        ),
        reject(
            "bpf_loop: the call clobbers r1-r5",
            Xdp,
            bpf_loop(vec![mov(R3, 0)], vec![movr(R0, R3), exit()], ret(0)),
            "R3 !read_ok",
        ),
        reject(
            "bpf_loop: infinite loop inside the callback",
            Xdp,
            bpf_loop(vec![mov(R3, 0)], ret(0), vec![mov(R0, 0), ja(-1)]),
            "infinite loop detected at insn",
        ),
        accept(
            "bpf_loop: callback with a bounded loop",
            Xdp,
            bpf_loop(
                vec![mov(R3, 0)],
                ret(0),
                vec![mov(R0, 3), alu(Sub, R0, 1), jmp(JNE, R0, 0, -2), exit()],
            ),
        ),
        accept(
            "bpf_loop: callback calls a helper",
            Xdp,
            bpf_loop(vec![mov(R3, 0)], ret(0), cat(&[vec![call(7)], ret(0)])),
        ),
        reject(
            "bpf_loop: callback spills a stack pointer into the caller's stack",
            Xdp,
            bpf_loop(
                stack_ctx(),
                ret(0),
                cat(&[vec![stx(DW, R2, 0, R2)], ret(0)]),
            ),
            "cannot spill pointers to stack into stack frame of the caller",
        ),
        reject(
            "bpf_loop: callback returns a map value",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JEQ, R0, 0, 1), ja(2)],
                ret(0),
                bpf_loop(vec![mov(R3, 0)], ret(0), cat(&[lookup(0), vec![exit()]])),
            ]),
            "R0 not a scalar value",
        )
        .maps(&[HASH8]),
        accept(
            "for_each_map_elem: callback reads key and value",
            Xdp,
            for_each(
                vec![mov(R3, 0)],
                cat(&[vec![ldx(W, R0, R2, 0), ldx(DW, R0, R3, 0)], ret(0)]),
            ),
        )
        .maps(&[INNER_ARRAY]),
        accept(
            "for_each_map_elem: callback writes the value",
            Xdp,
            for_each(vec![mov(R3, 0)], cat(&[vec![st(DW, R3, 0, 1)], ret(0)])),
        )
        .maps(&[HASH8]),
        reject(
            "for_each_map_elem: callback writes the key",
            Xdp,
            for_each(vec![mov(R3, 0)], cat(&[vec![st(W, R2, 0, 1)], ret(0)])),
            "write to change key R2 not allowed",
        )
        .maps(&[INNER_ARRAY]),
        reject(
            "for_each_map_elem: callback reads past the value",
            Xdp,
            for_each(vec![mov(R3, 0)], cat(&[vec![ldx(DW, R0, R3, 8)], ret(0)])),
            "invalid access to map value, value_size=8 off=8 size=8",
        )
        .maps(&[INNER_ARRAY]),
        reject(
            "for_each_map_elem: callback reads past the key",
            Xdp,
            for_each(vec![mov(R3, 0)], cat(&[vec![ldx(DW, R0, R2, 0)], ret(0)])),
            "invalid access to map key, key_size=4 off=0 size=8",
        )
        .maps(&[INNER_ARRAY]),
        reject(
            "for_each_map_elem: a ring buffer cannot be walked",
            Xdp,
            for_each(vec![mov(R3, 0)], ret(0)),
            "callback function not allowed for map",
        )
        .maps(&[RINGBUF]),
        accept(
            "for_each_map_elem: callback updates the caller's counter",
            Xdp,
            for_each(
                stack_ctx(),
                cat(&[
                    vec![ldx(DW, R1, R4, 0), alu(Add, R1, 1), stx(DW, R4, 0, R1)],
                    ret(0),
                ]),
            ),
        )
        .maps(&[HASH8]),
        reject(
            "for_each_map_elem: callback returns 3",
            Xdp,
            for_each(vec![mov(R3, 0)], ret(3)),
            "At callback return the register R0 has smin=3 smax=3 should have been in [0, 1]",
        )
        .maps(&[HASH8]),
    ]
}

fn legacy_loads() -> Vec<Case> {
    use Ty::{Named, Xdp};
    let sock = Named("socket_filter");
    let cls = Named("sched_cls");
    vec![
        accept(
            "ld_abs: byte load in a socket filter",
            sock,
            vec![movr(R6, R1), ld_abs(B, 0), exit()],
        ),
        accept(
            "ld_ind: word load in sched_cls",
            cls,
            vec![movr(R6, R1), mov(R7, 2), ld_ind(W, R7, 0), exit()],
        ),
        accept(
            "ld_abs: the result is a number",
            sock,
            vec![
                movr(R6, R1),
                ld_abs(H, 12),
                alu(Rsh, R0, 4),
                alu(And, R0, 0xff),
                exit(),
            ],
        ),
        reject(
            "ld_abs: not in XDP",
            Xdp,
            vec![movr(R6, R1), ld_abs(B, 0), mov(R0, 2), exit()],
            "BPF_LD_[ABS|IND] instructions not allowed for this program type",
        ),
        reject(
            "ld_abs: not in kprobe",
            Named("kprobe"),
            vec![movr(R6, R1), ld_abs(B, 0), exit()],
            "BPF_LD_[ABS|IND] instructions not allowed for this program type",
        ),
        reject(
            "ld_abs: r6 not set",
            sock,
            vec![ld_abs(B, 0), exit()],
            "R6 !read_ok",
        ),
        reject(
            "ld_abs: r6 is not the context",
            sock,
            vec![mov(R6, 0), ld_abs(B, 0), exit()],
            "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
        ),
        reject(
            "ld_abs: modified context in r6",
            sock,
            vec![movr(R6, R1), alu(Add, R6, 8), ld_abs(B, 0), exit()],
            "dereference of modified ctx ptr R6 off=8 disallowed",
        ),
        reject(
            "ld_abs: clobbers r1-r5",
            sock,
            vec![movr(R6, R1), mov(R2, 1), ld_abs(B, 0), movr(R0, R2), exit()],
            "R2 !read_ok",
        ),
        reject(
            "ld_ind: index register not set",
            sock,
            vec![movr(R6, R1), ld_ind(B, R7, 0), exit()],
            "R7 !read_ok",
        ),
        accept(
            "ld_abs: in a main program that calls a function",
            sock,
            vec![
                movr(R6, R1),
                callf(2),
                ld_abs(B, 0),
                exit(),
                mov(R0, 0),
                exit(),
            ],
        ),
        reject(
            "ld_abs: not in a subprogram",
            sock,
            vec![callf(1), exit(), movr(R6, R1), ld_abs(B, 0), exit()],
            "LD_ABS is not allowed in subprogs without BTF",
        ),
        reject(
            "ld_abs: would leak a ring buffer record",
            sock,
            vec![
                movr(R6, R1),
                ldmap(R1, 0),
                mov(R2, 8),
                mov(R3, 0),
                call(131),
                movr(R7, R0),
                ld_abs(B, 0),
                jmp(JEQ, R7, 0, 3),
                movr(R1, R7),
                mov(R2, 0),
                call(133),
                mov(R0, 0),
                exit(),
            ],
            "BPF_LD_[ABS|IND] would lead to reference leak",
        )
        .maps(&[RINGBUF]),
    ]
}

fn spin_locks() -> Vec<Case> {
    use Ty::{Named, Xdp};
    let lock = |r: Reg| vec![movr(R1, r), call(93)];
    let unlock = |r: Reg| vec![movr(R1, r), call(94)];
    let locked = |body: Vec<Insn>| cat(&[value_in_r6(), body, ret(0)]);
    let with = |c: Case| c.maps(&[LOCKED]).meta(lock_meta(true, Some(0)));
    vec![
        with(accept(
            "spin lock: counter updated under the lock",
            Xdp,
            locked(cat(&[
                lock(R6),
                vec![ldx(W, R1, R6, 4), alu(Add, R1, 1), stx(W, R6, 4, R1)],
                unlock(R6),
            ])),
        )),
        with(reject(
            "spin lock: exit while holding it",
            Xdp,
            locked(lock(R6)),
            "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region",
        )),
        with(reject(
            "spin lock: unlock without taking it",
            Xdp,
            locked(unlock(R6)),
            "bpf_spin_unlock without taking a lock",
        )),
        with(reject(
            "spin lock: taken twice (a call while holding it)",
            Xdp,
            locked(cat(&[lock(R6), lock(R6), unlock(R6)])),
            "function calls are not allowed while holding a lock",
        )),
        with(reject(
            "spin lock: helper call while holding it",
            Xdp,
            locked(cat(&[lock(R6), vec![call(7)], unlock(R6)])),
            "function calls are not allowed while holding a lock",
        )),
        with(reject(
            "spin lock: pointer not at the lock",
            Xdp,
            locked(cat(&[
                vec![movr(R1, R6), alu(Add, R1, 4), call(93)],
                unlock(R6),
            ])),
            "off 4 doesn't point to 'struct bpf_spin_lock' that is at 0",
        )),
        with(reject(
            "spin lock: variable offset",
            Xdp,
            locked(cat(&[
                vec![
                    ldx(W, R2, R6, 4),
                    alu(And, R2, 4),
                    movr(R1, R6),
                    alur(Add, R1, R2),
                    call(93),
                ],
                unlock(R6),
            ])),
            "R1 doesn't have constant offset. bpf_spin_lock has to be at the constant offset",
        )),
        with(reject(
            "spin lock: on a stack pointer",
            Xdp,
            cat(&[
                vec![
                    st(DW, R10, -8, 0),
                    movr(R1, R10),
                    alu(Add, R1, -8),
                    call(93),
                ],
                ret(0),
            ]),
            "R1 type=fp expected=map_value",
        )),
        reject(
            "spin lock: map without BTF",
            Xdp,
            locked(cat(&[lock(R6), unlock(R6)])),
            "has to have BTF in order to use bpf_spin_lock",
        )
        .maps(&[LOCKED])
        .meta(lock_meta(false, None)),
        reject(
            "spin lock: BTF value without a lock",
            Xdp,
            locked(cat(&[lock(R6), unlock(R6)])),
            "has no valid bpf_spin_lock",
        )
        .maps(&[LOCKED])
        .meta(lock_meta(true, None)),
        with(reject(
            "spin lock: unlock of another lookup's lock",
            Xdp,
            cat(&[
                value_in_r6(),
                lookup(0),
                vec![jmp(JEQ, R0, 0, 5), movr(R7, R0)],
                lock(R6),
                unlock(R7),
                ret(0),
            ]),
            "bpf_spin_unlock of different lock",
        )),
        with(accept(
            "spin lock: static call while holding it",
            Xdp,
            cat(&[
                value_in_r6(),
                lock(R6),
                vec![callf(4)],
                unlock(R6),
                ret(0),
                vec![mov(R0, 0), exit()],
            ]),
        )),
        with(reject(
            "spin lock: ld_abs inside the locked region",
            Named("sched_cls"),
            cat(&[
                vec![movr(R9, R1)],
                value_in_r6(),
                lock(R6),
                vec![movr(R7, R6), movr(R6, R9), ld_abs(B, 0)],
                unlock(R7),
                ret(0),
            ]),
            "BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region",
        )),
    ]
}

#[test]
fn feat_table() {
    check_table(&cases());
}
