//! The benchmark suite: `cargo bench -p oxbpf-bench [-- [--quick] [NAME]]`.
//!
//! Prints markdown tables (time per run of every engine, ratios, interpreter throughput,
//! load times) on stdout and progress on stderr. Panics if two engines disagree on a
//! result.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    use oxbpf_bench::measure::Budget;
    use oxbpf_bench::{report, run, Options};

    let mut opts = Options {
        budget: Budget::DEFAULT,
        filter: None,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => opts.budget = Budget::QUICK,
            // cargo bench passes --bench; other harness flags do not apply here.
            a if a.starts_with("--") => {}
            name => opts.filter = Some(name.to_owned()),
        }
    }
    let report = run(&opts, |step| eprintln!("running {step}"));
    print!("{}", report::markdown(&report));
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("the oxbpf benchmark suite runs on x86-64 Linux only");
}
