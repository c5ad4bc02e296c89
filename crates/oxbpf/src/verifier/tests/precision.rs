//! Precision tracking end to end: real programs with loops verify with processed-insn
//! counts in the kernel's range (checked live against the running kernel when it is
//! available, and against the counts Linux 6.18 reported otherwise), and random
//! programs that make scalars differ per path and then use one of them as an offset are
//! never accepted unsafely (accepted ones run in checked mode on many inputs).

use super::asm::*;
use super::*;
use crate::helpers::Registry;
use crate::interp::{Interpreter, RunError};
use crate::isa::{self, JmpCond};
use crate::object::Object;
use crate::testgen::{self, Rng};
use crate::vm::RunContext;

/// Processed instructions Linux 6.18 reported for the benchmark programs (`BPF_PROG_LOAD`,
/// log level 1; `cargo run -p oxbpf-bench --bin verify` prints them live).
const KERNEL_6_18: &[(&str, u64)] = &[
    ("alu32.o", 8208),
    ("bits.o", 189_732),
    ("calls.o", 7434),
    ("empty.o", 2),
    ("fnv.o", 7178),
    ("large.o", 4018),
    ("maps.o", 8168),
    ("memcpy.o", 313),
    ("parse.o", 17_149),
];

/// How many times the kernel's count oxbpf may process.
const MAX_RATIO: u64 = 4;

