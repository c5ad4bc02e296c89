//! `BPF_PROG_TEST_RUN` per-run cost, oxbpf against the kernel, on the example objects:
//! each object is loaded into oxbpf (interpreter and JIT, checked and verified →
//! unchecked) and into the kernel (`BPF_PROG_LOAD` with its maps, BTF and prog-array
//! slots), both are test-run with the same packet and `repeat`, and the `duration`
//! each reports (the mean per run, the kernel timing the whole loop) is compared.
//!
//! Also: the cost of one hash-map lookup from a program (bench/testrun/lookup.c: 64
//! lookups less an empty baseline) and from user space (oxbpf's `Map::lookup_into`
//! against the kernel's `BPF_MAP_LOOKUP_ELEM`).
//!
//! Run with `cargo run --release -p oxbpf-bench --bin testrun`.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::Instant;

use oxbpf::kernel::{self, ProgBtf, ProgLoad};
use oxbpf::object::{MapSlotTarget, MapSpec, Object};
use oxbpf::program::TestRun;
use oxbpf::runtime::{kernel_obj_name, JitBuilder, LoadedObject, Program, Runtime};

/// The example objects, relative to the workspace root.
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
/// The lookup benchmark's object.
const LOOKUP_OBJ: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/testrun/lookup.o");
/// Lookups per run of `lookup.o`'s `lookups`.
pub const LOOKUPS_PER_RUN: u32 = 64;

/// One program to time: object file, program name, the packet, and what to install in
/// its maps first (both sides get the same).
pub struct Case {
    /// Row label.
    pub label: &'static str,
    /// Object path.
    pub path: String,
    /// Program (function) name.
    pub prog: &'static str,
    /// The packet.
    pub packet: Vec<u8>,
    /// (map name, key, value) to install before running.
    pub entries: Vec<(&'static str, Vec<u8>, Vec<u8>)>,
}

/// An Ethernet + IPv4 frame with protocol `proto`, to 10.0.0.1, 64 bytes long.
pub fn ipv4_packet(proto: u8) -> Vec<u8> {
    let mut p = vec![0u8; 64];
    p[12] = 0x08;
    p[14] = 0x45;
    p[16..18].copy_from_slice(&50u16.to_be_bytes());
    p[22] = 64;
    p[23] = proto;
    p[26..30].copy_from_slice(&[192, 168, 0, 2]);
    p[30..34].copy_from_slice(&[10, 0, 0, 1]);
    p
}

fn example(name: &str) -> String {
    format!("{EXAMPLES}/{name}")
}

/// The programs compared, in table order.
pub fn cases() -> Vec<Case> {
    // lpm_route: 10.0.0.0/24 -> next hop 3 (the packet's destination hits it).
    let mut route_key = 24u32.to_ne_bytes().to_vec();
    route_key.extend_from_slice(&[10, 0, 0, 0]);
    let mut route = 3u32.to_ne_bytes().to_vec();
    route.extend_from_slice(&1u32.to_ne_bytes());
    let mut lookup_entries = Vec::new();
    for k in 0..LOOKUPS_PER_RUN * 7 {
        lookup_entries.push((
            "table",
            k.to_ne_bytes().to_vec(),
            u64::from(k).to_ne_bytes().to_vec(),
        ));
    }
    let case = |label, file: &str, prog, packet| Case {
        label,
        path: example(file),
        prog,
        packet,
        entries: Vec::new(),
    };
    vec![
        case(
            "hello (xdp, bpf_printk)",
            "hello.o",
            "hello",
            ipv4_packet(6),
        ),
        case(
            "proto_count (xdp, hash map)",
            "proto_count.o",
            "count_proto",
            ipv4_packet(6),
        ),
        Case {
            entries: vec![("routes", route_key, route)],
            ..case(
                "lpm_route (xdp, LPM trie hit)",
                "lpm_route.o",
                "route",
                ipv4_packet(6),
            )
        },
        case(
            "tailcall (xdp, tail call to UDP)",
            "tailcall.o",
            "dispatch",
            ipv4_packet(17),
        ),
        case(
            "tailcall (xdp, no tail call)",
            "tailcall.o",
            "dispatch",
            vec![0u8; 64],
        ),
        case(
            "subprog (xdp, bpf-to-bpf call)",
            "subprog.o",
            "xdp_sub",
            ipv4_packet(6),
        ),
        case(
            "legacy_maps (socket filter)",
            "legacy_maps.o",
            "count_packets",
            ipv4_packet(6),
        ),
        Case {
            entries: lookup_entries.clone(),
            ..Case {
                label: "lookup baseline (xdp, return)",
                path: LOOKUP_OBJ.into(),
                prog: "baseline",
                packet: ipv4_packet(6),
                entries: Vec::new(),
            }
        },
        Case {
            label: "lookup (xdp, 64 hash lookups)",
            path: LOOKUP_OBJ.into(),
            prog: "lookups",
            packet: ipv4_packet(6),
            entries: lookup_entries,
        },
    ]
}

/// The oxbpf engines compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OxEngine {
    /// Interpreter, every access checked (program not verified).
    Interp,
    /// Interpreter, verified, unchecked.
    InterpUnchecked,
    /// JIT, checked.
    Jit,
    /// JIT, verified, unchecked.
    JitUnchecked,
}

