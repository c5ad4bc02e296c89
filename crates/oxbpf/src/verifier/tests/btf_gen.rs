//! Minimal raw BTF for the kernel oracle: `func_info` for every subprogram (the kernel
//! wants it for callbacks) and a map value with a `struct bpf_spin_lock` (the kernel wants
//! BTF for maps used with `bpf_spin_lock`).

const BTF_MAGIC: u16 = 0xeb9f;
const KIND_INT: u32 = 1;
const KIND_STRUCT: u32 = 4;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;

/// Builds a BTF blob type by type; ids start at 1.
#[derive(Default)]
pub(super) struct BtfGen {
    types: Vec<u8>,
    strings: Vec<u8>,
    count: u32,
}

impl BtfGen {
    pub(super) fn new() -> BtfGen {
        BtfGen {
            strings: vec![0],
            ..BtfGen::default()
        }
    }

    fn name(&mut self, s: &str) -> u32 {
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn head(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
        let n = if name.is_empty() { 0 } else { self.name(name) };
        for w in [n, (kind << 24) | vlen, size_or_type] {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.count += 1;
        self.count
    }

    /// A 32-bit `int`-like integer type.
    pub(super) fn int(&mut self, name: &str, size: u32) -> u32 {
        let id = self.head(name, KIND_INT, 0, size);
        self.types.extend_from_slice(&(size * 8).to_le_bytes());
        id
    }

    /// A struct of `size` bytes with `(name, type, byte offset)` members.
    pub(super) fn structure(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
        let names: Vec<u32> = members.iter().map(|m| self.name(m.0)).collect();
        let id = self.head(name, KIND_STRUCT, members.len() as u32, size);
        for (m, n) in members.iter().zip(names) {
            for w in [n, m.1, m.2 * 8] {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
        }
        id
    }

    /// `int f(void)`, static: one per subprogram starting at the given slots; returns the
    /// `bpf_func_info` records.
    pub(super) fn funcs(&mut self, starts: &[usize]) -> Vec<u8> {
        let int = self.int("int", 4);
        let proto = self.head("", KIND_FUNC_PROTO, 0, int);
        let mut info = Vec::new();
        for (k, &s) in starts.iter().enumerate() {
            // Linkage (in vlen): 0 static, 1 global; the main program is global.
            let linkage = u32::from(k == 0);
            let id = self.head(&format!("f{k}"), KIND_FUNC, linkage, proto);
            info.extend_from_slice(&(s as u32).to_le_bytes());
            info.extend_from_slice(&id.to_le_bytes());
        }
        info
    }

    /// The raw blob: header, types, strings.
    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&BTF_MAGIC.to_le_bytes());
        b.push(1); // version
        b.push(0); // flags
        let (tl, sl) = (self.types.len() as u32, self.strings.len() as u32);
        for w in [24u32, 0, tl, tl, sl] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&self.types);
        b.extend_from_slice(&self.strings);
        b
    }
}
