//! The verifier's data-driven case table (in the spirit of the kernel's
//! `tools/testing/selftests/bpf/verifier/*.c`): program, program type, maps, and the
//! expected verdict with a fragment of the rejection message.

mod asm;
mod btf_gen;
#[cfg(target_os = "linux")]
mod callback_oracle;
mod cases_alu;
mod cases_btf;
mod cases_calls;
mod cases_cfg;
mod cases_feat;
mod cases_helpers;
mod cases_mem;
mod cases_pkt;
mod cases_precision;
mod cases_rules;
mod cases_str;
#[cfg(target_os = "linux")]
mod kernel_oracle;
mod log;
#[cfg(target_os = "linux")]
mod log_precision;
mod objects;
#[cfg(target_os = "linux")]
mod precision;
mod random;
mod registry;

use super::ctx::{CtxAccess, CtxDenied, CtxField, EntryArg, RawMem, Xdp};
use super::{verify, MapInfo, MapMeta, Verified, VerifyConfig, VerifyError};
use crate::isa::{self, Insn, Located};

/// A test program type: `r1` = 16-byte ctx (`u32` at 0 read-write, `u32` at 4 read-only,
/// `u64` at 8 read-only), return value in `[0, 1]`, `ktime_get_ns` not allowed.
pub(super) struct Ranged;

impl CtxAccess for Ranged {
    fn name(&self) -> &str {
        "ranged"
    }
    fn entry_args(&self) -> [EntryArg; 5] {
        [
            EntryArg::Ctx,
            EntryArg::None,
            EntryArg::None,
            EntryArg::None,
            EntryArg::None,
        ]
    }
    fn check_access(&self, off: i32, size: u32, write: bool) -> Result<CtxField, CtxDenied> {
        match (off, size, write) {
            (0, 4, _) | (4, 4, false) | (8, 8, false) => Ok(CtxField::Scalar),
            _ => Err(CtxDenied),
        }
    }
    fn return_range(&self) -> Option<(i64, i64)> {
        Some((0, 1))
    }
    fn helper_allowed(&self, id: i32) -> bool {
        id != 5
    }
}

/// Program types used by the cases.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ty {
    Xdp,
    Raw(u32),
    Ranged,
    /// A program type of [`crate::program::ProgramType`] by name (`socket`, `kprobe`).
    Named(&'static str),
}

/// Expected outcome.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expect {
    Accept,
    Reject(&'static str),
}

/// One case of the table.
pub(super) struct Case {
    pub name: &'static str,
    pub ty: Ty,
    pub insns: Vec<Insn>,
    pub maps: Vec<MapInfo>,
    /// More about the maps (inner templates, BTF, spin locks), by index.
    pub meta: Vec<MapMeta>,
    pub gpl: bool,
    /// Check helpers against the standard registry (its per-type restrictions), then
    /// the built-in table; otherwise the built-in table only.
    pub registry: bool,
    pub limit: Option<u64>,
    /// Whether the program has BTF `func_info` (given to the kernel too); `None`: when it
    /// loads a function pointer (callbacks need it).
    pub func_info: Option<bool>,
    pub expect: Expect,
}

pub(super) fn accept(name: &'static str, ty: Ty, insns: Vec<Insn>) -> Case {
    Case {
        name,
        ty,
        insns,
        maps: Vec::new(),
        meta: Vec::new(),
        gpl: true,
        registry: false,
        limit: None,
        func_info: None,
        expect: Expect::Accept,
    }
}

pub(super) fn reject(name: &'static str, ty: Ty, insns: Vec<Insn>, msg: &'static str) -> Case {
    Case {
        expect: Expect::Reject(msg),
        ..accept(name, ty, insns)
    }
}

impl Case {
    pub(super) fn maps(mut self, maps: &[MapInfo]) -> Case {
        self.maps = maps.to_vec();
        self
    }
    pub(super) fn meta(mut self, meta: Vec<MapMeta>) -> Case {
        self.meta = meta;
        self
    }
    pub(super) fn registry(mut self) -> Case {
        self.registry = true;
        self
    }
    pub(super) fn nongpl(mut self) -> Case {
        self.gpl = false;
        self
    }
    pub(super) fn limit(mut self, n: u64) -> Case {
        self.limit = Some(n);
        self
    }
    pub(super) fn func_info(mut self, with: bool) -> Case {
        self.func_info = Some(with);
        self
    }
    /// Whether the case has BTF `func_info` (default: if it loads a function pointer).
    pub(super) fn has_func_info(&self) -> bool {
        self.func_info.unwrap_or_else(|| {
            self.insns.iter().any(|i| {
                matches!(
                    i,
                    Insn::LdImm64 {
                        pseudo: isa::LdPseudo::Func,
                        ..
                    }
                )
            })
        })
    }
}

