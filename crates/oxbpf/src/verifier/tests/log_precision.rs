//! The level-2 log's precision output against the running kernel's: the
//! `mark_precise:` backtracking lines (segment headers, one line per instruction walked
//! with the registers and slots still traced, the checkpoint states marked), the
//! `propagating` lines of a prune, and the `P` prefix of precise scalars in the marked
//! states. Instruction and scalar notation differ (ours has no opcode column and
//! prints bounds in its own order), so each line is compared up to the instruction and
//! a state by which registers are precise.

use super::asm::*;
use super::*;
use crate::kernel::{ProgLoad, Program, PROG_TYPE_XDP};

/// r6 = ifindex & 7; two jumps on r7 and some padding (so a checkpoint falls in between);
/// r6 <= 3 returns, otherwise r6 is the size of `probe_read_kernel`: r6 is traced back
/// through the checkpoint, which then prunes the two other paths to insn 7.
fn program() -> Vec<Insn> {
    vec![
        ldx(W, R6, R1, 16),
        alu(And, R6, 7),
        ldx(W, R7, R1, 12),
        jmp(JGT, R7, 10, 1),
        mov(R7, 0),
        jmp(JGT, R7, 20, 1),
        mov(R7, 1),
        mov(R8, 0),
        alu(Add, R8, 1),
        alu(Add, R8, 1),
        jmp(JGT, R6, 3, 2),
        mov(R0, 1),
        exit(),
        st(DW, R10, -8, 0),
        movr(R1, R10),
        alu(Add, R1, -8),
        movr(R2, R6),
        mov(R3, 0),
        call(113),
        mov(R0, 0),
        exit(),
    ]
}

/// The precision lines of a level-2 log, normalised: `before N:` lines cut after the
/// index, `parent state` lines reduced to their masks and the precise registers.
fn precision_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.starts_with("mark_precise: ") || l.contains(": propagating "))
        .map(|l| {
            if let Some(i) = l.find(" before ") {
                let rest = &l[i + 8..];
                let idx = rest.split(':').next().unwrap_or("");
                return format!("{} before {idx}", &l[..i]);
            }
            if let Some(i) = l.find(":  ") {
                let precise: Vec<&str> = l[i + 3..]
                    .split(' ')
                    .filter(|t| t.contains("=P"))
                    .map(|t| t.split('=').next().unwrap_or(""))
                    .collect();
                return format!("{} precise {}", &l[..i], precise.join(","));
            }
            l.trim_end().to_string()
        })
        .collect()
}

#[test]
fn level2_precision_lines_match_the_kernel() {
    let c = accept("level 2", Ty::Xdp, program());
    let ours = run(&c, 2).expect("accepted").log;
    let mine = precision_lines(&ours);
    // Shape checks that need no kernel: a marked checkpoint shows `P`.
    assert!(
        ours.contains("parent state regs=r6 stack=:  R1=ctx() R6=Pscalar("),
        "{ours}"
    );
    assert!(mine.len() > 20, "{ours}");
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let mut bytes = Vec::new();
    for i in &c.insns {
        i.encode_into(&mut bytes);
    }
    let kernel = Program::load(&ProgLoad {
        log_level: 2,
        ..ProgLoad::new(PROG_TYPE_XDP, &bytes)
    })
    .expect("the kernel accepts it")
    .log()
    .to_string();
    assert_eq!(
        mine,
        precision_lines(&kernel),
        "ours:\n{ours}\nkernel:\n{kernel}"
    );
}
