//! The running kernel as oracle: every XDP case of the table is also loaded with
//! `bpf(BPF_PROG_LOAD)` through [`crate::kernel`] (as root) and the kernel's verdict compared with ours. Known
//! differences are listed with their reason; an unexpected one fails the test.

use super::btf_gen::BtfGen;
use super::*;
use crate::isa::Located;
use crate::kernel::{Btf, Map, MapBtf, MapCreate, ProgBtf, ProgLoad, Program, PROG_TYPE_XDP};
use std::os::fd::{AsFd, AsRawFd};

/// Cases where the verdicts differ on purpose, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "dereference a map handle",
        "the kernel lets root read `struct bpf_map` fields through BTF; oxbpf has no kernel objects",
    ),
    (
        "narrow read of a spilled constant",
        "oxbpf reads any bytes of a spilled constant precisely; the kernel only its low bytes",
    ),
];

/// Rejections whose kernel message differs from ours, with the reason.
const KNOWN_WORDING: &[(&str, &str)] = &[
    (
        "32-bit jump does not bound a 64-bit value",
        "oxbpf keeps signed bounds through left shifts; the kernel drops them, so it rejects earlier",
    ),
    ("kfunc call", "kfuncs are not supported by oxbpf's verifier"),
    ("indirect call", "callx is not supported by oxbpf's verifier"),
    ("BTF id load", "BTF ids are not supported by oxbpf's verifier"),
    (
        "jump into the second half of lddw",
        "the kernel reports the skipped lddw as unreachable before the bad target",
    ),
    ("map index out of range", "the oracle passes fd -1 for a map index that does not exist"),
    (
        "const str: data_len not a multiple of 8",
        "the kernel fails with EINVAL and no message",
    ),
];

/// The kernel program type number a case loads as (`None`: not a kernel type).
fn kernel_type(ty: Ty) -> Option<u32> {
    match ty {
        Ty::Xdp => Some(PROG_TYPE_XDP),
        Ty::Named(n) => crate::program::ProgramType::from_name(n).map(|t| t.id),
        Ty::Raw(_) | Ty::Ranged => None,
    }
}

/// A map of the case created for real: the map and what keeps its BTF and inner
/// template alive.
struct KernelMap {
    map: Map,
    _btf: Option<Btf>,
    _inner: Option<Map>,
}

/// Creates map `i` of the case: with BTF (a value struct, with a `struct bpf_spin_lock`
/// where the case says so) and an inner template for map-in-map.
fn create_map(c: &Case, i: usize) -> Option<KernelMap> {
    let m = c.maps[i];
    let meta = c.meta.get(i).cloned().unwrap_or_default();
    let inner = match meta.inner {
        Some(t) => Some(
            Map::create(&MapCreate {
                map_type: t.map_type,
                key_size: t.key_size,
                value_size: t.value_size,
                max_entries: t.max_entries,
                flags: t.flags,
                ..MapCreate::default()
            })
            .ok()?,
        ),
        None => None,
    };
    let btf = if meta.btf {
        let mut g = BtfGen::new();
        let int = g.int("int", 4);
        let members: Vec<(&str, u32, u32)> = match meta.spin_lock_off {
            Some(off) => {
                let lock = g.structure("bpf_spin_lock", 4, &[("val", int, 0)]);
                vec![("lock", lock, off)]
            }
            None => vec![("x", int, 0)],
        };
        let val = g.structure("val", m.value_size, &members);
        let key = if m.key_size == 4 { int } else { 0 };
        Some((Btf::load(&g.bytes(), 0).ok()?, key, val))
    } else {
        None
    };
    let map = Map::create(&MapCreate {
        map_type: m.map_type,
        key_size: m.key_size,
        value_size: m.value_size,
        max_entries: m.max_entries,
        flags: m.flags,
        name: &meta.name,
        inner_map_fd: inner.as_ref().map(|x| x.as_fd()),
        btf: btf.as_ref().map(|(b, key, val)| MapBtf {
            btf_fd: b.as_fd(),
            key_type_id: *key,
            value_type_id: *val,
            vmlinux_value_type_id: 0,
        }),
        ..MapCreate::default()
    })
    .ok()?;
    // A frozen map (`.rodata`) gets its first value, then is frozen.
    if let Some(value) = &meta.frozen {
        if !value.is_empty() {
            map.update(&0u32.to_ne_bytes(), value, 0).ok()?;
        }
        map.freeze().ok()?;
    }
    Some(KernelMap {
        map,
        _btf: btf.map(|b| b.0),
        _inner: inner,
    })
}

