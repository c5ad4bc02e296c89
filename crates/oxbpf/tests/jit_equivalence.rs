//! The JIT against the interpreter: identical `r0` (or error, with its slot and fault),
//! input memory, whole stack, trace log and `insn_count`, in checked and unchecked mode.
//!
//! - every bpf_conformance (and uBPF) `.data` program;
//! - random programs from `oxbpf::testgen` (verifier-clean shapes, both modes);
//! - random programs from this file's generator, which adds out-of-bounds and misaligned
//!   accesses, read-only memory, BPF-to-BPF calls, helper calls (trace_printk included) and
//!   loops (checked mode only: they fault on purpose).
//!
//! `OXBPF_JIT_DIFF_N` sets the number of random programs per generator (default sized for a
//! CI run well under a minute in release). The big run:
//! `OXBPF_JIT_DIFF_N=200000 cargo test --release -p oxbpf --test jit_equivalence`.
//! The one documented difference: when the budget runs out, both stop with
//! `RunError::Budget`, at different slots of the same basic block (see `jit::x86_64::compile`).
#![cfg(all(target_arch = "x86_64", unix))]

#[path = "../../../tests-support/data_file.rs"]
mod data_file;

use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode, RunError};
use oxbpf::isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, JmpCond, Located, Reg, Size, Src, Width,
};
use oxbpf::jit::{JitOptions, JitProgram};
use oxbpf::testgen::{self, GenConfig, Rng, RESULT_BYTES};
use oxbpf::vm::{MemRegion, RunContext, MAX_CALL_FRAMES, STACK_SIZE};

/// Everything a run can be observed by.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<u64, RunError>,
    mem: Vec<u8>,
    stack: Vec<u8>,
    trace: Vec<String>,
    insn_count: u64,
}

fn stack_bytes(ctx: &mut RunContext) -> Vec<u8> {
    let top = ctx.frame_pointer(0);
    ctx.set_call_depth(MAX_CALL_FRAMES - 1);
    let mut buf = vec![0u8; STACK_SIZE];
    ctx.read_bytes(top - STACK_SIZE as u64, &mut buf)
        .expect("the whole stack is readable at the deepest call depth");
    buf
}

fn clear_stack(ctx: &mut RunContext) {
    let top = ctx.frame_pointer(0);
    ctx.set_call_depth(MAX_CALL_FRAMES - 1);
    ctx.write_bytes(top - STACK_SIZE as u64, &[0u8; STACK_SIZE])
        .expect("the whole stack is writable at the deepest call depth");
    ctx.set_call_depth(0);
}

/// One context and fixed input buffers for both engines, so that every address a program
/// can see (stack, memory, read-only data) is the same in both runs.
struct Bench {
    ctx: RunContext,
    mem: Vec<u8>,
    ro: Vec<u8>,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            ctx: RunContext::new(),
            mem: vec![0; 4096],
            ro: vec![0; 64],
        }
    }

    /// Runs with `mem_in` copied to the memory buffer (registered writable, address in r1)
    /// and `rodata` to the read-only one (registered read-only, its address in r2 instead
    /// of the memory length when present).
    fn observe(
        &mut self,
        mem_in: &[u8],
        rodata: Option<&[u8]>,
        run: &dyn Fn(&mut RunContext, u64, u64) -> Result<u64, RunError>,
    ) -> Outcome {
        let ctx = &mut self.ctx;
        clear_stack(ctx);
        ctx.trace.take();
        assert!(mem_in.len() <= self.mem.len() && rodata.map_or(0, <[u8]>::len) <= self.ro.len());
        self.mem[..mem_in.len()].copy_from_slice(mem_in);
        let region = MemRegion {
            start: self.mem.as_mut_ptr() as u64,
            len: mem_in.len() as u64,
            writable: true,
        };
        let ro_region = rodata.map(|r| {
            self.ro[..r.len()].copy_from_slice(r);
            MemRegion {
                start: self.ro.as_ptr() as u64,
                len: r.len() as u64,
                writable: false,
            }
        });
        // SAFETY: the buffers live as long as `self` and are not used through Rust
        // references while the regions are registered (removed below).
        unsafe {
            if !mem_in.is_empty() {
                ctx.add_region(region);
            }
            if let Some(r) = ro_region {
                ctx.add_region(r);
            }
        }
        let r1 = if mem_in.is_empty() { 0 } else { region.start };
        let r2 = ro_region.map_or(mem_in.len() as u64, |r| r.start);
        let result = run(ctx, r1, r2);
        ctx.clear_regions();
        Outcome {
            result,
            mem: self.mem[..mem_in.len()].to_vec(),
            stack: stack_bytes(ctx),
            trace: ctx.trace.take().into_iter().map(|l| l.text).collect(),
            insn_count: ctx.insn_count,
        }
    }
}

