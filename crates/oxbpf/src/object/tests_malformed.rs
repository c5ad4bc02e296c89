//! Malformed objects: every problem is a typed error, never a panic or a huge allocation.

use super::elf::Elf;
use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn u64_at(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap())
}

/// File offset of section `name`'s header.
fn shdr(d: &[u8], name: &str) -> usize {
    let idx = Elf::parse(d)
        .unwrap()
        .secs
        .iter()
        .position(|s| s.name == name)
        .unwrap();
    u64_at(d, 0x28) as usize + idx * 64
}

/// File offset of section `name`'s contents.
fn sec_off(d: &[u8], name: &str) -> usize {
    u64_at(d, shdr(d, name) + 24) as usize
}

/// File offset of the symbol table entry of `sym`.
fn sym_entry(d: &[u8], sym: &str) -> usize {
    let idx = Elf::parse(d)
        .unwrap()
        .syms
        .iter()
        .position(|s| s.name == sym)
        .unwrap();
    sec_off(d, ".symtab") + idx * 24
}

fn put(d: &mut [u8], at: usize, bytes: &[u8]) {
    d[at..at + bytes.len()].copy_from_slice(bytes);
}

fn parse(d: &[u8]) -> Result<Object, ObjectError> {
    Object::parse(d, "t")
}

#[test]
fn truncated_elf() {
    let d = fixture("hello.o");
    for n in (0..d.len()).step_by(7) {
        assert!(parse(&d[..n]).is_err(), "prefix {n}");
    }
    assert!(matches!(parse(&[]), Err(ObjectError::Elf { .. })));
}

#[test]
fn machine_check() {
    let mut d = fixture("hello.o");
    put(&mut d, 18, &0u16.to_le_bytes());
    assert!(parse(&d).is_ok(), "e_machine 0 is accepted");
    put(&mut d, 18, &62u16.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::WrongMachine { machine: 62 })
    ));
    let mut d = fixture("hello.o");
    d[5] = 2; // ELFDATA2MSB
    assert!(parse(&d).is_err());
}

#[test]
fn bad_relocation_offset() {
    let mut d = fixture("hello.o");
    let rel = sec_off(&d, ".relxdp");
    put(&mut d, rel, &0x1001u64.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadRelocationOffset { relocation: 0, offset: 0x1001, ref section, .. }) if section == "xdp"
    ));
    // Aligned but past the end of the section.
    put(&mut d, rel, &0xa8u64.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadRelocationOffset { offset: 0xa8, .. })
    ));
    // Pointing at an instruction that is neither lddw nor call.
    put(&mut d, rel, &0x10u64.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadRelocationInsn {
            insn: 2,
            opcode: 0x61,
            ..
        })
    ));
}

#[test]
fn bad_relocation_symbol() {
    let mut d = fixture("hello.o");
    let rel = sec_off(&d, ".relxdp");
    // r_info = (sym << 32) | type
    put(&mut d, rel + 8, &((9999u64 << 32) | 1).to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::Elf { .. } | ObjectError::BadRelocationSymbol { symbol: 9999, .. })
    ));
}

#[test]
fn unknown_map_type() {
    let mut d = fixture("legacy_maps.o");
    let maps = sec_off(&d, "maps");
    put(&mut d, maps, &99u32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::UnknownMapType { ref map, map_type: 99 }) if map == "counts"
    ));
}

#[test]
fn legacy_symbol_outside_section() {
    let mut d = fixture("legacy_maps.o");
    let e = sym_entry(&d, "events");
    put(&mut d, e + 8, &1000u64.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadMap { ref map, .. }) if map == "events"
    ));
}

#[test]
fn legacy_size_zero_symbols() {
    // Old clang: map symbols of size 0; the section is divided evenly.
    let mut d = fixture("legacy_maps.o");
    for s in ["counts", "events"] {
        let e = sym_entry(&d, s);
        put(&mut d, e + 16, &0u64.to_le_bytes());
    }
    let o = parse(&d).unwrap();
    assert_eq!(o.maps.len(), 2);
    assert_eq!(o.maps[1].section_offset, 20);
    assert!(matches!(
        o.maps[1].origin,
        MapOrigin::Legacy { def_size: 20, .. }
    ));
}

