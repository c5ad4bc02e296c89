//! Printing a value's bytes as JSON by its BTF type, the way bpftool's `btf_dumper`
//! prints map keys and values with `-j`: structs as objects of member names, integers
//! as numbers, bitfields and odd-sized integers as hex strings, char arrays holding a
//! printable NUL-terminated string as strings, other arrays as lists, enums by name,
//! VARs as `{"name": value}` and DATASECs as `{".bss": [{"counter": 1}]}`.

use serde_json::{Map, Number, Value};

use super::{Btf, BtfError, BtfKind, INT_BOOL, INT_CHAR, INT_SIGNED, MAX_NEST_DEPTH};

/// Bytes `[offset, offset + need)` of `data`, or a typed error naming the type.
fn slice(data: &[u8], id: u32, offset: usize, need: usize) -> Result<&[u8], BtfError> {
    offset
        .checked_add(need)
        .and_then(|end| data.get(offset..end))
        .ok_or(BtfError::ValueTooShort {
            id,
            offset,
            need,
            have: data.len(),
        })
}

/// Reads up to 16 bytes little-endian into a u128.
fn le_u128(b: &[u8]) -> u128 {
    b.iter()
        .take(16)
        .rev()
        .fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

/// bpftool prints bitfields and non-byte integers as a quoted hex number.
fn hex(v: u128) -> Value {
    Value::String(format!("{v:#x}"))
}

/// Extracts `bits` bits starting `bit_offset` bits into `bytes` (little-endian layout).
fn bits_of(bytes: &[u8], bit_offset: u32, bits: u32) -> u128 {
    let v = le_u128(bytes) >> bit_offset.min(127);
    if bits >= 128 {
        v
    } else {
        v & ((1u128 << bits) - 1)
    }
}

impl Btf {
    /// Prints the bytes of a value of type `id` as JSON like bpftool does.
    pub fn dump(&self, id: u32, data: &[u8]) -> Result<Value, BtfError> {
        // Overlapping members (unions, crafted BTF) can make the output far larger than
        // the value; bound the number of JSON nodes we build.
        let mut budget = data.len().saturating_mul(8).saturating_add(4096);
        self.dump_at(id, data, 0, 0, 0, &mut budget)
    }

    /// `bit_off` is the sub-byte bit offset carried into integers (legacy bitfields).
    fn dump_at(
        &self,
        id: u32,
        data: &[u8],
        offset: usize,
        bit_off: u32,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Value, BtfError> {
        if depth > MAX_NEST_DEPTH {
            return Err(BtfError::TooDeep { id });
        }
        *budget = budget
            .checked_sub(1)
            .ok_or(BtfError::OutputTooLarge { id })?;
        let t = self.type_by_id(id)?;
        match &t.kind {
            BtfKind::Int {
                size,
                encoding,
                offset: int_off,
                bits,
            } => {
                let size = *size as usize;
                let b = slice(data, id, offset, size)?;
                let bits = u32::from(*bits);
                if bit_off != 0 || *int_off != 0 || bits % 8 != 0 {
                    return Ok(hex(bits_of(b, bit_off + u32::from(*int_off), bits)));
                }
                let raw = le_u128(b);
                if bits == 128 || size > 8 {
                    return Ok(hex(raw));
                }
                if encoding & INT_BOOL != 0 {
                    return Ok(Value::Bool(raw != 0));
                }
                if encoding & INT_CHAR != 0 {
                    // bpftool writes the character, or `\u00XX` for unprintable ones,
                    // which is the same JSON string.
                    return Ok(Value::String(char::from(raw as u8).to_string()));
                }
                let shift = 128 - bits.clamp(8, 64);
                Ok(if encoding & INT_SIGNED != 0 {
                    Value::from((((raw << shift) as i128) >> shift) as i64)
                } else {
                    Value::from(raw as u64)
                })
            }
            BtfKind::Ptr { .. } => {
                let b = slice(data, id, offset, 8)?;
                Ok(Value::from(le_u128(b) as u64))
            }
            BtfKind::Float { size } => {
                let b = slice(data, id, offset, *size as usize)?;
                let v = match *size {
                    4 => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    8 => f64::from_bits(le_u128(b) as u64),
                    _ => return Ok(hex(le_u128(b))),
                };
                Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
            }
            BtfKind::Enum {
                size,
                signed,
                is64,
                values,
            } => {
                let size = *size as usize;
                let b = slice(data, id, offset, size)?;
                let raw = le_u128(b) as u64;
                let bits = (size.clamp(1, 8) * 8) as u32;
                let mask = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                if let Some(e) = values.iter().find(|e| e.value & mask == raw & mask) {
                    return Ok(Value::String(e.name.clone()));
                }
                // bpftool prints unmatched ENUM values as signed, ENUM64 by kind_flag.
                Ok(if *signed || !*is64 {
                    let shift = 64 - bits;
                    Value::from(((raw << shift) as i64) >> shift)
                } else {
                    Value::from(raw)
                })
            }
            BtfKind::Array { elem, len, .. } => {
                let esize = self.size_of(*elem)? as usize;
                if let Some(s) = self.as_c_string(*elem, *len, data, offset) {
                    return Ok(Value::String(s));
                }
                let total = esize.saturating_mul(*len as usize);
                slice(data, id, offset, total)?;
                let mut out = Vec::with_capacity((*len as usize).min(*budget));
                for i in 0..*len as usize {
                    out.push(self.dump_at(
                        *elem,
                        data,
                        offset + i * esize,
                        0,
                        depth + 1,
                        budget,
                    )?);
                }
                Ok(Value::Array(out))
            }
            BtfKind::Struct { size, members } | BtfKind::Union { size, members } => {
                slice(data, id, offset, *size as usize)?;
                let mut obj = Map::new();
                for m in members {
                    let byte = offset + (m.bit_offset / 8) as usize;
                    let sub = m.bit_offset % 8;
                    let v = if m.bitfield_size != 0 {
                        let need = (sub + m.bitfield_size).div_ceil(8) as usize;
                        let b = slice(data, id, byte, need)?;
                        hex(bits_of(b, sub, m.bitfield_size))
                    } else {
                        self.dump_at(m.type_id, data, byte, sub, depth + 1, budget)?
                    };
                    obj.insert(m.name.clone(), v);
                }
                Ok(Value::Object(obj))
            }
            BtfKind::Typedef { target }
            | BtfKind::Volatile { target }
            | BtfKind::Const { target }
            | BtfKind::Restrict { target }
            | BtfKind::TypeTag { target } => {
                self.dump_at(*target, data, offset, bit_off, depth + 1, budget)
            }
            BtfKind::Var { target, .. } => {
                let mut obj = Map::new();
                obj.insert(
                    t.name.clone(),
                    self.dump_at(*target, data, offset, 0, depth + 1, budget)?,
                );
                Ok(Value::Object(obj))
            }
            BtfKind::DataSec { vars, .. } => {
                let mut list = Vec::with_capacity(vars.len());
                for v in vars {
                    let at = offset + v.offset as usize;
                    list.push(self.dump_at(v.type_id, data, at, 0, depth + 1, budget)?);
                }
                let mut obj = Map::new();
                obj.insert(t.name.clone(), Value::Array(list));
                Ok(Value::Object(obj))
            }
            BtfKind::Fwd { .. } => Ok(Value::String("(fwd-kind-invalid)".into())),
            BtfKind::Void
            | BtfKind::Func { .. }
            | BtfKind::FuncProto { .. }
            | BtfKind::DeclTag { .. } => Ok(Value::String("(unsupported-kind)".into())),
        }
    }

    /// bpftool's `is_str_array`: an array of `char` (or BTF_INT_CHAR) bytes, through
    /// qualifiers but not typedefs, holding printable bytes up to a NUL.
    fn as_c_string(&self, elem: u32, len: u32, data: &[u8], offset: usize) -> Option<String> {
        if len == 0 {
            return None;
        }
        let mut cur = elem;
        for _ in 0..MAX_NEST_DEPTH {
            let t = self.type_by_id(cur).ok()?;
            match &t.kind {
                BtfKind::Volatile { target }
                | BtfKind::Const { target }
                | BtfKind::Restrict { target }
                | BtfKind::TypeTag { target } => cur = *target,
                BtfKind::Int {
                    size: 1, encoding, ..
                } if encoding & INT_CHAR != 0 || t.name == "char" => {
                    let bytes = data.get(offset..offset.checked_add(len as usize)?)?;
                    let end = bytes.iter().position(|&b| b == 0)?;
                    let s = &bytes[..end];
                    if s.iter().any(|&b| b <= 0x1f || b >= 0x7f) {
                        return None;
                    }
                    return Some(String::from_utf8_lossy(s).into_owned());
                }
                _ => return None,
            }
        }
        None
    }
}
