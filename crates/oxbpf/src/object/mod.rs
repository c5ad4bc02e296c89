//! Reading BPF ELF objects (`clang -O2 -g -target bpf`) into programs and map specs.
//!
//! [`Object::parse`] classifies sections with our own policy (unknown program section
//! names are allowed: the program gets no type and the caller names it), splits
//! programs by function symbol, reads legacy `maps`, BTF `.maps` and global data
//! (`.data`, `.rodata*`, `.bss`) map definitions, patches `lddw` map/data/function
//! references, links `.text` subprograms into each program that calls them (rebasing
//! `func_info`/`line_info`), and reports every size or offset that does not fit the file
//! as an [`ObjectError`] naming the section, symbol or relocation.
//!
//! Legacy map-in-maps are linked at parse time (the 28-byte `inner_map_idx`, iproute2's
//! `id`/`inner_id`/`inner_idx`). CO-RE relocations are applied by
//! [`Object::relocate_core`] against a [`CoreTarget`] (by default the running kernel's
//! BTF, as libbpf; see [`crate::btf::core`]).
//!
//! ```no_run
//! # use oxbpf::object::{Object, object_name_from_path};
//! let bytes = std::fs::read("examples/hello.o").unwrap();
//! let obj = Object::parse(&bytes, &object_name_from_path("examples/hello.o")).unwrap();
//! for p in &obj.programs {
//!     println!("{} in {}: {} insns", p.name, p.section, p.insns.len());
//! }
//! ```

mod core_relo;
mod elf;
mod link;
mod maps;
mod reloc;
mod sections;

pub use core_relo::{kernel_btf, CoreTarget, VMLINUX_BTF};
pub use elf::MAX_SECTION_SIZE;
pub use maps::{
    internal_map_name, map_type, DataKind, MapOrigin, MapSlot, MapSlotTarget, MapSpec, Pinning,
    BPF_F_RDONLY_PROG,
};
pub use sections::{attach_type, license_is_gpl_compatible, prog_type, program_kind, ProgramKind};

use crate::btf::{Btf, BtfError, BtfExt, CoreRelo, FuncInfo, LineInfo};

/// `BPF_PSEUDO_MAP_FD`: `lddw` src_reg for a map reference.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `BPF_PSEUDO_MAP_VALUE`: `lddw` src_reg for an address inside a map value.
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// `BPF_PSEUDO_FUNC`: `lddw` src_reg for a subprogram address.
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// `BPF_PSEUDO_CALL`: `call` src_reg for a BPF-to-BPF call.
pub const BPF_PSEUDO_CALL: u8 = 1;

