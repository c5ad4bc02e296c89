//! Per-section relocation of code: `lddw` map references (`BPF_PSEUDO_MAP_FD`), global
//! data addresses (`BPF_PSEUDO_MAP_VALUE`), and the call/function-address targets that
//! linking resolves later. Also splits each code section into functions by symbol.

use std::collections::{BTreeMap, HashMap};

use super::elf::{Elf, Sec, Sym, STB_LOCAL, STT_FUNC, STT_SECTION};
use super::maps::{MapOrigin, MapSpec};
use super::{ObjectError, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};

/// `BPF_LD | BPF_IMM | BPF_DW`.
pub(super) const OP_LDDW: u8 = 0x18;
/// `BPF_JMP | BPF_CALL`.
pub(super) const OP_CALL: u8 = 0x85;
/// Calls clang may leave to libc-like builtins; the runtime expands or provides them.
const BUILTINS: &[&str] = &["memset", "memcpy", "memmove", "memcmp"];

/// src_reg is the high nibble of byte 1 (dst_reg the low one).
pub(super) fn src_reg(insn: &[u8; 8]) -> u8 {
    insn[1] >> 4
}

pub(super) fn set_src_reg(insn: &mut [u8; 8], src: u8) {
    insn[1] = (insn[1] & 0x0f) | (src << 4);
}

pub(super) fn imm(insn: &[u8; 8]) -> i32 {
    i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]])
}

pub(super) fn set_imm(insn: &mut [u8; 8], v: i32) {
    insn[4..8].copy_from_slice(&v.to_le_bytes());
}

/// A function symbol's extent in its section, in instruction slots.
#[derive(Debug, Clone)]
pub(super) struct Func {
    pub name: String,
    pub start: usize,
    pub len: usize,
    /// A program entry (global function in a non-`.text` section).
    pub entry: bool,
    /// Global (or weak) binding.
    pub global: bool,
}

/// What an instruction of a section refers to after relocation.
#[derive(Debug, Clone)]
pub(super) enum Target {
    /// Map reference, patched.
    Map(usize),
    /// Data address, patched.
    MapValue(usize, u32),
    /// Call to instruction `1` of section `0` (a function start), fixed at link time.
    Call(usize, usize),
    /// Address of function at instruction `1` of section `0`, fixed at link time.
    FuncAddr(usize, usize),
    /// Call to an undefined builtin.
    External,
}

/// One code section after relocation.
#[derive(Debug)]
pub(super) struct SecCode {
    pub index: usize,
    pub name: String,
    pub insns: Vec<[u8; 8]>,
    pub targets: BTreeMap<usize, (String, Target)>,
    pub funcs: Vec<Func>,
}

/// Splits a code section by its function symbols.
fn functions(elf: &Elf<'_>, sec: &Sec<'_>, n: usize) -> Result<Vec<Func>, ObjectError> {
    let mut syms: Vec<&Sym> = elf
        .syms_in(sec.index)
        .map(|(_, s)| s)
        .filter(|s| s.st_type == STT_FUNC)
        .collect();
    syms.sort_by_key(|s| s.value);
    let bytes = sec.size;
    let mut funcs = Vec::with_capacity(syms.len());
    for (i, s) in syms.iter().enumerate() {
        let next = syms.get(i + 1).map_or(bytes, |t| t.value);
        let size = if s.size != 0 {
            s.size
        } else {
            next.saturating_sub(s.value)
        };
        if s.value % 8 != 0 || size % 8 != 0 || s.value.checked_add(size).is_none_or(|e| e > bytes)
        {
            return Err(ObjectError::SymbolOutOfBounds {
                symbol: s.name.clone(),
                section: sec.name.clone(),
                offset: s.value,
                size,
                section_size: bytes,
            });
        }
        funcs.push(Func {
            name: s.name.clone(),
            start: (s.value / 8) as usize,
            len: (size / 8) as usize,
            entry: sec.name != ".text" && s.bind != STB_LOCAL,
            global: s.bind != STB_LOCAL,
        });
    }
    if funcs.is_empty() && n > 0 && sec.name != ".text" {
        // Hand-written or very old objects: the whole section is one program.
        funcs.push(Func {
            name: sec.name.clone(),
            start: 0,
            len: n,
            entry: true,
            global: true,
        });
    } else if sec.name != ".text" && !funcs.iter().any(|f| f.entry) {
        // Only static functions: treat them all as programs rather than lose them.
        funcs.iter_mut().for_each(|f| f.entry = true);
    }
    Ok(funcs)
}

