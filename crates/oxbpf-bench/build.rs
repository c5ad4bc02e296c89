//! Compiles the benchmark programs' C sources (bench/programs/*.c) for the host, so the
//! "native" column runs the same C as the eBPF engines, built with -O2.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("../../bench/programs");
    let mut build = cc::Build::new();
    // -O2 as for the BPF objects (the bench profile would otherwise pass -O3).
    build.opt_level(2).warnings(false);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("bench/programs exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    sources.sort();
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
        build.file(src);
    }
    println!("cargo:rerun-if-changed={}", dir.join("bench.h").display());
    build.compile("oxbpf_bench_native");
}
