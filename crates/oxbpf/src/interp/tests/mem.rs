//! Loads, stores, atomics, legacy packet loads and checked-mode faults.

use super::*;
use crate::isa::AtomicOp;
use crate::vm::{Access, Fault, FaultKind};

fn st(size: Size, off: i16, imm: i32) -> Insn {
    Insn::St {
        size,
        dst: Reg::R10,
        off,
        imm,
    }
}

fn ldxsx(size: Size, off: i16) -> Insn {
    Insn::LdxSx {
        size,
        dst: Reg::R0,
        src: Reg::R10,
        off,
    }
}

#[test]
fn stack_loads_and_stores() {
    let stored = |load: Insn| {
        run_both(
            &[
                ld64(Reg::R1, 0x1122_3344_5566_7788),
                stx(Size::DW, Reg::R10, Reg::R1, -8),
                load,
                Insn::Exit,
            ],
            &mut [],
        )
        .unwrap()
    };
    assert_eq!(stored(ldx(Size::B, Reg::R0, Reg::R10, -8)), 0x88);
    assert_eq!(stored(ldx(Size::H, Reg::R0, Reg::R10, -7)), 0x6677);
    assert_eq!(stored(ldx(Size::W, Reg::R0, Reg::R10, -4)), 0x1122_3344);
    assert_eq!(
        stored(ldx(Size::DW, Reg::R0, Reg::R10, -8)),
        0x1122_3344_5566_7788
    );
    // Unaligned loads are fine outside atomics.
    assert_eq!(stored(ldx(Size::W, Reg::R0, Reg::R10, -7)), 0x4455_6677);

    let imm = |store: Insn, load: Insn| {
        run_both(
            &[
                ld64(Reg::R1, 0x1122_3344_5566_7788),
                stx(Size::DW, Reg::R10, Reg::R1, -8),
                store,
                load,
                Insn::Exit,
            ],
            &mut [],
        )
        .unwrap()
    };
    let dw = ldx(Size::DW, Reg::R0, Reg::R10, -8);
    assert_eq!(imm(st(Size::DW, -8, -2), dw), (-2i64) as u64);
    assert_eq!(imm(st(Size::W, -8, -1), dw), 0x1122_3344_ffff_ffff);
    assert_eq!(imm(st(Size::H, -6, 0x1_abcd), dw), 0x1122_3344_abcd_7788);
    assert_eq!(imm(st(Size::B, -1, 0x1ff), dw), 0xff22_3344_5566_7788);
}

#[test]
fn sign_extending_loads() {
    let go = |store: Insn, load: Insn| run_both(&[store, load, Insn::Exit], &mut []).unwrap();
    assert_eq!(
        go(st(Size::B, -1, 0x80), ldxsx(Size::B, -1)),
        (-128i64) as u64
    );
    assert_eq!(go(st(Size::B, -1, 0x7f), ldxsx(Size::B, -1)), 0x7f);
    assert_eq!(
        go(st(Size::H, -2, 0x8000), ldxsx(Size::H, -2)),
        (-32768i64) as u64
    );
    assert_eq!(
        go(st(Size::W, -4, i32::MIN), ldxsx(Size::W, -4)),
        i32::MIN as i64 as u64
    );
    assert_eq!(go(st(Size::W, -4, 5), ldxsx(Size::W, -4)), 5);
}

#[test]
fn input_memory_read_write() {
    let mut mem = [1u8, 2, 3, 4, 0, 0, 0, 0, 9];
    let r = run_both(
        &[
            ld64(Reg::R3, 0xdead_beef),
            stx(Size::W, Reg::R1, Reg::R3, 4),
            ldx(Size::W, Reg::R0, Reg::R1, 0),
            alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R2)),
            Insn::Exit,
        ],
        &mut mem,
    );
    assert_eq!(r, Ok(0x0403_0201 + 9));
    assert_eq!(mem, [1, 2, 3, 4, 0xef, 0xbe, 0xad, 0xde, 9]);
}

