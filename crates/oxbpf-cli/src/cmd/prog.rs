//! `oxbpf prog run|show|dump`: programs of an ELF object (or a raw bytecode file) loaded
//! into an in-process runtime, shown and run as bpftool shows and runs kernel programs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use oxbpf::btf::Btf;
use oxbpf::object::{object_name_from_path, CoreTarget, Object};
use oxbpf::program::{ProgramType, TestRun};
use oxbpf::runtime::{
    tag_hex, EngineBuilder, InterpBuilder, JitBuilder, LoadOptions, LoadedMap, LoadedObject,
    Program, Runtime,
};

use super::{jsonw, map, tracelog};
use crate::input;
use crate::CliError;

/// `oxbpf prog` subcommands.
#[derive(Subcommand)]
pub enum ProgCmd {
    /// Load the object and run one program with BPF_PROG_TEST_RUN semantics.
    Run(RunArgs),
    /// Load the object and list its programs as `bpftool prog show` does.
    Show(ShowArgs),
    /// Dump a program's instructions.
    Dump(DumpArgs),
}

/// Execution engine.
#[derive(Clone, Copy, ValueEnum)]
pub enum EngineArg {
    /// The interpreter (checked mode).
    Interp,
    /// The x86-64 JIT (checked mode).
    Jit,
}

impl EngineArg {
    fn builder(self) -> Box<dyn EngineBuilder> {
        match self {
            EngineArg::Interp => Box::new(InterpBuilder),
            EngineArg::Jit => Box::new(JitBuilder),
        }
    }
}

/// Which program of a file.
#[derive(Args, Clone)]
pub struct Select {
    /// ELF object (`clang -target bpf`), or raw bytecode / assembly (needs --type).
    pub file: PathBuf,
    /// Program by ELF section name (the first program of the section).
    #[arg(long, conflicts_with = "prog")]
    pub section: Option<String>,
    /// Program by function name.
    #[arg(long)]
    pub prog: Option<String>,
    /// Program type (`xdp`, `socket`, `tc`, `kprobe`, `raw_tp`, `memory`...): required for
    /// raw bytecode and for sections that name no type; overrides the section's type.
    #[arg(long = "type")]
    pub prog_type: Option<String>,
    /// Target BTF for CO-RE relocations (raw BTF, e.g. a saved /sys/kernel/btf/vmlinux);
    /// default: the running kernel's, else the object's own.
    #[arg(long)]
    pub btf: Option<PathBuf>,
}

/// Arguments of `oxbpf prog run`.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    select: Select,
    /// Packet / memory in (binary file; `-` for stdin).
    #[arg(long)]
    data_in: Option<PathBuf>,
    /// Packet / memory in as hex bytes.
    #[arg(long, conflicts_with = "data_in")]
    data_in_hex: Option<String>,
    /// Context in (binary file: `struct xdp_md`, `struct __sk_buff`, `pt_regs`...).
    #[arg(long)]
    ctx_in: Option<PathBuf>,
    /// Write data_out to this file (`-`: hex dump on stdout).
    #[arg(long)]
    data_out: Option<PathBuf>,
    /// Write ctx_out to this file.
    #[arg(long)]
    ctx_out: Option<PathBuf>,
    /// Runs; the duration is the mean per run.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Execution engine.
    #[arg(long, value_enum, default_value = "interp")]
    engine: EngineArg,
    /// One JSON object: retval, data_out (hex), ctx_out, duration_ns, trace, maps.
    #[arg(long)]
    json: bool,
    /// Also print every map's contents after the run (plain output).
    #[arg(long)]
    maps: bool,
    /// Load without verification; the program runs with run-time memory checks.
    #[arg(long)]
    no_verify: bool,
}

/// Arguments of `oxbpf prog show`.
#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    select: Select,
    /// JSON output (one line).
    #[arg(long, short = 'j')]
    json: bool,
    /// Pretty JSON output, as `bpftool -p`.
    #[arg(long, short = 'p')]
    pretty: bool,
}

/// What to dump.
#[derive(Clone, Copy, ValueEnum)]
pub enum DumpWhat {
    /// The loaded instructions, bpftool's `dump xlated` layout.
    Xlated,
    /// The JIT's x86-64 code after each instruction, as `bpftool prog dump jited`.
    Jited,
}

