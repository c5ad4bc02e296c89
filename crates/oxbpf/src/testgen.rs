//! Random program generation for differential testing (oxbpf against the kernel, the JIT
//! against the interpreter, the verifier against checked execution).
//!
//! Generated programs follow the raw-memory convention of `oxbpf run`: on entry `r1` points
//! to at least [`RESULT_BYTES`] bytes of writable memory. The program saves `r1` on the
//! stack, fills `r0`–`r9` and a stack area with random values, runs a random body (ALU32/64
//! incl. v4 forms, byte swaps, stack loads/stores of every size incl. sign-extending loads,
//! atomics on the stack, forward JMP/JMP32 branches in if/else diamonds), and finally stores
//! `r0`–`r9` to the memory at `r1 + 0 .. r1 + 80`, so one memory comparison compares every
//! register. Programs stay inside what the kernel verifier accepts as root: registers are
//! initialised before use, stack accesses are aligned and initialised, constant shift counts
//! are below the width, no division by a constant zero, no unreachable code.

use crate::isa::{
    AluOp, AtomicOp, ByteOrder, Insn, JmpCond, Located, Reg, Size, Src, Width, SLOT_SIZE,
};

/// Bytes of memory the epilogue writes: `r0`–`r9` as little-endian u64s.
pub const RESULT_BYTES: usize = 80;

/// The stack area the body may use: `[r10 + STACK_LO, r10 + STACK_HI)`.
const STACK_LO: i16 = -128;
const STACK_HI: i16 = -16;
/// Slot holding the saved `r1`.
const SAVED_R1: i16 = -8;

/// A small, fast, seedable PRNG (SplitMix64); good enough for test generation and free of
/// dependencies.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator with this seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// A value biased towards the edge cases of 32- and 64-bit arithmetic.
    pub fn interesting_u64(&mut self) -> u64 {
        const EDGES: [u64; 12] = [
            0,
            1,
            2,
            u64::MAX,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            i64::MIN as u64,
            i64::MAX as u64,
            0xff,
            0xffff_ffff_8000_0000,
        ];
        match self.below(4) {
            0 => self.pick(&EDGES),
            1 => self.below(64),
            2 => (self.next_u64() as i32) as i64 as u64,
            _ => self.next_u64(),
        }
    }

    /// A 32-bit immediate biased towards edge cases.
    pub fn interesting_i32(&mut self) -> i32 {
        self.interesting_u64() as i32
    }
}

/// What the generated body may contain.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Approximate number of body instructions.
    pub body_len: usize,
    /// Use ISA v4 instructions (sdiv/smod, movsx, sign-extending loads, bswap, gotol).
    pub v4: bool,
    /// Use atomic instructions on the stack.
    pub atomics: bool,
    /// Among those, the fetching forms (`atomic_fetch_*`, `xchg`, `cmpxchg`).
    pub fetch_atomics: bool,
    /// Use 32-bit conditional jumps.
    pub jmp32: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            body_len: 40,
            v4: true,
            atomics: true,
            fetch_atomics: true,
            jmp32: true,
        }
    }
}

/// Registers the body may read and write (`r10` is only a base).
const REGS: [Reg; 10] = [
    Reg::R0,
    Reg::R1,
    Reg::R2,
    Reg::R3,
    Reg::R4,
    Reg::R5,
    Reg::R6,
    Reg::R7,
    Reg::R8,
    Reg::R9,
];

/// A body element before jump offsets are known.
enum Item {
    Plain(Insn),
    /// Conditional jump to the end of the block `skip` items further.
    CondSkip {
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Src,
        skip: usize,
    },
    /// Unconditional jump over the next `skip` items (`gotol` when `long`).
    Skip {
        skip: usize,
        long: bool,
    },
}

struct Gen<'a> {
    rng: &'a mut Rng,
    cfg: &'a GenConfig,
}

