//! Jumps, budget, BPF-to-BPF calls, helper calls, `lddw` map forms and load errors.

use super::*;
use crate::helpers::{ArgKind, Helper, HelperProto, RetKind};
use crate::isa::{CallTarget, LdPseudo};
use crate::vm::{FaultKind, MapRef, MapResolver, MemRegion};

/// Whether `if a cond b` jumps, with `b` in a register and, where it fits, an immediate.
fn taken(width: Width, cond: JmpCond, a: u64, b: u64) -> bool {
    let prog = |src| {
        [
            ld64(Reg::R1, a),
            ld64(Reg::R2, b),
            mov(Reg::R0, 0),
            jmp(width, cond, Reg::R1, src, 1),
            Insn::Ja { off: 1 },
            mov(Reg::R0, 1),
            Insn::Exit,
        ]
    };
    let by_reg = run(&prog(Src::Reg(Reg::R2))).unwrap();
    let imm = match width {
        Width::W32 => Some(b as u32 as i32),
        Width::W64 => i32::try_from(b as i64).ok(),
    };
    if let Some(imm) = imm {
        let by_imm = run(&prog(Src::Imm(imm))).unwrap();
        assert_eq!(by_imm, by_reg, "{width:?} {cond:?} {a:#x} imm {imm}");
    }
    by_reg == 1
}

#[test]
fn conditional_jumps() {
    use JmpCond::*;
    let m1 = u64::MAX;
    let cases64: &[(JmpCond, u64, u64, bool)] = &[
        (Eq, 5, 5, true),
        (Eq, 5, 6, false),
        (Eq, m1, m1, true),
        (Ne, 5, 6, true),
        (Ne, 5, 5, false),
        (Gt, m1, 1, true),
        (Gt, 1, 1, false),
        (Ge, 5, 5, true),
        (Lt, 1, m1, true),
        (Le, 5, 5, true),
        (Le, 6, 5, false),
        (Sgt, m1, 1, false),
        (Sgt, 1, m1, true),
        (Sge, m1, m1, true),
        (Slt, m1, 1, true),
        (Sle, (-2i64) as u64, m1, true),
        (Sle, 0, m1, false),
        (Set, 0b1010, 0b0100, false),
        (Set, 0b1010, 0b0010, true),
    ];
    for &(cond, a, b, want) in cases64 {
        assert_eq!(
            taken(Width::W64, cond, a, b),
            want,
            "64 {cond:?} {a:#x} {b:#x}"
        );
    }
    let cases32: &[(JmpCond, u64, u64, bool)] = &[
        (Eq, 0x1_0000_0005, 5, true),
        (Ne, 0x1_0000_0005, 0x2_0000_0005, false),
        (Gt, 0xffff_ffff, 1, true),
        (Ge, 0x1_0000_0000, 1, false),
        (Lt, 0x1_0000_0000, 1, true),
        (Le, 0xffff_ffff, 0xffff_fffe, false),
        (Sgt, 0xffff_ffff, 1, false),
        (Sge, 0x7fff_ffff, 0x8000_0000, true),
        (Slt, 0x8000_0000, 0, true),
        (Sle, 0x1_0000_0000, 0, true),
        (Set, 0x1_0000_0000, 0x1_0000_0000, false),
        (Set, 0x1_0000_0001, 1, true),
    ];
    for &(cond, a, b, want) in cases32 {
        assert_eq!(
            taken(Width::W32, cond, a, b),
            want,
            "32 {cond:?} {a:#x} {b:#x}"
        );
    }
}

#[test]
fn unconditional_jumps_and_counting() {
    assert_eq!(
        run(&[
            mov(Reg::R0, 1),
            Insn::Gotol { imm: 1 },
            mov(Reg::R0, 2),
            Insn::Exit
        ]),
        Ok(1)
    );
    // sum(1..=10): 2 + 3 * 10 + 1 instructions; the lddw second slot is never executed.
    let vm = load(&[
        ld64(Reg::R0, 0),
        mov(Reg::R1, 10),
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R1)),
        alu64(AluOp::Add, Reg::R1, Src::Imm(-1)),
        jmp(Width::W64, JmpCond::Ne, Reg::R1, Src::Imm(0), -3),
        Insn::Exit,
    ]);
    let mut ctx = RunContext::new();
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(55));
    assert_eq!(ctx.insn_count, 33);
}

