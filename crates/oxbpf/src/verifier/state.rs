//! Abstract machine state: register types (kernel `enum bpf_reg_type`), register state
//! (`struct bpf_reg_state`), per-byte stack state (`STACK_INVALID`/`MISC`/`ZERO`/`SPILL`)
//! and call frames, with the kernel's log notation.

use super::scalar::Scalar;
use super::MapInfo;
use std::fmt::{self, Write};

/// Maximum stack size of one frame in bytes (kernel `MAX_BPF_STACK`).
pub const MAX_STACK: i64 = 512;
/// Maximum depth of BPF-to-BPF calls (kernel `MAX_CALL_FRAMES`).
pub const MAX_FRAMES: usize = 8;

/// What a register holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RegType {
    /// Never written (or clobbered by a call): reading it is an error.
    NotInit,
    /// A number; the register's `var` says which.
    Scalar,
    /// The program's context argument.
    PtrToCtx,
    /// A pointer into the stack of call frame `frame`.
    PtrToStack { frame: u8 },
    /// A pointer into a value of map `map` (index into [`super::VerifyConfig::maps`]).
    PtrToMapValue { map: u32 },
    /// `map_lookup_elem`'s result before the null check; `id` links copies.
    PtrToMapValueOrNull { map: u32 },
    /// A map handle (`lddw rX, map`).
    ConstPtrToMap { map: u32 },
    /// A map-in-map lookup's result before the null check: a handle to the inner map.
    PtrToMapOrNull { map: u32 },
    /// A pointer into the packet; bytes `[0, range)` past it (minus its offset) are proven
    /// to be inside the packet.
    PtrToPacket { range: u32 },
    /// A pointer into the packet's metadata area.
    PtrToPacketMeta { range: u32 },
    /// One past the packet's last byte.
    PtrToPacketEnd,
    /// A pointer to `size` bytes of memory: a ring buffer record (`ringbuf`), or the
    /// raw-memory program's input.
    PtrToMem { size: u32, ringbuf: bool },
    /// `ringbuf_reserve`'s result before the null check.
    PtrToMemOrNull { size: u32 },
    /// A subprogram's address (`ld_imm64` with `BPF_PSEUDO_FUNC`): instruction index of
    /// its first instruction. Only passed to callback-taking helpers.
    PtrToFunc { start: u32 },
    /// A map key handed to a `bpf_for_each_map_elem` callback (read-only).
    PtrToMapKey { map: u32 },
}

/// Map indices with this bit set name the inner map template of the map whose index is
/// in the other bits (a map-in-map lookup result).
pub const INNER_MAP: u32 = 1 << 31;

impl RegType {
    /// The kernel's short name (`reg_type_str`).
    pub fn name(&self) -> &'static str {
        match self {
            RegType::NotInit => "?",
            RegType::Scalar => "scalar",
            RegType::PtrToCtx => "ctx",
            RegType::PtrToStack { .. } => "fp",
            RegType::PtrToMapValue { .. } => "map_value",
            RegType::PtrToMapValueOrNull { .. } => "map_value_or_null",
            RegType::ConstPtrToMap { .. } => "map_ptr",
            RegType::PtrToMapOrNull { .. } => "map_ptr_or_null",
            RegType::PtrToPacket { .. } => "pkt",
            RegType::PtrToPacketMeta { .. } => "pkt_meta",
            RegType::PtrToPacketEnd => "pkt_end",
            RegType::PtrToMem { ringbuf: false, .. } => "mem",
            RegType::PtrToMem { ringbuf: true, .. } => "ringbuf_mem",
            RegType::PtrToMemOrNull { .. } => "ringbuf_mem_or_null",
            RegType::PtrToFunc { .. } => "func",
            RegType::PtrToMapKey { .. } => "map_key",
        }
    }

    /// Whether this is a pointer type.
    pub fn is_ptr(&self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }

    /// Whether this pointer may be null (must be checked before use).
    pub fn is_or_null(&self) -> bool {
        matches!(
            self,
            RegType::PtrToMapValueOrNull { .. }
                | RegType::PtrToMemOrNull { .. }
                | RegType::PtrToMapOrNull { .. }
        )
    }

    /// Whether this is a packet data or metadata pointer.
    pub fn is_pkt(&self) -> bool {
        matches!(
            self,
            RegType::PtrToPacket { .. } | RegType::PtrToPacketMeta { .. }
        )
    }
}