/// Runs `atomic op *(size *)(r1 + 0), r2` with `r0 = expected`, on memory holding `init`,
/// and returns (memory after, r2 after, r0 after).
fn atomic(size: Size, op: AtomicOp, fetch: bool, init: u64, operand: u64, r0: u64) -> [u64; 3] {
    let mut mem = [0u8; 24];
    mem[..8].copy_from_slice(&init.to_le_bytes());
    run_both(
        &[
            ld64(Reg::R2, operand),
            ld64(Reg::R0, r0),
            Insn::Atomic {
                size,
                op,
                fetch,
                dst: Reg::R1,
                src: Reg::R2,
                off: 0,
            },
            stx(Size::DW, Reg::R1, Reg::R2, 8),
            stx(Size::DW, Reg::R1, Reg::R0, 16),
            Insn::Exit,
        ],
        &mut mem,
    )
    .unwrap();
    let word = |i: usize| u64::from_le_bytes(mem[i * 8..i * 8 + 8].try_into().unwrap());
    [word(0), word(1), word(2)]
}

#[test]
fn atomics() {
    use AtomicOp::*;
    let hi = 0xffff_ffff_0000_0000u64;
    // 32-bit: only the low word changes; fetch zero-extends.
    assert_eq!(atomic(Size::W, Add, false, hi | 1, 2, 0), [hi | 3, 2, 0]);
    assert_eq!(atomic(Size::W, Add, true, hi | 1, 2, 0), [hi | 3, 1, 0]);
    assert_eq!(
        atomic(Size::W, Add, true, hi | 0xffff_ffff, 1, 0),
        [hi, 0xffff_ffff, 0]
    );
    assert_eq!(atomic(Size::W, Or, true, 0xf0, 0x0f, 0), [0xff, 0xf0, 0]);
    assert_eq!(atomic(Size::W, And, false, 0xff, 0x0f, 0), [0x0f, 0x0f, 0]);
    assert_eq!(atomic(Size::W, Xor, true, 0xff, 0x0f, 0), [0xf0, 0xff, 0]);
    assert_eq!(atomic(Size::W, Xchg, true, hi | 7, 9, 0), [hi | 9, 7, 0]);
    // cmpxchg compares the low 32 bits of r0; r0 receives the old value, zero-extended.
    assert_eq!(
        atomic(Size::W, Cmpxchg, true, hi | 5, 6, hi | 5),
        [hi | 6, 6, 5]
    );
    assert_eq!(atomic(Size::W, Cmpxchg, true, 5, 6, 4), [5, 6, 5]);
    // 64-bit.
    assert_eq!(atomic(Size::DW, Add, false, u64::MAX, 2, 0), [1, 2, 0]);
    assert_eq!(atomic(Size::DW, Add, true, hi, 1, 0), [hi + 1, hi, 0]);
    assert_eq!(atomic(Size::DW, Or, true, hi, 1, 0), [hi | 1, hi, 0]);
    assert_eq!(atomic(Size::DW, And, true, hi | 3, 1, 0), [1, hi | 3, 0]);
    assert_eq!(atomic(Size::DW, Xor, false, hi, hi, 0), [0, hi, 0]);
    assert_eq!(atomic(Size::DW, Xchg, true, hi, 1, 0), [1, hi, 0]);
    assert_eq!(atomic(Size::DW, Cmpxchg, true, hi, 1, hi), [1, 1, hi]);
    assert_eq!(atomic(Size::DW, Cmpxchg, true, hi, 1, 0), [hi, 1, hi]);
}

