//! The assembler against the bpf_conformance and uBPF test data: every program assembles
//! (to its `-- raw` words where the file has them), disassembles and re-assembles to the same
//! bytes; every negative assembler case fails with a message naming its line.
//!
//! The data lives outside the repository; set `OXBPF_CONFORMANCE_DIR` to the folder holding
//! `bpf_conformance/` and `ubpf/` if it is not `shared/conformance` beside the repository.

use super::*;
use crate::isa::decode;
use std::path::{Path, PathBuf};

/// `$OXBPF_CONFORMANCE_DIR`, else `shared/conformance` beside the repository (the same rule
/// as `tests-support/data_file.rs`, whose reader this module does not use because it also
/// parses `mem` sections, and only `asm`, `raw` and `error` matter here).
fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("OXBPF_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
        });
    assert!(
        dir.join("bpf_conformance/tests").is_dir(),
        "conformance data not found in {} (set OXBPF_CONFORMANCE_DIR)",
        dir.display()
    );
    dir
}

fn data_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            data_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "data") {
            out.push(p);
        }
    }
}

/// The sections of a `.data` file this module cares about.
#[derive(Default)]
struct DataFile {
    /// The `-- asm` body (read from the named file for `-- asm @ FILE`).
    asm: Option<String>,
    /// The `-- raw` words as little-endian bytes.
    raw: Option<Vec<u8>>,
    /// The `-- error` text.
    error: Option<String>,
}

fn parse_data(path: &Path) -> DataFile {
    let text = std::fs::read_to_string(path).unwrap();
    let mut f = DataFile::default();
    let mut section = String::new();
    let mut body = String::new();
    let finish = |section: &str, body: &mut String, f: &mut DataFile| {
        let b = std::mem::take(body);
        if let Some(rest) = section.strip_prefix("asm") {
            f.asm = Some(match rest.trim().strip_prefix('@') {
                Some(file) => {
                    std::fs::read_to_string(path.parent().unwrap().join(file.trim())).unwrap()
                }
                None => b,
            });
        } else if section == "raw" {
            let mut bytes = Vec::new();
            for line in b.lines() {
                let w = line.split('#').next().unwrap().trim();
                if w.is_empty() {
                    continue;
                }
                let v = match w.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).unwrap(),
                    None => w.parse::<u64>().unwrap(),
                };
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            f.raw = Some(bytes);
        } else if section == "error" {
            f.error = Some(b.trim().to_string());
        }
    };
    for line in text.lines() {
        if let Some(name) = line.trim_start().strip_prefix("--") {
            finish(&section, &mut body, &mut f);
            section = name.trim().to_string();
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    finish(&section, &mut body, &mut f);
    f
}

/// Assembles, checks `raw`, then round-trips through the LLVM and mnemonic printers.
fn check_program(path: &Path, asm: &str, raw: Option<&[u8]>) {
    let name = path.display();
    let bytes = assemble(asm).unwrap_or_else(|e| panic!("{name}: {e}"));
    if let Some(raw) = raw {
        assert_eq!(bytes, raw, "{name}: bytes differ from the -- raw section");
    }
    let prog = decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    for style in [Style::Llvm, Style::Conformance] {
        let opts = DisasmOptions::new(style);
        let text = disassemble(&prog, &opts);
        let again = assemble(&text).unwrap_or_else(|e| panic!("{name} {style:?}: {e}\n{text}"));
        assert_eq!(again, bytes, "{name} {style:?}:\n{text}");
        assert_eq!(
            disassemble(&decode(&again).unwrap(), &opts),
            text,
            "{name} {style:?}: disassembly is not stable"
        );
    }
}

#[test]
fn conformance_programs_round_trip() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    data_files(&dir.join("bpf_conformance/tests"), &mut files);
    let conformance = files.len();
    assert!(conformance >= 313, "only {conformance} conformance files");
    data_files(&dir.join("ubpf/tests"), &mut files);
    let (mut programs, mut with_raw, mut rejected) = (0, 0, 0);
    for path in &files {
        let f = parse_data(path);
        let Some(asm) = f.asm else { continue };
        // uBPF's errors/ holds programs the loader must reject; a few are already invalid
        // assembly (registers above r10).
        let in_errors = path.components().any(|c| c.as_os_str() == "errors");
        if in_errors {
            if let Err(e) = assemble(&asm) {
                assert!(
                    matches!(e.kind, AsmErrorKind::BadRegister { .. }),
                    "{}: {e}",
                    path.display()
                );
                rejected += 1;
                continue;
            }
        }
        if f.raw.is_some() {
            with_raw += 1;
        }
        check_program(path, &asm, f.raw.as_deref());
        programs += 1;
    }
    eprintln!("{programs} programs round-tripped, {with_raw} matched -- raw, {rejected} rejected");
    assert!(programs >= conformance + 60, "only {programs} programs");
    // lddw.data and uBPF's six assembler files (alu, alu64, jmp, ldx, st, stx).
    assert_eq!(with_raw, 7);
    assert_eq!(rejected, 2, "err-invalid-reg-dst and -src use %r11");
}

#[test]
fn negative_files_fail_with_their_line() {
    let dir = corpus_dir().join("bpf_conformance/negative");
    let mut files = Vec::new();
    data_files(&dir, &mut files);
    let mut checked = 0;
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy();
        if !stem.starts_with("invalid_") {
            continue;
        }
        let f = parse_data(path);
        let asm = f.asm.unwrap_or_default();
        // `invalid_unknown_directive` is a section-level error: its asm section is empty.
        if asm.trim().is_empty() {
            continue;
        }
        let err = assemble(&asm).expect_err(&stem);
        let first_insn = asm
            .lines()
            .position(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
            .unwrap()
            + 1;
        let msg = err.to_string();
        eprintln!("{stem}: {msg}");
        assert_eq!(err.line, first_insn, "{stem}: {msg}");
        assert!(msg.starts_with(&format!("line {first_insn}")), "{msg}");
        if let Some(expected) = f.error.filter(|e| !e.is_empty()) {
            assert!(
                msg.contains(&expected),
                "{stem}: {msg:?} lacks {expected:?}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 10);
}
