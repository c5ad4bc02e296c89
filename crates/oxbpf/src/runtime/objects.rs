//! What the runtime hands out: loaded programs (with their kernel-style info) and maps.

use std::sync::Arc;
use std::time::SystemTime;

use crate::btf::{Btf, FuncInfo, LineInfo};
use crate::isa::{self, Located};
use crate::maps::Map;
use crate::program::{self, Engine, ProgramType, TestRun, TestRunOutput};
use crate::verifier::Verified;
use crate::vm::{MemRegion, ProgramTable, RunContext, TraceLine};

use super::{tag_hex, RuntimeError, Tables, WeakTables};

/// A map the runtime created.
#[derive(Debug)]
pub struct LoadedMap {
    /// Kernel-style id.
    pub id: u32,
    /// Name as the kernel would store it (15 bytes).
    pub name: String,
    /// The object's name for it (libbpf's, e.g. `hello.bss`).
    pub spec_name: String,
    /// The map.
    pub map: Arc<Map>,
    /// BTF key type id (0: none).
    pub btf_key_type_id: u32,
    /// BTF value type id (0: none).
    pub btf_value_type_id: u32,
    /// The object's BTF, for pretty-printing.
    pub btf: Option<Arc<Btf>>,
    /// Id of that BTF object (0: none).
    pub btf_id: u32,
    /// Whether the map was created frozen (`.rodata`).
    pub frozen: bool,
}

/// A loaded program with the information `BPF_OBJ_GET_INFO_BY_FD` reports.
pub struct Program {
    /// Kernel-style id.
    pub id: u32,
    /// Name as the kernel stores it (15 bytes).
    pub name: String,
    /// The ELF function name.
    pub func_name: String,
    /// The ELF section.
    pub section: String,
    /// The program type.
    pub prog_type: &'static ProgramType,
    /// `BPF_PROG_LOAD` flags the section implies (`xdp.frags`: `BPF_F_XDP_HAS_FRAGS`,
    /// `.s` sections: `BPF_F_SLEEPABLE`), as libbpf passes them to the kernel.
    pub prog_flags: u32,
    /// The kernel's tag: the hash ([`TagHash::default`](super::TagHash), as current kernels) of the
    /// instructions with map immediates zeroed.
    pub tag: [u8; 8],
    /// Instructions as loaded (map references hold map ids): the "xlated" program.
    pub insns: Vec<[u8; 8]>,
    /// Ids of the maps the program references.
    pub map_ids: Vec<u32>,
    /// Wall-clock load time.
    pub loaded_at: SystemTime,
    /// Whether the object's license is GPL-compatible.
    pub gpl_compatible: bool,
    /// Id of the object's BTF (0: none).
    pub btf_id: u32,
    /// The object's BTF.
    pub btf: Option<Arc<Btf>>,
    /// Function info by final instruction index.
    pub func_info: Vec<FuncInfo>,
    /// Line info by final instruction index.
    pub line_info: Vec<LineInfo>,
    /// Function boundaries: (name, first slot).
    pub functions: Vec<(String, usize)>,
    /// The verifier's result, computed once at load (`None`: loaded without
    /// verification; the engine checks memory accesses at run time).
    pub verified: Option<Arc<Verified>>,
    /// Why the program was not verified although the runtime verifies (a verifier
    /// precision gap); callers should warn.
    pub verify_note: Option<String>,
    pub(super) engine: Arc<dyn Engine>,
    /// The maps the program references (kept alive with it).
    pub(super) maps: Vec<Arc<Map>>,
    /// The runtime's tables: every map a run may reach (tail-call targets use their own)
    /// and the programs tail calls jump to.
    pub(super) tables: Arc<WeakTables>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("type", &self.prog_type.bpftool_name)
            .field("tag", &tag_hex(&self.tag))
            .finish()
    }
}

/// A test run's result plus the trace lines the run wrote.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// retval, data_out, ctx_out, duration.
    pub output: TestRunOutput,
    /// `bpf_trace_printk` output of the run.
    pub trace: Vec<TraceLine>,
}

impl Program {
    /// Bytes of the loaded instructions (bpftool's `xlated`).
    pub fn xlated_len(&self) -> usize {
        self.insns.len() * 8
    }

    /// Bytes of native code (bpftool's `jited`; 0 for the interpreter).
    pub fn jited_len(&self) -> usize {
        self.engine.native_len()
    }

    /// The native code listing (each instruction followed by its x86-64 code, as
    /// `bpftool prog dump jited`), or `None` if the program is not compiled.
    pub fn dump_jited(&self) -> Option<String> {
        let any = Arc::clone(&self.engine).as_any();
        any.downcast_ref::<crate::jit::JitProgram>()
            .map(crate::jit::JitProgram::disassemble)
    }

    /// The engine's name.
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// The instructions decoded, for disassembly.
    pub fn decoded(&self) -> Vec<Located> {
        isa::decode(&self.insns.concat()).unwrap_or_default()
    }

    /// The maps a run registers: every map of the runtime (a tail call may reach any
    /// program's maps), or the program's own if the runtime is gone.
    fn run_maps(&self) -> Vec<Arc<Map>> {
        match self.tables.0.upgrade() {
            Some(t) => Tables::all_maps(&t),
            None => self.maps.clone(),
        }
    }

    /// `BPF_PROG_TEST_RUN` with a fresh run context.
    #[doc(alias = "BPF_PROG_TEST_RUN")]
    pub fn test_run(&self, run: &TestRun<'_>) -> Result<RunOutput, RuntimeError> {
        self.test_run_in(run, &mut RunContext::new())
    }

    /// `BPF_PROG_TEST_RUN` in `rc` (reuse one per thread). The runtime's maps and program
    /// table are registered in `rc` for the run and removed afterwards, together with any
    /// map `rc` had registered before.
    pub fn test_run_in(
        &self,
        run: &TestRun<'_>,
        rc: &mut RunContext,
    ) -> Result<RunOutput, RuntimeError> {
        // SAFETY: no extra regions.
        unsafe { self.test_run_with(run, rc, &[]) }
    }

    /// [`test_run_in`](Self::test_run_in) with `extra` regions (e.g. memory a kprobe's
    /// registers point to) valid for the program during the run.
    ///
    /// # Safety
    /// Every region in `extra` must be valid for reads (and writes where `writable`)
    /// through raw pointers until this returns, and not be accessed through Rust
    /// references meanwhile.
    pub unsafe fn test_run_with(
        &self,
        run: &TestRun<'_>,
        rc: &mut RunContext,
        extra: &[MemRegion],
    ) -> Result<RunOutput, RuntimeError> {
        for m in self.run_maps() {
            rc.add_map(&m);
        }
        rc.set_programs(Some(Arc::clone(&self.tables) as Arc<dyn ProgramTable>));
        for r in extra {
            // SAFETY: the caller's contract; removed after the run.
            unsafe { rc.add_region(*r) };
        }
        let result = program::test_run(self.engine.as_ref(), self.prog_type, run, rc);
        for r in extra {
            rc.remove_region(r);
        }
        rc.set_programs(None);
        rc.clear_maps();
        let output = result.map_err(|source| RuntimeError::Run {
            prog: self.name.clone(),
            source,
        })?;
        Ok(RunOutput {
            output,
            trace: rc.trace.take(),
        })
    }
}