struct Engines {
    interp: Interpreter,
    jit: JitProgram,
}

fn load(prog: &[Located], helpers: &Registry, mode: Mode, blinding: bool) -> Option<Engines> {
    let mut interp = Interpreter::new(prog, helpers).ok()?;
    let mut opts = JitOptions::new().blinding(blinding);
    if mode == Mode::Unchecked {
        // SAFETY: callers only ask for unchecked mode with programs whose accesses are all
        // valid (conformance programs on their memory, testgen programs on RESULT_BYTES).
        unsafe {
            interp.set_mode(Mode::Unchecked);
            opts = opts.unchecked();
        }
    }
    let jit = match JitProgram::compile(prog, helpers, None, opts) {
        Ok(j) => j,
        Err(e) => panic!("the interpreter loads the program but the JIT fails: {e}"),
    };
    Some(Engines { interp, jit })
}

/// Runs both engines and compares; returns the interpreter's outcome.
fn compare(
    name: &str,
    e: &Engines,
    bench: &mut Bench,
    mem: &[u8],
    rodata: Option<&[u8]>,
) -> Outcome {
    let want = bench.observe(mem, rodata, &|c, a, b| e.interp.run(c, a, b));
    let got = bench.observe(mem, rodata, &|c, a, b| e.jit.run(c, a, b));
    if let (Err(RunError::Budget { .. }), Err(RunError::Budget { .. })) =
        (&want.result, &got.result)
    {
        return want;
    }
    if want != got {
        panic!(
            "{name}: engines differ\ninterp: {:?} insns {} trace {:?}\njit:    {:?} insns {} trace {:?}\nmem equal: {}, stack equal: {}\n{}",
            want.result,
            want.insn_count,
            want.trace,
            got.result,
            got.insn_count,
            got.trace,
            want.mem == got.mem,
            want.stack == got.stack,
            e.jit.disassemble()
        );
    }
    want
}

#[test]
fn conformance_programs_match() {
    let dir = data_file::conformance_dir();
    let helpers = Registry::standard();
    let mut bench = Bench::new();
    let mut files = data_file::list(&dir.join("bpf_conformance/tests"));
    assert!(
        files.len() > 100,
        "conformance data not found in {} (set OXBPF_CONFORMANCE_DIR)",
        dir.display()
    );
    files.extend(data_file::list(&dir.join("ubpf/tests")));
    let (mut compared, mut passed_expected) = (0, 0);
    for path in files {
        let df = data_file::parse(&path).unwrap_or_else(|e| panic!("{e}"));
        let bytes = match (&df.asm, &df.raw) {
            (Some(text), _) => match oxbpf::asm::assemble(text) {
                Ok(b) => b,
                Err(_) => continue,
            },
            (None, Some(raw)) => raw.clone(),
            (None, None) => continue,
        };
        let Ok(prog) = oxbpf::isa::decode(&bytes) else {
            continue;
        };
        let mem = df.mem.clone().unwrap_or_default();
        let name = path.display().to_string();
        let Some(e) = load(&prog, &helpers, Mode::Checked, false) else {
            continue;
        };
        let want = compare(&format!("{name} (checked)"), &e, &mut bench, &mem, None);
        if df.result.is_some() && want.result.as_ref().ok() == df.result.as_ref() {
            passed_expected += 1;
        }
        if let Some(e) = load(&prog, &helpers, Mode::Checked, true) {
            compare(&format!("{name} (blinded)"), &e, &mut bench, &mem, None);
        }
        // Unchecked mode only for programs that are memory-safe on this input.
        if want.result.is_ok() {
            if let Some(e) = load(&prog, &helpers, Mode::Unchecked, false) {
                compare(&format!("{name} (unchecked)"), &e, &mut bench, &mem, None);
            }
        }
        compared += 1;
    }
    assert!(compared > 250, "only {compared} programs compared");
    assert!(
        passed_expected > 200,
        "only {passed_expected} runs gave the expected result"
    );
}