/// Arguments of `oxbpf prog dump`.
#[derive(Args)]
pub struct DumpArgs {
    /// What to dump.
    #[arg(value_enum)]
    what: DumpWhat,
    #[command(flatten)]
    select: Select,
    /// `linum`: show file, line and column with each source line.
    #[arg(value_parser = ["linum"])]
    linum: Option<String>,
}

/// A file loaded into a fresh runtime.
pub struct Loaded {
    /// The runtime: it must outlive the runs (tail calls find programs in its tables).
    pub rt: Runtime,
    /// The object's maps (empty for raw bytecode).
    pub maps: Vec<Arc<LoadedMap>>,
    /// The programs loaded.
    pub programs: Vec<Arc<Program>>,
}

fn prog_type(name: &str) -> Result<&'static ProgramType, CliError> {
    ProgramType::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = oxbpf::program::PROGRAM_TYPES
            .iter()
            .map(|t| t.bpftool_name)
            .collect();
        CliError::Usage(format!(
            "unknown program type {name:?} (known: {})",
            known.join(", ")
        ))
    })
}

/// Parses `path` as an ELF object.
pub fn parse_object(path: &Path) -> Result<Object, CliError> {
    let bytes = input::read(path)?;
    let name = path.to_string_lossy();
    Object::parse(&bytes, &object_name_from_path(&name))
        .map_err(|e| CliError::Failed(format!("{name}: {e}")))
}

/// Loads the selected program(s) of `sel.file`: all programs of an object unless one is
/// selected (`only_one`: the first if none is named), or the raw program.
pub fn load(sel: &Select, only_one: bool) -> Result<Loaded, CliError> {
    load_in(Runtime::new(), sel, only_one)
}

/// [`load`] into a runtime whose programs run on `engine`.
pub fn load_with(
    sel: &Select,
    only_one: bool,
    engine: Box<dyn EngineBuilder>,
) -> Result<Loaded, CliError> {
    load_in(Runtime::with_engine(engine), sel, only_one)
}

/// [`load`] into the runtime `rt` (configured by the caller: engine, verification).
pub fn load_in(rt: Runtime, sel: &Select, only_one: bool) -> Result<Loaded, CliError> {
    let ty = sel.prog_type.as_deref().map(prog_type).transpose()?;
    let bytes = input::read(&sel.file)?;
    if !bytes.starts_with(b"\x7fELF") {
        let ty = ty.ok_or_else(|| {
            CliError::Usage(format!(
                "{} is not an ELF object: give its program type with --type",
                sel.file.display()
            ))
        })?;
        let insns: Vec<[u8; 8]> = oxbpf::isa::encode(&input::load_program(&sel.file)?)
            .chunks_exact(8)
            .map(|c| {
                let mut s = [0u8; 8];
                s.copy_from_slice(c);
                s
            })
            .collect();
        let name = sel
            .file
            .file_stem()
            .map_or("prog".into(), |s| s.to_string_lossy().into_owned());
        let p = rt
            .load_raw(&name, insns, ty, "GPL")
            .map_err(|e| super::verify::rejection(&e))?;
        return Ok(Loaded {
            rt,
            maps: Vec::new(),
            programs: vec![p],
        });
    }
    let mut obj = parse_object(&sel.file)?;
    if let Some(path) = &sel.btf {
        let bytes = input::read(path)?;
        let btf =
            Btf::parse(&bytes).map_err(|e| CliError::Failed(format!("{}: {e}", path.display())))?;
        obj.relocate_core(CoreTarget::Btf(&btf))
            .map_err(|e| CliError::Failed(format!("{}: {e}", sel.file.display())))?;
    }
    let chosen: Vec<String> = if let Some(p) = &sel.prog {
        let f = obj.program(p).ok_or_else(|| {
            CliError::Usage(format!("no program {p:?} in {}", sel.file.display()))
        })?;
        vec![f.name.clone()]
    } else if let Some(s) = &sel.section {
        let f = obj
            .programs
            .iter()
            .find(|p| p.section == *s)
            .ok_or_else(|| {
                CliError::Usage(format!("no section {s:?} in {}", sel.file.display()))
            })?;
        vec![f.name.clone()]
    } else if only_one {
        let f = obj
            .programs
            .first()
            .ok_or_else(|| CliError::Failed(format!("{} has no programs", sel.file.display())))?;
        vec![f.name.clone()]
    } else {
        Vec::new()
    };
    // Load every program when one is run, so that prog arrays get their tail-call
    // targets; if some other program cannot be loaded, load the chosen one alone.
    let all = LoadOptions {
        prog_type: ty,
        force_type: ty.is_some(),
        only: &[],
        maps_only: false,
    };
    let alone = LoadOptions {
        only: &chosen,
        ..all
    };
    let l: LoadedObject = match rt.load_object_with(&obj, &all) {
        Ok(l) if !chosen.is_empty() => {
            let mut l = l;
            l.programs.retain(|p| chosen.contains(&p.func_name));
            Ok(l)
        }
        Ok(l) => Ok(l),
        Err(_) if !chosen.is_empty() => rt.load_object_with(&obj, &alone),
        Err(e) => Err(e),
    }
    .map_err(|e| super::verify::rejection(&e))?;
    Ok(Loaded {
        rt,
        maps: l.maps,
        programs: l.programs,
    })
}