/// The state of one register (kernel `struct bpf_reg_state`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RegState {
    pub ty: RegType,
    /// Fixed offset of a pointer from its base.
    pub off: i32,
    /// A scalar's value, or a pointer's variable offset.
    pub var: Scalar,
    /// Links registers that must be narrowed together: copies of a nullable pointer,
    /// packet pointers with the same variable offset, copies of a scalar.
    pub id: u32,
    /// The acquired reference this pointer belongs to (ring buffer records), or 0.
    pub ref_obj_id: u32,
    /// A scalar whose exact range some safety check of an explored path depended on
    /// (kernel `precise`; only set in checkpoint states, see `precision`).
    pub precise: bool,
}

impl RegState {
    /// An uninitialised register.
    pub const NOT_INIT: RegState = RegState {
        ty: RegType::NotInit,
        off: 0,
        var: Scalar::UNKNOWN,
        id: 0,
        ref_obj_id: 0,
        precise: false,
    };

    /// A scalar with the given knowledge.
    pub const fn scalar(var: Scalar) -> RegState {
        RegState {
            ty: RegType::Scalar,
            off: 0,
            var,
            id: 0,
            ref_obj_id: 0,
            precise: false,
        }
    }

    /// An unknown scalar.
    pub const fn unknown() -> RegState {
        RegState::scalar(Scalar::UNKNOWN)
    }

    /// A pointer of type `ty` at offset 0.
    pub const fn ptr(ty: RegType) -> RegState {
        RegState {
            ty,
            off: 0,
            var: Scalar::constant(0),
            id: 0,
            ref_obj_id: 0,
            precise: false,
        }
    }

    /// Whether this is a scalar known to be zero.
    pub fn is_const_zero(&self) -> bool {
        self.ty == RegType::Scalar && self.var.as_const() == Some(0)
    }

    /// Kernel log notation, e.g. `ctx()`, `fp-8`, `pkt(off=8,r=8)`, `scalar(umax=255)`.
    pub fn display<'a>(&'a self, maps: &'a [MapInfo]) -> RegDisplay<'a> {
        RegDisplay { reg: self, maps }
    }
}

/// Formats a register in kernel notation.
pub struct RegDisplay<'a> {
    reg: &'a RegState,
    maps: &'a [MapInfo],
}

impl fmt::Display for RegDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.reg;
        let mut parts: Vec<String> = Vec::new();
        let map_desc = |m: u32| match self.maps.get(m as usize) {
            None if m & INNER_MAP != 0 => format!("map=inner({})", m & !INNER_MAP),
            Some(mi) => format!("map={m},ks={},vs={}", mi.key_size, mi.value_size),
            None => format!("map={m}"),
        };
        match r.ty {
            RegType::NotInit => return write!(f, "?"),
            RegType::Scalar => {
                // Kernel `print_reg_state`: precise scalars get a `P` prefix.
                if r.precise {
                    write!(f, "P")?;
                }
                if r.id != 0 && r.var.as_const().is_none() {
                    let s = r.var.to_string();
                    let inner = s
                        .strip_prefix("scalar(")
                        .and_then(|x| x.strip_suffix(')'))
                        .unwrap_or("");
                    return if inner.is_empty() {
                        write!(f, "scalar(id={})", r.id)
                    } else {
                        write!(f, "scalar(id={},{inner})", r.id)
                    };
                }
                return write!(f, "{}", r.var);
            }
            RegType::PtrToStack { .. } if r.var.as_const() == Some(0) => {
                return write!(f, "fp{}", r.off);
            }
            _ => {}
        }
        if r.id != 0 {
            parts.push(format!("id={}", r.id));
        }
        if r.ref_obj_id != 0 {
            parts.push(format!("ref_obj_id={}", r.ref_obj_id));
        }
        match r.ty {
            RegType::PtrToMapValue { map }
            | RegType::PtrToMapValueOrNull { map }
            | RegType::ConstPtrToMap { map }
            | RegType::PtrToMapOrNull { map }
            | RegType::PtrToMapKey { map } => parts.push(map_desc(map)),
            _ => {}
        }
        if r.off != 0 {
            parts.push(format!("off={}", r.off));
        }
        match r.ty {
            RegType::PtrToPacket { range } | RegType::PtrToPacketMeta { range } => {
                parts.push(format!("r={range}"))
            }
            RegType::PtrToMem { size, .. } | RegType::PtrToMemOrNull { size } => {
                parts.push(format!("sz={size}"))
            }
            _ => {}
        }
        if r.var.as_const() != Some(0) {
            let s = r.var.to_string();
            let inner = s
                .strip_prefix("scalar(")
                .and_then(|x| x.strip_suffix(')'))
                .unwrap_or("");
            if r.var.as_const().is_some() {
                parts.push(format!("var_off={}", r.var.var_off));
            } else if !inner.is_empty() {
                parts.push(inner.to_string());
            }
        }
        write!(f, "{}({})", r.ty.name(), parts.join(","))
    }
}

