//! Verification cost, oxbpf against the kernel: every example object, every benchmark
//! program and a generated large program; prints a markdown table (see
//! `oxbpf_bench::verify`). `cargo run --release -p oxbpf-bench --bin verify`.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    use oxbpf_bench::verify;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let kernel_ok = match oxbpf::kernel::available() {
        Ok(()) => true,
        Err(why) => {
            eprintln!("SKIPPED: kernel unavailable: {why}");
            false
        }
    };
    let mut rows = Vec::new();
    for dir in ["examples", "bench/programs"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "o"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for f in files {
            eprintln!("{}", f.display());
            rows.extend(verify::object_rows(&f, kernel_ok));
        }
    }
    rows.push(verify::generated_row(kernel_ok));
    print!("{}", verify::table(&rows));
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {
    eprintln!("the verification benchmark needs x86-64 Linux");
}
