//! CO-RE: computing `bpf_core_relo` results against a target BTF and patching the
//! instructions, with libbpf's semantics (`tools/lib/bpf/relo_core.c`): access strings
//! parsed on the local BTF, candidates in the target by essential name (a `___flavor`
//! suffix stripped) and kind, fields matched by name through anonymous members, results
//! checked for ambiguity across candidates, and instructions that cannot be relocated
//! poisoned (`call 0xbad2310`) so that running or verifying them fails clearly.

use super::{Btf, BtfError, BtfKind, CoreRelo, INT_SIGNED};

/// libbpf's poison value: a call to helper 0xbad2310 marks an unrelocatable instruction.
pub const POISON_HELPER: i32 = 0xbad2310;
/// libbpf's `BPF_CORE_SPEC_MAX_LEN`: deepest access string.
const SPEC_MAX_LEN: usize = 64;
/// Nesting bound for type compatibility checks (libbpf's `level`).
const MAX_COMPAT_DEPTH: u32 = 32;

/// `enum bpf_core_relo_kind` values.
#[allow(missing_docs)]
pub mod relo_kind {
    pub const FIELD_BYTE_OFFSET: u32 = 0;
    pub const FIELD_BYTE_SIZE: u32 = 1;
    pub const FIELD_EXISTS: u32 = 2;
    pub const FIELD_SIGNED: u32 = 3;
    pub const FIELD_LSHIFT_U64: u32 = 4;
    pub const FIELD_RSHIFT_U64: u32 = 5;
    pub const TYPE_ID_LOCAL: u32 = 6;
    pub const TYPE_ID_TARGET: u32 = 7;
    pub const TYPE_EXISTS: u32 = 8;
    pub const TYPE_SIZE: u32 = 9;
    pub const ENUMVAL_EXISTS: u32 = 10;
    pub const ENUMVAL_VALUE: u32 = 11;
    pub const TYPE_MATCHES: u32 = 12;
}

/// libbpf's name for a relocation kind (`byte_off`, `field_exists`, ...).
pub fn relo_kind_name(kind: u32) -> &'static str {
    match kind {
        0 => "byte_off",
        1 => "byte_sz",
        2 => "field_exists",
        3 => "signed",
        4 => "lshift_u64",
        5 => "rshift_u64",
        6 => "local_type_id",
        7 => "target_type_id",
        8 => "type_exists",
        9 => "type_size",
        10 => "enumval_exists",
        11 => "enumval_value",
        12 => "type_matches",
        _ => "unknown",
    }
}

/// Why a CO-RE relocation could not be applied (the instruction is not poisoned: the
/// record itself is bad, as libbpf fails the load for these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The record or the local BTF is malformed.
    #[error(
        "CO-RE relocation {kind} at insn {insn} (type {type_id}, access \"{access}\"): {problem}"
    )]
    Bad {
        /// Instruction index.
        insn: usize,
        /// Relocation kind name.
        kind: &'static str,
        /// Root type id.
        type_id: u32,
        /// Access string.
        access: String,
        /// What is wrong.
        problem: String,
    },
}

/// The outcome of one relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreResult {
    /// Instruction index.
    pub insn: usize,
    /// Relocation kind (`relo_kind::*`).
    pub kind: u32,
    /// Value computed from the local BTF (what clang put in the instruction).
    pub orig: u64,
    /// Value for the target (None: the instruction was poisoned).
    pub new: Option<u64>,
    /// Target type id of the root type when a candidate matched.
    pub target_type_id: Option<u32>,
    /// Human-readable description: `byte_off struct iphdr.protocol (0:6) -> 9`.
    pub description: String,
    /// Local field size (byte-offset relocations of loads/stores; 0 otherwise).
    pub orig_size: u32,
    /// Target field size: a load/store's width changes with it.
    pub new_size: u32,
    /// Whether the instruction must hold `orig` before patching (libbpf's `validate`).
    pub validate: bool,
}

/// One resolved accessor of a spec: a named member (`name` set) or an array index.
#[derive(Debug, Clone)]
struct Accessor {
    /// Composite type id (member accessor) or element/root type id (array accessor).
    type_id: u32,
    idx: u32,
    name: Option<String>,
}

/// A parsed or matched access spec (`struct bpf_core_spec`).
#[derive(Debug, Clone)]
struct Spec<'a> {
    btf: &'a Btf,
    root_type_id: u32,
    accessors: Vec<Accessor>,
    raw: Vec<u32>,
    bit_offset: u64,
}

fn skip_mods(btf: &Btf, id: u32) -> Result<(u32, &BtfKind), BtfError> {
    let r = btf.resolve(id)?;
    Ok((r, &btf.type_by_id(r)?.kind))
}

fn is_composite(k: &BtfKind) -> bool {
    matches!(k, BtfKind::Struct { .. } | BtfKind::Union { .. })
}

