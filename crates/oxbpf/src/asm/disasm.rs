//! Instruction printers: LLVM (`llvm-objdump -d`), strace's symbolic form, and the
//! conformance mnemonic syntax. bpftool's `dump xlated` form lives in `xlated.rs`.

use super::xlated;
use crate::isa::{
    decode, AluOp, AtomicOp, ByteOrder, CallTarget, DecodeError, Insn, JmpCond, LdPseudo, Located,
    Reg, Size, Src, Width, SLOT_SIZE,
};
use std::fmt::Write;

/// Output syntax of the disassembler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The syntax `llvm-objdump -d` prints: `r0 = 0x1`, `if r1 > r2 goto +0x3`.
    Llvm,
    /// bpftool's `prog dump xlated` form: `   0: (b7) r0 = 2` (kernel `print_bpf_insn`).
    Xlated,
    /// strace's decoding of `struct bpf_insn`, one slot per line:
    /// `{code=BPF_ALU64|BPF_K|BPF_MOV, dst_reg=BPF_REG_1, src_reg=BPF_REG_0, off=0, imm=0x21}`.
    /// `JMP32` opcodes print like `JMP` ones (`BPF_JMP32|BPF_K|BPF_JSLT`); strace itself
    /// shows their operation bits as a raw number.
    Symbolic,
    /// The mnemonic syntax of the bpf_conformance data: `mov32 %r0, 1`.
    Conformance,
}

impl std::str::FromStr for Style {
    type Err = String;

    /// `llvm`, `xlated` (or `bpftool`), `symbolic` (or `strace`), `conformance` (or
    /// `mnemonic`).
    fn from_str(s: &str) -> Result<Style, String> {
        match s {
            "llvm" => Ok(Style::Llvm),
            "xlated" | "bpftool" => Ok(Style::Xlated),
            "symbolic" | "strace" => Ok(Style::Symbolic),
            "conformance" | "mnemonic" => Ok(Style::Conformance),
            other => Err(format!(
                "unknown disassembly style `{other}` (llvm, xlated, symbolic, conformance)"
            )),
        }
    }
}

/// Disassembler settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisasmOptions {
    /// Output syntax.
    pub style: Style,
    /// LLVM style: immediates and offsets in hex, as llvm-objdump 19 prints them
    /// (`r0 = 0x1`, `(r10 - 0x8)`); decimal otherwise, as `llvm-mc` prints them.
    pub hex: bool,
    /// LLVM style: name 32-bit registers `wN` in 8/16/32-bit loads, stores and 32-bit atomics,
    /// as `llvm-objdump --mcpu=v4` (ALU32 enabled) does. Without it, loads and stores print
    /// `rN`, as plain `llvm-objdump -d` does.
    pub alu32: bool,
    /// LLVM style: prefix each line with the slot number and the raw bytes, like
    /// `llvm-objdump -d` (`       0:\tb7 00 00 00 01 00 00 00\tr0 = 0x1`).
    pub raw_bytes: bool,
    /// LLVM style: prefix each line with the slot number only, like
    /// `llvm-objdump -d --no-show-raw-insn` (`       0:\tr0 = 0x1`). Implied by `raw_bytes`.
    pub slot_numbers: bool,
    /// LLVM style: annotate jump targets with `<symbol+0xOFFSET>` (byte offset from the
    /// start of the program), as `llvm-objdump` does when the section has a symbol.
    pub symbol: Option<String>,
}

impl DisasmOptions {
    /// Defaults for a style: hex immediates and `w` registers as `llvm-objdump-19 -d
    /// --mcpu=v4` prints them, no raw bytes, no symbol.
    pub fn new(style: Style) -> Self {
        DisasmOptions {
            style,
            hex: true,
            alu32: true,
            raw_bytes: false,
            slot_numbers: false,
            symbol: None,
        }
    }
}

impl Default for DisasmOptions {
    fn default() -> Self {
        DisasmOptions::new(Style::Llvm)
    }
}

/// Decodes wire bytes and disassembles them (see [`disassemble`]).
pub fn disassemble_bytes(bytes: &[u8], opts: &DisasmOptions) -> Result<String, DecodeError> {
    Ok(disassemble(&decode(bytes)?, opts))
}

