//! The `bpf(2)` object model in user space: load an [`Object`] into a [`Runtime`], which
//! creates its maps, relocates and loads its programs into an engine, gives both ids,
//! names and tags as the kernel does, pins them in an in-process namespace, and runs
//! programs with the kernel's `BPF_PROG_TEST_RUN` semantics ([`Program::test_run`]).
//!
//! ```no_run
//! use oxbpf::object::{object_name_from_path, Object};
//! use oxbpf::program::TestRun;
//! use oxbpf::runtime::Runtime;
//!
//! let bytes = std::fs::read("examples/hello.o").unwrap();
//! let obj = Object::parse(&bytes, &object_name_from_path("examples/hello.o")).unwrap();
//! let rt = Runtime::new();
//! let loaded = rt.load_object(&obj).unwrap();
//! let prog = loaded.program("hello").unwrap();
//! let out = prog.test_run(&TestRun { data_in: &[0; 64], ..TestRun::default() }).unwrap();
//! assert_eq!(out.output.retval, 2); // XDP_PASS
//! for line in &out.trace { println!("{}", line.text); }
//! ```
//!
//! Loading follows libbpf and the kernel: global data maps get their initial contents and
//! `.rodata` is frozen (and read-only for programs); perf event arrays without a size get
//! one slot per possible CPU; inner maps and prog arrays are filled from the object's
//! initial slots; `lddw` map references become map ids that the engine resolves to map
//! handles (`BPF_PSEUDO_MAP_FD`) or value addresses (`BPF_PSEUDO_MAP_VALUE`); calls to
//! undefined `memcpy`/`memmove`/`memset`/`memcmp` get BPF implementations appended.
//! Objects whose CO-RE relocations the embedder has not applied
//! ([`Object::relocate_core`]) are relocated against the running kernel's BTF (else their
//! own); poisoned instructions on dead paths become `ja -1` as in the kernel, reachable
//! ones fail the load with [`RuntimeError::CorePoisoned`]. The registry is the standard one plus the program types' packet helpers. Each run
//! registers the runtime's maps in the run context (helpers accept only registered map
//! handles) and the program table tail calls jump through.

mod dump;
mod error;
mod memfuncs;
mod objects;
mod tag;
mod verify;

pub use dump::{c_type_name, func_signature};
pub use error::{EngineBuilder, InterpBuilder, JitBuilder, RuntimeError};
pub use memfuncs::PROVIDED as PROVIDED_EXTERNALS;
pub use objects::{LoadedMap, Program, RunOutput};
pub use tag::{kernel_obj_name, prog_tag, tag_hex, TagHash};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use parking_lot::{Mutex, RwLock};

use crate::btf::Btf;
use crate::helpers::Registry;
use crate::isa;
use crate::maps::{IdResolver, Map, MapDef, MapType, BPF_ANY};
use crate::object::{
    DataKind, MapOrigin, MapSlotTarget, MapSpec, Object, ProgramSection, RelocKind,
};
use crate::program::{self, ProgramType};
use crate::vm::{MapRef, MapResolver, ProgramTable};

/// What a pin path holds.
#[derive(Debug, Clone)]
pub enum Pinned {
    /// A program.
    Program(Arc<Program>),
    /// A map.
    Map(Arc<LoadedMap>),
}

/// Id tables shared with the maps (which resolve ids stored into fd maps).
#[derive(Default)]
pub(crate) struct Tables {
    progs: RwLock<BTreeMap<u32, Arc<Program>>>,
    maps: RwLock<BTreeMap<u32, Arc<LoadedMap>>>,
}

impl Tables {
    /// Every map in the table.
    pub(crate) fn all_maps(&self) -> Vec<Arc<Map>> {
        self.maps
            .read()
            .values()
            .map(|m| Arc::clone(&m.map))
            .collect()
    }
}

/// The tables as maps and programs see them: weakly, since the tables own both.
pub(crate) struct WeakTables(pub(crate) std::sync::Weak<Tables>);

impl ProgramTable for WeakTables {
    fn program(&self, id: u32) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let t = self.0.upgrade()?;
        let e = t.progs.read().get(&id).map(|p| Arc::clone(&p.engine));
        e.map(|e| e.as_any())
    }
}

impl IdResolver for WeakTables {
    fn map(&self, id: u32) -> Option<Arc<Map>> {
        let t = self.0.upgrade()?;
        let m = t.maps.read().get(&id).map(|m| Arc::clone(&m.map));
        m
    }
    fn prog_exists(&self, id: u32) -> bool {
        self.0
            .upgrade()
            .is_some_and(|t| t.progs.read().contains_key(&id))
    }
}

