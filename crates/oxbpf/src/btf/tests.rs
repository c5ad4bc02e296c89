use super::*;
use object::{Object as _, ObjectSection as _};
use serde_json::json;

fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn section(file: &[u8], name: &str) -> Vec<u8> {
    let elf = object::read::elf::ElfFile64::<object::Endianness>::parse(file).unwrap();
    elf.section_by_name(name).unwrap().data().unwrap().to_vec()
}

/// BTF as the object loader sees it (DATASECs fixed up from the ELF file).
fn object_btf(name: &str) -> Btf {
    let o = crate::object::Object::parse(&fixture(name), "t").unwrap();
    o.btf.unwrap()
}

/// Builds raw BTF from type words and names.
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            types: Vec::new(),
            strings: vec![0],
        }
    }
    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }
    fn words(&mut self, w: &[u32]) {
        for v in w {
            self.types.extend_from_slice(&v.to_le_bytes());
        }
    }
    fn info(kind: u8, vlen: u32, kflag: bool) -> u32 {
        (u32::from(kind) << 24) | vlen | if kflag { 1 << 31 } else { 0 }
    }
    fn build(&self) -> Vec<u8> {
        let mut out = vec![0x9f, 0xeb, 1, 0];
        let tl = self.types.len() as u32;
        for v in [24u32, 0, tl, tl, self.strings.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

#[test]
fn hello_types_and_resolution() {
    let btf = object_btf("hello.o");
    assert_eq!(btf.len(), 26);
    let xdp = btf.id_by_name_kind("xdp_md", kind::STRUCT).unwrap();
    assert_eq!(btf.size_of(xdp).unwrap(), 24);
    let m = btf.member(xdp, "rx_queue_index").unwrap();
    assert_eq!((m.bit_offset, m.bitfield_size), (128, 0));
    // verbose: VAR -> CONST -> VOLATILE -> int.
    let verbose = btf.id_by_name("verbose").unwrap();
    let int = btf.resolve_var(verbose).unwrap();
    assert_eq!(btf.type_by_id(int).unwrap().name, "int");
    assert_eq!(btf.size_of(verbose).unwrap(), 4);
    let u64t = btf.id_by_name("__u64").unwrap();
    assert!(matches!(
        btf.type_by_id(u64t).unwrap().kind,
        BtfKind::Typedef { .. }
    ));
    assert_eq!(btf.size_of(u64t).unwrap(), 8);
    let hello = btf.id_by_name("hello").unwrap();
    assert!(matches!(
        btf.type_by_id(hello).unwrap().kind,
        BtfKind::Func {
            linkage: Linkage::Global,
            ..
        }
    ));
    assert!(matches!(
        btf.size_of(hello),
        Err(BtfError::NotSized { kind: "FUNC", .. })
    ));
    assert!(matches!(
        btf.type_by_id(999),
        Err(BtfError::NoSuchType { id: 999, .. })
    ));
    assert!(btf.id_by_name("nope").is_err());
}

#[test]
fn datasec_fixup_and_dump() {
    let btf = object_btf("hello.o");
    let bss = btf.id_by_name_kind(".bss", kind::DATASEC).unwrap();
    assert_eq!(btf.size_of(bss).unwrap(), 4);
    assert_eq!(
        btf.dump(bss, &10739u32.to_le_bytes()).unwrap(),
        json!({".bss": [{"counter": 10739}]})
    );
    let ro = btf.id_by_name_kind(".rodata", kind::DATASEC).unwrap();
    let mut data = 1u32.to_le_bytes().to_vec();
    data.extend_from_slice(b"Hello World %d\0");
    assert_eq!(
        btf.dump(ro, &data).unwrap(),
        json!({".rodata": [{"verbose": 1}, {"hello.____fmt": "Hello World %d"}]})
    );
    // The fix-up is in the raw bytes too: re-parsing them gives the same size.
    let again = Btf::parse(btf.raw()).unwrap();
    assert_eq!(again.size_of(ro).unwrap(), 19);
    // Original clang output has size 0.
    let orig = Btf::parse(&section(&fixture("hello.o"), ".BTF")).unwrap();
    assert_eq!(orig.size_of(ro).unwrap(), 0);
    assert!(matches!(
        btf.dump(ro, &data[..10]),
        Err(BtfError::ValueTooShort { .. })
    ));
}

#[test]
fn struct_bitfields_and_strings() {
    let btf = object_btf("btf_maps.o");
    let key = btf.id_by_name_kind("key_t", kind::STRUCT).unwrap();
    let flag = btf.member(key, "flag").unwrap();
    assert_eq!((flag.bit_offset, flag.bitfield_size), (176, 3));
    let level = btf.member(key, "level").unwrap();
    assert_eq!((level.bit_offset, level.bitfield_size), (179, 5));
    let mut k = vec![0u8; 24];
    k[0..4].copy_from_slice(&42u32.to_le_bytes());
    k[4..7].copy_from_slice(b"abc");
    k[20..22].copy_from_slice(&8080u16.to_le_bytes());
    k[22] = 5 | (17 << 3);
    let mut comm = vec![json!(97), json!(98), json!(99)];
    comm.resize(16, json!(0));
    assert_eq!(
        btf.dump(key, &k).unwrap(),
        json!({"pid": 42, "comm": comm, "port": 8080, "flag": "0x5", "level": "0x11"})
    );
    let val = btf.id_by_name_kind("val_t", kind::STRUCT).unwrap();
    let mut v = vec![0u8; 24];
    v[0] = 3;
    v[8] = 0xff;
    v[16..19].copy_from_slice(b"eth");
    assert_eq!(
        btf.dump(val, &v).unwrap(),
        json!({"packets": 3, "bytes": 255, "name": "eth"})
    );
    // A char array without NUL or with unprintable bytes stays a list.
    v[16..24].copy_from_slice(b"12345678");
    let d = btf.dump(val, &v).unwrap();
    assert!(d["name"].is_array());
    v[16..19].copy_from_slice(&[b'a', 7, 0]);
    assert_eq!(btf.dump(val, &v).unwrap()["name"][1], json!(7));
}

#[test]
fn handmade_kinds() {
    let mut b = Builder::new();
    let int = b.s("int");
    let e = b.s("color");
    let (red, blue) = (b.s("RED"), b.s("BLUE"));
    let bool_ = b.s("_Bool");
    let ch = b.s("ch");
    let dbl = b.s("double");
    let u = b.s("u");
    let (fa, fb) = (b.s("a"), b.s("b"));
    let big = b.s("big");
    let loop_ = b.s("loop");
    // [1] int signed 32
    b.words(&[int, Builder::info(kind::INT, 0, false), 4, 0x0100_0020]);
    // [2] enum color { RED = -1, BLUE = 7 } signed
    b.words(&[
        e,
        Builder::info(kind::ENUM, 2, true),
        4,
        red,
        (-1i32) as u32,
        blue,
        7,
    ]);
    // [3] _Bool
    b.words(&[bool_, Builder::info(kind::INT, 0, false), 1, 0x0400_0008]);
    // [4] char-encoded int
    b.words(&[ch, Builder::info(kind::INT, 0, false), 1, 0x0200_0008]);
    // [5] double
    b.words(&[dbl, Builder::info(kind::FLOAT, 0, false), 8]);
    // [6] union u { int a; enum color b; }
    b.words(&[
        u,
        Builder::info(kind::UNION, 2, false),
        4,
        fa,
        1,
        0,
        fb,
        2,
        0,
    ]);
    // [7] enum64 big { RED = 1 << 40 }
    b.words(&[
        big,
        Builder::info(kind::ENUM64, 1, false),
        8,
        red,
        0,
        1 << 8,
    ]);
    // [8] typedef loop -> 9, [9] const -> 8: a cycle
    b.words(&[loop_, Builder::info(kind::TYPEDEF, 0, false), 9]);
    b.words(&[0, Builder::info(kind::CONST, 0, false), 8]);
    // [10] ptr -> int, [11] array of 3 ints
    b.words(&[0, Builder::info(kind::PTR, 0, false), 1]);
    b.words(&[0, Builder::info(kind::ARRAY, 0, false), 0, 1, 1, 3]);
    // [12] decl tag, [13] type tag, [14] fwd union, [15] func proto, [16] var
    b.words(&[
        fa,
        Builder::info(kind::DECL_TAG, 0, false),
        6,
        (-1i32) as u32,
    ]);
    b.words(&[fb, Builder::info(kind::TYPE_TAG, 0, false), 1]);
    b.words(&[u, Builder::info(kind::FWD, 0, true), 0]);
    b.words(&[0, Builder::info(kind::FUNC_PROTO, 1, false), 1, fa, 1]);
    b.words(&[fa, Builder::info(kind::VAR, 0, false), 1, 1]);
    // [17] unsigned enum flags { ONE = 1 }
    let one = b.s("ONE");
    b.words(&[0, Builder::info(kind::ENUM, 1, false), 4, one, 1]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert_eq!(btf.len(), 18);
    assert_eq!(btf.dump(17, &1u32.to_le_bytes()).unwrap(), json!("ONE"));
    // Like bpftool, an unmatched 32-bit enum value prints signed.
    assert_eq!(btf.dump(17, &u32::MAX.to_le_bytes()).unwrap(), json!(-1));
    assert_eq!(btf.dump(2, &7i32.to_le_bytes()).unwrap(), json!("BLUE"));
    assert_eq!(btf.dump(2, &(-1i32).to_le_bytes()).unwrap(), json!("RED"));
    assert_eq!(btf.dump(2, &(-5i32).to_le_bytes()).unwrap(), json!(-5));
    assert_eq!(btf.dump(3, &[1]).unwrap(), json!(true));
    assert_eq!(btf.dump(4, b"A").unwrap(), json!("A"));
    assert_eq!(btf.dump(4, &[7]).unwrap(), json!("\u{7}"));
    assert_eq!(btf.dump(5, &2.5f64.to_le_bytes()).unwrap(), json!(2.5));
    assert_eq!(
        btf.dump(6, &7i32.to_le_bytes()).unwrap(),
        json!({"a": 7, "b": "BLUE"})
    );
    assert_eq!(
        btf.dump(7, &(1u64 << 40).to_le_bytes()).unwrap(),
        json!("RED")
    );
    assert!(matches!(btf.resolve(8), Err(BtfError::TooDeep { id: 8 })));
    assert!(btf.size_of(8).is_err());
    assert_eq!(btf.dump(10, &0x1000u64.to_le_bytes()).unwrap(), json!(4096));
    let mut arr = Vec::new();
    for v in [1i32, -2, 3] {
        arr.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(btf.size_of(11).unwrap(), 12);
    assert_eq!(btf.dump(11, &arr).unwrap(), json!([1, -2, 3]));
    assert!(matches!(
        btf.type_by_id(14).unwrap().kind,
        BtfKind::Fwd { is_union: true }
    ));
    assert_eq!(btf.dump(16, &9i32.to_le_bytes()).unwrap(), json!({"a": 9}));
    assert!(matches!(
        btf.type_by_id(12).unwrap().kind,
        BtfKind::DeclTag {
            target: 6,
            component_idx: -1
        }
    ));
    assert_eq!(btf.resolve(13).unwrap(), 1);
}

#[test]
fn huge_zero_sized_array_is_bounded() {
    let mut b = Builder::new();
    let s = b.s("empty");
    b.words(&[s, Builder::info(kind::STRUCT, 0, false), 0]);
    b.words(&[0, Builder::info(kind::ARRAY, 0, false), 0, 1, 1, u32::MAX]);
    let btf = Btf::parse(&b.build()).unwrap();
    assert!(matches!(
        btf.dump(2, &[]),
        Err(BtfError::OutputTooLarge { .. })
    ));
}

#[test]
fn malformed_headers() {
    let good = section(&fixture("hello.o"), ".BTF");
    let with = |at: usize, bytes: &[u8]| {
        let mut v = good.clone();
        v[at..at + bytes.len()].copy_from_slice(bytes);
        Btf::parse(&v)
    };
    assert!(matches!(
        with(0, &[0xeb, 0x9f]),
        Err(BtfError::BadMagic { found: 0x9feb })
    ));
    assert!(matches!(
        with(2, &[2]),
        Err(BtfError::BadVersion { version: 2 })
    ));
    assert!(matches!(
        with(4, &[8, 0, 0, 0]),
        Err(BtfError::BadHeaderLen { .. })
    ));
    assert!(matches!(
        with(4, &[0xff, 0xff, 0xff, 0x7f]),
        Err(BtfError::BadHeaderLen { .. })
    ));
    assert!(matches!(
        with(12, &[0xff, 0xff, 0, 0]),
        Err(BtfError::SectionOutOfBounds {
            section: "type",
            ..
        })
    ));
    assert!(matches!(
        with(20, &[0xff, 0xff, 0xff, 0xff]),
        Err(BtfError::SectionOutOfBounds {
            section: "string",
            ..
        })
    ));
    // First type's name offset beyond the string section.
    assert!(matches!(
        with(24, &[0xff, 0xff, 0, 0]),
        Err(BtfError::BadStringOffset {
            name_off: 0xffff,
            at: 24
        })
    ));
    // First type's kind set to 20 (unknown).
    assert!(matches!(
        with(31, &[20]),
        Err(BtfError::UnknownKind {
            kind: 20,
            id: 1,
            offset: 24
        })
    ));
    // The struct at type 2 claims 0xffff members.
    assert!(matches!(
        with(24 + 12 + 4, &[0xff, 0xff]),
        Err(BtfError::Truncated { .. })
    ));
    // Every truncation is an error, not a panic.
    for n in 0..good.len() {
        assert!(Btf::parse(&good[..n]).is_err(), "prefix {n}");
    }
}

#[test]
fn string_section_rules() {
    let mut b = Builder::new();
    b.words(&[0, Builder::info(kind::PTR, 0, false), 0]);
    let mut raw = b.build();
    let last = raw.len() - 1;
    raw[last] = b'x';
    assert!(matches!(
        Btf::parse(&raw),
        Err(BtfError::BadStringSection { .. })
    ));
}

#[test]
fn btf_ext_records() {
    let o = crate::object::Object::parse(&fixture("subprog.o"), "subprog").unwrap();
    let ext = o.btf_ext.as_ref().unwrap();
    let btf = o.btf.as_ref().unwrap();
    assert_eq!(ext.func_info_rec_size, 8);
    assert_eq!(ext.line_info_rec_size, 16);
    let text: Vec<_> = ext.func_info[".text"]
        .iter()
        .map(|f| (f.insn, btf.type_by_id(f.type_id).unwrap().name.clone()))
        .collect();
    assert_eq!(
        text,
        [
            (0, "add_one".to_owned()),
            (3, "add_two".to_owned()),
            (7, "unused_helper".to_owned())
        ]
    );
    let l = &ext.line_info["xdp"][0];
    assert_eq!(l.file_name, "./subprog.c");
    assert_eq!((l.line_num, l.column), (28, 10));
    assert!(l.line.contains("add_one"));
    assert!(ext.core_relos.is_empty());
}

#[test]
fn btf_ext_malformed() {
    let file = fixture("subprog.o");
    let btf = Btf::parse(&section(&file, ".BTF")).unwrap();
    let good = section(&file, ".BTF.ext");
    assert!(BtfExt::parse(&good, &btf).is_ok());
    for n in 0..good.len() {
        // Prefixes either fail or parse (a prefix can end on a record boundary); never panic.
        let _ = BtfExt::parse(&good[..n], &btf);
    }
    let hdr_len = u32::from_le_bytes(good[4..8].try_into().unwrap()) as usize;
    let func_off = u32::from_le_bytes(good[8..12].try_into().unwrap()) as usize;
    let mut bad = good.clone();
    bad[hdr_len + func_off..hdr_len + func_off + 4].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(BtfError::BadExt {
            reason: "bad record size",
            ..
        })
    ));
    let mut bad = good.clone();
    // num_info of the first block: far more records than the sub-section holds.
    let at = hdr_len + func_off + 8;
    bad[at..at + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(BtfError::BadExt {
            reason: "records exceed sub-section",
            ..
        })
    ));
    let mut bad = good;
    bad[0] = 0;
    assert!(matches!(
        BtfExt::parse(&bad, &btf),
        Err(BtfError::BadMagic { .. })
    ));
}

#[test]
fn mutated_btf_never_panics() {
    // xorshift64*, fixed seed.
    let mut state = 0x5eed_0b7f_2026_0001u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut parsed = 0;
    for f in ["hello.o", "btf_maps.o", "misc.o"] {
        let file = fixture(f);
        let good = section(&file, ".BTF");
        let ext = section(&file, ".BTF.ext");
        for _ in 0..1000 {
            let mut d = good.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() % d.len() as u64) as usize;
                d[at] ^= 1 << (next() % 8);
            }
            let r = std::panic::catch_unwind(|| {
                let Ok(btf) = Btf::parse(&d) else {
                    return false;
                };
                let value = vec![0x41u8; 256];
                for id in 0..btf.len() as u32 {
                    let _ = btf.size_of(id);
                    let _ = btf.resolve_var(id);
                    let _ = btf.members(id);
                    let _ = btf.dump(id, &value);
                }
                let _ = BtfExt::parse(&ext, &btf);
                true
            });
            parsed += usize::from(r.expect("BTF mutant panicked"));
        }
    }
    assert!(parsed > 0);
}