/// Disassembles a decoded program, one instruction per line (for [`Style::Symbolic`], one
/// slot per line), each line ending in `\n`.
pub fn disassemble(insns: &[Located], opts: &DisasmOptions) -> String {
    if opts.style == Style::Xlated {
        return xlated::disassemble_xlated(insns, &xlated::BpftoolHooks);
    }
    let mut out = String::new();
    for l in insns {
        let text = fmt_insn(&l.insn, l.slot, opts);
        match opts.style {
            Style::Llvm if opts.raw_bytes => {
                let mut bytes = Vec::with_capacity(16);
                l.insn.encode_into(&mut bytes);
                let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(out, "{:>8}:\t{}\t{}", l.slot, hex.join(" "), text);
            }
            Style::Llvm if opts.slot_numbers => {
                let _ = writeln!(out, "{:>8}:\t{}", l.slot, text);
            }
            Style::Symbolic => {
                for part in symbolic_slots(&l.insn) {
                    out.push_str(&part);
                    out.push('\n');
                }
            }
            _ => {
                out.push_str(&text);
                out.push('\n');
            }
        }
    }
    out
}

/// Formats one instruction (without slot or bytes columns). `slot` is where it starts; it is
/// used for jump target annotations and by [`Style::Xlated`]'s helper names.
pub fn fmt_insn(insn: &Insn, slot: usize, opts: &DisasmOptions) -> String {
    match opts.style {
        Style::Llvm => llvm(insn, slot, opts),
        Style::Xlated => xlated::fmt_xlated(insn, slot, &xlated::BpftoolHooks),
        Style::Symbolic => symbolic_slots(insn).join(", "),
        Style::Conformance => mnemonic(insn),
    }
}

// ---------------------------------------------------------------------------------------------
// LLVM syntax

/// A signed number as llvm-objdump prints it: `0x10`, `-0x10` (hex) or `16`, `-16`.
fn num(v: i64, hex: bool) -> String {
    match (hex, v < 0) {
        (true, false) => format!("{v:#x}"),
        (true, true) => format!("-{:#x}", (v as i128).unsigned_abs()),
        (false, _) => v.to_string(),
    }
}

/// `+0x3` / `-0x3` for relative targets.
fn rel(v: i64, hex: bool) -> String {
    if v < 0 {
        num(v, hex)
    } else {
        format!("+{}", num(v, hex))
    }
}

fn mem_operand(base: Reg, off: i16, hex: bool) -> String {
    let (sign, mag) = if off < 0 {
        ('-', -(off as i64))
    } else {
        ('+', off as i64)
    };
    format!("({base} {sign} {})", num(mag, hex))
}

fn reg_w(r: Reg, width: Width) -> String {
    match width {
        Width::W64 => format!("r{}", r.num()),
        Width::W32 => format!("w{}", r.num()),
    }
}

fn alu_op_str(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div => "/=",
        AluOp::Sdiv => "s/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod => "%=",
        AluOp::Smod => "s%=",
        AluOp::Xor => "^=",
        AluOp::Mov => "=",
        AluOp::Arsh => "s>>=",
    }
}

pub(crate) fn cond_str(c: JmpCond) -> &'static str {
    match c {
        JmpCond::Eq => "==",
        JmpCond::Gt => ">",
        JmpCond::Ge => ">=",
        JmpCond::Set => "&",
        JmpCond::Ne => "!=",
        JmpCond::Sgt => "s>",
        JmpCond::Sge => "s>=",
        JmpCond::Lt => "<",
        JmpCond::Le => "<=",
        JmpCond::Slt => "s<",
        JmpCond::Sle => "s<=",
    }
}

pub(crate) fn atomic_name(op: AtomicOp) -> &'static str {
    match op {
        AtomicOp::Add => "add",
        AtomicOp::Or => "or",
        AtomicOp::And => "and",
        AtomicOp::Xor => "xor",
        AtomicOp::Xchg => "xchg",
        AtomicOp::Cmpxchg => "cmpxchg",
    }
}

fn swap_name(order: ByteOrder) -> &'static str {
    match order {
        ByteOrder::ToLe => "le",
        ByteOrder::ToBe => "be",
        ByteOrder::Swap => "bswap",
    }
}

