//! Compiles the benchmark programs' C sources (bench/programs/*.c) for the host, so the
//! "native" column runs the same C as the eBPF engines, built with -O2.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dir = manifest.join("../../bench/programs");
    let mut build = cc::Build::new();
    // -O2 as for the BPF objects (the bench profile would otherwise pass -O3).
    build.opt_level(2).warnings(false);
    // The same compiler as the BPF objects when it is installed (and CC does not say
    // otherwise), so native and BPF code come from the same optimizer.
    println!("cargo:rerun-if-env-changed=CC");
    if std::env::var_os("CC").is_none()
        && std::process::Command::new("clang-19")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    {
        build.compiler("clang-19");
    }
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

    // Toolchain versions for the report's header.
    let version = |cmd: &std::ffi::OsStr| {
        std::process::Command::new(cmd)
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".into())
    };
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    println!("cargo:rustc-env=OXBPF_BENCH_RUSTC={}", version(&rustc));
    let cc = build.get_compiler();
    println!(
        "cargo:rustc-env=OXBPF_BENCH_CC={}",
        version(cc.path().as_os_str())
    );
}
