//! BTF: the BPF Type Format (`.BTF` and `.BTF.ext` sections, linux/btf.h).
//!
//! [`Btf::parse`] reads the header, the type section and the string section of a raw
//! `.BTF` blob; every length and offset is checked against the blob so malformed input
//! gives a [`BtfError`] naming the offset, never a panic. Types are looked up by id or
//! name, resolved through typedefs and qualifiers, sized, and a value's bytes can be
//! printed as JSON the way bpftool prints map values ([`Btf::dump`]).
//!
//! ```
//! # use oxbpf::btf::Btf;
//! // A tiny BTF with one type: [1] INT 'int' size=4 signed.
//! let mut raw = vec![0x9f, 0xeb, 1, 0, 24, 0, 0, 0];
//! for v in [0u32, 16, 16, 5] { raw.extend_from_slice(&v.to_le_bytes()); }
//! for v in [1u32, 0x0100_0000, 4, 0x0100_0020] { raw.extend_from_slice(&v.to_le_bytes()); }
//! raw.extend_from_slice(b"\0int\0");
//! let btf = Btf::parse(&raw).unwrap();
//! let id = btf.id_by_name("int").unwrap();
//! assert_eq!(btf.size_of(id).unwrap(), 4);
//! assert_eq!(btf.dump(id, &(-3i32).to_le_bytes()).unwrap(), serde_json::json!(-3));
//! ```

pub mod core;
mod dump;
mod ext;
mod pretty;
mod types;

pub use ext::{BtfExt, CoreRelo, FuncInfo, LineInfo};
pub use types::{
    kind, BtfKind, BtfType, Enumerator, Linkage, Member, Param, VarSecInfo, INT_BOOL, INT_CHAR,
    INT_SIGNED,
};

use std::collections::HashMap;

/// `BTF_MAGIC`, little-endian.
pub const BTF_MAGIC: u16 = 0xeb9f;
/// Size of `struct btf_header`.
const HEADER_LEN: usize = 24;
/// How many typedef/qualifier hops we follow before calling it a cycle (the kernel
/// uses a similar bound, `MAX_RESOLVE_DEPTH`).
const MAX_RESOLVE_DEPTH: usize = 32;
/// Deepest aggregate nesting that size computation and pretty printing follow.
pub(crate) const MAX_NEST_DEPTH: usize = 64;

/// Errors reading or querying BTF. Offsets are byte offsets in the `.BTF` blob.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BtfError {
    /// The blob ends before a field that must be there.
    #[error("BTF truncated reading {what} at offset {offset}: need {need} bytes, blob has {len}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Offset of the read.
        offset: usize,
        /// Bytes needed.
        need: usize,
        /// Length of the blob or section.
        len: usize,
    },
    /// Wrong magic number (big-endian BTF is reported here too).
    #[error("bad BTF magic {found:#06x} at offset 0 (expected 0xeb9f, little-endian)")]
    BadMagic {
        /// The value found.
        found: u16,
    },
    /// Unsupported header version.
    #[error("unsupported BTF version {version}")]
    BadVersion {
        /// The version found.
        version: u8,
    },
    /// The header's `hdr_len` is too small or beyond the blob.
    #[error("bad BTF header length {hdr_len} (blob is {len} bytes)")]
    BadHeaderLen {
        /// Header length claimed.
        hdr_len: u32,
        /// Blob length.
        len: usize,
    },
    /// A section (types/strings) claimed by the header lies outside the blob.
    #[error(
        "BTF {section} section at offset {offset} length {length} exceeds blob of {len} bytes"
    )]
    SectionOutOfBounds {
        /// Section name.
        section: &'static str,
        /// Offset from the blob start.
        offset: u64,
        /// Claimed length.
        length: u64,
        /// Blob length.
        len: usize,
    },
    /// The string section is malformed (must start with and end in NUL).
    #[error("bad BTF string section: {reason}")]
    BadStringSection {
        /// What is wrong.
        reason: &'static str,
    },
    /// A name offset points outside the string section or to a non-UTF-8 string.
    #[error("bad BTF string offset {name_off} referenced at offset {at}")]
    BadStringOffset {
        /// The string offset.
        name_off: u32,
        /// Where it was read.
        at: usize,
    },
    /// An unknown `BTF_KIND_*` number.
    #[error("unknown BTF kind {kind} for type id {id} at offset {offset}")]
    UnknownKind {
        /// Kind number.
        kind: u8,
        /// Type id being parsed.
        id: u32,
        /// Offset of the type record.
        offset: usize,
    },
    /// A type id that does not exist.
    #[error("BTF type id {id} not found ({count} types)")]
    NoSuchType {
        /// The id asked for.
        id: u32,
        /// Number of types including void.
        count: usize,
    },
    /// No type with this name.
    #[error("no BTF type named {name:?}")]
    NoSuchName {
        /// The name asked for.
        name: String,
    },
    /// Following references looped or nested too deep.
    #[error("BTF type {id}: reference chain too deep or cyclic")]
    TooDeep {
        /// The type where resolution started.
        id: u32,
    },
    /// The type has no size (func, func_proto, fwd, void).
    #[error("BTF type {id} ({kind}) has no size")]
    NotSized {
        /// Type id.
        id: u32,
        /// Kind name.
        kind: &'static str,
    },
    /// A size computation overflowed.
    #[error("BTF type {id}: size overflows")]
    SizeOverflow {
        /// Type id.
        id: u32,
    },
    /// The type is not what the caller needs (e.g. members of a non-struct).
    #[error("BTF type {id} is {kind}, expected {expected}")]
    WrongKind {
        /// Type id.
        id: u32,
        /// Its kind.
        kind: &'static str,
        /// The kind wanted.
        expected: &'static str,
    },
    /// The value bytes are shorter than the type.
    #[error("value of BTF type {id} needs {need} bytes at offset {offset}, have {have}")]
    ValueTooShort {
        /// Type id being printed.
        id: u32,
        /// Offset inside the value.
        offset: usize,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// Printing the value would produce more JSON nodes than the value's size allows.
    #[error("value of BTF type {id} expands to too many JSON nodes")]
    OutputTooLarge {
        /// Type id being printed.
        id: u32,
    },
    /// A `.BTF.ext` problem.
    #[error("BTF.ext: {reason} at offset {offset}")]
    BadExt {
        /// What is wrong.
        reason: &'static str,
        /// Offset in the `.BTF.ext` blob.
        offset: usize,
    },
}