/// Slots where subprograms start (0, call and function-pointer targets).
fn subprog_starts(insns: &[Located]) -> Vec<usize> {
    let mut v = vec![0usize];
    for l in insns {
        match l.insn {
            Insn::Call(crate::isa::CallTarget::Local(imm))
            | Insn::LdImm64 {
                pseudo: crate::isa::LdPseudo::Func,
                imm,
                ..
            } => v.push((l.slot as i64 + 1 + i64::from(imm)).max(0) as usize),
            _ => {}
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Loads the case's program with `bpf(BPF_PROG_LOAD)` as its type (maps created for
/// real, referenced through `fd_array`; cases with `func_info` — by default those
/// passing callbacks, which the kernel requires for them — get BTF `func_info` for every
/// subprogram); returns the kernel's verdict and log, or `None`
/// if the type has no kernel number or a map cannot be created.
pub(super) fn kernel_verdict(c: &Case) -> Option<(bool, String)> {
    let prog_type = kernel_type(c.ty)?;
    let maps: Vec<KernelMap> = (0..c.maps.len())
        .map(|i| create_map(c, i))
        .collect::<Option<_>>()?;
    let fds: Vec<_> = maps.iter().map(|m| m.map.as_fd().as_raw_fd()).collect();
    let mut bytes = Vec::new();
    for i in &c.insns {
        i.encode_into(&mut bytes);
    }
    let decoded = assemble(&c.insns);
    let callbacks = c.has_func_info();
    let mut g = BtfGen::new();
    let func_info = g.funcs(&subprog_starts(&decoded));
    let prog_btf = if callbacks {
        Some(Btf::load(&g.bytes(), 0).ok()?)
    } else {
        None
    };
    let load = ProgLoad {
        license: if c.gpl { "GPL" } else { "MIT" },
        fd_array: &fds,
        log_level: 1,
        btf: prog_btf.as_ref().map(|b| ProgBtf {
            btf_fd: b.as_fd(),
            func_info: &func_info,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
        }),
        ..ProgLoad::new(prog_type, &bytes)
    };
    Some(match Program::load(&load) {
        Ok(p) => (true, p.log().to_string()),
        Err(e) => (false, e.log().unwrap_or_default().to_string()),
    })
}

fn all_cases() -> Vec<Case> {
    [
        super::cases_alu::cases(),
        super::cases_calls::cases(),
        super::cases_cfg::cases(),
        super::cases_helpers::cases(),
        super::cases_mem::cases(),
        super::cases_pkt::cases(),
        super::cases_feat::cases(),
        super::cases_rules::cases(),
        super::cases_precision::cases(),
        super::cases_str::cases(),
        super::cases_btf::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn verdicts_match_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let mut compared = 0;
    let mut kernel_accepts = 0;
    let mut diffs = Vec::new();
    for c in all_cases() {
        if kernel_type(c.ty).is_none() || c.limit.is_some() || c.insns.is_empty() {
            continue;
        }
        let Some((kernel_ok, klog)) = kernel_verdict(&c) else {
            continue;
        };
        compared += 1;
        kernel_accepts += usize::from(kernel_ok);
        let ours_ok = matches!(c.expect, Expect::Accept);
        let known = KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == c.name);
        // Where both reject, the kernel's log should contain our message.
        if let (Expect::Reject(m), false) = (c.expect, kernel_ok) {
            let known_wording = KNOWN_WORDING.iter().any(|(n, _)| *n == c.name);
            if !klog.contains(m) && !known_wording {
                let last = klog.lines().rev().nth(1).unwrap_or("").to_string();
                diffs.push(format!("{}: wording {m:?} | kernel {last:?}", c.name));
            }
        }
        if (kernel_ok != ours_ok) != known {
            let last = klog.lines().rev().nth(1).unwrap_or("").to_string();
            diffs.push(format!(
                "{}: kernel {} ours {} | {}",
                c.name, kernel_ok, ours_ok, last
            ));
        }
    }
    eprintln!(
        "kernel oracle: {compared} cases compared ({} accepted, {} rejected by the kernel), {} differ",
        kernel_accepts,
        compared - kernel_accepts,
        diffs.len()
    );
    assert!(compared > 100, "only {compared} cases compared");
    assert!(
        diffs.is_empty(),
        "{} of {compared} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// Random bounds programs: our verdict against the kernel's. Where the kernel accepts
/// and we reject, our bounds are less precise; where we accept and the kernel rejects,
/// ours are more precise (both are safe: checked-mode runs prove nothing faults).
#[test]
fn bounds_agree_with_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let (mut same, mut less, mut more) = (0, Vec::new(), Vec::new());
    let n = n_programs(4000);
    for seed in 0..n {
        let mut rng = crate::testgen::Rng::new(seed);
        let insns = super::random::bounds_program(&mut rng);
        let c = accept("bounds", Ty::Xdp, insns.clone());
        let ours = run(&c, 1);
        let Some((kernel_ok, _)) = kernel_verdict(&c) else {
            continue;
        };
        match (ours.is_ok(), kernel_ok) {
            (a, b) if a == b => same += 1,
            (false, true) => less.push((seed, ours.err().map(|e| e.log).unwrap_or_default())),
            _ => more.push(seed),
        }
    }
    // Never less precise than the kernel here; where more precise, the run-time test in
    // `random.rs` checks that the extra acceptances are safe.
    let first = less
        .first()
        .map(|(seed, log)| format!("seed {seed}:\n{log}"))
        .unwrap_or_default();
    assert!(
        less.is_empty(),
        "{} less precise than the kernel ({same} agree, {} more precise); first: {first}",
        less.len(),
        more.len()
    );
    assert!(same * 4 > n * 3, "only {same} of {n} agree");
}

/// A random direct packet access: `data + n` compared with `data_end` in some form, then
/// a load or store at some offset on one of the edges.
fn pkt_program(rng: &mut crate::testgen::Rng) -> Vec<Insn> {
    use super::asm::*;
    use crate::isa::JmpCond;
    let n = rng.below(20) as i32 - 2;
    let cond = rng.pick(&[
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Eq,
        JmpCond::Ne,
        JmpCond::Sgt,
    ]);
    let swap = rng.chance(1, 2);
    let access_on_taken = rng.chance(1, 2);
    let size = rng.pick(&[B, H, W, DW]);
    let off = rng.below(20) as i16 - 2;
    let base = rng.pick(&[R2, R4]);
    let mut p = vec![
        ldx(W, R2, R1, 0),
        ldx(W, R3, R1, 4),
        movr(R4, R2),
        alu(Add, R4, n),
    ];
    p.push(if swap {
        jmpr(cond, R3, R4, 2)
    } else {
        jmpr(cond, R4, R3, 2)
    });
    let access = if rng.chance(1, 2) {
        ldx(size, R0, base, off)
    } else {
        st(size, base, off, 1)
    };
    if access_on_taken {
        p.extend([mov(R0, 2), exit(), access, mov(R0, 2), exit()]);
    } else {
        p.extend([access, mov(R0, 2), exit(), mov(R0, 2), exit()]);
    }
    p
}

/// Random packet checks and accesses: the verdict matches the kernel's on every one
/// (bounds proven on the right edge, one more byte after a strict comparison).
#[test]
fn packet_ranges_agree_with_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let mut diffs = Vec::new();
    let mut same = 0;
    let n = n_programs(800);
    for seed in 0..n {
        let mut rng = crate::testgen::Rng::new(seed);
        let insns = pkt_program(&mut rng);
        let c = accept("pkt", Ty::Xdp, insns.clone());
        let r = run(&c, 1);
        let ours = r.is_ok();
        let Some((kernel_ok, klog)) = kernel_verdict(&c) else {
            continue;
        };
        if ours == kernel_ok {
            same += 1;
        } else {
            let our_log = r.err().map(|e| e.log).unwrap_or_default();
            diffs.push(format!(
                "seed {seed}: ours {ours} kernel {kernel_ok}\n{our_log}\n{klog}"
            ));
        }
    }
    assert!(same * 10 > n * 9, "only {same} of {n} compared");
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(3)].join("\n")
    );
}

/// Random stack traffic: stores of constants, numbers and pointers of every size, loads
/// back, then a loaded value used as a pointer or as an offset.
fn stack_program(rng: &mut crate::testgen::Rng) -> Vec<Insn> {
    use super::asm::*;
    let mut p = vec![
        ldx(W, R6, R1, 12),
        mov(R7, 5),
        movr(R8, R10),
        alu(Add, R8, -32),
        mov(R0, 2),
    ];
    let sized_off = |rng: &mut crate::testgen::Rng, size: crate::isa::Size| {
        let slot = -8 * (1 + rng.below(3) as i16);
        let n = size.bytes() as i16;
        slot + n * rng.below((8 / n) as u64) as i16
    };
    for _ in 0..1 + rng.below(4) {
        let size = rng.pick(&[B, H, W, DW, DW]);
        let off = sized_off(rng, size);
        p.push(match rng.below(5) {
            0 => st(size, R10, off, rng.pick(&[0, 0, 1, 8, -1])),
            1 => stx(size, R10, off, R6),
            2 => stx(size, R10, off, R7),
            3 => stx(DW, R10, -8 * (1 + rng.below(3) as i16), R8),
            _ => stx(DW, R10, -8 * (1 + rng.below(3) as i16), R1),
        });
    }
    for r in [R2, R3, R4] {
        let size = rng.pick(&[B, H, W, DW, DW, DW]);
        p.push(ldx(size, r, R10, sized_off(rng, size)));
    }
    let r = rng.pick(&[R2, R3, R4]);
    p.extend(match rng.below(3) {
        0 => vec![ldx(B, R0, r, 0)],
        1 => vec![
            movr(R5, R10),
            alu(Add, R5, -256),
            alur(Add, R5, r),
            st(B, R5, 0, 0),
        ],
        _ => vec![ldx(W, R0, r, 12)],
    });
    p.extend([mov(R0, 2), exit()]);
    p
}

/// Random stack traffic: the verdict matches the kernel's, except where a load reads
/// bytes of a spilled constant that the kernel treats as unknown.
#[test]
fn stack_traffic_agrees_with_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let mut diffs = Vec::new();
    let (mut same, mut more) = (0, 0);
    let n = n_programs(1500);
    for seed in 0..n {
        let mut rng = crate::testgen::Rng::new(seed);
        let c = accept("stack", Ty::Xdp, stack_program(&mut rng));
        let r = run(&c, 1);
        let ours = r.is_ok();
        let Some((kernel_ok, klog)) = kernel_verdict(&c) else {
            continue;
        };
        if ours == kernel_ok {
            same += 1;
        } else if ours {
            // Ours reads bytes of a spilled constant precisely; the kernel's only its
            // low bytes (safe either way).
            more += 1;
        } else {
            let our_log = r.err().map(|e| e.log).unwrap_or_default();
            diffs.push(format!(
                "seed {seed}: ours {ours} kernel {kernel_ok}\n{our_log}\n{klog}"
            ));
        }
    }
    assert!(
        same * 10 > n * 9,
        "only {same} of {n} agree ({more} more precise)"
    );
    assert!(
        diffs.is_empty(),
        "{} less precise:\n{}",
        diffs.len(),
        diffs[..diffs.len().min(3)].join("\n")
    );
}

