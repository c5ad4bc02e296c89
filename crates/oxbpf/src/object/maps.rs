//! Map definitions: legacy `maps` sections (libbpf's 20/28-byte `struct bpf_map_def`,
//! iproute2's 36-byte `struct bpf_elf_map`), BTF-defined `.maps` (with `__array` inner
//! definitions and initial slots from `.rel.maps`), and global data sections as
//! single-entry array maps named as libbpf names them.

use crate::btf::{Btf, BtfError, BtfKind};

use super::elf::{
    Elf, Sec, SHF_EXECINSTR, SHT_NOBITS, SHT_PROGBITS, STT_FILE, STT_FUNC, STT_SECTION,
};
use super::ObjectError;

/// `BPF_F_RDONLY_PROG`: the program may only read the map (`.rodata`).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;

/// `enum bpf_map_type` values (linux/bpf.h; 32 and 33 are from newer kernels).
#[allow(missing_docs)]
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PROG_ARRAY: u32 = 3;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const STACK_TRACE: u32 = 7;
    pub const CGROUP_ARRAY: u32 = 8;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const LPM_TRIE: u32 = 11;
    pub const ARRAY_OF_MAPS: u32 = 12;
    pub const HASH_OF_MAPS: u32 = 13;
    pub const DEVMAP: u32 = 14;
    pub const SOCKMAP: u32 = 15;
    pub const CPUMAP: u32 = 16;
    pub const XSKMAP: u32 = 17;
    pub const SOCKHASH: u32 = 18;
    pub const CGROUP_STORAGE: u32 = 19;
    pub const REUSEPORT_SOCKARRAY: u32 = 20;
    pub const PERCPU_CGROUP_STORAGE: u32 = 21;
    pub const QUEUE: u32 = 22;
    pub const STACK: u32 = 23;
    pub const SK_STORAGE: u32 = 24;
    pub const DEVMAP_HASH: u32 = 25;
    pub const STRUCT_OPS: u32 = 26;
    pub const RINGBUF: u32 = 27;
    pub const INODE_STORAGE: u32 = 28;
    pub const TASK_STORAGE: u32 = 29;
    pub const BLOOM_FILTER: u32 = 30;
    pub const USER_RINGBUF: u32 = 31;
    pub const CGRP_STORAGE: u32 = 32;
    pub const ARENA: u32 = 33;
    /// Highest type number we know.
    pub const MAX: u32 = ARENA;
}

/// How a map asks to be pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Not pinned.
    None,
    /// libbpf `LIBBPF_PIN_BY_NAME` (1 in a BTF or libbpf definition).
    ByName,
    /// iproute2 `PIN_OBJECT_NS` (1 in a `bpf_elf_map`).
    ObjectNs,
    /// iproute2 `PIN_GLOBAL_NS` (2 in a `bpf_elf_map`).
    GlobalNs,
    /// Another value, kept for the caller (iproute2 custom pinning ids).
    Other(u32),
}

/// Which global data section a data map stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// `.data`, `.data.*`.
    Data,
    /// `.rodata`, `.rodata.*`.
    Rodata,
    /// `.bss`, `.bss.*`.
    Bss,
}

/// Where a map definition came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOrigin {
    /// A legacy `maps` section definition of `def_size` bytes.
    Legacy {
        /// Size of one definition in bytes.
        def_size: u32,
        /// iproute2 `bpf_elf_map.id` (36-byte layout only).
        id: Option<u32>,
        /// iproute2 `inner_id`.
        inner_id: Option<u32>,
        /// iproute2 `inner_idx`.
        inner_idx: Option<u32>,
        /// libbpf 28-byte layout `inner_map_idx`.
        inner_map_idx: Option<u32>,
    },
    /// A BTF-defined map in `.maps`.
    Btf,
    /// The inner map definition of a map-in-map (`__array(values, ...)`).
    BtfInner,
    /// A global data section.
    Data(DataKind),
}

/// An initial slot of a map-in-map or prog array (`.values = { [1] = &x }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSlot {
    /// Slot (key) index.
    pub index: u32,
    /// What goes in it.
    pub target: MapSlotTarget,
}

/// The value of an initial slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapSlotTarget {
    /// Another map, by index into `Object::maps`.
    Map(usize),
    /// A program, by function name.
    Program(String),
}

