//! The engines under test, each loading a benchmark program and timing it on a packet:
//! oxbpf's interpreter (checked and unchecked), oxbpf's JIT, rbpf's interpreter and JIT,
//! the kernel's JIT through `BPF_PROG_TEST_RUN`, and the C compiled natively.

use std::sync::Arc;
use std::time::Duration;

use oxbpf::helpers::Registry;
use oxbpf::interp::{Interpreter, Mode};
use oxbpf::isa;
use oxbpf::jit::{JitOptions, JitProgram};
use oxbpf::maps::{Map, MapDef, MapType, BPF_ANY};
use oxbpf::object::RelocKind;
use oxbpf::verifier::{self, ctx::Xdp, MapInfo, VerifyConfig};
use oxbpf::vm::{MapRef, MapResolver, MemRegion, RunContext};

use crate::lowmem::Packet;
use crate::measure::{self, Budget};
use crate::programs::{self, Benchmark, Loaded};

/// One engine's result on one benchmark.
#[derive(Clone, Debug)]
pub struct Measured {
    /// `r0` of a run (the kernel and native code report its low 32 bits only).
    pub r0: u64,
    /// Nanoseconds per run, one sample per batch.
    pub samples: Vec<f64>,
    /// eBPF instructions executed per run (interpreters that count them).
    pub insns: Option<u64>,
}

impl Measured {
    /// Median nanoseconds per run.
    pub fn ns(&self) -> f64 {
        measure::median(&mut self.samples.clone())
    }
}

/// An engine's outcome: a measurement, or why there is none (shown in the table).
pub type Outcome = Result<Measured, String>;

/// The benchmark's maps: oxbpf maps for every user-space engine (oxbpf's own helpers,
/// rbpf's and native code's helpers below all use the same map implementation).
pub struct BenchMaps {
    maps: Vec<Arc<Map>>,
}

impl BenchMaps {
    /// Creates the object's maps, hash maps prefilled with keys `0..prefill_keys`.
    pub fn create(loaded: &Loaded, prefill_keys: u32) -> Result<BenchMaps, String> {
        let mut maps = Vec::new();
        for spec in &loaded.maps {
            let ty = MapType::try_from(spec.map_type).map_err(|e| e.to_string())?;
            let def = MapDef::new(ty, spec.key_size, spec.value_size, spec.max_entries)
                .with_flags(spec.map_flags);
            let map = Map::new(&def).map_err(|e| format!("map {}: {e}", spec.name))?;
            if ty == MapType::Hash {
                for (k, v) in programs::prefill(prefill_keys) {
                    map.update(&k, &v, BPF_ANY)
                        .map_err(|e| format!("prefilling map {}: {e}", spec.name))?;
                }
            }
            maps.push(map);
        }
        Ok(BenchMaps { maps })
    }

    /// The maps, by object map index.
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// Every map value region (rbpf's interpreter allows accesses to them).
    fn value_regions(&self) -> Vec<MemRegion> {
        self.maps
            .iter()
            .flat_map(|m| m.value_regions())
            .map(|r| MemRegion {
                start: r.start as u64,
                len: r.len as u64,
                writable: r.writable,
            })
            .collect()
    }
}

/// oxbpf's programs name maps by object map index (`bind_maps` with indices).
impl MapResolver for BenchMaps {
    fn map_handle(&self, map: MapRef) -> Option<u64> {
        match map {
            MapRef::Fd(i) | MapRef::Idx(i) => {
                self.maps.get(usize::try_from(i).ok()?).map(Map::handle)
            }
        }
    }

    fn map_value_addr(&self, _map: MapRef, _off: u32) -> Option<u64> {
        None
    }
}

/// The program's bytes with map references bound to object map indices (oxbpf).
fn oxbpf_bytes(loaded: &Loaded) -> Result<Vec<u8>, String> {
    let indices: Vec<i32> = (0..loaded.maps.len() as i32).collect();
    loaded
        .program
        .bind_maps(&indices)
        .map(|slots| slots.concat())
        .map_err(|m| format!("map {m} unbound"))
}

/// What oxbpf's verifier says about a benchmark.
#[derive(Clone, Debug)]
pub struct Verification {
    /// Instructions the verifier processed over all paths.
    pub processed: u64,
    /// Median verification time.
    pub time: Duration,
}