impl OxEngine {
    /// Every engine, in column order.
    pub const ALL: [OxEngine; 4] = [
        OxEngine::Interp,
        OxEngine::InterpUnchecked,
        OxEngine::Jit,
        OxEngine::JitUnchecked,
    ];

    /// Column title.
    pub fn title(self) -> &'static str {
        match self {
            OxEngine::Interp => "interp",
            OxEngine::InterpUnchecked => "interp unchecked",
            OxEngine::Jit => "JIT",
            OxEngine::JitUnchecked => "JIT unchecked",
        }
    }

    fn runtime(self) -> Runtime {
        let mut rt = match self {
            OxEngine::Interp | OxEngine::InterpUnchecked => Runtime::new(),
            OxEngine::Jit | OxEngine::JitUnchecked => Runtime::with_engine(Box::new(JitBuilder)),
        };
        rt.set_verify(matches!(
            self,
            OxEngine::InterpUnchecked | OxEngine::JitUnchecked
        ));
        rt
    }
}

/// A timing: median `duration` per run (ns) over the samples, and the retval.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Median of the reported per-run durations.
    pub ns: f64,
    /// `retval` of the runs.
    pub retval: u32,
}

/// Result of one engine on one case.
pub type Cell = Result<Timing, String>;

/// Timing parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// `repeat` of each test run.
    pub repeat: u32,
    /// Test runs per measurement (median taken).
    pub samples: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn parse(path: &str) -> Result<Object, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let name = std::path::Path::new(path)
        .file_stem()
        .map_or("obj".into(), |s| s.to_string_lossy().into_owned());
    Object::parse(&bytes, &name).map_err(|e| format!("{path}: {e}"))
}

/// The case loaded into an oxbpf runtime (kept alive with it).
pub struct OxLoaded {
    _rt: Runtime,
    obj: LoadedObject,
    prog: Arc<Program>,
}

/// Loads `case` into a fresh runtime of `engine` and installs its entries.
pub fn ox_load(case: &Case, engine: OxEngine) -> Result<OxLoaded, String> {
    let obj = parse(&case.path)?;
    let rt = engine.runtime();
    let loaded = rt.load_object(&obj).map_err(|e| e.to_string())?;
    for (map, k, v) in &case.entries {
        let m = loaded
            .map(map)
            .ok_or_else(|| format!("no map {map} in {}", case.path))?;
        m.map
            .update(k, v, 0)
            .map_err(|e| format!("installing into {map}: {e}"))?;
    }
    let prog = Arc::clone(
        loaded
            .program(case.prog)
            .ok_or_else(|| format!("no program {} in {}", case.prog, case.path))?,
    );
    Ok(OxLoaded {
        _rt: rt,
        obj: loaded,
        prog,
    })
}