/// Map lookups for relocation: (section, offset) of definitions, and data sections.
struct MapIndex {
    defs: HashMap<(usize, u64), usize>,
    data: HashMap<usize, usize>,
}

impl MapIndex {
    fn new(maps: &[MapSpec]) -> Self {
        let mut defs = HashMap::new();
        let mut data = HashMap::new();
        for (i, m) in maps.iter().enumerate() {
            match m.origin {
                MapOrigin::Legacy { .. } | MapOrigin::Btf => {
                    defs.entry((m.section_index, m.section_offset)).or_insert(i);
                }
                MapOrigin::Data(_) => {
                    data.entry(m.section_index).or_insert(i);
                }
                MapOrigin::BtfInner => {}
            }
        }
        MapIndex { defs, data }
    }
}

/// Relocates every code section.
pub(super) fn relocate_sections(
    elf: &Elf<'_>,
    maps: &[MapSpec],
) -> Result<Vec<SecCode>, ObjectError> {
    let maps = MapIndex::new(maps);
    let mut out = Vec::new();
    for sec in elf.secs.iter().filter(|s| s.is_code()) {
        if sec.data.len() % 8 != 0 {
            return Err(ObjectError::BadCodeSize {
                section: sec.name.clone(),
                size: sec.size,
            });
        }
        let mut insns: Vec<[u8; 8]> = sec
            .data
            .chunks_exact(8)
            .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
            .collect();
        let funcs = functions(elf, sec, insns.len())?;
        let mut targets = BTreeMap::new();
        for (rel_name, r) in elf.rels_for(sec.index) {
            let (i, t) = relocate_one(elf, sec, &maps, &mut insns, rel_name, r)?;
            targets.insert(i, t);
        }
        // Calls and function addresses inside the section need no relocation entry.
        for (i, insn) in insns.iter().enumerate() {
            if targets.contains_key(&i) {
                continue;
            }
            let pseudo_call = insn[0] == OP_CALL && src_reg(insn) == super::BPF_PSEUDO_CALL;
            let pseudo_func = insn[0] == OP_LDDW && src_reg(insn) == super::BPF_PSEUDO_FUNC;
            if pseudo_call || pseudo_func {
                let t = i as i64 + i64::from(imm(insn)) + 1;
                let t = usize::try_from(t).ok().filter(|&t| t < insns.len()).ok_or(
                    ObjectError::BadCallTarget {
                        section: sec.name.clone(),
                        insn: i,
                        target_section: sec.name.clone(),
                        target: t,
                    },
                )?;
                let target = if pseudo_call {
                    Target::Call(sec.index, t)
                } else {
                    Target::FuncAddr(sec.index, t)
                };
                targets.insert(i, (String::new(), target));
            }
        }
        out.push(SecCode {
            index: sec.index,
            name: sec.name.clone(),
            insns,
            targets,
            funcs,
        });
    }
    Ok(out)
}

