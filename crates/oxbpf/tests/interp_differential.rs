//! The interpreter against the running kernel: random programs (`testgen`) and every
//! arithmetic, jump and byte-order instruction on a matrix of edge-case operands (same
//! `r0`, same memory), and `bpf_trace_printk` results (lengths and errors) for valid and
//! invalid formats. Skips loudly when bpf(2) is unavailable.
#![cfg(target_os = "linux")]

use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::isa::{AluOp, ByteOrder, CallTarget, Insn, JmpCond, Reg, Size, Src, Width};
use oxbpf::kernel::{self, run_program_with_mem};
use oxbpf::testgen::{
    locate, random_program, to_bytes, with_checkpoint, GenConfig, Rng, CHECKPOINT_MEM_BYTES,
    EPILOGUE_LEN, PROLOGUE_LEN, RESULT_BYTES,
};
use oxbpf::vm::RunContext;

/// Seed of the random-program slice CI runs.
const SEED: u64 = 0x0bf_1e7e;

/// Number of programs per test: `OXBPF_KERNEL_DIFF_N` (default 20,000, about ten seconds in
/// release). The seed is fixed so CI runs the same slice every time.
fn program_count() -> usize {
    std::env::var("OXBPF_KERNEL_DIFF_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Runs `total` random programs (one in six long) in the kernel and in both interpreter
/// modes; returns the programs whose r0 or registers differ from the kernel's.
fn differential(seed: u64, cfg: &GenConfig, total: usize) -> Vec<(usize, Vec<Insn>)> {
    let helpers = Registry::standard();
    let mut ctx = RunContext::new();
    let mut rng = Rng::new(seed);
    let long = GenConfig {
        body_len: 300,
        ..cfg.clone()
    };
    let mut diverged = Vec::new();
    for n in 0..total {
        let prog = random_program(&mut rng, if n % 6 != 5 { cfg } else { &long });
        let want = run_program_with_mem(&to_bytes(&prog), &[0u8; RESULT_BYTES])
            .unwrap_or_else(|e| panic!("program {n}: kernel rejected a generated program: {e}"));
        let mut vm = Interpreter::new(&locate(&prog), &helpers)
            .unwrap_or_else(|e| panic!("program {n}: {e}"));
        let mut results = Vec::new();
        for mode in [Mode::Checked, Mode::Unchecked] {
            // SAFETY: the kernel verifier accepted this program with the same memory size,
            // so every access it makes is valid.
            unsafe { vm.set_mode(mode) };
            let mut mem = [0u8; RESULT_BYTES];
            let r0 = vm
                .run_with_mem(&mut ctx, &mut mem)
                .unwrap_or_else(|e| panic!("program {n} ({mode:?}): {e}"));
            results.push((r0, mem));
        }
        assert_eq!(
            results[0], results[1],
            "program {n}: checked and unchecked differ"
        );
        let (r0, mem) = results[0];
        if r0 != want.r0 || mem[..] != want.mem_after[..] {
            diverged.push((n, prog));
        }
    }
    diverged
}

#[test]
fn interpreter_matches_kernel_on_random_programs() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    // Without fetching atomics on the stack: see `fetch_atomics_against_kernel`.
    let cfg = GenConfig {
        fetch_atomics: false,
        ..GenConfig::default()
    };
    let total = program_count();
    let diverged = differential(SEED, &cfg, total);
    let helpers = Registry::standard();
    let report: Vec<String> = diverged
        .iter()
        .map(|(n, p)| {
            format!(
                "program {n}: {}",
                explain(p, &helpers).unwrap_or_else(|e| e)
            )
        })
        .collect();
    assert!(
        diverged.is_empty(),
        "oxbpf and the kernel differ (seed {SEED:#x}):\n{}",
        report.join("\n")
    );
    println!("kernel differential: {total} random programs agree");
}

/// The same with fetching atomics (`atomic_fetch_*`, `xchg`, `cmpxchg`) on the stack.
///
/// On kernel 6.18 about 1 in 15,000 such programs comes back wrong from the kernel: after a
/// fetching atomic on a stack slot, its verifier prunes or hard-wires paths using a stale
/// idea of the slot, so the kernel takes a branch its own register values rule out (proven
/// for programs 5231 and 22695 of this seed by `explain`: identical registers before the
/// branch, the kernel on the other side), or reports registers that change across an
/// instruction that does not write them (program 24444). The same generator without
/// fetching atomics agrees with the kernel on 100,000 of 100,000 programs, and the fetch
/// semantics themselves agree with the kernel in the conformance `lock_*` tests and the
/// edge-value matrix below. So here a divergence is allowed only in a program that has a
/// fetching atomic on the stack; each one is printed with what `explain` finds.
#[test]
fn fetch_atomics_against_kernel() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let total = program_count();
    let diverged = differential(SEED, &GenConfig::default(), total);
    let helpers = Registry::standard();
    for (n, prog) in &diverged {
        let has_fetch = prog
            .iter()
            .any(|i| matches!(i, Insn::Atomic { fetch: true, .. }));
        let why = explain(prog, &helpers).unwrap_or_else(|e| e);
        assert!(
            has_fetch,
            "program {n} differs without a fetching atomic: {why}"
        );
        println!("known kernel divergence, program {n}: {why}");
    }
    println!(
        "kernel differential with fetching atomics: {total} programs, {} differ (kernel bug class above)",
        diverged.len()
    );
    assert!(
        diverged.len() * 1000 <= total,
        "more divergences than the known kernel bug explains"
    );
}