/// What one stack byte holds (kernel `enum bpf_stack_slot_type`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SlotByte {
    /// Never written.
    Invalid,
    /// Some data.
    Misc,
    /// Known zero.
    Zero,
    /// Part of a spilled register (the slot's `spilled` holds it).
    Spill,
}

/// One 8-byte stack slot. Byte 0 is the lowest address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StackSlot {
    pub bytes: [SlotByte; 8],
    /// The register spilled here when every byte is [`SlotByte::Spill`].
    pub spilled: Option<RegState>,
}

impl StackSlot {
    pub const INVALID: StackSlot = StackSlot {
        bytes: [SlotByte::Invalid; 8],
        spilled: None,
    };

    /// Whether a whole register is spilled here.
    pub fn spill(&self) -> Option<&RegState> {
        self.spilled
            .as_ref()
            .filter(|_| self.bytes == [SlotByte::Spill; 8])
    }

    /// The spilled register and how many low bytes of the slot it covers (8 for a full
    /// spill; fewer for a narrow spill of a scalar).
    pub fn spilled_part(&self) -> Option<(&RegState, usize)> {
        let r = self.spilled.as_ref()?;
        let k = self
            .bytes
            .iter()
            .take_while(|&&b| b == SlotByte::Spill)
            .count();
        (k > 0 && self.bytes[k..].iter().all(|&b| b != SlotByte::Spill)).then_some((r, k))
    }
}

/// One call frame (kernel `struct bpf_func_state`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Frame {
    pub regs: [RegState; 11],
    /// Slot `i` covers bytes `[-8(i+1), -8i)` below the frame pointer.
    pub stack: Vec<StackSlot>,
    /// Index of the call instruction that created this frame (0 for the main frame).
    pub callsite: usize,
    /// Index of the first instruction of the function.
    pub subprog: usize,
}

impl Frame {
    /// A fresh frame: everything uninitialised but `r10`.
    pub fn new(frameno: u8, callsite: usize, subprog: usize) -> Frame {
        let mut regs = [RegState::NOT_INIT; 11];
        regs[10] = RegState::ptr(RegType::PtrToStack { frame: frameno });
        Frame {
            regs,
            stack: Vec::new(),
            callsite,
            subprog,
        }
    }

    /// The slot covering stack offset `off` (negative) and the byte within it.
    pub fn slot_index(off: i64) -> (usize, usize) {
        let spi = ((-off - 1) / 8) as usize;
        let base = -8 * (spi as i64 + 1);
        (spi, (off - base) as usize)
    }

    /// The slot `spi`, growing the stack as needed.
    pub fn slot_mut(&mut self, spi: usize) -> &mut StackSlot {
        if self.stack.len() <= spi {
            self.stack.resize(spi + 1, StackSlot::INVALID);
        }
        &mut self.stack[spi]
    }

    /// The slot `spi` (invalid if never touched).
    pub fn slot(&self, spi: usize) -> StackSlot {
        self.stack.get(spi).copied().unwrap_or(StackSlot::INVALID)
    }
}