fn members_of(k: &BtfKind) -> &[super::Member] {
    match k {
        BtfKind::Struct { members, .. } | BtfKind::Union { members, .. } => members,
        _ => &[],
    }
}

/// libbpf's `bpf_core_essential_name_len`: the name without a `___flavor` suffix.
pub fn essential_name(name: &str) -> &str {
    let b = name.as_bytes();
    let n = b.len();
    if n >= 5 {
        for i in (0..=n - 5).rev() {
            if b[i] != b'_' && &b[i + 1..i + 4] == b"___" && b[i + 4] != b'_' {
                return &name[..=i];
            }
        }
    }
    name
}

fn is_any_enum(k: &BtfKind) -> bool {
    matches!(k, BtfKind::Enum { .. })
}

/// Same kind, with ENUM and ENUM64 compatible (`btf_kind_core_compat`).
fn kinds_compat(a: &BtfKind, b: &BtfKind) -> bool {
    a.number() == b.number() || (is_any_enum(a) && is_any_enum(b))
}

fn int_offset_zero(k: &BtfKind) -> bool {
    matches!(k, BtfKind::Int { offset: 0, .. })
}

/// `bpf_core_fields_are_compat`.
fn fields_compat(lb: &Btf, lid: u32, tb: &Btf, tid: u32) -> Result<bool, BtfError> {
    let (mut lid, mut tid) = (lid, tid);
    for _ in 0..MAX_COMPAT_DEPTH {
        let (l, lk) = skip_mods(lb, lid)?;
        let (t, tk) = skip_mods(tb, tid)?;
        if is_composite(lk) && is_composite(tk) {
            return Ok(true);
        }
        if !kinds_compat(lk, tk) {
            return Ok(false);
        }
        return Ok(match (lk, tk) {
            (BtfKind::Ptr { .. }, _) | (BtfKind::Float { .. }, _) => true,
            (BtfKind::Fwd { .. }, _) | (BtfKind::Enum { .. }, _) => {
                let ln = essential_name(&lb.type_by_id(l)?.name);
                let tn = essential_name(&tb.type_by_id(t)?.name);
                ln.is_empty() || tn.is_empty() || ln == tn
            }
            (BtfKind::Int { .. }, _) => int_offset_zero(lk) && int_offset_zero(tk),
            (BtfKind::Array { elem: le, .. }, BtfKind::Array { elem: te, .. }) => {
                lid = *le;
                tid = *te;
                continue;
            }
            _ => false,
        });
    }
    Err(BtfError::TooDeep { id: lid })
}

/// `bpf_core_types_are_compat`.
fn types_compat(lb: &Btf, lid: u32, tb: &Btf, tid: u32, level: u32) -> Result<bool, BtfError> {
    if level == 0 {
        return Err(BtfError::TooDeep { id: lid });
    }
    let (_, lk) = skip_mods(lb, lid)?;
    let (_, tk) = skip_mods(tb, tid)?;
    if !kinds_compat(lk, tk) {
        return Ok(false);
    }
    Ok(match (lk, tk) {
        (BtfKind::Void, _)
        | (BtfKind::Struct { .. }, _)
        | (BtfKind::Union { .. }, _)
        | (BtfKind::Enum { .. }, _)
        | (BtfKind::Fwd { .. }, _) => true,
        (BtfKind::Int { .. }, _) => int_offset_zero(lk) && int_offset_zero(tk),
        (BtfKind::Ptr { target: l }, BtfKind::Ptr { target: t }) => {
            types_compat(lb, *l, tb, *t, level - 1)?
        }
        (BtfKind::Array { elem: l, .. }, BtfKind::Array { elem: t, .. }) => {
            types_compat(lb, *l, tb, *t, level - 1)?
        }
        (
            BtfKind::FuncProto {
                ret: lr,
                params: lp,
            },
            BtfKind::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            if lp.len() != tp.len() {
                return Ok(false);
            }
            for (a, b) in lp.iter().zip(tp) {
                if !types_compat(lb, a.type_id, tb, b.type_id, level - 1)? {
                    return Ok(false);
                }
            }
            types_compat(lb, *lr, tb, *tr, level - 1)?
        }
        _ => false,
    })
}

