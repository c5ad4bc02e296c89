//! The interpreter against the running kernel on random programs (`testgen`): same `r0`,
//! same memory. Skips loudly when bpf(2) is unavailable.
#![cfg(target_os = "linux")]

use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::kernel::{self, run_program_with_mem};
use oxbpf::testgen::{locate, random_program, to_bytes, GenConfig, Rng, RESULT_BYTES};
use oxbpf::vm::RunContext;

#[test]
fn interpreter_matches_kernel_on_random_programs() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let helpers = Registry::standard();
    let mut ctx = RunContext::new();
    let mut rng = Rng::new(0x0bf_1e7e);
    let short = GenConfig::default();
    let long = GenConfig {
        body_len: 300,
        ..GenConfig::default()
    };
    // 1500 short programs, then 300 long ones.
    for n in 0..1800 {
        let prog = random_program(&mut rng, if n < 1500 { &short } else { &long });
        let bytes = to_bytes(&prog);
        let want = run_program_with_mem(&bytes, &[0u8; RESULT_BYTES])
            .unwrap_or_else(|e| panic!("program {n}: kernel rejected a generated program: {e}"));
        let mut vm = Interpreter::new(&locate(&prog), &helpers)
            .unwrap_or_else(|e| panic!("program {n}: {e}"));
        for mode in [Mode::Checked, Mode::Unchecked] {
            // SAFETY: the kernel verifier accepted this program with the same memory size,
            // so every access it makes is valid.
            unsafe { vm.set_mode(mode) };
            let mut mem = [0u8; RESULT_BYTES];
            let r0 = vm
                .run_with_mem(&mut ctx, &mut mem)
                .unwrap_or_else(|e| panic!("program {n} ({mode:?}): {e}"));
            assert_eq!(r0, want.r0, "program {n} ({mode:?}): r0");
            assert_eq!(
                &mem[..],
                &want.mem_after[..],
                "program {n} ({mode:?}): registers"
            );
        }
    }
}
