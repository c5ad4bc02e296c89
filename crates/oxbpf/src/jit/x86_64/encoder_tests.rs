//! Encoder round-trip tests: every constructor is decoded by iced-x86 and the decoded
//! instruction (Intel syntax text, and where it matters the exact opcode form and
//! displacement size) must be what was asked for.

use super::encoder::*;
use iced_x86::{
    Code as Iced, Decoder, DecoderOptions, Formatter, Instruction, IntelFormatter,
    MemorySizeOptions,
};

const DISPS: [i32; 9] = [0, 1, 127, 128, -128, -129, -1, i32::MAX, i32::MIN];
const IMMS: [i32; 9] = [0, 1, -1, 127, 128, -128, -129, i32::MAX, i32::MIN];
const WIDTHS: [Width; 2] = [Width::W32, Width::W64];
const SIZES: [Size; 4] = [Size::B8, Size::B16, Size::B32, Size::B64];
const SCALES: [Scale; 4] = [Scale::S1, Scale::S2, Scale::S4, Scale::S8];
const ALU_OPS: [AluOp; 8] = [
    AluOp::Add,
    AluOp::Or,
    AluOp::Adc,
    AluOp::Sbb,
    AluOp::And,
    AluOp::Sub,
    AluOp::Xor,
    AluOp::Cmp,
];
const SHIFT_OPS: [ShiftOp; 5] = [
    ShiftOp::Rol,
    ShiftOp::Ror,
    ShiftOp::Shl,
    ShiftOp::Shr,
    ShiftOp::Sar,
];

fn formatter() -> IntelFormatter {
    let mut f = IntelFormatter::new();
    let o = f.options_mut();
    o.set_space_after_operand_separator(true);
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_memory_size_options(MemorySizeOptions::Always);
    o.set_signed_immediate_operands(true);
    o.set_small_hex_numbers_in_decimal(false);
    o.set_leading_zeros(false);
    o.set_branch_leading_zeros(false);
    f
}

fn assemble(build: impl FnOnce(&mut Asm)) -> Vec<u8> {
    let mut a = Asm::new();
    build(&mut a);
    a.finish().expect("test code lays out").bytes
}

/// Decodes all of `bytes` (at ip 0), failing on anything invalid.
fn decode_all(bytes: &[u8]) -> Vec<Instruction> {
    let mut d = Decoder::with_ip(64, bytes, 0, DecoderOptions::NONE);
    let mut out = Vec::new();
    while d.can_decode() {
        let i = d.decode();
        assert_ne!(i.code(), Iced::INVALID, "invalid encoding in {bytes:02x?}");
        out.push(i);
    }
    out
}

/// Assembles one instruction and checks it decodes as exactly `expected`, using all bytes.
fn check(expected: &str, build: impl FnOnce(&mut Asm)) -> Instruction {
    let bytes = assemble(build);
    let insns = decode_all(&bytes);
    assert_eq!(
        insns.len(),
        1,
        "{expected}: {bytes:02x?} decodes to {insns:?}"
    );
    let mut text = String::new();
    formatter().format(&insns[0], &mut text);
    assert_eq!(text, expected, "bytes {bytes:02x?}");
    insns[0]
}

fn reg_name(r: Reg, size: Size) -> String {
    const LEGACY: [&str; 8] = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
    const BYTES: [&str; 8] = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"];
    let n = r.number() as usize;
    if n >= 8 {
        let suffix = match size {
            Size::B8 => "b",
            Size::B16 => "w",
            Size::B32 => "d",
            Size::B64 => "",
        };
        return format!("r{n}{suffix}");
    }
    match size {
        Size::B8 => BYTES[n].to_string(),
        Size::B16 => LEGACY[n].to_string(),
        Size::B32 => format!("e{}", LEGACY[n]),
        Size::B64 => format!("r{}", LEGACY[n]),
    }
}

fn w_name(r: Reg, w: Width) -> String {
    reg_name(r, w.into())
}

fn imm(v: i64) -> String {
    if v < 0 {
        format!("-0x{:x}", v.unsigned_abs())
    } else {
        format!("0x{v:x}")
    }
}

