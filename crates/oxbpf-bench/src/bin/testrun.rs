//! `BPF_PROG_TEST_RUN` ns per run, oxbpf against the kernel, on the example objects,
//! plus hash-map lookup cost (see `oxbpf_bench::testrun`); prints markdown tables.
//!
//! `cargo run --release -p oxbpf-bench --bin testrun -- [--repeat N] [--samples N] [--engine TITLE] [FILTER]`

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    use oxbpf_bench::testrun::{self, Params};
    let mut p = Params {
        repeat: 1_000_000,
        samples: 5,
    };
    let mut filter = None;
    let mut engine = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "--repeat" => p.repeat = num("--repeat") as u32,
            "--samples" => p.samples = num("--samples").max(1) as usize,
            // Only this oxbpf engine ("JIT unchecked", ...), no kernel: for profiling.
            "--engine" => engine = args.next(),
            f => filter = Some(f.to_owned()),
        }
    }
    if let Err(why) = oxbpf::kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {why}");
        eprintln!("!!! the kernel columns will be empty: no oxbpf/kernel ratio is measured !!!");
    }
    let report = testrun::run(p, filter.as_deref(), engine.as_deref(), |step| {
        eprintln!("running {step}")
    });
    print!("{}", testrun::markdown(&report));
    let bad = testrun::mismatches(&report);
    if !bad.is_empty() {
        panic!("engines disagree on retval:\n{}", bad.join("\n"));
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("the test_run comparison runs on x86-64 Linux only");
}
