//! XDP multi-buffer test runs against the kernel: the same program and data_in (linear
//! only, one fragment, several, the `MAX_SKB_FRAGS` limit, `ctx_in` choosing the linear
//! size) through oxbpf and through `BPF_PROG_TEST_RUN`, loaded with and without
//! `BPF_F_XDP_HAS_FRAGS`, must give the same retval, data_out, ctx_out and errno.

use super::*;
use crate::asm::assemble;
use crate::interp::Interpreter;
use crate::kernel;
use crate::vm::RunContext;

/// Sizes that cover: minimal, linear, exactly the linear limit, one byte of fragment,
/// one/two/five fragments, the last byte that fits, one byte too many.
const SIZES: &[usize] = &[
    14,
    64,
    3520,
    3521,
    4000,
    9000,
    20000,
    3520 + MAX_SKB_FRAGS * XDP_FRAG_SIZE,
    3521 + MAX_SKB_FRAGS * XDP_FRAG_SIZE,
    13,
];

fn registry() -> Registry {
    let mut r = Registry::standard();
    register_packet_helpers(&mut r);
    r
}

fn packet(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 + i / 251) as u8).collect()
}

/// Runs `src` on `data` (and `ctx_in`, `repeat`) in oxbpf and in the kernel, the kernel
/// program loaded without and with `BPF_F_XDP_HAS_FRAGS`; asserts agreement and returns
/// oxbpf's result (`Err(errno)` for a refused run). `None`: kernel unavailable.
fn compare(
    src: &str,
    data: &[u8],
    ctx_in: Option<&[u8]>,
    repeat: u32,
) -> Option<Result<TestRunOutput, i32>> {
    let bytes = assemble(src).unwrap();
    let vm = Interpreter::from_bytes(&bytes, &registry()).unwrap();
    let ours = test_run(
        &vm,
        ProgramType::from_name("xdp").unwrap(),
        &TestRun {
            data_in: data,
            ctx_in,
            repeat,
        },
        &mut RunContext::new(),
    )
    .map_err(|e| e.errno());
    // The JIT calls the same helpers on the same packet state: same answer.
    let located = crate::isa::decode(&bytes).unwrap();
    let jit =
        crate::jit::JitProgram::compile(&located, &registry(), None, crate::jit::JitOptions::new())
            .unwrap();
    let jitted = test_run(
        &jit,
        ProgramType::from_name("xdp").unwrap(),
        &TestRun {
            data_in: data,
            ctx_in,
            repeat,
        },
        &mut RunContext::new(),
    )
    .map_err(|e| e.errno());
    match (&ours, &jitted) {
        (Ok(a), Ok(b)) => assert!(
            a.retval == b.retval && a.data_out == b.data_out && a.ctx_out == b.ctx_out,
            "interpreter and JIT differ on {} bytes:\n{src}",
            data.len()
        ),
        (a, b) => assert_eq!(a.as_ref().err(), b.as_ref().err(), "{src}"),
    }
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return None;
    }
    let what = format!("{} bytes, ctx_in {ctx_in:?}, program\n{src}", data.len());
    for flags in [0, BPF_F_XDP_HAS_FRAGS] {
        let kp = kernel::Program::load(&kernel::ProgLoad {
            prog_flags: flags,
            ..kernel::ProgLoad::new(kernel::PROG_TYPE_XDP, &bytes)
        })
        .unwrap_or_else(|e| panic!("kernel load: {e}\n{what}"));
        let theirs = kp.test_run(&kernel::TestRun {
            data_in: data,
            data_out_capacity: data.len() + 2 * XDP_FRAG_SIZE,
            ctx_in: ctx_in.unwrap_or(&[]),
            ctx_out_capacity: if ctx_in.is_some() { 24 } else { 0 },
            repeat,
            ..kernel::TestRun::default()
        });
        match (&ours, theirs) {
            (Ok(o), Ok(k)) => {
                assert_eq!(o.retval, k.retval, "flags {flags}: retval, {what}");
                assert!(o.data_out == k.data_out, "flags {flags}: data_out, {what}");
                if ctx_in.is_some() {
                    assert_eq!(o.ctx_out, k.ctx_out, "flags {flags}: ctx_out, {what}");
                }
            }
            (Err(o), Err(k)) => assert_eq!(Some(*o), k.errno(), "flags {flags}: {what}"),
            (o, k) => panic!("flags {flags}: oxbpf {o:?} but kernel {k:?}, {what}"),
        }
    }
    Some(ours)
}

/// `r0 = buff_len << 16 | (data_end - data)`.
const LENGTHS: &str = "
    r6 = r1
    call 188
    r7 = r0
    r2 = *(u32 *)(r6 + 0)
    r3 = *(u32 *)(r6 + 4)
    r3 -= r2
    r0 = r7
    r0 <<= 16
    r0 |= r3
    exit";

