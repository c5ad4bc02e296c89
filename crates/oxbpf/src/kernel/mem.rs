//! Running conformance-style programs (`r1` = memory, `r2` = its length, full 64-bit `r0`)
//! in the kernel, as an oracle for the interpreter and JIT.
//!
//! # The approach
//! The kernel has no program type whose entry is "r1 = plain memory, r2 = length" and whose
//! test_run reports a 64-bit result, so [`run_program_with_mem`] wraps the program:
//!
//! * **Type: `BPF_PROG_TYPE_XDP`.** Its `test_run` copies `data_in` into a linear packet,
//!   runs once and copies the (possibly modified) packet back, with no protocol parsing
//!   (unlike `SCHED_CLS`/`SOCKET_FILTER`, whose skb test_run reads the Ethernet type and
//!   may pull headers). Packet pointers are the most permissive memory the verifier
//!   offers: after one bounds check, loads, stores (including `BPF_ST`), unaligned
//!   accesses and constant pointer arithmetic are accepted. The alternatives are worse:
//!   `BPF_PROG_TYPE_SYSCALL` gives `r1` as ctx, where the verifier forbids pointer
//!   arithmetic, `BPF_ST` and unaligned access; `RAW_TRACEPOINT` ctx is read-only.
//! * **Prologue** ([`PROLOGUE_SLOTS`] slots): loads `xdp_md.data`/`data_end`, checks
//!   `data + len(mem) <= data_end` (so the verifier knows the packet range covers `mem`),
//!   then sets `r1 = data`, `r2 = len(mem)`, `r3 = r4 = 0`. `r5`–`r9` stay uninitialised
//!   as at any kernel entry (the verifier rejects reads of them).
//! * **Epilogue** for the full 64-bit `r0`: the kernel's `retval` is only 32 bits, so every
//!   canonical `exit` of the main function (slots before the first bpf-to-bpf call or
//!   `BPF_PSEUDO_FUNC` target) is rewritten into a jump (`ja`, or `gotol` when the
//!   distance needs it) to an epilogue that stores `r0` into a one-entry array map
//!   (addressed directly with `lddw src=BPF_PSEUDO_MAP_VALUE`) and returns `XDP_PASS`.
//!   Subprogram exits are untouched, jumps and calls that cross the inserted epilogue
//!   are re-encoded. The epilogue keeps the verifier's "R0 !read_ok" check (it reads
//!   `r0`), uses no stack and adds no call frame, so stack and call-depth limits are
//!   those of the program itself.
//! * Memory shorter than an Ethernet header is zero-padded to 14 bytes because XDP
//!   test_run requires it; the program only sees `len(mem)` (its `r2`, and its packet
//!   range), and `mem_after` is cut back to `len(mem)`.
//!
//! The bpf_conformance libbpf plugin instead calls the program as a subprogram of a small
//! wrapper. That works too, but it spends one of the verifier's 8 call frames and verifies
//! the program's exits as subprogram returns (looser checks on `r0`) rather than as the
//! program's own exit. Redirecting exits keeps the program the verifier's main function,
//! at the cost of re-encoding the few jumps and calls that cross the epilogue.
//!
//! # Measured
//! On Linux 6.18 (x86-64, JIT on), of the 313 bpf_conformance tests 300 load and give the
//! expected 64-bit `r0`; the 13 rejected are the 12 `*-imm-high`/`*-imm-neg` shift tests
//! (verifier: "invalid shift") and `callx` ("unknown opcode 8d") — the same exclusions the
//! suite's own kernel CI makes. No test gave a different result.
//!
//! # What the kernel will reject (and the log says why)
//! Memory accesses the verifier cannot prove within `[r1, r1 + len)` — e.g. a variable
//! index without its own bounds check — atomics on memory (packet atomics are not
//! allowed), helpers XDP may not call, loops the verifier cannot bound. Verifier log
//! instruction indices are shifted by [`PROLOGUE_SLOTS`].

use std::os::fd::{AsFd, AsRawFd};

use super::map::{Map, MapCreate};
use super::prog::{ProgLoad, Program, TestRun};
use super::{KernelError, Result, MAP_TYPE_ARRAY, PROG_TYPE_XDP};