impl Gen<'_> {
    fn reg(&mut self) -> Reg {
        self.rng.pick(&REGS)
    }

    fn width(&mut self) -> Width {
        if self.rng.chance(1, 2) {
            Width::W32
        } else {
            Width::W64
        }
    }

    fn alu(&mut self) -> Insn {
        let width = self.width();
        let dst = self.reg();
        let mut ops: Vec<AluOp> = AluOp::ALL.to_vec();
        if !self.cfg.v4 {
            ops.retain(|o| !matches!(o, AluOp::Sdiv | AluOp::Smod));
        }
        let op = self.rng.pick(&ops);
        let src = if self.rng.chance(1, 2) {
            Src::Reg(self.reg())
        } else {
            let bits = if width == Width::W64 { 64 } else { 32 };
            let mut imm = self.rng.interesting_i32();
            match op {
                AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => imm = self.rng.below(bits) as i32,
                AluOp::Div | AluOp::Mod | AluOp::Sdiv | AluOp::Smod if imm == 0 => imm = 3,
                _ => {}
            }
            Src::Imm(imm)
        };
        Insn::Alu {
            width,
            op,
            dst,
            src,
        }
    }

    fn stack_off(&mut self, size: Size) -> i16 {
        let n = size.bytes() as i16;
        let slots = (STACK_HI - STACK_LO) / n;
        STACK_LO + n * self.rng.below(slots as u64) as i16
    }

    fn size(&mut self) -> Size {
        self.rng.pick(&[Size::B, Size::H, Size::W, Size::DW])
    }

    fn one(&mut self) -> Insn {
        let v4 = self.cfg.v4;
        match self.rng.below(20) {
            0..=8 => self.alu(),
            9 => Insn::Neg {
                width: self.width(),
                dst: self.reg(),
            },
            10 => {
                let order = if v4 {
                    self.rng
                        .pick(&[ByteOrder::ToLe, ByteOrder::ToBe, ByteOrder::Swap])
                } else {
                    self.rng.pick(&[ByteOrder::ToLe, ByteOrder::ToBe])
                };
                Insn::End {
                    order,
                    dst: self.reg(),
                    bits: self.rng.pick(&[16, 32, 64]),
                }
            }
            11 if v4 => {
                let width = self.width();
                let bits = match width {
                    Width::W32 => self.rng.pick(&[8, 16]),
                    Width::W64 => self.rng.pick(&[8, 16, 32]),
                };
                Insn::MovSx {
                    width,
                    dst: self.reg(),
                    src: self.reg(),
                    bits,
                }
            }
            12 => Insn::ld_imm64(self.reg(), self.rng.interesting_u64()),
            13 | 14 => {
                let size = self.size();
                let off = self.stack_off(size);
                if self.rng.chance(1, 2) {
                    Insn::Stx {
                        size,
                        dst: Reg::R10,
                        src: self.reg(),
                        off,
                    }
                } else {
                    Insn::St {
                        size,
                        dst: Reg::R10,
                        off,
                        imm: self.rng.interesting_i32(),
                    }
                }
            }
            15 | 16 => {
                let size = self.size();
                let off = self.stack_off(size);
                let dst = self.reg();
                if v4 && size != Size::DW && self.rng.chance(1, 2) {
                    Insn::LdxSx {
                        size,
                        dst,
                        src: Reg::R10,
                        off,
                    }
                } else {
                    Insn::Ldx {
                        size,
                        dst,
                        src: Reg::R10,
                        off,
                    }
                }
            }
            17 if self.cfg.atomics => {
                let size = self.rng.pick(&[Size::W, Size::DW]);
                let ops: &[AtomicOp] = if self.cfg.fetch_atomics {
                    &[
                        AtomicOp::Add,
                        AtomicOp::Or,
                        AtomicOp::And,
                        AtomicOp::Xor,
                        AtomicOp::Xchg,
                        AtomicOp::Cmpxchg,
                    ]
                } else {
                    &[AtomicOp::Add, AtomicOp::Or, AtomicOp::And, AtomicOp::Xor]
                };
                let op = self.rng.pick(ops);
                let fetch = matches!(op, AtomicOp::Xchg | AtomicOp::Cmpxchg)
                    || (self.cfg.fetch_atomics && self.rng.chance(1, 2));
                Insn::Atomic {
                    size,
                    op,
                    fetch,
                    dst: Reg::R10,
                    src: self.reg(),
                    off: self.stack_off(size),
                }
            }
            _ => self.alu(),
        }
    }

    /// A block of about `len` items, possibly with nested diamonds.
    fn block(&mut self, len: usize, depth: u32, out: &mut Vec<Item>) {
        let mut left = len;
        while left > 0 {
            if depth < 3 && left >= 4 && self.rng.chance(1, 5) {
                // if (cond) { then } else { else }, laid out as
                //   if !cond goto else; then...; goto end; else: else...; end:
                let then_len = 1 + self.rng.below((left / 2) as u64) as usize;
                let else_len = self.rng.below(((left - then_len) / 2 + 1) as u64) as usize;
                let mut then_items = Vec::new();
                self.block(then_len, depth + 1, &mut then_items);
                let mut else_items = Vec::new();
                self.block(else_len, depth + 1, &mut else_items);
                let width = if self.cfg.jmp32 {
                    self.width()
                } else {
                    Width::W64
                };
                let cond = self.rng.pick(&JmpCond::ALL);
                let dst = self.reg();
                let src = if self.rng.chance(1, 2) {
                    Src::Reg(self.reg())
                } else {
                    Src::Imm(self.rng.interesting_i32())
                };
                let has_else = !else_items.is_empty();
                out.push(Item::CondSkip {
                    width,
                    cond,
                    dst,
                    src,
                    skip: then_items.len() + usize::from(has_else),
                });
                out.extend(then_items);
                if has_else {
                    let long = self.cfg.v4 && self.rng.chance(1, 3);
                    out.push(Item::Skip {
                        skip: else_items.len(),
                        long,
                    });
                    out.extend(else_items);
                }
                left = left.saturating_sub(then_len + else_len + 2);
            } else {
                out.push(Item::Plain(self.one()));
                left -= 1;
            }
        }
    }
}