fn read_in(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)
            .map_err(|e| CliError::Usage(format!("reading stdin: {e}")))?;
        Ok(v)
    } else {
        input::read(path)
    }
}

fn write_out(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if path == Path::new("-") {
        for (i, chunk) in bytes.chunks(16).enumerate() {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            println!("{:07x}  {}", i * 16, hex.join(" "));
        }
        return Ok(());
    }
    std::fs::write(path, bytes)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))
}

/// `oxbpf prog run`.
pub fn run(a: RunArgs) -> Result<(), CliError> {
    let mut rt = Runtime::with_engine(a.engine.builder());
    rt.set_verify(!a.no_verify);
    let l = load_in(rt, &a.select, true)?;
    let prog = l
        .programs
        .first()
        .ok_or_else(|| CliError::Failed("no program loaded".into()))?;
    if let Some(note) = &prog.verify_note {
        eprintln!("oxbpf: warning: program {}: {note}", prog.func_name);
    }
    let data = match (&a.data_in, &a.data_in_hex) {
        (Some(p), _) => read_in(p)?,
        (None, Some(h)) => input::parse_hex(h)?,
        (None, None) => Vec::new(),
    };
    let ctx = a.ctx_in.as_deref().map(read_in).transpose()?;
    let out = prog
        .test_run(&TestRun {
            data_in: &data,
            ctx_in: ctx.as_deref(),
            repeat: a.repeat,
        })
        .map_err(|e| CliError::Failed(e.to_string()))?;
    tracelog::persist(&out.trace);
    if let Some(p) = &a.data_out {
        write_out(p, &out.output.data_out)?;
    }
    if let Some(p) = &a.ctx_out {
        write_out(p, &out.output.ctx_out)?;
    }
    let o = &out.output;
    if a.json {
        let mut maps = serde_json::Map::new();
        for m in &l.maps {
            maps.insert(m.spec_name.clone(), map::entries_hex(m));
        }
        let v = json!({
            "retval": o.retval,
            "data_out": input::to_hex(&o.data_out),
            "ctx_out": input::to_hex(&o.ctx_out),
            "duration_ns": o.duration_ns,
            "trace": out.trace.iter().map(|t| t.text.clone()).collect::<Vec<_>>(),
            "maps": maps,
        });
        println!("{v}");
        return Ok(());
    }
    for t in &out.trace {
        print!("{}", tracelog::line(t));
    }
    println!(
        "Return value: {}, duration{}: {}ns",
        o.retval,
        if a.repeat > 1 { " (average)" } else { "" },
        o.duration_ns
    );
    if a.maps {
        for m in &l.maps {
            println!("{}:", m.spec_name);
            print!("{}", map::dump_plain(m));
        }
    }
    Ok(())
}

