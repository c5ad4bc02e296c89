//! `.BTF.ext`: per-section function info, line info and CO-RE relocation records
//! (`struct btf_ext_header`, `bpf_func_info`, `bpf_line_info`, `bpf_core_relo`).
//!
//! Record offsets in the file are byte offsets into their ELF section; we keep them as
//! instruction indices (offset / 8) within that section. Strings (section names, file
//! names, source lines, CO-RE access strings) live in the `.BTF` string section.

use std::collections::BTreeMap;

use super::{Btf, BtfError, Reader, BTF_MAGIC};

/// A `bpf_func_info` record: the BTF FUNC describing the function starting at `insn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncInfo {
    /// Instruction index (in the section while parsed; in the program once linked).
    pub insn: usize,
    /// BTF type id of the FUNC.
    pub type_id: u32,
}

/// A `bpf_line_info` record: the source position of the instruction at `insn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction index (in the section while parsed; in the program once linked).
    pub insn: usize,
    /// Offset of the file name in the BTF string section (kept for the kernel).
    pub file_name_off: u32,
    /// Offset of the source line text in the BTF string section.
    pub line_off: u32,
    /// Source file name.
    pub file_name: String,
    /// Source line text.
    pub line: String,
    /// Line number (1-based).
    pub line_num: u32,
    /// Column number.
    pub column: u32,
}

/// A `bpf_core_relo` record, kept for a later CO-RE pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    /// Instruction index (in the section while parsed; in the program once linked).
    pub insn: usize,
    /// Root BTF type id.
    pub type_id: u32,
    /// Access string (`"0:1:2"`).
    pub access: String,
    /// `enum bpf_core_relo_kind` value.
    pub kind: u32,
}

/// Parsed `.BTF.ext`, records grouped by ELF section name.
#[derive(Debug, Clone, Default)]
pub struct BtfExt {
    /// `bpf_func_info` records by section name.
    pub func_info: BTreeMap<String, Vec<FuncInfo>>,
    /// `bpf_line_info` records by section name.
    pub line_info: BTreeMap<String, Vec<LineInfo>>,
    /// `bpf_core_relo` records by section name.
    pub core_relos: BTreeMap<String, Vec<CoreRelo>>,
    /// Record size of func info in the file (the kernel wants it back).
    pub func_info_rec_size: u32,
    /// Record size of line info in the file.
    pub line_info_rec_size: u32,
}

/// Minimum record sizes of the three kinds.
const FUNC_REC: u32 = 8;
const LINE_REC: u32 = 16;
const CORE_REC: u32 = 16;

fn bad(reason: &'static str, offset: usize) -> BtfError {
    BtfError::BadExt { reason, offset }
}

/// Walks one info sub-section: `u32 rec_size` then blocks of
/// `{ u32 sec_name_off; u32 num_info; rec[num_info] }`; calls `f(section, record_offset)`.
fn walk(
    r: &Reader<'_>,
    start: usize,
    len: usize,
    min_rec: u32,
    mut f: impl FnMut(String, usize) -> Result<(), BtfError>,
    btf: &Btf,
) -> Result<u32, BtfError> {
    if len == 0 {
        return Ok(min_rec);
    }
    let end = start
        .checked_add(len)
        .ok_or_else(|| bad("sub-section length overflows", start))?;
    r.bytes(start, len)?;
    let rec_size = r.u32(start)?;
    if rec_size < min_rec || rec_size % 4 != 0 {
        return Err(bad("bad record size", start));
    }
    let mut off = start + 4;
    while off < end {
        let sec_name_off = r.u32(off)?;
        let num = r.u32(off + 4)? as usize;
        let name = btf
            .string(sec_name_off)
            .map_err(|_| bad("bad section name offset", off))?;
        off += 8;
        let bytes = num
            .checked_mul(rec_size as usize)
            .filter(|&b| off.checked_add(b).is_some_and(|e| e <= end))
            .ok_or_else(|| bad("records exceed sub-section", off))?;
        for i in 0..num {
            f(name.clone(), off + i * rec_size as usize)?;
        }
        off += bytes;
    }
    Ok(rec_size)
}