/// Errors loading an object. Each names where in the file the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The ELF reader rejected the file.
    #[error("bad ELF ({what}): {message}")]
    Elf {
        /// Which part of the file.
        what: &'static str,
        /// The reader's message.
        message: String,
    },
    /// A big-endian (bpfeb) object.
    #[error("big-endian BPF objects are not supported")]
    BigEndian,
    /// `e_machine` is neither `EM_BPF` nor 0.
    #[error("ELF machine {machine} is not BPF (247)")]
    WrongMachine {
        /// The `e_machine` value.
        machine: u16,
    },
    /// A section header is unreadable.
    #[error("section header {index}: {message}")]
    SectionHeader {
        /// Section index.
        index: usize,
        /// The reader's message.
        message: String,
    },
    /// A section's data lies outside the file.
    #[error("section {section} (index {index}): {message}")]
    SectionData {
        /// Section name.
        section: String,
        /// Section index.
        index: usize,
        /// The reader's message.
        message: String,
    },
    /// A section claims more than [`MAX_SECTION_SIZE`] bytes.
    #[error("section {section} claims {size} bytes (limit {max})")]
    SectionTooLarge {
        /// Section name.
        section: String,
        /// Claimed size.
        size: u64,
        /// The cap.
        max: u64,
    },
    /// A symbol table entry is unreadable.
    #[error("symbol {index}: {message}")]
    Symbol {
        /// Symbol index.
        index: usize,
        /// The reader's message.
        message: String,
    },
    /// A reference to a section index that does not exist.
    #[error("section index {section} referenced by {referenced_by} does not exist")]
    MissingSection {
        /// The section index.
        section: usize,
        /// Who refers to it.
        referenced_by: String,
    },
    /// A code section whose size is not a multiple of 8.
    #[error("code section {section} has size {size}, not a multiple of 8")]
    BadCodeSize {
        /// Section name.
        section: String,
        /// Its size.
        size: u64,
    },
    /// A symbol that does not lie inside its section.
    #[error(
        "symbol {symbol} at {offset}+{size} lies outside section {section} ({section_size} bytes)"
    )]
    SymbolOutOfBounds {
        /// Symbol name.
        symbol: String,
        /// Section name.
        section: String,
        /// Symbol offset.
        offset: u64,
        /// Symbol size.
        size: u64,
        /// Section size.
        section_size: u64,
    },
    /// A relocation whose offset does not point at an instruction of its section.
    #[error("relocation {relocation} in {rel_section}: offset {offset} is not an instruction of {section}")]
    BadRelocationOffset {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Target section name.
        section: String,
        /// `r_offset`.
        offset: u64,
    },
    /// A relocation naming a symbol index past the symbol table.
    #[error("relocation {relocation} in {rel_section}: symbol index {symbol} does not exist")]
    BadRelocationSymbol {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Symbol index.
        symbol: usize,
    },
    /// A relocation on an instruction that is neither `lddw` nor `call`.
    #[error("relocation {relocation} in {rel_section}: instruction {insn} has opcode {opcode:#04x}, expected lddw or call")]
    BadRelocationInsn {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Instruction index in the section.
        insn: usize,
        /// Its opcode.
        opcode: u8,
    },
    /// A relocation against something we cannot patch into code.
    #[error("relocation {relocation} in {rel_section}: symbol {symbol} in section {target_section} cannot be referenced from code")]
    UnsupportedRelocation {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Symbol name.
        symbol: String,
        /// The symbol's section.
        target_section: String,
    },
    /// An undefined symbol referenced from code (externs such as `__kconfig`/`__ksym`
    /// variables, or calls to unknown functions).
    #[error("relocation {relocation} in {rel_section}: unresolved symbol {symbol} at instruction {insn}")]
    UnresolvedSymbol {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Symbol name.
        symbol: String,
        /// Instruction index in the section.
        insn: usize,
    },
    /// No map at the offset a map symbol points to.
    #[error("relocation {relocation} in {rel_section}: no map at offset {offset} of {section} (symbol {symbol})")]
    NoMapAtOffset {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Symbol name.
        symbol: String,
        /// The maps section.
        section: String,
        /// Offset in it.
        offset: u64,
    },
    /// A data reference outside its section.
    #[error("relocation {relocation} in {rel_section}: offset {offset} is outside {section} ({size} bytes)")]
    DataOffsetOutOfBounds {
        /// Relocation section name.
        rel_section: String,
        /// Index in the relocation section.
        relocation: usize,
        /// Data section.
        section: String,
        /// Offset referenced.
        offset: i64,
        /// Section size.
        size: u64,
    },
    /// A call or function address that does not land on a function start.
    #[error("{section}: instruction {insn} refers to instruction {target} of {target_section}, which starts no function")]
    BadCallTarget {
        /// Section of the call.
        section: String,
        /// Instruction index of the call.
        insn: usize,
        /// Target section.
        target_section: String,
        /// Target instruction index.
        target: i64,
    },
    /// An `lddw` in the last slot of a section.
    #[error("{section}: lddw at instruction {insn} lacks its second slot")]
    TruncatedLddw {
        /// Section name.
        section: String,
        /// Instruction index.
        insn: usize,
    },
    /// A malformed map definition.
    #[error("map {map} in {section}: {problem}")]
    BadMap {
        /// Map name.
        map: String,
        /// Section name.
        section: String,
        /// What is wrong.
        problem: String,
    },
    /// A map type number the kernel does not define.
    #[error("map {map}: unknown map type {map_type}")]
    UnknownMapType {
        /// Map name.
        map: String,
        /// The type number.
        map_type: u32,
    },
    /// The `version` section is not 4 bytes.
    #[error("version section has {size} bytes, expected 4")]
    BadVersion {
        /// Its size.
        size: usize,
    },
    /// `.maps` needs BTF but there is none.
    #[error("section {section} needs BTF, but the object has no .BTF section")]
    MissingBtf {
        /// The section needing BTF.
        section: String,
    },
    /// A CO-RE relocation record that cannot be applied.
    #[error("program {program} in section {section}: {source}")]
    Core {
        /// Program name.
        program: String,
        /// ELF section.
        section: String,
        /// What is wrong with the record.
        source: Box<crate::btf::core::CoreError>,
    },
    /// Malformed `.BTF` or `.BTF.ext`.
    #[error("in section {section}: {source}")]
    Btf {
        /// `.BTF` or `.BTF.ext`.
        section: &'static str,
        /// The BTF error.
        source: BtfError,
    },
}

