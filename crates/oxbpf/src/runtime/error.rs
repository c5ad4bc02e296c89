//! Runtime errors and the pluggable engine interface.

use std::sync::Arc;

use crate::helpers::Registry;
use crate::interp::{Interpreter, Mode};
use crate::isa::Located;
use crate::jit::{JitOptions, JitProgram};
use crate::maps::MapError;
use crate::program::{Engine, TestRunError};
use crate::verifier::{Verified, VerifyError};
use crate::vm::MapResolver;

/// Errors of the runtime, each naming the object, program or map concerned.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A map could not be created.
    #[error("map {map}: {source}")]
    Map {
        /// Map name.
        map: String,
        /// Why.
        source: MapError,
    },
    /// A map type number oxbpf has no implementation for.
    #[error("map {map}: map type {map_type} is not supported")]
    MapType {
        /// Map name.
        map: String,
        /// `enum bpf_map_type` number.
        map_type: u32,
    },
    /// The program's type is unknown and none was given.
    #[error("program {prog} (section {section}): unknown program type; give one")]
    UnknownType {
        /// Program name.
        prog: String,
        /// Its section.
        section: String,
    },
    /// A call to an undefined function the runtime does not provide.
    #[error("program {prog}: instruction {insn} calls undefined function {symbol}")]
    UnresolvedExternal {
        /// Program name.
        prog: String,
        /// Instruction index.
        insn: usize,
        /// Called symbol.
        symbol: String,
    },
    /// A map reference to a map index the object does not have.
    #[error("program {prog}: reference to map index {map}, which the object lacks")]
    BadMapIndex {
        /// Program name.
        prog: String,
        /// Map index.
        map: usize,
    },
    /// The engine refused the program.
    #[error("program {prog}: {message}")]
    Load {
        /// Program name.
        prog: String,
        /// The engine's error.
        message: String,
    },
    /// The verifier rejected the program.
    #[error("program {prog}: verifier rejected it at insn {}: {}", .error.insn, .error.message)]
    Verify {
        /// Program name.
        prog: String,
        /// The verifier's error, with its log (level 1: the failing path and summary).
        error: Box<VerifyError>,
    },
    /// The object could not be prepared (CO-RE relocation records that cannot apply).
    #[error("{0}")]
    Object(#[from] crate::object::ObjectError),
    /// A reachable instruction was poisoned by CO-RE (libbpf's `call 0xbad2310`): the
    /// target BTF lacks what the relocation names.
    #[error("program {prog}: instruction {insn} was poisoned by CO-RE relocation {relocation}: the target BTF has no match; guard it with bpf_core_field_exists/bpf_core_type_exists")]
    CorePoisoned {
        /// Program name.
        prog: String,
        /// Instruction index.
        insn: usize,
        /// The relocation (kind, type and access path).
        relocation: String,
    },
    /// An initial prog array or map-in-map slot names something missing.
    #[error("map {map} slot {index}: {problem}")]
    Slot {
        /// Map name.
        map: String,
        /// Slot index.
        index: u32,
        /// What is wrong.
        problem: String,
    },
    /// A pin path is taken or absent.
    #[error("pin {path}: {problem}")]
    Pin {
        /// Path in the pin namespace.
        path: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// The test run failed.
    #[error("program {prog}: {source}")]
    Run {
        /// Program name.
        prog: String,
        /// Why.
        source: TestRunError,
    },
}

/// Builds an execution engine for a loaded program. The interpreter is
/// [`InterpBuilder`]; a JIT supplies its own builder with the same run API.
pub trait EngineBuilder: Send + Sync {
    /// Engine name for `--engine` and `prog show`.
    fn name(&self) -> &'static str;
    /// Loads `insns` with `helpers`, resolving `lddw` map forms through `maps`.
    fn build(
        &self,
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
    ) -> Result<Arc<dyn Engine>, String>;
    /// Loads a program the verifier accepted (`verified` holds its facts): an engine may
    /// drop its run-time memory checks. The default builds the checked engine.
    fn build_verified(
        &self,
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
        verified: &Verified,
    ) -> Result<Arc<dyn Engine>, String> {
        let _ = verified;
        self.build(insns, helpers, maps)
    }
}

/// The interpreter: checked mode for unverified programs, unchecked for verified ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct InterpBuilder;

impl EngineBuilder for InterpBuilder {
    fn name(&self) -> &'static str {
        "interp"
    }
    fn build(
        &self,
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
    ) -> Result<Arc<dyn Engine>, String> {
        let vm = Interpreter::with_maps(insns, helpers, maps).map_err(|e| e.to_string())?;
        debug_assert_eq!(vm.mode(), Mode::Checked);
        Ok(Arc::new(vm))
    }
    fn build_verified(
        &self,
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
        verified: &Verified,
    ) -> Result<Arc<dyn Engine>, String> {
        let _ = verified;
        let mut vm = Interpreter::with_maps(insns, helpers, maps).map_err(|e| e.to_string())?;
        // SAFETY: the verifier proved every memory access of `insns` in bounds for the
        // program type's context, packet and the maps `maps` resolves, which is what the
        // runtime's test_run hands the program.
        unsafe { vm.set_mode(Mode::Unchecked) };
        Ok(Arc::new(vm))
    }
}

/// The x86-64 JIT in checked mode (programs are not verified): every memory access is
/// bounds-checked, with the interpreter's default instruction budget.
#[derive(Debug, Clone, Copy, Default)]
pub struct JitBuilder;

impl EngineBuilder for JitBuilder {
    fn name(&self) -> &'static str {
        "jit"
    }
    fn build(
        &self,
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
    ) -> Result<Arc<dyn Engine>, String> {
        let jit = JitProgram::compile(insns, helpers, Some(maps), JitOptions::new())
            .map_err(|e| e.to_string())?;
        debug_assert_eq!(jit.options().mode(), Mode::Checked);
        Ok(Arc::new(jit))
    }

    fn build_verified(
        &self,
        insns: &[Located],
        helpers: &Registry,
        maps: &dyn MapResolver,
        verified: &Verified,
    ) -> Result<Arc<dyn Engine>, String> {
        let _ = verified;
        // SAFETY: as for the interpreter above: the verifier proved every access in bounds
        // for what the runtime's test_run hands the program.
        let opts = unsafe { JitOptions::new().unchecked() };
        let jit =
            JitProgram::compile(insns, helpers, Some(maps), opts).map_err(|e| e.to_string())?;
        Ok(Arc::new(jit))
    }
}
