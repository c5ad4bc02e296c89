//! Verification speed against the kernel's verifier: every example program both can
//! load, plus two larger generated programs (a 1,000-iteration bounded loop and 400
//! packet checks with branches). The kernel's numbers come from its log at level 1
//! (`verification time N usec`, `processed N insns`, with `BPF_LOG_STATS`). Run with
//! `cargo test -p oxbpf --lib runtime::bench_verify -- --ignored --nocapture`.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use super::tests_kernel::KernelObject;
use super::*;
use crate::kernel::{self, ProgBtf, ProgLoad};
use crate::verifier::{self, VerifyConfig};

/// `BPF_LOG_LEVEL1 | BPF_LOG_STATS`: the kernel prints the verification time only with
/// the stats bit.
const LOG_STATS: u32 = 1 | 4;

/// `verification time N usec` and `processed N insns` from a kernel log.
fn kernel_stats(log: &str) -> Option<(u64, u64)> {
    let time = log.lines().find_map(|l| {
        l.strip_prefix("verification time ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })?;
    let insns = log.lines().find_map(|l| {
        l.strip_prefix("processed ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })?;
    Some((time, insns))
}

/// Mean wall time in microseconds of `f` over enough runs to take ~50 ms (warm, as the
/// kernel's best of five loads is).
fn mean_us(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    let once = start.elapsed().as_secs_f64().max(1e-7);
    let n = ((0.05 / once) as u32).clamp(1, 2000);
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

/// The fastest of five kernel loads (the first is often cold).
fn best_of(mut load: impl FnMut() -> Option<(u64, u64)>) -> Option<(u64, u64)> {
    (0..5).filter_map(|_| load()).min_by_key(|&(t, _)| t)
}

fn row(name: &str, ours_us: f64, ours_insns: u64, kernel: Option<(u64, u64)>) {
    match kernel {
        Some((kt, ki)) => println!(
            "{name:<28} {ours_us:>9.1} {ours_insns:>9} {kt:>9} {ki:>9} {:>7.2}x",
            kt as f64 / ours_us
        ),
        None => println!(
            "{name:<28} {ours_us:>9.1} {ours_insns:>9} {:>9} {:>9}",
            "-", "-"
        ),
    }
}

fn kernel_load_log(k: &KernelObject, name: &str) -> Option<String> {
    let p = k.obj.program(name)?;
    let fds: Vec<i32> = k.maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let bytes = p.bind_maps(&fds).ok()?.concat();
    let (fi, li) = (p.func_info_bytes(), p.line_info_bytes());
    let kind = p.kind.clone()?;
    let pname = kernel_obj_name(name);
    let loaded = kernel::Program::load(&ProgLoad {
        license: &k.obj.license,
        expected_attach_type: kind.expected_attach_type.unwrap_or(0),
        name: &pname,
        log_level: LOG_STATS,
        btf: k.btf.as_ref().map(|b| ProgBtf {
            btf_fd: b.as_fd(),
            func_info: &fi,
            func_info_rec_size: 8,
            line_info: &li,
            line_info_rec_size: 16,
        }),
        ..ProgLoad::new(kind.prog_type, &bytes)
    })
    .ok()?;
    Some(loaded.log().to_string())
}

/// A bounded loop: 1,000 iterations of stack and ALU work.
fn loop_program() -> String {
    "r0 = 0\nr4 = 0\nl:\n*(u64 *)(r10 - 8) = r4\nr5 = *(u64 *)(r10 - 8)\nr5 *= 3\nr0 += r5\n\
     r0 &= 0xffff\nr4 += 1\nif r4 < 1000 goto l\nr0 = 2\nexit"
        .into()
}

/// 400 packet reads, each behind its own data_end check and a data-dependent branch.
fn packet_program() -> String {
    let mut s = String::from("r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr0 = 0\n");
    for i in 0..400 {
        let off = i % 1400;
        s.push_str(&format!(
            "r4 = r2\nr4 += {}\nif r4 > r3 goto out\nr5 = *(u8 *)(r2 + {off})\n\
             if r5 > 100 goto +1\nr0 += r5\n",
            off + 1
        ));
    }
    s.push_str("out:\nr0 = 2\nexit");
    s
}

#[test]
#[ignore = "benchmark: prints a table; run with --ignored --nocapture"]
fn verification_speed_vs_the_kernel() {
    let kernel_ok = kernel::available().is_ok();
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "program", "oxbpf us", "insns", "kernel us", "insns", "speedup"
    );
    let objects = [
        "hello.o",
        "proto_count.o",
        "lpm_route.o",
        "subprog.o",
        "tailcall.o",
        "misc.o",
        "types.o",
        "legacy_maps.o",
        "ringbuf.o",
        "kprobe_read.o",
        "btf_maps.o",
    ];
    for file in objects {
        let obj = super::tests::fixture(file);
        let mut rt = Runtime::new();
        rt.set_verify(false);
        let l = rt.load_object(&obj).unwrap();
        let k = kernel_ok.then(|| KernelObject::new(file));
        for p in &l.programs {
            let Some(Ok(v)) = rt.verify_program(p, 0) else {
                continue;
            };
            let us = mean_us(|| {
                let _ = rt.verify_program(p, 0);
            });
            let ks = k.as_ref().and_then(|k| {
                best_of(|| kernel_load_log(k, &p.func_name).and_then(|l| kernel_stats(&l)))
            });
            row(
                &format!("{file}/{}", p.func_name),
                us,
                v.stats.insns_processed,
                ks,
            );
        }
    }
    let xdp = crate::program::ProgramType::from_name("xdp").unwrap();
    let access = xdp.ctx_access().unwrap();
    for (name, src) in [
        ("loop-1000 (asm)", loop_program()),
        ("packet-checks-400 (asm)", packet_program()),
    ] {
        let prog = crate::asm::assemble_located(&src).unwrap();
        let config = VerifyConfig::new(&access);
        let v = verifier::verify(&prog, &config).unwrap();
        let us = mean_us(|| {
            let _ = verifier::verify(&prog, &config);
        });
        let bytes = crate::isa::encode(&prog);
        let ks = kernel_ok
            .then(|| {
                best_of(|| {
                    let p = kernel::Program::load(&ProgLoad {
                        log_level: LOG_STATS,
                        ..ProgLoad::new(xdp.id, &bytes)
                    })
                    .ok()?;
                    kernel_stats(p.log())
                })
            })
            .flatten();
        row(name, us, v.stats.insns_processed, ks);
    }
}