/// Largest memory [`run_program_with_mem`] accepts: XDP test_run keeps packets up to
/// `PAGE_SIZE - XDP_PACKET_HEADROOM - sizeof(skb_shared_info)` linear; longer ones go
/// into fragments the program cannot reach through `data`.
pub const MEM_RUN_MAX: usize = 3520;

/// Number of instruction slots the wrapper inserts before the program.
pub const PROLOGUE_SLOTS: usize = 9;

/// XDP test_run needs at least an Ethernet header of data.
const MIN_PACKET: usize = 14;

/// Return codes of the wrapper, distinct so a run that bypassed the epilogue shows.
const RET_OK: i32 = 2; // XDP_PASS
const RET_BOUNDS_FAILED: i32 = 0; // XDP_ABORTED

/// Result of running a program on memory in the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRun {
    /// The full 64-bit `r0` at the main function's exit.
    pub r0: u64,
    /// The memory after the run (same length as the input).
    pub mem_after: Vec<u8>,
}

/// Runs `prog_insns` (raw 8-byte slots, main function first) in the kernel with
/// `r1` = a copy of `mem`, `r2 = mem.len()`, and returns the 64-bit `r0` and the memory
/// afterwards. See the [module docs](crate::kernel::mem) for how, and for what the kernel
/// rejects; a rejection is [`KernelError::ProgRejected`] with the verifier log.
pub fn run_program_with_mem(prog_insns: &[u8], mem: &[u8]) -> Result<KernelRun> {
    if mem.len() > MEM_RUN_MAX {
        return Err(KernelError::MemRun {
            reason: format!("memory is {} bytes, at most {MEM_RUN_MAX}", mem.len()),
        });
    }
    let result_map = Map::create(&MapCreate {
        map_type: MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        name: "oxbpf_r0",
        ..MapCreate::default()
    })?;
    let wrapped = wrap(prog_insns, mem.len(), result_map.as_fd().as_raw_fd())?;
    let prog = Program::load(&ProgLoad {
        name: "oxbpf_mem_run",
        ..ProgLoad::new(PROG_TYPE_XDP, &wrapped)
    })?;
    let mut packet = mem.to_vec();
    packet.resize(mem.len().max(MIN_PACKET), 0);
    let out = prog.test_run(&TestRun {
        data_in: &packet,
        data_out_capacity: packet.len(),
        ..TestRun::default()
    })?;
    match out.retval as i32 {
        RET_OK => {}
        RET_BOUNDS_FAILED => {
            return Err(KernelError::MemRun {
                reason: "prologue bounds check failed: packet shorter than memory".into(),
            })
        }
        other => {
            return Err(KernelError::MemRun {
                reason: format!("wrapper returned {other}: an exit bypassed the epilogue"),
            })
        }
    }
    let value = result_map
        .lookup(&0u32.to_ne_bytes())?
        .ok_or_else(|| KernelError::MemRun {
            reason: "result map has no entry 0".into(),
        })?;
    let r0_bytes: [u8; 8] = value
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KernelError::MemRun {
            reason: format!("result value is {} bytes, expected 8", value.len()),
        })?;
    let mut mem_after = out.data_out;
    mem_after.truncate(mem.len());
    Ok(KernelRun {
        r0: u64::from_ne_bytes(r0_bytes),
        mem_after,
    })
}

/// Encodes one instruction slot (little-endian host, as the kernel expects on x86-64).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut s = [0u8; 8];
    s[0] = code;
    s[1] = (src << 4) | (dst & 0x0f);
    s[2..4].copy_from_slice(&off.to_le_bytes());
    s[4..8].copy_from_slice(&imm.to_le_bytes());
    s
}

// Opcodes used by the wrapper (class | size/op | mode/source).
const LDXW: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const STXDW: u8 = 0x7b; // BPF_STX | BPF_MEM | BPF_DW
const MOV64_REG: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const ADD64_IMM: u8 = 0x07; // BPF_ALU64 | BPF_ADD | BPF_K
const JGT_REG: u8 = 0x2d; // BPF_JMP | BPF_JGT | BPF_X
const JA: u8 = 0x05; // BPF_JMP | BPF_JA
const JA32: u8 = 0x06; // BPF_JMP32 | BPF_JA ("gotol": 32-bit offset in imm)
const CALL: u8 = 0x85; // BPF_JMP | BPF_CALL
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
const LDDW: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const CLASS_JMP: u8 = 0x05; // BPF_JMP
const CLASS_JMP32: u8 = 0x06; // BPF_JMP32
const PSEUDO_CALL: u8 = 1; // BPF_PSEUDO_CALL
const PSEUDO_FUNC: u8 = 4; // BPF_PSEUDO_FUNC
const PSEUDO_MAP_VALUE: u8 = 2; // BPF_PSEUDO_MAP_VALUE: imm = map fd, next imm = offset

