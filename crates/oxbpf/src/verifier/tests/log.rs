//! The log, the summary line, statistics and per-instruction facts.

use super::asm::*;
use super::*;
use crate::verifier::MemKind;

#[test]
fn summary_line_matches_the_kernel() {
    let c = accept("", Ty::Xdp, ret(2));
    let v = run(&c, 1).expect("accepted");
    assert_eq!(
        v.log,
        "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n"
    );
    assert_eq!(v.stats.insns_processed, 2);
    let v = run(&c, 0).expect("accepted");
    assert!(v.log.is_empty());
}

#[test]
fn rejection_log_names_insn_register_and_hint() {
    let c = reject(
        "",
        Ty::Xdp,
        cat(&[lookup(0), vec![ldx(DW, R1, R0, 0)], ret(0)]),
        "R0 invalid mem access 'map_value_or_null'",
    )
    .maps(&[maps::HASH8]);
    let e = run(&c, 1).unwrap_err();
    assert_eq!(e.insn, 6, "slot of the load after the 2-slot lddw");
    assert!(e.log.contains("6: r1 = *(u64 *)(r0 + 0)\n"), "{}", e.log);
    assert!(
        e.log
            .contains("R0 type=map_value_or_null R0=map_value_or_null(id=1,map=0,ks=8,vs=8)"),
        "{}",
        e.log
    );
    assert!(e.log.contains("Compare the pointer with 0"), "{}", e.log);
    assert!(e.log.contains("\nprocessed 6 insns"), "{}", e.log);
    // The path trace shows the initial state and each instruction's result.
    assert!(e.log.starts_with("0: R1=ctx() R10=fp0\n"), "{}", e.log);
    assert!(e.log.contains("; R2=fp-8"), "{}", e.log);
    assert!(e.to_string().starts_with("insn 6: R0 invalid mem access"));
}

#[test]
fn level1_keeps_only_the_failing_path() {
    // The first explored path (fall-through) is fine; the jump target fails.
    let c = reject(
        "",
        Ty::Raw(8),
        vec![
            jmp(JEQ, R2, 0, 2),
            mov(R0, 0),
            exit(),
            ldx(DW, R0, R2, 0),
            exit(),
        ],
        "R2 invalid mem access 'scalar'",
    );
    let e = run(&c, 1).unwrap_err();
    assert!(
        e.log
            .starts_with("\nfrom 0 to 3: R1=mem(sz=8) R2=0 R10=fp0\n"),
        "{}",
        e.log
    );
    let e2 = run(&c, 2).unwrap_err();
    assert!(
        e2.log.contains("2: exit") && e2.log.contains("from 0 to 3"),
        "{}",
        e2.log
    );
}

#[test]
fn scalar_notation_in_the_log() {
    let c = accept(
        "",
        Ty::Raw(8),
        vec![alu(And, R2, 0xff), movr(R0, R2), exit()],
    );
    let v = run(&c, 2).expect("accepted");
    assert!(
        v.log
            .contains("R2=scalar(smax=umax=0xff,var_off=(0x0; 0xff))"),
        "{}",
        v.log
    );
}

#[test]
fn facts_record_memory_kinds_and_divisors() {
    let c = accept(
        "",
        Ty::Raw(16),
        vec![
            ldx(DW, R3, R1, 0),
            st(DW, R10, -8, 0),
            mov(R0, 10),
            alur(Div, R0, R2),
            alur(Mod, R3, R0),
            exit(),
        ],
    );
    let v = run(&c, 0).expect("accepted");
    assert_eq!(v.facts[0].mem, Some(MemKind::Mem));
    assert_eq!(v.facts[1].mem, Some(MemKind::Stack));
    assert!(v.facts[3].divisor_may_be_zero);
    assert!(v.facts[5].visited);
    assert_eq!(v.stack_depth, vec![8]);
}

#[test]
fn pruning_bounds_the_work() {
    // 20 independent diamonds: 2^20 paths without pruning.
    let mut insns = vec![mov(R0, 0)];
    for _ in 0..20 {
        // r6 differs between the edges but is never read again: dead, so the join prunes.
        insns.extend([call(7), jmp(JEQ, R0, 0, 1), mov(R6, 1)]);
    }
    insns.push(exit());
    let c = accept("", Ty::Raw(8), insns);
    let v = run(&c, 1).expect("accepted");
    assert!(v.stats.insns_processed < 2000, "{:?}", v.stats);
    assert!(
        v.stats.total_states > 0 && v.stats.pruned > 0,
        "{:?}",
        v.stats
    );
    assert!(v
        .log
        .starts_with(&format!("processed {} insns", v.stats.insns_processed)));
}

#[test]
fn loop_verification_cost() {
    // A 1000-iteration loop: every iteration is explored (no widening), as in the kernel.
    let c = accept(
        "",
        Ty::Xdp,
        vec![
            mov(R1, 0),
            alu(Add, R1, 1),
            jmp(JLT, R1, 1000, -2),
            mov(R0, 0),
            exit(),
        ],
    );
    let v = run(&c, 0).expect("accepted");
    assert!(
        v.stats.insns_processed >= 2000 && v.stats.insns_processed < 5000,
        "{:?}",
        v.stats
    );
}

#[test]
fn total_case_count() {
    // Keep the table honest about its size.
    let n = super::cases_alu::count()
        + super::cases_calls::count()
        + super::cases_cfg::count()
        + super::cases_helpers::count()
        + super::cases_mem::count()
        + super::cases_pkt::count()
        + super::cases_precision::count();
    assert!(n >= 150, "{n} cases");
}

/// A loop of 32,767 iterations with a variable bound: every iteration is explored, and
/// checkpoints that keep missing are evicted so the live states stay few.
#[test]
fn long_loop_keeps_few_live_states() {
    let c = accept(
        "",
        Ty::Xdp,
        vec![
            ldx(W, R2, R1, 12),
            alu(And, R2, 0x7fff),
            mov(R3, 0),
            alu(Add, R3, 1),
            movr(R4, R3),
            alu(And, R4, 0xff),
            movr(R5, R10),
            alu(Add, R5, -256),
            alur(Add, R5, R4),
            st(B, R5, 0, 1),
            jmpr(JLT, R3, R2, -8),
            mov(R0, 2),
            exit(),
        ],
    );
    let v = run(&c, 0).expect("accepted");
    assert_eq!(v.stats.insns_processed, 327_673);
    assert_eq!(v.stats.total_states, 32_767);
    assert!(v.stats.peak_states <= 70, "{:?}", v.stats);
}

#[test]
fn precise_scalars_have_a_p_prefix() {
    use crate::verifier::scalar::Scalar;
    use crate::verifier::state::RegState;
    let mut r = RegState::scalar(Scalar::constant(8));
    assert_eq!(r.display(&[]).to_string(), "8");
    r.precise = true;
    assert_eq!(r.display(&[]).to_string(), "P8");
    let mut u = RegState::unknown();
    u.precise = true;
    u.id = 3;
    assert_eq!(u.display(&[]).to_string(), "Pscalar(id=3)");
}