/// Times `case` on oxbpf's `engine`.
pub fn ox_measure(case: &Case, engine: OxEngine, p: Params) -> Cell {
    let l = ox_load(case, engine)?;
    let mut rc = oxbpf::vm::RunContext::new();
    let mut samples = Vec::with_capacity(p.samples);
    let mut retval = None;
    for _ in 0..p.samples {
        let out = l
            .prog
            .test_run_in(
                &TestRun {
                    data_in: &case.packet,
                    repeat: p.repeat,
                    ..TestRun::default()
                },
                &mut rc,
            )
            .map_err(|e| e.to_string())?
            .output;
        if retval.is_some_and(|r| r != out.retval) {
            return Err("retval changed between runs".into());
        }
        retval = Some(out.retval);
        samples.push(out.duration_ns as f64);
    }
    Ok(Timing {
        ns: median(samples),
        retval: retval.unwrap_or(0),
    })
}

/// An object's maps and programs in the kernel, index-aligned with the object's.
pub struct KernelLoaded {
    obj: Object,
    _btf: Option<kernel::Btf>,
    maps: Vec<kernel::Map>,
    progs: Vec<(String, kernel::Program)>,
}

fn create_map(m: &MapSpec, btf: Option<&kernel::Btf>) -> Result<kernel::Map, String> {
    kernel::Map::from_spec(m, btf).map_err(|e| format!("creating map {}: {e}", m.name))
}

/// Loads every program of `case`'s object into the kernel (prog-array slots filled as
/// the object says) and installs the case's entries.
pub fn kernel_load(case: &Case) -> Result<KernelLoaded, String> {
    let obj = parse(&case.path)?;
    let btf = obj
        .btf
        .as_ref()
        .map(|b| kernel::Btf::load(b.raw(), 0))
        .transpose()
        .map_err(|e| format!("loading BTF: {e}"))?;
    let maps = obj
        .maps
        .iter()
        .map(|m| create_map(m, btf.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let mut progs = Vec::new();
    for p in &obj.programs {
        let bytes = p
            .bind_maps(&fds)
            .map_err(|m| format!("{}: map {m} unbound", p.name))?
            .concat();
        let (fi, li) = (p.func_info_bytes(), p.line_info_bytes());
        let Some(kind) = p.kind.clone() else { continue };
        let pname = kernel_obj_name(&p.name);
        let prog = kernel::Program::load(&ProgLoad {
            license: &obj.license,
            expected_attach_type: kind.expected_attach_type.unwrap_or(0),
            prog_flags: oxbpf::program::load_flags(&kind),
            name: &pname,
            btf: btf.as_ref().map(|b| ProgBtf {
                btf_fd: b.as_fd(),
                func_info: &fi,
                func_info_rec_size: 8,
                line_info: &li,
                line_info_rec_size: 16,
            }),
            ..ProgLoad::new(kind.prog_type, &bytes)
        })
        .map_err(|e| format!("loading {}: {e}", p.name))?;
        progs.push((p.name.clone(), prog));
    }
    for (spec, map) in obj.maps.iter().zip(&maps) {
        for slot in &spec.initial_slots {
            let fd = match &slot.target {
                MapSlotTarget::Program(name) => progs
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, p)| p.as_fd().as_raw_fd())
                    .ok_or_else(|| format!("slot {}: no program {name}", slot.index))?,
                MapSlotTarget::Map(i) => maps[*i].as_fd().as_raw_fd(),
            };
            map.update(
                &slot.index.to_ne_bytes(),
                &fd.to_ne_bytes(),
                kernel::BPF_ANY,
            )
            .map_err(|e| format!("filling {} slot {}: {e}", spec.name, slot.index))?;
        }
    }
    let k = KernelLoaded {
        obj,
        _btf: btf,
        maps,
        progs,
    };
    for (map, key, v) in &case.entries {
        k.map(map)?
            .update(key, v, kernel::BPF_ANY)
            .map_err(|e| format!("installing into {map}: {e}"))?;
    }
    Ok(k)
}

impl KernelLoaded {
    fn map(&self, name: &str) -> Result<&kernel::Map, String> {
        self.obj
            .maps
            .iter()
            .position(|m| m.name == name)
            .map(|i| &self.maps[i])
            .ok_or_else(|| format!("no map {name}"))
    }

    fn prog(&self, name: &str) -> Result<&kernel::Program, String> {
        self.progs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p)
            .ok_or_else(|| format!("no program {name}"))
    }
}