/// `bpf_core_types_match` (for `bpf_core_type_matches`); the root names were matched by
/// the candidate search. Modifiers and typedefs are ignored; integers match by size and
/// signedness; enums by size and enumerator names; structs and unions need every local
/// member by name in the target, recursively (behind a pointer only the names and
/// kinds, where a forward declaration matches its struct or union).
fn types_match(
    lb: &Btf,
    lid: u32,
    tb: &Btf,
    tid: u32,
    behind_ptr: bool,
    level: u32,
) -> Result<bool, BtfError> {
    if level == 0 {
        return Err(BtfError::TooDeep { id: lid });
    }
    let (l, lk) = skip_mods(lb, lid)?;
    let (t, tk) = skip_mods(tb, tid)?;
    // Names are compared after typedefs are skipped (`bpf_core_names_match`): clang's
    // `unsigned short` does not match pahole's `short unsigned int`.
    if !names_match(&lb.type_by_id(l)?.name, &tb.type_by_id(t)?.name) {
        return Ok(false);
    }
    match (lk, tk) {
        (BtfKind::Void, BtfKind::Void) => Ok(true),
        (BtfKind::Fwd { is_union: a }, BtfKind::Fwd { is_union: b }) => Ok(a == b),
        (BtfKind::Fwd { is_union }, BtfKind::Struct { .. }) if behind_ptr => Ok(!is_union),
        (BtfKind::Fwd { is_union }, BtfKind::Union { .. }) if behind_ptr => Ok(*is_union),
        (BtfKind::Struct { .. }, BtfKind::Fwd { is_union }) if behind_ptr => Ok(!is_union),
        (BtfKind::Union { .. }, BtfKind::Fwd { is_union }) if behind_ptr => Ok(*is_union),
        (
            BtfKind::Enum {
                size: ls,
                values: lv,
                ..
            },
            BtfKind::Enum {
                size: ts,
                values: tv,
                ..
            },
        ) => Ok(ls == ts
            && lv.iter().all(|v| {
                tv.iter()
                    .any(|w| essential_name(&w.name) == essential_name(&v.name))
            })),
        (
            BtfKind::Int {
                size: ls,
                encoding: le,
                ..
            },
            BtfKind::Int {
                size: ts,
                encoding: te,
                ..
            },
        ) => Ok(ls == ts && (le & INT_SIGNED) == (te & INT_SIGNED)),
        (BtfKind::Float { size: a }, BtfKind::Float { size: b }) => Ok(a == b),
        (BtfKind::Ptr { target: a }, BtfKind::Ptr { target: b }) => {
            types_match(lb, *a, tb, *b, true, level - 1)
        }
        (
            BtfKind::Array {
                elem: le, len: ll, ..
            },
            BtfKind::Array {
                elem: te, len: tl, ..
            },
        ) => Ok(ll == tl && types_match(lb, *le, tb, *te, behind_ptr, level - 1)?),
        (BtfKind::Struct { .. }, BtfKind::Struct { .. })
        | (BtfKind::Union { .. }, BtfKind::Union { .. }) => {
            if behind_ptr {
                return Ok(true);
            }
            let (lm, tm) = (members_of(lk), members_of(tk));
            if lm.len() > tm.len() {
                return Ok(false);
            }
            // Each local member needs a same-named target member whose type matches.
            for m in lm {
                let mut found = false;
                for n in tm.iter().filter(|n| names_match(&m.name, &n.name)) {
                    if types_match(lb, m.type_id, tb, n.type_id, behind_ptr, level - 1)? {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        (
            BtfKind::FuncProto {
                ret: lr,
                params: lp,
            },
            BtfKind::FuncProto {
                ret: tr,
                params: tp,
            },
        ) => {
            if lp.len() != tp.len() {
                return Ok(false);
            }
            for (a, b) in lp.iter().zip(tp) {
                if !types_match(lb, a.type_id, tb, b.type_id, behind_ptr, level - 1)? {
                    return Ok(false);
                }
            }
            types_match(lb, *lr, tb, *tr, behind_ptr, level - 1)
        }
        _ => Ok(false),
    }
}

/// `bpf_core_names_match`: essential names equal, or either is anonymous.
fn names_match(a: &str, b: &str) -> bool {
    a.is_empty() || b.is_empty() || essential_name(a) == essential_name(b)
}

/// The last array of a struct may be indexed past its length (`is_flex_arr`).
fn is_flex_arr(btf: &Btf, parent: Option<&Accessor>, arr_len: u32) -> bool {
    let Some(acc) = parent else { return false };
    if acc.name.is_none() || arr_len != 0 {
        return false;
    }
    btf.type_by_id(acc.type_id)
        .map(|t| members_of(&t.kind).len() == acc.idx as usize + 1)
        .unwrap_or(false)
}

/// `idx * size * 8` bits, wrapping (sizes come from the file).
fn bits(idx: u32, size: u32) -> u64 {
    u64::from(idx).wrapping_mul(u64::from(size)).wrapping_mul(8)
}

fn is_field_kind(kind: u32) -> bool {
    kind <= relo_kind::FIELD_RSHIFT_U64
}

fn is_type_kind(kind: u32) -> bool {
    matches!(
        kind,
        relo_kind::TYPE_ID_LOCAL
            | relo_kind::TYPE_ID_TARGET
            | relo_kind::TYPE_EXISTS
            | relo_kind::TYPE_SIZE
            | relo_kind::TYPE_MATCHES
    )
}

fn is_enumval_kind(kind: u32) -> bool {
    matches!(kind, relo_kind::ENUMVAL_EXISTS | relo_kind::ENUMVAL_VALUE)
}

/// `bpf_core_parse_spec`.
fn parse_spec<'a>(btf: &'a Btf, type_id: u32, access: &str, kind: u32) -> Result<Spec<'a>, String> {
    let entries = access.split(':').count();
    if entries > SPEC_MAX_LEN {
        return Err(format!("access string of {entries} entries"));
    }
    let raw: Vec<u32> = access
        .split(':')
        .map(|s| s.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("bad access string \"{access}\""))?;
    if raw.is_empty() || raw.len() > SPEC_MAX_LEN {
        return Err(format!("access string of {} entries", raw.len()));
    }
    let e = |e: BtfError| e.to_string();
    let mut spec = Spec {
        btf,
        root_type_id: type_id,
        accessors: Vec::new(),
        raw: raw.clone(),
        bit_offset: 0,
    };
    if is_type_kind(kind) {
        if raw != [0] {
            return Err("type-based relocation needs access \"0\"".into());
        }
        return Ok(spec);
    }
    let (id, t) = skip_mods(btf, type_id).map_err(e)?;
    if is_enumval_kind(kind) {
        let BtfKind::Enum { values, .. } = t else {
            return Err("enum value relocation on a non-enum type".into());
        };
        let v = values
            .get(raw[0] as usize)
            .filter(|_| raw.len() == 1)
            .ok_or_else(|| format!("enumerator {} does not exist", raw[0]))?;
        spec.accessors.push(Accessor {
            type_id: id,
            idx: raw[0],
            name: Some(v.name.clone()),
        });
        return Ok(spec);
    }
    if !is_field_kind(kind) {
        return Err(format!("unknown relocation kind {kind}"));
    }
    let sz = btf.size_of(id).map_err(e)?;
    spec.accessors.push(Accessor {
        type_id: id,
        idx: raw[0],
        name: None,
    });
    // Offsets wrap rather than panic on hostile sizes; `patch` range-checks the result.
    spec.bit_offset = bits(raw[0], sz);
    let mut id = id;
    for &idx in &raw[1..] {
        let (cur, t) = skip_mods(btf, id).map_err(e)?;
        if is_composite(t) {
            let m = members_of(t)
                .get(idx as usize)
                .ok_or_else(|| format!("member {idx} of type {cur} does not exist"))?;
            spec.bit_offset = spec.bit_offset.wrapping_add(u64::from(m.bit_offset));
            if !m.name.is_empty() {
                spec.accessors.push(Accessor {
                    type_id: cur,
                    idx,
                    name: Some(m.name.clone()),
                });
            }
            id = m.type_id;
        } else if let BtfKind::Array { elem, len, .. } = t {
            let (eid, _) = skip_mods(btf, *elem).map_err(e)?;
            if !is_flex_arr(btf, spec.accessors.last(), *len) && idx >= *len {
                return Err(format!("index {idx} past array of {len}"));
            }
            spec.accessors.push(Accessor {
                type_id: eid,
                idx,
                name: None,
            });
            let esz = btf.size_of(eid).map_err(e)?;
            spec.bit_offset = spec.bit_offset.wrapping_add(bits(idx, esz));
            id = eid;
        } else {
            return Err(format!("type {cur} is neither a struct/union nor an array"));
        }
    }
    Ok(spec)
}

/// `bpf_core_match_member`: finds the local member by name in target composite `tid`,
/// descending into anonymous members. Returns the target member's type id when found.
fn match_member(
    local: &Spec<'_>,
    lacc: &Accessor,
    targ: &mut Spec<'_>,
    tid: u32,
    depth: u32,
) -> Result<Option<u32>, BtfError> {
    if depth > MAX_COMPAT_DEPTH {
        return Err(BtfError::TooDeep { id: tid });
    }
    let lt = &local.btf.type_by_id(lacc.type_id)?.kind;
    let lm = members_of(lt)
        .get(lacc.idx as usize)
        .ok_or(BtfError::NoSuchType {
            id: lacc.type_id,
            count: 0,
        })?;
    let tb = targ.btf;
    let (tid, tk) = skip_mods(tb, tid)?;
    if !is_composite(tk) {
        return Ok(None);
    }
    for (i, m) in members_of(tk).iter().enumerate() {
        if targ.raw.len() >= SPEC_MAX_LEN {
            return Err(BtfError::TooDeep { id: tid });
        }
        targ.bit_offset = targ.bit_offset.wrapping_add(u64::from(m.bit_offset));
        targ.raw.push(i as u32);
        if m.name.is_empty() {
            if let Some(found) = match_member(local, lacc, targ, m.type_id, depth + 1)? {
                return Ok(Some(found));
            }
        } else if m.name == lm.name {
            if !fields_compat(local.btf, lm.type_id, tb, m.type_id)? {
                return Ok(None);
            }
            targ.accessors.push(Accessor {
                type_id: tid,
                idx: i as u32,
                name: Some(m.name.clone()),
            });
            return Ok(Some(m.type_id));
        }
        targ.bit_offset = targ.bit_offset.wrapping_sub(u64::from(m.bit_offset));
        targ.raw.pop();
    }
    Ok(None)
}

/// `bpf_core_spec_match`: the target spec for candidate `cand`, if it matches.
fn spec_match<'t>(
    local: &Spec<'_>,
    kind: u32,
    tb: &'t Btf,
    cand: u32,
) -> Result<Option<Spec<'t>>, BtfError> {
    let mut targ = Spec {
        btf: tb,
        root_type_id: cand,
        accessors: Vec::new(),
        raw: Vec::new(),
        bit_offset: 0,
    };
    if is_type_kind(kind) {
        let ok = if kind == relo_kind::TYPE_MATCHES {
            types_match(
                local.btf,
                local.root_type_id,
                tb,
                cand,
                false,
                MAX_COMPAT_DEPTH,
            )?
        } else {
            types_compat(local.btf, local.root_type_id, tb, cand, MAX_COMPAT_DEPTH)?
        };
        return Ok(ok.then_some(targ));
    }
    if is_enumval_kind(kind) {
        let (tid, tk) = skip_mods(tb, cand)?;
        let BtfKind::Enum { values, .. } = tk else {
            return Ok(None);
        };
        let lname = local.accessors[0].name.as_deref().unwrap_or("");
        let lname = essential_name(lname);
        let Some(i) = values.iter().position(|v| essential_name(&v.name) == lname) else {
            return Ok(None);
        };
        targ.accessors.push(Accessor {
            type_id: tid,
            idx: i as u32,
            name: Some(values[i].name.clone()),
        });
        targ.raw.push(i as u32);
        return Ok(Some(targ));
    }
    let mut tid = cand;
    for (i, lacc) in local.accessors.iter().enumerate() {
        if i > 0 {
            tid = skip_mods(tb, tid)?.0;
        }
        if lacc.name.is_some() {
            match match_member(local, lacc, &mut targ, tid, 0)? {
                Some(next) => tid = next,
                None => return Ok(None),
            }
        } else {
            if i > 0 {
                let BtfKind::Array { elem, len, .. } = &tb.type_by_id(tid)?.kind else {
                    return Ok(None);
                };
                if !is_flex_arr(tb, targ.accessors.last(), *len) && lacc.idx >= *len {
                    return Ok(None);
                }
                tid = skip_mods(tb, *elem)?.0;
            } else {
                tid = skip_mods(tb, tid)?.0;
            }
            if targ.raw.len() >= SPEC_MAX_LEN {
                return Err(BtfError::TooDeep { id: tid });
            }
            targ.accessors.push(Accessor {
                type_id: tid,
                idx: lacc.idx,
                name: None,
            });
            targ.raw.push(lacc.idx);
            let sz = tb.size_of(tid)?;
            targ.bit_offset = targ.bit_offset.wrapping_add(bits(lacc.idx, sz));
        }
    }
    Ok(Some(targ))
}