/// The pseudo `lddw` operand in bpftool's spelling, or `pseudo(SRC, IMM64)` when the
/// instruction carries fields that spelling cannot show. `func_rel` formats `subprog[...]`.
fn pseudo_text(pseudo: LdPseudo, imm: i32, imm2: i32, hex: bool) -> String {
    let (u, u2) = (imm as u32, imm2 as u32);
    match (pseudo, imm2) {
        (LdPseudo::MapFd, 0) => format!("map[fd:{u}]"),
        (LdPseudo::MapValue, _) => format!("map[fd:{u}][0]+{u2}"),
        (LdPseudo::MapIdx, 0) => format!("map[idx:{u}]"),
        (LdPseudo::MapIdxValue, _) => format!("map[idx:{u}]+{u2}"),
        (LdPseudo::BtfId, 0) => format!("btf_id[{u}]"),
        (LdPseudo::Func, 0) => format!("subprog[{}]", rel(imm as i64, hex)),
        _ => format!("pseudo({}, {:#x})", pseudo.src(), Insn::imm64(imm, imm2)),
    }
}

fn llvm(insn: &Insn, slot: usize, o: &DisasmOptions) -> String {
    let hex = o.hex;
    // Register spelling for the data operand of sub-64-bit memory accesses.
    let data_reg = |r: Reg, size: Size| {
        if o.alu32 && size != Size::DW {
            reg_w(r, Width::W32)
        } else {
            r.to_string()
        }
    };
    let target = |off: i64| {
        let mut s = rel(off, hex);
        if let Some(sym) = &o.symbol {
            let bytes = (slot as i64 + 1 + off) * SLOT_SIZE as i64;
            // llvm-objdump prints the target's offset from the symbol as unsigned 64-bit.
            match bytes {
                0 => {
                    let _ = write!(s, " <{sym}>");
                }
                b => {
                    let _ = write!(s, " <{sym}+{:#x}>", b as u64);
                }
            }
        }
        s
    };
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let src = match src {
                Src::Reg(s) => reg_w(s, width),
                Src::Imm(i) => num(i as i64, hex),
            };
            format!("{} {} {}", reg_w(dst, width), alu_op_str(op), src)
        }
        Insn::Neg { width, dst } => format!("{0} = -{0}", reg_w(dst, width)),
        Insn::MovSx {
            width,
            dst,
            src,
            bits,
        } => format!("{} = (s{bits}){}", reg_w(dst, width), reg_w(src, width)),
        Insn::End { order, dst, bits } => format!("{dst} = {}{bits} {dst}", swap_name(order)),
        Insn::LdImm64 {
            dst,
            pseudo: LdPseudo::Imm,
            imm,
            imm2,
        } => format!("{dst} = {} ll", num(Insn::imm64(imm, imm2) as i64, hex)),
        Insn::LdImm64 {
            dst,
            pseudo,
            imm,
            imm2,
        } => format!("{dst} = {}", pseudo_text(pseudo, imm, imm2, hex)),
        Insn::LdAbs { size, imm } => {
            format!("r0 = *({} *)skb[{}]", size.c_name(), num(imm as i64, hex))
        }
        Insn::LdInd { size, src, imm } => match imm {
            0 => format!("r0 = *({} *)skb[{src}]", size.c_name()),
            i if i < 0 => format!(
                "r0 = *({} *)skb[{src} - {}]",
                size.c_name(),
                num(-(i as i64), hex)
            ),
            i => format!(
                "r0 = *({} *)skb[{src} + {}]",
                size.c_name(),
                num(i as i64, hex)
            ),
        },
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => format!(
            "{} = *({} *){}",
            data_reg(dst, size),
            size.c_name(),
            mem_operand(src, off, hex)
        ),
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => format!(
            "{dst} = *(s{} *){}",
            size.bytes() * 8,
            mem_operand(src, off, hex)
        ),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => format!(
            "*({} *){} = {}",
            size.c_name(),
            mem_operand(dst, off, hex),
            num(imm as i64, hex)
        ),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => format!(
            "*({} *){} = {}",
            size.c_name(),
            mem_operand(dst, off, hex),
            data_reg(src, size)
        ),
        Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => {
            let w = if size == Size::DW {
                Width::W64
            } else {
                Width::W32
            };
            let m = mem_operand(dst, off, hex);
            let inner = &m[1..m.len() - 1];
            match (op, fetch) {
                (AtomicOp::Add | AtomicOp::Or | AtomicOp::And | AtomicOp::Xor, false) => {
                    let opstr = match op {
                        AtomicOp::Add => "+=",
                        AtomicOp::Or => "|=",
                        AtomicOp::And => "&=",
                        _ => "^=",
                    };
                    format!(
                        "lock *({} *){m} {opstr} {}",
                        size.c_name(),
                        data_reg(src, size)
                    )
                }
                (AtomicOp::Xchg, _) => {
                    let f = if w == Width::W64 {
                        "xchg_64"
                    } else {
                        "xchg32_32"
                    };
                    format!("{0} = {f}({inner}, {0})", reg_w(src, w))
                }
                (AtomicOp::Cmpxchg, _) => {
                    let f = if w == Width::W64 {
                        "cmpxchg_64"
                    } else {
                        "cmpxchg32_32"
                    };
                    format!(
                        "{0} = {f}({inner}, {0}, {1})",
                        reg_w(Reg::R0, w),
                        reg_w(src, w)
                    )
                }
                (_, true) => format!(
                    "{0} = atomic_fetch_{1}(({2} *){m}, {0})",
                    reg_w(src, w),
                    atomic_name(op),
                    size.c_name()
                ),
            }
        }
        Insn::Ja { off } => format!("goto {}", target(off as i64)),
        Insn::Gotol { imm } => format!("gotol {}", target(imm as i64)),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let src = match src {
                Src::Reg(s) => reg_w(s, width),
                Src::Imm(i) => num(i as i64, hex),
            };
            format!(
                "if {} {} {src} goto {}",
                reg_w(dst, width),
                cond_str(cond),
                target(off as i64)
            )
        }
        // Helper ids print unsigned and local calls always signed, so the two stay apart.
        Insn::Call(CallTarget::Helper(id)) => format!("call {}", num(id as u32 as i64, hex)),
        Insn::Call(CallTarget::Local(off)) => format!("call {}", rel(off as i64, hex)),
        Insn::Call(CallTarget::Kfunc(id)) => {
            format!("call kfunc {}", num(id as u32 as i64, hex))
        }
        Insn::Callx { reg } => format!("callx {reg}"),
        Insn::Exit => "exit".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// strace's symbolic form

