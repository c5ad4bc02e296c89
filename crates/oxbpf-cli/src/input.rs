//! Reading programs and data given on the command line.

use crate::CliError;
use oxbpf::isa::{self, Located};
use std::path::Path;

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

/// Whether `bytes` look like assembly text rather than bytecode: valid UTF-8 without NUL
/// bytes or other control characters than whitespace.
fn is_text(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.chars().all(|c| !c.is_control() || c.is_whitespace()),
        Err(_) => false,
    }
}

/// A program read from a file: assembly text is assembled, bytecode decoded. ELF objects
/// are named as such (they are run with `oxbpf prog run`).
pub fn load_program(path: &Path) -> Result<Vec<Located>, CliError> {
    let bytes = read(path)?;
    let name = path.display();
    if bytes.starts_with(b"\x7fELF") {
        return Err(CliError::Usage(format!(
            "{name} is an ELF object; run its programs with `oxbpf prog run {name}`"
        )));
    }
    if !bytes.is_empty() && is_text(&bytes) {
        let text = String::from_utf8_lossy(&bytes);
        return oxbpf::asm::assemble_located(&text)
            .map_err(|e| CliError::Failed(format!("{name}: {e}")));
    }
    isa::decode(&bytes).map_err(|e| CliError::Failed(format!("{name}: {e}")))
}

/// Parses hex bytes, ignoring whitespace (`"aa bb"`, `"aabb"`, `"0xaabb"`).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, CliError> {
    let digits: String = text
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if digits.len() % 2 != 0 {
        return Err(CliError::Usage(format!(
            "hex data has an odd number of digits ({})",
            digits.len()
        )));
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| {
                CliError::Usage(format!(
                    "invalid hex byte {:?} at digit {i}",
                    &digits[i..i + 2]
                ))
            })
        })
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