/// Registers and hit marker of a checkpointed run's memory.
fn decode_checkpoint(mem: &[u8]) -> (bool, [u64; 10]) {
    let word = |i: usize| u64::from_le_bytes(mem[i * 8..i * 8 + 8].try_into().unwrap());
    (word(10) == 1, std::array::from_fn(word))
}

/// Locates the first point where oxbpf and the kernel part ways, by re-running the program
/// with a checkpoint before each instruction. Returns a description when the cause is
/// proven to be the kernel: both engines reach instruction `j` with identical registers,
/// `j` is a conditional jump, and the kernel continues on the side the condition — computed
/// from those very register values — rules out (its verifier removed a path it wrongly
/// believed dead). Anything else is an error to investigate.
fn explain(prog: &[Insn], helpers: &Registry) -> Result<String, String> {
    let located = locate(prog);
    let mut common: Option<(usize, [u64; 10])> = None;
    for k in PROLOGUE_LEN..prog.len() - EPILOGUE_LEN {
        let cp = with_checkpoint(prog, k);
        let vm = Interpreter::new(&locate(&cp), helpers).map_err(|e| e.to_string())?;
        let mut mem = [0u8; CHECKPOINT_MEM_BYTES];
        vm.run_with_mem(&mut RunContext::new(), &mut mem)
            .map_err(|e| e.to_string())?;
        let ours = decode_checkpoint(&mem);
        let kern = run_program_with_mem(&to_bytes(&cp), &[0u8; CHECKPOINT_MEM_BYTES])
            .map_err(|e| format!("kernel rejected checkpoint {k}: {e}"))?;
        let theirs = decode_checkpoint(&kern.mem_after);
        match (ours.0, theirs.0) {
            (true, true) if ours.1 == theirs.1 => common = Some((k, ours.1)),
            (true, true) => {
                return Err(format!(
                    "registers differ before instruction {k}: oxbpf {:x?}, kernel {:x?}",
                    ours.1, theirs.1
                ))
            }
            (false, false) => {}
            (ours_hit, _) => {
                let (j, regs) = common.ok_or("paths differ before the first checkpoint")?;
                let Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    ..
                } = prog[j]
                else {
                    return Err(format!("paths part after instruction {j}, not a branch"));
                };
                let b = match src {
                    Src::Reg(r) => regs[r.idx()],
                    Src::Imm(i) => i as i64 as u64,
                };
                let taken = cond.eval(width, regs[dst.idx()], b);
                let target = located[j]
                    .target_slot()
                    .and_then(|s| located.iter().position(|l| l.slot as i64 == s));
                let isa_next = if taken { target } else { Some(j + 1) };
                // The engine that reached `k` went from `j` to `k`; the ISA must side with
                // oxbpf.
                if ours_hit != (isa_next == Some(k)) {
                    return Err(format!(
                        "paths part at instruction {j} ({:?}) and oxbpf is not the one following the ISA",
                        prog[j]
                    ));
                }
                return Ok(format!(
                    "at instruction {j} `{}` with {dst} = {:#x}, {src:?} the condition is {taken}, \
                     but the kernel went the other way",
                    oxbpf::asm::fmt_insn(&prog[j], j, &oxbpf::asm::DisasmOptions::new(oxbpf::asm::Style::Llvm)),
                    regs[dst.idx()]
                ));
            }
        }
    }
    Err("no checkpoint shows where they part".into())
}