fn n_programs(default: usize) -> usize {
    std::env::var("OXBPF_JIT_DIFF_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn testgen_programs_match_in_both_modes() {
    let helpers = Registry::standard();
    let mut bench = Bench::new();
    let mut rng = Rng::new(0x0071_7e57);
    let n = n_programs(if cfg!(debug_assertions) { 300 } else { 10_000 });
    for i in 0..n {
        let cfg = GenConfig {
            body_len: if i % 10 == 0 { 300 } else { 40 },
            ..GenConfig::default()
        };
        let prog = testgen::locate(&testgen::random_program(&mut rng, &cfg));
        for (mode, blinding) in [(Mode::Checked, i % 4 == 0), (Mode::Unchecked, false)] {
            let e = load(&prog, &helpers, mode, blinding).expect("testgen programs load");
            let name = format!("testgen program {i} ({mode:?})");
            let want = compare(&name, &e, &mut bench, &[0u8; RESULT_BYTES], None);
            assert!(want.result.is_ok(), "{name}: {:?}", want.result);
        }
    }
}

// ---- a generator with faults, calls, helpers and loops -------------------------------

/// Registers the generated ALU code may write: r6 holds the memory pointer, r7 a stack
/// pointer, r2 the read-only pointer (restored before each access through it).
const DATA: [Reg; 6] = [Reg::R0, Reg::R1, Reg::R3, Reg::R4, Reg::R5, Reg::R8];
const ALL: [Reg; 10] = [
    Reg::R0,
    Reg::R1,
    Reg::R2,
    Reg::R3,
    Reg::R4,
    Reg::R5,
    Reg::R6,
    Reg::R7,
    Reg::R8,
    Reg::R9,
];
const MEM_LEN: usize = 64;
const RO_LEN: usize = 16;

struct Gen<'a> {
    rng: &'a mut Rng,
    out: Vec<Insn>,
    /// One access in `faulty` is out of bounds or misaligned (0: none).
    faulty: u64,
}

fn mov64(dst: Reg, src: Src) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    }
}