/// An object after loading: its maps (in [`Object::maps`] order) and programs.
#[derive(Debug)]
pub struct LoadedObject {
    /// Object name.
    pub name: String,
    /// Maps, index-aligned with the object's map specs.
    pub maps: Vec<Arc<LoadedMap>>,
    /// Programs, in object order.
    pub programs: Vec<Arc<Program>>,
}

impl LoadedObject {
    /// The program with this function name (or kernel name, or section name).
    pub fn program(&self, name: &str) -> Option<&Arc<Program>> {
        self.programs
            .iter()
            .find(|p| p.func_name == name)
            .or_else(|| self.programs.iter().find(|p| p.name == name))
            .or_else(|| self.programs.iter().find(|p| p.section == name))
    }

    /// The map with this (object or kernel) name.
    pub fn map(&self, name: &str) -> Option<&Arc<LoadedMap>> {
        self.maps
            .iter()
            .find(|m| m.spec_name == name || m.name == name)
    }
}

/// Options for [`Runtime::load_object_with`].
#[derive(Default)]
pub struct LoadOptions<'a> {
    /// Type for programs whose section does not name one (and override for all if
    /// `force_type`).
    pub prog_type: Option<&'static ProgramType>,
    /// Use `prog_type` even where the section names a type.
    pub force_type: bool,
    /// Only load these programs (function names); all if empty.
    pub only: &'a [String],
    /// Create the maps but load no program.
    pub maps_only: bool,
}

/// The in-process "kernel": id allocation, object tables, pins, the helper registry and
/// the engine programs are loaded into.
pub struct Runtime {
    tables: Arc<Tables>,
    next_prog_id: AtomicU32,
    next_map_id: AtomicU32,
    next_btf_id: AtomicU32,
    pins: Mutex<BTreeMap<String, Pinned>>,
    helpers: Registry,
    engine: Box<dyn EngineBuilder>,
    /// Verify programs at load ([`Runtime::set_verify`]).
    verify: bool,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

/// libbpf's default pin directory for `LIBBPF_PIN_BY_NAME` maps.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

impl Runtime {
    /// A runtime with the standard helpers, the packet and map helpers, and the
    /// interpreter.
    pub fn new() -> Runtime {
        Runtime::with_engine(Box::new(InterpBuilder))
    }

    /// A runtime whose programs run on `engine`.
    pub fn with_engine(engine: Box<dyn EngineBuilder>) -> Runtime {
        let mut helpers = Registry::standard();
        program::register_packet_helpers(&mut helpers);
        Runtime {
            tables: Arc::default(),
            next_prog_id: AtomicU32::new(1),
            next_map_id: AtomicU32::new(1),
            next_btf_id: AtomicU32::new(1),
            pins: Mutex::new(BTreeMap::new()),
            helpers,
            engine,
            verify: true,
        }
    }

    /// The helper registry programs are loaded with (add embedder helpers here before
    /// loading).
    pub fn helpers_mut(&mut self) -> &mut Registry {
        &mut self.helpers
    }

    /// Every loaded program, by id.
    pub fn programs(&self) -> Vec<Arc<Program>> {
        self.tables.progs.read().values().cloned().collect()
    }

    /// Every map, by id.
    pub fn maps(&self) -> Vec<Arc<LoadedMap>> {
        self.tables.maps.read().values().cloned().collect()
    }

    /// The program with this id.
    pub fn program_by_id(&self, id: u32) -> Option<Arc<Program>> {
        self.tables.progs.read().get(&id).cloned()
    }

    /// The map with this id.
    pub fn map_by_id(&self, id: u32) -> Option<Arc<LoadedMap>> {
        self.tables.maps.read().get(&id).cloned()
    }

    /// Pins an object at `path` (`BPF_OBJ_PIN`); EEXIST-like error if taken.
    #[doc(alias = "BPF_OBJ_PIN")]
    pub fn pin(&self, path: &str, obj: Pinned) -> Result<(), RuntimeError> {
        let mut pins = self.pins.lock();
        if pins.contains_key(path) {
            return Err(RuntimeError::Pin {
                path: path.into(),
                problem: "already pinned",
            });
        }
        pins.insert(path.into(), obj);
        Ok(())
    }

    /// The object pinned at `path` (`BPF_OBJ_GET`).
    #[doc(alias = "BPF_OBJ_GET")]
    pub fn get_pinned(&self, path: &str) -> Option<Pinned> {
        self.pins.lock().get(path).cloned()
    }