fn class_name(op: u8) -> &'static str {
    [
        "BPF_LD",
        "BPF_LDX",
        "BPF_ST",
        "BPF_STX",
        "BPF_ALU",
        "BPF_JMP",
        "BPF_JMP32",
        "BPF_ALU64",
    ][(op & 7) as usize]
}

fn code_name(op: u8) -> String {
    let class = class_name(op);
    match op & 7 {
        0..=3 => {
            let size = ["BPF_W", "BPF_H", "BPF_B", "BPF_DW"][((op >> 3) & 3) as usize];
            let mode = match op & 0xe0 {
                0x00 => "BPF_IMM".to_string(),
                0x20 => "BPF_ABS".to_string(),
                0x40 => "BPF_IND".to_string(),
                0x60 => "BPF_MEM".to_string(),
                0x80 => "BPF_MEMSX".to_string(),
                0xc0 => "BPF_ATOMIC".to_string(),
                m => format!("{m:#x}"),
            };
            format!("{class}|{size}|{mode}")
        }
        cls => {
            let src = if op & 8 != 0 { "BPF_X" } else { "BPF_K" };
            let ops: [&str; 16] = if cls == 4 || cls == 7 {
                [
                    "BPF_ADD", "BPF_SUB", "BPF_MUL", "BPF_DIV", "BPF_OR", "BPF_AND", "BPF_LSH",
                    "BPF_RSH", "BPF_NEG", "BPF_MOD", "BPF_XOR", "BPF_MOV", "BPF_ARSH", "BPF_END",
                    "0xe0", "0xf0",
                ]
            } else {
                [
                    "BPF_JA", "BPF_JEQ", "BPF_JGT", "BPF_JGE", "BPF_JSET", "BPF_JNE", "BPF_JSGT",
                    "BPF_JSGE", "BPF_CALL", "BPF_EXIT", "BPF_JLT", "BPF_JLE", "BPF_JSLT",
                    "BPF_JSLE", "0xe0", "0xf0",
                ]
            };
            format!("{class}|{src}|{}", ops[(op >> 4) as usize])
        }
    }
}