#[test]
fn atomics_are_atomic_across_threads() {
    const THREADS: u64 = 4;
    const ITERS: i32 = 20_000;
    let counter = std::sync::atomic::AtomicU64::new(0);
    let addr = counter.as_ptr() as u64;
    let vm = load(&[
        mov(Reg::R2, 1),
        mov(Reg::R3, ITERS),
        Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Add,
            fetch: false,
            dst: Reg::R1,
            src: Reg::R2,
            off: 0,
        },
        alu64(AluOp::Add, Reg::R3, Src::Imm(-1)),
        jmp(Width::W64, JmpCond::Ne, Reg::R3, Src::Imm(0), -3),
        Insn::Exit,
    ]);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let mut ctx = RunContext::new();
                // SAFETY: `counter` outlives the scope and is only accessed atomically.
                unsafe {
                    ctx.add_region(MemRegion {
                        start: addr,
                        len: 8,
                        writable: true,
                    })
                };
                vm.run(&mut ctx, addr, 0).unwrap();
            });
        }
    });
    assert_eq!(counter.into_inner(), THREADS * ITERS as u64);
}

fn fault(r: Result<u64, RunError>) -> (u32, Fault) {
    match r {
        Err(RunError::Memory { slot, fault }) => (slot, fault),
        other => panic!("expected a memory fault, got {other:?}"),
    }
}

#[test]
fn checked_mode_faults() {
    let mut mem = [0u8; 8];
    let base = mem.as_ptr() as u64;
    // Reading past the end of the input: slot 1, the exact address, size and direction.
    let (slot, f) = fault(run_both(
        &[
            mov(Reg::R0, 0),
            ldx(Size::DW, Reg::R0, Reg::R1, 4),
            Insn::Exit,
        ],
        &mut mem,
    ));
    assert_eq!(slot, 1);
    assert_eq!(
        f,
        Fault {
            addr: base + 4,
            size: 8,
            access: Access::Read,
            kind: FaultKind::OutOfBounds
        }
    );
    // Null and wrapping addresses.
    let (_, f) = fault(run(&[ldx(Size::B, Reg::R0, Reg::R1, 0), Insn::Exit]));
    assert_eq!((f.addr, f.kind), (0, FaultKind::OutOfBounds));
    let (_, f) = fault(run(&[
        ld64(Reg::R1, u64::MAX - 2),
        ldx(Size::DW, Reg::R0, Reg::R1, 0),
        Insn::Exit,
    ]));
    assert_eq!(f.addr, u64::MAX - 2);
    // The stack: below the frame and straddling its top.
    let mut ctx = RunContext::new();
    let fp = ctx.frame_pointer(0);
    let vm = load(&[stx(Size::DW, Reg::R10, Reg::R1, -520), Insn::Exit]);
    let (slot, f) = fault(vm.run(&mut ctx, 0, 0));
    assert_eq!(
        (slot, f.addr, f.size, f.access),
        (0, fp - 520, 8, Access::Write)
    );
    let vm = load(&[ldx(Size::DW, Reg::R0, Reg::R10, -4), Insn::Exit]);
    assert_eq!(fault(vm.run(&mut ctx, 0, 0)).1.addr, fp - 4);
    // The whole 512-byte frame is usable.
    let vm = load(&[
        stx(Size::DW, Reg::R10, Reg::R10, -512),
        ldx(Size::DW, Reg::R0, Reg::R10, -512),
        Insn::Exit,
    ]);
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(fp));
    // The message names everything.
    let e = load(&[stx(Size::W, Reg::R10, Reg::R1, 8), Insn::Exit])
        .run(&mut ctx, 0, 0)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "instruction 0: write of 4 bytes at {:#x} is outside any valid memory region",
            fp + 8
        )
    );
}