#[test]
fn instruction_budget() {
    let mut ctx = RunContext::new();
    let spin = load(&[mov(Reg::R0, 0), Insn::Ja { off: -1 }, Insn::Exit]);
    assert_eq!(
        spin.run(&mut ctx, 0, 0),
        Err(RunError::Budget {
            slot: 1,
            budget: DEFAULT_BUDGET
        })
    );
    assert_eq!(ctx.insn_count, DEFAULT_BUDGET);
    let mut vm = load(&[mov(Reg::R0, 1), mov(Reg::R1, 2), Insn::Exit]);
    vm.set_budget(Some(3));
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(1));
    vm.set_budget(Some(2));
    let e = vm.run(&mut ctx, 0, 0).unwrap_err();
    assert_eq!(e, RunError::Budget { slot: 2, budget: 2 });
    assert_eq!(e.slot(), 2);
    assert_eq!(
        e.to_string(),
        "instruction 2: instruction budget of 2 exhausted"
    );
    assert_eq!(ctx.insn_count, 2);
    vm.set_budget(None);
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(1));
}

#[test]
fn local_calls_pass_args_preserve_r6_r9_and_get_fresh_frames() {
    let prog = [
        mov(Reg::R6, 100),
        mov(Reg::R9, 9),
        mov(Reg::R1, 5),
        mov(Reg::R2, 7),
        stx(Size::DW, Reg::R10, Reg::R6, -8),
        // r3 = pointer to the caller's r10 - 16, which the callee writes through.
        movr(Reg::R3, Reg::R10),
        alu64(AluOp::Add, Reg::R3, Src::Imm(-16)),
        call_local(7), // slot 7 -> callee at slot 15
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R6)),
        ldx(Size::DW, Reg::R4, Reg::R10, -8),
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R4)),
        ldx(Size::DW, Reg::R4, Reg::R10, -16),
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R4)),
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R9)),
        Insn::Exit,
        // Callee: r0 = r1 + r2, clobber r6/r9, write its own frame and the caller's.
        movr(Reg::R0, Reg::R1),
        alu64(AluOp::Add, Reg::R0, Src::Reg(Reg::R2)),
        mov(Reg::R6, 999),
        mov(Reg::R9, 999),
        Insn::St {
            size: Size::DW,
            dst: Reg::R10,
            off: -8,
            imm: 555,
        },
        Insn::St {
            size: Size::DW,
            dst: Reg::R3,
            off: 0,
            imm: 1000,
        },
        Insn::Exit,
    ];
    // 12 + 100 + 100 + 1000 + 9
    assert_eq!(run_both(&prog, &mut []), Ok(1221));
}

#[test]
fn callee_frames_are_bounded() {
    // The callee's frame is [r10 - 512, r10); below it nothing is valid yet, above it is
    // the caller's frame.
    let prog = |off| {
        [
            call_local(1),
            Insn::Exit,
            stx(Size::DW, Reg::R10, Reg::R10, off),
            mov(Reg::R0, 0),
            Insn::Exit,
        ]
    };
    let mut ctx = RunContext::new();
    let fp1 = ctx.frame_pointer(1);
    assert_eq!(load(&prog(-512)).run(&mut ctx, 0, 0), Ok(0));
    assert_eq!(load(&prog(504)).run(&mut ctx, 0, 0), Ok(0));
    match load(&prog(-520)).run(&mut ctx, 0, 0) {
        Err(RunError::Memory { slot: 2, fault }) => {
            assert_eq!(
                (fault.addr, fault.kind),
                (fp1 - 520, FaultKind::OutOfBounds)
            )
        }
        other => panic!("expected a stack fault, got {other:?}"),
    }
    // After the callee returned, its frame is invalid again.
    let after = [
        call_local(2),
        stx(Size::DW, Reg::R10, Reg::R10, -520),
        Insn::Exit,
        mov(Reg::R0, 0),
        Insn::Exit,
    ];
    assert!(matches!(
        load(&after).run(&mut ctx, 0, 0),
        Err(RunError::Memory { slot: 1, .. })
    ));
}

/// f(r1): r1 += 1; r0 = r1; if r1 >= limit return; f(r1).
fn recursion(limit: i32) -> Vec<Insn> {
    vec![
        mov(Reg::R1, 0),
        call_local(1),
        Insn::Exit,
        alu64(AluOp::Add, Reg::R1, Src::Imm(1)),
        movr(Reg::R0, Reg::R1),
        jmp(Width::W64, JmpCond::Ge, Reg::R1, Src::Imm(limit), 1),
        call_local(-4),
        Insn::Exit,
    ]
}