fn mem_text(m: &Mem) -> String {
    let mut s = format!("[{}", reg_name(m.base_reg(), Size::B64));
    if let Some((index, scale)) = m.index() {
        s += &format!("+{}", reg_name(index, Size::B64));
        if scale != Scale::S1 {
            s += &format!("*{}", 1 << scale as u8);
        }
    }
    if m.disp() != 0 {
        s += &if m.disp() < 0 {
            format!("-{}", imm(-i64::from(m.disp())))
        } else {
            format!("+{}", imm(m.disp().into()))
        };
    }
    s + "]"
}

fn ptr(size: Size, m: &Mem) -> String {
    let kw = match size {
        Size::B8 => "byte",
        Size::B16 => "word",
        Size::B32 => "dword",
        Size::B64 => "qword",
    };
    format!("{kw} ptr {}", mem_text(m))
}

/// The minimal displacement size for `m` as iced reports it: rbp/r13 bases need a disp8
/// even for 0; a disp32 is reported as 8 (sign-extended to 64 bits in 64-bit mode).
fn expected_displ_size(m: &Mem) -> u32 {
    let low = m.base_reg().number() & 7;
    if m.disp() == 0 && low != 5 {
        0
    } else if i8::try_from(m.disp()).is_ok() {
        1
    } else {
        8
    }
}

/// Every base with every edge displacement.
fn mems_base() -> Vec<Mem> {
    Reg::ALL
        .iter()
        .flat_map(|&b| DISPS.iter().map(move |&d| Mem::base(b, d)))
        .collect()
}

/// Every base x index x scale, with a few displacements.
fn mems_indexed(disps: &[i32]) -> Vec<Mem> {
    let mut v = Vec::new();
    for b in Reg::ALL {
        for i in Reg::ALL.into_iter().filter(|&i| i != Reg::Rsp) {
            for s in SCALES {
                for &d in disps {
                    v.push(Mem::indexed(b, i, s, d));
                }
            }
        }
    }
    v
}

fn mems_all() -> Vec<Mem> {
    let mut v = mems_base();
    v.extend(mems_indexed(&[0, -128, 128]));
    v
}

/// A smaller set for the instructions whose memory operand goes through the same code.
fn mems_some() -> Vec<Mem> {
    let mut v = mems_base();
    v.extend([
        Mem::indexed(Reg::R13, Reg::R12, Scale::S8, 0),
        Mem::indexed(Reg::Rsp, Reg::Rbp, Scale::S2, -129),
        Mem::indexed(Reg::R12, Reg::R15, Scale::S1, 127),
        Mem::indexed(Reg::Rbp, Reg::Rax, Scale::S4, i32::MIN),
    ]);
    v
}

fn check_mem(expected: &str, m: &Mem, build: impl FnOnce(&mut Asm)) {
    let i = check(expected, build);
    assert_eq!(i.memory_displ_size(), expected_displ_size(m), "{expected}");
}

fn code_name(i: &Instruction) -> String {
    format!("{:?}", i.code())
}

fn cond_name(c: Cond) -> &'static str {
    const NAMES: [&str; 16] = [
        "o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g",
    ];
    NAMES[c as usize]
}

fn alu_name(op: AluOp) -> &'static str {
    ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"][op as usize]
}

#[test]
fn mov_reg_reg() {
    for w in WIDTHS {
        for d in Reg::ALL {
            for s in Reg::ALL {
                let t = format!("mov {}, {}", w_name(d, w), w_name(s, w));
                check(&t, |a| a.mov(w, d, s));
            }
        }
    }
}

#[test]
fn mov_immediates() {
    for r in Reg::ALL {
        for v in IMMS {
            let i = check(
                &format!("mov {}, {}", w_name(r, Width::W64), imm(v.into())),
                |a| a.mov_imm32_sx(r, v),
            );
            assert_eq!(i.code(), Iced::Mov_rm64_imm32);
            let t = format!("mov {}, {}", w_name(r, Width::W32), imm(v.into()));
            let i = check(&t, |a| a.mov_imm32_zx(r, v as u32));
            assert_eq!(i.code(), Iced::Mov_r32_imm32);
        }
        for v in [0, 1, u64::MAX, 1 << 63, 0x0123_4567_89ab_cdef] {
            let t = format!("mov {}, {}", w_name(r, Width::W64), imm(v as i64));
            let i = check(&t, |a| a.movabs(r, v));
            assert_eq!(i.code(), Iced::Mov_r64_imm64);
        }
    }
    // mov_imm picks the shortest form; its values are checked by running them in
    // memory_tests.
    for (v, code) in [
        (0u64, Iced::Mov_r32_imm32),
        (u64::from(u32::MAX), Iced::Mov_r32_imm32),
        (u64::MAX, Iced::Mov_rm64_imm32),
        (i32::MIN as i64 as u64, Iced::Mov_rm64_imm32),
        (1 << 32, Iced::Mov_r64_imm64),
        (i32::MIN as i64 as u64 - 1, Iced::Mov_r64_imm64),
    ] {
        let bytes = assemble(|a| a.mov_imm(Reg::R9, v));
        assert_eq!(decode_all(&bytes)[0].code(), code, "{v:#x}");
    }
}

