//! bpftool's `prog dump xlated` form, following the formatting rules of the kernel's
//! `print_bpf_insn` (kernel/bpf/disasm.c) and bpftool's callbacks:
//! `   0: (b7) r0 = 2`, `   1: (85) call bpf_trace_printk#6`, `   2: (18) r1 = map[id:5]`,
//! `   4: (65) if r1 s> 0x5 goto pc+3`, `   5: (7b) *(u64 *)(r10 -8) = r1`.
//!
//! ALU immediates print in decimal, jump immediates as 32-bit hex, memory offsets with an
//! explicit sign after a space (`(r10 -8)`), jump offsets as `pc+N`.

use super::disasm::{atomic_name, cond_str};
use crate::helpers::ids::helper_name;
use crate::isa::{
    AluOp, AtomicOp, ByteOrder, CallTarget, Insn, LdPseudo, Located, Reg, Size, Src, Width,
};
use std::fmt::Write;

/// Callbacks that supply what only the caller knows: map ids, function names, source lines.
/// Every method defaults to the kernel's own output when it returns `None`.
pub trait XlatedHooks {
    /// The whole operand of a `call` at `slot` (printed as `call {operand}`). `None` prints
    /// the kernel's default: `bpf_<helper>#<id>` (or `unknown#<id>`), `pc+<off>` for local
    /// calls, `kernel-function#<id>` for kfuncs.
    fn call_operand(&self, slot: usize, target: CallTarget) -> Option<String> {
        let _ = (slot, target);
        None
    }

    /// The right-hand side of a 64-bit immediate load at `slot`. `None` prints the kernel's
    /// default, the 64-bit value in hex.
    fn imm_operand(&self, slot: usize, pseudo: LdPseudo, imm: i32, imm2: i32) -> Option<String> {
        let _ = (slot, pseudo, imm, imm2);
        None
    }

    /// A source line to print (as `; line`) before the instruction at `slot`.
    fn line_info(&self, slot: usize) -> Option<String> {
        let _ = slot;
        None
    }

    /// A function header to print (as `name:`) before the instruction at `slot`.
    fn func_header(&self, slot: usize) -> Option<String> {
        let _ = slot;
        None
    }
}

/// bpftool's defaults: maps as `map[id:N]`, `map[id:N][0]+OFF`, `map[idx:N]+OFF`, and
/// callback addresses as `subprog[+N]` (bpftool's `print_imm`).
#[derive(Clone, Copy, Debug, Default)]
pub struct BpftoolHooks;

impl XlatedHooks for BpftoolHooks {
    fn imm_operand(&self, _slot: usize, pseudo: LdPseudo, imm: i32, imm2: i32) -> Option<String> {
        match pseudo {
            LdPseudo::MapFd => Some(format!("map[id:{}]", imm as u32)),
            LdPseudo::MapValue => Some(format!("map[id:{}][0]+{}", imm as u32, imm2 as u32)),
            LdPseudo::MapIdxValue => Some(format!("map[idx:{}]+{}", imm as u32, imm2 as u32)),
            LdPseudo::Func => Some(format!("subprog[{imm:+}]")),
            LdPseudo::Imm | LdPseudo::BtfId | LdPseudo::MapIdx => None,
        }
    }
}

/// Disassembles a program in bpftool's `dump xlated` layout (`% 4d: (op) text` lines, with
/// the hooks' function headers and source lines before instructions).
pub fn disassemble_xlated(insns: &[Located], hooks: &dyn XlatedHooks) -> String {
    let mut out = String::new();
    for l in insns {
        if let Some(f) = hooks.func_header(l.slot) {
            let _ = writeln!(out, "{f}:");
        }
        if let Some(src) = hooks.line_info(l.slot) {
            let _ = writeln!(out, "; {src}");
        }
        let _ = writeln!(
            out,
            "{:4}: ({:02x}) {}",
            l.slot,
            l.insn.opcode(),
            fmt_xlated(&l.insn, l.slot, hooks)
        );
    }
    out
}

fn rw(r: Reg, w: Width) -> String {
    match w {
        Width::W64 => format!("r{}", r.num()),
        Width::W32 => format!("w{}", r.num()),
    }
}

/// `(r1 +4)`, `(r10 -8)`: the kernel prints offsets with `%+d` after a space.
fn kmem(r: Reg, off: i16) -> String {
    format!("({r} {off:+})")
}