/// Lays out items as instructions, turning item-count skips into slot offsets.
fn layout(items: &[Item]) -> Vec<Insn> {
    let slots_of = |it: &Item| match it {
        Item::Plain(i) => i.slots(),
        _ => 1,
    };
    // start slot of every item, plus the end.
    let mut start = Vec::with_capacity(items.len() + 1);
    let mut s = 0usize;
    for it in items {
        start.push(s);
        s += slots_of(it);
    }
    start.push(s);
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let rel = |skip: usize| (start[i + 1 + skip] - start[i + 1]) as i64;
            match *it {
                Item::Plain(insn) => insn,
                Item::CondSkip {
                    width,
                    cond,
                    dst,
                    src,
                    skip,
                } => Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off: rel(skip) as i16,
                },
                Item::Skip { skip, long } => {
                    if long {
                        Insn::Gotol {
                            imm: rel(skip) as i32,
                        }
                    } else {
                        Insn::Ja {
                            off: rel(skip) as i16,
                        }
                    }
                }
            }
        })
        .collect()
}

/// Generates one random program (see the module docs for its shape).
pub fn random_program(rng: &mut Rng, cfg: &GenConfig) -> Vec<Insn> {
    let mut prog = vec![Insn::Stx {
        size: Size::DW,
        dst: Reg::R10,
        src: Reg::R1,
        off: SAVED_R1,
    }];
    for r in REGS {
        prog.push(Insn::ld_imm64(r, rng.interesting_u64()));
    }
    let mut off = STACK_LO;
    while off < STACK_HI {
        prog.push(Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: rng.pick(&REGS),
            off,
        });
        off += 8;
    }
    let mut items = Vec::new();
    Gen { rng, cfg }.block(cfg.body_len, 0, &mut items);
    prog.extend(layout(&items));
    prog.extend(epilogue());
    prog
}

/// Stores `r0`–`r9` to the memory whose address was saved at entry, and exits with `r0`.
fn epilogue() -> Vec<Insn> {
    let mut e = vec![
        // r9 goes to the stack first; r9 then holds the memory pointer.
        Insn::Stx {
            size: Size::DW,
            dst: Reg::R10,
            src: Reg::R9,
            off: SAVED_R1 - 8,
        },
        Insn::Ldx {
            size: Size::DW,
            dst: Reg::R9,
            src: Reg::R10,
            off: SAVED_R1,
        },
    ];
    for r in &REGS[..9] {
        e.push(Insn::Stx {
            size: Size::DW,
            dst: Reg::R9,
            src: *r,
            off: 8 * r.num() as i16,
        });
    }
    e.push(Insn::Ldx {
        size: Size::DW,
        dst: Reg::R8,
        src: Reg::R10,
        off: SAVED_R1 - 8,
    });
    e.push(Insn::Stx {
        size: Size::DW,
        dst: Reg::R9,
        src: Reg::R8,
        off: 72,
    });
    e.push(Insn::Exit);
    e
}