fn relocate_one(
    elf: &Elf<'_>,
    sec: &Sec<'_>,
    maps: &MapIndex,
    insns: &mut [[u8; 8]],
    rel_name: &str,
    r: &super::elf::Rel,
) -> Result<(usize, (String, Target)), ObjectError> {
    let i = (r.offset / 8) as usize;
    if r.offset % 8 != 0 || i >= insns.len() {
        return Err(ObjectError::BadRelocationOffset {
            rel_section: rel_name.to_owned(),
            relocation: r.index,
            section: sec.name.clone(),
            offset: r.offset,
        });
    }
    let sym = elf
        .syms
        .get(r.sym)
        .ok_or_else(|| ObjectError::BadRelocationSymbol {
            rel_section: rel_name.to_owned(),
            relocation: r.index,
            symbol: r.sym,
        })?;
    let opcode = insns[i][0];
    let unsupported = |target_section: String| ObjectError::UnsupportedRelocation {
        rel_section: rel_name.to_owned(),
        relocation: r.index,
        symbol: sym.name.clone(),
        target_section,
    };
    let Some(ts) = sym.section else {
        if opcode == OP_CALL && BUILTINS.contains(&sym.name.as_str()) {
            return Ok((i, (sym.name.clone(), Target::External)));
        }
        return Err(ObjectError::UnresolvedSymbol {
            rel_section: rel_name.to_owned(),
            relocation: r.index,
            symbol: sym.name.clone(),
            insn: i,
        });
    };
    let tsec = elf
        .secs
        .get(ts)
        .ok_or_else(|| ObjectError::MissingSection {
            section: ts,
            referenced_by: format!("symbol {} (relocation {} in {rel_name})", sym.name, r.index),
        })?;
    let addend = i64::from(imm(&insns[i]));
    let bad_target = |target: i64| ObjectError::BadCallTarget {
        section: sec.name.clone(),
        insn: i,
        target_section: tsec.name.clone(),
        target,
    };
    match opcode {
        OP_CALL => {
            if !tsec.is_code() || sym.value % 8 != 0 {
                return Err(unsupported(tsec.name.clone()));
            }
            // libbpf: callee = symbol's insn + imm + 1 (imm is -1 for named symbols).
            let t = (sym.value / 8) as i64 + addend + 1;
            let t = usize::try_from(t).map_err(|_| bad_target(t))?;
            set_src_reg(&mut insns[i], super::BPF_PSEUDO_CALL);
            Ok((i, (sym.name.clone(), Target::Call(ts, t))))
        }
        OP_LDDW => {
            if i + 1 >= insns.len() {
                return Err(ObjectError::TruncatedLddw {
                    section: sec.name.clone(),
                    insn: i,
                });
            }
            let section_sym = sym.st_type == STT_SECTION;
            if tsec.is_code() {
                let t = sym.value as i64 + addend;
                if t % 8 != 0 {
                    return Err(bad_target(t / 8));
                }
                let t = usize::try_from(t / 8).map_err(|_| bad_target(t / 8))?;
                set_src_reg(&mut insns[i], super::BPF_PSEUDO_FUNC);
                return Ok((i, (sym.name.clone(), Target::FuncAddr(ts, t))));
            }
            if tsec.name == "maps" || tsec.name == ".maps" {
                let off = if section_sym {
                    sym.value.wrapping_add(addend as u64)
                } else {
                    sym.value
                };
                let m = maps.defs.get(&(ts, off)).copied().ok_or_else(|| {
                    ObjectError::NoMapAtOffset {
                        rel_section: rel_name.to_owned(),
                        relocation: r.index,
                        symbol: sym.name.clone(),
                        section: tsec.name.clone(),
                        offset: off,
                    }
                })?;
                set_src_reg(&mut insns[i], BPF_PSEUDO_MAP_FD);
                set_imm(&mut insns[i], m as i32);
                return Ok((i, (sym.name.clone(), Target::Map(m))));
            }
            let m = maps
                .data
                .get(&ts)
                .copied()
                .ok_or_else(|| unsupported(tsec.name.clone()))?;
            let off = sym.value as i64 + addend;
            if off < 0 || off as u64 > tsec.size {
                return Err(ObjectError::DataOffsetOutOfBounds {
                    rel_section: rel_name.to_owned(),
                    relocation: r.index,
                    section: tsec.name.clone(),
                    offset: off,
                    size: tsec.size,
                });
            }
            // Fits: sections are capped at 1 GiB.
            let off = off as u32;
            set_src_reg(&mut insns[i], BPF_PSEUDO_MAP_VALUE);
            set_imm(&mut insns[i], m as i32);
            set_imm(&mut insns[i + 1], off as i32);
            Ok((i, (sym.name.clone(), Target::MapValue(m, off))))
        }
        _ => Err(ObjectError::BadRelocationInsn {
            rel_section: rel_name.to_owned(),
            relocation: r.index,
            insn: i,
            opcode,
        }),
    }
}