/// A computed relocation value (`struct bpf_core_relo_res` halves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Value {
    val: u64,
    /// Memory size of the field (byte-offset relocations of non-bitfields).
    size: u32,
    /// Resolved field type id, for the memory-size adjustment check.
    type_id: u32,
    validate: bool,
}

/// `bpf_core_calc_field_relo`; `None` spec = no candidate matched (poison unless EXISTS).
fn calc_field(kind: u32, spec: Option<&Spec<'_>>) -> Result<Option<Value>, String> {
    let mut v = Value {
        val: 0,
        size: 0,
        type_id: 0,
        validate: true,
    };
    if kind == relo_kind::FIELD_EXISTS {
        v.val = u64::from(spec.is_some());
        return Ok(Some(v));
    }
    let Some(spec) = spec else { return Ok(None) };
    let e = |e: BtfError| e.to_string();
    let btf = spec.btf;
    let acc = spec.accessors.last().ok_or("empty spec")?;
    if acc.name.is_none() {
        let sz = btf.size_of(acc.type_id).map_err(e)?;
        match kind {
            relo_kind::FIELD_BYTE_OFFSET => {
                v.val = spec.bit_offset / 8;
                v.size = sz;
                v.type_id = acc.type_id;
            }
            relo_kind::FIELD_BYTE_SIZE => v.val = u64::from(sz),
            _ => return Err(format!("{} on an array element", relo_kind_name(kind))),
        }
        return Ok(Some(v));
    }
    let m = members_of(&btf.type_by_id(acc.type_id).map_err(e)?.kind)
        .get(acc.idx as usize)
        .ok_or("member index out of range")?;
    let (field_id, mt) = skip_mods(btf, m.type_id).map_err(e)?;
    let bitfield = m.bitfield_size > 0;
    let bit_off = spec.bit_offset;
    let mut byte_sz = u64::from(btf.size_of(field_id).map_err(e)?);
    let (byte_off, bit_sz);
    if !bitfield {
        byte_off = bit_off / 8;
        bit_sz = byte_sz.wrapping_mul(8);
    } else {
        if byte_sz == 0 {
            return Err("bitfield of a zero-sized type".into());
        }
        bit_sz = u64::from(m.bitfield_size);
        let mut off = bit_off / 8 / byte_sz * byte_sz;
        while bit_off.wrapping_add(bit_sz).wrapping_sub(off * 8) > byte_sz * 8 {
            if byte_sz >= 8 {
                return Err("bitfield cannot be read with 8 bytes".into());
            }
            byte_sz *= 2;
            off = bit_off / 8 / byte_sz * byte_sz;
        }
        byte_off = off;
    }
    match kind {
        relo_kind::FIELD_BYTE_OFFSET => {
            v.val = byte_off;
            if !bitfield {
                v.size = byte_sz as u32;
                v.type_id = field_id;
            }
            v.validate = !bitfield;
        }
        relo_kind::FIELD_BYTE_SIZE => {
            v.val = byte_sz;
            v.validate = !bitfield;
        }
        relo_kind::FIELD_SIGNED => {
            v.val = u64::from(match mt {
                BtfKind::Enum { signed, .. } => *signed,
                BtfKind::Int { encoding, .. } => encoding & INT_SIGNED != 0,
                _ => false,
            });
        }
        relo_kind::FIELD_LSHIFT_U64 => {
            // Unsigned arithmetic as in libbpf (wraps for fields wider than 8 bytes).
            v.val = 64u64.wrapping_sub(
                bit_off
                    .wrapping_add(bit_sz)
                    .wrapping_sub(byte_off.wrapping_mul(8)),
            );
            v.validate = !bitfield;
        }
        relo_kind::FIELD_RSHIFT_U64 => v.val = 64u64.wrapping_sub(bit_sz),
        _ => return Err(format!("unknown field relocation kind {kind}")),
    }
    Ok(Some(v))
}