#[test]
fn raw_listing_matches_bpftool() {
    // Golden files written by `bpftool btf dump file X.o format raw` (examples/build.sh).
    for f in [
        "hello",
        "subprog",
        "legacy_maps",
        "btf_maps",
        "extern_call",
        "misc",
        "types",
    ] {
        let file = fixture(&format!("{f}.o"));
        let btf = Btf::parse(&section(&file, ".BTF")).unwrap();
        let golden = String::from_utf8(fixture(&format!("{f}.btf.txt"))).unwrap();
        let ours = btf.format_raw();
        for (i, (a, b)) in ours.lines().zip(golden.lines()).enumerate() {
            assert_eq!(a, b, "{f}.o line {}", i + 1);
        }
        assert_eq!(ours.lines().count(), golden.lines().count(), "{f}.o");
    }
}

#[test]
fn every_kind_prints_like_bpftool() {
    let btf = object_btf("types.o");
    let all = btf.id_by_name_kind("everything", kind::STRUCT).unwrap();
    let mut v = vec![0u8; 112];
    v[0..4].copy_from_slice(&(-1i32).to_le_bytes()); // c = RED
    v[8..16].copy_from_slice(&(1u64 << 32).to_le_bytes()); // b = HUGE
    v[16..20].copy_from_slice(&3u32.to_le_bytes()); // f: no enumerator
    v[20..24].copy_from_slice(b"abcd"); // u
    v[24..28].copy_from_slice(&0.5f32.to_le_bytes());
    v[32..40].copy_from_slice(&(-2.25f64).to_le_bytes());
    v[40] = 1; // ok
    v[48] = 0x10; // op
    v[96] = 0x5 | 0xf0; // lo = 5, low nibble of hi
    v[97] = 0x17; // hi = 0x17f
    v[98..103].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x01]); // sll: 33 bits set
    v[104..108].copy_from_slice(&9i32.to_le_bytes());
    let d = btf.dump(all, &v).unwrap();
    assert_eq!(d["c"], json!("RED"));
    assert_eq!(d["b"], json!("HUGE"));
    assert_eq!(d["f"], json!(3));
    assert_eq!(
        d["u"],
        json!({"word": 0x6463_6261, "bytes": [97, 98, 99, 100]})
    );
    assert_eq!(d["ratio"], json!(0.5));
    assert_eq!(d["mean"], json!(-2.25));
    assert_eq!(d["ok"], json!(true));
    assert_eq!(d["op"], json!(16));
    assert_eq!(d["lo"], json!("0x5"));
    assert_eq!(d["hi"], json!("0x17f"));
    assert_eq!(d["sll"], json!("0x1ffffffff"));
    assert_eq!(d["tail"], json!(9));
    assert_eq!(d["cv"], json!(0));
    // Exactly what bpftool 7.1 printed for these bytes in the loaded types.data map
    // (it cannot print FLOAT, hence a struct without floats).
    let data = btf.id_by_name_kind(".data", kind::DATASEC).unwrap();
    let mut v = vec![0u8; 72];
    v[0] = 1;
    v[8] = 0x10;
    v[16] = 0x20;
    v[32..40].copy_from_slice(&0xdead_beefu64.to_le_bytes());
    v[48] = 0x5 | 0xf0;
    v[49] = 0x17;
    v[50..55].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x01]);
    v[56..60].copy_from_slice(&7i32.to_le_bytes());
    v[60..63].copy_from_slice(b"ab\x01");
    let bpftool: serde_json::Value = serde_json::from_str(
        r#"{".data": [{"no_float_val": {"ok": true, "op": 16, "handler": 32, "tagged": 0,
            "cv": 3735928559, "rp": 0, "lo": "0x5", "hi": "0x17f", "sll": "0x1ffffffff",
            "c": "BLUE", "name": [97, 98, 1, 0, 0, 0]}}]}"#,
    )
    .unwrap();
    assert_eq!(btf.dump(data, &v).unwrap(), bpftool);
    let tagged = btf.member(all, "tagged").unwrap();
    // PTR -> TYPE_TAG -> int
    let BtfKind::Ptr { target } = btf.type_by_id(tagged.type_id).unwrap().kind else {
        panic!("tagged is not a pointer");
    };
    assert_eq!(
        btf.type_by_id(btf.resolve(target).unwrap()).unwrap().name,
        "int"
    );
}