/// The whole verifier state on one path (kernel `struct bpf_verifier_state`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct VState {
    /// Call frames, innermost last.
    pub frames: Vec<Frame>,
    /// Acquired references not yet released: `(id, instruction index)`.
    pub refs: Vec<(u32, usize)>,
    /// The `bpf_spin_lock` held: `(map index, id of the map value pointer)` (kernel
    /// `active_locks`/`active_lock_ptr`).
    pub lock: Option<(u32, u32)>,
    /// Times a callback returned to its call site on this path (kernel
    /// `callback_unroll_depth`): the same state in another run of a callback is not an
    /// infinite loop. Pruning ignores it.
    pub callback_returns: u32,
}

impl VState {
    /// The innermost frame.
    pub fn cur(&self) -> &Frame {
        &self.frames[self.frames.len() - 1]
    }

    /// The innermost frame, mutably.
    pub fn cur_mut(&mut self) -> &mut Frame {
        let n = self.frames.len() - 1;
        &mut self.frames[n]
    }

    /// A register of the innermost frame.
    pub fn reg(&self, r: crate::isa::Reg) -> &RegState {
        &self.cur().regs[r.idx()]
    }

    /// A register of the innermost frame, mutably.
    pub fn reg_mut(&mut self, r: crate::isa::Reg) -> &mut RegState {
        &mut self.cur_mut().regs[r.idx()]
    }

    /// Applies `f` to every register and spilled register in every frame.
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut RegState)) {
        for fr in &mut self.frames {
            for r in &mut fr.regs {
                f(r);
            }
            for s in &mut fr.stack {
                if let Some(r) = s.spilled.as_mut() {
                    f(r);
                }
            }
        }
    }

    /// The innermost frame's initialised registers in kernel notation
    /// (`R1=ctx() R10=fp0`).
    pub fn regs_line(&self, maps: &[MapInfo]) -> String {
        let mut out = String::new();
        for (i, r) in self.cur().regs.iter().enumerate() {
            if r.ty != RegType::NotInit {
                let _ = write!(
                    out,
                    "{}R{}={}",
                    if out.is_empty() { "" } else { " " },
                    i,
                    r.display(maps)
                );
            }
        }
        for (spi, s) in self.cur().stack.iter().enumerate() {
            let off = -8 * (spi as i64 + 1);
            if let Some(r) = s.spill() {
                let _ = write!(out, " fp{off}={}", r.display(maps));
            } else if s.bytes != [SlotByte::Invalid; 8] {
                let t: String = s
                    .bytes
                    .iter()
                    .rev()
                    .map(|b| match b {
                        SlotByte::Invalid => '?',
                        SlotByte::Misc => 'm',
                        SlotByte::Zero => '0',
                        SlotByte::Spill => 'r',
                    })
                    .collect();
                let _ = write!(out, " fp{off}={t}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation() {
        let maps = [MapInfo {
            map_type: 2,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            flags: 0,
        }];
        let mut r = RegState::ptr(RegType::PtrToCtx);
        assert_eq!(r.display(&maps).to_string(), "ctx()");
        r.off = 4;
        assert_eq!(r.display(&maps).to_string(), "ctx(off=4)");
        let mut p = RegState::ptr(RegType::PtrToPacket { range: 8 });
        p.off = 8;
        assert_eq!(p.display(&maps).to_string(), "pkt(off=8,r=8)");
        let mut m = RegState::ptr(RegType::PtrToMapValueOrNull { map: 0 });
        m.id = 1;
        assert_eq!(
            m.display(&maps).to_string(),
            "map_value_or_null(id=1,map=0,ks=4,vs=8)"
        );
        let mut fp = RegState::ptr(RegType::PtrToStack { frame: 0 });
        fp.off = -8;
        assert_eq!(fp.display(&maps).to_string(), "fp-8");
        assert_eq!(
            RegState::scalar(Scalar::constant(5))
                .display(&maps)
                .to_string(),
            "5"
        );
        assert_eq!(RegState::unknown().display(&maps).to_string(), "scalar()");
        assert_eq!(Frame::slot_index(-8), (0, 0));
        assert_eq!(Frame::slot_index(-1), (0, 7));
        assert_eq!(Frame::slot_index(-9), (1, 7));
        assert_eq!(Frame::slot_index(-512), (63, 0));
    }
}