fn symbolic_slot(b: &[u8; 8]) -> String {
    let off = i16::from_le_bytes([b[2], b[3]]);
    let imm = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let imm = if imm == 0 {
        "0".to_string()
    } else {
        format!("{imm:#x}")
    };
    format!(
        "{{code={}, dst_reg=BPF_REG_{}, src_reg=BPF_REG_{}, off={off}, imm={imm}}}",
        code_name(b[0]),
        b[1] & 0x0f,
        b[1] >> 4
    )
}

/// The strace form of each slot of the instruction (two for `lddw`).
fn symbolic_slots(insn: &Insn) -> Vec<String> {
    let (first, second) = insn.encode();
    let mut v = vec![symbolic_slot(&first)];
    if let Some(s) = second {
        v.push(symbolic_slot(&s));
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Conformance mnemonic syntax

fn alu_mnemonic(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "add",
        AluOp::Sub => "sub",
        AluOp::Mul => "mul",
        AluOp::Div => "div",
        AluOp::Sdiv => "sdiv",
        AluOp::Or => "or",
        AluOp::And => "and",
        AluOp::Lsh => "lsh",
        AluOp::Rsh => "rsh",
        AluOp::Mod => "mod",
        AluOp::Smod => "smod",
        AluOp::Xor => "xor",
        AluOp::Mov => "mov",
        AluOp::Arsh => "arsh",
    }
}

fn jmp_mnemonic(c: JmpCond) -> &'static str {
    match c {
        JmpCond::Eq => "jeq",
        JmpCond::Gt => "jgt",
        JmpCond::Ge => "jge",
        JmpCond::Set => "jset",
        JmpCond::Ne => "jne",
        JmpCond::Sgt => "jsgt",
        JmpCond::Sge => "jsge",
        JmpCond::Lt => "jlt",
        JmpCond::Le => "jle",
        JmpCond::Slt => "jslt",
        JmpCond::Sle => "jsle",
    }
}

