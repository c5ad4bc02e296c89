//! Verification at load time: each program is verified once, against its maps, its
//! type's context rules, its license and the runtime's helper registry; the result picks
//! the engine's mode (verified: unchecked; not verified: checked) and is kept with the
//! program, so repeated runs never verify again.

use std::sync::Arc;

use crate::isa::{CallTarget, Insn, LdPseudo, Located};
use crate::program::{Engine, ProgramType};
use crate::verifier::{
    self, ArgKind, HelperLookup, MapInfo, MapMeta, Verified, VerifyConfig, VerifyError,
};

use super::{IdMaps, LoadedMap, Program, Runtime, RuntimeError};

/// The verifier's description of a loaded map.
pub(super) fn map_info(m: &LoadedMap) -> MapInfo {
    let d = m.map.def();
    MapInfo {
        map_type: d.map_type as u32,
        key_size: d.key_size,
        value_size: d.value_size,
        max_entries: d.max_entries,
        flags: d.map_flags,
    }
}

/// What else the verifier needs about a map: its inner template (map-in-map) and the
/// offset of the value's `struct bpf_spin_lock` (from the definition, else from BTF).
pub(super) fn map_meta(m: &LoadedMap) -> MapMeta {
    let d = m.map.def();
    let spin_lock_off = d.spin_lock_off.or_else(|| {
        let btf = m.btf.as_deref()?;
        (m.btf_value_type_id != 0)
            .then(|| verifier::spin_lock_offset(btf, m.btf_value_type_id))
            .flatten()
    });
    MapMeta {
        name: m.name.clone(),
        inner: d.inner.as_deref().map(|i| MapInfo {
            map_type: i.map_type as u32,
            key_size: i.key_size,
            value_size: i.value_size,
            max_entries: i.max_entries,
            flags: i.map_flags,
        }),
        btf: m.btf_value_type_id != 0 || d.spin_lock_off.is_some(),
        spin_lock_off,
        frozen: m.map.is_frozen().then(|| frozen_value(m)),
    }
}

/// The first value of a frozen map, which constant strings (`ARG_PTR_TO_CONST_STR`) may
/// point into: an array's element 0; nothing for other types.
fn frozen_value(m: &LoadedMap) -> Vec<u8> {
    if m.map.def().map_type as u32 != verifier::MAP_TYPE_ARRAY {
        return Vec::new();
    }
    m.map.lookup(&0u32.to_ne_bytes()).unwrap_or_default()
}

/// `insns` with map ids in `lddw` map references replaced by indices into `maps`, the
/// form [`VerifyConfig::maps`] takes. A reference to an id not in `maps` keeps an index
/// past the end, which the verifier rejects.
fn ids_to_indices(insns: &[Located], maps: &[Arc<LoadedMap>]) -> Vec<Located> {
    insns
        .iter()
        .map(|l| match l.insn {
            Insn::LdImm64 {
                dst,
                pseudo: pseudo @ (LdPseudo::MapFd | LdPseudo::MapValue),
                imm,
                imm2,
            } => {
                let index = maps
                    .iter()
                    .position(|m| i64::from(m.id) == i64::from(imm))
                    .unwrap_or(maps.len());
                Located {
                    slot: l.slot,
                    insn: Insn::LdImm64 {
                        dst,
                        pseudo,
                        imm: i32::try_from(index).unwrap_or(i32::MAX),
                        imm2,
                    },
                }
            }
            _ => *l,
        })
        .collect()
}

/// Why a program whose type has a verifier model is nonetheless not verified: it calls a
/// helper with an argument kind the verifier does not model yet (a `long *` result), so
/// it would reject a program the kernel accepts.
fn precision_gap(insns: &[Located], helpers: &dyn HelperLookup) -> Option<String> {
    insns.iter().find_map(|l| {
        let Insn::Call(CallTarget::Helper(id)) = l.insn else {
            return None;
        };
        let proto = helpers.proto(id)?;
        proto.args.iter().find_map(|a| match a {
            ArgKind::Unsupported(kind) => Some(format!(
                "calls bpf_{}, whose argument kind {kind} the verifier does not model yet: \
                 not verified, runs with run-time memory checks",
                proto.name
            )),
            _ => None,
        })
    })
}

/// What loading decided about verification.
pub(super) struct Verification {
    /// The engine to run the program on.
    pub engine: Arc<dyn Engine>,
    /// The verifier's result if the program was verified.
    pub verified: Option<Arc<Verified>>,
    /// Why a program was not verified although the runtime verifies.
    pub note: Option<String>,
}

impl Runtime {
    /// Whether programs loaded from now on are verified (the default). Without
    /// verification they run in the engine's checked mode.
    pub fn set_verify(&mut self, verify: bool) {
        self.verify = verify;
    }

