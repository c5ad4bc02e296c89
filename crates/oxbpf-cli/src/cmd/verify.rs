//! `oxbpf verify`: run the verifier on an object's programs, raw bytecode or assembly and
//! print the kernel-worded log. Exit status 0 accepted, 1 rejected, 2 unusable input.

use clap::Args;
use serde_json::{json, Value};

use oxbpf::asm::{fmt_insn, DisasmOptions, Style};
use oxbpf::btf::LineInfo;
use oxbpf::helpers::Registry;
use oxbpf::isa::Located;
use oxbpf::program::ProgramType;
use oxbpf::runtime::{Program, Runtime, RuntimeError};
use oxbpf::verifier::{self, ctx::RawMem, Verified, VerifyConfig, VerifyError};

use super::prog::{self, Select};
use crate::input;
use crate::CliError;

/// Arguments of `oxbpf verify`.
#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    select: Select,
    /// 0: verdict only; 1: the failing path and the kernel's summary line; 2: every
    /// instruction of every path with its register state.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=2))]
    log_level: u32,
    /// Raw bytecode / assembly of the raw-memory type: bytes `r1` points to, as
    /// `oxbpf run --mem` would pass.
    #[arg(long, default_value_t = 0)]
    mem_size: u32,
    /// One JSON object per program: accepted, insn, error, processed_insns, log.
    #[arg(long)]
    json: bool,
}

/// One program's verdict.
struct Verdict {
    name: String,
    result: Result<Verified, VerifyError>,
    insns: Vec<Located>,
    line_info: Vec<LineInfo>,
    /// Why the runtime would not verify this program at load (a precision gap).
    note: Option<String>,
}

/// The `processed N insns` count of a log's summary line.
fn processed_from_log(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        l.strip_prefix("processed ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// The source line that covers slot `insn` (the last line-info entry at or before it).
fn source_line(line_info: &[LineInfo], insn: usize) -> Option<&LineInfo> {
    line_info
        .iter()
        .filter(|l| l.insn <= insn && !l.file_name.is_empty())
        .max_by_key(|l| l.insn)
}

/// A verifier rejection as the CLI reports it from `prog run`/`run`: the message, then
/// the verifier's log.
pub fn rejection(e: &RuntimeError) -> CliError {
    match e {
        RuntimeError::Verify { error, .. } => {
            CliError::Failed(format!("{e}\nverifier log:\n{}", error.log.trim_end()))
        }
        _ => CliError::Failed(e.to_string()),
    }
}

fn verdicts_of_object(a: &VerifyArgs) -> Result<Vec<Verdict>, CliError> {
    let mut rt = Runtime::new();
    rt.set_verify(false);
    // Unloadable objects (parse or link errors) are unusable input.
    let l = prog::load_in(rt, &a.select, false).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut out = Vec::new();
    for p in &l.programs {
        out.push(verdict_of(&l.rt, p, a.log_level)?);
    }
    Ok(out)
}

fn verdict_of(rt: &Runtime, p: &Program, level: u32) -> Result<Verdict, CliError> {
    let result = rt.verify_program(p, level).ok_or_else(|| {
        CliError::Usage(format!(
            "program {}: type {} has no verifier model; verify raw-memory programs as raw \
             bytecode with --mem-size",
            p.func_name, p.prog_type.bpftool_name
        ))
    })?;
    Ok(Verdict {
        name: p.func_name.clone(),
        result,
        insns: p.decoded(),
        line_info: p.line_info.clone(),
        note: rt.verify_gap(p),
    })
}

fn verdict_of_raw(a: &VerifyArgs) -> Result<Verdict, CliError> {
    let ty = match a.select.prog_type.as_deref() {
        Some(t) => Some(
            ProgramType::from_name(t)
                .ok_or_else(|| CliError::Usage(format!("unknown program type {t:?}")))?,
        ),
        None => None,
    };
    let insns = input::load_program(&a.select.file).map_err(|e| match e {
        CliError::Failed(m) => CliError::Usage(m),
        u => u,
    })?;
    let name = a
        .select
        .file
        .file_stem()
        .map_or("prog".into(), |s| s.to_string_lossy().into_owned());
    let raw = RawMem { size: a.mem_size };
    let access = ty.and_then(|t| t.ctx_access());
    let helpers = Registry::standard();
    let config = VerifyConfig {
        helpers: &helpers,
        log_level: a.log_level,
        ..match &access {
            Some(acc) => VerifyConfig::new(acc),
            None => VerifyConfig::new(&raw),
        }
    };
    Ok(Verdict {
        name,
        result: verifier::verify(&insns, &config),
        insns,
        line_info: Vec::new(),
        note: None,
    })
}

fn to_json(v: &Verdict) -> Value {
    match &v.result {
        Ok(ok) => json!({
            "prog": v.name,
            "accepted": true,
            "insn": null,
            "error": null,
            "processed_insns": ok.stats.insns_processed,
            "log": ok.log,
        }),
        Err(e) => {
            let src = source_line(&v.line_info, e.insn);
            json!({
                "prog": v.name,
                "accepted": false,
                "insn": e.insn,
                "error": e.message,
                "processed_insns": processed_from_log(&e.log),
                "source": src.map(|l| format!("{}:{}", l.file_name, l.line_num)),
                "note": v.note,
                "log": e.log,
            })
        }
    }
}

fn print_plain(v: &Verdict, several: bool) {
    if several {
        println!("program {}:", v.name);
    }
    // The verdict goes first so that the log ends with the kernel's summary line.
    match &v.result {
        Ok(ok) => {
            println!("verification OK: {} accepted", v.name);
            print!("{}", ok.log);
        }
        Err(e) => {
            let text = v
                .insns
                .iter()
                .find(|l| l.slot == e.insn)
                .map(|l| {
                    let opts = DisasmOptions {
                        hex: false,
                        ..DisasmOptions::new(Style::Llvm)
                    };
                    fmt_insn(&l.insn, l.slot, &opts)
                })
                .unwrap_or_default();
            println!(
                "verification failed: {} rejected at insn {}: {}",
                v.name, e.insn, text
            );
            if let Some(l) = source_line(&v.line_info, e.insn) {
                println!(
                    "; {} @ {}:{}:{}",
                    l.line.trim(),
                    l.file_name,
                    l.line_num,
                    l.column
                );
            }
            if let Some(n) = &v.note {
                println!("note: {n}");
            }
            // At level >= 1 the log holds the failing path, the instruction, the register
            // state, the message, the hint and the summary line.
            print!("{}", e.log);
        }
    }
}

/// `oxbpf verify FILE`.
pub fn verify(a: VerifyArgs) -> Result<(), CliError> {
    let bytes = input::read(&a.select.file)?;
    let verdicts = if bytes.starts_with(b"\x7fELF") {
        verdicts_of_object(&a)?
    } else {
        vec![verdict_of_raw(&a)?]
    };
    let rejected = verdicts.iter().filter(|v| v.result.is_err()).count();
    if a.json {
        let vals: Vec<Value> = verdicts.iter().map(to_json).collect();
        match vals.as_slice() {
            [one] => println!("{one}"),
            _ => println!("{}", Value::Array(vals)),
        }
    } else {
        for v in &verdicts {
            print_plain(v, verdicts.len() > 1);
        }
    }
    if rejected > 0 {
        return Err(CliError::Failed(format!(
            "{rejected} of {} program(s) rejected",
            verdicts.len()
        )));
    }
    Ok(())
}