/// `bpf_core_calc_type_relo` / `bpf_core_calc_enumval_relo`.
fn calc_other(kind: u32, spec: Option<&Spec<'_>>) -> Result<Option<Value>, String> {
    let mut v = Value {
        val: 0,
        size: 0,
        type_id: 0,
        validate: true,
    };
    let e = |e: BtfError| e.to_string();
    let Some(spec) = spec else {
        // Type relocations give 0 when the type is missing; an enum value's value cannot.
        if kind == relo_kind::ENUMVAL_VALUE {
            return Ok(None);
        }
        return Ok(Some(v));
    };
    v.val = match kind {
        relo_kind::TYPE_ID_LOCAL | relo_kind::TYPE_ID_TARGET => u64::from(spec.root_type_id),
        relo_kind::TYPE_EXISTS | relo_kind::TYPE_MATCHES | relo_kind::ENUMVAL_EXISTS => 1,
        relo_kind::TYPE_SIZE => u64::from(spec.btf.size_of(spec.root_type_id).map_err(e)?),
        relo_kind::ENUMVAL_VALUE => {
            let acc = &spec.accessors[0];
            match &spec.btf.type_by_id(acc.type_id).map_err(e)?.kind {
                BtfKind::Enum { values, .. } => {
                    values.get(acc.idx as usize).ok_or("no enumerator")?.value
                }
                _ => return Err("not an enum".into()),
            }
        }
        _ => return Err(format!("unknown relocation kind {kind}")),
    };
    Ok(Some(v))
}

