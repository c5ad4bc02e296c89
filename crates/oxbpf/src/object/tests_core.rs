//! CO-RE relocation of examples/core.o: against the running kernel's BTF the patched
//! instructions must equal libbpf's (bpftool's debug log names each patched instruction
//! with its old and new value); against the object's own BTF nothing changes.

use std::process::Command;

use super::*;
use crate::btf::core::{is_poison, relo_kind};

fn core_object() -> Object {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/core.o");
    Object::parse(&std::fs::read(path).unwrap(), "core").unwrap()
}

/// libbpf's verdict for one relocated instruction.
#[derive(Debug, PartialEq, Eq)]
enum Libbpf {
    Patched { old: i64, new: i64 },
    Poisoned,
}

/// Runs `bpftool -d prog loadall` on `file` and collects libbpf's CO-RE log:
/// (program, insn) -> verdict. `Err` carries why it could not run.
fn libbpf_core_log(file: &str) -> Result<Vec<(String, usize, Libbpf)>, String> {
    if let Err(reason) = crate::kernel::available() {
        return Err(format!("kernel unavailable: {reason}"));
    }
    let pin = format!("/sys/fs/bpf/oxbpf_core_{}", std::process::id());
    let out = Command::new("bpftool")
        .args(["-d", "prog", "loadall", file, &pin])
        .output()
        .map_err(|e| format!("bpftool: {e}"))?;
    let _ = std::fs::remove_dir_all(&pin);
    let log = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("bpftool prog loadall failed: {log}"));
    }
    let mut v = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("libbpf: prog '") else {
            continue;
        };
        let Some((prog, rest)) = rest.split_once('\'') else {
            continue;
        };
        let insn_after = |s: &str, key: &str| -> Option<usize> {
            let i = s.find(key)? + key.len();
            s[i..]
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        if let Some(at) = insn_after(rest, "patched insn #") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let arrow = words.iter().position(|w| *w == "->").unwrap();
            let num = |s: &str| -> i64 {
                match s.strip_prefix("0x") {
                    Some(h) => i64::from_str_radix(h, 16).unwrap(),
                    None => s.parse().unwrap(),
                }
            };
            let (old, new) = (num(words[arrow - 1]), num(words[arrow + 1]));
            v.push((prog.to_owned(), at, Libbpf::Patched { old, new }));
        } else if let Some(at) = insn_after(rest, "substituting insn #") {
            v.push((prog.to_owned(), at, Libbpf::Poisoned));
        }
    }
    Ok(v)
}

#[test]
fn core_against_vmlinux_equals_libbpf() {
    let Some(kbtf) = kernel_btf() else {
        eprintln!("SKIPPED: kernel unavailable: {VMLINUX_BTF} is not readable");
        return;
    };
    let t = std::time::Instant::now();
    let raw = std::fs::read(VMLINUX_BTF).unwrap();
    let parsed = crate::btf::Btf::parse(&raw).unwrap();
    eprintln!(
        "vmlinux BTF: {} bytes, {} types, read and parsed in {:?}",
        raw.len(),
        parsed.len(),
        t.elapsed()
    );
    let mut o = core_object();
    let before = o.clone();
    let t = std::time::Instant::now();
    o.relocate_core(CoreTarget::Btf(&kbtf)).unwrap();
    eprintln!("core.o: CO-RE against vmlinux in {:?}", t.elapsed());
    let ours: usize = o.programs.iter().map(|p| p.core_results.len()).sum();
    assert_eq!(ours, 39, "relocation records in core.o");
    // Spot checks that need no oracle: the wire layout of IPv4 and x86-64 pt_regs.
    let parse = o.program("core_parse").unwrap();
    let off = |i: usize| i16::from_le_bytes([parse.insns[i][2], parse.insns[i][3]]);
    assert_eq!(
        (off(8), off(12), off(14), off(16), off(18)),
        (12, 9, 8, 16, 2)
    );
    let task = o.program("core_task").unwrap();
    assert_eq!(
        i16::from_le_bytes([task.insns[0][2], task.insns[0][3]]),
        112
    );
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/core.o");
    let log = match libbpf_core_log(path) {
        Ok(l) => l,
        Err(reason) => {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            return;
        }
    };
    assert_eq!(log.len(), ours, "libbpf relocated as many instructions");
    for (prog, at, verdict) in log {
        // libbpf relocates a `.text` subprogram in its own frame before appending it;
        // ours are relocated where it was linked (here into one program).
        let (p, at) = match o.program(&prog) {
            Some(p) => (p, at),
            None => {
                let p = o
                    .programs
                    .iter()
                    .find(|p| p.functions.iter().any(|f| f.name == prog))
                    .unwrap();
                let f = p.functions.iter().find(|f| f.name == prog).unwrap();
                (p, f.start + at)
            }
        };
        let prog = p.name.clone();
        let r = p.core_results.iter().find(|r| r.insn == at).unwrap();
        let orig_insn = before.program(&prog).unwrap().insns[at];
        let insn = p.insns[at];
        match verdict {
            Libbpf::Poisoned => {
                assert_eq!(r.new, None, "{prog} insn {at}: {}", r.description);
                assert!(is_poison(&insn), "{prog} insn {at}");
            }
            Libbpf::Patched { old, new } => {
                // libbpf prints the instruction's old field and the new value.
                let field = |insn: [u8; 8]| match insn[0] & 7 {
                    1..=3 => i64::from(i16::from_le_bytes([insn[2], insn[3]])),
                    0 => i64::from(u32::from_le_bytes(insn[4..8].try_into().unwrap())),
                    _ => i64::from(i32::from_le_bytes(insn[4..8].try_into().unwrap())),
                };
                assert_eq!(field(orig_insn), old, "{prog} insn {at}: old value");
                assert_eq!(
                    r.new.map(|n| n as i64),
                    Some(new),
                    "{prog} insn {at}: {}",
                    r.description
                );
                assert_eq!(field(insn), new, "{prog} insn {at}");
                assert_eq!(insn[0] & 7, orig_insn[0] & 7, "{prog} insn {at}: class");
            }
        }
    }
}

