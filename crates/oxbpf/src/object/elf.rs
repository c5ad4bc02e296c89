//! A small, owned view of the ELF parts a BPF object needs (sections, symbols,
//! relocations), read with the `object` crate's bounds-checked ELF reader. Everything
//! after this file works on these plain structs.

use object::read::elf::{FileHeader, Rel as _, SectionHeader, Sym as _};
use std::collections::HashMap;

use object::{Endianness, SymbolIndex};

use super::ObjectError;

/// `EM_BPF`.
pub const EM_BPF: u16 = 247;
/// `SHT_PROGBITS`.
pub const SHT_PROGBITS: u32 = 1;
/// `SHT_NOBITS`.
pub const SHT_NOBITS: u32 = 8;
/// `SHT_REL`.
const SHT_REL: u32 = 9;
/// `SHF_EXECINSTR`.
pub const SHF_EXECINSTR: u64 = 4;
/// `STT_FUNC`.
pub const STT_FUNC: u8 = 2;
/// `STT_SECTION`.
pub const STT_SECTION: u8 = 3;
/// `STT_FILE`.
pub const STT_FILE: u8 = 4;
/// `STB_LOCAL`.
pub const STB_LOCAL: u8 = 0;

/// Largest section we accept (file-backed or `.bss`): a sane cap checked before any
/// allocation of a claimed size.
pub const MAX_SECTION_SIZE: u64 = 1 << 30;

/// One section.
#[derive(Debug)]
pub struct Sec<'a> {
    /// Index in the section header table.
    pub index: usize,
    /// Name (lossy UTF-8).
    pub name: String,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// `sh_size` (for `SHT_NOBITS` there is no file data behind it).
    pub size: u64,
    /// File contents (empty for `SHT_NOBITS`).
    pub data: &'a [u8],
}

impl Sec<'_> {
    /// Executable program bits.
    pub fn is_code(&self) -> bool {
        self.sh_type == SHT_PROGBITS && self.flags & SHF_EXECINSTR != 0
    }
}

/// One symbol.
#[derive(Debug, Clone)]
pub struct Sym {
    /// Name (lossy UTF-8; may be empty).
    pub name: String,
    /// Section index, `None` for undefined/absolute/common symbols.
    pub section: Option<usize>,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `STT_*`.
    pub st_type: u8,
    /// `STB_*`.
    pub bind: u8,
}

/// One `SHT_REL` entry.
#[derive(Debug, Clone)]
pub struct Rel {
    /// Index of the entry inside its relocation section.
    pub index: usize,
    /// `r_offset` in the target section.
    pub offset: u64,
    /// Symbol index.
    pub sym: usize,
}

/// The parsed file.
#[derive(Debug)]
pub struct Elf<'a> {
    /// All sections by index.
    pub secs: Vec<Sec<'a>>,
    /// All symbols by index (index 0 is the null symbol).
    pub syms: Vec<Sym>,
    /// Relocations by target section index: (relocation section name, entries).
    pub rels: Vec<(usize, String, Vec<Rel>)>,
    /// Symbol indices by section index, so per-section lookups stay linear overall.
    by_section: Vec<Vec<usize>>,
    /// (section, name) -> first non-section symbol with that name there.
    by_name: HashMap<(usize, String), usize>,
}

fn elf_err(what: &'static str) -> impl Fn(object::read::Error) -> ObjectError {
    move |e| ObjectError::Elf {
        what,
        message: e.to_string(),
    }
}