/// Times `case` in the kernel.
pub fn kernel_measure(case: &Case, p: Params) -> Cell {
    let k = kernel_load(case)?;
    let prog = k.prog(case.prog)?;
    let mut samples = Vec::with_capacity(p.samples);
    let mut retval = None;
    for _ in 0..p.samples {
        let out = prog
            .test_run(&kernel::TestRun {
                data_in: &case.packet,
                repeat: p.repeat,
                ..kernel::TestRun::default()
            })
            .map_err(|e| format!("test_run: {e}"))?;
        if retval.is_some_and(|r| r != out.retval) {
            return Err("retval changed between runs".into());
        }
        retval = Some(out.retval);
        samples.push(f64::from(out.duration_ns));
    }
    Ok(Timing {
        ns: median(samples),
        retval: retval.unwrap_or(0),
    })
}

/// One row: oxbpf engines in [`OxEngine::ALL`] order, then the kernel.
pub struct Row {
    /// The case's label.
    pub label: &'static str,
    /// Per oxbpf engine.
    pub ox: Vec<Cell>,
    /// The kernel.
    pub kernel: Cell,
}

/// User-space lookup cost: ns per lookup through oxbpf's map API and through bpf(2).
pub struct UserLookup {
    /// oxbpf `Map::lookup_into`.
    pub oxbpf: Result<f64, String>,
    /// The kernel's `BPF_MAP_LOOKUP_ELEM`.
    pub kernel: Result<f64, String>,
}

/// Times `n` user-space lookups over the keys the lookup program uses, on both sides.
pub fn user_lookup(case: &Case, n: u32) -> UserLookup {
    let keys: Vec<[u8; 4]> = (0..LOOKUPS_PER_RUN)
        .map(|i| (i * 7).to_ne_bytes())
        .collect();
    let oxbpf = ox_load(case, OxEngine::JitUnchecked).and_then(|l| {
        let m = &l.obj.map("table").ok_or("no map table")?.map;
        let mut out = [0u8; 8];
        let start = Instant::now();
        for i in 0..n {
            m.lookup_into(&keys[(i % LOOKUPS_PER_RUN) as usize], &mut out)
                .map_err(|e| e.to_string())?;
            std::hint::black_box(&out);
        }
        Ok(start.elapsed().as_nanos() as f64 / f64::from(n))
    });
    let kernel = match kernel::available() {
        Err(why) => Err(format!("kernel unavailable: {why}")),
        Ok(()) => kernel_load(case).and_then(|k| {
            let m = k.map("table")?;
            let start = Instant::now();
            for i in 0..n {
                let v = m
                    .lookup(&keys[(i % LOOKUPS_PER_RUN) as usize])
                    .map_err(|e| e.to_string())?;
                std::hint::black_box(v);
            }
            Ok(start.elapsed().as_nanos() as f64 / f64::from(n))
        }),
    };
    UserLookup { oxbpf, kernel }
}

/// The whole comparison.
pub struct Report {
    /// Per case.
    pub rows: Vec<Row>,
    /// User-space lookups.
    pub user: UserLookup,
    /// Why the kernel column is missing, if it is.
    pub kernel_skipped: Option<String>,
    /// The parameters used.
    pub params: Params,
}

/// Runs every case whose label contains `filter` on every engine (only the oxbpf engine
/// titled `engine` if given, and then not the kernel: for profiling).
pub fn run(
    p: Params,
    filter: Option<&str>,
    engine: Option<&str>,
    mut progress: impl FnMut(&str),
) -> Report {
    let kernel_skipped = kernel::available().err();
    let mut rows = Vec::new();
    let all = cases();
    for case in &all {
        if filter.is_some_and(|f| !case.label.contains(f)) {
            continue;
        }
        let mut ox = Vec::new();
        for e in OxEngine::ALL {
            if engine.is_some_and(|t| t != e.title()) {
                ox.push(Err("not selected".into()));
                continue;
            }
            progress(&format!("{} on oxbpf {}", case.label, e.title()));
            ox.push(ox_measure(case, e, p));
        }
        progress(&format!("{} on the kernel", case.label));
        let kernel = match &kernel_skipped {
            _ if engine.is_some() => Err("not selected".into()),
            Some(why) => Err(format!("kernel unavailable: {why}")),
            None => kernel_measure(case, p),
        };
        rows.push(Row {
            label: case.label,
            ox,
            kernel,
        });
    }
    progress("user-space lookups");
    let lookup_case = all
        .iter()
        .find(|c| c.prog == "lookups")
        .expect("the lookup case is in cases()");
    let user = user_lookup(lookup_case, 200_000);
    Report {
        rows,
        user,
        kernel_skipped,
        params: p,
    }
}