/// Number of random programs per randomized test: `default`, or `OXBPF_VERIFIER_ORACLE_N`.
pub(super) fn n_programs(default: u64) -> u64 {
    std::env::var("OXBPF_VERIFIER_ORACLE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Encodes and decodes, so slots are laid out as on the wire.
pub(super) fn assemble(insns: &[Insn]) -> Vec<Located> {
    let mut bytes = Vec::new();
    for i in insns {
        i.encode_into(&mut bytes);
    }
    isa::decode(&bytes).unwrap_or_default()
}

/// Runs one case at the given log level.
pub(super) fn run(c: &Case, log_level: u32) -> Result<Verified, VerifyError> {
    let prog = assemble(&c.insns);
    let (xdp, raw, ranged, named);
    let ty: &dyn CtxAccess = match c.ty {
        Ty::Xdp => {
            xdp = Xdp;
            &xdp
        }
        Ty::Raw(size) => {
            raw = RawMem { size };
            &raw
        }
        Ty::Ranged => {
            ranged = Ranged;
            &ranged
        }
        Ty::Named(n) => {
            named = crate::program::ProgramType::from_name(n)
                .and_then(|t| t.ctx_access())
                .unwrap_or_else(|| panic!("{}: no program type {n}", c.name));
            &named
        }
    };
    let registry = crate::helpers::Registry::standard();
    let chain = super::protos::Chain(&registry, &super::BuiltinHelpers);
    let builtin = super::BuiltinHelpers;
    let helpers: &dyn super::HelperLookup = if c.registry { &chain } else { &builtin };
    let config = VerifyConfig {
        helpers,
        maps: &c.maps,
        map_meta: &c.meta,
        gpl: c.gpl,
        log_level,
        insn_limit: c.limit.unwrap_or(super::COMPLEXITY_LIMIT_INSNS),
        func_info: c.has_func_info(),
        ..VerifyConfig::new(ty)
    };
    verify(&prog, &config)
}

/// Checks every case; reports all failures at once.
pub(super) fn check_table(cases: &[Case]) {
    let mut failures = Vec::new();
    for c in cases {
        let got = run(c, 1);
        match (&c.expect, &got) {
            (Expect::Accept, Ok(_)) => {}
            (Expect::Reject(m), Err(e)) if e.message.contains(m) => {
                // The log names the instruction, says why, and hints at a fix.
                if !(e.log.contains(m) && e.log.contains("processed ")) {
                    failures.push(format!(
                        "{}: log lacks message or summary:\n{}",
                        c.name, e.log
                    ));
                }
            }
            (Expect::Accept, Err(e)) => {
                failures.push(format!("{}: rejected: {}\n{}", c.name, e.message, e.log))
            }
            (Expect::Reject(m), Ok(v)) => {
                failures.push(format!("{}: accepted, expected {m:?}\n{}", c.name, v.log))
            }
            (Expect::Reject(m), Err(e)) => failures.push(format!(
                "{}: expected {m:?}, got {:?}\n{}",
                c.name, e.message, e.log
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Map fixtures.
pub(super) mod maps {
    use super::MapInfo;
    pub const HASH8: MapInfo = MapInfo {
        map_type: 1,
        key_size: 8,
        value_size: 8,
        max_entries: 16,
        flags: 0,
    };
    pub const ARRAY48: MapInfo = MapInfo {
        map_type: 2,
        key_size: 4,
        value_size: 48,
        max_entries: 1,
        flags: 0,
    };
    pub const RDONLY8: MapInfo = MapInfo {
        map_type: 2,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: super::super::F_RDONLY_PROG,
    };
    pub const RINGBUF: MapInfo = MapInfo {
        map_type: 27,
        key_size: 0,
        value_size: 0,
        max_entries: 4096,
        flags: 0,
    };
    pub const PROG_ARRAY: MapInfo = MapInfo {
        map_type: 3,
        key_size: 4,
        value_size: 4,
        max_entries: 4,
        flags: 0,
    };
    pub const QUEUE8: MapInfo = MapInfo {
        map_type: 22,
        key_size: 0,
        value_size: 8,
        max_entries: 16,
        flags: 0,
    };
}
