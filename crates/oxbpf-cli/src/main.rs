//! `oxbpf`: the command line of the oxbpf eBPF runtime, modelled on bpftool.
//!
//! Only argument parsing and printing live here; everything else is the `oxbpf` library.

mod cmd;
mod input;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// oxbpf: load, verify, run and inspect eBPF programs in user space.
#[derive(Parser)]
#[command(name = "oxbpf", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble a program (llvm-objdump or conformance mnemonic syntax) to bytecode.
    Asm(cmd::asm::AsmArgs),
    /// Disassemble bytecode.
    Disasm(cmd::asm::DisasmArgs),
    /// Run a raw bytecode or assembly program with r1 = memory, r2 = its length.
    Run(cmd::run::RunArgs),
    /// Run as a plugin of the bpf_conformance runner: program hex on stdin, memory as the
    /// first argument; prints r0 in hex.
    ConformancePlugin(cmd::run::PluginArgs),
    /// Load an ELF object's programs and run, show or dump them (bpftool prog).
    #[command(subcommand)]
    Prog(cmd::prog::ProgCmd),
    /// Show an ELF object's maps and their contents after loading (bpftool map).
    #[command(subcommand)]
    Map(cmd::map::MapCmd),
    /// Print the trace_printk output that `prog run` saved (no daemon keeps a live
    /// trace_pipe: each run prints its own lines and appends them to the state directory).
    Tracelog(cmd::tracelog::TracelogArgs),
    /// Verify an object's programs, raw bytecode or assembly with the kernel-style
    /// verifier; exit status 0 accepted, 1 rejected, 2 unusable input.
    Verify(cmd::verify::VerifyArgs),
}

/// An error the CLI reports on stderr, with the exit status to use.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments or unusable input (exit status 2).
    #[error("{0}")]
    Usage(String),
    /// The operation itself failed: bad program, fault at run time (exit status 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    fn status(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }
}

/// Restores the default SIGPIPE action, so `oxbpf ... | head` ends quietly as other Unix
/// tools do instead of failing on a closed stdout.
fn default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first in main, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Asm(a) => cmd::asm::asm(a),
        Command::Disasm(a) => cmd::asm::disasm(a),
        Command::Run(a) => cmd::run::run(a),
        Command::ConformancePlugin(a) => cmd::run::plugin(a),
        Command::Prog(c) => cmd::prog::prog(c),
        Command::Map(c) => cmd::map::map(c),
        Command::Tracelog(a) => cmd::tracelog::tracelog(a),
        Command::Verify(a) => cmd::verify::verify(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxbpf: {e}");
            ExitCode::from(e.status())
        }
    }
}