fn calc(kind: u32, spec: Option<&Spec<'_>>) -> Result<Option<Value>, String> {
    if is_field_kind(kind) {
        calc_field(kind, spec)
    } else {
        calc_other(kind, spec)
    }
}

/// Type ids in `target` that are candidates for local type `local_id`
/// (`bpf_core_add_cands`): same kind (enums of either width), same essential name.
pub fn candidates(local: &Btf, local_id: u32, target: &Btf) -> Result<Vec<u32>, BtfError> {
    let lt = local.type_by_id(local_id)?;
    let lname = essential_name(&lt.name);
    if lname.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, t) in target.types().iter().enumerate().skip(1) {
        if !t.name.starts_with(lname) || essential_name(&t.name) != lname {
            continue;
        }
        if kinds_compat(&t.kind, &lt.kind) {
            out.push(i as u32);
        }
    }
    Ok(out)
}

fn describe(spec: &Spec<'_>, kind: u32) -> String {
    let root = spec
        .btf
        .type_by_id(spec.root_type_id)
        .map(|t| format!("{} {}", t.kind.name().to_lowercase(), t.name))
        .unwrap_or_default();
    let path: Vec<String> = spec
        .accessors
        .iter()
        .skip(usize::from(is_field_kind(kind)))
        .filter_map(|a| a.name.clone())
        .collect();
    let raw: Vec<String> = spec.raw.iter().map(u32::to_string).collect();
    if path.is_empty() {
        format!("{} {root} ({})", relo_kind_name(kind), raw.join(":"))
    } else {
        format!(
            "{} {root}.{} ({})",
            relo_kind_name(kind),
            path.join("."),
            raw.join(":")
        )
    }
}