/// Verifies a benchmark with oxbpf's verifier as an XDP program (maps by object index),
/// timing the median of `n` runs.
pub fn oxbpf_verify(loaded: &Loaded, n: usize) -> Result<Verification, String> {
    let bytes = oxbpf_bytes(loaded)?;
    let insns = isa::decode(&bytes).map_err(|e| e.to_string())?;
    let maps: Vec<MapInfo> = loaded
        .maps
        .iter()
        .map(|m| MapInfo {
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            flags: m.map_flags,
        })
        .collect();
    let config = VerifyConfig {
        maps: &maps,
        ..VerifyConfig::new(&Xdp)
    };
    let verified = verifier::verify(&insns, &config).map_err(|e| {
        format!(
            "rejected at slot {}: {}",
            e.insn,
            e.message.lines().next().unwrap_or("")
        )
    })?;
    let time = measure::median_duration(n, || {
        std::hint::black_box(verifier::verify(&insns, &config).is_ok());
    });
    Ok(Verification {
        processed: verified.stats.insns_processed,
        time,
    })
}

/// Loads a benchmark into oxbpf's interpreter (decode, validate, lower).
pub fn oxbpf_load(loaded: &Loaded, maps: &BenchMaps) -> Result<Interpreter, String> {
    let bytes = oxbpf_bytes(loaded)?;
    let insns = isa::decode(&bytes).map_err(|e| e.to_string())?;
    Interpreter::with_maps(&insns, &Registry::standard(), maps).map_err(|e| e.to_string())
}

/// What a run of an oxbpf engine needs: the maps, the packet, and a run context whose
/// region table lists the `xdp_md`, the packet and the map values.
pub struct OxbpfRun {
    maps: BenchMaps,
    packet: Packet,
    /// The run context, reused across runs.
    pub ctx: RunContext,
}

impl OxbpfRun {
    /// Creates fresh maps and packet for `bench`.
    pub fn new(bench: &Benchmark, loaded: &Loaded) -> Result<OxbpfRun, String> {
        let maps = BenchMaps::create(loaded, bench.prefill_keys)?;
        let mut packet = Packet::new(&(bench.input)()).map_err(|e| e.to_string())?;
        let mut ctx = RunContext::new();
        let ctx_ptr: *const crate::lowmem::XdpMd = packet.ctx();
        let regions = [
            MemRegion {
                start: ctx_ptr as u64,
                len: std::mem::size_of::<crate::lowmem::XdpMd>() as u64,
                writable: false,
            },
            MemRegion {
                start: packet.bytes_mut().as_mut_ptr() as u64,
                len: packet.len() as u64,
                writable: true,
            },
        ];
        for r in regions {
            // SAFETY: the context box and the packet mapping are owned by the returned
            // value next to `ctx`, and no Rust reference to them is used while a program
            // runs.
            unsafe { ctx.add_region(r) };
        }
        // oxbpf's map helpers accept registered maps only; registering also adds their
        // value and key memory to the region table.
        for map in maps.maps() {
            ctx.add_map(map);
        }
        Ok(OxbpfRun { maps, packet, ctx })
    }

    /// The maps programs are loaded against.
    pub fn maps(&self) -> &BenchMaps {
        &self.maps
    }

    /// `r1` for a run: the address of the `xdp_md`.
    pub fn ctx_arg(&self) -> u64 {
        let p: *const crate::lowmem::XdpMd = self.packet.ctx();
        p as u64
    }
}

/// Times oxbpf's interpreter in `mode`. Unchecked mode is sound here because oxbpf's
/// verifier and the kernel's accept these exact instructions as XDP programs (the report
/// shows oxbpf's verdict), and the packet and context they run on are laid out as the
/// kernel's (see [`crate::lowmem`]).
pub fn oxbpf_interp(bench: &Benchmark, loaded: &Loaded, mode: Mode, budget: Budget) -> Outcome {
    let mut run = OxbpfRun::new(bench, loaded)?;
    let mut vm = oxbpf_load(loaded, run.maps())?;
    vm.set_budget(None);
    // SAFETY: see the function docs: the verifiers proved every access of these programs
    // safe on packets of this layout, which is what unchecked mode requires.
    unsafe { vm.set_mode(mode) };
    let arg = run.ctx_arg();
    let r0 = vm
        .run(&mut run.ctx, arg, 0)
        .map_err(|e| format!("run failed: {e}"))?;
    let insns = run.ctx.insn_count;
    let samples = measure::ns_per_run(budget, || vm.run(&mut run.ctx, arg, 0).unwrap_or(0));
    Ok(Measured {
        r0,
        samples,
        insns: Some(insns),
    })
}

/// Compiles a benchmark with oxbpf's JIT (decode, the interpreter's load checks and
/// lowering, code generation), without an instruction budget (as the kernel runs).
pub fn oxbpf_jit_compile(
    loaded: &Loaded,
    maps: &BenchMaps,
    mode: Mode,
) -> Result<JitProgram, String> {
    let bytes = oxbpf_bytes(loaded)?;
    let insns = isa::decode(&bytes).map_err(|e| e.to_string())?;
    let mut options = JitOptions::new().budget(None);
    if mode == Mode::Unchecked {
        // SAFETY: as for the interpreter's unchecked mode (see `oxbpf_interp`): the kernel
        // verifier accepts these exact programs, and they run on kernel-like packets.
        options = unsafe { options.unchecked() };
    }
    JitProgram::compile(&insns, &Registry::standard(), Some(maps), options)
        .map_err(|e| e.to_string())
}

