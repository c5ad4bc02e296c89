//! Random `bpf_loop` programs against the kernel: a callback that reads, updates and
//! returns values through the caller's stack context, and a caller that uses the context
//! after the loop. The verdict must never be more permissive than the kernel's; where it
//! is stricter (no precision tracking) the count is reported.

use super::asm::*;
use super::cases_feat::with_callback;
use super::kernel_oracle::kernel_verdict;
use super::*;
use crate::testgen::Rng;

/// One random program.
fn callback_program(rng: &mut Rng) -> Vec<Insn> {
    let k = rng.pick(&[0, 1, 5]);
    let mut pre = vec![st(DW, R10, -8, k)];
    if rng.chance(1, 2) {
        pre.push(st(DW, R10, -16, 0));
    }
    pre.push(mov(R1, rng.pick(&[1, 3, 8])));
    let ctx = match rng.below(4) {
        0 => vec![mov(R3, 0)],
        1 => vec![movr(R3, R10), alu(Add, R3, -16)],
        _ => vec![movr(R3, R10), alu(Add, R3, -8)],
    };
    let post = match rng.below(4) {
        0 => ret(0),
        1 => vec![ldx(DW, R0, R10, -8), alu(And, R0, 1), exit()],
        // The context value as a (masked) index into the caller's stack.
        2 => vec![
            ldx(DW, R0, R10, -8),
            alu(And, R0, 7),
            movr(R1, R10),
            alu(Add, R1, -16),
            alur(Add, R1, R0),
            ldx(B, R0, R1, 0),
            exit(),
        ],
        _ => vec![alu(And, R0, 3), exit()],
    };
    let mut body = Vec::new();
    for _ in 0..rng.below(3) + 1 {
        let off = rng.pick(&[0i16, 0, -8, 8]);
        body.push(match rng.below(6) {
            0 | 1 => ldx(DW, R3, R2, off),
            2 => alur(Add, R3, R1),
            3 => stx(DW, R2, off, R3),
            4 => st(DW, R2, off, rng.pick(&[0, 2, 7])),
            _ => alu(Add, R3, 1),
        });
    }
    body.push(match rng.below(6) {
        0 => mov(R0, 0),
        1 => mov(R0, 1),
        2 => mov(R0, 2),
        3 => movr(R0, R3),
        _ => mov(R0, 0),
    });
    if rng.chance(1, 3) {
        body.push(alu(And, R0, 1));
    }
    body.push(exit());
    with_callback(pre, ctx, 181, post, body)
}

#[test]
fn random_callbacks_agree_with_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let (mut same, mut stricter, mut looser) = (0, Vec::new(), Vec::new());
    let mut kernel_accepts = 0;
    let n = n_programs(600);
    for seed in 0..n {
        let mut rng = Rng::new(seed);
        let c = accept("callback", Ty::Xdp, callback_program(&mut rng));
        let ours = run(&c, 1);
        let Some((kernel_ok, klog)) = kernel_verdict(&c) else {
            continue;
        };
        kernel_accepts += u64::from(kernel_ok);
        match (ours.is_ok(), kernel_ok) {
            (a, b) if a == b => same += 1,
            (false, true) => stricter.push(seed),
            _ => looser.push(format!(
                "seed {seed}:\n{}\nkernel:\n{klog}",
                ours.map(|v| v.log).unwrap_or_default()
            )),
        }
    }
    eprintln!(
        "random callbacks: {same} of {n} agree with the kernel ({kernel_accepts} accepted by it), {} stricter, {} looser",
        stricter.len(),
        looser.len()
    );
    assert!(
        looser.is_empty(),
        "accepted what the kernel rejects:\n{}",
        looser[..looser.len().min(2)].join("\n")
    );
    assert!(
        same * 10 >= n * 9,
        "only {same} of {n} agree; stricter: {stricter:?}"
    );
}