impl<'a> Elf<'a> {
    /// Parses the ELF headers, sections, symbols and relocations.
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>, ObjectError> {
        let hdr =
            object::elf::FileHeader64::<Endianness>::parse(data).map_err(elf_err("ELF header"))?;
        let endian = hdr.endian().map_err(elf_err("ELF header"))?;
        if endian != Endianness::Little {
            return Err(ObjectError::BigEndian);
        }
        let machine = hdr.e_machine(endian).0;
        if machine != EM_BPF && machine != 0 {
            return Err(ObjectError::WrongMachine { machine });
        }
        let table = hdr
            .sections(endian, data)
            .map_err(elf_err("section headers"))?;
        let mut secs = Vec::with_capacity(table.len());
        for (i, sh) in table.iter().enumerate() {
            let name = table
                .section_name(endian, sh)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .map_err(|e| ObjectError::SectionHeader {
                    index: i,
                    message: e.to_string(),
                })?;
            let sh_type = sh.sh_type(endian).0;
            let size = sh.sh_size(endian);
            if size > MAX_SECTION_SIZE && (sh_type == SHT_PROGBITS || sh_type == SHT_NOBITS) {
                return Err(ObjectError::SectionTooLarge {
                    section: name,
                    size,
                    max: MAX_SECTION_SIZE,
                });
            }
            let data = if sh_type == SHT_NOBITS || i == 0 {
                &[][..]
            } else {
                sh.data(endian, data)
                    .map_err(|e| ObjectError::SectionData {
                        section: name.clone(),
                        index: i,
                        message: e.to_string(),
                    })?
            };
            secs.push(Sec {
                index: i,
                name,
                sh_type,
                flags: sh.sh_flags(endian).0,
                size,
                data,
            });
        }
        let symtab = table
            .symbols(endian, data, object::elf::SHT_SYMTAB)
            .map_err(elf_err("symbol table"))?;
        let mut syms = Vec::with_capacity(symtab.len());
        for (i, s) in symtab.iter().enumerate() {
            let name = symtab
                .symbol_name(endian, s)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .map_err(|e| ObjectError::Symbol {
                    index: i,
                    message: e.to_string(),
                })?;
            let section = symtab
                .symbol_section(endian, s, SymbolIndex(i))
                .map_err(|e| ObjectError::Symbol {
                    index: i,
                    message: e.to_string(),
                })?
                .map(|s| s.0);
            syms.push(Sym {
                name,
                section,
                value: s.st_value(endian),
                size: s.st_size(endian),
                st_type: s.st_type().0,
                bind: s.st_bind().0,
            });
        }
        // Section symbols have no name of their own: name them after their section.
        for s in syms
            .iter_mut()
            .filter(|s| s.st_type == STT_SECTION && s.name.is_empty())
        {
            if let Some(sec) = s.section.and_then(|i| secs.get(i)) {
                s.name = sec.name.clone();
            }
        }
        let mut rels = Vec::new();
        for (i, sh) in table.iter().enumerate() {
            if sh.sh_type(endian).0 != SHT_REL {
                continue;
            }
            let name = secs[i].name.clone();
            let target = sh.sh_info(endian) as usize;
            if target == 0 || target >= secs.len() {
                return Err(ObjectError::MissingSection {
                    section: target,
                    referenced_by: name,
                });
            }
            let entries = sh
                .data_as_array::<object::elf::Rel64<Endianness>, _>(endian, data)
                .map_err(|e| ObjectError::SectionData {
                    section: name.clone(),
                    index: i,
                    message: e.to_string(),
                })?;
            let list = entries
                .iter()
                .enumerate()
                .map(|(index, r)| Rel {
                    index,
                    offset: r.r_offset(endian),
                    sym: r.r_sym(endian) as usize,
                })
                .collect();
            rels.push((target, name, list));
        }
        let mut by_section = vec![Vec::new(); secs.len()];
        let mut by_name = HashMap::new();
        for (i, s) in syms.iter().enumerate() {
            if let Some(list) = s.section.and_then(|x| by_section.get_mut(x)) {
                list.push(i);
                if s.st_type != STT_SECTION {
                    by_name
                        .entry((s.section.unwrap_or(0), s.name.clone()))
                        .or_insert(i);
                }
            }
        }
        Ok(Elf {
            secs,
            syms,
            rels,
            by_section,
            by_name,
        })
    }

    /// Relocations that apply to section `index` (with the relocation section's name).
    pub fn rels_for(&self, index: usize) -> impl Iterator<Item = (&str, &Rel)> {
        self.rels
            .iter()
            .filter(move |(t, _, _)| *t == index)
            .flat_map(|(_, n, l)| l.iter().map(move |r| (n.as_str(), r)))
    }

    /// The section with this name (first one).
    pub fn sec_by_name(&self, name: &str) -> Option<&Sec<'a>> {
        self.secs.iter().find(|s| s.name == name)
    }

    /// Symbols defined in section `index`, with their symbol-table indices.
    pub fn syms_in(&self, index: usize) -> impl Iterator<Item = (usize, &Sym)> {
        self.by_section
            .get(index)
            .into_iter()
            .flatten()
            .map(|&i| (i, &self.syms[i]))
    }

    /// The (non-section) symbol named `name` defined in section `index`.
    pub fn sym_by_name(&self, index: usize, name: &str) -> Option<&Sym> {
        self.by_name
            .get(&(index, name.to_owned()))
            .map(|&i| &self.syms[i])
    }
}
