//! The report as markdown tables (what bench/RESULTS.md holds).

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Engine, Measured, Report, Row};

/// CPU model and kernel release of this machine.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown kernel".into());
    let jit = std::fs::read_to_string("/proc/sys/net/core/bpf_jit_enable")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!(
        "CPU: {cpu} ({cpus} CPUs available); Linux {kernel}; bpf_jit_enable={jit}; {}; \
         native C: {}",
        env!("OXBPF_BENCH_RUSTC"),
        env!("OXBPF_BENCH_CC")
    )
}

fn ns(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn cell(row: &Row, engine: Engine, kernel_empty: Option<f64>) -> String {
    let Some((_, outcome)) = row.results.iter().find(|(e, _)| *e == engine) else {
        return "-".into();
    };
    match outcome {
        Ok(m) if engine == Engine::Kernel => match kernel_empty {
            Some(e) => format!("{} ({})", ns((m.ns() - e).max(0.0)), ns(m.ns())),
            None => ns(m.ns()),
        },
        Ok(m) => ns(m.ns()),
        // One line per cell: verifier logs and the like stay out of the table.
        Err(why) => why.lines().next().unwrap_or("").replace('|', "/"),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "n/a".into(),
    }
}

/// Kernel time net of the empty program's, for ratios.
fn kernel_net(row: &Row, kernel_empty: Option<f64>) -> Option<f64> {
    let raw = row.get(Engine::Kernel)?.ns();
    Some((raw - kernel_empty?).max(0.0))
}

/// Renders the report.
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    let kernel_empty = report
        .rows
        .iter()
        .find(|r| r.name == crate::programs::EMPTY)
        .and_then(|r| r.get(Engine::Kernel))
        .map(Measured::ns);
    let _ = writeln!(s, "Command: `cargo bench -p oxbpf-bench`\n");
    let _ = writeln!(s, "{}\n", machine());
    if let Some(why) = &report.kernel_skipped {
        let why = why.lines().next().unwrap_or("");
        let _ = writeln!(s, "Kernel column skipped: {why}\n");
    }

    let _ = writeln!(s, "### Time per run (ns, median)\n");
    let mut head = String::from("| benchmark | what | slots | eBPF insns/run |");
    let mut rule = String::from("|---|---|---:|---:|");
    for e in Engine::ALL {
        let title = if e == Engine::Kernel {
            "kernel JIT net (raw)"
        } else {
            e.title()
        };
        let _ = write!(head, " {title} |");
        rule.push_str("---:|");
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for row in &report.rows {
        let insns = row
            .get(Engine::Interp)
            .and_then(|m| m.insns)
            .map_or("-".into(), |n| n.to_string());
        let _ = write!(
            s,
            "| {} | {} | {} | {insns} |",
            row.name, row.description, row.slots
        );
        for e in Engine::ALL {
            let _ = write!(s, " {} |", cell(row, e, kernel_empty));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\nKernel: `net` subtracts the empty program's time ({}), i.e. the per-run cost of \
         BPF_PROG_TEST_RUN's loop; `raw` is what the kernel reports.\n",
        kernel_empty.map_or("not measured".into(), |e| format!("{} ns", ns(e)))
    );

    let _ = writeln!(s, "### Ratios and interpreter throughput\n");
    let _ = writeln!(
        s,
        "Ratios of median times; lower is faster for the engine named first. JIT cells: \
         checked / unchecked.\n"
    );
    let _ = writeln!(
        s,
        "| benchmark | oxbpf JIT / kernel JIT (net) | oxbpf JIT / native | oxbpf interp / rbpf interp | \
         oxbpf interp (unchecked) / rbpf interp | oxbpf interp M insns/s | oxbpf interp (unchecked) M insns/s | \
         rbpf interp M insns/s |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in &report.rows {
        let t = |e: Engine| row.get(e).map(Measured::ns);
        // Every engine runs the same instructions; oxbpf's interpreter counts them.
        let insns = row.get(Engine::Interp).and_then(|m| m.insns);
        let mips = |e: Engine| {
            row.get(e)
                .and_then(|m| insns.map(|n| n as f64 / m.ns() * 1e3))
                .map_or("n/a".into(), |v| format!("{v:.0}"))
        };
        let both = |base: Option<f64>| {
            format!(
                "{} / {}",
                ratio(t(Engine::Jit), base),
                ratio(t(Engine::JitUnchecked), base)
            )
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            both(kernel_net(row, kernel_empty)),
            both(t(Engine::Native)),
            ratio(t(Engine::Interp), t(Engine::RbpfInterp)),
            ratio(t(Engine::InterpUnchecked), t(Engine::RbpfInterp)),
            mips(Engine::Interp),
            mips(Engine::InterpUnchecked),
            mips(Engine::RbpfInterp),
        );
    }

    let _ = writeln!(s, "\n### oxbpf's verifier on the programs (as XDP)\n");
    let _ = writeln!(
        s,
        "| benchmark | verdict | instructions processed | time (median) | kernel verifier: processed |\n\
         |---|---|---:|---:|---:|"
    );
    for row in &report.rows {
        let kernel = match &row.kernel_processed {
            Ok(n) => n.to_string(),
            Err(why) => why.lines().next().unwrap_or("").replace('|', "/"),
        };
        let _ = match &row.verified {
            Ok(v) => writeln!(
                s,
                "| {} | accepted | {} | {} | {kernel} |",
                row.name,
                v.processed,
                dur(v.time)
            ),
            Err(why) => writeln!(
                s,
                "| {} | {} | - | - | {kernel} |",
                row.name,
                why.replace('|', "/")
            ),
        };
    }

    if let Some(load) = &report.load {
        let _ = writeln!(
            s,
            "\n### Load time of the {}-slot program (`large`, median)\n",
            load.slots
        );
        let _ = writeln!(s, "| engine | load time |\n|---|---:|");
        for (name, t) in &load.times {
            let v = match t {
                Ok(d) => dur(*d),
                Err(why) => why.replace('|', "/"),
            };
            let _ = writeln!(s, "| {name} | {v} |");
        }
    }
    s
}