#[test]
fn core_against_own_btf_is_identity() {
    let mut o = core_object();
    let before = o.clone();
    o.relocate_core(CoreTarget::Local).unwrap();
    for (p, q) in o.programs.iter().zip(&before.programs) {
        assert!(p.core_applied);
        for r in &p.core_results {
            if r.validate {
                assert_eq!(r.new, Some(r.orig), "{}: {}", p.name, r.description);
                let at = r.insn;
                assert_eq!(p.insns[at], q.insns[at], "{} insn {at}", p.name);
            } else {
                // Bitfields: libbpf recomputes the narrowest load (clang used the
                // storage unit), so the values may differ but must still exist.
                assert!(r.new.is_some(), "{}: {}", p.name, r.description);
            }
        }
    }
    // ihl is the low nibble of byte 6 of iphdr___oxbpf: a 1-byte load at 6, shifted
    // left by 64 - (52 + 4 - 48) = 56, then right by 60 (libbpf's arithmetic).
    let parse = o.program("core_parse").unwrap();
    let val = |kind: u32| {
        parse
            .core_results
            .iter()
            .find(|r| r.kind == kind && r.description.contains(".ihl"))
            .and_then(|r| r.new)
    };
    assert_eq!(val(relo_kind::FIELD_BYTE_OFFSET), Some(6));
    assert_eq!(val(relo_kind::FIELD_BYTE_SIZE), Some(1));
    assert_eq!(val(relo_kind::FIELD_LSHIFT_U64), Some(56));
    assert_eq!(val(relo_kind::FIELD_RSHIFT_U64), Some(60));
    // Applying again changes nothing.
    let again = o.clone();
    o.relocate_core(CoreTarget::Local).unwrap();
    assert_eq!(o.programs[0].insns, again.programs[0].insns);
}

#[test]
fn missing_field_is_poisoned_and_bad_records_are_errors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/rejected/core_missing.o"
    );
    let bytes = std::fs::read(path).unwrap();
    // A bad record is an error naming the program, the section and the record (no
    // kernel needed): a member the local type lacks.
    let mut o = Object::parse(&bytes, "core_missing").unwrap();
    o.programs[0].core_relos[0].access = "0:9".into();
    let e = o.relocate_core(CoreTarget::Local).unwrap_err().to_string();
    assert!(
        e.contains("core_missing") && e.contains("xdp") && e.contains("\"0:9\""),
        "{e}"
    );
    let mut o = Object::parse(&bytes, "core_missing").unwrap();
    o.programs[0].core_relos[0].access = "zero".into();
    assert!(o.relocate_core(CoreTarget::Local).is_err());
    let mut o = Object::parse(&bytes, "core_missing").unwrap();
    o.programs[0].core_relos[0].insn = 10_000;
    assert!(o.relocate_core(CoreTarget::Local).is_err());
    // Against the kernel's iphdr, which lacks the field: poisoned, as libbpf does.
    let Some(target) = kernel_btf() else {
        eprintln!("SKIPPED: kernel unavailable: {VMLINUX_BTF} is not readable");
        return;
    };
    let mut o = Object::parse(&bytes, "core_missing").unwrap();
    o.relocate_core(CoreTarget::Btf(&target)).unwrap();
    let p = &o.programs[0];
    let poisoned: Vec<_> = p.core_results.iter().filter(|r| r.new.is_none()).collect();
    assert_eq!(poisoned.len(), 1, "{:?}", p.core_results);
    assert!(poisoned[0].description.contains("oxbpf_no_such_field"));
    assert!(is_poison(&p.insns[poisoned[0].insn]));
}