#[test]
fn call_depth_limit() {
    // Frames 0..=7 (eight) are fine; the call that would create a ninth fails.
    assert_eq!(run(&recursion(7)), Ok(7));
    assert_eq!(run(&recursion(8)), Err(RunError::CallDepth { slot: 6 }));
    // A non-recursive chain of nine functions is rejected at load time.
    let chain = |funcs: usize| {
        let mut p = Vec::new();
        for _ in 0..funcs - 1 {
            p.push(call_local(1));
            p.push(Insn::Exit);
        }
        p.push(mov(Reg::R0, 1));
        p.push(Insn::Exit);
        p
    };
    assert_eq!(run(&chain(8)), Ok(1));
    let e = Interpreter::new(&located(&chain(9)), &Registry::standard()).unwrap_err();
    assert_eq!(e, LoadError::CallTooDeep { slot: 14, depth: 9 });
}

#[test]
fn helper_calls() {
    let mut ctx = RunContext::new();
    ctx.cpu_id = 5;
    assert_eq!(load(&[call(8), Insn::Exit]).run(&mut ctx, 0, 0), Ok(5));
    assert_ne!(load(&[call(5), Insn::Exit]).run(&mut ctx, 0, 0), Ok(0));
    // callx: the helper id is in a register.
    let callx = load(&[Insn::Callx { reg: Reg::R1 }, Insn::Exit]);
    assert_eq!(callx.run(&mut ctx, 8, 0), Ok(5));
    // (1000 is no kernel helper id; 1 was used here before map helpers existed.)
    assert_eq!(
        callx.run(&mut ctx, 1000, 0),
        Err(RunError::UnknownHelper { slot: 0, id: 1000 })
    );
    // Unknown ids are a load error naming the slot and id.
    let e = Interpreter::new(
        &located(&[mov(Reg::R0, 0), call(1000), Insn::Exit]),
        &Registry::standard(),
    );
    assert_eq!(
        e.unwrap_err(),
        LoadError::UnknownHelper { slot: 1, id: 1000 }
    );
    let e = Interpreter::new(&located(&[call(-3), Insn::Exit]), &Registry::standard());
    assert_eq!(e.unwrap_err(), LoadError::UnknownHelper { slot: 0, id: -3 });
    // Embedder helpers.
    extern "C" fn mul(a: u64, b: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
        a * b
    }
    let mut reg = Registry::standard();
    reg.register(Helper {
        id: 0x2000,
        name: "mul",
        func: mul,
        proto: HelperProto::new(&[ArgKind::Anything, ArgKind::Anything], RetKind::Integer),
    });
    let vm = Interpreter::new(&located(&[call(0x2000), Insn::Exit]), &reg).unwrap();
    assert_eq!(vm.run(&mut ctx, 6, 7), Ok(42));
}

#[test]
fn trace_printk_from_a_program() {
    // "hi %d\n\0" on the stack, then bpf_trace_printk(fmt, 7, 42).
    let fmt = u64::from_le_bytes(*b"hi %d\n\0\0");
    let prog = [
        ld64(Reg::R1, fmt),
        stx(Size::DW, Reg::R10, Reg::R1, -8),
        movr(Reg::R1, Reg::R10),
        alu64(AluOp::Add, Reg::R1, Src::Imm(-8)),
        mov(Reg::R2, 7),
        mov(Reg::R3, 42),
        call(6),
        Insn::Exit,
    ];
    let mut ctx = RunContext::new();
    assert_eq!(load(&prog).run(&mut ctx, 0, 0), Ok(6));
    let lines = ctx.trace.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "hi 42\n");
    // A format pointer outside every region stops the run with the helper's fault.
    let bad = load(&[mov(Reg::R1, 0x1000), mov(Reg::R2, 4), call(6), Insn::Exit]);
    match bad.run(&mut ctx, 0, 0) {
        Err(RunError::HelperMemory {
            slot: 2,
            helper: 6,
            fault,
        }) => assert_eq!((fault.addr, fault.kind), (0x1000, FaultKind::OutOfBounds)),
        other => panic!("expected a helper fault, got {other:?}"),
    }
    assert!(ctx.trace.lines().is_empty());
}

struct Maps {
    value: Box<[u8; 16]>,
}

impl MapResolver for Maps {
    fn map_handle(&self, map: MapRef) -> Option<u64> {
        match map {
            MapRef::Fd(3) => Some(0xabc),
            MapRef::Idx(0) => Some(0xdef),
            _ => None,
        }
    }
    fn map_value_addr(&self, map: MapRef, off: u32) -> Option<u64> {
        (matches!(map, MapRef::Idx(0) | MapRef::Fd(3)) && off < 16)
            .then(|| self.value.as_ptr() as u64 + off as u64)
    }
}

fn lddw(pseudo: LdPseudo, imm: i32, imm2: i32) -> Insn {
    Insn::LdImm64 {
        dst: Reg::R1,
        pseudo,
        imm,
        imm2,
    }
}