#[test]
fn alu_reg_reg_and_mem() {
    for op in ALU_OPS {
        for w in WIDTHS {
            for d in Reg::ALL {
                for s in Reg::ALL {
                    let t = format!("{} {}, {}", alu_name(op), w_name(d, w), w_name(s, w));
                    check(&t, |a| a.alu(op, w, d, s));
                }
            }
            for m in mems_some() {
                let t = format!(
                    "{} {}, {}",
                    alu_name(op),
                    ptr(w.into(), &m),
                    w_name(Reg::R11, w)
                );
                check_mem(&t, &m, |a| a.alu(op, w, m, Reg::R11));
                let t = format!(
                    "{} {}, {}",
                    alu_name(op),
                    w_name(Reg::Rsi, w),
                    ptr(w.into(), &m)
                );
                check_mem(&t, &m, |a| a.alu_load(op, w, Reg::Rsi, m));
            }
        }
    }
}

#[test]
fn alu_immediate_picks_imm8() {
    for op in ALU_OPS {
        for w in WIDTHS {
            for r in Reg::ALL {
                for v in IMMS {
                    let t = format!("{} {}, {}", alu_name(op), w_name(r, w), imm(v.into()));
                    let i = check(&t, |a| a.alu_imm(op, w, r, v));
                    let short = i8::try_from(v).is_ok();
                    assert_eq!(code_name(&i).ends_with("_imm8"), short, "{t}");
                }
            }
            let m = Mem::base(Reg::R12, -129);
            let t = format!("{} {}, {}", alu_name(op), ptr(w.into(), &m), imm(1000));
            check_mem(&t, &m, |a| a.alu_imm(op, w, m, 1000));
        }
    }
}

#[test]
fn test_and_multiply() {
    for w in WIDTHS {
        for d in Reg::ALL {
            for s in Reg::ALL {
                check(&format!("test {}, {}", w_name(d, w), w_name(s, w)), |a| {
                    a.test(w, d, s)
                });
                check(&format!("imul {}, {}", w_name(d, w), w_name(s, w)), |a| {
                    a.imul(w, d, s)
                });
            }
            for v in IMMS {
                check(&format!("test {}, {}", w_name(d, w), imm(v.into())), |a| {
                    a.test_imm(w, d, v)
                });
                // iced prints `imul r, r, imm` with equal registers as `imul r, imm`.
                let s = if d == Reg::R13 { Reg::Rsp } else { Reg::R13 };
                let t = format!("imul {}, {}, {}", w_name(d, w), w_name(s, w), imm(v.into()));
                let i = check(&t, |a| a.imul_imm(w, d, s, v));
                assert_eq!(
                    code_name(&i).ends_with("_imm8"),
                    i8::try_from(v).is_ok(),
                    "{t}"
                );
            }
        }
        let m = Mem::base(Reg::Rbp, 0);
        check_mem(
            &format!("imul {}, {}", w_name(Reg::R8, w), ptr(w.into(), &m)),
            &m,
            |a| a.imul(w, Reg::R8, m),
        );
    }
}

#[test]
fn group3_and_sign_extension() {
    type Emit = fn(&mut Asm, Width, Rm);
    let ops: [(&str, Emit); 5] = [
        ("not", |a, w, r| a.not(w, r)),
        ("neg", |a, w, r| a.neg(w, r)),
        ("mul", |a, w, r| a.mul(w, r)),
        ("div", |a, w, r| a.div(w, r)),
        ("idiv", |a, w, r| a.idiv(w, r)),
    ];
    for (name, emit) in ops {
        for w in WIDTHS {
            for r in Reg::ALL {
                check(&format!("{name} {}", w_name(r, w)), |a| {
                    emit(a, w, r.into())
                });
            }
            for m in mems_some() {
                check_mem(&format!("{name} {}", ptr(w.into(), &m)), &m, |a| {
                    emit(a, w, m.into())
                });
            }
        }
    }
    check("cdq", |a| a.cdq());
    check("cqo", |a| a.cqo());
}

