//! `oxbpf run`: run a raw program on a memory buffer, and the conformance-runner plugin.

use crate::input;
use crate::CliError;
use clap::{Args, ValueEnum};
use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode, RunError};
use oxbpf::isa::Located;
use oxbpf::jit::{JitOptions, JitProgram};
use oxbpf::verifier::{self, ctx::RawMem, VerifyConfig};
use oxbpf::vm::RunContext;
use std::io::Read;
use std::path::PathBuf;

/// Execution engine.
#[derive(Clone, Copy, ValueEnum)]
pub enum Engine {
    /// The interpreter.
    Interp,
    /// The x86-64 JIT compiler (checked mode).
    Jit,
}

/// Arguments of `oxbpf run`.
#[derive(Args)]
pub struct RunArgs {
    /// Program: raw bytecode (8 bytes per slot) or assembly text.
    program: PathBuf,
    /// Input memory as hex bytes (r1 points to a private copy, r2 is its length).
    #[arg(long, conflicts_with = "mem")]
    mem_hex: Option<String>,
    /// Input memory from a file.
    #[arg(long)]
    mem: Option<PathBuf>,
    /// Execution engine.
    #[arg(long, value_enum, default_value = "interp")]
    engine: Engine,
    /// Run the program this many times (memory is reset before each run); reports the
    /// average duration.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Instruction budget per run (0: unlimited).
    #[arg(long, default_value_t = 1_000_000)]
    budget: u64,
    /// Print one JSON object: retval, mem (hex), trace, duration_ns, insns.
    #[arg(long)]
    json: bool,
    /// Run without verifying first: memory accesses are checked at run time. By default
    /// the program is verified (raw-memory type, `r1` = the input's size) and runs
    /// unchecked.
    #[arg(long)]
    no_verify: bool,
}

/// The outcome of running a raw program.
struct Outcome {
    retval: u64,
    mem: Vec<u8>,
    trace: Vec<String>,
    duration_ns: u64,
    insns: u64,
}

/// Runs a program (with `mem` as its input memory, if not empty) in one engine.
type Runner = Box<dyn Fn(&mut RunContext, &mut [u8]) -> Result<u64, RunError>>;

fn execute(
    prog: &[Located],
    mem_in: &[u8],
    repeat: u64,
    budget: u64,
    engine: Engine,
    verified: bool,
) -> Result<Outcome, CliError> {
    let helpers = Registry::standard();
    let budget = (budget != 0).then_some(budget);
    let failed = |e: &dyn std::fmt::Display| CliError::Failed(e.to_string());
    let run: Runner = match engine {
        Engine::Interp => {
            let mut vm = Interpreter::new(prog, &helpers).map_err(|e| failed(&e))?;
            vm.set_budget(budget);
            if verified {
                // SAFETY: the verifier proved every access in bounds for r1 pointing to
                // `mem_in.len()` bytes, which is what each run passes.
                unsafe { vm.set_mode(Mode::Unchecked) };
            }
            Box::new(move |ctx, mem| {
                if mem.is_empty() {
                    vm.run(ctx, 0, 0)
                } else {
                    vm.run_with_mem(ctx, mem)
                }
            })
        }
        Engine::Jit => {
            let mut opts = JitOptions::new().budget(budget);
            if verified {
                // SAFETY: as for the interpreter: verified for r1 pointing to
                // `mem_in.len()` bytes, which each run passes.
                opts = unsafe { opts.unchecked() };
            }
            let jit = JitProgram::compile(prog, &helpers, None, opts).map_err(|e| failed(&e))?;
            Box::new(move |ctx, mem| {
                if mem.is_empty() {
                    jit.run(ctx, 0, 0)
                } else {
                    jit.run_with_mem(ctx, mem)
                }
            })
        }
    };
    let mut ctx = RunContext::new();
    let mut mem = mem_in.to_vec();
    let mut retval = 0;
    let start = std::time::Instant::now();
    for _ in 0..repeat {
        mem.copy_from_slice(mem_in);
        retval = run(&mut ctx, &mut mem).map_err(|e| CliError::Failed(e.to_string()))?;
    }
    let duration_ns = (start.elapsed().as_nanos() / u128::from(repeat)) as u64;
    Ok(Outcome {
        retval,
        mem,
        trace: ctx
            .trace
            .take()
            .into_iter()
            .map(|l| l.to_string())
            .collect(),
        duration_ns,
        insns: ctx.insn_count,
    })
}

/// Verifies a raw program for `r1` pointing to `size` bytes (the raw-memory type).
fn verify_raw(prog: &[Located], size: usize) -> Result<(), CliError> {
    let raw = RawMem {
        size: u32::try_from(size)
            .map_err(|_| CliError::Usage(format!("input memory of {size} bytes is too large")))?,
    };
    let helpers = Registry::standard();
    let config = VerifyConfig {
        helpers: &helpers,
        log_level: 1,
        ..VerifyConfig::new(&raw)
    };
    verifier::verify(prog, &config).map(|_| ()).map_err(|e| {
        CliError::Failed(format!(
            "verifier rejected the program at insn {}: {} (run it unverified with \
             --no-verify)\nverifier log:\n{}",
            e.insn,
            e.message,
            e.log.trim_end()
        ))
    })
}

/// `oxbpf run PROGRAM`.
pub fn run(a: RunArgs) -> Result<(), CliError> {
    let prog = input::load_program(&a.program)?;
    let mem = match (&a.mem_hex, &a.mem) {
        (Some(h), _) => input::parse_hex(h)?,
        (None, Some(p)) => input::read(p)?,
        (None, None) => Vec::new(),
    };
    let verified = !a.no_verify;
    if verified {
        verify_raw(&prog, mem.len())?;
    }
    let out = execute(&prog, &mem, a.repeat, a.budget, a.engine, verified)?;
    if a.json {
        let v = serde_json::json!({
            "retval": out.retval,
            "mem": input::to_hex(&out.mem),
            "trace": out.trace,
            "duration_ns": out.duration_ns,
            "insns": out.insns,
        });
        println!("{v}");
    } else {
        for line in &out.trace {
            println!("trace: {line}");
        }
        println!("retval: {} ({:#x})", out.retval, out.retval);
        if !out.mem.is_empty() {
            println!("mem: {}", input::to_hex(&out.mem));
        }
        if a.repeat > 1 {
            println!(
                "duration: {} ns/run over {} runs",
                out.duration_ns, a.repeat
            );
        }
    }
    Ok(())
}

/// Arguments of `oxbpf conformance-plugin` (the bpf_conformance runner's plugin protocol).
#[derive(Args)]
pub struct PluginArgs {
    /// Input memory as space-separated hex bytes.
    mem: Option<String>,
    /// Further options the runner passes (accepted and ignored).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    rest: Vec<String>,
}

/// Program hex on stdin, memory hex as the first argument; prints r0 in hex.
pub fn plugin(a: PluginArgs) -> Result<(), CliError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CliError::Usage(format!("cannot read the program from stdin: {e}")))?;
    let bytes = input::parse_hex(&text)?;
    let prog = oxbpf::isa::decode(&bytes).map_err(|e| CliError::Failed(e.to_string()))?;
    let mem = match &a.mem {
        Some(m) => input::parse_hex(m)?,
        None => Vec::new(),
    };
    // Conformance programs are run as given (checked), not verified.
    let out = execute(&prog, &mem, 1, 1_000_000, Engine::Interp, false)?;
    println!("{:x}", out.retval);
    Ok(())
}