#[test]
fn frags_layout_and_buff_len_match_the_kernel() {
    for &n in SIZES {
        let Some(r) = compare(LENGTHS, &packet(n), None, 1) else {
            return;
        };
        match r {
            Ok(o) => {
                assert_eq!(o.data_out.len(), n);
                assert_eq!(o.retval & 0xffff, n.min(3520) as u32);
            }
            Err(e) => assert!(n == 13 || e == libc::ENOMEM, "{n}: {e}"),
        }
    }
}

#[test]
fn ctx_in_data_end_sets_the_linear_size_like_the_kernel() {
    let ctx = |meta: u32, end: u32| {
        let mut c = [0u8; 24];
        c[0..4].copy_from_slice(&meta.to_ne_bytes());
        c[4..8].copy_from_slice(&end.to_ne_bytes());
        c
    };
    for (n, meta, end) in [
        (100usize, 0u32, 50u32),
        (5000, 0, 100),
        (5000, 0, 4000),
        (100, 0, 10),
        (5000, 0, 0),
        (300, 216, 300),
        (300, 220, 300),
        (9000, 32, 200),
        (20, 8, 10),
        (22, 8, 22),
        (100, 0, 101),
        (100, 60, 50),
    ] {
        if compare(LENGTHS, &packet(n), Some(&ctx(meta, end)), 1).is_none() {
            return;
        }
    }
}

/// Fills `len` bytes of stack with 0xa5, loads `len` bytes at `off` into it, stores them
/// back at `to`; `r0 = (load result & 0xff) << 8 | (store result & 0xff)`.
fn load_store(off: u32, len: u32, to: u32) -> String {
    let mut s = String::from("r6 = r1\nr8 = 0xa5a5a5a5a5a5a5a5 ll\n");
    for i in (8..=len.div_ceil(8) * 8).step_by(8) {
        s += &format!("*(u64 *)(r10 - {i}) = r8\n");
    }
    s += &format!(
        "r1 = r6\nr2 = {off}\nr3 = r10\nr3 += -{len}\nr4 = {len}\ncall 189\nr7 = r0\n\
         r1 = r6\nr2 = {to}\nr3 = r10\nr3 += -{len}\nr4 = {len}\ncall 190\n\
         r0 &= 0xff\nr7 &= 0xff\nr7 <<= 8\nr0 |= r7\nexit"
    );
    s
}

#[test]
fn load_and_store_bytes_across_fragments_match_the_kernel() {
    for n in [64usize, 4000, 9000, 20000] {
        for (off, len, to) in [
            (0u32, 14u32, 20u32),     // linear to linear
            (3510, 20, 0),            // linear into fragment 0
            (3600, 64, 7000),         // fragment 0 into a later fragment
            (7600, 40, 3500),         // fragment 0 into fragment 1
            (n as u32 - 16, 16, 30),  // the last bytes
            (n as u32 - 15, 16, 30),  // one past the end: -EINVAL
            (0x10000, 8, 0),          // offset above 0xffff: -EFAULT
            (5, 300, n as u32 - 300), // big copy to the end
            (10, 8, n as u32 - 7),    // store past the end: -EINVAL
        ] {
            if compare(&load_store(off, len, to), &packet(n), None, 1).is_none() {
                return;
            }
        }
    }
}

/// Two `xdp_adjust_tail` calls; `r0 = buff_len << 16 | r1 << 8 | r2` (results & 0xff).
fn tail(d1: i32, d2: i32) -> String {
    format!(
        "r6 = r1\nr2 = {d1}\ncall 65\nr7 = r0\nr7 &= 0xff\nr7 <<= 8\n\
         r1 = r6\nr2 = {d2}\ncall 65\nr0 &= 0xff\nr7 |= r0\n\
         r1 = r6\ncall 188\nr0 <<= 16\nr0 |= r7\nexit"
    )
}

#[test]
fn adjust_tail_on_fragments_matches_the_kernel() {
    // 4000: one 480-byte fragment; 9000: 4096 + 1384; 20000: four pages + 3096.
    for n in [64usize, 3520, 4000, 9000, 20000] {
        let len = n as i32;
        for (d1, d2) in [
            (1, 0),
            (100, 100),
            (3616, 0),
            (3617, 0),
            (2712, 1),
            (-1, 0),
            (-480, 10),
            (-481, 10),
            (-1384, -4096),
            (-(len - 14), 0),
            (-(len - 13), 0),
            (-(len - 3520), 16),
            (-(len - 3400), 100),
            (-(len - 3400), 600),
            (0, 0),
        ] {
            if compare(&tail(d1, d2), &packet(n), None, 1).is_none() {
                return;
            }
        }
    }
}

#[test]
fn repeated_runs_keep_fragment_changes_like_the_kernel() {
    // Each run shrinks by 1000 bytes: fragments are freed across runs on the same buffer.
    let src = "r6 = r1\nr2 = -1000\ncall 65\nr1 = r6\ncall 188\nexit";
    for n in [9000usize, 20000] {
        if compare(src, &packet(n), None, 7).is_none() {
            return;
        }
    }
}