/// A relocation applied to a program, by final instruction index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relocation {
    /// Instruction index in the final (linked) program.
    pub insn: usize,
    /// Symbol the relocation named.
    pub symbol: String,
    /// What was patched.
    pub kind: RelocKind,
}

/// What a relocation patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocKind {
    /// `lddw` of a map: src=`BPF_PSEUDO_MAP_FD`, imm = index into [`Object::maps`]
    /// (the runtime replaces it with a real map id or fd).
    Map {
        /// Index into [`Object::maps`].
        map: usize,
    },
    /// `lddw` of an address in global data: src=`BPF_PSEUDO_MAP_VALUE`, imm = map index,
    /// second slot imm = `offset`.
    MapValue {
        /// Index into [`Object::maps`].
        map: usize,
        /// Byte offset in the map value.
        offset: u32,
    },
    /// BPF-to-BPF call: imm = `target - (insn + 1)`.
    Call {
        /// Final instruction index of the callee.
        target: usize,
    },
    /// `lddw` of a function address: src=`BPF_PSEUDO_FUNC`, imm = `target - (insn + 1)`.
    FuncAddr {
        /// Final instruction index of the function.
        target: usize,
    },
}

/// A call to a function clang left undefined (`memset`, `memcpy`, `memmove`, `memcmp`):
/// the runtime expands or provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalCall {
    /// Instruction index in the final program.
    pub insn: usize,
    /// The called symbol.
    pub symbol: String,
}

/// A function placed in a linked program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedFunction {
    /// Function symbol name.
    pub name: String,
    /// ELF section it came from.
    pub section: String,
    /// First instruction in the final program.
    pub start: usize,
    /// Number of instruction slots.
    pub len: usize,
}

/// One program: an entry function and the subprograms it calls, linked and relocated.
#[derive(Debug, Clone)]
pub struct ProgramSection {
    /// Function symbol name (the section name when the section has no function symbol).
    pub name: String,
    /// ELF section name (`xdp`, `kprobe/do_sys_open`, `2/7`).
    pub section: String,
    /// Type inferred from the section name; `None` for names libbpf does not know.
    pub kind: Option<ProgramKind>,
    /// Raw 8-byte instruction slots (an `lddw` takes two).
    pub insns: Vec<[u8; 8]>,
    /// The main function (at 0) and appended subprograms.
    pub functions: Vec<LinkedFunction>,
    /// `bpf_func_info` by final instruction index.
    pub func_info: Vec<FuncInfo>,
    /// `bpf_line_info` by final instruction index.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocation records by final instruction index.
    pub core_relos: Vec<CoreRelo>,
    /// Whether [`Object::relocate_core`] has patched `insns`.
    pub core_applied: bool,
    /// What each CO-RE relocation computed (empty until applied).
    pub core_results: Vec<crate::btf::core::CoreResult>,
    /// Every relocation applied, by final instruction index.
    pub relocations: Vec<Relocation>,
    /// Calls to undefined `mem*` functions left by clang.
    pub external_calls: Vec<ExternalCall>,
}

impl ProgramSection {
    /// The instructions with each map reference's imm set to `handles[map index]` (a
    /// kernel fd or a runtime map id); the error is a map index with no handle.
    pub fn bind_maps(&self, handles: &[i32]) -> Result<Vec<[u8; 8]>, usize> {
        let mut insns = self.insns.clone();
        for r in &self.relocations {
            if let RelocKind::Map { map } | RelocKind::MapValue { map, .. } = r.kind {
                let h = *handles.get(map).ok_or(map)?;
                if let Some(insn) = insns.get_mut(r.insn) {
                    reloc::set_imm(insn, h);
                }
            }
        }
        Ok(insns)
    }