/// A map to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// Symbol name, or libbpf's internal name for data maps (`hello.bss`).
    pub name: String,
    /// ELF section (`maps`, `.maps`, `.bss`, ...).
    pub section: String,
    /// ELF section index.
    pub section_index: usize,
    /// Offset of the definition (or data) in the section.
    pub section_offset: u64,
    /// `enum bpf_map_type`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum entries (0 kept for perf event arrays: the runtime sizes them).
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: u32,
    /// NUMA node (`numa_node`).
    pub numa_node: u32,
    /// `map_extra` (bloom filter hashes, arena address).
    pub map_extra: u64,
    /// Pinning request.
    pub pinning: Pinning,
    /// Where the definition came from.
    pub origin: MapOrigin,
    /// Inner map definition of a map-in-map (BTF `__array(values, struct inner)`).
    pub inner: Option<Box<MapSpec>>,
    /// Initial slots (`.rel.maps`).
    pub initial_slots: Vec<MapSlot>,
    /// Initial contents of a data map (`.bss`: zeros).
    pub data: Option<Vec<u8>>,
    /// BTF key type id, when BTF describes it.
    pub btf_key_type_id: Option<u32>,
    /// BTF value type id (the DATASEC for data maps).
    pub btf_value_type_id: Option<u32>,
}

impl MapSpec {
    fn new(name: String, sec: &Sec<'_>, offset: u64, origin: MapOrigin) -> MapSpec {
        MapSpec {
            name,
            section: sec.name.clone(),
            section_index: sec.index,
            section_offset: offset,
            map_type: 0,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            map_flags: 0,
            numa_node: 0,
            map_extra: 0,
            pinning: Pinning::None,
            origin,
            inner: None,
            initial_slots: Vec::new(),
            data: None,
            btf_key_type_id: None,
            btf_value_type_id: None,
        }
    }
}

/// libbpf's `internal_map_name`: up to 8 (or `15 - len(section)`) chars of the object
/// name + the section name (7 chars reserved for short names); names with a second dot
/// (`.rodata.str1.1`) take no prefix; characters the kernel refuses become `_`.
pub fn internal_map_name(obj_name: &str, section: &str) -> String {
    const OBJ_NAME_LEN: usize = 16;
    let sfx_len = section.len().clamp(7, OBJ_NAME_LEN - 1);
    let pfx_len = if section.get(1..).is_some_and(|r| r.contains('.')) {
        0
    } else {
        (OBJ_NAME_LEN - sfx_len - 1).min(obj_name.len())
    };
    let take = |s: &str, n: usize| -> Vec<u8> { s.bytes().take(n).collect() };
    let mut name = take(obj_name, pfx_len);
    name.extend(take(section, sfx_len));
    name.truncate(OBJ_NAME_LEN - 1);
    name.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                char::from(b)
            } else {
                '_'
            }
        })
        .collect()
}

fn data_kind(sec: &Sec<'_>) -> Option<DataKind> {
    let is = |base: &str| {
        sec.name == base
            || sec
                .name
                .strip_prefix(base)
                .is_some_and(|r| r.starts_with('.'))
    };
    if sec.flags & SHF_EXECINSTR != 0 {
        return None;
    }
    if sec.sh_type == SHT_PROGBITS && is(".data") {
        Some(DataKind::Data)
    } else if sec.sh_type == SHT_PROGBITS && is(".rodata") {
        Some(DataKind::Rodata)
    } else if sec.sh_type == SHT_NOBITS && is(".bss") {
        Some(DataKind::Bss)
    } else {
        None
    }
}

/// Sets DATASEC sizes and variable offsets from the ELF sections and symbols.
pub(super) fn fixup_datasecs(elf: &Elf<'_>, btf: &mut Btf) -> Result<(), BtfError> {
    let ids: Vec<(u32, String)> = btf
        .types()
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, BtfKind::DataSec { .. }))
        .map(|(i, t)| (i as u32, t.name.clone()))
        .collect();
    for (id, name) in ids {
        let Some(sec) = elf.sec_by_name(&name) else {
            continue;
        };
        // Sections are capped at 1 GiB, so the size fits.
        let size = u32::try_from(sec.size).unwrap_or(u32::MAX);
        btf.fixup_datasec(id, size, |var| {
            elf.sym_by_name(sec.index, var)
                .and_then(|s| u32::try_from(s.value).ok())
        })?;
    }
    Ok(())
}

fn check_type(m: &MapSpec) -> Result<(), ObjectError> {
    if m.map_type == 0 || m.map_type > map_type::MAX {
        return Err(ObjectError::UnknownMapType {
            map: m.name.clone(),
            map_type: m.map_type,
        });
    }
    Ok(())
}