/// Times oxbpf's JIT in `mode` (unchecked is sound for the reason given at
/// [`oxbpf_interp`]).
pub fn oxbpf_jit(bench: &Benchmark, loaded: &Loaded, mode: Mode, budget: Budget) -> Outcome {
    let mut run = OxbpfRun::new(bench, loaded)?;
    let jit = oxbpf_jit_compile(loaded, run.maps(), mode)?;
    let arg = run.ctx_arg();
    let r0 = jit
        .run(&mut run.ctx, arg, 0)
        .map_err(|e| format!("run failed: {e}"))?;
    let samples = measure::ns_per_run(budget, || jit.run(&mut run.ctx, arg, 0).unwrap_or(0));
    Ok(Measured {
        r0,
        samples,
        insns: None,
    })
}

/// The program's bytes for rbpf: map `lddw`s become plain 64-bit loads of the map handle
/// (rbpf has no map relocation; its helpers receive the handle).
fn rbpf_bytes(loaded: &Loaded, maps: &BenchMaps) -> Result<Vec<u8>, String> {
    let mut slots = loaded.program.insns.clone();
    for r in &loaded.program.relocations {
        if let RelocKind::Map { map } = r.kind {
            let handle = maps
                .maps()
                .get(map)
                .ok_or_else(|| format!("map {map} missing"))?
                .handle();
            let lo = slots.get_mut(r.insn).ok_or("relocation past the end")?;
            lo[1] &= 0x0f;
            lo[4..8].copy_from_slice(&(handle as u32).to_le_bytes());
            let hi = slots.get_mut(r.insn + 1).ok_or("relocation past the end")?;
            hi[4..8].copy_from_slice(&((handle >> 32) as u32).to_le_bytes());
        }
    }
    Ok(slots.concat())
}

fn rbpf_map_lookup_elem(map: u64, key: u64, _: u64, _: u64, _: u64) -> u64 {
    // SAFETY: `rbpf_bytes` put a live map's handle in every map `lddw`; the benchmark
    // programs pass it unchanged with a key of the map's size on their stack.
    unsafe { Map::from_handle(map).lookup_ptr(key as *const u8) as u64 }
}

fn rbpf_map_update_elem(map: u64, key: u64, value: u64, flags: u64, _: u64) -> u64 {
    // SAFETY: as in `rbpf_map_lookup_elem`, with a value of the map's size.
    unsafe {
        Map::from_handle(map).update_from_prog(key as *const u8, value as *const u8, flags) as u64
    }
}

/// `jit_compile`, with its panics turned into errors: rbpf's JIT writes into a fixed-size
/// buffer and asserts when a program does not fit (the `large` program does not).
fn rbpf_jit_compile(vm: &mut rbpf::EbpfVmMbuff<'_>) -> Result<(), String> {
    // The suite is single-threaded: silence the default hook's message and backtrace for
    // this expected panic, and restore it afterwards.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| vm.jit_compile()));
    std::panic::set_hook(hook);
    match result {
        Ok(r) => r.map_err(|e| format!("JIT failed: {e}")),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if msg.contains("mem.offset + size") {
                // rbpf 0.4.1 compiles into one 4 KiB page (jit.rs: NUM_PAGES = 1).
                Err("n/a: rbpf JIT panics, code over its 4 KiB buffer".into())
            } else {
                Err(format!("n/a: rbpf JIT panicked ({msg})"))
            }
        }
    }
}

/// Whether to time rbpf's interpreter or its JIT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RbpfMode {
    /// `EbpfVmMbuff::execute_program`.
    Interp,
    /// `EbpfVmMbuff::jit_compile` + `execute_program_jit`.
    Jit,
}