/// Operand values that hit the edge cases: zero divisors, `INT_MIN / -1`, shift amounts at
/// and beyond the width, sign and zero extension boundaries.
const EDGES: [u64; 13] = [
    0,
    1,
    u64::MAX,
    2,
    7,
    (-7i64) as u64,
    31,
    32,
    63,
    64,
    0x8000_0000,
    0xffff_ffff,
    i64::MIN as u64,
];

/// Runs `prog` (which stores its results through `r1`) in the kernel and in both
/// interpreter modes, and compares the memory.
fn compare(what: &str, prog: &[Insn], mem_len: usize) {
    let helpers = Registry::standard();
    let want = run_program_with_mem(&to_bytes(prog), &vec![0u8; mem_len])
        .unwrap_or_else(|e| panic!("{what}: kernel rejected: {e}"));
    let mut vm = Interpreter::new(&locate(prog), &helpers).unwrap();
    for mode in [Mode::Checked, Mode::Unchecked] {
        // SAFETY: the kernel verifier accepted the program for this memory size.
        unsafe { vm.set_mode(mode) };
        let mut mem = vec![0u8; mem_len];
        let r0 = vm.run_with_mem(&mut RunContext::new(), &mut mem).unwrap();
        assert_eq!(r0, want.r0, "{what} ({mode:?}): r0");
        for (i, (got, want)) in mem.chunks(8).zip(want.mem_after.chunks(8)).enumerate() {
            let (a, b) = (EDGES[i / EDGES.len()], EDGES[i % EDGES.len()]);
            assert_eq!(got, want, "{what} ({mode:?}) with {a:#x}, {b:#x}");
        }
    }
}

/// A program that applies `body(a, b)` (leaving its result in r2) to every pair of edge
/// values and stores the results at `r1 + 8 * pair`.
fn matrix(body: impl Fn(u64, u64) -> Option<Vec<Insn>>) -> Vec<Insn> {
    let mut prog = vec![Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R9,
        src: Src::Reg(Reg::R1),
    }];
    for (i, (a, b)) in EDGES
        .iter()
        .flat_map(|&a| EDGES.iter().map(move |&b| (a, b)))
        .enumerate()
    {
        let Some(ops) = body(a, b) else { continue };
        prog.push(Insn::ld_imm64(Reg::R2, a));
        prog.push(Insn::ld_imm64(Reg::R3, b));
        prog.extend(ops);
        prog.push(Insn::Stx {
            size: Size::DW,
            dst: Reg::R9,
            src: Reg::R2,
            off: 8 * i as i16,
        });
    }
    prog.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R0,
        src: Src::Imm(0),
    });
    prog.push(Insn::Exit);
    prog
}

