//! Helper prototypes from the shared registry (`helpers::Registry`).

use super::asm::*;
use crate::helpers::{ArgKind, Helper, HelperProto, Registry, RetKind};
use crate::verifier::{ctx::Xdp, protos::Chain, verify, BuiltinHelpers, VerifyConfig};
use crate::vm::RunContext;

extern "C" fn nop(_: u64, _: u64, _: u64, _: u64, _: u64, _: &mut RunContext) -> u64 {
    0
}

fn check(reg: &Registry, insns: &[crate::isa::Insn]) -> Result<(), String> {
    let prog = super::assemble(insns);
    let chain = Chain(reg, &BuiltinHelpers);
    let config = VerifyConfig {
        helpers: &chain,
        ..VerifyConfig::new(&Xdp)
    };
    verify(&prog, &config).map(|_| ()).map_err(|e| e.message)
}

#[test]
fn standard_registry_prototypes() {
    let reg = Registry::standard();
    check(&reg, &[call(5), exit()]).expect("ktime_get_ns");
    let printk = [
        st(DW, R10, -8, 0x0a),
        movr(R1, R10),
        alu(Add, R1, -8),
        mov(R2, 8),
        call(6),
        exit(),
    ];
    check(&reg, &printk).expect("trace_printk");
    let bad = [movr(R1, R10), alu(Add, R1, -8), mov(R2, 0), call(6), exit()];
    assert_eq!(
        check(&reg, &bad).unwrap_err(),
        "R2 invalid zero-sized read: u64=[0,0]"
    );
}

#[test]
fn registry_restrictions_and_unsupported_kinds() {
    let mut reg = Registry::new();
    reg.register(Helper {
        id: 200,
        name: "only_socket_filter",
        func: nop,
        proto: HelperProto::new(&[], RetKind::Integer).only(&[1]),
    });
    reg.register(Helper {
        id: 201,
        name: "long_arg",
        func: nop,
        proto: HelperProto::new(&[ArgKind::PtrToLong], RetKind::Integer),
    });
    reg.register(Helper {
        id: 202,
        name: "const_str_arg",
        func: nop,
        proto: HelperProto::new(&[ArgKind::PtrToConstStr], RetKind::Integer),
    });
    let e = check(&reg, &[call(200), exit()]).unwrap_err();
    assert!(
        e.starts_with("program of this type cannot use helper bpf_"),
        "{e}"
    );
    let e = check(&reg, &[movr(R1, R10), call(201), exit()]).unwrap_err();
    assert!(e.contains("argument kind ARG_PTR_TO_LONG"), "{e}");
    // Constant strings are modelled: a stack pointer is not one.
    let e = check(&reg, &[movr(R1, R10), call(202), exit()]).unwrap_err();
    assert_eq!(e, "R1 type=fp expected=map_value");
    // Not in the registry: the built-in table answers.
    check(&reg, &[call(7), exit()]).expect("get_prandom_u32 from the built-in table");
}

#[test]
fn registry_ring_buffer_and_map_helpers() {
    use crate::verifier::MapInfo;
    let reg = Registry::standard();
    let maps = [
        MapInfo {
            map_type: 27,
            key_size: 0,
            value_size: 0,
            max_entries: 4096,
            flags: 0,
        },
        MapInfo {
            map_type: 1,
            key_size: 8,
            value_size: 8,
            max_entries: 4,
            flags: 0,
        },
    ];
    let verify_with = |insns: &[crate::isa::Insn]| {
        let prog = super::assemble(insns);
        let config = VerifyConfig {
            helpers: &reg,
            maps: &maps,
            ..VerifyConfig::new(&Xdp)
        };
        verify(&prog, &config).map(|_| ()).map_err(|e| e.message)
    };
    let reserve = [ldmap(R1, 0), mov(R2, 8), mov(R3, 0), call(131)];
    let submit = [
        jmp(JEQ, R0, 0, 4),
        st(DW, R0, 0, 1),
        movr(R1, R0),
        mov(R2, 0),
        call(132),
        mov(R0, 0),
        exit(),
    ];
    verify_with(&[&reserve[..], &submit[..]].concat()).expect("reserve + submit");
    let leak = [jmp(JEQ, R0, 0, 1), st(DW, R0, 0, 1), mov(R0, 0), exit()];
    let e = verify_with(&[&reserve[..], &leak[..]].concat()).unwrap_err();
    assert!(e.starts_with("Unreleased reference id="), "{e}");
    let lookup = [
        st(DW, R10, -8, 0),
        movr(R2, R10),
        alu(Add, R2, -8),
        ldmap(R1, 1),
        call(1),
        jmp(JEQ, R0, 0, 1),
        ldx(DW, R0, R0, 0),
        exit(),
    ];
    verify_with(&lookup).expect("map lookup through the registry");
}
