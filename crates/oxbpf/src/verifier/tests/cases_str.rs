//! Constant strings (`ARG_PTR_TO_CONST_STR`: `bpf_snprintf`'s format, `bpf_strncmp`'s
//! second string) and `bpf_snprintf`'s load-time format check.

use super::asm::*;
use super::*;
use crate::verifier::F_RDONLY_PROG;

/// A single-entry array of `value_size` bytes with `flags`.
const fn array(value_size: u32, flags: u32) -> MapInfo {
    MapInfo {
        map_type: 2,
        key_size: 4,
        value_size,
        max_entries: 1,
        flags,
    }
}

/// `.rodata`-like: read-only for programs.
const RODATA32: MapInfo = array(32, F_RDONLY_PROG);
/// A read-only hash map (no direct value access).
const RO_HASH: MapInfo = MapInfo {
    map_type: 1,
    key_size: 8,
    value_size: 32,
    max_entries: 4,
    flags: F_RDONLY_PROG,
};

/// Meta for one map, frozen with `bytes` (zero-padded to 32) or not frozen.
fn frozen(bytes: Option<&[u8]>) -> Vec<MapMeta> {
    vec![MapMeta {
        name: "rodata".into(),
        frozen: bytes.map(|b| {
            let mut v = b.to_vec();
            v.resize(32, 0);
            v
        }),
        ..MapMeta::default()
    }]
}

/// `bpf_snprintf(fp-16, 16, <fmt in r3>, fp-32, data_len)`, return 0. `fmt` sets r3.
fn snprintf(fmt: Vec<Insn>, data_len: i32) -> Vec<Insn> {
    snprintf_from(-32, fmt, data_len)
}

/// As [`snprintf`] with the arguments at `fp+data` (the stack above it initialised).
fn snprintf_from(data: i16, fmt: Vec<Insn>, data_len: i32) -> Vec<Insn> {
    let init = (1..=-data / 8).map(|k| st(DW, R10, -8 * k, 7 * i32::from(k)));
    cat(&[
        init.collect(),
        fmt,
        vec![
            movr(R1, R10),
            alu(Add, R1, -16),
            mov(R2, 16),
            movr(R4, R10),
            alu(Add, R4, i32::from(data)),
            mov(R5, data_len),
            call(165),
        ],
        ret(0),
    ])
}

/// The format at `off` of map 0.
fn at(off: i32) -> Vec<Insn> {
    vec![ldmapval(R3, 0, off)]
}

