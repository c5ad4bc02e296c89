//! Human-readable listings of compiled code (`bpftool prog dump jited` style) and the
//! `perf` map entry.

use std::fmt::Write as _;
use std::io::Write as _;

use iced_x86::{Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter};

use crate::asm::{fmt_insn, DisasmOptions};

use super::x86_64::ExecMemory;
use super::JitProgram;

/// Appends the Intel-syntax lines of `code[start..end]` (offsets relative to the program).
fn x86_lines(out: &mut String, code: &[u8], start: usize, end: usize) {
    let end = end.min(code.len());
    if start >= end {
        return;
    }
    let mut decoder = Decoder::with_ip(64, &code[start..end], start as u64, DecoderOptions::NONE);
    let mut fmt = IntelFormatter::new();
    let mut insn = Instruction::default();
    let mut text = String::new();
    while decoder.can_decode() {
        decoder.decode_out(&mut insn);
        text.clear();
        fmt.format(&insn, &mut text);
        let at = insn.ip() as usize;
        let bytes: Vec<String> = code[at..at + insn.len()]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "{at:>6x}:\t{:<30}\t{text}", bytes.join(" "));
    }
}

pub(super) fn listing(p: &JitProgram) -> String {
    let code = p.mem.code();
    let mut out = String::new();
    out.push_str("; entry trampoline\n");
    x86_lines(&mut out, code, 0, p.body_start);
    let opts = DisasmOptions::default();
    for (i, l) in p.insns.iter().enumerate() {
        let start = p.slot_offsets.get(l.slot).copied().unwrap_or(p.stubs_start);
        let end = p
            .insns
            .get(i + 1)
            .and_then(|n| p.slot_offsets.get(n.slot).copied())
            .unwrap_or(p.stubs_start);
        let _ = writeln!(out, "; {}: {}", l.slot, fmt_insn(&l.insn, l.slot, &opts));
        x86_lines(&mut out, code, start, end);
    }
    out.push_str("; out-of-line stubs\n");
    x86_lines(&mut out, code, p.stubs_start, code.len());
    out
}

/// Appends `START SIZE name` to `/tmp/perf-<pid>.map`; failures are ignored (the map is a
/// profiling aid only).
pub(super) fn write_perf_map(mem: &ExecMemory, insns: usize) {
    let path = format!("/tmp/perf-{}.map", std::process::id());
    let line = format!(
        "{:x} {:x} oxbpf_jit_{:x}_{insns}insns\n",
        mem.as_ptr() as usize,
        mem.code_len(),
        mem.as_ptr() as usize
    );
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