#[test]
fn shifts_and_byte_swaps() {
    for op in SHIFT_OPS {
        let name = format!("{op:?}").to_lowercase();
        for w in WIDTHS {
            for r in Reg::ALL {
                check(&format!("{name} {}, cl", w_name(r, w)), |a| {
                    a.shift_cl(op, w, r)
                });
                for n in [1u8, 2, 31, 63] {
                    check(
                        &format!("{name} {}, {}", w_name(r, w), imm(n.into())),
                        |a| a.shift_imm(op, w, r, n),
                    );
                }
            }
        }
    }
    for r in Reg::ALL {
        for w in WIDTHS {
            check(&format!("bswap {}", w_name(r, w)), |a| a.bswap(w, r));
        }
        check(&format!("rol {}, 0x8", reg_name(r, Size::B16)), |a| {
            a.rol16(r, 8)
        });
    }
}

#[test]
fn extensions_reg_source() {
    for w in WIDTHS {
        for d in Reg::ALL {
            for s in Reg::ALL {
                let (dn, b, h) = (w_name(d, w), reg_name(s, Size::B8), reg_name(s, Size::B16));
                check(&format!("movzx {dn}, {b}"), |a| a.movzx(Ext::B8, w, d, s));
                check(&format!("movzx {dn}, {h}"), |a| a.movzx(Ext::B16, w, d, s));
                check(&format!("movsx {dn}, {b}"), |a| a.movsx(Ext::B8, w, d, s));
                check(&format!("movsx {dn}, {h}"), |a| a.movsx(Ext::B16, w, d, s));
            }
        }
    }
    for d in Reg::ALL {
        for s in Reg::ALL {
            let t = format!(
                "movsxd {}, {}",
                reg_name(d, Size::B64),
                reg_name(s, Size::B32)
            );
            check(&t, |a| a.movsxd(d, s));
        }
    }
}

#[test]
fn loads_all_sizes() {
    let mems = mems_all();
    for size in SIZES {
        for d in Reg::ALL {
            for m in &mems {
                let m = *m;
                let zx = match size {
                    Size::B8 | Size::B16 => {
                        format!("movzx {}, {}", reg_name(d, Size::B32), ptr(size, &m))
                    }
                    _ => format!("mov {}, {}", reg_name(d, size), ptr(size, &m)),
                };
                check_mem(&zx, &m, |a| a.load(size, d, m));
                let d64 = reg_name(d, Size::B64);
                let sx = match size {
                    Size::B8 | Size::B16 => format!("movsx {d64}, {}", ptr(size, &m)),
                    Size::B32 => format!("movsxd {d64}, {}", ptr(size, &m)),
                    Size::B64 => format!("mov {d64}, {}", ptr(size, &m)),
                };
                check_mem(&sx, &m, |a| a.load_sx(size, d, m));
            }
        }
    }
}

#[test]
fn stores_all_sizes() {
    let mems = mems_all();
    for size in SIZES {
        for s in Reg::ALL {
            for m in &mems {
                let m = *m;
                let t = format!("mov {}, {}", ptr(size, &m), reg_name(s, size));
                check_mem(&t, &m, |a| a.store(size, m, s));
            }
        }
        for m in mems_some() {
            for v in IMMS {
                let shown = match size {
                    Size::B8 => i64::from(v as i8),
                    Size::B16 => i64::from(v as i16),
                    _ => i64::from(v),
                };
                let t = format!("mov {}, {}", ptr(size, &m), imm(shown));
                check_mem(&t, &m, |a| a.store_imm(size, m, v));
            }
        }
    }
}

#[test]
fn lea_cmov_setcc() {
    for w in WIDTHS {
        for d in Reg::ALL {
            for m in mems_some() {
                check_mem(
                    &format!("lea {}, {}", w_name(d, w), mem_text(&m)),
                    &m,
                    |a| a.lea(w, d, m),
                );
            }
        }
    }
    for c in Cond::ALL {
        assert_eq!(c.negate().negate(), c);
        assert_ne!(c.negate(), c);
        for w in WIDTHS {
            for d in Reg::ALL {
                for s in [Reg::Rax, Reg::Rsp, Reg::R12, Reg::R15] {
                    let t = format!("cmov{} {}, {}", cond_name(c), w_name(d, w), w_name(s, w));
                    check(&t, |a| a.cmov(c, w, d, s));
                }
            }
        }
        for r in Reg::ALL {
            check(
                &format!("set{} {}", cond_name(c), reg_name(r, Size::B8)),
                |a| a.setcc(c, r),
            );
        }
        let m = Mem::base(Reg::R13, 0);
        check_mem(
            &format!("set{} {}", cond_name(c), ptr(Size::B8, &m)),
            &m,
            |a| a.setcc(c, m),
        );
    }
}