/// bpftool's `loaded_at` text: `2026-11-22T06:12:19+0000` (UTC).
fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Memory a program's instructions take, rounded up to pages as the kernel charges it.
fn memlock(bytes: usize) -> usize {
    bytes.max(1).div_ceil(4096) * 4096
}

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

fn loaded_secs(p: &Program) -> u64 {
    p.loaded_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `bpftool prog show` fields of one program as JSON.
pub fn show_json(p: &Program) -> Value {
    let mut v = json!({
        "id": p.id,
        "type": p.prog_type.bpftool_name,
        "name": p.name,
        "tag": tag_hex(&p.tag),
        "gpl_compatible": p.gpl_compatible,
        "loaded_at": loaded_secs(p),
        "uid": uid(),
        "bytes_xlated": p.xlated_len(),
        "jited": p.jited_len() > 0,
    });
    let o = v.as_object_mut().expect("json! object");
    if p.jited_len() > 0 {
        o.insert("bytes_jited".into(), json!(p.jited_len()));
    }
    o.insert("bytes_memlock".into(), json!(memlock(p.xlated_len())));
    if !p.map_ids.is_empty() {
        o.insert("map_ids".into(), json!(p.map_ids));
    }
    if p.btf_id != 0 {
        o.insert("btf_id".into(), json!(p.btf_id));
    }
    v
}

/// `bpftool prog show` plain text of one program.
pub fn show_plain(p: &Program) -> String {
    let mut s = format!(
        "{}: {}  name {}  tag {}{}\n",
        p.id,
        p.prog_type.bpftool_name,
        p.name,
        tag_hex(&p.tag),
        if p.gpl_compatible { "  gpl" } else { "" }
    );
    s += &format!("\tloaded_at {}  uid {}\n", iso8601(loaded_secs(p)), uid());
    s += &format!("\txlated {}B", p.xlated_len());
    if p.jited_len() > 0 {
        s += &format!("  jited {}B", p.jited_len());
    } else {
        s += "  not jited";
    }
    s += &format!("  memlock {}B", memlock(p.xlated_len()));
    if !p.map_ids.is_empty() {
        let ids: Vec<String> = p.map_ids.iter().map(|i| i.to_string()).collect();
        s += &format!("  map_ids {}", ids.join(","));
    }
    s.push('\n');
    if p.btf_id != 0 {
        s += &format!("\tbtf_id {}\n", p.btf_id);
    }
    s
}

/// `oxbpf prog show`.
pub fn show(a: ShowArgs) -> Result<(), CliError> {
    let l = load(&a.select, false)?;
    let programs = if a.select.prog.is_some() || a.select.section.is_some() {
        l.programs
    } else {
        l.rt.programs()
    };
    if a.json || a.pretty {
        let v = Value::Array(programs.iter().map(|p| show_json(p)).collect());
        if a.pretty {
            println!("{}", jsonw::pretty(&v));
        } else {
            println!("{v}");
        }
        return Ok(());
    }
    for p in &programs {
        print!("{}", show_plain(p));
    }
    Ok(())
}

/// `oxbpf prog dump xlated|jited`.
pub fn dump(a: DumpArgs) -> Result<(), CliError> {
    let l = match a.what {
        DumpWhat::Xlated => load(&a.select, true)?,
        DumpWhat::Jited => load_with(&a.select, true, Box::new(JitBuilder))?,
    };
    for p in &l.programs {
        match a.what {
            DumpWhat::Xlated => print!("{}", p.dump_xlated(a.linum.is_some())),
            DumpWhat::Jited => {
                let listing = p
                    .dump_jited()
                    .ok_or_else(|| CliError::Failed(format!("{}: not jited", p.name)))?;
                print!("{listing}");
            }
        }
    }
    Ok(())
}

/// Dispatches `oxbpf prog`.
pub fn prog(cmd: ProgCmd) -> Result<(), CliError> {
    match cmd {
        ProgCmd::Run(a) => run(a),
        ProgCmd::Show(a) => show(a),
        ProgCmd::Dump(a) => dump(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00+0000");
        // The loaded_at bpftool printed for hello.o on this machine.
        assert_eq!(iso8601(1_795_327_939), "2026-11-22T06:12:19+0000");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00+0000");
    }
}