fn suffix32(w: Width) -> &'static str {
    match w {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn size_letter(s: Size) -> &'static str {
    match s {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

fn m_mem(r: Reg, off: i16) -> String {
    if off < 0 {
        format!("[%{r}{off}]")
    } else {
        format!("[%{r}+{off}]")
    }
}

fn m_src(s: Src) -> String {
    match s {
        Src::Reg(r) => format!("%{r}"),
        Src::Imm(i) => i.to_string(),
    }
}

fn mnemonic(insn: &Insn) -> String {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => format!(
            "{}{} %{dst}, {}",
            alu_mnemonic(op),
            suffix32(width),
            m_src(src)
        ),
        Insn::Neg { width, dst } => format!("neg{} %{dst}", suffix32(width)),
        Insn::MovSx {
            width,
            dst,
            src,
            bits,
        } => {
            let w = if width == Width::W32 { 32 } else { 64 };
            format!("movsx{bits}{w} %{dst}, %{src}")
        }
        Insn::End { order, dst, bits } => format!("{}{bits} %{dst}", swap_name(order)),
        Insn::LdImm64 {
            dst,
            pseudo: LdPseudo::Imm,
            imm,
            imm2,
        } => format!("lddw %{dst}, {:#x}", Insn::imm64(imm, imm2)),
        Insn::LdImm64 {
            dst,
            pseudo,
            imm,
            imm2,
        } => format!("lddw %{dst}, {}", pseudo_text(pseudo, imm, imm2, false)),
        Insn::LdAbs { size, imm } => format!("ldabs{} {imm}", size_letter(size)),
        Insn::LdInd { size, src, imm } => format!("ldind{} %{src}, {imm}", size_letter(size)),
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => format!("ldx{} %{dst}, {}", size_letter(size), m_mem(src, off)),
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => format!("ldxs{} %{dst}, {}", size_letter(size), m_mem(src, off)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => format!("st{} {}, {imm}", size_letter(size), m_mem(dst, off)),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => format!("stx{} {}, %{src}", size_letter(size), m_mem(dst, off)),
        Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => {
            let f = if fetch && !matches!(op, AtomicOp::Xchg | AtomicOp::Cmpxchg) {
                "fetch "
            } else {
                ""
            };
            let w = if size == Size::W { "32" } else { "" };
            format!("lock {f}{}{w} {}, %{src}", atomic_name(op), m_mem(dst, off))
        }
        Insn::Ja { off } => format!("ja {}", rel(off as i64, false)),
        Insn::Gotol { imm } => format!("ja32 {}", rel(imm as i64, false)),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => format!(
            "{}{} %{dst}, {}, {}",
            jmp_mnemonic(cond),
            suffix32(width),
            m_src(src),
            rel(off as i64, false)
        ),
        // Negative ids in hex: `call -1` would read as a local call in the LLVM syntax.
        Insn::Call(CallTarget::Helper(id)) if id < 0 => format!("call {:#x}", id as u32),
        Insn::Call(CallTarget::Helper(id)) => format!("call {id}"),
        Insn::Call(CallTarget::Local(off)) => format!("call local {}", rel(off as i64, false)),
        Insn::Call(CallTarget::Kfunc(id)) => format!("call runtime {id}"),
        Insn::Callx { reg } => format!("call %{reg}"),
        Insn::Exit => "exit".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asm::assemble_located;

    #[test]
    fn strace_symbolic_form() {
        // The program strace shows for `bpf(BPF_PROG_LOAD, ...)` in its documentation.
        let prog = assemble_located(
            "r1 = 0x21\n*(u16 *)(r10 - 4) = r1\nr2 = r10\nr2 += -8\nr1 = map[fd:4]\ncall 3\nr0 = 0\nexit",
        )
        .unwrap();
        let text = disassemble(&prog, &DisasmOptions::new(Style::Symbolic));
        assert_eq!(
            text,
            "{code=BPF_ALU64|BPF_K|BPF_MOV, dst_reg=BPF_REG_1, src_reg=BPF_REG_0, off=0, imm=0x21}
{code=BPF_STX|BPF_H|BPF_MEM, dst_reg=BPF_REG_10, src_reg=BPF_REG_1, off=-4, imm=0}
{code=BPF_ALU64|BPF_X|BPF_MOV, dst_reg=BPF_REG_2, src_reg=BPF_REG_10, off=0, imm=0}
{code=BPF_ALU64|BPF_K|BPF_ADD, dst_reg=BPF_REG_2, src_reg=BPF_REG_0, off=0, imm=0xfffffff8}
{code=BPF_LD|BPF_DW|BPF_IMM, dst_reg=BPF_REG_1, src_reg=BPF_REG_1, off=0, imm=0x4}
{code=BPF_LD|BPF_W|BPF_IMM, dst_reg=BPF_REG_0, src_reg=BPF_REG_0, off=0, imm=0}
{code=BPF_JMP|BPF_K|BPF_CALL, dst_reg=BPF_REG_0, src_reg=BPF_REG_0, off=0, imm=0x3}
{code=BPF_ALU64|BPF_K|BPF_MOV, dst_reg=BPF_REG_0, src_reg=BPF_REG_0, off=0, imm=0}
{code=BPF_JMP|BPF_K|BPF_EXIT, dst_reg=BPF_REG_0, src_reg=BPF_REG_0, off=0, imm=0}
"
        );
        // fmt_insn joins the two slots of lddw.
        assert_eq!(
            fmt_insn(
                &prog[4].insn,
                prog[4].slot,
                &DisasmOptions::new(Style::Symbolic)
            ),
            "{code=BPF_LD|BPF_DW|BPF_IMM, dst_reg=BPF_REG_1, src_reg=BPF_REG_1, off=0, imm=0x4}, \
             {code=BPF_LD|BPF_W|BPF_IMM, dst_reg=BPF_REG_0, src_reg=BPF_REG_0, off=0, imm=0}"
        );
        let more = assemble_located(
            "lock *(u32 *)(r1 + 0) += w2\nr1 = *(s8 *)(r2 + 0)\nif w1 s< 5 goto -1\nr1 = be16 r1",
        )
        .unwrap();
        let lines: Vec<String> = more
            .iter()
            .map(|l| fmt_insn(&l.insn, l.slot, &DisasmOptions::new(Style::Symbolic)))
            .collect();
        assert!(lines[0]
            .starts_with("{code=BPF_STX|BPF_W|BPF_ATOMIC, dst_reg=BPF_REG_1, src_reg=BPF_REG_2"));
        assert!(lines[1].starts_with("{code=BPF_LDX|BPF_B|BPF_MEMSX,"));
        assert!(lines[2].starts_with("{code=BPF_JMP32|BPF_K|BPF_JSLT, dst_reg=BPF_REG_1, src_reg=BPF_REG_0, off=-1, imm=0x5}"));
        assert!(lines[3].starts_with("{code=BPF_ALU|BPF_X|BPF_END,"));
    }

    #[test]
    fn styles_by_name_and_bytes_entry_point() {
        assert_eq!("strace".parse::<Style>(), Ok(Style::Symbolic));
        assert_eq!("xlated".parse::<Style>(), Ok(Style::Xlated));
        assert!("intel".parse::<Style>().is_err());
        let opts = DisasmOptions::new(Style::Conformance);
        assert_eq!(
            disassemble_bytes(
                &[0xb4, 0x00, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0],
                &opts
            ),
            Ok("mov32 %r0, 1\nexit\n".to_string())
        );
        assert!(disassemble_bytes(&[0xff; 8], &opts).is_err());
    }

    #[test]
    fn raw_bytes_column_like_llvm_objdump() {
        let prog = assemble_located("r0 = 1\nr1 = 0x1122334455667788 ll\ngoto -3\nexit").unwrap();
        let opts = DisasmOptions {
            raw_bytes: true,
            symbol: Some("f".into()),
            ..DisasmOptions::default()
        };
        assert_eq!(
            disassemble(&prog, &opts),
            "       0:\tb7 00 00 00 01 00 00 00\tr0 = 0x1\n       1:\t18 01 00 00 88 77 66 55 00 00 00 00 44 33 22 11\tr1 = 0x1122334455667788 ll\n       3:\t05 00 fd ff 00 00 00 00\tgoto -0x3 <f+0x8>\n       4:\t95 00 00 00 00 00 00 00\texit\n"
        );
    }

    #[test]
    fn slot_column_like_no_show_raw_insn() {
        let prog = assemble_located("r8 = r1\nr1 = *(s8 *)(r8 + 3)\nexit").unwrap();
        let opts = DisasmOptions {
            slot_numbers: true,
            ..DisasmOptions::default()
        };
        // As `llvm-objdump -d --no-show-raw-insn` prints the start of testdata/prog.c.
        let text = disassemble(&prog, &opts);
        assert_eq!(
            text,
            "       0:\tr8 = r1\n       1:\tr1 = *(s8 *)(r8 + 0x3)\n       2:\texit\n"
        );
        assert_eq!(assemble_located(&text).unwrap(), prog);
    }

    #[test]
    fn pseudo_loads_in_both_syntaxes() {
        let conf = DisasmOptions::new(Style::Conformance);
        for (llvm, mnemonic) in [
            ("r1 = map[fd:5]", "lddw %r1, map[fd:5]"),
            ("r1 = map[fd:5][0]+16", "lddw %r1, map[fd:5][0]+16"),
            ("r2 = map[idx:1]", "lddw %r2, map[idx:1]"),
            ("r2 = map[idx:1]+4", "lddw %r2, map[idx:1]+4"),
            ("r3 = btf_id[9]", "lddw %r3, btf_id[9]"),
            ("r4 = subprog[-2]", "lddw %r4, subprog[-2]"),
            (
                "r5 = pseudo(3, 0x700000009)",
                "lddw %r5, pseudo(3, 0x700000009)",
            ),
        ] {
            let a = assemble_located(llvm).unwrap();
            let b = assemble_located(mnemonic).unwrap();
            assert_eq!(a, b, "{llvm}");
            assert_eq!(fmt_insn(&a[0].insn, 0, &conf), mnemonic);
            let dec = DisasmOptions {
                hex: false,
                ..DisasmOptions::new(Style::Llvm)
            };
            assert_eq!(fmt_insn(&a[0].insn, 0, &dec), llvm);
        }
    }
}