#[test]
fn missing_referenced_section() {
    let mut d = fixture("hello.o");
    let sh = shdr(&d, ".relxdp");
    put(&mut d, sh + 44, &200u32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::MissingSection { section: 200, .. })
    ));
    let mut d = fixture("hello.o");
    let e = sym_entry(&d, "counter");
    put(&mut d, e + 6, &200u16.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::MissingSection { section: 200, .. } | ObjectError::Symbol { .. })
    ));
}

#[test]
fn unresolved_symbol() {
    let mut d = fixture("hello.o");
    let e = sym_entry(&d, "counter");
    put(&mut d, e + 6, &0u16.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::UnresolvedSymbol { ref symbol, insn: 0, .. }) if symbol == "counter"
    ));
}

#[test]
fn bad_btf_is_a_typed_error() {
    let mut d = fixture("hello.o");
    let btf = sec_off(&d, ".BTF");
    put(&mut d, btf, &[0, 0]);
    assert!(matches!(
        parse(&d),
        Err(ObjectError::Btf {
            section: ".BTF",
            source: crate::btf::BtfError::BadMagic { found: 0 }
        })
    ));
    let mut d = fixture("hello.o");
    // type_len far beyond the section.
    put(&mut d, btf + 12, &0x00ff_ffffu32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::Btf {
            source: crate::btf::BtfError::SectionOutOfBounds { .. },
            ..
        })
    ));
    let mut d = fixture("subprog.o");
    let ext = sec_off(&d, ".BTF.ext");
    put(&mut d, ext + 4, &0xffffu32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::Btf {
            section: ".BTF.ext",
            ..
        })
    ));
}

#[test]
fn huge_bss_is_refused_before_allocating() {
    let mut d = fixture("hello.o");
    let sh = shdr(&d, ".bss");
    put(&mut d, sh + 32, &(257u64 << 30).to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::SectionTooLarge { ref section, size, .. }) if section == ".bss" && size == 257 << 30
    ));
    // A file-backed section claiming more than the file holds.
    let mut d = fixture("hello.o");
    let sh = shdr(&d, ".data");
    put(&mut d, sh + 32, &(1u64 << 20).to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::SectionData { ref section, .. }) if section == ".data"
    ));
}

#[test]
fn bad_version_section() {
    let mut d = fixture("legacy_maps.o");
    let sh = shdr(&d, "version");
    put(&mut d, sh + 32, &2u64.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadVersion { size: 2 })
    ));
}

#[test]
fn bad_call_target() {
    let mut d = fixture("extern_call.o");
    // `call 1` at insn 23 (pc-relative to the static `twice`): point it mid-function.
    let at = sec_off(&d, "socket") + 23 * 8 + 4;
    put(&mut d, at, &2i32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadCallTarget {
            insn: 23,
            target: 26,
            ..
        })
    ));
    put(&mut d, at, &1000i32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::BadCallTarget { insn: 23, .. })
    ));
}

/// xorshift64*: a fixed-seed generator so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Parses the mutant and exercises what a consumer would touch (BTF printing of data
/// maps); returns whether it parsed.
fn exercise(d: &[u8]) -> bool {
    let o = match parse(d) {
        Ok(o) => o,
        Err(e) => {
            // Messages must render too.
            assert!(!e.to_string().is_empty());
            return false;
        }
    };
    // CO-RE against the object's own BTF touches every record.
    let mut core = o.clone();
    if let Err(e) = core.relocate_core(CoreTarget::Local) {
        assert!(!e.to_string().is_empty());
    }
    if let Some(btf) = &o.btf {
        for m in &o.maps {
            if let (Some(id), Some(data)) = (m.btf_value_type_id, &m.data) {
                let _ = btf.dump(id, data);
            }
            if let Some(id) = m.btf_key_type_id {
                let _ = btf.dump(id, &vec![0u8; m.key_size.min(4096) as usize]);
            }
        }
    }
    true
}