#[test]
fn alu_and_jump_edge_cases_match_kernel() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let mem_len = EDGES.len() * EDGES.len() * 8;
    for width in [Width::W64, Width::W32] {
        let bits = if width == Width::W64 { 64 } else { 32 };
        for op in AluOp::ALL {
            let alu = |src| Insn::Alu {
                width,
                op,
                dst: Reg::R2,
                src,
            };
            compare(
                &format!("{op:?} {bits} reg"),
                &matrix(|_, _| Some(vec![alu(Src::Reg(Reg::R3))])),
                mem_len,
            );
            // Immediate forms the verifier accepts: no constant zero divisor, no
            // constant shift beyond the width.
            let imm_ok = |b: u64| {
                let imm = match width {
                    Width::W64 => i32::try_from(b as i64).ok()?,
                    Width::W32 => b as u32 as i32,
                };
                let div = matches!(op, AluOp::Div | AluOp::Sdiv | AluOp::Mod | AluOp::Smod);
                let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
                if (div && imm == 0) || (shift && !(0..bits).contains(&imm)) {
                    return None;
                }
                Some(imm)
            };
            compare(
                &format!("{op:?} {bits} imm"),
                &matrix(|_, b| Some(vec![alu(Src::Imm(imm_ok(b)?))])),
                mem_len,
            );
        }
        for cond in JmpCond::ALL {
            // r2 = (r2 cond r3) ? 1 : 0
            let jump = |_, _| {
                Some(vec![
                    Insn::Jmp {
                        width,
                        cond,
                        dst: Reg::R2,
                        src: Src::Reg(Reg::R3),
                        off: 2,
                    },
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R2,
                        src: Src::Imm(0),
                    },
                    Insn::Ja { off: 1 },
                    Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Mov,
                        dst: Reg::R2,
                        src: Src::Imm(1),
                    },
                ])
            };
            compare(&format!("{cond:?} {bits}"), &matrix(jump), mem_len);
        }
    }
    // Unary operations on the first operand.
    let unary = [
        Insn::Neg {
            width: Width::W64,
            dst: Reg::R2,
        },
        Insn::Neg {
            width: Width::W32,
            dst: Reg::R2,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 8,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 16,
        },
        Insn::MovSx {
            width: Width::W64,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 32,
        },
        Insn::MovSx {
            width: Width::W32,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 8,
        },
        Insn::MovSx {
            width: Width::W32,
            dst: Reg::R2,
            src: Reg::R2,
            bits: 16,
        },
    ];
    let mut ends = Vec::new();
    for order in [ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap] {
        for bits in [16, 32, 64] {
            ends.push(Insn::End {
                order,
                dst: Reg::R2,
                bits,
            });
        }
    }
    for insn in unary.into_iter().chain(ends) {
        compare(
            &format!("{insn:?}"),
            &matrix(|_, _| Some(vec![insn])),
            mem_len,
        );
    }
}

/// Marks a `bpf_trace_printk` argument that is the address of [`STR`] on the stack.
const STR_ARG: u64 = u64::MAX - 0x5757;
/// Marks an argument that is the address of a 255-character string on the stack.
const LONG_ARG: u64 = u64::MAX - 0x1010;
/// 16 bytes on the stack for `%s`, `%pI4` and `%pi6` arguments.
const STR: &[u8; 16] = b"str\0\x0a\x00\x00\x01\xfe\x80\x00\x00\x00\x00\x00\x01";

