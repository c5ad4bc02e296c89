//! bpftool-style views of loaded programs: `prog dump xlated` with function headers from
//! BTF func info and source lines from BTF line info.

use crate::asm::{disassemble_xlated, BpftoolHooks, XlatedHooks};
use crate::btf::{Btf, BtfKind};
use crate::isa::LdPseudo;

use super::Program;

/// The C spelling of type `id` as bpftool's `btf_dump_type_only` gives it in function
/// headers: `int`, `struct xdp_md *`, `const char *`, `void`.
pub fn c_type_name(btf: &Btf, id: u32) -> String {
    c_type_depth(btf, id, 0)
}

fn c_type_depth(btf: &Btf, id: u32, depth: usize) -> String {
    if depth > 32 {
        return "?".into();
    }
    let Ok(t) = btf.type_by_id(id) else {
        return "?".into();
    };
    let named = |kw: &str| {
        if t.name.is_empty() {
            format!("{kw} (anon)")
        } else {
            format!("{kw} {}", t.name)
        }
    };
    match &t.kind {
        BtfKind::Void => "void".into(),
        BtfKind::Int { .. } | BtfKind::Float { .. } | BtfKind::Typedef { .. } => t.name.clone(),
        BtfKind::Struct { .. } => named("struct"),
        BtfKind::Union { .. } => named("union"),
        BtfKind::Enum { .. } => named("enum"),
        BtfKind::Fwd { is_union } => named(if *is_union { "union" } else { "struct" }),
        BtfKind::Ptr { target } => {
            let inner = c_type_depth(btf, *target, depth + 1);
            if inner.ends_with('*') {
                format!("{inner}*")
            } else {
                format!("{inner} *")
            }
        }
        BtfKind::Const { target } => format!("const {}", c_type_depth(btf, *target, depth + 1)),
        BtfKind::Volatile { target } => {
            format!("volatile {}", c_type_depth(btf, *target, depth + 1))
        }
        BtfKind::Restrict { target } | BtfKind::TypeTag { target } => {
            c_type_depth(btf, *target, depth + 1)
        }
        BtfKind::Array { elem, len, .. } => {
            format!("{}[{len}]", c_type_depth(btf, *elem, depth + 1))
        }
        BtfKind::FuncProto { .. }
        | BtfKind::Func { .. }
        | BtfKind::Var { .. }
        | BtfKind::DataSec { .. }
        | BtfKind::DeclTag { .. } => t.name.clone(),
    }
}

/// `int hello(struct xdp_md * ctx)`: a BTF FUNC as bpftool prints it above its code.
pub fn func_signature(btf: &Btf, func_id: u32) -> Option<String> {
    let f = btf.type_by_id(func_id).ok()?;
    let BtfKind::Func { proto, .. } = f.kind else {
        return None;
    };
    let BtfKind::FuncProto { ret, params } = &btf.type_by_id(proto).ok()?.kind else {
        return None;
    };
    let params: Vec<String> = params
        .iter()
        .map(|p| {
            if p.type_id == 0 && p.name.is_empty() {
                "...".to_string()
            } else {
                let ty = c_type_name(btf, p.type_id);
                if p.name.is_empty() {
                    ty
                } else {
                    format!("{ty} {}", p.name)
                }
            }
        })
        .collect();
    let params = if params.is_empty() {
        "void".to_string()
    } else {
        params.join(", ")
    };
    Some(format!("{} {}({params})", c_type_name(btf, *ret), f.name))
}

struct Hooks<'a> {
    prog: &'a Program,
    linum: bool,
}

impl XlatedHooks for Hooks<'_> {
    fn imm_operand(&self, slot: usize, pseudo: LdPseudo, imm: i32, imm2: i32) -> Option<String> {
        BpftoolHooks.imm_operand(slot, pseudo, imm, imm2)
    }

    fn line_info(&self, slot: usize) -> Option<String> {
        let l = self.prog.line_info.iter().find(|l| l.insn == slot)?;
        // bpftool skips the line's leading whitespace.
        let text = l.line.trim_start();
        if self.linum {
            Some(format!(
                "{text} [file:{} line_num:{} line_col:{}]",
                l.file_name, l.line_num, l.column
            ))
        } else {
            Some(text.to_string())
        }
    }

    fn func_header(&self, slot: usize) -> Option<String> {
        let btf = self.prog.btf.as_ref()?;
        let f = self.prog.func_info.iter().find(|f| f.insn == slot)?;
        func_signature(btf, f.type_id)
    }
}

impl Program {
    /// `bpftool prog dump xlated` of this program: map references as `map[id:N]`,
    /// function headers and `; source` lines from BTF (`linum` adds file, line and column).
    pub fn dump_xlated(&self, linum: bool) -> String {
        disassemble_xlated(&self.decoded(), &Hooks { prog: self, linum })
    }
}
