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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Asm(a) => cmd::asm::asm(a),
        Command::Disasm(a) => cmd::asm::disasm(a),
        Command::Run(a) => cmd::run::run(a),
        Command::ConformancePlugin(a) => cmd::run::plugin(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxbpf: {e}");
            ExitCode::from(e.status())
        }
    }
}
