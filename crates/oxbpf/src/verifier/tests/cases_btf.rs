//! What BTF `func_info` changes (kernel `check_btf_func` / `check_abnormal_return`,
//! `check_ld_imm`): without it, legacy packet loads and tail calls only in the main
//! program and no callbacks; with it (every subprogram a static `int` function), both
//! are allowed in subprograms.

use super::asm::*;
use super::cases_feat::with_callback;
use super::*;

/// Main calls a subprogram that sets `r6` = ctx and returns the byte at 12.
fn ld_abs_in_subprog() -> Vec<Insn> {
    vec![
        callf(1),
        exit(),
        movr(R6, R1),
        Insn::LdAbs { size: B, imm: 12 },
        exit(),
    ]
}

/// Main calls a subprogram that tail-calls slot 0 of map 0, then returns 1.
fn tail_call_in_subprog() -> Vec<Insn> {
    vec![
        callf(1),
        exit(),
        ldmap(R2, 0),
        mov(R3, 0),
        call(12),
        mov(R0, 1),
        exit(),
    ]
}

/// The tail-calling subprogram entered with `depth` bytes of main-program stack.
fn tail_call_below(depth: i16) -> Vec<Insn> {
    cat(&[vec![st(DW, R10, -depth, 0)], tail_call_in_subprog()])
}

/// `bpf_loop(4, callback, NULL, 0)`; the callback returns 0.
fn loop_callback() -> Vec<Insn> {
    with_callback(vec![mov(R1, 4)], vec![mov(R3, 0)], 181, ret(0), ret(0))
}

pub(super) fn cases() -> Vec<Case> {
    use Ty::{Named, Xdp};
    let sock = Named("socket_filter");
    vec![
        reject(
            "func_info: LD_ABS in a subprogram without BTF",
            sock,
            ld_abs_in_subprog(),
            "LD_ABS is not allowed in subprogs without BTF",
        )
        .func_info(false),
        accept(
            "func_info: LD_ABS in a subprogram with BTF",
            sock,
            ld_abs_in_subprog(),
        )
        .func_info(true),
        accept(
            "func_info: LD_ABS in the main program without BTF",
            sock,
            vec![movr(R6, R1), Insn::LdAbs { size: H, imm: 12 }, exit()],
        )
        .func_info(false),
        reject(
            "func_info: tail call in a subprogram without BTF",
            Xdp,
            tail_call_in_subprog(),
            "tail_call is not allowed in subprogs without BTF",
        )
        .maps(&[maps::PROG_ARRAY])
        .func_info(false),
        accept(
            "func_info: tail call in a subprogram with BTF",
            Xdp,
            tail_call_in_subprog(),
        )
        .maps(&[maps::PROG_ARRAY])
        .func_info(true),
        accept(
            "func_info: tail call under 240 bytes of caller stack",
            Xdp,
            tail_call_below(240),
        )
        .maps(&[maps::PROG_ARRAY])
        .func_info(true),
        reject(
            "func_info: tail call under 256 bytes of caller stack",
            Xdp,
            tail_call_below(256),
            "tail_calls are not allowed when call stack of previous frames is 256 bytes. Too large",
        )
        .maps(&[maps::PROG_ARRAY])
        .func_info(true),
        reject(
            "func_info: callback without BTF",
            Xdp,
            loop_callback(),
            "missing btf func_info",
        )
        .func_info(false),
        accept("func_info: callback with BTF", Xdp, loop_callback()).func_info(true),
        accept(
            "func_info: plain subprogram calls either way",
            Xdp,
            vec![callf(1), exit(), mov(R0, 2), exit()],
        )
        .func_info(false),
    ]
}

#[test]
fn func_info_table() {
    check_table(&cases());
}