/// A random counted loop: a counter stepped toward a constant or a masked context value,
/// optionally used as a stack offset in the body.
fn loop_program(rng: &mut crate::testgen::Rng) -> Vec<Insn> {
    use super::asm::*;
    use crate::isa::JmpCond;
    let mask = rng.pick(&[0x7, 0xff, 0xfff]);
    let step = rng.pick(&[1, 1, 2, 3, 8]);
    let bound = rng.pick(&[4, 10, 100, 300]);
    let mut p = vec![ldx(W, R2, R1, 12), alu(And, R2, mask), mov(R3, 0)];
    let mut body = vec![alu(Add, R3, step)];
    if rng.chance(1, 2) {
        body.extend([
            movr(R4, R3),
            alu(And, R4, 0xff),
            movr(R5, R10),
            alu(Add, R5, -256),
            alur(Add, R5, R4),
            st(B, R5, 0, 1),
        ]);
    }
    let back = -(body.len() as i16) - 1;
    p.extend(body);
    p.push(match rng.below(3) {
        0 => jmp(
            rng.pick(&[JmpCond::Lt, JmpCond::Ne, JmpCond::Slt]),
            R3,
            bound,
            back,
        ),
        1 => jmpr(rng.pick(&[JmpCond::Lt, JmpCond::Slt]), R3, R2, back),
        _ => jmp32(JmpCond::Lt, R3, bound, back),
    });
    p.extend([mov(R0, 2), exit()]);
    p
}

/// Random counted loops (constant or masked bounds): same verdicts as the kernel.
#[test]
fn loops_agree_with_the_kernel() {
    if let Err(why) = crate::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        return;
    }
    let mut diffs = Vec::new();
    let mut same = 0;
    for seed in 0..30u64 {
        let mut rng = crate::testgen::Rng::new(seed);
        let c = accept("loop", Ty::Xdp, loop_program(&mut rng));
        let t = std::time::Instant::now();
        let r = run(&c, 1);
        let dt = t.elapsed();
        let ours = r.as_ref().is_ok();
        let our_stats = match &r {
            Ok(v) => v.stats.summary(1_000_000),
            Err(e) => e.message.clone(),
        };
        let Some((kernel_ok, klog)) = kernel_verdict(&c) else {
            continue;
        };
        if ours == kernel_ok {
            same += 1;
        } else {
            diffs.push(format!(
                "seed {seed}: ours {ours} ({our_stats}, {dt:?}) kernel {kernel_ok}: {}",
                klog.lines().rev().take(2).collect::<Vec<_>>().join(" | ")
            ));
        }
    }
    assert!(same > 25, "only {same} compared");
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
