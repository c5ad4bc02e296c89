//! BPF-to-BPF call linking: each program gets its entry function followed by exactly the
//! functions it (transitively) calls or takes the address of, in first-use order, with
//! call and `BPF_PSEUDO_FUNC` immediates rewritten to the final layout and
//! `func_info`/`line_info`/CO-RE records rebased to final instruction indices.

use std::collections::HashMap;

use crate::btf::BtfExt;

use super::reloc::{set_imm, Func, SecCode, Target};
use super::sections::program_kind;
use super::{ExternalCall, LinkedFunction, ObjectError, ProgramSection, RelocKind, Relocation};

/// Functions by (section index, start instruction).
type FuncIndex<'c> = HashMap<(usize, usize), (&'c SecCode, &'c Func)>;

fn func_index(code: &[SecCode]) -> FuncIndex<'_> {
    let mut idx = HashMap::new();
    for c in code {
        for f in &c.funcs {
            idx.entry((c.index, f.start)).or_insert((c, f));
        }
    }
    idx
}

/// Builds one linked program from the entry function `entry` of section `c`.
fn link_one(
    code: &[SecCode],
    funcs: &FuncIndex<'_>,
    c: &SecCode,
    entry: &Func,
    ext: Option<&BtfExt>,
) -> Result<ProgramSection, ObjectError> {
    let mut prog = ProgramSection {
        name: entry.name.clone(),
        section: c.name.clone(),
        kind: program_kind(&c.name),
        insns: Vec::new(),
        functions: Vec::new(),
        func_info: Vec::new(),
        line_info: Vec::new(),
        core_relos: Vec::new(),
        core_applied: false,
        core_results: Vec::new(),
        relocations: Vec::new(),
        external_calls: Vec::new(),
    };
    // (section index, start insn) -> final start.
    let mut placed: HashMap<(usize, usize), usize> = HashMap::new();
    let mut queue: Vec<(&SecCode, &Func, usize)> = Vec::new();
    prog.insns
        .extend_from_slice(&c.insns[entry.start..entry.start + entry.len]);
    placed.insert((c.index, entry.start), 0);
    queue.push((c, entry, 0));
    let mut next = 0;
    while next < queue.len() {
        let (sc, f, base) = queue[next];
        next += 1;
        prog.functions.push(LinkedFunction {
            name: f.name.clone(),
            section: sc.name.clone(),
            start: base,
            len: f.len,
        });
        for (&i, (symbol, target)) in sc.targets.range(f.start..f.start + f.len) {
            let at = base + (i - f.start);
            let kind = match *target {
                Target::Map(map) => RelocKind::Map { map },
                Target::MapValue(map, offset) => RelocKind::MapValue { map, offset },
                Target::External => {
                    prog.external_calls.push(ExternalCall {
                        insn: at,
                        symbol: symbol.clone(),
                    });
                    continue;
                }
                Target::Call(ts, ti) | Target::FuncAddr(ts, ti) => {
                    let &(tc, tf) =
                        funcs
                            .get(&(ts, ti))
                            .ok_or_else(|| ObjectError::BadCallTarget {
                                section: sc.name.clone(),
                                insn: i,
                                target_section: code
                                    .iter()
                                    .find(|c| c.index == ts)
                                    .map_or_else(|| ts.to_string(), |c| c.name.clone()),
                                target: ti as i64,
                            })?;
                    let tbase = match placed.get(&(ts, ti)) {
                        Some(&b) => b,
                        None => {
                            let b = prog.insns.len();
                            prog.insns
                                .extend_from_slice(&tc.insns[tf.start..tf.start + tf.len]);
                            placed.insert((ts, ti), b);
                            queue.push((tc, tf, b));
                            b
                        }
                    };
                    // Both indices are bounded by the file's instruction count.
                    let rel = tbase as i64 - (at as i64 + 1);
                    set_imm(&mut prog.insns[at], rel as i32);
                    let kind = if matches!(target, Target::Call(..)) {
                        RelocKind::Call { target: tbase }
                    } else {
                        RelocKind::FuncAddr { target: tbase }
                    };
                    // pc-relative calls inside a section carry no symbol: name the callee.
                    let symbol = if symbol.is_empty() { &tf.name } else { symbol };
                    prog.relocations.push(Relocation {
                        insn: at,
                        symbol: symbol.clone(),
                        kind,
                    });
                    continue;
                }
            };
            prog.relocations.push(Relocation {
                insn: at,
                symbol: symbol.clone(),
                kind,
            });
        }
    }
    if let Some(ext) = ext {
        rebase(&mut prog, &queue, ext);
    }
    Ok(prog)
}

/// The records of `v` (sorted by instruction) inside `range`.
fn in_range<'v, T>(
    v: &'v [T],
    insn: impl Fn(&T) -> usize,
    range: &std::ops::Range<usize>,
) -> &'v [T] {
    let lo = v.partition_point(|r| insn(r) < range.start);
    let hi = v.partition_point(|r| insn(r) < range.end);
    &v[lo..hi.max(lo)]
}

/// Copies each placed function's BTF.ext records, shifted to the function's final start.
fn rebase(prog: &mut ProgramSection, placed: &[(&SecCode, &Func, usize)], ext: &BtfExt) {
    for &(sc, f, base) in placed {
        let range = f.start..f.start + f.len;
        let shift = |insn: usize| base + (insn - f.start);
        if let Some(v) = ext.func_info.get(&sc.name) {
            for r in in_range(v, |r| r.insn, &range) {
                let mut r = r.clone();
                r.insn = shift(r.insn);
                prog.func_info.push(r);
            }
        }
        if let Some(v) = ext.line_info.get(&sc.name) {
            for r in in_range(v, |r| r.insn, &range) {
                let mut r = r.clone();
                r.insn = shift(r.insn);
                prog.line_info.push(r);
            }
        }
        if let Some(v) = ext.core_relos.get(&sc.name) {
            for r in in_range(v, |r| r.insn, &range) {
                let mut r = r.clone();
                r.insn = shift(r.insn);
                prog.core_relos.push(r);
            }
        }
    }
    // Functions are placed at increasing offsets, so this is already ordered; the
    // kernel requires it, so make sure.
    prog.func_info.sort_by_key(|r| r.insn);
    prog.line_info.sort_by_key(|r| r.insn);
    prog.core_relos.sort_by_key(|r| r.insn);
}

/// Links every entry function of every code section into a program.
pub(super) fn link_programs(
    code: &[SecCode],
    ext: Option<&BtfExt>,
) -> Result<Vec<ProgramSection>, ObjectError> {
    let funcs = func_index(code);
    let mut out = Vec::new();
    for c in code {
        for f in c.funcs.iter().filter(|f| f.entry) {
            out.push(link_one(code, &funcs, c, f, ext)?);
        }
    }
    if out.is_empty() {
        // Code only in `.text` (no SEC() annotations): its global functions are the
        // programs, as older libbpf treated a lone `.text` program.
        for c in code.iter().filter(|c| c.name == ".text") {
            for f in c.funcs.iter().filter(|f| f.global) {
                out.push(link_one(code, &funcs, c, f, ext)?);
            }
        }
    }
    Ok(out)
}