fn insn_index(byte_off: u32, at: usize) -> Result<usize, BtfError> {
    if byte_off % 8 != 0 {
        return Err(bad("instruction offset not a multiple of 8", at));
    }
    Ok((byte_off / 8) as usize)
}

impl BtfExt {
    /// Parses a raw `.BTF.ext` blob; strings are looked up in `btf`.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt, BtfError> {
        let r = Reader::new(data, "BTF.ext");
        let magic = r.u16(0)?;
        if magic != BTF_MAGIC {
            return Err(BtfError::BadMagic { found: magic });
        }
        let version = r.u8(2)?;
        if version != 1 {
            return Err(BtfError::BadVersion { version });
        }
        let hdr_len = r.u32(4)? as usize;
        if hdr_len < 24 || hdr_len > data.len() {
            return Err(BtfError::BadHeaderLen {
                hdr_len: hdr_len as u32,
                len: data.len(),
            });
        }
        let sub = |at: usize| -> Result<(usize, usize), BtfError> {
            let off = r.u32(at)? as usize;
            let len = r.u32(at + 4)? as usize;
            let start = hdr_len
                .checked_add(off)
                .ok_or_else(|| bad("sub-section offset overflows", at))?;
            if start.checked_add(len).is_none_or(|e| e > data.len()) {
                return Err(BtfError::SectionOutOfBounds {
                    section: "BTF.ext info",
                    offset: start as u64,
                    length: len as u64,
                    len: data.len(),
                });
            }
            Ok((start, len))
        };
        let mut ext = BtfExt::default();
        let (fs, fl) = sub(8)?;
        ext.func_info_rec_size = walk(
            &r,
            fs,
            fl,
            FUNC_REC,
            |sec, at| {
                let rec = FuncInfo {
                    insn: insn_index(r.u32(at)?, at)?,
                    type_id: r.u32(at + 4)?,
                };
                ext.func_info.entry(sec).or_default().push(rec);
                Ok(())
            },
            btf,
        )?;
        let (ls, ll) = sub(16)?;
        ext.line_info_rec_size = walk(
            &r,
            ls,
            ll,
            LINE_REC,
            |sec, at| {
                let file_name_off = r.u32(at + 4)?;
                let line_off = r.u32(at + 8)?;
                let line_col = r.u32(at + 12)?;
                let rec = LineInfo {
                    insn: insn_index(r.u32(at)?, at)?,
                    file_name_off,
                    line_off,
                    file_name: btf
                        .string(file_name_off)
                        .map_err(|_| bad("bad file name offset", at + 4))?,
                    line: btf
                        .string(line_off)
                        .map_err(|_| bad("bad line offset", at + 8))?,
                    line_num: line_col >> 10,
                    column: line_col & 0x3ff,
                };
                ext.line_info.entry(sec).or_default().push(rec);
                Ok(())
            },
            btf,
        )?;
        if hdr_len >= 32 {
            let (cs, cl) = sub(24)?;
            walk(
                &r,
                cs,
                cl,
                CORE_REC,
                |sec, at| {
                    let rec = CoreRelo {
                        insn: insn_index(r.u32(at)?, at)?,
                        type_id: r.u32(at + 4)?,
                        access: btf
                            .string(r.u32(at + 8)?)
                            .map_err(|_| bad("bad access string offset", at + 8))?,
                        kind: r.u32(at + 12)?,
                    };
                    ext.core_relos.entry(sec).or_default().push(rec);
                    Ok(())
                },
                btf,
            )?;
        }
        // Linking looks records up by instruction range: keep each section sorted
        // (clang emits them sorted; a stable sort keeps equal offsets in file order).
        ext.func_info
            .values_mut()
            .for_each(|v| v.sort_by_key(|r| r.insn));
        ext.line_info
            .values_mut()
            .for_each(|v| v.sort_by_key(|r| r.insn));
        ext.core_relos
            .values_mut()
            .for_each(|v| v.sort_by_key(|r| r.insn));
        Ok(ext)
    }
}