impl Gen<'_> {
    fn size(&mut self) -> Size {
        self.rng.pick(&[Size::B, Size::H, Size::W, Size::DW])
    }

    /// A base register and an offset: mostly in bounds, sometimes just outside.
    fn place(&mut self, size: Size, aligned: bool, write: bool) -> (Reg, i16) {
        let n = size.bytes() as i64;
        let mut pick = self.rng.below(4);
        if pick == 2 && write && !(self.faulty != 0 && self.rng.chance(1, 4)) {
            pick = 3;
        }
        let (base, lo, hi) = match pick {
            0 => (Reg::R10, -512, -n),
            1 => (Reg::R7, -512 + 64, 64 - n),
            2 => (Reg::R2, 0, RO_LEN as i64 - n),
            _ => (Reg::R6, 0, MEM_LEN as i64 - n),
        };
        let mut off = lo + self.rng.below((hi - lo + 1) as u64) as i64;
        if self.faulty != 0 && self.rng.chance(1, self.faulty) {
            off = if self.rng.chance(1, 2) {
                lo - 1 - self.rng.below(8) as i64
            } else {
                hi + 1 + self.rng.below(8) as i64
            };
        }
        if aligned && !(self.faulty != 0 && self.rng.chance(1, self.faulty)) {
            off &= !(n - 1);
        }
        (base, off as i16)
    }

    fn alu(&mut self) {
        let dst = self.rng.pick(&DATA);
        let width = if self.rng.chance(1, 2) {
            Width::W64
        } else {
            Width::W32
        };
        let src = if self.rng.chance(1, 2) {
            Src::Reg(self.rng.pick(&ALL))
        } else {
            Src::Imm(self.rng.interesting_i32())
        };
        let insn = match self.rng.below(16) {
            0 => Insn::Neg { width, dst },
            1 => Insn::MovSx {
                width,
                dst,
                src: self.rng.pick(&ALL),
                bits: if width == Width::W64 {
                    self.rng.pick(&[8, 16, 32])
                } else {
                    self.rng.pick(&[8, 16])
                },
            },
            2 => Insn::End {
                order: self
                    .rng
                    .pick(&[ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap]),
                dst,
                bits: self.rng.pick(&[16, 32, 64]),
            },
            3 => Insn::ld_imm64(dst, self.rng.interesting_u64()),
            _ => Insn::Alu {
                width,
                op: self.rng.pick(&[
                    AluOp::Add,
                    AluOp::Sub,
                    AluOp::Mul,
                    AluOp::Div,
                    AluOp::Sdiv,
                    AluOp::Or,
                    AluOp::And,
                    AluOp::Lsh,
                    AluOp::Rsh,
                    AluOp::Mod,
                    AluOp::Smod,
                    AluOp::Xor,
                    AluOp::Mov,
                    AluOp::Arsh,
                ]),
                dst,
                src,
            },
        };
        self.out.push(insn);
    }

    fn mem(&mut self) {
        let size = self.size();
        match self.rng.below(5) {
            0 | 1 => {
                let (src, off) = self.place(size, false, false);
                let sx = size != Size::DW && self.rng.chance(1, 3);
                let dst = self.rng.pick(&DATA);
                self.out.push(if sx {
                    Insn::LdxSx {
                        size,
                        dst,
                        src,
                        off,
                    }
                } else {
                    Insn::Ldx {
                        size,
                        dst,
                        src,
                        off,
                    }
                });
            }
            2 => {
                let (dst, off) = self.place(size, false, true);
                let imm = self.rng.interesting_i32();
                self.out.push(Insn::St {
                    size,
                    dst,
                    off,
                    imm,
                });
            }
            3 => {
                let (dst, off) = self.place(size, false, true);
                let src = self.rng.pick(&ALL);
                self.out.push(Insn::Stx {
                    size,
                    dst,
                    src,
                    off,
                });
            }
            _ => {
                let size = if self.rng.chance(1, 2) {
                    Size::W
                } else {
                    Size::DW
                };
                let (dst, off) = self.place(size, true, true);
                let op = self.rng.pick(&[
                    AtomicOp::Add,
                    AtomicOp::Or,
                    AtomicOp::And,
                    AtomicOp::Xor,
                    AtomicOp::Xchg,
                    AtomicOp::Cmpxchg,
                ]);
                let fetch =
                    matches!(op, AtomicOp::Xchg | AtomicOp::Cmpxchg) || self.rng.chance(1, 2);
                let src = self.rng.pick(&DATA);
                self.out.push(Insn::Atomic {
                    size,
                    op,
                    fetch,
                    dst,
                    src,
                    off,
                });
            }
        }
    }

    /// `if cond skip k` followed by `k` instructions.
    fn branch(&mut self, depth: usize) {
        let at = self.out.len();
        self.out.push(Insn::Exit); // patched into the jump once its target is known
        let start = self.out.len();
        let n = 1 + self.rng.below(4) as usize;
        self.straight(n, depth + 1);
        let skip = self.slots(start) as i16;
        let width = if self.rng.chance(1, 3) {
            Width::W32
        } else {
            Width::W64
        };
        let src = if self.rng.chance(1, 2) {
            Src::Reg(self.rng.pick(&ALL))
        } else {
            Src::Imm(self.rng.interesting_i32())
        };
        self.out[at] = Insn::Jmp {
            width,
            cond: self.rng.pick(&[
                JmpCond::Eq,
                JmpCond::Gt,
                JmpCond::Ge,
                JmpCond::Set,
                JmpCond::Ne,
                JmpCond::Sgt,
                JmpCond::Sge,
                JmpCond::Lt,
                JmpCond::Le,
                JmpCond::Slt,
                JmpCond::Sle,
            ]),
            dst: self.rng.pick(&ALL),
            src,
            off: skip,
        };
    }

    fn slots(&self, from: usize) -> usize {
        self.out[from..].iter().map(|i| i.slots()).sum()
    }

    /// A counted loop on r9 (the body never writes r9).
    fn bounded_loop(&mut self) {
        let count = 1 + self.rng.below(20) as i32;
        self.out.push(mov64(Reg::R9, Src::Imm(count)));
        let start = self.out.len();
        let n = 1 + self.rng.below(5) as usize;
        // No nested loop or helper call in the body (depth 2): they would reset r9.
        self.straight(n, 2);
        self.out.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Sub,
            dst: Reg::R9,
            src: Src::Imm(1),
        });
        let back = -(self.slots(start) as i16) - 1;
        self.out.push(Insn::Jmp {
            width: Width::W64,
            cond: JmpCond::Ne,
            dst: Reg::R9,
            src: Src::Imm(0),
            off: back,
        });
    }

    /// `bpf_trace_printk("%d %llx\n", 9, r3, r4)` with the format built on the stack, or
    /// `bpf_get_smp_processor_id()`.
    fn helper(&mut self) {
        if self.rng.chance(1, 2) {
            self.out.push(Insn::Call(CallTarget::Helper(8)));
            return;
        }
        let fmt = b"%d %llx\n\0\0\0\0\0\0\0\0";
        for (i, chunk) in fmt.chunks(8).enumerate() {
            let v = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            self.out.push(Insn::ld_imm64(Reg::R1, v));
            self.out.push(Insn::Stx {
                size: Size::DW,
                dst: Reg::R10,
                src: Reg::R1,
                off: -16 + 8 * i as i16,
            });
        }
        self.out.push(mov64(Reg::R1, Src::Reg(Reg::R10)));
        self.out.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: Reg::R1,
            src: Src::Imm(-16),
        });
        // Sometimes a size past the stack top: the helper faults.
        let len = if self.faulty != 0 && self.rng.chance(1, 4) {
            40
        } else {
            9
        };
        self.out.push(mov64(Reg::R2, Src::Imm(len)));
        self.out.push(Insn::Call(CallTarget::Helper(6)));
    }

    fn straight(&mut self, n: usize, depth: usize) {
        for _ in 0..n {
            // r2 may have been clobbered (helpers, ALU): reload the read-only pointer.
            match self.rng.below(12) {
                0..=4 => self.alu(),
                5..=8 => {
                    self.out.push(Insn::Ldx {
                        size: Size::DW,
                        dst: Reg::R2,
                        src: Reg::R10,
                        off: -512,
                    });
                    self.mem();
                }
                9 if depth < 2 => self.branch(depth),
                10 if depth == 0 => self.bounded_loop(),
                11 if depth == 0 => self.helper(),
                _ => self.alu(),
            }
        }
    }
}

