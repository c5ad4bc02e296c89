//! Programs clang-19 built (the `examples/` objects): the verifier's verdict on real
//! compiler output.

use crate::isa;
use crate::object::{DataKind, MapOrigin, Object};
use crate::verifier::{ctx::Xdp, spin_lock_offset, verify, MapInfo, MapMeta, VerifyConfig};

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Every XDP program of the examples is accepted (the kernel accepts them too: the
/// object module's oracle test loads them).
#[test]
fn example_xdp_programs_are_accepted() {
    let mut report = Vec::new();
    let mut checked = 0;
    // The runtime's helpers (e.g. `bpf_snprintf`), then the built-in table.
    let registry = crate::helpers::Registry::standard();
    let helpers = crate::verifier::protos::Chain(&registry, &crate::verifier::BuiltinHelpers);
    for entry in std::fs::read_dir(examples_dir()).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "o") {
            continue;
        }
        let data = std::fs::read(&path).expect("read");
        let Ok(obj) = Object::parse(&data, "x") else {
            continue;
        };
        let maps: Vec<MapInfo> = obj
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
        // What the runtime passes too: inner templates and spin lock offsets from BTF.
        let meta: Vec<MapMeta> = obj
            .maps
            .iter()
            .map(|m| MapMeta {
                name: m.name.clone(),
                inner: m.inner.as_deref().map(|i| MapInfo {
                    map_type: i.map_type,
                    key_size: i.key_size,
                    value_size: i.value_size,
                    max_entries: i.max_entries,
                    flags: i.map_flags,
                }),
                btf: m.btf_value_type_id.is_some(),
                spin_lock_off: obj
                    .btf
                    .as_ref()
                    .zip(m.btf_value_type_id)
                    .and_then(|(b, v)| spin_lock_offset(b, v)),
                // The runtime freezes `.rodata` with its initial bytes.
                frozen: (m.origin == MapOrigin::Data(DataKind::Rodata)).then(|| {
                    let mut v = m.data.clone().unwrap_or_default();
                    v.resize(m.value_size as usize, 0);
                    v
                }),
            })
            .collect();
        // Programs calling undefined `mem*` functions are not loadable as compiled (the
        // runtime links them first; its tests verify the linked form).
        for p in obj
            .programs
            .iter()
            .filter(|p| p.section == "xdp" && p.external_calls.is_empty())
        {
            checked += 1;
            let bytes: Vec<u8> = p.insns.iter().flatten().copied().collect();
            let Ok(prog) = isa::decode(&bytes) else {
                continue;
            };
            let config = VerifyConfig {
                helpers: &helpers,
                maps: &maps,
                map_meta: &meta,
                gpl: obj.is_gpl_compatible(),
                log_level: 1,
                func_info: !p.func_info.is_empty(),
                ..VerifyConfig::new(&Xdp)
            };
            let r = verify(&prog, &config);
            if let Err(e) = r {
                report.push(format!(
                    "{} {}: {}\n{}",
                    path.display(),
                    p.name,
                    e.message,
                    e.log
                ));
            }
        }
    }
    assert!(checked >= 5, "only {checked} XDP programs found");
    assert!(report.is_empty(), "{}", report.join("\n"));
}