fn bad_map(map: &str, sec: &Sec<'_>, problem: impl Into<String>) -> ObjectError {
    ObjectError::BadMap {
        map: map.to_owned(),
        section: sec.name.clone(),
        problem: problem.into(),
    }
}

/// Legacy definitions: every non-section symbol in a `maps` section.
fn legacy_maps(elf: &Elf<'_>, sec: &Sec<'_>, out: &mut Vec<MapSpec>) -> Result<(), ObjectError> {
    let mut syms: Vec<_> = elf
        .syms_in(sec.index)
        .filter(|(_, s)| s.st_type != STT_SECTION && s.st_type != STT_FILE)
        .map(|(_, s)| s)
        .collect();
    // Definition order, as the kernel samples' loader and old libbpf sort them: the
    // 28-byte layout's `inner_map_idx` counts in this order.
    syms.sort_by_key(|s| s.value);
    if syms.is_empty() {
        return Ok(());
    }
    let n = syms.len() as u64;
    for s in syms {
        // Old clang emits size-0 symbols: libbpf then divides the section evenly.
        let def_size = if s.size != 0 {
            s.size
        } else if sec.size % n == 0 {
            sec.size / n
        } else {
            return Err(bad_map(
                &s.name,
                sec,
                format!("section size {} not divisible by {n} map symbols", sec.size),
            ));
        };
        let def = s
            .value
            .checked_add(def_size)
            .and_then(|end| sec.data.get(s.value as usize..end as usize))
            .ok_or_else(|| {
                bad_map(
                    &s.name,
                    sec,
                    format!("definition at {}+{def_size} outside section", s.value),
                )
            })?;
        if def.len() < 20 {
            return Err(bad_map(
                &s.name,
                sec,
                format!("definition of {} bytes is shorter than 20", def.len()),
            ));
        }
        let field = |i: usize| -> Option<u32> {
            def.get(i * 4..i * 4 + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let get = |i: usize| field(i).unwrap_or(0);
        let iproute2 = def.len() >= 36;
        let mut m = MapSpec::new(
            s.name.clone(),
            sec,
            s.value,
            MapOrigin::Legacy {
                def_size: def.len() as u32,
                id: iproute2.then(|| get(5)),
                inner_id: iproute2.then(|| get(7)),
                inner_idx: iproute2.then(|| get(8)),
                inner_map_idx: if iproute2 { None } else { field(5) },
            },
        );
        m.map_type = get(0);
        m.key_size = get(1);
        m.value_size = get(2);
        m.max_entries = get(3);
        m.map_flags = get(4);
        if iproute2 {
            m.pinning = match get(6) {
                0 => Pinning::None,
                1 => Pinning::ObjectNs,
                2 => Pinning::GlobalNs,
                v => Pinning::Other(v),
            };
        } else {
            m.numa_node = field(6).unwrap_or(0);
        }
        check_type(&m)?;
        out.push(m);
    }
    Ok(())
}

fn is_map_in_map(t: u32) -> bool {
    t == map_type::ARRAY_OF_MAPS || t == map_type::HASH_OF_MAPS
}

/// Resolves legacy map-in-map references among the definitions `out[first..]` of one
/// `maps` section, filling `inner` (the template the outer map is created with) and
/// `initial_slots`:
/// - libbpf's 28-byte layout (kernel samples' `bpf_load.c`): a map-in-map's
///   `inner_map_idx` is the index of its template among the section's definitions in
///   offset order; the field is ignored on other map types (it is 0 there).
/// - iproute2's 36-byte `bpf_elf_map`: a map-in-map's `inner_id` names the template by
///   its `id` (prog arrays excluded, as iproute2's `bpf_map_find_by_id`); every other map
///   with a non-zero `id` is stored at slot `inner_idx` of each map-in-map whose
///   `inner_id` equals that `id` (iproute2's `bpf_maps_attach_all`).
fn legacy_inner_maps(sec: &Sec<'_>, first: usize, out: &mut [MapSpec]) -> Result<(), ObjectError> {
    let section = &out[first..];
    let mut inner: Vec<(usize, MapSpec)> = Vec::new();
    let mut slots: Vec<(usize, MapSlot)> = Vec::new();
    for (i, m) in section.iter().enumerate() {
        if !is_map_in_map(m.map_type) {
            continue;
        }
        let MapOrigin::Legacy {
            def_size,
            inner_id,
            inner_map_idx,
            ..
        } = m.origin
        else {
            continue;
        };
        let template = if let Some(j) = inner_map_idx {
            let j = j as usize;
            if j >= section.len() {
                return Err(bad_map(
                    &m.name,
                    sec,
                    format!(
                        "inner_map_idx {j} is past the section's {} definitions",
                        section.len()
                    ),
                ));
            }
            j
        } else if let Some(id) = inner_id {
            let found = section.iter().position(|t| {
                matches!(t.origin, MapOrigin::Legacy { id: Some(tid), .. } if tid == id && id != 0)
                    && t.map_type != map_type::PROG_ARRAY
            });
            found.ok_or_else(|| {
                bad_map(
                    &m.name,
                    sec,
                    format!("inner_id {id} names no map of the section (by id)"),
                )
            })?
        } else {
            return Err(bad_map(
                &m.name,
                sec,
                format!("{def_size}-byte definition cannot name an inner map"),
            ));
        };
        let t = &section[template];
        if template == i || is_map_in_map(t.map_type) {
            return Err(bad_map(
                &m.name,
                sec,
                format!("inner map {} is a map-in-map itself", t.name),
            ));
        }
        inner.push((i, t.clone()));
        let Some(oid) = inner_id.filter(|&v| v != 0) else {
            continue;
        };
        for (k, s) in section.iter().enumerate() {
            let MapOrigin::Legacy {
                id: Some(sid),
                inner_idx: Some(idx),
                ..
            } = s.origin
            else {
                continue;
            };
            if sid != oid || is_map_in_map(s.map_type) || s.map_type == map_type::PROG_ARRAY {
                continue;
            }
            if idx >= m.max_entries {
                return Err(bad_map(
                    &s.name,
                    sec,
                    format!(
                        "inner_idx {idx} is past max_entries {} of {}",
                        m.max_entries, m.name
                    ),
                ));
            }
            slots.push((
                i,
                MapSlot {
                    index: idx,
                    target: MapSlotTarget::Map(first + k),
                },
            ));
        }
    }
    for (i, t) in inner {
        let outer = &mut out[first + i];
        let mut t = t;
        t.name = format!("{}.inner", outer.name);
        outer.inner = Some(Box::new(t));
    }
    for (i, slot) in slots {
        out[first + i].initial_slots.push(slot);
    }
    Ok(())
}

/// `__uint(name, N)` is `int (*name)[N]`: a pointer to an array of N elements.
fn uint_field(btf: &Btf, type_id: u32) -> Result<u32, BtfError> {
    let ptr = btf.resolve(type_id)?;
    let BtfKind::Ptr { target } = btf.type_by_id(ptr)?.kind else {
        return Err(wrong(btf, ptr, "PTR"));
    };
    let arr = btf.resolve(target)?;
    match btf.type_by_id(arr)?.kind {
        BtfKind::Array { len, .. } => Ok(len),
        _ => Err(wrong(btf, arr, "ARRAY")),
    }
}

fn wrong(btf: &Btf, id: u32, expected: &'static str) -> BtfError {
    BtfError::WrongKind {
        id,
        kind: btf.type_by_id(id).map(|t| t.kind.name()).unwrap_or("?"),
        expected,
    }
}

/// `__type(name, T)` is `T *name`: returns T's id.
fn type_field(btf: &Btf, type_id: u32) -> Result<u32, BtfError> {
    let ptr = btf.resolve(type_id)?;
    match btf.type_by_id(ptr)?.kind {
        BtfKind::Ptr { target } => Ok(target),
        _ => Err(wrong(btf, ptr, "PTR")),
    }
}

/// Parses one BTF map definition struct; returns the spec and the byte offset of the
/// `values` member (for initial slots).
fn btf_map_def(
    btf: &Btf,
    struct_id: u32,
    mut m: MapSpec,
    sec: &Sec<'_>,
    depth: usize,
) -> Result<(MapSpec, Option<u32>), ObjectError> {
    let name = m.name.clone();
    let err = |field: &str, e: BtfError| bad_map(&name, sec, format!("field {field}: {e}"));
    let members = btf
        .members(struct_id)
        .map_err(|e| err("(definition)", e))?
        .to_vec();
    let mut values_off = None;
    let (mut key_size, mut value_size) = (None, None);
    for mem in &members {
        let f = mem.name.as_str();
        let uint = || uint_field(btf, mem.type_id).map_err(|e| err(f, e));
        match f {
            "type" => m.map_type = uint()?,
            "max_entries" => m.max_entries = uint()?,
            "map_flags" => m.map_flags = uint()?,
            "numa_node" => m.numa_node = uint()?,
            "map_extra" => m.map_extra = u64::from(uint()?),
            "key_size" => key_size = Some(uint()?),
            "value_size" => value_size = Some(uint()?),
            "pinning" => {
                m.pinning = match uint()? {
                    0 => Pinning::None,
                    1 => Pinning::ByName,
                    v => Pinning::Other(v),
                }
            }
            "key" | "value" => {
                let t = type_field(btf, mem.type_id).map_err(|e| err(f, e))?;
                let size = btf.size_of(t).map_err(|e| err(f, e))?;
                if f == "key" {
                    m.key_size = size;
                    m.btf_key_type_id = Some(t);
                } else {
                    m.value_size = size;
                    m.btf_value_type_id = Some(t);
                }
            }
            "values" => {
                values_off = Some(mem.bit_offset / 8);
                let arr = btf.resolve(mem.type_id).map_err(|e| err(f, e))?;
                let BtfKind::Array { elem, .. } = btf.type_by_id(arr).map_err(|e| err(f, e))?.kind
                else {
                    return Err(err(f, wrong(btf, arr, "ARRAY")));
                };
                let target = type_field(btf, elem).map_err(|e| err(f, e))?;
                let target = btf.resolve(target).map_err(|e| err(f, e))?;
                match btf.type_by_id(target).map_err(|e| err(f, e))?.kind {
                    BtfKind::Struct { .. } => {
                        if depth > 0 {
                            return Err(bad_map(&name, sec, "nested map-in-map definition"));
                        }
                        let inner = MapSpec::new(
                            format!("{name}.inner"),
                            sec,
                            m.section_offset,
                            MapOrigin::BtfInner,
                        );
                        let (inner, _) = btf_map_def(btf, target, inner, sec, depth + 1)?;
                        m.inner = Some(Box::new(inner));
                    }
                    BtfKind::FuncProto { .. } => {}
                    _ => return Err(err(f, wrong(btf, target, "STRUCT or FUNC_PROTO"))),
                }
                value_size.get_or_insert(4);
            }
            // libbpf rejects unknown fields only in strict mode; skip them.
            _ => {}
        }
    }
    if let Some(k) = key_size {
        if m.btf_key_type_id.is_some() && k != m.key_size {
            return Err(bad_map(
                &name,
                sec,
                format!("key_size {k} conflicts with key type size {}", m.key_size),
            ));
        }
        m.key_size = k;
    }
    if let Some(v) = value_size {
        if m.btf_value_type_id.is_some() && v != m.value_size {
            return Err(bad_map(
                &name,
                sec,
                format!(
                    "value_size {v} conflicts with value type size {}",
                    m.value_size
                ),
            ));
        }
        m.value_size = v;
    }
    check_type(&m)?;
    Ok((m, values_off))
}

/// A BTF map with where its initial slots live: (map index, offset, struct size, values offset).
type SlotSite = (usize, u64, u64, Option<u32>);

fn btf_maps(
    elf: &Elf<'_>,
    sec: &Sec<'_>,
    btf: Option<&Btf>,
    out: &mut Vec<MapSpec>,
) -> Result<Vec<SlotSite>, ObjectError> {
    let btf = btf.ok_or_else(|| ObjectError::MissingBtf {
        section: sec.name.clone(),
    })?;
    let be = |e: BtfError| ObjectError::Btf {
        section: ".BTF",
        source: e,
    };
    let ds = btf
        .id_by_name_kind(&sec.name, crate::btf::kind::DATASEC)
        .map_err(be)?;
    let BtfKind::DataSec { vars, .. } = &btf.type_by_id(ds).map_err(be)?.kind else {
        return Ok(Vec::new());
    };
    let mut sites = Vec::new();
    for v in vars {
        let var = btf.type_by_id(v.type_id).map_err(be)?;
        let BtfKind::Var { target, .. } = var.kind else {
            return Err(bad_map(&var.name, sec, "DATASEC entry is not a VAR"));
        };
        let sym = elf.sym_by_name(sec.index, &var.name);
        let offset = sym.map_or(u64::from(v.offset), |s| s.value);
        let st = btf.resolve(target).map_err(be)?;
        // An initialized `values` array extends the symbol past the struct's size.
        let size = u64::from(btf.size_of(st).map_err(be)?).max(sym.map_or(0, |s| s.size));
        if offset.checked_add(size).is_none_or(|e| e > sec.size) {
            return Err(bad_map(
                &var.name,
                sec,
                format!("definition at {offset}+{size} outside section"),
            ));
        }
        let m = MapSpec::new(var.name.clone(), sec, offset, MapOrigin::Btf);
        let (m, values_off) = btf_map_def(btf, st, m, sec, 0)?;
        sites.push((out.len(), offset, size, values_off));
        out.push(m);
    }
    Ok(sites)
}

/// Initial slots from `.rel.maps`: each 8-byte slot of `values` pointing at a map or
/// a program.
fn initial_slots(
    elf: &Elf<'_>,
    sec: &Sec<'_>,
    sites: &[SlotSite],
    maps: &mut [MapSpec],
) -> Result<(), ObjectError> {
    for (rel_name, r) in elf.rels_for(sec.index) {
        let sym = elf
            .syms
            .get(r.sym)
            .ok_or_else(|| ObjectError::BadRelocationSymbol {
                rel_section: rel_name.to_owned(),
                relocation: r.index,
                symbol: r.sym,
            })?;
        let bad = |problem: String| ObjectError::BadMap {
            map: sym.name.clone(),
            section: format!("{} (relocation {} in {rel_name})", sec.name, r.index),
            problem,
        };
        let &(mi, off, size, values_off) = sites
            .iter()
            .find(|(_, off, size, _)| r.offset >= *off && r.offset < off + size)
            .ok_or_else(|| bad(format!("offset {} is inside no map", r.offset)))?;
        let values_off = values_off.ok_or_else(|| bad("map has no values field".into()))?;
        let rel_off = (r.offset - off)
            .checked_sub(u64::from(values_off))
            .filter(|o| o % 8 == 0 && r.offset + 8 <= off + size)
            .ok_or_else(|| bad(format!("offset {} is not a values slot", r.offset)))?;
        let index = rel_off / 8;
        if index >= u64::from(maps[mi].max_entries) {
            return Err(bad(format!(
                "slot {index} beyond max_entries {}",
                maps[mi].max_entries
            )));
        }
        let target = if sym.section == Some(sec.index) {
            let t = sites
                .iter()
                .find(|(_, o, _, _)| *o == sym.value)
                .ok_or_else(|| bad(format!("no map at offset {}", sym.value)))?;
            MapSlotTarget::Map(t.0)
        } else if sym.st_type == STT_FUNC {
            MapSlotTarget::Program(sym.name.clone())
        } else {
            return Err(bad("slot target is neither a map nor a function".into()));
        };
        maps[mi].initial_slots.push(MapSlot {
            index: index as u32,
            target,
        });
    }
    Ok(())
}

/// Collects all maps in libbpf's order: legacy, BTF, then global data.
pub(super) fn collect(
    elf: &Elf<'_>,
    btf: Option<&Btf>,
    obj_name: &str,
) -> Result<Vec<MapSpec>, ObjectError> {
    let mut out = Vec::new();
    for sec in elf.secs.iter().filter(|s| s.name == "maps") {
        let first = out.len();
        legacy_maps(elf, sec, &mut out)?;
        legacy_inner_maps(sec, first, &mut out)?;
    }
    for sec in elf.secs.iter().filter(|s| s.name == ".maps") {
        let sites = btf_maps(elf, sec, btf, &mut out)?;
        initial_slots(elf, sec, &sites, &mut out)?;
    }
    for sec in &elf.secs {
        let Some(kind) = data_kind(sec) else { continue };
        if sec.size == 0 {
            continue;
        }
        let mut m = MapSpec::new(
            internal_map_name(obj_name, &sec.name),
            sec,
            0,
            MapOrigin::Data(kind),
        );
        m.map_type = map_type::ARRAY;
        m.key_size = 4;
        // Capped at MAX_SECTION_SIZE (1 GiB) when the ELF was read.
        m.value_size =
            u32::try_from(sec.size).map_err(|_| bad_map(&m.name, sec, "section too large"))?;
        m.max_entries = 1;
        if kind == DataKind::Rodata {
            m.map_flags = BPF_F_RDONLY_PROG;
        }
        m.data = Some(match kind {
            DataKind::Bss => vec![0; sec.size as usize],
            _ => sec.data.to_vec(),
        });
        if let Some(b) = btf {
            if let Ok(id) = b.id_by_name_kind(&sec.name, crate::btf::kind::DATASEC) {
                m.btf_value_type_id = Some(id);
            }
        }
        out.push(m);
    }
    Ok(out)
}