    /// Removes the pin at `path` (unlink).
    pub fn unpin(&self, path: &str) -> Result<Pinned, RuntimeError> {
        self.pins.lock().remove(path).ok_or(RuntimeError::Pin {
            path: path.into(),
            problem: "nothing pinned there",
        })
    }

    /// Every pin path with what it holds.
    pub fn pins(&self) -> Vec<(String, Pinned)> {
        self.pins
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Loads every program of `obj` with types from their sections.
    pub fn load_object(&self, obj: &Object) -> Result<LoadedObject, RuntimeError> {
        self.load_object_with(obj, &LoadOptions::default())
    }

    /// Loads `obj`: maps first, then programs. On failure nothing of the object stays
    /// in the id tables or the pin namespace (as libbpf closes what it created).
    pub fn load_object_with(
        &self,
        obj: &Object,
        opts: &LoadOptions<'_>,
    ) -> Result<LoadedObject, RuntimeError> {
        if obj.needs_core() {
            // CO-RE against the running kernel's BTF (or the object's own), as libbpf
            // does when the embedder has not relocated the object itself.
            let mut relocated = obj.clone();
            relocated.relocate_core(crate::object::CoreTarget::Default)?;
            return self.load_object_with(&relocated, opts);
        }
        let maps_before: Vec<u32> = self.tables.maps.read().keys().copied().collect();
        let progs_before: Vec<u32> = self.tables.progs.read().keys().copied().collect();
        let pins_before: Vec<String> = self.pins.lock().keys().cloned().collect();
        let result = self.load_object_inner(obj, opts);
        if result.is_err() {
            self.tables
                .maps
                .write()
                .retain(|id, _| maps_before.contains(id));
            self.tables
                .progs
                .write()
                .retain(|id, _| progs_before.contains(id));
            self.pins.lock().retain(|p, _| pins_before.contains(p));
        }
        result
    }

    fn load_object_inner(
        &self,
        obj: &Object,
        opts: &LoadOptions<'_>,
    ) -> Result<LoadedObject, RuntimeError> {
        let btf = obj.btf.clone().map(Arc::new);
        let btf_id = if btf.is_some() {
            self.next_btf_id.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        let mut maps: Vec<Arc<LoadedMap>> = Vec::with_capacity(obj.maps.len());
        for spec in &obj.maps {
            let m = self.create_or_reuse_map(spec, btf.as_ref(), btf_id)?;
            maps.push(m);
        }
        // Map-in-map initial slots.
        for (spec, m) in obj.maps.iter().zip(&maps) {
            for slot in &spec.initial_slots {
                if let MapSlotTarget::Map(j) = slot.target {
                    let inner = maps.get(j).ok_or_else(|| RuntimeError::Slot {
                        map: spec.name.clone(),
                        index: slot.index,
                        problem: format!("map index {j} does not exist"),
                    })?;
                    m.map
                        .set_inner_map(&slot.index.to_ne_bytes(), &inner.map, BPF_ANY)
                        .map_err(|e| RuntimeError::Slot {
                            map: spec.name.clone(),
                            index: slot.index,
                            problem: e.to_string(),
                        })?;
                }
            }
        }
        let mut programs = Vec::new();
        for p in &obj.programs {
            if opts.maps_only {
                break;
            }
            if !opts.only.is_empty() && !opts.only.contains(&p.name) {
                continue;
            }
            let ty = match (opts.force_type, opts.prog_type) {
                (true, Some(t)) => t,
                _ => match p
                    .kind
                    .as_ref()
                    .and_then(|k| ProgramType::from_id(k.prog_type))
                {
                    Some(t) => t,
                    None => opts.prog_type.ok_or_else(|| RuntimeError::UnknownType {
                        prog: p.name.clone(),
                        section: p.section.clone(),
                    })?,
                },
            };
            let prog = self.load_program(obj, p, ty, &maps, btf.clone(), btf_id)?;
            programs.push(prog);
        }
        // Prog array initial slots, now that the programs have ids.
        for (spec, m) in obj.maps.iter().zip(&maps) {
            for slot in &spec.initial_slots {
                if let MapSlotTarget::Program(name) = &slot.target {
                    let Some(p) = programs.iter().find(|p| p.func_name == *name) else {
                        continue; // not loaded (filtered out), as libbpf skips it
                    };
                    m.map
                        .update(&slot.index.to_ne_bytes(), &p.id.to_ne_bytes(), BPF_ANY)
                        .map_err(|e| RuntimeError::Slot {
                            map: spec.name.clone(),
                            index: slot.index,
                            problem: e.to_string(),
                        })?;
                }
            }
        }
        Ok(LoadedObject {
            name: obj.name.clone(),
            maps,
            programs,
        })
    }

    fn create_or_reuse_map(
        &self,
        spec: &MapSpec,
        btf: Option<&Arc<Btf>>,
        btf_id: u32,
    ) -> Result<Arc<LoadedMap>, RuntimeError> {
        let pin_path = match spec.pinning {
            crate::object::Pinning::ByName => Some(format!("{DEFAULT_PIN_ROOT}/{}", spec.name)),
            _ => None,
        };
        if let Some(path) = &pin_path {
            if let Some(Pinned::Map(m)) = self.get_pinned(path) {
                let def = map_def(spec)?;
                let d = m.map.def();
                if d.map_type == def.map_type
                    && d.key_size == def.key_size
                    && d.value_size == def.value_size
                    && d.max_entries == def.max_entries
                {
                    return Ok(m);
                }
                return Err(RuntimeError::Pin {
                    path: path.clone(),
                    problem: "pinned map is incompatible with the object's definition",
                });
            }
        }
        let def = map_def(spec)?;
        let map_err = |source| RuntimeError::Map {
            map: spec.name.clone(),
            source,
        };
        let map = Map::new(&def).map_err(map_err)?;
        map.set_resolver(Arc::new(WeakTables(Arc::downgrade(&self.tables))));
        let mut frozen = false;
        if let Some(data) = &spec.data {
            if !data.is_empty() {
                let mut value = data.clone();
                value.resize(def.value_size as usize, 0);
                map.update(&0u32.to_ne_bytes(), &value, BPF_ANY)
                    .map_err(map_err)?;
            }
            if spec.origin == MapOrigin::Data(DataKind::Rodata) {
                map.freeze().map_err(map_err)?;
                frozen = true;
            }
        }
        let id = self.next_map_id.fetch_add(1, Ordering::Relaxed);
        map.set_id(id);
        let lm = Arc::new(LoadedMap {
            id,
            name: kernel_obj_name(&spec.name),
            spec_name: spec.name.clone(),
            map,
            btf_key_type_id: spec.btf_key_type_id.unwrap_or(0),
            btf_value_type_id: spec.btf_value_type_id.unwrap_or(0),
            btf: btf.cloned(),
            btf_id: if spec.btf_value_type_id.is_some() {
                btf_id
            } else {
                0
            },
            frozen,
        });
        self.tables.maps.write().insert(id, Arc::clone(&lm));
        if let Some(path) = pin_path {
            self.pin(&path, Pinned::Map(Arc::clone(&lm)))?;
        }
        Ok(lm)
    }

    fn load_program(
        &self,
        obj: &Object,
        p: &ProgramSection,
        ty: &'static ProgramType,
        maps: &[Arc<LoadedMap>],
        btf: Option<Arc<Btf>>,
        btf_id: u32,
    ) -> Result<Arc<Program>, RuntimeError> {
        // Map references become map ids, as the kernel's xlated dump shows them.
        let ids: Vec<i32> = maps.iter().map(|m| m.id as i32).collect();
        let mut insns = p.bind_maps(&ids).map_err(|map| RuntimeError::BadMapIndex {
            prog: p.name.clone(),
            map,
        })?;
        let mut functions: Vec<(String, usize)> = p
            .functions
            .iter()
            .map(|f| (f.name.clone(), f.start))
            .collect();
        link_externals(p, &mut insns, &mut functions)?;
        let mut map_ids: Vec<u32> = Vec::new();
        let mut reachable: Vec<Arc<Map>> = Vec::new();
        for r in &p.relocations {
            if let RelocKind::Map { map } | RelocKind::MapValue { map, .. } = r.kind {
                let m = maps.get(map).ok_or(RuntimeError::BadMapIndex {
                    prog: p.name.clone(),
                    map,
                })?;
                if !map_ids.contains(&m.id) {
                    map_ids.push(m.id);
                    reachable.push(Arc::clone(&m.map));
                }
            }
        }
        // Inner maps a map-in-map lookup can hand the program.
        for m in maps {
            if matches!(m.map.map_type(), MapType::ArrayOfMaps | MapType::HashOfMaps) {
                for (_, inner) in self.inner_maps_of(m) {
                    if !reachable.iter().any(|r| Arc::ptr_eq(r, &inner)) {
                        reachable.push(inner);
                    }
                }
            }
        }
        let decoded = isa::decode(&insns.concat()).map_err(|e| RuntimeError::Load {
            prog: p.name.clone(),
            message: e.to_string(),
        })?;
        let v = self
            .verify_and_build(
                &p.name,
                &decoded,
                ty,
                maps,
                obj.is_gpl_compatible(),
                !p.func_info.is_empty(),
            )
            .map_err(|e| poisoned(p, &insns, e))?;
        let id = self.next_prog_id.fetch_add(1, Ordering::Relaxed);
        let prog = Arc::new(Program {
            id,
            name: kernel_obj_name(&p.name),
            func_name: p.name.clone(),
            section: p.section.clone(),
            prog_type: ty,
            prog_flags: p.kind.as_ref().map_or(0, crate::program::load_flags),
            tag: prog_tag(&insns, TagHash::default()),
            insns,
            map_ids,
            loaded_at: SystemTime::now(),
            gpl_compatible: obj.is_gpl_compatible(),
            btf_id: if p.func_info.is_empty() { 0 } else { btf_id },
            btf,
            func_info: p.func_info.clone(),
            line_info: p.line_info.clone(),
            functions,
            verified: v.verified,
            verify_note: v.note,
            engine: v.engine,
            maps: reachable,
            tables: Arc::new(WeakTables(Arc::downgrade(&self.tables))),
        });
        self.tables.progs.write().insert(id, Arc::clone(&prog));
        Ok(prog)
    }

    /// Loads raw instructions (no maps, no BTF) as a program of type `ty`, as
    /// `BPF_PROG_LOAD` of a bytecode file would.
    pub fn load_raw(
        &self,
        name: &str,
        insns: Vec<[u8; 8]>,
        ty: &'static ProgramType,
        license: &str,
    ) -> Result<Arc<Program>, RuntimeError> {
        let decoded = isa::decode(&insns.concat()).map_err(|e| RuntimeError::Load {
            prog: name.into(),
            message: e.to_string(),
        })?;
        let gpl = crate::object::license_is_gpl_compatible(license);
        let v = self.verify_and_build(name, &decoded, ty, &[], gpl, false)?;
        let id = self.next_prog_id.fetch_add(1, Ordering::Relaxed);
        let prog = Arc::new(Program {
            id,
            name: kernel_obj_name(name),
            func_name: name.into(),
            section: String::new(),
            prog_type: ty,
            prog_flags: 0,
            tag: prog_tag(&insns, TagHash::default()),
            insns,
            map_ids: Vec::new(),
            loaded_at: SystemTime::now(),
            gpl_compatible: gpl,
            btf_id: 0,
            btf: None,
            func_info: Vec::new(),
            line_info: Vec::new(),
            functions: vec![(name.into(), 0)],
            verified: v.verified,
            verify_note: v.note,
            engine: v.engine,
            maps: Vec::new(),
            tables: Arc::new(WeakTables(Arc::downgrade(&self.tables))),
        });
        self.tables.progs.write().insert(id, Arc::clone(&prog));
        Ok(prog)
    }

    /// The inner maps currently stored in a map-in-map, with their ids.
    fn inner_maps_of(&self, outer: &LoadedMap) -> Vec<(u32, Arc<Map>)> {
        outer
            .map
            .keys()
            .into_iter()
            .filter_map(|k| outer.map.lookup(&k).ok())
            .filter_map(|v| {
                let id = u32::from_ne_bytes(v.get(..4)?.try_into().ok()?);
                Some((id, self.map_by_id(id)?.map.clone()))
            })
            .collect()
    }

    /// Unloads a program: it disappears from the id table (and pins keep it alive if any).
    pub fn unload_program(&self, id: u32) -> Option<Arc<Program>> {
        self.tables.progs.write().remove(&id)
    }

    /// Removes a map from the id table.
    pub fn remove_map(&self, id: u32) -> Option<Arc<LoadedMap>> {
        self.tables.maps.write().remove(&id)
    }
}

/// Turns a map spec into a definition (perf event arrays with 0 entries are sized by
/// `MapDef::validate`).
fn map_def(spec: &MapSpec) -> Result<MapDef, RuntimeError> {
    let map_type = MapType::from_raw(spec.map_type).ok_or_else(|| RuntimeError::MapType {
        map: spec.name.clone(),
        map_type: spec.map_type,
    })?;
    if let MapOrigin::Data(kind) = spec.origin {
        return Ok(MapDef::global_data(
            &kernel_obj_name(&spec.name),
            spec.value_size,
            kind == DataKind::Rodata,
        ));
    }
    let mut def = MapDef::new(map_type, spec.key_size, spec.value_size, spec.max_entries)
        .with_flags(spec.map_flags)
        .with_name(&kernel_obj_name(&spec.name));
    // Legacy inner map references were resolved into `inner` by the object loader.
    if let Some(inner) = &spec.inner {
        let inner_def = map_def(inner)?;
        def = def.with_inner(inner_def);
    }
    Ok(def)
}

/// Names the CO-RE relocation behind a rejection at a poisoned instruction.
fn poisoned(p: &ProgramSection, insns: &[[u8; 8]], e: RuntimeError) -> RuntimeError {
    let at = match &e {
        RuntimeError::Verify { error, .. } => Some(error.insn),
        RuntimeError::Load { message, .. } => {
            // The engine names no index: take the first poisoned instruction.
            let poison = crate::btf::core::POISON_HELPER;
            (message.contains(&poison.to_string()) || message.contains(&format!("{poison:#x}")))
                .then(|| insns.iter().position(crate::btf::core::is_poison))
                .flatten()
        }
        _ => None,
    };
    let Some(at) = at.filter(|&i| insns.get(i).is_some_and(crate::btf::core::is_poison)) else {
        return e;
    };
    // An `lddw` is poisoned in both halves: its relocation names the first.
    let r = p
        .core_results
        .iter()
        .find(|r| r.new.is_none() && (r.insn == at || r.insn + 1 == at));
    match r {
        Some(r) => RuntimeError::CorePoisoned {
            prog: p.name.clone(),
            insn: at,
            relocation: r.description.clone(),
        },
        None => e,
    }
}

/// Appends the provided `mem*` functions the program calls and points the calls at them.
fn link_externals(
    p: &ProgramSection,
    insns: &mut Vec<[u8; 8]>,
    functions: &mut Vec<(String, usize)>,
) -> Result<(), RuntimeError> {
    let mut placed: BTreeMap<String, usize> = BTreeMap::new();
    for ext in &p.external_calls {
        let start = match placed.get(&ext.symbol) {
            Some(&s) => s,
            None => {
                let code = memfuncs::subprogram(&ext.symbol).ok_or_else(|| {
                    RuntimeError::UnresolvedExternal {
                        prog: p.name.clone(),
                        insn: ext.insn,
                        symbol: ext.symbol.clone(),
                    }
                })?;
                let s = insns.len();
                insns.extend(code);
                functions.push((ext.symbol.clone(), s));
                placed.insert(ext.symbol.clone(), s);
                s
            }
        };
        let call = insns
            .get_mut(ext.insn)
            .ok_or_else(|| RuntimeError::UnresolvedExternal {
                prog: p.name.clone(),
                insn: ext.insn,
                symbol: ext.symbol.clone(),
            })?;
        // BPF_JMP | BPF_CALL with src_reg = BPF_PSEUDO_CALL, imm relative to the next slot.
        call[0] = 0x85;
        call[1] = crate::object::BPF_PSEUDO_CALL << 4;
        let rel = start as i64 - (ext.insn as i64 + 1);
        call[4..8].copy_from_slice(&(rel as i32).to_le_bytes());
    }
    Ok(())
}

/// Resolves `lddw` map forms whose imm is a runtime map id.
struct IdMaps<'a> {
    maps: &'a [Arc<LoadedMap>],
}

impl IdMaps<'_> {
    fn find(&self, r: MapRef) -> Option<&Arc<LoadedMap>> {
        match r {
            MapRef::Fd(id) => self.maps.iter().find(|m| m.id as i32 == id),
            MapRef::Idx(i) => self.maps.get(usize::try_from(i).ok()?),
        }
    }
}

impl MapResolver for IdMaps<'_> {
    fn map_handle(&self, map: MapRef) -> Option<u64> {
        self.find(map).map(|m| m.map.handle())
    }
    fn map_value_addr(&self, map: MapRef, off: u32) -> Option<u64> {
        self.find(map)?.map.direct_value_addr(off).ok()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod bench_verify;
#[cfg(test)]
mod tests;
#[cfg(all(test, target_os = "linux"))]
mod tests_core;
#[cfg(test)]
mod tests_examples;
#[cfg(all(test, target_os = "linux"))]
mod tests_kernel;
#[cfg(test)]
mod tests_verify;