#[test]
fn atomics() {
    for w in WIDTHS {
        for s in Reg::ALL {
            for m in mems_some() {
                let (p, r) = (ptr(w.into(), &m), w_name(s, w));
                check_mem(&format!("lock xadd {p}, {r}"), &m, |a| a.lock_xadd(w, m, s));
                check_mem(&format!("xchg {p}, {r}"), &m, |a| a.xchg(w, m, s));
                check_mem(&format!("lock cmpxchg {p}, {r}"), &m, |a| {
                    a.lock_cmpxchg(w, m, s)
                });
                for op in [AluOp::Add, AluOp::And, AluOp::Or, AluOp::Xor, AluOp::Sub] {
                    let t = format!("lock {} {p}, {r}", alu_name(op));
                    check_mem(&t, &m, |a| a.lock_alu(op, w, m, s));
                }
            }
        }
    }
}

#[test]
fn misc_single_instructions() {
    for r in Reg::ALL {
        let n = reg_name(r, Size::B64);
        check(&format!("push {n}"), |a| a.push(r));
        check(&format!("pop {n}"), |a| a.pop(r));
        check(&format!("call {n}"), |a| a.call_reg(r));
        check(&format!("jmp {n}"), |a| a.jmp_reg(r));
    }
    check("ret", |a| a.ret());
    check("nop", |a| a.nop());
    check("int3", |a| a.int3());
    check("ud2", |a| a.ud2());
}

/// Decodes `bytes` and returns, per instruction, (offset, instruction).
fn decode_with_offsets(bytes: &[u8]) -> Vec<(usize, Instruction)> {
    decode_all(bytes)
        .into_iter()
        .map(|i| (i.ip() as usize, i))
        .collect()
}

#[test]
fn forward_branch_edges() {
    // disp = number of nops between the branch and the label.
    for (nops, short) in [(0usize, true), (127, true), (128, false)] {
        for cond in [None, Some(Cond::E), Some(Cond::L), Some(Cond::A)] {
            let mut a = Asm::new();
            let l = a.new_label();
            match cond {
                Some(c) => a.jcc(c, l),
                None => a.jmp(l),
            }
            for _ in 0..nops {
                a.nop();
            }
            a.bind(l);
            a.ret();
            let code = a.finish().unwrap();
            let insns = decode_all(&code.bytes);
            let br = insns[0];
            assert_eq!(
                br.near_branch_target() as usize,
                code.label_offset(l).unwrap()
            );
            assert_eq!(
                br.len(),
                if short {
                    2
                } else if cond.is_some() {
                    6
                } else {
                    5
                }
            );
            let mut text = String::new();
            formatter().format(&br, &mut text);
            let want = cond.map_or("jmp".to_string(), |c| format!("j{}", cond_name(c)));
            assert!(text.starts_with(&want), "{text} vs {want}");
        }
    }
}

#[test]
fn backward_branch_edges() {
    // A short backward branch over n bytes has disp -(n + 2): fits for n <= 126.
    for (nops, short) in [(0usize, true), (126, true), (127, false)] {
        for c in Cond::ALL {
            let mut a = Asm::new();
            let l = a.new_label();
            a.bind(l);
            for _ in 0..nops {
                a.nop();
            }
            a.jcc(c, l);
            let code = a.finish().unwrap();
            let insns = decode_all(&code.bytes);
            let br = insns.last().unwrap();
            assert_eq!(br.near_branch_target(), 0);
            assert_eq!(br.len(), if short { 2 } else { 6 });
            let mut text = String::new();
            formatter().format(br, &mut text);
            assert!(text.starts_with(&format!("j{} ", cond_name(c))), "{text}");
        }
    }
}