/// Computes the result of `relo` (local BTF `local`, target `target`) without
/// touching instructions (`bpf_core_calc_relo_insn`).
pub fn calc_relo(local: &Btf, target: &Btf, relo: &CoreRelo) -> Result<CoreResult, CoreError> {
    calc_relo_cached(local, target, relo, &mut CandidateCache::default())
}

/// Candidate lists by local root type id: each costs a scan of the target's types
/// (vmlinux has over 100,000), and relocations share few roots.
#[derive(Debug, Default)]
pub struct CandidateCache(std::collections::HashMap<u32, Vec<u32>>);

/// [`calc_relo`] reusing candidate lists across the relocations of one target.
pub fn calc_relo_cached(
    local: &Btf,
    target: &Btf,
    relo: &CoreRelo,
    cache: &mut CandidateCache,
) -> Result<CoreResult, CoreError> {
    let bad = |problem: String| CoreError::Bad {
        insn: relo.insn,
        kind: relo_kind_name(relo.kind),
        type_id: relo.type_id,
        access: relo.access.clone(),
        problem,
    };
    let lspec = parse_spec(local, relo.type_id, &relo.access, relo.kind).map_err(bad)?;
    let desc = describe(&lspec, relo.kind);
    let local_name = local
        .type_by_id(relo.type_id)
        .map_err(|e| bad(e.to_string()))?
        .name
        .clone();
    if local_name.is_empty() {
        return Err(bad("root type has no name".into()));
    }
    let orig = calc(relo.kind, Some(&lspec))
        .map_err(bad)?
        .ok_or_else(|| bad("no local value".into()))?;
    if relo.kind == relo_kind::TYPE_ID_LOCAL {
        return Ok(CoreResult {
            insn: relo.insn,
            kind: relo.kind,
            orig: orig.val,
            new: Some(orig.val),
            target_type_id: None,
            description: format!("{desc} -> {}", orig.val),
            orig_size: 0,
            new_size: 0,
            validate: false,
        });
    }
    let cands = match cache.0.get(&relo.type_id) {
        Some(c) => c.clone(),
        None => {
            let c = candidates(local, relo.type_id, target).map_err(|e| bad(e.to_string()))?;
            cache.0.insert(relo.type_id, c.clone());
            c
        }
    };
    let mut chosen: Option<(Option<Value>, u64, u32)> = None;
    for c in cands {
        let Some(tspec) =
            spec_match(&lspec, relo.kind, target, c).map_err(|e| bad(e.to_string()))?
        else {
            continue;
        };
        let v = calc(relo.kind, Some(&tspec)).map_err(bad)?;
        match &chosen {
            None => chosen = Some((v, tspec.bit_offset, c)),
            Some((prev, off, first)) => {
                if is_field_kind(relo.kind) && *off != tspec.bit_offset {
                    return Err(bad(format!(
                        "field offset ambiguity between candidates {first} and {c}: {off} != {}",
                        tspec.bit_offset
                    )));
                }
                if prev.map(|p| p.val) != v.map(|p| p.val) {
                    return Err(bad(format!(
                        "value ambiguity between candidates {first} and {c}"
                    )));
                }
            }
        }
    }
    let (new, target_type_id) = match chosen {
        Some((v, _, c)) => (v, Some(c)),
        None => (calc(relo.kind, None).map_err(bad)?, None),
    };
    // A load or store whose memory size changes is only safe for pointers and unsigned
    // integers (libbpf's `fail_memsz_adjust`); otherwise the instruction is poisoned.
    let new = new.filter(|n| {
        if orig.size == n.size || relo.kind != relo_kind::FIELD_BYTE_OFFSET {
            return true;
        }
        let unsigned_or_ptr = |b: &Btf, id: u32| match b.type_by_id(id).map(|t| &t.kind) {
            Ok(BtfKind::Ptr { .. }) => Some(0),
            Ok(BtfKind::Int { encoding, .. }) if encoding & INT_SIGNED == 0 => Some(1),
            _ => None,
        };
        let (a, b) = (
            unsigned_or_ptr(local, orig.type_id),
            unsigned_or_ptr(target, n.type_id),
        );
        a.is_some() && a == b
    });
    Ok(CoreResult {
        insn: relo.insn,
        kind: relo.kind,
        orig: orig.val,
        new: new.map(|n| n.val),
        target_type_id,
        description: match new {
            Some(n) => format!("{desc} -> {}", n.val),
            None => format!("{desc} -> poisoned"),
        },
        orig_size: orig.size,
        new_size: new.map_or(0, |n| n.size),
        validate: orig.validate && new.is_none_or(|n| n.validate),
    })
}