    /// Whether loading verifies programs.
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// Verifies a loaded program (again) with a log at `log_level`, against the maps it
    /// references, its type, its license and this runtime's helpers — what loading does,
    /// for tools that want the log (`oxbpf verify`). `None` if the type has no verifier
    /// model (raw memory: verify with [`crate::verifier::ctx::RawMem`]).
    pub fn verify_program(
        &self,
        prog: &Program,
        log_level: u32,
    ) -> Option<Result<Verified, VerifyError>> {
        let access = prog.prog_type.ctx_access()?;
        let maps: Vec<Arc<LoadedMap>> = prog
            .map_ids
            .iter()
            .filter_map(|&id| self.map_by_id(id))
            .collect();
        let infos: Vec<MapInfo> = maps.iter().map(|m| map_info(m)).collect();
        let metas: Vec<MapMeta> = maps.iter().map(|m| map_meta(m)).collect();
        let config = VerifyConfig {
            maps: &infos,
            map_meta: &metas,
            helpers: &self.helpers,
            gpl: prog.gpl_compatible,
            log_level,
            func_info: !prog.func_info.is_empty(),
            ..VerifyConfig::new(&access)
        };
        Some(verifier::verify(
            &ids_to_indices(&prog.decoded(), &maps),
            &config,
        ))
    }

    /// Why loading would not verify `prog` although its type has a model (a verifier
    /// precision gap), if so.
    pub fn verify_gap(&self, prog: &Program) -> Option<String> {
        precision_gap(&prog.decoded(), &self.helpers)
    }

    /// Verifies `decoded` (map references by id, resolved through `maps`; `func_info`:
    /// whether it has BTF function records) if this runtime verifies and the type has a
    /// context model, then builds the engine: unchecked if verified, checked otherwise.
    pub(super) fn verify_and_build(
        &self,
        name: &str,
        decoded: &[Located],
        ty: &'static ProgramType,
        maps: &[Arc<LoadedMap>],
        gpl: bool,
        func_info: bool,
    ) -> Result<Verification, RuntimeError> {
        let resolver = IdMaps { maps };
        let load_err = |message| RuntimeError::Load {
            prog: name.into(),
            message,
        };
        let note = if self.verify {
            precision_gap(decoded, &self.helpers)
        } else {
            None
        };
        let access = ty.ctx_access().filter(|_| self.verify && note.is_none());
        let Some(access) = access else {
            let engine = self
                .engine
                .build(decoded, &self.helpers, &resolver)
                .map_err(load_err)?;
            return Ok(Verification {
                engine,
                verified: None,
                note,
            });
        };
        let infos: Vec<MapInfo> = maps.iter().map(|m| map_info(m)).collect();
        let metas: Vec<MapMeta> = maps.iter().map(|m| map_meta(m)).collect();
        let config = VerifyConfig {
            maps: &infos,
            map_meta: &metas,
            helpers: &self.helpers,
            gpl,
            log_level: 1,
            func_info,
            ..VerifyConfig::new(&access)
        };
        let verified = verifier::verify(&ids_to_indices(decoded, maps), &config).map_err(|e| {
            RuntimeError::Verify {
                prog: name.into(),
                error: Box::new(e),
            }
        })?;
        let sanitized = sanitize_dead_poison(decoded, &verified);
        let engine = self
            .engine
            .build_verified(
                sanitized.as_deref().unwrap_or(decoded),
                &self.helpers,
                &resolver,
                &verified,
            )
            .map_err(load_err)?;
        Ok(Verification {
            engine,
            verified: Some(Arc::new(verified)),
            note: None,
        })
    }
}

/// CO-RE poison calls (`call 0xbad2310`) on paths the verifier proved dead become
/// `ja -1`, as the kernel's `sanitize_dead_code` does, so engines that resolve every
/// helper at load accept them. `None` when there is nothing to replace.
fn sanitize_dead_poison(decoded: &[Located], verified: &Verified) -> Option<Vec<Located>> {
    let dead_poison = |i: usize, l: &Located| {
        matches!(
            l.insn,
            Insn::Call(CallTarget::Helper(crate::btf::core::POISON_HELPER))
        ) && verified.facts.get(i).is_some_and(|f| !f.visited)
    };
    if !decoded.iter().enumerate().any(|(i, l)| dead_poison(i, l)) {
        return None;
    }
    Some(
        decoded
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if dead_poison(i, l) {
                    Located {
                        slot: l.slot,
                        insn: Insn::Ja { off: -1 },
                    }
                } else {
                    *l
                }
            })
            .collect(),
    )
}