#[test]
fn lddw_map_forms() {
    let regs = Registry::standard();
    let prog = [
        lddw(LdPseudo::MapFd, 3, 0),
        movr(Reg::R0, Reg::R1),
        Insn::Exit,
    ];
    assert_eq!(
        Interpreter::new(&located(&prog), &regs).unwrap_err(),
        LoadError::UnresolvedMap {
            slot: 0,
            pseudo: LdPseudo::MapFd,
            imm: 3,
            off: 0
        }
    );
    let mut value = Box::new([0u8; 16]);
    value[4..8].copy_from_slice(&0x1234_5678u32.to_le_bytes());
    let maps = Maps { value };
    let mut ctx = RunContext::new();
    let vm = Interpreter::with_maps(&located(&prog), &regs, &maps).unwrap();
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(0xabc));
    let prog = [
        lddw(LdPseudo::MapIdx, 0, 0),
        movr(Reg::R0, Reg::R1),
        Insn::Exit,
    ];
    let vm = Interpreter::with_maps(&located(&prog), &regs, &maps).unwrap();
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(0xdef));
    let prog = [
        lddw(LdPseudo::MapIdxValue, 0, 4),
        ldx(Size::W, Reg::R0, Reg::R1, 0),
        Insn::Exit,
    ];
    let vm = Interpreter::with_maps(&located(&prog), &regs, &maps).unwrap();
    let region = MemRegion {
        start: maps.value.as_ptr() as u64,
        len: 16,
        writable: true,
    };
    // SAFETY: `maps.value` outlives the run and is not otherwise accessed meanwhile.
    unsafe { ctx.add_region(region) };
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(0x1234_5678));
    let prog = [lddw(LdPseudo::MapValue, 3, 16), Insn::Exit];
    assert!(matches!(
        Interpreter::with_maps(&located(&prog), &regs, &maps),
        Err(LoadError::UnresolvedMap {
            slot: 0,
            off: 16,
            ..
        })
    ));
    let prog = [lddw(LdPseudo::BtfId, 1, 0), Insn::Exit];
    assert_eq!(
        Interpreter::with_maps(&located(&prog), &regs, &maps).unwrap_err(),
        LoadError::UnsupportedPseudo {
            slot: 0,
            pseudo: LdPseudo::BtfId
        }
    );
}

#[test]
fn load_errors() {
    let regs = Registry::standard();
    let load = |prog: &[Insn]| Interpreter::new(&located(prog), &regs).map(|_| ());
    assert_eq!(
        load(&[
            call_local(2),
            Insn::Ja { off: 2 },
            Insn::Exit,
            mov(Reg::R0, 1),
            Insn::Exit
        ]),
        Err(LoadError::Invalid(crate::isa::ValidateError {
            slot: 1,
            kind: crate::isa::ValidateErrorKind::JumpCrossesFunction {
                target: 4,
                from_func: 0,
                to_func: 3
            }
        }))
    );
    assert_eq!(
        load(&[call_local(1), mov(Reg::R0, 0), Insn::Exit]),
        Err(LoadError::Invalid(crate::isa::ValidateError {
            slot: 1,
            kind: crate::isa::ValidateErrorKind::FunctionFallsThrough { func: 0 }
        }))
    );
    assert_eq!(
        load(&[Insn::Call(CallTarget::Kfunc(77)), Insn::Exit]),
        Err(LoadError::Kfunc {
            slot: 0,
            btf_id: 77
        })
    );
    assert!(matches!(load(&[]), Err(LoadError::Invalid(_))));
    assert!(matches!(
        load(&[mov(Reg::R0, 0)]),
        Err(LoadError::Invalid(_))
    ));
    // Hand-built instructions the decoder would reject.
    assert!(matches!(
        load(&[
            Insn::Atomic {
                size: Size::B,
                op: crate::isa::AtomicOp::Add,
                fetch: false,
                dst: Reg::R10,
                src: Reg::R1,
                off: -8
            },
            Insn::Exit
        ]),
        Err(LoadError::Decode(crate::isa::DecodeError { slot: 0, .. }))
    ));
    // From wire bytes.
    let bytes = crate::isa::encode(&located(&[mov(Reg::R0, 3), Insn::Exit]));
    let vm = Interpreter::from_bytes(&bytes, &regs).unwrap();
    assert_eq!(vm.len_slots(), 2);
    assert_eq!(vm.run(&mut RunContext::new(), 0, 0), Ok(3));
    assert!(matches!(
        Interpreter::from_bytes(&bytes[..12], &regs),
        Err(LoadError::Decode(_))
    ));
}