fn load_size_bytes(code: u8) -> u32 {
    match code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

fn bpf_size(bytes: u32) -> Option<u8> {
    match bytes {
        4 => Some(0x00),
        2 => Some(0x08),
        1 => Some(0x10),
        8 => Some(0x18),
        _ => None,
    }
}

/// Turns instruction `at` into libbpf's poison: `call 0xbad2310` (both halves of an
/// `lddw`, so the verifier reports the call rather than a bad opcode).
fn poison(insns: &mut [[u8; 8]], at: usize) {
    let is_lddw = insns.get(at).is_some_and(|i| i[0] == 0x18);
    let n = if is_lddw { 2 } else { 1 };
    for i in insns.iter_mut().skip(at).take(n) {
        *i = [0x85, 0, 0, 0, 0, 0, 0, 0];
        i[4..8].copy_from_slice(&POISON_HELPER.to_le_bytes());
    }
}

/// Whether instruction slot `insn` is libbpf's CO-RE poison call.
pub fn is_poison(insn: &[u8; 8]) -> bool {
    insn[0] == 0x85 && insn[1] == 0 && insn[4..8] == POISON_HELPER.to_le_bytes()
}

/// Applies a computed result to the instruction it names (`bpf_core_patch_insn`): an
/// ALU immediate, a load/store offset (and memory size), or an `lddw` constant.
pub fn patch(insns: &mut [[u8; 8]], r: &CoreResult) -> Result<(), String> {
    let at = r.insn;
    let insn = *insns
        .get(at)
        .ok_or_else(|| format!("instruction {at} is past the program"))?;
    let Some(new) = r.new else {
        poison(insns, at);
        return Ok(());
    };
    let class = insn[0] & 7;
    let imm = i32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
    let off = i16::from_le_bytes([insn[2], insn[3]]);
    match class {
        // BPF_ALU / BPF_ALU64 with an immediate operand.
        4 | 7 => {
            if insn[0] & 0x08 != 0 {
                return Err(format!("insn {at}: ALU with a register operand"));
            }
            if r.validate && i64::from(imm) as u64 != r.orig && imm as u32 as u64 != r.orig {
                return Err(format!(
                    "insn {at}: imm {imm} is not the expected {}",
                    r.orig
                ));
            }
            insns[at][4..8].copy_from_slice(&(new as u32).to_le_bytes());
        }
        // BPF_LDX / BPF_ST / BPF_STX: the offset.
        1..=3 => {
            if r.validate && i64::from(off) as u64 != r.orig {
                return Err(format!(
                    "insn {at}: offset {off} is not the expected {}",
                    r.orig
                ));
            }
            let new_off = i16::try_from(new)
                .map_err(|_| format!("insn {at}: offset {new} does not fit 16 bits"))?;
            insns[at][2..4].copy_from_slice(&new_off.to_le_bytes());
            if r.kind == relo_kind::FIELD_BYTE_OFFSET && r.new_size != r.orig_size {
                if load_size_bytes(insn[0]) != r.orig_size {
                    return Err(format!(
                        "insn {at}: accesses {} bytes, the field has {}",
                        load_size_bytes(insn[0]),
                        r.orig_size
                    ));
                }
                let sz = bpf_size(r.new_size).ok_or_else(|| {
                    format!("insn {at}: field size {} is not loadable", r.new_size)
                })?;
                insns[at][0] = (insn[0] & !0x18) | sz;
            }
        }
        // BPF_LD: only `lddw` with a plain constant.
        0 => {
            let next = insns
                .get(at + 1)
                .copied()
                .filter(|n| insn[0] == 0x18 && insn[1] >> 4 == 0 && off == 0 && n[..4] == [0; 4])
                .ok_or_else(|| format!("insn {at}: not a constant lddw"))?;
            let hi = u32::from_le_bytes([next[4], next[5], next[6], next[7]]);
            let cur = u64::from(imm as u32) | (u64::from(hi) << 32);
            if r.validate && cur != r.orig {
                return Err(format!(
                    "insn {at}: constant {cur} is not the expected {}",
                    r.orig
                ));
            }
            insns[at][4..8].copy_from_slice(&(new as u32).to_le_bytes());
            insns[at + 1][4..8].copy_from_slice(&((new >> 32) as u32).to_le_bytes());
        }
        _ => {
            return Err(format!(
                "insn {at}: opcode {:#04x} cannot be relocated",
                insn[0]
            ))
        }
    }
    Ok(())
}