/// `bpf_strncmp(fp-8, 8, <map 0 + off>)`, return the result.
fn strncmp(off: i32) -> Vec<Insn> {
    vec![
        st(DW, R10, -8, 0x6f6c6c65),
        movr(R1, R10),
        alu(Add, R1, -8),
        mov(R2, 8),
        ldmapval(R3, 0, off),
        call(182),
        exit(),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    use Ty::Xdp;
    let ro = |c: Case, bytes: &[u8]| c.maps(&[RODATA32]).meta(frozen(Some(bytes))).registry();
    vec![
        ro(
            accept(
                "const str: snprintf %d with one argument",
                Xdp,
                snprintf(at(0), 8),
            ),
            b"n=%d\n",
        ),
        ro(
            accept("const str: snprintf without arguments", Xdp, {
                let mut p = snprintf(at(0), 0);
                // data = NULL with data_len = 0
                p[8] = mov(R4, 0);
                p[9] = mov(R4, 0);
                p
            }),
            b"hello",
        ),
        ro(
            accept(
                "const str: snprintf format at an offset",
                Xdp,
                snprintf(at(8), 16),
            ),
            b"junk%f\0\0%llx %-5s.",
        ),
        ro(
            accept(
                "const str: snprintf with every conversion kind",
                Xdp,
                snprintf(at(0), 32),
            ),
            b"%c%pI4%pK%%%08X",
        ),
        ro(
            accept(
                "const str: offset added after the load",
                Xdp,
                snprintf(vec![ldmapval(R3, 0, 0), alu(Add, R3, 4)], 8),
            ),
            b"bad\0%d ok",
        ),
        ro(
            accept("const str: strncmp against rodata", Xdp, strncmp(0)),
            b"hello",
        ),
        // bpf_trace_vprintk's format is plain read-only memory with a size: the kernel
        // checks it only when the helper runs (which then fails with -EINVAL).
        ro(
            accept(
                "const str: trace_vprintk format is not checked at load",
                Xdp,
                vec![
                    st(DW, R10, -8, 1),
                    ldmapval(R1, 0, 0),
                    mov(R2, 3),
                    movr(R3, R10),
                    alu(Add, R3, -8),
                    mov(R4, 8),
                    call(177),
                    mov(R0, 0),
                    exit(),
                ],
            ),
            b"%f",
        ),
        ro(
            reject(
                "const str: format with more conversions than arguments",
                Xdp,
                snprintf(at(0), 8),
                "Invalid format string",
            ),
            b"%d %d",
        ),
        ro(
            reject(
                "const str: unsupported conversion %f",
                Xdp,
                snprintf(at(0), 8),
                "Invalid format string",
            ),
            b"%f",
        ),
        ro(
            reject(
                "const str: %s followed by a letter",
                Xdp,
                snprintf(at(0), 8),
                "Invalid format string",
            ),
            b"%sx",
        ),
        ro(
            reject(
                "const str: non-printable byte in the format",
                Xdp,
                snprintf(at(0), 0),
                "Invalid format string",
            ),
            b"bell\x07",
        ),
        ro(
            reject(
                "const str: not NUL-terminated in the value",
                Xdp,
                snprintf(at(0), 0),
                "string is not zero-terminated",
            ),
            &[b'A'; 32],
        ),
        ro(
            reject(
                "const str: strncmp string runs to the end of the value",
                Xdp,
                strncmp(24),
                "string is not zero-terminated",
            ),
            &[b'B'; 32],
        ),
        ro(
            reject(
                "const str: offset at the end of the value",
                Xdp,
                snprintf(vec![ldmapval(R3, 0, 0), alu(Add, R3, 32)], 0),
                "invalid access to map value, value_size=32 off=32 size=0",
            ),
            b"x",
        ),
        ro(
            reject(
                "const str: variable offset",
                Xdp,
                snprintf(
                    vec![
                        ldx(W, R3, R1, 16),
                        alu(And, R3, 3),
                        ldmapval(R0, 0, 0),
                        alur(Add, R3, R0),
                    ],
                    0,
                ),
                "R3 is not a constant address'",
            ),
            b"x",
        ),
        ro(
            reject(
                "const str: format on the stack",
                Xdp,
                snprintf(vec![movr(R3, R10), alu(Add, R3, -8)], 0),
                "R3 type=fp expected=map_value",
            ),
            b"x",
        ),
        ro(
            reject(
                "const str: data_len not a multiple of 8",
                Xdp,
                snprintf(at(0), 4),
                "data_len is not a multiple of 8",
            ),
            b"%d",
        ),
        ro(
            accept(
                "const str: twelve arguments",
                Xdp,
                snprintf_from(-112, at(0), 96),
            ),
            b"%d%d%d%d%d%d%d%d%d%d%d%d",
        ),
        ro(
            reject(
                "const str: thirteen conversions for twelve arguments",
                Xdp,
                snprintf_from(-112, at(0), 96),
                "Invalid format string",
            ),
            b"%d%d%d%d%d%d%d%d%d%d%d%d%d",
        ),
        ro(
            // The kernel counts the arguments from data_len's known bits: 0 here.
            reject(
                "const str: data_len of unknown bits counts as its known ones",
                Xdp,
                snprintf(
                    vec![ldx(W, R5, R1, 16), alu(And, R5, 8), ldmapval(R3, 0, 0)],
                    8,
                )
                .into_iter()
                .filter(|i| *i != mov(R5, 8))
                .collect(),
                "Invalid format string",
            ),
            b"%d",
        ),
        reject(
            "const str: read-only map not frozen",
            Xdp,
            snprintf(at(0), 8),
            "R3 does not point to a readonly map'",
        )
        .maps(&[RODATA32])
        .meta(frozen(None))
        .registry(),
        reject(
            "const str: frozen map writable by programs",
            Xdp,
            snprintf(at(0), 8),
            "R3 does not point to a readonly map'",
        )
        .maps(&[array(32, 0)])
        .meta(frozen(Some(b"%d")))
        .registry(),
        reject(
            "const str: frozen read-only hash value",
            Xdp,
            cat(&[
                lookup(0),
                vec![jmp(JNE, R0, 0, 2)],
                ret(0),
                snprintf(vec![movr(R3, R0)], 0),
            ]),
            "no direct value access support for this map type",
        )
        .maps(&[RO_HASH])
        .meta(vec![MapMeta {
            frozen: Some(Vec::new()),
            ..MapMeta::default()
        }])
        .registry(),
    ]
}

#[test]
fn const_str_table() {
    check_table(&cases());
}