#[test]
fn byte_flip_mutants_never_panic() {
    let files = [
        "hello.o",
        "subprog.o",
        "legacy_maps.o",
        "iproute2_maps.o",
        "btf_maps.o",
        "extern_call.o",
        "misc.o",
        "types.o",
        "core.o",
        "legacy_inner.o",
        "iproute2_mim.o",
    ];
    // OXBPF_MUTANTS=N runs a longer campaign locally.
    let mutants: usize = std::env::var("OXBPF_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut rng = Rng(0x0b9f_2026_1122_0001);
    let (mut total, mut parsed) = (0usize, 0usize);
    for f in files {
        let orig = fixture(f);
        // Half the mutants anywhere, half inside the parts we read ourselves (random
        // flips mostly land in DWARF, which nobody reads).
        let elf = Elf::parse(&orig).unwrap();
        let mut hot = vec![(0usize, 64usize)];
        for name in [".BTF", ".BTF.ext", ".symtab", ".maps", "maps"] {
            if elf.sec_by_name(name).is_some() {
                let len = u64_at(&orig, shdr(&orig, name) + 32) as usize;
                hot.push((sec_off(&orig, name), len));
            }
        }
        for (_, rel, _) in &elf.rels {
            hot.push((
                sec_off(&orig, rel),
                u64_at(&orig, shdr(&orig, rel) + 32) as usize,
            ));
        }
        for n in 0..mutants {
            let mut d = orig.clone();
            let flips = 1 + rng.next() % 4;
            for _ in 0..flips {
                let at = if n % 2 == 0 {
                    (rng.next() % d.len() as u64) as usize
                } else {
                    let (start, len) = hot[(rng.next() % hot.len() as u64) as usize];
                    start + (rng.next() % len.max(1) as u64) as usize
                };
                d[at] = match rng.next() % 3 {
                    0 => d[at] ^ (1 << (rng.next() % 8)),
                    1 => rng.next() as u8,
                    _ => 0xff,
                };
            }
            let r = std::panic::catch_unwind(|| exercise(&d));
            match r {
                Ok(ok) => parsed += usize::from(ok),
                Err(_) => panic!(
                    "{f}: mutant panicked; bytes differ at {:?}",
                    diff(&orig, &d)
                ),
            }
            total += 1;
        }
    }
    // Flips in debug info still parse; many in the parts we read must fail.
    assert!(
        parsed > total / 10 && parsed < total * 9 / 10,
        "{parsed}/{total}"
    );
    eprintln!("mutants: {total}, parsed: {parsed}");
}

fn diff(a: &[u8], b: &[u8]) -> Vec<(usize, u8, u8)> {
    a.iter()
        .zip(b)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| (i, *x, *y))
        .collect()
}

/// Offset of the first occurrence of `pat` in `d`.
fn find(d: &[u8], pat: &[u8]) -> usize {
    d.windows(pat.len()).position(|w| w == pat).unwrap()
}

#[test]
fn btf_maps_need_btf() {
    let mut d = fixture("btf_maps.o");
    let btf_sh = shdr(&d, ".BTF");
    let name_off = u32::from_le_bytes(d[btf_sh..btf_sh + 4].try_into().unwrap()) as usize;
    let strtab = sec_off(&d, ".strtab");
    // ".BTF" -> ".XTF"
    d[strtab + name_off + 1] = b'X';
    assert!(matches!(
        parse(&d),
        Err(ObjectError::MissingBtf { ref section }) if section == ".maps"
    ));
}

#[test]
fn btf_map_with_unknown_type() {
    let mut d = fixture("btf_maps.o");
    // [31] ARRAY elem=int(2) index=4 nr_elems=1: the `__uint(type, BPF_MAP_TYPE_HASH)`
    // of `flows`. Make it 99.
    let mut pat = Vec::new();
    for w in [0u32, 3 << 24, 0, 2, 4, 1] {
        pat.extend_from_slice(&w.to_le_bytes());
    }
    let at = find(&d, &pat) + 20;
    put(&mut d, at, &99u32.to_le_bytes());
    assert!(matches!(
        parse(&d),
        Err(ObjectError::UnknownMapType { ref map, map_type: 99 }) if map == "flows"
    ));
}

#[test]
fn errors_name_their_location() {
    let mut d = fixture("hello.o");
    let rel = sec_off(&d, ".relxdp");
    put(&mut d, rel + 16, &0x1001u64.to_le_bytes());
    let e = parse(&d).unwrap_err().to_string();
    assert_eq!(
        e,
        "relocation 1 in .relxdp: offset 4097 is not an instruction of xdp"
    );
}
