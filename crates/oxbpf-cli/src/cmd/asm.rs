//! `oxbpf asm` and `oxbpf disasm`.

use crate::input;
use crate::CliError;
use clap::Args;
use oxbpf::asm::{self, DisasmOptions, Style};
use std::path::PathBuf;

/// Arguments of `oxbpf asm`.
#[derive(Args)]
pub struct AsmArgs {
    /// Assembly source (llvm-objdump or conformance mnemonic syntax, detected).
    input: PathBuf,
    /// Where to write the bytecode (8 bytes per slot, little endian).
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `oxbpf disasm`.
#[derive(Args)]
pub struct DisasmArgs {
    /// Bytecode file (or assembly text, which is assembled first).
    input: PathBuf,
    /// Show slot numbers and raw bytes beside each instruction, like `llvm-objdump -d`.
    #[arg(long)]
    raw: bool,
    /// Print strace's symbolic form (`{code=BPF_ALU64|BPF_K|BPF_MOV, ...}`).
    #[arg(long, conflicts_with_all = ["style"])]
    symbolic: bool,
    /// Output style: llvm, xlated (bpftool), symbolic (strace), conformance (mnemonic).
    #[arg(long, default_value = "llvm")]
    style: Style,
    /// Immediates in decimal instead of llvm-objdump 19's hex.
    #[arg(long)]
    decimal: bool,
}

/// `oxbpf asm IN -o OUT`.
pub fn asm(a: AsmArgs) -> Result<(), CliError> {
    let text = String::from_utf8(input::read(&a.input)?)
        .map_err(|_| CliError::Usage(format!("{} is not UTF-8 text", a.input.display())))?;
    let bytes = asm::assemble(&text)
        .map_err(|e| CliError::Failed(format!("{}: {e}", a.input.display())))?;
    std::fs::write(&a.output, &bytes)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", a.output.display())))?;
    Ok(())
}

/// `oxbpf disasm IN`.
pub fn disasm(a: DisasmArgs) -> Result<(), CliError> {
    let prog = input::load_program(&a.input)?;
    let style = if a.symbolic { Style::Symbolic } else { a.style };
    let mut opts = DisasmOptions::new(style);
    opts.raw_bytes = a.raw;
    opts.hex = !a.decimal;
    print!("{}", asm::disassemble(&prog, &opts));
    Ok(())
}
