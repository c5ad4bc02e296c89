//! `oxbpf map list|dump`: an object's maps after loading (initial contents of global
//! data, sizes the runtime chose), printed as `bpftool map show` / `map dump` print them,
//! with BTF pretty-printing where the object has BTF.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use oxbpf::maps::MapType;
use oxbpf::runtime::LoadedMap;

use super::jsonw;
use crate::input;
use crate::CliError;

/// `oxbpf map` subcommands.
#[derive(Subcommand)]
pub enum MapCmd {
    /// List the object's maps as `bpftool map show` does.
    List(ListArgs),
    /// Dump map contents as `bpftool map dump` does.
    Dump(DumpArgs),
}

/// Arguments of `oxbpf map list`.
#[derive(Args)]
pub struct ListArgs {
    /// ELF object.
    file: PathBuf,
    /// JSON output.
    #[arg(long, short = 'j')]
    json: bool,
    /// Pretty JSON output, as `bpftool -p`.
    #[arg(long, short = 'p')]
    pretty: bool,
}

/// Arguments of `oxbpf map dump`.
#[derive(Args)]
pub struct DumpArgs {
    /// ELF object.
    file: PathBuf,
    /// Only this map (object name such as `hello.bss`, or the kernel's 15-byte name).
    #[arg(long)]
    map: Option<String>,
    /// JSON output.
    #[arg(long, short = 'j')]
    json: bool,
}

fn hex_list(b: &[u8]) -> Value {
    Value::Array(b.iter().map(|x| json!(format!("0x{x:02x}"))).collect())
}

fn spaced_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every (key, value) pair in `get_next_key` order (none for maps without lookups).
fn entries(m: &LoadedMap) -> Vec<(Vec<u8>, Vec<u8>)> {
    match m.map.map_type() {
        MapType::PerfEventArray | MapType::RingBuf | MapType::Queue | MapType::Stack => {
            return Vec::new()
        }
        _ => {}
    }
    m.map
        .keys()
        .into_iter()
        .filter_map(|k| {
            let v = m.map.lookup(&k).ok()?;
            Some((k, v))
        })
        .collect()
}

/// `[{"key": hex, "value": hex}]` for `prog run --json`.
pub fn entries_hex(m: &LoadedMap) -> Value {
    Value::Array(
        entries(m)
            .iter()
            .map(|(k, v)| json!({"key": input::to_hex(k), "value": input::to_hex(v)}))
            .collect(),
    )
}

/// The BTF-formatted key/value object bpftool prints, if the map has BTF.
fn formatted(m: &LoadedMap, key: &[u8], value: &[u8]) -> Option<Value> {
    let btf = m.btf.as_ref()?;
    if m.btf_value_type_id == 0 {
        return None;
    }
    let mut o = serde_json::Map::new();
    if m.btf_key_type_id != 0 {
        o.insert("key".into(), btf.dump(m.btf_key_type_id, key).ok()?);
    }
    if m.map.map_type().is_percpu() {
        let n = m.map.ncpus() as usize;
        let stride = (m.map.def().value_size as usize).next_multiple_of(8);
        let mut vals = Vec::new();
        for cpu in 0..n {
            let v = value.get(cpu * stride..cpu * stride + m.map.def().value_size as usize)?;
            vals.push(json!({"cpu": cpu, "value": btf.dump(m.btf_value_type_id, v).ok()?}));
        }
        o.insert("values".into(), Value::Array(vals));
    } else {
        o.insert("value".into(), btf.dump(m.btf_value_type_id, value).ok()?);
    }
    Some(Value::Object(o))
}

/// `bpftool map dump` plain output of one map.
pub fn dump_plain(m: &LoadedMap) -> String {
    let e = entries(m);
    if m.btf.is_some() && m.btf_value_type_id != 0 {
        let items: Vec<Value> = e.iter().filter_map(|(k, v)| formatted(m, k, v)).collect();
        return format!("{}\n", jsonw::pretty(&Value::Array(items)));
    }
    let (ks, vs) = (m.map.def().key_size, m.map.def().value_size);
    let break_names = ks > 16 || vs > 16;
    let single_line = ks + vs <= 24 && !break_names;
    let mut s = String::new();
    for (k, v) in &e {
        let sep = if break_names { '\n' } else { ' ' };
        s += &format!("key:{sep}{}", spaced_hex(k));
        s += if single_line { "  " } else { "\n" };
        if m.map.map_type().is_percpu() {
            let stride = (vs as usize).next_multiple_of(8);
            for (cpu, chunk) in v.chunks(stride).enumerate() {
                let val = &chunk[..(vs as usize).min(chunk.len())];
                s += &format!("value (CPU {cpu:02}):{sep}{}\n", spaced_hex(val));
            }
        } else {
            s += &format!("value:{sep}{}\n", spaced_hex(v));
        }
    }
    let n = e.len();
    s += &format!("Found {n} element{}\n", if n == 1 { "" } else { "s" });
    s
}