/// Loads XDP bytecode into the running kernel and returns its processed-insn count, or
/// why not.
fn kernel_processed(insns: &[u8], maps: &[MapInfo]) -> Result<u64, String> {
    use crate::kernel::{Map, MapCreate, ProgLoad, Program, PROG_TYPE_XDP};
    use std::os::fd::{AsFd, AsRawFd};
    let maps: Vec<Map> = maps
        .iter()
        .map(|m| {
            Map::create(&MapCreate {
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.flags,
                ..MapCreate::default()
            })
            .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let fds: Vec<_> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let p = Program::load(&ProgLoad {
        fd_array: &fds,
        log_level: 1,
        ..ProgLoad::new(PROG_TYPE_XDP, insns)
    })
    .map_err(|e| {
        let log = e.log().unwrap_or_default();
        format!(
            "kernel rejected: {}",
            log.lines().rev().nth(1).unwrap_or("")
        )
    })?;
    p.log()
        .lines()
        .find_map(|l| {
            l.strip_prefix("processed ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| "no summary in the kernel log".into())
}

/// The benchmark programs (loops with branchy bodies, map lookups, subprograms): all
/// accepted, each within [`MAX_RATIO`] times the kernel's processed instructions.
#[test]
fn bench_programs_verify_near_the_kernel() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/programs");
    let live = crate::kernel::available();
    if let Err(why) = &live {
        eprintln!("SKIPPED: kernel unavailable: {why} (comparing with recorded 6.18 counts)");
    }
    let mut report = Vec::new();
    for &(file, recorded) in KERNEL_6_18 {
        let data = std::fs::read(dir.join(file)).expect("bench object");
        let obj = Object::parse(&data, "bench").expect("parses");
        let maps: Vec<MapInfo> = obj
            .maps
            .iter()
            .map(|m| MapInfo {
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.map_flags,
            })
            .collect();
        let p = &obj.programs[0];
        let indices: Vec<i32> = (0..maps.len() as i32).collect();
        let bytes = p.bind_maps(&indices).expect("binds").concat();
        let prog = isa::decode(&bytes).expect("decodes");
        let config = VerifyConfig {
            maps: &maps,
            ..VerifyConfig::new(&Xdp)
        };
        let ours = match verify(&prog, &config) {
            Ok(v) => v.stats.insns_processed,
            Err(e) => {
                report.push(format!("{file}: rejected: {}", e.message));
                continue;
            }
        };
        let kernel = match &live {
            Ok(()) => kernel_object_processed(&obj).unwrap_or_else(|e| {
                report.push(format!("{file}: kernel: {e}"));
                recorded
            }),
            Err(_) => recorded,
        };
        eprintln!("{file}: oxbpf {ours} kernel {kernel} (6.18 recorded {recorded})");
        if ours > MAX_RATIO * kernel {
            report.push(format!(
                "{file}: oxbpf {ours} > {MAX_RATIO} x kernel {kernel}"
            ));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// The kernel's processed count for an object's first program (maps created for real).
fn kernel_object_processed(obj: &Object) -> Result<u64, String> {
    use crate::kernel::{Map, MapCreate, ProgLoad, Program, PROG_TYPE_XDP};
    use std::os::fd::{AsFd, AsRawFd};
    let maps: Vec<Map> = obj
        .maps
        .iter()
        .map(|m| {
            Map::create(&MapCreate {
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                flags: m.map_flags,
                ..MapCreate::default()
            })
            .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let p = &obj.programs[0];
    let bytes = p
        .bind_maps(&fds)
        .map_err(|m| format!("map {m} unbound"))?
        .concat();
    let loaded = Program::load(&ProgLoad {
        license: &obj.license,
        log_level: 1,
        ..ProgLoad::new(PROG_TYPE_XDP, &bytes)
    })
    .map_err(|e| format!("rejected: {e}"))?;
    loaded
        .log()
        .lines()
        .find_map(|l| {
            l.strip_prefix("processed ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| "no summary in the kernel log".into())
}

/// A counted loop whose body has `branches` data-dependent diamonds, each adding to its
/// own accumulator; the counter indexes the stack.
fn branchy_loop(bound: i32, branches: usize) -> Vec<Insn> {
    let accs = [R7, R8, R9];
    let mut body = vec![ldx(W, R3, R1, 12), alur(Rsh, R3, R6)];
    for b in 0..branches {
        let acc = accs[b % accs.len()];
        body.extend([
            movr(R4, R3),
            alu(And, R4, 1 << b),
            jmp(JEQ, R4, 0, 2),
            alu(Add, acc, b as i32 + 1),
            ja(1),
            alu(Sub, acc, 1),
        ]);
    }
    body.extend([
        movr(R2, R10),
        alu(Add, R2, -256),
        alur(Add, R2, R6),
        st(B, R2, 0, 1),
        alu(Add, R6, 1),
    ]);
    let back = -(body.len() as i16) - 1;
    let mut p = vec![mov(R6, 0), mov(R7, 0), mov(R8, 0), mov(R9, 0)];
    p.extend(body);
    p.extend([jmp(JLT, R6, bound, back), mov(R0, 2), exit()]);
    p
}

/// Loops with branchy bodies: accepted, and within [`MAX_RATIO`] times the kernel's
/// processed instructions (live); without the kernel, within a linear bound.
#[test]
fn branchy_loops_verify_near_the_kernel() {
    let live = crate::kernel::available();
    if let Err(why) = &live {
        eprintln!("SKIPPED: kernel unavailable: {why} (checking a linear bound only)");
    }
    let mut report = Vec::new();
    for (bound, branches) in [(16, 1), (64, 2), (128, 3), (200, 3), (100, 6)] {
        let insns = branchy_loop(bound, branches);
        let c = accept("branchy", Ty::Xdp, insns.clone());
        let ours = match run(&c, 0) {
            Ok(v) => v.stats.insns_processed,
            Err(e) => {
                report.push(format!("{bound}x{branches}: rejected: {}", e.message));
                continue;
            }
        };
        // Without pruning of the accumulators this is 2^branches paths per iteration.
        let linear = 8 * bound as u64 * insns.len() as u64;
        if ours > linear {
            report.push(format!(
                "{bound}x{branches}: {ours} > linear bound {linear}"
            ));
        }
        if live.is_ok() {
            let bytes = testgen::to_bytes(&insns);
            match kernel_processed(&bytes, &[]) {
                Ok(k) => {
                    eprintln!("{bound} iterations x {branches} branches: oxbpf {ours} kernel {k}");
                    if ours > MAX_RATIO * k {
                        report.push(format!("{bound}x{branches}: oxbpf {ours} > 4 x kernel {k}"));
                    }
                }
                Err(e) => report.push(format!("{bound}x{branches}: {e}")),
            }
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

const MEM: usize = testgen::RESULT_BYTES;

/// A random program over raw memory (`r1`, [`MEM`] bytes): a counted loop whose body
/// sets `r8`/`r9` and a spilled slot to path-dependent values (branches on memory
/// bytes), then one of them used as a stack or memory offset — inside the loop on one
/// branch, or after it.
/// With `xdp`, the branches test bits of `xdp_md` fields instead of memory bytes and
/// every offset indexes the stack (so the kernel can load it).
fn offset_program(rng: &mut Rng, xdp: bool) -> Vec<Insn> {
    let k = |rng: &mut Rng| rng.below(48) as i32 - 8;
    let read = |rng: &mut Rng| -> Vec<Insn> {
        if xdp {
            vec![
                ldx(W, R3, R6, rng.pick(&[12, 16, 20])),
                alu(Rsh, R3, rng.below(24) as i32),
            ]
        } else {
            vec![ldx(B, R3, R6, rng.below(MEM as u64) as i16)]
        }
    };
    let cond = |rng: &mut Rng| rng.pick(&[JmpCond::Gt, JmpCond::Lt, JmpCond::Eq, JmpCond::Set]);
    let mut p = vec![
        movr(R6, R1),
        mov(R7, 0),
        mov(R8, k(rng)),
        mov(R9, k(rng)),
        stx(DW, R10, -8, R8),
    ];
    let use_offset = |rng: &mut Rng| -> Vec<Insn> {
        match rng.below(3) {
            1 if xdp => vec![
                movr(R2, R10),
                alu(Add, R2, -48),
                alur(Add, R2, R9),
                st(B, R2, 0, 1),
            ],
            0 => vec![
                movr(R2, R10),
                alu(Add, R2, -40),
                alur(Add, R2, R8),
                st(B, R2, 0, 1),
            ],
            1 => vec![movr(R2, R6), alur(Add, R2, R9), ldx(B, R0, R2, 0)],
            _ => vec![
                ldx(DW, R2, R10, -8),
                movr(R4, R10),
                alu(Add, R4, -40),
                alur(Add, R4, R2),
                st(B, R4, 0, 1),
            ],
        }
    };
    let mut body = read(rng);
    for _ in 0..1 + rng.below(5) {
        let c = cond(rng);
        let imm = rng.below(256) as i32;
        let set: Vec<Insn> = match rng.below(6) {
            0 => vec![mov(R8, k(rng))],
            1 => vec![alu(Add, R9, k(rng) / 4)],
            2 => vec![movr(R8, R9)],
            3 => vec![stx(DW, R10, -8, rng.pick(&[R8, R9]))],
            4 => vec![ldx(DW, R8, R10, -8)],
            _ => use_offset(rng),
        };
        body.push(jmp(c, R3, imm, set.len() as i16));
        body.extend(set);
        if rng.chance(1, 3) {
            body.extend(read(rng));
        }
    }
    body.push(alu(Add, R7, 1));
    let back = -(body.len() as i16) - 1;
    p.extend(body);
    p.push(jmp(JLT, R7, 1 + rng.below(6) as i32, back));
    p.extend(use_offset(rng));
    p.extend([mov(R0, 0), exit()]);
    p
}

/// Accepted offset programs never fault in checked mode, on many memory contents (each
/// byte steers the branches); some must be accepted and some rejected.
#[test]
fn path_dependent_offsets_never_fault() {
    let helpers = Registry::standard();
    let ty = RawMem { size: MEM as u32 };
    let config = VerifyConfig::new(&ty);
    let (mut accepted, mut total) = (0, 0);
    for seed in 0..n_programs(1500) {
        let mut rng = Rng::new(seed ^ 0x9e37_79b9);
        let insns = offset_program(&mut rng, false);
        let prog = testgen::locate(&insns);
        total += 1;
        if verify(&prog, &config).is_err() {
            continue;
        }
        accepted += 1;
        let interp = Interpreter::new(&prog, &helpers).expect("verified program loads");
        for _ in 0..64 {
            let mut mem = vec![0u8; MEM];
            for b in mem.iter_mut() {
                *b = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.below(256) as u8,
                };
            }
            let mut ctx = RunContext::new();
            match interp.run_with_mem(&mut ctx, &mut mem) {
                Ok(_) | Err(RunError::Budget { .. }) => {}
                Err(e) => panic!("seed {seed}: verified program faults: {e}\n{insns:?}"),
            }
        }
    }
    assert!(
        accepted > total / 10 && accepted < total,
        "{accepted} of {total} accepted"
    );
}

/// The XDP form of the offset programs: never accepted where the kernel rejects (an
/// unsound prune would show up as exactly that); rejections the kernel accepts are
/// reported but allowed (bounds the kernel tracks differently).
#[test]
fn path_dependent_offsets_agree_with_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let (mut same, mut unsound, mut stricter, mut both_accept) = (0, Vec::new(), 0, 0);
    let total = n_programs(300);
    for seed in 0..total {
        let mut rng = Rng::new(seed ^ 0x51ed_270b);
        let insns = offset_program(&mut rng, true);
        let ours = run(&accept("offsets", Ty::Xdp, insns.clone()), 0);
        let kernel = kernel_processed(&testgen::to_bytes(&insns), &[]);
        match (&ours, &kernel) {
            (Ok(_), Err(e)) => unsound.push(format!("seed {seed}: kernel {e}\n{insns:?}")),
            (Err(_), Ok(_)) => stricter += 1,
            (Ok(_), Ok(_)) => {
                same += 1;
                both_accept += 1;
            }
            _ => same += 1,
        }
    }
    eprintln!("{same} same verdicts ({both_accept} accepted), {stricter} rejected by oxbpf only");
    assert!(
        both_accept > 0 && both_accept < same,
        "both verdicts must occur"
    );
    assert!(
        same * 10 > total * 8,
        "only {same} of {total} same verdicts"
    );
    assert!(unsound.is_empty(), "{}", unsound.join("\n"));
}
