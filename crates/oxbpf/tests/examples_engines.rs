//! Every example object, loaded once into an interpreter runtime and once into a JIT
//! runtime: each program runs on the same sequence of inputs, and the engines must give the
//! same retval, data_out, ctx_out, instruction count, trace text or error, and leave the
//! same contents in every map.

use std::path::PathBuf;

use oxbpf::maps::MapType;
use oxbpf::object::{object_name_from_path, Object};
use oxbpf::program::TestRun;
use oxbpf::runtime::{EngineBuilder, InterpBuilder, JitBuilder, Runtime};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    v.sort();
    v
}

/// Ethernet + IPv4 packets of 64 bytes with protocol `proto` (and a few other shapes).
fn inputs() -> Vec<Vec<u8>> {
    let ipv4 = |proto: u8| {
        let mut p: Vec<u8> = (0..64u8).collect();
        p[12] = 0x08;
        p[13] = 0x00;
        p[14] = 0x45;
        p[23] = proto;
        p
    };
    let mut ipv6 = ipv4(6);
    ipv6[12] = 0x86;
    ipv6[13] = 0xdd;
    vec![
        ipv4(6),
        ipv4(17),
        ipv4(1),
        ipv4(17),
        ipv6,
        (0..14u8).collect(),
        (0..200u8).map(|b| b.wrapping_mul(7)).collect(),
        Vec::new(),
    ]
}

/// A successful run: r0, data_out, ctx_out, instructions, trace texts.
type RunResult = (u64, Vec<u8>, Vec<u8>, u64, Vec<String>);
/// A map's (key, value) pairs.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What one object's runs produced, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    /// Per (program, input): the outcome or the error text.
    runs: Vec<(String, Result<RunResult, String>)>,
    /// Per map (object name): its (key, value) pairs after all runs, sorted.
    maps: Vec<(String, Entries)>,
}

/// Loads `obj` into a runtime on `engine` and runs every program on every input. `None` if
/// the object does not load (then it must not load with the other engine either).
fn observe(obj: &Object, engine: Box<dyn EngineBuilder>) -> Option<Observed> {
    let rt = Runtime::with_engine(engine);
    let l = rt.load_object(obj).ok()?;
    let mut runs = Vec::new();
    for p in &l.programs {
        for (i, data) in inputs().iter().enumerate() {
            let r = p.test_run(&TestRun {
                data_in: data,
                ..TestRun::default()
            });
            let r = r
                .map(|o| {
                    let trace = o.trace.iter().map(|t| t.text.clone()).collect();
                    let out = o.output;
                    (
                        out.retval64,
                        out.data_out,
                        out.ctx_out,
                        out.insn_count,
                        trace,
                    )
                })
                .map_err(|e| e.to_string());
            runs.push((format!("{} input {i}", p.name), r));
        }
    }
    let maps = l
        .maps
        .iter()
        .filter(|m| {
            !matches!(
                m.map.map_type(),
                MapType::PerfEventArray | MapType::RingBuf | MapType::Queue | MapType::Stack
            )
        })
        .map(|m| {
            let mut entries: Entries = m
                .map
                .keys()
                .into_iter()
                .filter_map(|k| {
                    let v = m.map.lookup(&k).ok()?;
                    Some((k, v))
                })
                .collect();
            // Hash maps iterate in a per-map random order.
            entries.sort();
            (m.spec_name.clone(), entries)
        })
        .collect();
    Some(Observed { runs, maps })
}

#[test]
fn examples_run_alike_in_the_interpreter_and_the_jit() {
    let mut ok_runs = 0;
    let mut objects = 0;
    for path in examples() {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.to_string_lossy().into_owned();
        let Ok(obj) = Object::parse(&bytes, &object_name_from_path(&name)) else {
            continue;
        };
        let interp = observe(&obj, Box::new(InterpBuilder));
        let jit = observe(&obj, Box::new(JitBuilder));
        assert_eq!(
            interp.is_some(),
            jit.is_some(),
            "{name}: loads in one engine only"
        );
        let (Some(interp), Some(jit)) = (interp, jit) else {
            continue;
        };
        objects += 1;
        for (a, b) in interp.runs.iter().zip(&jit.runs) {
            assert_eq!(a, b, "{name}");
        }
        assert_eq!(interp.runs.len(), jit.runs.len());
        assert_eq!(interp.maps, jit.maps, "{name}: map contents differ");
        ok_runs += interp.runs.iter().filter(|(_, r)| r.is_ok()).count();
    }
    // Every example but the unloadable ones, and most of their runs succeed.
    assert!(objects >= 15, "only {objects} objects loaded");
    assert!(ok_runs >= 100, "only {ok_runs} successful runs");
}

#[test]
fn tail_call_dispatcher_runs_on_the_jit() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/tailcall.o");
    let bytes = std::fs::read(&path).unwrap();
    let obj = Object::parse(&bytes, "tailcall").unwrap();
    let rt = Runtime::with_engine(Box::new(JitBuilder));
    let l = rt.load_object(&obj).unwrap();
    let p = l.program("dispatch").unwrap();
    assert_eq!(p.engine_name(), "jit");
    assert!(p.jited_len() > 0);
    let listing = p.dump_jited().unwrap();
    assert!(listing.contains("; 13: call 0xc\n"), "{listing}");
    let mut pkt: Vec<u8> = (0..64u8).collect();
    pkt[12] = 0x08;
    pkt[13] = 0x00;
    let mut run = |proto: u8| {
        pkt[23] = proto;
        let o = p
            .test_run(&TestRun {
                data_in: &pkt,
                ..TestRun::default()
            })
            .unwrap();
        (o.output.retval, o.output.data_out[5])
    };
    // TCP: dropped by handle_tcp; UDP: handle_udp flips byte 5 and transmits; other: pass.
    assert_eq!(run(6), (1, 5));
    assert_eq!(run(17), (3, 5 ^ 0xff));
    assert_eq!(run(1), (2, 5));
    let bss = l.map("tailcall.bss").unwrap();
    let v = bss.map.lookup(&0u32.to_ne_bytes()).unwrap();
    let at = |i: usize| u64::from_ne_bytes(v[i * 8..i * 8 + 8].try_into().unwrap());
    assert_eq!((at(0), at(1), at(2)), (1, 1, 1));
}