fn kalu(op: AluOp) -> &'static str {
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

/// The text of one instruction in the xlated form, without the `N: (op)` prefix.
pub fn fmt_xlated(insn: &Insn, slot: usize, hooks: &dyn XlatedHooks) -> String {
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src: Src::Reg(s),
        } => format!("{} {} {}", rw(dst, width), kalu(op), rw(s, width)),
        Insn::Alu {
            width,
            op,
            dst,
            src: Src::Imm(i),
        } => format!("{} {} {i}", rw(dst, width), kalu(op)),
        Insn::Neg { width, dst } => format!("{0} = -{0}", rw(dst, width)),
        Insn::MovSx {
            width,
            dst,
            src,
            bits,
        } => format!("{} = (s{bits}){}", rw(dst, width), rw(src, width)),
        Insn::End { order, dst, bits } => {
            let name = match order {
                ByteOrder::ToLe => "le",
                ByteOrder::ToBe => "be",
                ByteOrder::Swap => "bswap",
            };
            format!("{dst} = {name}{bits} {dst}")
        }
        Insn::LdImm64 {
            dst,
            pseudo,
            imm,
            imm2,
        } => {
            let rhs = hooks
                .imm_operand(slot, pseudo, imm, imm2)
                .unwrap_or_else(|| format!("{:#x}", Insn::imm64(imm, imm2)));
            format!("{dst} = {rhs}")
        }
        Insn::LdAbs { size, imm } => format!("r0 = *({} *)skb[{imm}]", size.c_name()),
        Insn::LdInd { size, src, imm } => {
            format!("r0 = *({} *)skb[{src} + {imm}]", size.c_name())
        }
        Insn::Ldx {
            size,
            dst,
            src,
            off,
        } => format!("{dst} = *({} *){}", size.c_name(), kmem(src, off)),
        Insn::LdxSx {
            size,
            dst,
            src,
            off,
        } => format!("{dst} = *(s{} *){}", size.bytes() * 8, kmem(src, off)),
        Insn::St {
            size,
            dst,
            off,
            imm,
        } => format!("*({} *){} = {imm}", size.c_name(), kmem(dst, off)),
        Insn::Stx {
            size,
            dst,
            src,
            off,
        } => format!("*({} *){} = {src}", size.c_name(), kmem(dst, off)),
        Insn::Atomic {
            size,
            op,
            fetch,
            dst,
            src,
            off,
        } => {
            let ty = size.c_name();
            let m = kmem(dst, off);
            let bits = if size == Size::DW { "64" } else { "" };
            match (op, fetch) {
                (AtomicOp::Xchg, _) => format!("{src} = atomic{bits}_xchg(({ty} *){m}, {src})"),
                (AtomicOp::Cmpxchg, _) => {
                    format!("r0 = atomic{bits}_cmpxchg(({ty} *){m}, r0, {src})")
                }
                (_, true) => format!(
                    "{src} = atomic{bits}_fetch_{}(({ty} *){m}, {src})",
                    atomic_name(op)
                ),
                (_, false) => {
                    let o = match op {
                        AtomicOp::Or => "|=",
                        AtomicOp::And => "&=",
                        AtomicOp::Xor => "^=",
                        _ => "+=",
                    };
                    format!("lock *({ty} *){m} {o} {src}")
                }
            }
        }
        Insn::Ja { off } => format!("goto pc{off:+}"),
        Insn::Gotol { imm } => format!("gotol pc{imm:+}"),
        Insn::Jmp {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let s = match src {
                Src::Reg(r) => rw(r, width),
                Src::Imm(i) => format!("{:#x}", i as u32),
            };
            format!(
                "if {} {} {s} goto pc{off:+}",
                rw(dst, width),
                cond_str(cond)
            )
        }
        Insn::Call(t) => {
            let operand = hooks.call_operand(slot, t).unwrap_or_else(|| match t {
                CallTarget::Helper(id) => match helper_name(id) {
                    Some(n) => format!("bpf_{n}#{id}"),
                    None => format!("unknown#{id}"),
                },
                CallTarget::Local(off) => format!("pc{off:+}"),
                CallTarget::Kfunc(id) => format!("kernel-function#{id}"),
            });
            format!("call {operand}")
        }
        // The kernel has no xlated spelling for callx; use LLVM's.
        Insn::Callx { reg } => format!("callx {reg}"),
        Insn::Exit => "exit".to_string(),
    }
}
