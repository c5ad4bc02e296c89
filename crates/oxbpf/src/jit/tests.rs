//! Targeted JIT cases; the broad interpreter-equivalence suites live in
//! `tests/jit_equivalence.rs`.

use super::*;
use crate::interp::Interpreter;
use crate::isa::{AluOp, CallTarget, Insn, JmpCond, Reg, Size, Src, Width};
use crate::testgen::locate;

fn alu(width: Width, op: AluOp, dst: Reg, src: Src) -> Insn {
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

fn mov(dst: Reg, imm: i32) -> Insn {
    alu(Width::W64, AluOp::Mov, dst, Src::Imm(imm))
}

/// Runs `prog` in the interpreter and the JIT (checked, unchecked, blinded) and asserts the
/// same result and `insn_count`; returns the result.
fn both(prog: &[Insn], helpers: &Registry, packet: Option<&[u8]>) -> Result<u64, RunError> {
    let located = locate(prog);
    let interp = Interpreter::new(&located, helpers).expect("loads");
    let mut ctx = RunContext::new();
    if let Some(p) = packet {
        // SAFETY: `p` outlives every run below.
        unsafe { ctx.set_packet(p.as_ptr(), p.len()) };
    }
    let want = interp.run(&mut ctx, 11, 22);
    let want_count = ctx.insn_count;
    // SAFETY: only used for programs whose accesses are valid (or that fault before any).
    let unchecked = unsafe { JitOptions::new().unchecked() };
    for opts in [
        JitOptions::new(),
        JitOptions::new().blinding(true),
        unchecked,
    ] {
        let jit = JitProgram::compile(&located, helpers, None, opts).expect("compiles");
        let got = jit.run(&mut ctx, 11, 22);
        assert_eq!(got, want, "{opts:?}\n{}", jit.disassemble());
        assert_eq!(ctx.insn_count, want_count, "{opts:?} insn_count");
    }
    want
}

#[test]
fn division_edge_cases_match_the_interpreter() {
    let h = Registry::standard();
    let ops = [AluOp::Div, AluOp::Mod, AluOp::Sdiv, AluOp::Smod];
    let values: [i64; 6] = [0, -1, i64::MIN, i32::MIN as i64, 7, -13];
    let regs = [Reg::R0, Reg::R3, Reg::R6];
    for width in [Width::W64, Width::W32] {
        for op in ops {
            for &a in &values {
                for &b in &values {
                    for &d in &regs {
                        for &s in &regs {
                            let mut p = vec![
                                Insn::ld_imm64(Reg::R0, 0x1111),
                                Insn::ld_imm64(Reg::R3, 0x3333),
                                Insn::ld_imm64(d, a as u64),
                                Insn::ld_imm64(s, b as u64),
                                alu(width, op, d, Src::Reg(s)),
                            ];
                            if let Ok(imm) = i32::try_from(b) {
                                p.push(alu(width, op, Reg::R6, Src::Imm(imm)));
                            }
                            p.extend([
                                alu(Width::W64, AluOp::Xor, Reg::R0, Src::Reg(d)),
                                alu(Width::W64, AluOp::Xor, Reg::R0, Src::Reg(Reg::R3)),
                                alu(Width::W64, AluOp::Add, Reg::R0, Src::Reg(Reg::R6)),
                                Insn::Exit,
                            ]);
                            both(&p, &h, None).expect("runs");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn shifts_mask_and_truncate_like_the_interpreter() {
    let h = Registry::standard();
    for width in [Width::W64, Width::W32] {
        for op in [AluOp::Lsh, AluOp::Rsh, AluOp::Arsh] {
            for count in [0i64, 1, 31, 32, 33, 63, 64, 65, -1] {
                for (d, s) in [(Reg::R0, Reg::R1), (Reg::R4, Reg::R1), (Reg::R0, Reg::R4)] {
                    let p = [
                        Insn::ld_imm64(d, 0xf123_4567_89ab_cdef),
                        Insn::ld_imm64(s, count as u64),
                        alu(width, op, d, Src::Reg(s)),
                        alu(width, op, d, Src::Imm(count as i32)),
                        alu(Width::W64, AluOp::Mov, Reg::R0, Src::Reg(d)),
                        alu(Width::W64, AluOp::Xor, Reg::R0, Src::Reg(s)),
                        Insn::Exit,
                    ];
                    both(&p, &h, None).expect("runs");
                }
            }
        }
    }
}

#[test]
fn runaway_loops_stop_with_the_budget() {
    let h = Registry::standard();
    let p = [mov(Reg::R0, 1), Insn::Ja { off: -2 }, Insn::Exit];
    let located = locate(&p);
    let jit =
        JitProgram::compile(&located, &h, None, JitOptions::new().budget(Some(1001))).unwrap();
    let mut ctx = RunContext::new();
    // Blocks of 2: 500 whole iterations fit, the 501st block does not.
    assert_eq!(
        jit.run(&mut ctx, 0, 0),
        Err(RunError::Budget {
            slot: 0,
            budget: 1001
        })
    );
    assert_eq!(ctx.insn_count, 1000);
    let mut interp = Interpreter::new(&located, &h).unwrap();
    interp.set_budget(Some(1001));
    assert!(matches!(
        interp.run(&mut ctx, 0, 0),
        Err(RunError::Budget { .. })
    ));
}

#[test]
fn unbudgeted_code_does_not_count() {
    let h = Registry::standard();
    let p = [mov(Reg::R0, 3), Insn::Exit];
    let jit = JitProgram::compile(&locate(&p), &h, None, JitOptions::new().budget(None)).unwrap();
    let mut ctx = RunContext::new();
    assert_eq!(jit.run(&mut ctx, 0, 0), Ok(3));
    assert_eq!(ctx.insn_count, 0);
}

#[test]
fn recursion_stops_at_the_frame_limit() {
    let h = Registry::standard();
    // main: call f; exit.  f: r6 += 1; *(u64 *)(r10 - 8) = r6; call f; exit
    let p = [
        Insn::Call(CallTarget::Local(1)),
        Insn::Exit,
        alu(Width::W64, AluOp::Add, Reg::R6, Src::Imm(1)),
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R6,
            off: -8,
        },
        Insn::Call(CallTarget::Local(-3)),
        Insn::Exit,
    ];
    assert_eq!(both(&p, &h, None), Err(RunError::CallDepth { slot: 4 }));
}

#[test]
fn calls_restore_callee_saved_registers_and_frames() {
    let h = Registry::standard();
    // main: r6 = 5; store r6 on the stack; call f; r0 = *(r10-8) + r6 + r0; exit
    // f: r6 = 100; *(r10-8) = r6; r0 = r10; exit  (r0 = the callee's frame pointer)
    let p = [
        mov(Reg::R6, 5),
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R6,
            off: -8,
        },
        Insn::Call(CallTarget::Local(4)),
        Insn::Ldx {
            size: Size::DW,
            dst: Reg::R1,
            src: Reg::R10,
            off: -8,
        },
        alu(Width::W64, AluOp::Add, Reg::R0, Src::Reg(Reg::R1)),
        alu(Width::W64, AluOp::Add, Reg::R0, Src::Reg(Reg::R6)),
        Insn::Exit,
        mov(Reg::R6, 100),
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R6,
            off: -8,
        },
        alu(Width::W64, AluOp::Mov, Reg::R0, Src::Reg(Reg::R10)),
        Insn::Exit,
    ];
    both(&p, &h, None).unwrap();
    // The callee's r10 is one frame below the top of the context's stack.
    let mut ctx = RunContext::new();
    let jit = JitProgram::compile(&locate(&p), &h, None, JitOptions::new()).unwrap();
    let r0 = jit.run(&mut ctx, 0, 0).unwrap();
    assert_eq!(r0, ctx.frame_pointer(1) + 10);
}

#[test]
fn callx_and_helper_faults_match() {
    let h = Registry::standard();
    // callx with an unknown id
    let p = [mov(Reg::R5, 9999), Insn::Callx { reg: Reg::R5 }, Insn::Exit];
    assert_eq!(
        both(&p, &h, None),
        Err(RunError::UnknownHelper { slot: 1, id: 9999 })
    );
    // callx get_smp_processor_id
    let p = [mov(Reg::R5, 8), Insn::Callx { reg: Reg::R5 }, Insn::Exit];
    assert_eq!(both(&p, &h, None), Ok(0));
    // trace_printk on a pointer outside any region, directly and through callx
    for call in [
        Insn::Call(CallTarget::Helper(6)),
        Insn::Callx { reg: Reg::R5 },
    ] {
        let p = [
            mov(Reg::R1, 0x1000),
            mov(Reg::R2, 8),
            mov(Reg::R5, 6),
            call,
            Insn::Exit,
        ];
        let e = both(&p, &h, None).unwrap_err();
        assert!(
            matches!(
                e,
                RunError::HelperMemory {
                    slot: 3,
                    helper: 6,
                    ..
                }
            ),
            "{e:?}"
        );
    }
}

#[test]
fn legacy_packet_loads_match() {
    let h = Registry::standard();
    let packet: Vec<u8> = (1..=16).collect();
    let abs = |off: i32| {
        [
            mov(Reg::R0, 7),
            Insn::LdAbs {
                size: Size::W,
                imm: off,
            },
            Insn::Exit,
        ]
    };
    assert_eq!(both(&abs(2), &h, Some(&packet)), Ok(0x0304_0506));
    assert_eq!(both(&abs(14), &h, Some(&packet)), Ok(0));
    assert_eq!(both(&abs(-4), &h, Some(&packet)), Ok(0));
    assert_eq!(both(&abs(2), &h, None), Err(RunError::NoPacket { slot: 1 }));
    let ind = [
        mov(Reg::R3, 4),
        Insn::LdInd {
            size: Size::H,
            src: Reg::R3,
            imm: 1,
        },
        Insn::Exit,
    ];
    assert_eq!(both(&ind, &h, Some(&packet)), Ok(0x0607));
}

#[test]
fn blinding_hides_immediates() {
    let h = Registry::standard();
    let p = [
        Insn::ld_imm64(Reg::R0, 0x1122_3344_5566_7788),
        alu(Width::W64, AluOp::Add, Reg::R0, Src::Imm(0x0bad_f00d)),
        Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R0,
            src: Src::Imm(0x5eed_5eed),
            off: 0,
        },
        Insn::Exit,
    ];
    let located = locate(&p);
    let contains = |code: &[u8], v: &[u8]| code.windows(v.len()).any(|w| w == v);
    let plain = JitProgram::compile(&located, &h, None, JitOptions::new()).unwrap();
    let blind = JitProgram::compile(&located, &h, None, JitOptions::new().blinding(true)).unwrap();
    for imm in [
        &0x1122_3344_5566_7788u64.to_le_bytes()[..],
        &0x0bad_f00du32.to_le_bytes(),
        &0x5eed_5eedu32.to_le_bytes(),
    ] {
        assert!(contains(plain.code(), imm));
        assert!(!contains(blind.code(), imm), "{}", blind.disassemble());
    }
    let mut ctx = RunContext::new();
    assert_eq!(plain.run(&mut ctx, 0, 0), blind.run(&mut ctx, 0, 0));
}

#[test]
fn listing_shows_each_instruction_and_its_code() {
    let h = Registry::standard();
    let p = [
        mov(Reg::R0, 1),
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R1,
            src: Reg::R0,
            off: 0,
        },
        Insn::Exit,
    ];
    let jit = JitProgram::compile(&locate(&p), &h, None, JitOptions::new()).unwrap();
    let text = jit.disassemble();
    let lines: Vec<&str> = text.lines().collect();
    let at = |s: &str| lines.iter().position(|l| l.starts_with(s)).unwrap();
    let (i0, i1, i2, stubs) = (
        at("; 0: r0 = 0x1"),
        at("; 1: "),
        at("; 2: exit"),
        at("; out-of-line"),
    );
    assert!(i0 < i1 && i1 < i2 && i2 < stubs, "{text}");
    assert!(
        lines[i0 + 1..i1].iter().any(|l| l.contains("mov eax,1")),
        "{text}"
    );
    assert!(
        lines[i1 + 1..i2]
            .iter()
            .any(|l| l.contains("mov [r11],rax")),
        "{text}"
    );
    assert!(
        lines[i2 + 1..stubs].iter().any(|l| l.ends_with("ret")),
        "{text}"
    );
}

/// This thread's CPU time (immune to other processes sharing the cores, unlike wall time).
fn thread_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The lowest CPU time of `n` runs of `f`.
fn min_time(n: u32, mut f: impl FnMut()) -> std::time::Duration {
    (0..n)
        .map(|_| {
            let t = thread_cpu_time();
            f();
            thread_cpu_time() - t
        })
        .min()
        .unwrap_or_default()
}

#[test]
#[ignore = "timing report, run with --release --ignored --nocapture"]
fn compile_phase_timings() {
    use crate::testgen::{random_program, GenConfig, Rng};
    let h = Registry::standard();
    let cfg = GenConfig {
        body_len: 3_800,
        ..GenConfig::default()
    };
    let prog = locate(&random_program(&mut Rng::new(4000), &cfg));
    let n = 300;
    let prepare = min_time(n, || {
        interp::prepare(&prog, &h, None).unwrap();
    });
    let ops = interp::prepare(&prog, &h, None).unwrap();
    let opt = Options {
        checked: true,
        count: true,
        blinding: false,
        blind_seed: 0,
    };
    let codegen = min_time(n, || {
        compile::compile(&ops, &[0], opt).unwrap();
    });
    let code = compile::compile(&ops, &[0], opt).unwrap().bytes;
    let map = min_time(n, || {
        ExecMemory::new(&code).unwrap();
    });
    let total = min_time(n, || {
        JitProgram::compile(&prog, &h, None, JitOptions::new()).unwrap();
    });
    eprintln!(
        "{} insns, {} code bytes: prepare {prepare:?}, codegen {codegen:?}, map {map:?}, total {total:?}",
        prog.len(),
        code.len()
    );
}

#[test]
fn perf_map_names_the_code_range() {
    let h = Registry::standard();
    let jit = JitProgram::compile(
        &locate(&[mov(Reg::R0, 1), Insn::Exit]),
        &h,
        None,
        JitOptions::new(),
    )
    .unwrap();
    listing::write_perf_map(&jit.mem, 2);
    let map = std::fs::read_to_string(format!("/tmp/perf-{}.map", std::process::id())).unwrap();
    let want = format!("{:x} {:x} ", jit.mem.as_ptr() as usize, jit.mem.code_len());
    assert!(map.lines().any(|l| l.starts_with(&want)), "{map}");
}

#[test]
#[ignore = "profiling loop"]
fn codegen_loop() {
    use crate::testgen::{random_program, GenConfig, Rng};
    let h = Registry::standard();
    let cfg = GenConfig {
        body_len: 3_800,
        ..GenConfig::default()
    };
    let prog = locate(&random_program(&mut Rng::new(4000), &cfg));
    let ops = interp::prepare(&prog, &h, None).unwrap();
    let opt = Options {
        checked: true,
        count: true,
        blinding: false,
        blind_seed: 0,
    };
    for _ in 0..2000 {
        compile::compile(&ops, &[0], opt).unwrap();
    }
}