/// Number of instructions before the body of a [`random_program`] (saving r1, filling
/// r0-r9 and the stack area).
pub const PROLOGUE_LEN: usize = 1 + REGS.len() + ((STACK_HI - STACK_LO) / 8) as usize;

/// Number of instructions [`random_program`] appends after the body.
pub const EPILOGUE_LEN: usize = 14;

/// Memory a program from [`with_checkpoint`] needs: the registers plus the hit marker.
pub const CHECKPOINT_MEM_BYTES: usize = RESULT_BYTES + 8;

/// A copy of a [`random_program`] output that, on reaching instruction `at` (an index
/// into the body, counted in instructions), stores `r0`–`r9` as the epilogue does, writes
/// 1 to the u64 at `RESULT_BYTES`, and exits. Comparing checkpointed runs of two engines
/// shows where they first disagree and whether each reached that point at all (the marker).
/// The checkpoint is `if r10 != 0 goto` (always taken, invisible to the registers), so
/// every instruction stays reachable for the kernel verifier.
pub fn with_checkpoint(prog: &[Insn], at: usize) -> Vec<Insn> {
    let located = locate(prog);
    let index_of_slot = |slot: i64| located.iter().position(|l| l.slot as i64 == slot);
    let jump_target = |i: usize| match located[i].insn {
        Insn::Call(_) => None,
        _ => located[i].target_slot().and_then(index_of_slot),
    };
    // New index of an old instruction (jumps to `at` land on the checkpoint).
    let moved = |old: usize| if old > at { old + 1 } else { old };
    let end = prog.len() + 1;
    let mut out: Vec<(Insn, Option<usize>)> = Vec::with_capacity(prog.len() + EPILOGUE_LEN + 2);
    for (i, insn) in prog.iter().enumerate() {
        if i == at {
            let cp = Insn::Jmp {
                width: Width::W64,
                cond: JmpCond::Ne,
                dst: Reg::R10,
                src: Src::Imm(0),
                off: 0,
            };
            out.push((cp, Some(end)));
        }
        out.push((*insn, jump_target(i).map(moved)));
    }
    let mut marked = epilogue();
    let exit = marked.pop();
    marked.push(Insn::St {
        size: Size::DW,
        dst: Reg::R9,
        off: RESULT_BYTES as i16,
        imm: 1,
    });
    marked.extend(exit);
    out.extend(marked.into_iter().map(|i| (i, None)));
    let plain: Vec<Insn> = out.iter().map(|(i, _)| *i).collect();
    let slots = locate(&plain);
    out.iter()
        .enumerate()
        .map(|(i, (insn, target))| {
            let Some(t) = *target else { return *insn };
            let rel = slots[t].slot as i64 - slots[i].slot as i64 - 1;
            match *insn {
                Insn::Ja { .. } => Insn::Ja { off: rel as i16 },
                Insn::Gotol { .. } => Insn::Gotol { imm: rel as i32 },
                Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    ..
                } => Insn::Jmp {
                    width,
                    cond,
                    dst,
                    src,
                    off: rel as i16,
                },
                other => other,
            }
        })
        .collect()
}

/// Encodes instructions to wire bytes.
pub fn to_bytes(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * SLOT_SIZE);
    for i in insns {
        i.encode_into(&mut out);
    }
    out
}

/// Instructions with their slot positions.
pub fn locate(insns: &[Insn]) -> Vec<Located> {
    let mut slot = 0;
    insns
        .iter()
        .map(|&insn| {
            let l = Located { slot, insn };
            slot += insn.slots();
            l
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa;

    #[test]
    fn checkpointed_programs_are_structurally_valid() {
        let mut rng = Rng::new(9);
        for _ in 0..200 {
            let p = random_program(&mut rng, &GenConfig::default());
            for at in [0, p.len() / 2, p.len() - EPILOGUE_LEN] {
                let c = with_checkpoint(&p, at);
                let decoded = isa::decode(&to_bytes(&c)).expect("decodes");
                isa::validate(&decoded).expect("valid");
            }
        }
    }

    #[test]
    fn generated_programs_are_structurally_valid() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let p = random_program(&mut rng, &GenConfig::default());
            let bytes = to_bytes(&p);
            let decoded = isa::decode(&bytes).expect("decodes");
            assert_eq!(decoded, locate(&p));
            isa::validate(&decoded).expect("valid");
        }
    }
}