/// Little-endian bounds-checked reads from a byte slice.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, what }
    }

    pub(crate) fn bytes(&self, offset: usize, need: usize) -> Result<&'a [u8], BtfError> {
        offset
            .checked_add(need)
            .and_then(|end| self.data.get(offset..end))
            .ok_or(BtfError::Truncated {
                what: self.what,
                offset,
                need,
                len: self.data.len(),
            })
    }

    pub(crate) fn u32(&self, offset: usize) -> Result<u32, BtfError> {
        let b = self.bytes(offset, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u16(&self, offset: usize) -> Result<u16, BtfError> {
        let b = self.bytes(offset, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u8(&self, offset: usize) -> Result<u8, BtfError> {
        Ok(self.bytes(offset, 1)?[0])
    }
}

/// Parsed `.BTF`: types indexed by id (id 0 is void) and the string section.
#[derive(Debug, Clone)]
pub struct Btf {
    types: Vec<BtfType>,
    /// Byte offset of each type record in `raw` (index = id; 0 for void).
    offsets: Vec<usize>,
    strings: Vec<u8>,
    raw: Vec<u8>,
    by_name: HashMap<String, Vec<u32>>,
}

/// Parsed header fields we need: absolute offsets of the two sections.
struct Header {
    type_start: usize,
    type_len: usize,
    str_start: usize,
    str_len: usize,
}

fn parse_header(r: &Reader<'_>, len: usize) -> Result<Header, BtfError> {
    let magic = r.u16(0)?;
    if magic != BTF_MAGIC {
        return Err(BtfError::BadMagic { found: magic });
    }
    let version = r.u8(2)?;
    if version != 1 {
        return Err(BtfError::BadVersion { version });
    }
    let hdr_len = r.u32(4)?;
    if (hdr_len as usize) < HEADER_LEN || hdr_len as usize > len {
        return Err(BtfError::BadHeaderLen { hdr_len, len });
    }
    let section = |name: &'static str, off_at: usize| -> Result<(usize, usize), BtfError> {
        let off = r.u32(off_at)?;
        let length = r.u32(off_at + 4)?;
        let start = u64::from(hdr_len) + u64::from(off);
        let end = start + u64::from(length);
        if end > len as u64 {
            return Err(BtfError::SectionOutOfBounds {
                section: name,
                offset: start,
                length: u64::from(length),
                len,
            });
        }
        // Both fit in usize: they are bounded by `len`.
        Ok((start as usize, length as usize))
    };
    let (type_start, type_len) = section("type", 8)?;
    let (str_start, str_len) = section("string", 16)?;
    Ok(Header {
        type_start,
        type_len,
        str_start,
        str_len,
    })
}

impl Btf {
    /// Parses a raw `.BTF` blob.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let r = Reader::new(data, "BTF");
        let h = parse_header(&r, data.len())?;
        let strings = r.bytes(h.str_start, h.str_len)?.to_vec();
        if strings.first() != Some(&0) {
            return Err(BtfError::BadStringSection {
                reason: "must start with an empty string",
            });
        }
        if strings.last() != Some(&0) {
            return Err(BtfError::BadStringSection {
                reason: "last string is not NUL-terminated",
            });
        }
        let mut btf = Btf {
            types: vec![BtfType {
                name: String::new(),
                kind: BtfKind::Void,
            }],
            offsets: vec![0],
            strings,
            raw: data.to_vec(),
            by_name: HashMap::new(),
        };
        let types = Reader::new(r.bytes(h.type_start, h.type_len)?, "BTF type section");
        let mut off = 0usize;
        while off < h.type_len {
            let id = u32::try_from(btf.types.len()).map_err(|_| BtfError::TooDeep { id: 0 })?;
            let (ty, next) = btf.parse_type(&types, off, id, h.type_start)?;
            if !ty.name.is_empty() {
                btf.by_name.entry(ty.name.clone()).or_default().push(id);
            }
            btf.types.push(ty);
            btf.offsets.push(h.type_start + off);
            off = next;
        }
        Ok(btf)
    }

    fn string_at(&self, name_off: u32, at: usize) -> Result<String, BtfError> {
        let bad = BtfError::BadStringOffset { name_off, at };
        let rest = self.strings.get(name_off as usize..).ok_or(bad.clone())?;
        let end = rest.iter().position(|&b| b == 0).ok_or(bad.clone())?;
        std::str::from_utf8(&rest[..end])
            .map(str::to_owned)
            .map_err(|_| bad)
    }

    /// Reads one type record at `off` in the type section; returns it and the next offset.
    fn parse_type(
        &self,
        r: &Reader<'_>,
        off: usize,
        id: u32,
        base: usize,
    ) -> Result<(BtfType, usize), BtfError> {
        let name_off = r.u32(off)?;
        let info = r.u32(off + 4)?;
        let size_or_type = r.u32(off + 8)?;
        let vlen = (info & 0xffff) as usize;
        let kind_nr = ((info >> 24) & 0x1f) as u8;
        let kflag = info & (1 << 31) != 0;
        let name = self.string_at(name_off, base + off)?;
        let tail = off + 12;
        // Check a vlen-sized tail fits before allocating anything for it.
        let tail_of = |rec: usize| -> Result<usize, BtfError> {
            let need = vlen * rec;
            r.bytes(tail, need)?;
            Ok(tail + need)
        };
        let members = || -> Result<Vec<Member>, BtfError> {
            let mut v = Vec::with_capacity(vlen);
            for i in 0..vlen {
                let m = tail + i * 12;
                let raw_off = r.u32(m + 8)?;
                let (bit_offset, bitfield_size) = if kflag {
                    (raw_off & 0x00ff_ffff, raw_off >> 24)
                } else {
                    (raw_off, 0)
                };
                v.push(Member {
                    name: self.string_at(r.u32(m)?, base + m)?,
                    type_id: r.u32(m + 4)?,
                    bit_offset,
                    bitfield_size,
                });
            }
            Ok(v)
        };
        let (kind, next) = match kind_nr {
            kind::INT => {
                let v = r.u32(tail)?;
                let k = BtfKind::Int {
                    size: size_or_type,
                    encoding: ((v >> 24) & 0x0f) as u8,
                    offset: ((v >> 16) & 0xff) as u8,
                    bits: (v & 0xff) as u8,
                };
                (k, tail + 4)
            }
            kind::PTR => (
                BtfKind::Ptr {
                    target: size_or_type,
                },
                tail,
            ),
            kind::ARRAY => {
                let k = BtfKind::Array {
                    elem: r.u32(tail)?,
                    index: r.u32(tail + 4)?,
                    len: r.u32(tail + 8)?,
                };
                (k, tail + 12)
            }
            kind::STRUCT | kind::UNION => {
                let next = tail_of(12)?;
                let members = members()?;
                let k = if kind_nr == kind::STRUCT {
                    BtfKind::Struct {
                        size: size_or_type,
                        members,
                    }
                } else {
                    BtfKind::Union {
                        size: size_or_type,
                        members,
                    }
                };
                (k, next)
            }
            kind::ENUM | kind::ENUM64 => {
                let is64 = kind_nr == kind::ENUM64;
                let rec = if is64 { 12 } else { 8 };
                let next = tail_of(rec)?;
                let mut values = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let e = tail + i * rec;
                    let lo = r.u32(e + 4)?;
                    let value = if is64 {
                        u64::from(lo) | (u64::from(r.u32(e + 8)?) << 32)
                    } else if kflag {
                        i64::from(lo as i32) as u64
                    } else {
                        u64::from(lo)
                    };
                    values.push(Enumerator {
                        name: self.string_at(r.u32(e)?, base + e)?,
                        value,
                    });
                }
                let k = BtfKind::Enum {
                    size: size_or_type,
                    signed: kflag,
                    is64,
                    values,
                };
                (k, next)
            }
            kind::FWD => (BtfKind::Fwd { is_union: kflag }, tail),
            kind::TYPEDEF => (
                BtfKind::Typedef {
                    target: size_or_type,
                },
                tail,
            ),
            kind::VOLATILE => (
                BtfKind::Volatile {
                    target: size_or_type,
                },
                tail,
            ),
            kind::CONST => (
                BtfKind::Const {
                    target: size_or_type,
                },
                tail,
            ),
            kind::RESTRICT => (
                BtfKind::Restrict {
                    target: size_or_type,
                },
                tail,
            ),
            kind::TYPE_TAG => (
                BtfKind::TypeTag {
                    target: size_or_type,
                },
                tail,
            ),
            kind::FUNC => (
                BtfKind::Func {
                    proto: size_or_type,
                    linkage: Linkage::from_raw(vlen as u32),
                },
                tail,
            ),
            kind::FUNC_PROTO => {
                let next = tail_of(8)?;
                let mut params = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let p = tail + i * 8;
                    params.push(Param {
                        name: self.string_at(r.u32(p)?, base + p)?,
                        type_id: r.u32(p + 4)?,
                    });
                }
                let k = BtfKind::FuncProto {
                    ret: size_or_type,
                    params,
                };
                (k, next)
            }
            kind::VAR => {
                let k = BtfKind::Var {
                    target: size_or_type,
                    linkage: Linkage::from_raw(r.u32(tail)?),
                };
                (k, tail + 4)
            }
            kind::DATASEC => {
                let next = tail_of(12)?;
                let mut vars = Vec::with_capacity(vlen);
                for i in 0..vlen {
                    let v = tail + i * 12;
                    vars.push(VarSecInfo {
                        type_id: r.u32(v)?,
                        offset: r.u32(v + 4)?,
                        size: r.u32(v + 8)?,
                    });
                }
                let k = BtfKind::DataSec {
                    size: size_or_type,
                    vars,
                };
                (k, next)
            }
            kind::FLOAT => (BtfKind::Float { size: size_or_type }, tail),
            kind::DECL_TAG => {
                let k = BtfKind::DeclTag {
                    target: size_or_type,
                    component_idx: r.u32(tail)? as i32,
                };
                (k, tail + 4)
            }
            _ => {
                return Err(BtfError::UnknownKind {
                    kind: kind_nr,
                    id,
                    offset: base + off,
                })
            }
        };
        Ok((BtfType { name, kind }, next))
    }

    /// Number of types, including void (id 0).
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// True if there are no types besides void.
    pub fn is_empty(&self) -> bool {
        self.types.len() <= 1
    }

    /// All types, indexed by id (index 0 is void).
    pub fn types(&self) -> &[BtfType] {
        &self.types
    }

    /// The raw `.BTF` bytes, including any fix-ups applied with [`Btf::fixup_datasec`].
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The type with this id.
    pub fn type_by_id(&self, id: u32) -> Result<&BtfType, BtfError> {
        self.types.get(id as usize).ok_or(BtfError::NoSuchType {
            id,
            count: self.types.len(),
        })
    }

    /// The first type with this name.
    pub fn id_by_name(&self, name: &str) -> Result<u32, BtfError> {
        self.ids_by_name(name)
            .first()
            .copied()
            .ok_or_else(|| BtfError::NoSuchName {
                name: name.to_owned(),
            })
    }

    /// All types with this name, in id order.
    pub fn ids_by_name(&self, name: &str) -> &[u32] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first type with this name and kind number (`kind::STRUCT`, ...).
    pub fn id_by_name_kind(&self, name: &str, kind_nr: u8) -> Result<u32, BtfError> {
        self.ids_by_name(name)
            .iter()
            .copied()
            .find(|&id| {
                self.types
                    .get(id as usize)
                    .is_some_and(|t| t.kind.number() == kind_nr)
            })
            .ok_or_else(|| BtfError::NoSuchName {
                name: name.to_owned(),
            })
    }

    /// A string from the string section by offset.
    pub fn string(&self, offset: u32) -> Result<String, BtfError> {
        self.string_at(offset, 0)
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type id.
    pub fn resolve(&self, id: u32) -> Result<u32, BtfError> {
        let mut cur = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(cur)?;
            if !t.kind.is_alias() {
                return Ok(cur);
            }
            // Aliases always carry a target.
            cur = t.kind.referenced().unwrap_or(0);
        }
        Err(BtfError::TooDeep { id })
    }

    /// Like [`Btf::resolve`] but also through VARs to the variable's type.
    pub fn resolve_var(&self, id: u32) -> Result<u32, BtfError> {
        let r = self.resolve(id)?;
        match self.type_by_id(r)?.kind {
            BtfKind::Var { target, .. } => self.resolve(target),
            _ => Ok(r),
        }
    }

    /// Size in bytes of a value of this type (`btf__resolve_size`).
    pub fn size_of(&self, id: u32) -> Result<u32, BtfError> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: usize) -> Result<u32, BtfError> {
        if depth > MAX_NEST_DEPTH {
            return Err(BtfError::TooDeep { id });
        }
        let t = self.type_by_id(id)?;
        match &t.kind {
            BtfKind::Int { size, .. }
            | BtfKind::Struct { size, .. }
            | BtfKind::Union { size, .. }
            | BtfKind::Enum { size, .. }
            | BtfKind::DataSec { size, .. }
            | BtfKind::Float { size } => Ok(*size),
            BtfKind::Ptr { .. } => Ok(8),
            BtfKind::Array { elem, len, .. } => {
                let e = self.size_of_depth(*elem, depth + 1)?;
                e.checked_mul(*len).ok_or(BtfError::SizeOverflow { id })
            }
            BtfKind::Typedef { target }
            | BtfKind::Volatile { target }
            | BtfKind::Const { target }
            | BtfKind::Restrict { target }
            | BtfKind::TypeTag { target }
            | BtfKind::Var { target, .. } => self.size_of_depth(*target, depth + 1),
            k => Err(BtfError::NotSized { id, kind: k.name() }),
        }
    }

    /// Members of a struct or union (after resolving typedefs/qualifiers).
    pub fn members(&self, id: u32) -> Result<&[Member], BtfError> {
        let r = self.resolve(id)?;
        match &self.type_by_id(r)?.kind {
            BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => Ok(members),
            k => Err(BtfError::WrongKind {
                id: r,
                kind: k.name(),
                expected: "STRUCT or UNION",
            }),
        }
    }

    /// A struct/union member by name: (bit offset, bitfield size, member).
    pub fn member(&self, id: u32, name: &str) -> Result<&Member, BtfError> {
        self.members(id)?
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| BtfError::NoSuchName {
                name: name.to_owned(),
            })
    }

    /// Sets a DATASEC's size and, where `var_offset` knows them, its variables' offsets
    /// (clang leaves the section size 0; libbpf fixes it from the ELF file the same way).
    /// The raw bytes are patched too so [`Btf::raw`] can be handed to the kernel.
    pub fn fixup_datasec(
        &mut self,
        id: u32,
        size: u32,
        mut var_offset: impl FnMut(&str) -> Option<u32>,
    ) -> Result<(), BtfError> {
        let base = *self.offsets.get(id as usize).ok_or(BtfError::NoSuchType {
            id,
            count: self.types.len(),
        })?;
        let mut names = Vec::new();
        if let BtfKind::DataSec { vars, .. } = &self.types[id as usize].kind {
            for v in vars {
                names.push(self.type_by_id(v.type_id).map(|t| t.name.clone()).ok());
            }
        } else {
            let kind = self.types[id as usize].kind.name();
            return Err(BtfError::WrongKind {
                id,
                kind,
                expected: "DATASEC",
            });
        }
        let mut patches = vec![(base + 8, size)];
        if let BtfKind::DataSec { size: s, vars } = &mut self.types[id as usize].kind {
            *s = size;
            for (i, (v, name)) in vars.iter_mut().zip(&names).enumerate() {
                if let Some(off) = name.as_deref().and_then(&mut var_offset) {
                    v.offset = off;
                    patches.push((base + 12 + i * 12 + 4, off));
                }
            }
        }
        for (at, val) in patches {
            if let Some(dst) = self.raw.get_mut(at..at + 4) {
                dst.copy_from_slice(&val.to_le_bytes());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