/// Times rbpf (packet as `mem`, the `xdp_md` as `mbuff`).
pub fn rbpf(bench: &Benchmark, loaded: &Loaded, mode: RbpfMode, budget: Budget) -> Outcome {
    let maps = BenchMaps::create(loaded, bench.prefill_keys)?;
    let prog = rbpf_bytes(loaded, &maps)?;
    let mut packet = Packet::new(&(bench.input)()).map_err(|e| e.to_string())?;
    let mut mbuff = packet.ctx_bytes().to_vec();
    let mut vm = rbpf::EbpfVmMbuff::new(Some(&prog)).map_err(|e| format!("rejected: {e}"))?;
    vm.register_helper(1, rbpf_map_lookup_elem)
        .map_err(|e| e.to_string())?;
    vm.register_helper(2, rbpf_map_update_elem)
        .map_err(|e| e.to_string())?;
    for r in maps.value_regions() {
        vm.register_allowed_memory(r.start..r.start + r.len);
    }
    // rbpf's interpreter takes the packet as `&[u8]` although programs may write it
    // (`memcpy` does), through raw pointers; nothing reads the slice meanwhile.
    let mem = packet.bytes_mut();
    match mode {
        RbpfMode::Interp => {
            let r0 = vm
                .execute_program(mem, &mbuff)
                .map_err(|e| format!("run failed: {e}"))?;
            let samples =
                measure::ns_per_run(budget, || vm.execute_program(mem, &mbuff).unwrap_or(0));
            Ok(Measured {
                r0,
                samples,
                insns: None,
            })
        }
        RbpfMode::Jit => {
            rbpf_jit_compile(&mut vm)?;
            // SAFETY: rbpf's JIT code is unchecked; the kernel verifier accepted these
            // programs, and the memory they reach (packet, context, map values) is live.
            let r0 = unsafe { vm.execute_program_jit(mem, &mut mbuff) }
                .map_err(|e| format!("run failed: {e}"))?;
            let samples = measure::ns_per_run(budget, || {
                // SAFETY: as above.
                unsafe { vm.execute_program_jit(mem, &mut mbuff) }.unwrap_or(0)
            });
            Ok(Measured {
                r0,
                samples,
                insns: None,
            })
        }
    }
}

/// Times the natively compiled C.
pub fn native(bench: &Benchmark, loaded: &Loaded, budget: Budget) -> Outcome {
    let maps = BenchMaps::create(loaded, bench.prefill_keys)?;
    let mut bindings = Vec::new();
    for (name, addr) in bench.native_maps {
        let map = loaded
            .maps
            .iter()
            .position(|m| m.name == *name)
            .and_then(|i| maps.maps().get(i))
            .ok_or_else(|| format!("no map {name} in the object"))?;
        bindings.push(programs::NativeMapBinding::new(addr(), map));
    }
    let packet = Packet::new(&(bench.input)()).map_err(|e| e.to_string())?;
    let ctx: *const crate::lowmem::XdpMd = packet.ctx();
    let f = bench.native;
    // SAFETY: the native function reads the context and reads and writes the packet it
    // points to (both live, no Rust reference in use), within the bounds it checks itself;
    // its map (if any) is bound above and outlives the bindings.
    let call = || u64::from(unsafe { f(std::hint::black_box(ctx)) } as u32);
    let r0 = call();
    let samples = measure::ns_per_run(budget, call);
    drop(bindings);
    Ok(Measured {
        r0,
        samples,
        insns: None,
    })
}

/// Load time of one engine (median of several loads).
pub type LoadTime = Result<Duration, String>;

/// Load times of the user-space engines for a benchmark: oxbpf's interpreter, oxbpf's
/// JIT (checked), rbpf's interpreter (its verifier) and rbpf's JIT (verifier + compile).
pub fn load_times(bench: &Benchmark, loaded: &Loaded, n: usize) -> [LoadTime; 4] {
    let maps = match BenchMaps::create(loaded, bench.prefill_keys) {
        Ok(m) => m,
        Err(e) => return [Err(e.clone()), Err(e.clone()), Err(e.clone()), Err(e)],
    };
    let jit = oxbpf_jit_compile(loaded, &maps, Mode::Checked).map(|_| {
        measure::median_duration(n, || {
            std::hint::black_box(oxbpf_jit_compile(loaded, &maps, Mode::Checked).ok());
        })
    });
    let oxbpf = oxbpf_load(loaded, &maps).map(|_| {
        measure::median_duration(n, || {
            std::hint::black_box(oxbpf_load(loaded, &maps).ok());
        })
    });
    let rbpf_load = |jit: bool| -> LoadTime {
        let prog = rbpf_bytes(loaded, &maps)?;
        let load_once = || -> Result<(), String> {
            let mut vm = rbpf::EbpfVmMbuff::new(Some(&prog)).map_err(|e| e.to_string())?;
            if jit {
                vm.register_helper(1, rbpf_map_lookup_elem)
                    .map_err(|e| e.to_string())?;
                vm.register_helper(2, rbpf_map_update_elem)
                    .map_err(|e| e.to_string())?;
                rbpf_jit_compile(&mut vm)?;
            }
            std::hint::black_box(&vm);
            Ok(())
        };
        load_once()?;
        Ok(measure::median_duration(n, || {
            let _ = load_once();
        }))
    };
    [oxbpf, jit, rbpf_load(false), rbpf_load(true)]
}