/// A program over [`MEM_LEN`] bytes of memory (r1) and [`RO_LEN`] read-only bytes (r2):
/// main body, optional call to a subfunction, optional runaway loop.
fn faulting_program(rng: &mut Rng) -> Vec<Insn> {
    let faulty = rng.pick(&[0, 0, 30, 100]);
    let mut g = Gen {
        rng,
        out: Vec::new(),
        faulty,
    };
    g.out.push(Insn::Stx {
        size: Size::DW,
        dst: Reg::R10,
        src: Reg::R2,
        off: -512,
    });
    g.out.push(mov64(Reg::R6, Src::Reg(Reg::R1)));
    g.out.push(mov64(Reg::R7, Src::Reg(Reg::R10)));
    g.out.push(Insn::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst: Reg::R7,
        src: Src::Imm(-64),
    });
    for r in [Reg::R0, Reg::R3, Reg::R4, Reg::R5, Reg::R8, Reg::R9] {
        g.out.push(Insn::ld_imm64(r, g.rng.interesting_u64()));
    }
    let body = 5 + g.rng.below(40) as usize;
    g.straight(body, 0);
    let call_at = g.rng.chance(1, 3).then(|| {
        g.out.push(Insn::Exit); // patched into the call once the callee is laid out
        g.out.len() - 1
    });
    if g.rng.chance(1, 40) {
        g.out.push(Insn::Ja { off: -1 });
    }
    g.out.push(Insn::Exit);
    if let Some(at) = call_at {
        // The subfunction: its own frame (r7 re-derived from its r10), clobbers r6-r9.
        let func_start = g.out.len();
        g.out.push(mov64(Reg::R7, Src::Reg(Reg::R10)));
        g.out.push(Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: Reg::R7,
            src: Src::Imm(-64),
        });
        let n = 2 + g.rng.below(10) as usize;
        g.straight(n, 1);
        g.out.push(mov64(Reg::R8, Src::Imm(7)));
        g.out.push(mov64(Reg::R9, Src::Imm(9)));
        g.out.push(Insn::Exit);
        let rel = g.out[at + 1..func_start]
            .iter()
            .map(|i| i.slots())
            .sum::<usize>() as i32;
        g.out[at] = Insn::Call(CallTarget::Local(rel));
    }
    g.out
}