/// `bpftool -j map dump` of one map.
pub fn dump_json(m: &LoadedMap) -> Value {
    Value::Array(
        entries(m)
            .iter()
            .map(|(k, v)| {
                let mut o = serde_json::Map::new();
                o.insert("key".into(), hex_list(k));
                o.insert("value".into(), hex_list(v));
                if let Some(f) = formatted(m, k, v) {
                    o.insert("formatted".into(), f);
                }
                Value::Object(o)
            })
            .collect(),
    )
}

/// Bytes of value (and key) memory the map holds, in pages.
fn memlock(m: &LoadedMap) -> usize {
    let bytes: usize = m
        .map
        .value_regions()
        .iter()
        .chain(m.map.key_regions().iter())
        .map(|r| r.len)
        .sum();
    bytes.max(1).div_ceil(4096) * 4096
}

/// `bpftool map show` fields as JSON.
pub fn show_json(m: &LoadedMap) -> Value {
    let d = m.map.def();
    let mut v = json!({
        "id": m.id,
        "type": d.map_type.name(),
        "name": m.name,
        "flags": d.map_flags,
        "bytes_key": d.key_size,
        "bytes_value": d.value_size,
        "max_entries": d.max_entries,
        "bytes_memlock": memlock(m),
        "frozen": u32::from(m.map.is_frozen()),
    });
    if m.btf_id != 0 {
        if let Some(o) = v.as_object_mut() {
            o.insert("btf_id".into(), json!(m.btf_id));
        }
    }
    v
}

/// `bpftool map show` plain text.
pub fn show_plain(m: &LoadedMap) -> String {
    let d = m.map.def();
    let mut s = format!(
        "{}: {}  name {}  flags {:#x}\n\tkey {}B  value {}B  max_entries {}  memlock {}B",
        m.id,
        d.map_type.name(),
        m.name,
        d.map_flags,
        d.key_size,
        d.value_size,
        d.max_entries,
        memlock(m)
    );
    let frozen = m.map.is_frozen();
    if m.btf_id != 0 || frozen {
        s += "\n\t";
    }
    if m.btf_id != 0 {
        s += &format!("btf_id {}", m.btf_id);
    }
    if frozen {
        s += if m.btf_id != 0 { "  frozen" } else { "frozen" };
    }
    s.push('\n');
    s
}

/// Creates the object's maps (no programs: a program the runtime cannot load should not
/// hide the maps).
fn load_maps(file: &std::path::Path) -> Result<Vec<std::sync::Arc<LoadedMap>>, CliError> {
    let obj = super::prog::parse_object(file)?;
    let rt = oxbpf::runtime::Runtime::new();
    let l = rt
        .load_object_with(
            &obj,
            &oxbpf::runtime::LoadOptions {
                maps_only: true,
                ..Default::default()
            },
        )
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(l.maps)
}

/// `oxbpf map list`.
pub fn list(a: ListArgs) -> Result<(), CliError> {
    let maps = load_maps(&a.file)?;
    if a.json || a.pretty {
        let v = Value::Array(maps.iter().map(|m| show_json(m)).collect());
        if a.pretty {
            println!("{}", jsonw::pretty(&v));
        } else {
            println!("{v}");
        }
        return Ok(());
    }
    for m in &maps {
        print!("{}", show_plain(m));
    }
    Ok(())
}

/// `oxbpf map dump`.
pub fn dump(a: DumpArgs) -> Result<(), CliError> {
    let maps = load_maps(&a.file)?;
    let chosen: Vec<_> = match &a.map {
        Some(n) => {
            let m = maps
                .iter()
                .find(|m| m.spec_name == *n || m.name == *n)
                .ok_or_else(|| CliError::Usage(format!("no map {n:?} in {}", a.file.display())))?;
            vec![m.clone()]
        }
        None => maps,
    };
    for m in &chosen {
        if a.json {
            println!("{}", dump_json(m));
        } else {
            if a.map.is_none() {
                println!("{}:", m.spec_name);
            }
            print!("{}", dump_plain(m));
        }
    }
    Ok(())
}

/// Dispatches `oxbpf map`.
pub fn map(cmd: MapCmd) -> Result<(), CliError> {
    match cmd {
        MapCmd::List(a) => list(a),
        MapCmd::Dump(a) => dump(a),
    }
}
