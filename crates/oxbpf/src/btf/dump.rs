//! The raw text listing of a BTF, line for line as `bpftool btf dump file X format raw`
//! prints it (`[1] PTR '(anon)' type_id=2`, members indented by a tab).

use std::fmt::Write;

use super::{Btf, BtfKind, Linkage, INT_BOOL, INT_CHAR, INT_SIGNED};

fn linkage(l: Linkage) -> &'static str {
    match l {
        Linkage::Static => "static",
        Linkage::Global => "global",
        Linkage::Extern => "extern",
        Linkage::Other(_) => "(unknown)",
    }
}

fn quoted(name: &str) -> String {
    if name.is_empty() {
        "'(anon)'".to_owned()
    } else {
        format!("'{name}'")
    }
}

impl Btf {
    /// All types in bpftool's raw format, one `[id] KIND 'name' ...` entry per type.
    pub fn format_raw(&self) -> String {
        let mut out = String::new();
        for (id, t) in self.types().iter().enumerate().skip(1) {
            // Writing to a String cannot fail.
            let _ = self.format_one(&mut out, id, t);
        }
        out
    }

    fn format_one(&self, out: &mut String, id: usize, t: &super::BtfType) -> std::fmt::Result {
        write!(out, "[{id}] {} {}", t.kind.name(), quoted(&t.name))?;
        match &t.kind {
            BtfKind::Void => {}
            BtfKind::Int {
                size,
                encoding,
                offset,
                bits,
            } => {
                let enc = match *encoding {
                    0 => "(none)",
                    INT_SIGNED => "SIGNED",
                    INT_CHAR => "CHAR",
                    INT_BOOL => "BOOL",
                    _ => "UNKN",
                };
                write!(
                    out,
                    " size={size} bits_offset={offset} nr_bits={bits} encoding={enc}"
                )?;
            }
            BtfKind::Ptr { target }
            | BtfKind::Typedef { target }
            | BtfKind::Volatile { target }
            | BtfKind::Const { target }
            | BtfKind::Restrict { target }
            | BtfKind::TypeTag { target } => write!(out, " type_id={target}")?,
            BtfKind::Array { elem, index, len } => {
                write!(out, " type_id={elem} index_type_id={index} nr_elems={len}")?
            }
            BtfKind::Struct { size, members } | BtfKind::Union { size, members } => {
                write!(out, " size={size} vlen={}", members.len())?;
                for m in members {
                    write!(
                        out,
                        "\n\t{} type_id={} bits_offset={}",
                        quoted(&m.name),
                        m.type_id,
                        m.bit_offset
                    )?;
                    if m.bitfield_size != 0 {
                        write!(out, " bitfield_size={}", m.bitfield_size)?;
                    }
                }
            }
            BtfKind::Enum {
                size,
                signed,
                is64,
                values,
            } => {
                let enc = if *signed { "SIGNED" } else { "UNSIGNED" };
                write!(out, " encoding={enc} size={size} vlen={}", values.len())?;
                for e in values {
                    let name = quoted(&e.name);
                    match (*is64, *signed) {
                        (false, true) => write!(out, "\n\t{name} val={}", e.value as i64)?,
                        (false, false) => write!(out, "\n\t{name} val={}", e.value)?,
                        (true, true) => write!(out, "\n\t{name} val={}LL", e.value as i64)?,
                        (true, false) => write!(out, "\n\t{name} val={}ULL", e.value)?,
                    }
                }
            }
            BtfKind::Fwd { is_union } => {
                let k = if *is_union { "union" } else { "struct" };
                write!(out, " fwd_kind={k}")?;
            }
            BtfKind::Func { proto, linkage: l } => {
                write!(out, " type_id={proto} linkage={}", linkage(*l))?
            }
            BtfKind::FuncProto { ret, params } => {
                write!(out, " ret_type_id={ret} vlen={}", params.len())?;
                for p in params {
                    write!(out, "\n\t{} type_id={}", quoted(&p.name), p.type_id)?;
                }
            }
            BtfKind::Var { target, linkage: l } => {
                write!(out, " type_id={target}, linkage={}", linkage(*l))?
            }
            BtfKind::DataSec { size, vars } => {
                write!(out, " size={size} vlen={}", vars.len())?;
                for v in vars {
                    let (kind, name) = self
                        .type_by_id(v.type_id)
                        .map_or(("UNKN", String::new()), |t| (t.kind.name(), t.name.clone()));
                    write!(
                        out,
                        "\n\ttype_id={} offset={} size={} ({kind} {})",
                        v.type_id,
                        v.offset,
                        v.size,
                        quoted(&name)
                    )?;
                }
            }
            BtfKind::Float { size } => write!(out, " size={size}")?,
            BtfKind::DeclTag {
                target,
                component_idx,
            } => write!(out, " type_id={target} component_idx={component_idx}")?,
        }
        out.push('\n');
        Ok(())
    }
}