    /// `func_info` as the kernel's `struct bpf_func_info` records (8 bytes each).
    pub fn func_info_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.func_info.len() * 8);
        for f in &self.func_info {
            out.extend_from_slice(&(f.insn as u32).to_le_bytes());
            out.extend_from_slice(&f.type_id.to_le_bytes());
        }
        out
    }

    /// `line_info` as the kernel's `struct bpf_line_info` records (16 bytes each).
    pub fn line_info_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.line_info.len() * 16);
        for l in &self.line_info {
            let col = (l.line_num << 10) | (l.column & 0x3ff);
            for v in [l.insn as u32, l.file_name_off, l.line_off, col] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }
}

/// A parsed BPF object.
#[derive(Debug, Clone)]
pub struct Object {
    /// Object name (used for global data map names).
    pub name: String,
    /// Contents of the `license` section up to its NUL ("" when absent).
    pub license: String,
    /// Contents of the `version` section.
    pub kernel_version: Option<u32>,
    /// Programs, in section then symbol order.
    pub programs: Vec<ProgramSection>,
    /// Maps: legacy `maps` first, then BTF `.maps`, then global data sections.
    pub maps: Vec<MapSpec>,
    /// `.BTF`, with DATASEC sizes and offsets fixed up from the ELF file.
    pub btf: Option<Btf>,
    /// `.BTF.ext`.
    pub btf_ext: Option<BtfExt>,
}

/// libbpf's object name for a file path: the base name up to the first `.`, at most
/// 15 bytes (`BPF_OBJ_NAME_LEN - 1`).
pub fn object_name_from_path(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    let base = &base[..end];
    base.split('.').next().unwrap_or(base).to_owned()
}

fn btf_err(section: &'static str) -> impl Fn(BtfError) -> ObjectError {
    move |source| ObjectError::Btf { section, source }
}

impl Object {
    /// Parses an ELF BPF object. `name` is the object name ([`object_name_from_path`]).
    pub fn parse(data: &[u8], name: &str) -> Result<Object, ObjectError> {
        let elf = elf::Elf::parse(data)?;
        let license = elf
            .sec_by_name("license")
            .map(|s| {
                let end = s.data.iter().position(|&b| b == 0).unwrap_or(s.data.len());
                String::from_utf8_lossy(&s.data[..end]).into_owned()
            })
            .unwrap_or_default();
        let kernel_version = match elf.sec_by_name("version") {
            Some(s) => match <[u8; 4]>::try_from(s.data) {
                Ok(b) => Some(u32::from_le_bytes(b)),
                Err(_) => return Err(ObjectError::BadVersion { size: s.data.len() }),
            },
            None => None,
        };
        let mut btf = match elf.sec_by_name(".BTF") {
            Some(s) => Some(Btf::parse(s.data).map_err(btf_err(".BTF"))?),
            None => None,
        };
        if let Some(b) = btf.as_mut() {
            maps::fixup_datasecs(&elf, b).map_err(btf_err(".BTF"))?;
        }
        let btf_ext = match (elf.sec_by_name(".BTF.ext"), btf.as_ref()) {
            (Some(s), Some(b)) => Some(BtfExt::parse(s.data, b).map_err(btf_err(".BTF.ext"))?),
            _ => None,
        };
        let maps = maps::collect(&elf, btf.as_ref(), name)?;
        let code = reloc::relocate_sections(&elf, &maps)?;
        let programs = link::link_programs(&code, btf_ext.as_ref())?;
        Ok(Object {
            name: name.to_owned(),
            license,
            kernel_version,
            programs,
            maps,
            btf,
            btf_ext,
        })
    }

    /// True if the license is GPL-compatible (the kernel's `license_is_gpl_compatible`).
    pub fn is_gpl_compatible(&self) -> bool {
        license_is_gpl_compatible(&self.license)
    }

    /// The program with this function name.
    pub fn program(&self, name: &str) -> Option<&ProgramSection> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The map with this name and its index.
    pub fn map(&self, name: &str) -> Option<(usize, &MapSpec)> {
        self.maps.iter().enumerate().find(|(_, m)| m.name == name)
    }
}

#[cfg(test)]
mod tests;
#[cfg(all(test, target_os = "linux"))]
mod tests_core;
#[cfg(all(test, target_os = "linux"))]
mod tests_kernel;
#[cfg(test)]
mod tests_malformed;
#[cfg(test)]
mod tests_oracle;