fn cell(c: &Cell) -> String {
    match c {
        Ok(t) => format!("{:.0}", t.ns),
        Err(e) => format!("n/a: {e}"),
    }
}

fn ratio(a: &Cell, b: &Cell) -> String {
    match (a, b) {
        (Ok(a), Ok(b)) if b.ns > 0.0 => format!("{:.2}", a.ns / b.ns),
        _ => "n/a".into(),
    }
}

/// Per-lookup cost from the lookup and baseline rows of `engine` (`None`: the kernel).
fn per_lookup(rows: &[Row], engine: Option<usize>) -> Option<f64> {
    let pick = |label: &str| {
        rows.iter()
            .find(|r| r.label.starts_with(label))
            .and_then(|r| {
                match engine {
                    Some(i) => r.ox[i].as_ref().ok(),
                    None => r.kernel.as_ref().ok(),
                }
                .map(|t| t.ns)
            })
    };
    Some((pick("lookup (")? - pick("lookup baseline")?) / f64::from(LOOKUPS_PER_RUN))
}

/// The report as markdown.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    if let Some(why) = &r.kernel_skipped {
        s += &format!(
            "**KERNEL UNAVAILABLE: {why}. The kernel columns are empty; no ratio was measured.**\n\n"
        );
    }
    s += &format!(
        "### test_run: ns per run (`duration`, median of {} test runs with repeat = {})\n\n",
        r.params.samples, r.params.repeat
    );
    s += "| program | oxbpf interp | interp unchecked | JIT | JIT unchecked | kernel | interp unchecked / kernel | JIT unchecked / kernel | JIT / kernel |\n";
    s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for row in &r.rows {
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.label,
            cell(&row.ox[0]),
            cell(&row.ox[1]),
            cell(&row.ox[2]),
            cell(&row.ox[3]),
            cell(&row.kernel),
            ratio(&row.ox[1], &row.kernel),
            ratio(&row.ox[3], &row.kernel),
            ratio(&row.ox[2], &row.kernel),
        );
    }
    let f = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1}"));
    s += "\n### Hash-map lookup, ns per lookup\n\n";
    s += "| from | oxbpf interp | interp unchecked | JIT | JIT unchecked | kernel |\n";
    s += "|---|---:|---:|---:|---:|---:|\n";
    s += &format!(
        "| program ((64 lookups - baseline) / 64) | {} | {} | {} | {} | {} |\n",
        f(per_lookup(&r.rows, Some(0))),
        f(per_lookup(&r.rows, Some(1))),
        f(per_lookup(&r.rows, Some(2))),
        f(per_lookup(&r.rows, Some(3))),
        f(per_lookup(&r.rows, None)),
    );
    let u = |v: &Result<f64, String>| match v {
        Ok(v) => format!("{v:.1}"),
        Err(e) => format!("n/a: {e}"),
    };
    s += &format!(
        "| user space (oxbpf `Map::lookup_into` / kernel `BPF_MAP_LOOKUP_ELEM`) | {} | | | | {} |\n",
        u(&r.user.oxbpf),
        u(&r.user.kernel)
    );
    s
}

/// Checks that every engine agrees with the kernel (or the checked interpreter) on
/// `retval`; returns the disagreements.
pub fn mismatches(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    for row in &r.rows {
        let want = match (&row.kernel, &row.ox[0]) {
            (Ok(k), _) => k.retval,
            (_, Ok(i)) => i.retval,
            _ => continue,
        };
        for (e, c) in OxEngine::ALL.iter().zip(&row.ox) {
            if let Ok(t) = c {
                if t.retval != want {
                    out.push(format!(
                        "{}: oxbpf {} returned {}, expected {want}",
                        row.label,
                        e.title(),
                        t.retval
                    ));
                }
            }
        }
    }
    out
}
