//! Reader for the conformance `.data` format (bpf_conformance and uBPF test data; see
//! `shared/conformance/bpf_conformance/README.md`). Shared by test crates via `#[path]`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// One parsed `.data` file.
#[derive(Debug, Default, Clone)]
pub struct DataFile {
    pub path: PathBuf,
    /// `-- asm` text (comments stripped), if any.
    pub asm: Option<String>,
    /// `-- raw` program bytes, if any.
    pub raw: Option<Vec<u8>>,
    /// `-- mem` bytes, if any.
    pub mem: Option<Vec<u8>>,
    /// `-- result`, if any.
    pub result: Option<u64>,
    /// `-- error` / `-- error pattern` text, if the section exists.
    pub error: Option<String>,
    /// Section keywords this reader does not know (e.g. `pyelf`, `reload`).
    pub other_sections: Vec<String>,
    /// `-- no jit` present.
    pub no_jit: bool,
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(i) => &line[..i],
        None => line,
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else if let Some(n) = s.strip_prefix('-') {
        n.parse::<u64>().ok().map(|v| v.wrapping_neg())
    } else {
        s.parse().ok()
    }
}

fn read_section_file(dir: &Path, header: &str) -> Option<String> {
    let (_, file) = header.split_once('@')?;
    std::fs::read_to_string(dir.join(file.trim())).ok()
}

/// Parses the file at `path`.
pub fn parse(path: &Path) -> Result<DataFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = DataFile {
        path: path.to_path_buf(),
        ..Default::default()
    };
    // (header line, body lines)
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("--") {
            sections.push((line.trim().to_string(), Vec::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push(line.to_string());
        }
    }
    for (header, body) in sections {
        let kw = header.trim_start_matches('-').trim();
        let from_file = read_section_file(dir, kw);
        let body_text = from_file.unwrap_or_else(|| body.join("\n"));
        let key = kw.split('@').next().unwrap_or("").trim();
        match key {
            "asm" => {
                let lines: Vec<&str> = body_text.lines().map(strip_comment).collect();
                out.asm = Some(lines.join("\n"));
            }
            "raw" => {
                let mut bytes = Vec::new();
                for line in body_text.lines().map(strip_comment) {
                    let toks: Vec<&str> = line.split_whitespace().collect();
                    if toks.is_empty() {
                        continue;
                    }
                    if toks.len() == 8 && toks.iter().all(|t| t.len() == 2 && !t.starts_with("0x"))
                    {
                        // negative/unused-*: 8 hex bytes per line.
                        for t in toks {
                            bytes.push(
                                u8::from_str_radix(t, 16).map_err(|e| {
                                    format!("{}: raw byte {t}: {e}", path.display())
                                })?,
                            );
                        }
                    } else {
                        for t in toks {
                            let w = parse_u64(t)
                                .ok_or_else(|| format!("{}: raw word {t}", path.display()))?;
                            bytes.extend_from_slice(&w.to_le_bytes());
                        }
                    }
                }
                out.raw = Some(bytes);
            }
            "mem" => {
                let mut bytes = Vec::new();
                for line in body_text.lines().map(strip_comment) {
                    // hexdump files: text up to the last ':' is an address column.
                    let line = match line.rfind(':') {
                        Some(i) => &line[i + 1..],
                        None => line,
                    };
                    // Tokens are bytes (`aa`) or, in tcpdump-style hex files, groups (`622f`).
                    for t in line.split_whitespace() {
                        if t.len() % 2 != 0 || !t.is_ascii() {
                            return Err(format!("{}: mem token {t}", path.display()));
                        }
                        for k in (0..t.len()).step_by(2) {
                            bytes.push(
                                u8::from_str_radix(&t[k..k + 2], 16).map_err(|e| {
                                    format!("{}: mem byte {t}: {e}", path.display())
                                })?,
                            );
                        }
                    }
                }
                out.mem = Some(bytes);
            }
            "result" => {
                let t: String = body_text
                    .lines()
                    .map(strip_comment)
                    .collect::<Vec<_>>()
                    .join(" ");
                let t = t.trim();
                if !t.is_empty() {
                    out.result = Some(
                        parse_u64(t)
                            .ok_or_else(|| format!("{}: bad result {t}", path.display()))?,
                    );
                }
            }
            k if k.starts_with("error") => out.error = Some(body_text.trim().to_string()),
            "no jit" => out.no_jit = true,
            "c" | "no register offset" | "description" => {}
            other => out.other_sections.push(other.to_string()),
        }
    }
    Ok(out)
}

/// All `.data` files below `dir`, sorted.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "data") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The `shared/conformance` folder: `$OXBPF_CONFORMANCE_DIR`, else `../shared/conformance`
/// beside the repository.
pub fn conformance_dir() -> PathBuf {
    if let Ok(d) = std::env::var("OXBPF_CONFORMANCE_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
}