#[test]
fn faulting_programs_match_in_checked_mode() {
    let helpers = Registry::standard();
    let mut bench = Bench::new();
    let mut rng = Rng::new(0x000f_a017);
    let n = n_programs(if cfg!(debug_assertions) { 1500 } else { 50_000 });
    let mem: Vec<u8> = (0..MEM_LEN as u8).map(|b| b.wrapping_mul(37)).collect();
    let ro: Vec<u8> = (0..RO_LEN as u8).map(|b| b ^ 0x5a).collect();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..n {
        let prog = testgen::locate(&faulting_program(&mut rng));
        let blinding = i % 3 == 0;
        let e = match load(&prog, &helpers, Mode::Checked, blinding) {
            Some(e) => e,
            None => panic!("generated program {i} does not load: {prog:?}"),
        };
        let want = compare(
            &format!("faulting program {i}"),
            &e,
            &mut bench,
            &mem,
            Some(&ro),
        );
        let kind = match want.result {
            Ok(_) => "ok".to_string(),
            Err(RunError::Memory { fault, .. }) => format!("{:?}", fault.kind),
            Err(RunError::HelperMemory { .. }) => "helper".to_string(),
            Err(RunError::Budget { .. }) => "budget".to_string(),
            Err(e) => format!("{e:?}"),
        };
        *seen.entry(kind).or_default() += 1;
    }
    eprintln!("outcomes: {seen:?}");
    // The generator must exercise every outcome.
    for kind in [
        "ok",
        "OutOfBounds",
        "ReadOnly",
        "Unaligned",
        "helper",
        "budget",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) * 200 > n,
            "{kind}: {seen:?}"
        );
    }
}