/// Slots of the epilogue and of the bounds-fail block that follows it.
const EPILOGUE_SLOTS: usize = 5;
const FAIL_SLOTS: usize = 2;

/// Builds `[prologue][main function][epilogue][bounds-fail][subprograms]`. The epilogue
/// sits inside the main function because the verifier forbids jumps between
/// subprograms; every relative target that crosses the insertion point (calls into
/// subprograms, `BPF_PSEUDO_FUNC` addresses) is re-encoded. `map_fd` is the one-entry
/// array the epilogue stores `r0` into.
fn wrap(prog: &[u8], mem_len: usize, map_fd: i32) -> Result<Vec<u8>> {
    if prog.is_empty() || prog.len() % 8 != 0 {
        return Err(KernelError::InsnLength {
            name: "oxbpf_mem_run".into(),
            len: prog.len(),
        });
    }
    let len_imm = i32::try_from(mem_len).map_err(|_| KernelError::MemRun {
        reason: format!("memory length {mem_len} does not fit an immediate"),
    })?;
    let slots: Vec<[u8; 8]> = prog
        .chunks_exact(8)
        .map(|c| {
            let mut s = [0u8; 8];
            s.copy_from_slice(c);
            s
        })
        .collect();
    let n = slots.len();
    let main_end = main_function_end(&slots);
    // The kernel requires every function to end in an exit or a jump; once the epilogue
    // follows the main function it could no longer see a fall-through, so say it here.
    let last_main = last_insn_start(&slots, main_end);
    if !matches!(slots[last_main][0], EXIT | JA | JA32) {
        return Err(KernelError::MemRun {
            reason: format!(
                "main function's last instruction (slot {last_main}) is not an exit or \
                 jump (the kernel rejects this: 'last insn is not an exit or jmp')"
            ),
        });
    }
    let p = PROLOGUE_SLOTS as i64;
    let inserted = (EPILOGUE_SLOTS + FAIL_SLOTS) as i64;
    // New slot index of an old one (old may be out of range: the kernel then rejects).
    let remap = |old: i64| {
        if old < main_end as i64 {
            p + old
        } else {
            p + old + inserted
        }
    };
    let epilogue = p + main_end as i64;
    let fail = epilogue + EPILOGUE_SLOTS as i64;

    let mut out: Vec<[u8; 8]> = Vec::with_capacity(n + PROLOGUE_SLOTS + 16);
    out.push(insn(LDXW, 2, 1, 0, 0)); // r2 = xdp_md.data
    out.push(insn(LDXW, 3, 1, 4, 0)); // r3 = xdp_md.data_end
    out.push(insn(MOV64_REG, 4, 2, 0, 0)); // r4 = r2
    out.push(insn(ADD64_IMM, 4, 0, 0, len_imm)); // r4 += len(mem)
    out.push(insn(JGT_REG, 4, 3, jump_off16(4, fail)?, 0)); // if r4 > r3 goto fail
    out.push(insn(MOV64_REG, 1, 2, 0, 0)); // r1 = data
    out.push(insn(MOV64_IMM, 2, 0, 0, len_imm)); // r2 = len(mem)
    out.push(insn(MOV64_IMM, 3, 0, 0, 0)); // r3 = 0
    out.push(insn(MOV64_IMM, 4, 0, 0, 0)); // r4 = 0
    debug_assert_eq!(out.len(), PROLOGUE_SLOTS);

    let canonical_exit = insn(EXIT, 0, 0, 0, 0);
    let mut i = 0;
    while i < n {
        if i == main_end {
            out.extend_from_slice(&epilogue_block(map_fd));
        }
        let mut s = slots[i];
        let from = remap(i as i64);
        let src = s[1] >> 4;
        let off = i16::from_le_bytes([s[2], s[3]]) as i64;
        let imm = i32::from_le_bytes([s[4], s[5], s[6], s[7]]) as i64;
        let old_target = |rel: i64| i as i64 + 1 + rel;
        match s[0] {
            EXIT if i < main_end && s == canonical_exit => {
                s = match jump_off16(from, epilogue) {
                    Ok(off) => insn(JA, 0, 0, off, 0),
                    Err(_) => insn(JA32, 0, 0, 0, jump_off32(from, epilogue)?),
                };
            }
            EXIT => {}
            CALL if src == PSEUDO_CALL => {
                set_imm(&mut s, jump_off32(from, remap(old_target(imm)))?);
            }
            CALL => {}
            JA32 => set_imm(&mut s, jump_off32(from, remap(old_target(imm)))?),
            LDDW if src == PSEUDO_FUNC => {
                set_imm(&mut s, jump_off32(from, remap(old_target(imm)))?);
            }
            code if matches!(code & 0x07, CLASS_JMP | CLASS_JMP32) => {
                let new = jump_off16(from, remap(old_target(off)))?;
                s[2..4].copy_from_slice(&new.to_le_bytes());
            }
            _ => {}
        }
        out.push(s);
        // The second slot of a lddw is data, never an instruction.
        if s[0] == LDDW && i + 1 < n {
            out.push(slots[i + 1]);
            i += 1;
        }
        i += 1;
    }
    if main_end == n {
        out.extend_from_slice(&epilogue_block(map_fd));
    }
    Ok(out.concat())
}

