//! Applying `.BTF.ext` CO-RE relocations to linked programs (see [`crate::btf::core`]).
//!
//! The target BTF is what the embedder names ([`CoreTarget::Btf`], the CLI's `--btf`),
//! else the running kernel's `/sys/kernel/btf/vmlinux` when readable (what libbpf
//! uses), else the object's own BTF (every relocation then keeps clang's value).

use std::sync::{Arc, OnceLock};

use super::{Object, ObjectError};
use crate::btf::core::{self, CoreError, CoreResult};
use crate::btf::Btf;

/// Where the kernel's types come from, for CO-RE relocations.
#[derive(Debug, Clone, Copy, Default)]
pub enum CoreTarget<'a> {
    /// `/sys/kernel/btf/vmlinux` when readable, else the object's own BTF.
    #[default]
    Default,
    /// This BTF (a vmlinux BTF file, or a test's own types).
    Btf(&'a Btf),
    /// The object's own BTF (identity relocation).
    Local,
}

/// Path of the running kernel's BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The running kernel's BTF, read and parsed once per process; `None` when unreadable
/// or malformed (the caller falls back to the object's BTF).
pub fn kernel_btf() -> Option<Arc<Btf>> {
    static CACHE: OnceLock<Option<Arc<Btf>>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let data = std::fs::read(VMLINUX_BTF).ok()?;
            Btf::parse(&data).ok().map(Arc::new)
        })
        .clone()
}

impl Object {
    /// True if some program has CO-RE relocations not yet applied.
    pub fn needs_core(&self) -> bool {
        self.programs
            .iter()
            .any(|p| !p.core_relos.is_empty() && !p.core_applied)
    }

    /// Applies every program's CO-RE relocations against `target`, recording each
    /// result in [`super::ProgramSection::core_results`]. Unresolvable relocations
    /// poison their instruction (`call 0xbad2310`) as libbpf does; a malformed record is
    /// an error naming the program, section and record. Applying twice is a no-op.
    pub fn relocate_core(&mut self, target: CoreTarget<'_>) -> Result<(), ObjectError> {
        if !self.needs_core() {
            return Ok(());
        }
        let Some(local) = self.btf.as_ref() else {
            return Err(ObjectError::MissingBtf {
                section: ".BTF.ext CO-RE relocations".into(),
            });
        };
        let kernel;
        let target: &Btf = match target {
            CoreTarget::Btf(b) => b,
            CoreTarget::Local => local,
            CoreTarget::Default => match kernel_btf() {
                Some(k) => {
                    kernel = k;
                    &kernel
                }
                None => local,
            },
        };
        let mut cache = core::CandidateCache::default();
        for p in &mut self.programs {
            if p.core_applied {
                continue;
            }
            let mut results: Vec<CoreResult> = Vec::with_capacity(p.core_relos.len());
            let core_err = |source: CoreError| ObjectError::Core {
                program: p.name.clone(),
                section: p.section.clone(),
                source: Box::new(source),
            };
            for r in &p.core_relos {
                let res = core::calc_relo_cached(local, target, r, &mut cache).map_err(core_err)?;
                core::patch(&mut p.insns, &res).map_err(|problem| {
                    core_err(CoreError::Bad {
                        insn: r.insn,
                        kind: core::relo_kind_name(r.kind),
                        type_id: r.type_id,
                        access: r.access.clone(),
                        problem,
                    })
                })?;
                results.push(res);
            }
            p.core_results = results;
            p.core_applied = true;
        }
        Ok(())
    }
}