#[test]
fn target_type_ids_and_type_matches_against_vmlinux() {
    use crate::btf::core::calc_relo;
    use crate::btf::{kind, CoreRelo};
    let Some(k) = kernel_btf() else {
        eprintln!("SKIPPED: kernel unavailable: {VMLINUX_BTF} is not readable");
        return;
    };
    let local = core_object().btf.unwrap();
    let id = |n: &str| local.id_by_name_kind(n, kind::STRUCT).unwrap();
    let relo = |type_id: u32, kind: u32| CoreRelo {
        insn: 0,
        type_id,
        access: "0".into(),
        kind,
    };
    let val = |type_id: u32, kind: u32| calc_relo(&local, &k, &relo(type_id, kind)).unwrap().new;
    let kernel_iphdr = k.id_by_name_kind("iphdr", kind::STRUCT).unwrap();
    let (ip, eth) = (id("iphdr___oxbpf"), id("ethhdr___oxbpf"));
    assert_eq!(
        val(ip, relo_kind::TYPE_ID_TARGET),
        Some(u64::from(kernel_iphdr))
    );
    assert_eq!(val(ip, relo_kind::TYPE_ID_LOCAL), Some(u64::from(ip)));
    assert_eq!(val(eth, relo_kind::TYPE_SIZE), Some(14));
    // ethhdr___oxbpf's member has the kernel's name but its type is clang's
    // `unsigned short`, not pahole's `short unsigned int` (libbpf compares the names
    // too); iphdr___oxbpf names a member the kernel lacks. Against itself each matches.
    assert_eq!(val(eth, relo_kind::TYPE_MATCHES), Some(0));
    assert_eq!(val(ip, relo_kind::TYPE_MATCHES), Some(0));
    for t in [eth, ip] {
        let own = calc_relo(&local, &local, &relo(t, relo_kind::TYPE_MATCHES)).unwrap();
        assert_eq!(own.new, Some(1));
    }
    let missing = id("oxbpf_no_such_type");
    assert_eq!(val(missing, relo_kind::TYPE_ID_TARGET), Some(0));
    assert_eq!(val(missing, relo_kind::TYPE_SIZE), Some(0));
    // Field relocations with an access string that is not "0" on a type relocation, or
    // an enumerator index past the enum, are errors.
    let bad = CoreRelo {
        access: "0:1".into(),
        ..relo(eth, relo_kind::TYPE_SIZE)
    };
    assert!(calc_relo(&local, &k, &bad).is_err());
}

/// The context layouts the runtime emulates are the UAPI / x86-64 ones: a program built
/// with `preserve_access_index` on them (as vmlinux.h does) must keep every offset when
/// relocated against the kernel's BTF.
#[test]
fn emulated_context_layouts_survive_core_against_vmlinux() {
    use crate::btf::core::calc_relo;
    use crate::btf::{kind, CoreRelo};
    let Some(k) = kernel_btf() else {
        eprintln!("SKIPPED: kernel unavailable: {VMLINUX_BTF} is not readable");
        return;
    };
    let mut checked = 0;
    for (file, name) in [
        ("hello.o", "xdp_md"),
        ("btf_maps.o", "__sk_buff"),
        ("kprobe_read.o", "pt_regs"),
    ] {
        let path = format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let o = Object::parse(&std::fs::read(path).unwrap(), "ctx").unwrap();
        let local = o.btf.unwrap();
        let id = local.id_by_name_kind(name, kind::STRUCT).unwrap();
        let n = local.members(id).unwrap().len();
        for i in 0..n {
            let r = CoreRelo {
                insn: 0,
                type_id: id,
                access: format!("0:{i}"),
                kind: relo_kind::FIELD_BYTE_OFFSET,
            };
            let res = calc_relo(&local, &k, &r).unwrap();
            assert_eq!(res.new, Some(res.orig), "{file}: {}", res.description);
            checked += 1;
        }
    }
    assert_eq!(checked, 6 + 5 + 21);
}