/// Stores `r0` into entry 0 of the result map and returns [`RET_OK`]; then the
/// bounds-fail block returning [`RET_BOUNDS_FAILED`].
fn epilogue_block(map_fd: i32) -> [[u8; 8]; EPILOGUE_SLOTS + FAIL_SLOTS] {
    [
        insn(LDDW, 1, PSEUDO_MAP_VALUE, 0, map_fd), // r1 = &result_map[0]
        insn(0, 0, 0, 0, 0),                        //   (offset 0 into the value)
        insn(STXDW, 1, 0, 0, 0),                    // *(u64 *)(r1 + 0) = r0
        insn(MOV64_IMM, 0, 0, 0, RET_OK),           // r0 = XDP_PASS
        insn(EXIT, 0, 0, 0, 0),
        // Bounds-check failure: XDP_ABORTED without touching the result map.
        insn(MOV64_IMM, 0, 0, 0, RET_BOUNDS_FAILED),
        insn(EXIT, 0, 0, 0, 0),
    ]
}

fn set_imm(s: &mut [u8; 8], imm: i32) {
    s[4..8].copy_from_slice(&imm.to_le_bytes());
}

/// Start slot of the last instruction before `end` (stepping over lddw's second slot).
fn last_insn_start(slots: &[[u8; 8]], end: usize) -> usize {
    let mut i = 0;
    let mut last = 0;
    while i < end {
        last = i;
        i += if slots[i][0] == LDDW { 2 } else { 1 };
    }
    last
}

/// First slot that starts a subprogram (a `BPF_PSEUDO_CALL` or `BPF_PSEUDO_FUNC`
/// target); the main function is everything before it.
fn main_function_end(slots: &[[u8; 8]]) -> usize {
    let n = slots.len();
    let mut end = n;
    let mut i = 0;
    while i < n {
        let s = slots[i];
        let src = s[1] >> 4;
        let imm = i32::from_le_bytes([s[4], s[5], s[6], s[7]]) as i64;
        let is_target =
            (s[0] == CALL && src == PSEUDO_CALL) || (s[0] == LDDW && src == PSEUDO_FUNC);
        if is_target {
            let target = i as i64 + 1 + imm;
            if target > 0 && (target as usize) < end {
                end = target as usize;
            }
        }
        i += if s[0] == LDDW { 2 } else { 1 };
    }
    end
}

fn jump_off32(from: i64, to: i64) -> Result<i32> {
    i32::try_from(to - from - 1).map_err(|_| KernelError::MemRun {
        reason: format!("jump from slot {from} to {to} out of range"),
    })
}