#[test]
fn read_only_regions() {
    let data = [7u8; 16];
    let start = data.as_ptr() as u64;
    let mut ctx = RunContext::new();
    // SAFETY: `data` outlives `ctx`'s runs and is only read by them.
    unsafe {
        ctx.add_region(MemRegion {
            start,
            len: 16,
            writable: false,
        })
    };
    let read = load(&[ldx(Size::B, Reg::R0, Reg::R1, 15), Insn::Exit]);
    assert_eq!(read.run(&mut ctx, start, 0), Ok(7));
    let write = load(&[
        Insn::St {
            size: Size::B,
            dst: Reg::R1,
            off: 0,
            imm: 1,
        },
        Insn::Exit,
    ]);
    let (_, f) = fault(write.run(&mut ctx, start, 0));
    assert_eq!((f.kind, f.access), (FaultKind::ReadOnly, Access::Write));
    let xadd = load(&[
        Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Add,
            fetch: false,
            dst: Reg::R1,
            src: Reg::R1,
            off: 0,
        },
        Insn::Exit,
    ]);
    assert_eq!(
        fault(xadd.run(&mut ctx, start, 0)).1.kind,
        FaultKind::ReadOnly
    );
    assert_eq!(data, [7; 16]);
}

#[test]
fn unaligned_atomics_fault() {
    let prog = [
        st(Size::DW, -16, 0),
        Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Add,
            fetch: false,
            dst: Reg::R10,
            src: Reg::R1,
            off: -12,
        },
        Insn::Exit,
    ];
    let mut ctx = RunContext::new();
    let fp = ctx.frame_pointer(0);
    let (slot, f) = fault(load(&prog).run(&mut ctx, 0, 0));
    assert_eq!(slot, 1);
    assert_eq!(
        f,
        Fault {
            addr: fp - 12,
            size: 8,
            access: Access::Write,
            kind: FaultKind::Unaligned
        }
    );
    // 4-byte alignment suffices for 32-bit atomics.
    let mut ok = prog;
    ok[1] = Insn::Atomic {
        size: Size::W,
        op: AtomicOp::Add,
        fetch: false,
        dst: Reg::R10,
        src: Reg::R1,
        off: -12,
    };
    assert_eq!(load(&ok).run(&mut ctx, 0, 0), Ok(0));
}

#[test]
fn legacy_packet_loads() {
    let packet = [0x12u8, 0x34, 0x56, 0x78, 0x9a];
    let mut ctx = RunContext::new();
    // SAFETY: `packet` outlives `ctx`'s runs.
    unsafe { ctx.set_packet(packet.as_ptr(), packet.len()) };
    let abs = |size, imm| Insn::LdAbs { size, imm };
    let mut go = |prog: &[Insn]| load(prog).run(&mut ctx, 0, 0);
    assert_eq!(go(&[abs(Size::B, 0), Insn::Exit]), Ok(0x12));
    assert_eq!(go(&[abs(Size::H, 1), Insn::Exit]), Ok(0x3456));
    assert_eq!(go(&[abs(Size::W, 1), Insn::Exit]), Ok(0x3456_789a));
    let ind = |size, imm| Insn::LdInd {
        size,
        src: Reg::R2,
        imm,
    };
    assert_eq!(
        go(&[mov(Reg::R2, 2), ind(Size::H, 1), Insn::Exit]),
        Ok(0x789a)
    );
    // Out of bounds ends the program with 0: the `mov` after it never runs.
    let oob = load(&[abs(Size::W, 2), mov(Reg::R0, 7), Insn::Exit]);
    assert_eq!(oob.run(&mut ctx, 0, 0), Ok(0));
    assert_eq!(ctx.insn_count, 1);
    let mut go = |prog: &[Insn]| load(prog).run(&mut ctx, 0, 0);
    assert_eq!(go(&[mov(Reg::R2, -1), ind(Size::B, 0), Insn::Exit]), Ok(0));
    assert_eq!(go(&[abs(Size::B, 5), Insn::Exit]), Ok(0));
    ctx.clear_packet();
    assert_eq!(
        load(&[mov(Reg::R0, 0), abs(Size::B, 0), Insn::Exit]).run(&mut ctx, 0, 0),
        Err(RunError::NoPacket { slot: 1 })
    );
}