/// `bpf_trace_printk(fmt, sizeof(fmt), args...)` with `fmt`, [`STR`] and a long string on
/// the stack.
fn printk_program(fmt: &[u8], args: &[u64]) -> Vec<Insn> {
    let mut prog = Vec::new();
    let mut fmt = fmt.to_vec();
    fmt.push(0);
    let size = fmt.len();
    fmt.resize(size.next_multiple_of(8), 0);
    let fmt_off = -(fmt.len() as i16);
    let str_off = fmt_off - 16;
    let mut long = vec![b'a'; 255];
    long.push(0);
    let long_off = str_off - long.len() as i16;
    let mut put = |off: i16, chunk: &[u8]| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        prog.push(Insn::ld_imm64(Reg::R1, u64::from_le_bytes(word)));
        prog.push(Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R1,
            off,
        });
    };
    for (base, bytes) in [
        (fmt_off, &fmt[..]),
        (str_off, &STR[..]),
        (long_off, &long[..]),
    ] {
        for (i, chunk) in bytes.chunks(8).enumerate() {
            put(base + 8 * i as i16, chunk);
        }
    }
    let reg_at = |r: Reg, off: i16| {
        [
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Mov,
                dst: r,
                src: Src::Reg(Reg::R10),
            },
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: r,
                src: Src::Imm(off as i32),
            },
        ]
    };
    prog.extend(reg_at(Reg::R1, fmt_off));
    prog.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R2,
        src: Src::Imm(size as i32),
    });
    for (r, &a) in [Reg::R3, Reg::R4, Reg::R5].into_iter().zip(args) {
        match a {
            STR_ARG => prog.extend(reg_at(r, str_off)),
            LONG_ARG => prog.extend(reg_at(r, long_off)),
            _ if a.wrapping_sub(STR_ARG) < 16 => {
                prog.extend(reg_at(r, str_off + a.wrapping_sub(STR_ARG) as i16))
            }
            _ => prog.push(Insn::ld_imm64(r, a)),
        }
    }
    prog.push(Insn::Call(CallTarget::Helper(6)));
    prog.push(Insn::Exit);
    prog
}

#[test]
fn trace_printk_results_match_kernel() {
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return;
    }
    let neg = (-42i64) as u64;
    let cases: &[(&[u8], &[u64])] = &[
        (b"hello\n", &[]),
        (b"%d %i %u\n", &[neg, neg, neg]),
        (b"%ld %lli %llu", &[neg, neg, neg]),
        (b"%x %lx %llX", &[neg, neg, 0xabc]),
        (b"[%5d|%-5d|%05d]", &[42, 42, neg]),
        (b"[%+d|% d|%08x]", &[42, 42, 0xbeef]),
        (b"%c%c%c", &[b'o' as u64, b'k' as u64, b'!' as u64]),
        (b"%s!", &[STR_ARG]),
        (b"[%10s|%-6s]", &[STR_ARG, STR_ARG]),
        // (`%pus` differs by design: the kernel reads a user address, which our stack is
        // not; oxbpf has one address space.)
        (b"%pks|", &[STR_ARG]),
        (b"%px %pK", &[0x1234, 0]),
        (b"%pI4 %pi4", &[STR_ARG + 4, STR_ARG + 4]),
        (b"%pI6 %pi6", &[STR_ARG, STR_ARG]),
        (b"100%% %d", &[1]),
        (b"%20d", &[1]),
        // The 512-byte staging buffer: the third string is cut short...
        (b"%s|%s|%s", &[LONG_ARG, STR_ARG, LONG_ARG]),
        // ... and with two long strings nothing is left for a third conversion.
        (b"%s%s%c", &[LONG_ARG, LONG_ARG, b'x' as u64]),
        // Invalid formats: -EINVAL.
        (b"%f", &[1]),
        (b"%.2d", &[1]),
        (b"%lc", &[1]),
        (b"%5%", &[1]),
        (b"%q", &[1]),
        (b"%sx", &[STR_ARG]),
        (b"%d %d %d %d", &[1, 2, 3]),
        (b"\x01", &[]),
        (b"%pz", &[1]),
        (b"%hd", &[1]),
    ];
    let helpers = Registry::standard();
    for &(fmt, args) in cases {
        let prog = printk_program(fmt, args);
        let what = String::from_utf8_lossy(fmt);
        let want = run_program_with_mem(&to_bytes(&prog), &[0u8; 8])
            .unwrap_or_else(|e| panic!("{what:?}: kernel rejected: {e}"));
        let vm = Interpreter::new(&locate(&prog), &helpers).unwrap();
        let got = vm
            .run_with_mem(&mut RunContext::new(), &mut [0u8; 8])
            .unwrap();
        assert_eq!(got as i64, want.r0 as i64, "{what:?}");
    }
}