fn jump_off16(from: i64, to: i64) -> Result<i16> {
    i16::try_from(to - from - 1).map_err(|_| KernelError::MemRun {
        reason: format!("jump from slot {from} to {to} needs more than 16 bits"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const JEQ_IMM: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K

    fn slots(bytes: &[u8]) -> Vec<[u8; 8]> {
        bytes
            .chunks_exact(8)
            .map(|c| c.try_into().expect("8-byte chunk"))
            .collect()
    }

    #[test]
    fn epilogue_follows_main_and_calls_into_subprograms_are_reencoded() {
        // main = [call sub; exit], sub (old slot 2) = [r0 = 7; exit].
        let prog = [
            insn(CALL, 0, PSEUDO_CALL, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
            insn(MOV64_IMM, 0, 0, 0, 7),
            insn(EXIT, 0, 0, 0, 0),
        ]
        .concat();
        assert_eq!(main_function_end(&slots(&prog)), 2);
        let w = slots(&wrap(&prog, 4, 99).expect("wraps"));
        let p = PROLOGUE_SLOTS;
        let inserted = EPILOGUE_SLOTS + FAIL_SLOTS;
        assert_eq!(w.len(), p + 4 + inserted);
        // The call now skips the epilogue: target p + 2 + inserted.
        assert_eq!(
            w[p],
            insn(CALL, 0, PSEUDO_CALL, 0, (2 + inserted - 1) as i32)
        );
        // Main's exit jumps to the epilogue right after it.
        assert_eq!(w[p + 1], insn(JA, 0, 0, 0, 0));
        assert_eq!(w[p + 2], insn(LDDW, 1, PSEUDO_MAP_VALUE, 0, 99));
        // The subprogram and its exit are unchanged.
        assert_eq!(w[p + 2 + inserted], insn(MOV64_IMM, 0, 0, 0, 7));
        assert_eq!(w[p + 3 + inserted], insn(EXIT, 0, 0, 0, 0));
        // The prologue's bounds check lands on the fail block.
        let jgt = w[4];
        let off = i16::from_le_bytes([jgt[2], jgt[3]]) as usize;
        assert_eq!(w[4 + 1 + off], insn(MOV64_IMM, 0, 0, 0, RET_BOUNDS_FAILED));
    }

    #[test]
    fn jumps_inside_functions_keep_their_offsets() {
        // main: if r1 == 0 goto +1; r0 = 1; exit
        let prog = [
            insn(JEQ_IMM, 1, 0, 1, 0),
            insn(MOV64_IMM, 0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
        ]
        .concat();
        let w = slots(&wrap(&prog, 0, 3).expect("wraps"));
        assert_eq!(w[PROLOGUE_SLOTS], insn(JEQ_IMM, 1, 0, 1, 0));
    }

    #[test]
    fn main_falling_through_is_refused() {
        let prog = insn(MOV64_IMM, 0, 0, 0, 1).to_vec();
        assert!(matches!(wrap(&prog, 0, 3), Err(KernelError::MemRun { .. })));
    }

    #[test]
    fn lddw_upper_half_is_not_mistaken_for_exit() {
        // lddw whose second slot happens to look like an exit opcode.
        let prog = [
            insn(LDDW, 0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
            insn(EXIT, 0, 0, 0, 0),
        ]
        .concat();
        let w = slots(&wrap(&prog, 0, 3).expect("wraps"));
        assert_eq!(w[PROLOGUE_SLOTS + 1], insn(EXIT, 0, 0, 0, 0));
        assert_eq!(w[PROLOGUE_SLOTS + 2], insn(JA, 0, 0, 0, 0));
    }

    #[test]
    fn non_canonical_exit_is_left_for_the_verifier() {
        let prog = [insn(EXIT, 0, 0, 0, 5), insn(EXIT, 0, 0, 0, 0)].concat();
        let w = slots(&wrap(&prog, 0, 3).expect("wraps"));
        assert_eq!(w[PROLOGUE_SLOTS], insn(EXIT, 0, 0, 0, 5));
    }

    #[test]
    fn ragged_program_is_an_error() {
        assert!(matches!(
            wrap(&[0u8; 12], 0, 3),
            Err(KernelError::InsnLength { len: 12, .. })
        ));
    }
}