#[test]
fn growing_one_branch_grows_another() {
    // A jumps over 124 nops and branch B. B must be long (it jumps over 200 nops), which
    // pushes A's displacement from 126 to 129: A must become long too.
    let mut a = Asm::new();
    let (la, lb) = (a.new_label(), a.new_label());
    a.jmp(la);
    for _ in 0..124 {
        a.nop();
    }
    a.jmp(lb);
    a.bind(la);
    for _ in 0..200 {
        a.nop();
    }
    a.bind(lb);
    a.ret();
    let code = a.finish().unwrap();
    let insns = decode_with_offsets(&code.bytes);
    let (_, first) = insns[0];
    assert_eq!(first.code(), Iced::Jmp_rel32_64);
    assert_eq!(
        first.near_branch_target() as usize,
        code.label_offset(la).unwrap()
    );
    let (_, second) = insns[125];
    assert_eq!(second.code(), Iced::Jmp_rel32_64);
    assert_eq!(
        second.near_branch_target() as usize,
        code.label_offset(lb).unwrap()
    );
}

/// A tiny deterministic generator so the random layout test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn random_layouts_resolve_and_are_minimal() {
    for seed in 0..40 {
        let mut rng = Lcg(seed);
        let mut a = Asm::new();
        let labels: Vec<Label> = (0..30).map(|_| a.new_label()).collect();
        let mut unbound: Vec<Label> = labels.clone();
        // Branch targets recorded in emission order.
        let mut targets = Vec::new();
        while !unbound.is_empty() {
            match rng.next(4) {
                0 => {
                    let idx = rng.next(unbound.len() as u64) as usize;
                    a.bind(unbound.swap_remove(idx));
                }
                1 => {
                    let l = labels[rng.next(labels.len() as u64) as usize];
                    a.jmp(l);
                    targets.push(l);
                }
                2 => {
                    let l = labels[rng.next(labels.len() as u64) as usize];
                    a.jcc(Cond::ALL[rng.next(16) as usize], l);
                    targets.push(l);
                }
                _ => {
                    for _ in 0..rng.next(90) {
                        a.nop();
                    }
                }
            }
        }
        let code = a.finish().unwrap();
        let branches: Vec<Instruction> = decode_all(&code.bytes)
            .into_iter()
            .filter(|i| i.code() != Iced::Nopd && i.code() != Iced::Nopw && i.len() > 1)
            .collect();
        assert_eq!(branches.len(), targets.len(), "seed {seed}");
        for (br, l) in branches.iter().zip(&targets) {
            let target = code.label_offset(*l).unwrap() as i64;
            assert_eq!(br.near_branch_target() as i64, target, "seed {seed}");
            let (start, end) = (br.ip() as i64, br.next_ip() as i64);
            if br.len() > 2 {
                // Shortening it would not have fit: a long forward branch's own disp equals
                // its short disp; a backward one's short disp is target - (start + 2).
                let short_disp = if target >= end {
                    target - end
                } else {
                    target - start - 2
                };
                assert!(
                    i8::try_from(short_disp).is_err(),
                    "seed {seed}: needless rel32 at {start}"
                );
            }
        }
    }
}

#[test]
fn label_references() {
    let mut a = Asm::new();
    let (f, l) = (a.new_label(), a.new_label());
    a.call_label(f);
    a.lea_label(Reg::R14, l);
    a.jmp(l);
    a.bind(f);
    a.ret();
    a.bind(l);
    a.int3();
    let code = a.finish().unwrap();
    let insns = decode_all(&code.bytes);
    assert_eq!(insns[0].code(), Iced::Call_rel32_64);
    assert_eq!(
        insns[0].near_branch_target() as usize,
        code.label_offset(f).unwrap()
    );
    assert_eq!(insns[1].code(), Iced::Lea_r64_m);
    assert!(insns[1].is_ip_rel_memory_operand());
    assert_eq!(
        insns[1].ip_rel_memory_address() as usize,
        code.label_offset(l).unwrap()
    );
    assert_eq!(
        insns[2].near_branch_target() as usize,
        code.label_offset(l).unwrap()
    );
}

#[test]
fn label_errors() {
    let mut a = Asm::new();
    let l = a.new_label();
    a.jmp(l);
    assert_eq!(a.finish().unwrap_err(), AsmError::UnboundLabel { label: 0 });

    let mut a = Asm::new();
    let (_, l) = (a.new_label(), a.new_label());
    a.bind(l);
    a.nop();
    a.bind(l);
    assert_eq!(
        a.finish().unwrap_err(),
        AsmError::LabelBoundTwice { label: 1 }
    );
}
