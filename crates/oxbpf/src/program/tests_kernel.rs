//! The kernel's `BPF_PROG_TEST_RUN` as the oracle: the same program bytes and input run
//! in the kernel and in oxbpf must give the same retval, data_out and ctx_out.
//! Skipped (with a "SKIPPED" line) where bpf(2) is unavailable.

use super::*;
use crate::asm::assemble;
use crate::interp::Interpreter;
use crate::kernel;
use crate::vm::RunContext;

fn registry() -> Registry {
    let mut r = Registry::standard();
    register_packet_helpers(&mut r);
    r
}

/// Runs `src` (LLVM syntax) as `ty` in both and compares; returns oxbpf's output.
fn compare(ty: &str, src: &str, data: &[u8], ctx_in: Option<&[u8]>) -> Option<TestRunOutput> {
    compare_repeat(ty, src, data, ctx_in, 1)
}

/// [`compare`] with `repeat` runs on the same context.
fn compare_repeat(
    ty: &str,
    src: &str,
    data: &[u8],
    ctx_in: Option<&[u8]>,
    repeat: u32,
) -> Option<TestRunOutput> {
    let t = ProgramType::from_name(ty).unwrap();
    let bytes = assemble(src).unwrap();
    let vm = Interpreter::from_bytes(&bytes, &registry()).unwrap();
    let mut rc = RunContext::new();
    let ours = test_run(
        &vm,
        t,
        &TestRun {
            data_in: data,
            ctx_in,
            repeat,
        },
        &mut rc,
    );
    if let Err(reason) = kernel::available() {
        eprintln!("SKIPPED: kernel unavailable: {reason}");
        return ours.ok();
    }
    let kp = kernel::Program::load(&kernel::ProgLoad::new(t.id, &bytes))
        .unwrap_or_else(|e| panic!("kernel load: {e}"));
    let theirs = kp.test_run(&kernel::TestRun {
        data_in: data,
        data_out_capacity: if data.is_empty() { 0 } else { 8192 },
        ctx_in: ctx_in.unwrap_or(&[]),
        ctx_out_capacity: if ctx_in.is_some() {
            t.ctx.size as usize
        } else {
            0
        },
        repeat,
        ..kernel::TestRun::default()
    });
    match (ours, theirs) {
        (Ok(o), Ok(k)) => {
            assert_eq!(o.retval, k.retval, "{ty} retval of\n{src}");
            assert_eq!(hex(&o.data_out), hex(&k.data_out), "{ty} data_out");
            if ctx_in.is_some() {
                assert_eq!(hex(&o.ctx_out), hex(&k.ctx_out), "{ty} ctx_out");
            }
            Some(o)
        }
        (Err(o), Err(k)) => {
            assert_eq!(Some(o.errno()), k.errno(), "{ty}: ours {o}, kernel {k}");
            None
        }
        (o, k) => panic!("{ty}: oxbpf {o:?} but kernel {k:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn packet(n: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
    // An IPv4/UDP frame to a unicast MAC that is not the loopback's.
    p[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    p[12] = 0x08;
    p[13] = 0x00;
    p[14] = 0x45;
    p[23] = 17;
    p
}

#[test]
fn xdp_ctx_fields_and_tx() {
    // Swap the first two MAC bytes, return ingress_ifindex*16 + rx_queue_index + 3.
    let src = "
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 14
        if r4 > r3 goto drop
        r5 = *(u8 *)(r2 + 0)
        r6 = *(u8 *)(r2 + 1)
        *(u8 *)(r2 + 0) = r6
        *(u8 *)(r2 + 1) = r5
        r0 = *(u32 *)(r1 + 12)
        r0 <<= 4
        r7 = *(u32 *)(r1 + 16)
        r0 += r7
        r0 += 3
        exit
    drop:
        r0 = 1
        exit";
    let o = compare("xdp", src, &packet(64), None).unwrap();
    assert_eq!(o.retval, 16 + 3);
    let ctx = [
        0u8, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    compare("xdp", src, &packet(64), Some(&ctx)).unwrap();
    // Too short, bad ctx_in: the same errno as the kernel.
    assert!(compare("xdp", src, &packet(64)[..10], None).is_none());
    let bad = [0u8, 0, 0, 0, 64, 0, 0, 0, 4, 0, 0, 0];
    assert!(compare("xdp", src, &packet(64), Some(&bad)).is_none());
}

#[test]
fn xdp_adjust_head_tail_meta() {
    // Grow the head by 4 and write a marker, grow the tail by 6, shrink by 2, add 8 bytes
    // of metadata; r0 collects each helper's result.
    let src = "
        r6 = r1
        r2 = -4
        call 44
        r9 = r0
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 4
        if r4 > r3 goto out
        r5 = 0x0abbccdd
        *(u32 *)(r2 + 0) = r5
        r1 = r6
        r2 = 6
        call 65
        r9 += r0
        r1 = r6
        r2 = -2
        call 65
        r9 += r0
        r1 = r6
        r2 = -8
        call 54
        r9 += r0
        r2 = *(u32 *)(r6 + 8)
        r3 = *(u32 *)(r6 + 0)
        r4 = r2
        r4 += 8
        if r4 > r3 goto out
        r5 = 0x11223344
        *(u32 *)(r2 + 0) = r5
        *(u32 *)(r2 + 4) = r5
    out:
        r0 = r9
        r0 += 3
        exit";
    let o = compare("xdp", src, &packet(60), None).unwrap();
    assert_eq!(o.retval, 3);
    assert_eq!(o.data_out.len(), 8 + 4 + 60 + 4);
    // Failing moves return -EINVAL like the kernel's.
    let fail = "
        r6 = r1
        r2 = -300
        call 44
        r9 = r0
        r1 = r6
        r2 = 4000
        call 65
        r9 += r0
        r1 = r6
        r2 = -6
        call 54
        r9 += r0
        r1 = r6
        r2 = -60
        call 54
        r0 = r9
        r0 += r0
        exit";
    compare("xdp", fail, &packet(60), None).unwrap();
}

#[test]
fn skb_ctx_fields_one_by_one() {
    // Every readable u32 field, alone, for socket filters and tc, with and without ctx_in.
    let mut ctx = [0u8; 192];
    ctx[8] = 7; // mark
    ctx[32] = 5; // priority
    ctx[36] = 3; // ingress_ifindex
    ctx[52] = 9; // cb[1]
    ctx[164] = 2; // gso_segs
    for ty in ["socket_filter", "tc"] {
        let t = ProgramType::from_name(ty).unwrap();
        for f in t.ctx.fields {
            for off in (f.off..f.off + f.size.min(8)).step_by(4) {
                if off == super::ctx::sk_buff::DATA
                    || off == super::ctx::sk_buff::DATA_END
                    || off == super::ctx::sk_buff::DATA_META
                {
                    continue; // addresses differ by nature
                }
                // 8-byte fields only allow 8-byte loads.
                let w = if f.size == 8 { "u64" } else { "u32" };
                if f.size == 8 && off != f.off {
                    continue;
                }
                let src = format!("r0 = *({w} *)(r1 + {off})\nexit");
                for c in [None, Some(&ctx[..])] {
                    let o = compare(ty, &src, &packet(80), c);
                    assert!(o.is_some(), "{ty} {}", f.name);
                }
            }
        }
    }
}

#[test]
fn socket_filter_ctx_ld_abs_and_load_bytes() {
    // Mixes len, pkt_type, protocol, ifindex, mark, cb[1], LD_ABS and skb_load_bytes,
    // writes cb[0]; data_out has the Ethernet header zeroed.
    let src = "
        r6 = r1
        r9 = *(u32 *)(r6 + 0)
        r2 = *(u32 *)(r6 + 4)
        r2 <<= 8
        r9 += r2
        r2 = *(u32 *)(r6 + 16)
        r2 <<= 12
        r9 += r2
        r2 = *(u32 *)(r6 + 40)
        r2 <<= 20
        r9 += r2
        r2 = *(u32 *)(r6 + 8)
        r9 += r2
        r2 = *(u32 *)(r6 + 52)
        r9 += r2
        r0 = *(u8 *)skb[9]
        r9 += r0
        r0 = *(u16 *)skb[2]
        r9 += r0
        r1 = r6
        r2 = 4
        r3 = r10
        r3 += -8
        r4 = 4
        call 26
        r9 += r0
        r2 = *(u32 *)(r10 - 8)
        r9 ^= r2
        r1 = r6
        r2 = 1000
        r3 = r10
        r3 += -8
        r4 = 4
        call 26
        r9 += r0
        *(u32 *)(r6 + 48) = r9
        r0 = r9
        exit";
    let o = compare("socket_filter", src, &packet(80), None).unwrap();
    assert_eq!(&o.data_out[..14], &[0; 14]);
    let mut ctx = vec![0u8; 192];
    ctx[8] = 7; // mark
    ctx[52] = 9; // cb[1]
    ctx[32] = 5; // priority
    compare("socket_filter", src, &packet(80), Some(&ctx)).unwrap();
    // A field test runs may not set: EINVAL in both.
    let mut bad = ctx.clone();
    bad[44] = 1; // tc_index
    assert!(compare("socket_filter", src, &packet(80), Some(&bad)).is_none());
    // Broadcast and IPv6 frames: pkt_type and protocol follow eth_type_trans.
    let mut p = packet(80);
    p[..6].fill(0xff);
    p[12] = 0x86;
    p[13] = 0xdd;
    compare("socket_filter", src, &p, None).unwrap();
    let mut p = packet(80);
    p[..6].fill(0);
    p[12] = 0x00;
    p[13] = 0x20;
    compare("socket_filter", src, &p, None).unwrap();
}

#[test]
fn tc_direct_access_store_bytes_and_ctx_writes() {
    let src = "
        r6 = r1
        r2 = *(u32 *)(r6 + 76)
        r3 = *(u32 *)(r6 + 80)
        r4 = r2
        r4 += 20
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 13)
        *(u8 *)(r2 + 19) = r5
        r5 = 0x1234
        *(u32 *)(r10 - 4) = r5
        r1 = r6
        r2 = 2
        r3 = r10
        r3 += -4
        r4 = 4
        r5 = 0
        call 9
        r9 = r0
        r1 = r6
        r2 = 78
        r3 = r10
        r3 += -4
        r4 = 4
        r5 = 0
        call 9
        r9 += r0
        r2 = 77
        *(u32 *)(r6 + 8) = r2
        *(u32 *)(r6 + 32) = r2
        *(u32 *)(r6 + 64) = r2
        r2 = *(u32 *)(r6 + 0)
        r9 += r2
        r0 = r9
        exit
    out:
        r0 = 2
        exit";
    compare("tc", src, &packet(78), None).unwrap();
    let mut ctx = [0u8; 192];
    ctx[56] = 3;
    compare("tc", src, &packet(78), Some(&ctx)).unwrap();
}

#[test]
fn raw_tracepoint_args() {
    let src = "
        r0 = *(u64 *)(r1 + 0)
        r2 = *(u64 *)(r1 + 8)
        r0 += r2
        r0 += r2
        exit";
    let args: Vec<u8> = [40u64, 1].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let t = ProgramType::from_name("raw_tp").unwrap();
    let vm = Interpreter::from_bytes(&assemble(src).unwrap(), &registry()).unwrap();
    let o = test_run(
        &vm,
        t,
        &TestRun {
            data_in: &[],
            ctx_in: Some(&args),
            repeat: 3,
        },
        &mut RunContext::new(),
    )
    .unwrap();
    assert_eq!(o.retval, 42);
    if kernel::available().is_err() {
        eprintln!("SKIPPED: kernel unavailable");
        return;
    }
    let kp = kernel::Program::load(&kernel::ProgLoad::new(t.id, &assemble(src).unwrap())).unwrap();
    let k = kp
        .test_run(&kernel::TestRun {
            ctx_in: &args,
            ..kernel::TestRun::default()
        })
        .unwrap();
    assert_eq!(k.retval, o.retval);
}

/// Each run grows the head by 4 and writes one more than the word behind it: the moves
/// accumulate over a test run's repetitions, as in the kernel (which does not reset the
/// `xdp_buff` or restore the packet between repeats).
const XDP_GROW_EACH_RUN: &str = "
        r6 = r1
        r2 = -4
        call 44
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 8
        if r4 > r3 goto out
        r5 = *(u32 *)(r2 + 4)
        r5 += 1
        *(u32 *)(r2 + 0) = r5
    out:
        r0 = 2
        exit";

#[test]
fn repeated_runs_share_the_packet_and_context() {
    let o = compare_repeat("xdp", XDP_GROW_EACH_RUN, &packet(60), None, 5).unwrap();
    assert_eq!(o.data_out.len(), 80);
    // cb[0] counts runs in the skb both keep.
    let tc = "
        r2 = *(u32 *)(r1 + 48)
        r2 += 1
        *(u32 *)(r1 + 48) = r2
        r0 = r2
        exit";
    let o = compare_repeat("tc", tc, &packet(60), Some(&[0u8; 192]), 7).unwrap();
    assert_eq!(o.retval, 7);
}

#[test]
fn skb_load_and_store_bytes_bad_arguments_match_the_kernel() {
    // Each call's result, 6 bits apiece (0, -EFAULT = 50, -EINVAL = 42), packed into r0.
    let call = |id: u32, off: &str, len: u32, flags: u32| {
        format!(
            "r1 = r6\nr2 = {off}\nr3 = r10\nr3 += -16\nr4 = {len}\nr5 = {flags}\ncall {id}\n\
             r9 <<= 6\nr0 &= 63\nr9 |= r0\n"
        )
    };
    let src = [
        "r6 = r1\nr9 = 0\nr1 = 0x1122334455667788 ll\n*(u64 *)(r10 - 16) = r1\n\
         *(u64 *)(r10 - 8) = r1\n"
            .to_string(),
        call(9, "0", 4, 4),           // store: unknown flag, -EINVAL
        call(9, "0xffffffff", 4, 0),  // store: offset beyond INT_MAX, -EFAULT
        call(9, "76", 4, 1),          // store: past the end, -EFAULT
        call(9, "74", 4, 3),          // store: last 4 bytes, both flags
        call(26, "0x80000000", 4, 0), // load: negative offset, -EFAULT
        call(26, "70", 16, 0),        // load: past the end, -EFAULT (buffer zeroed)
        "r0 = *(u64 *)(r10 - 16)\nr0 ^= r9\nexit".to_string(),
    ]
    .concat();
    // The stored pattern lands in data_out; the zeroed buffer shows in r0.
    let o = compare("tc", &src, &packet(78), None).unwrap();
    assert_eq!(&o.data_out[74..], &0x1122334455667788u64.to_ne_bytes()[..4]);
    compare(
        "socket_filter",
        &src.replace("call 9\n", "call 26\n"),
        &packet(78),
        None,
    );
}

#[test]
fn repeated_runs_on_the_jit_keep_the_kernel_semantics() {
    // The interpreter's output is checked against the kernel's by `compare_repeat`; the
    // JIT (whose per-run entry is tuned for repeats) must produce the same, checked and
    // unchecked.
    let data = packet(60);
    let want = compare_repeat("xdp", XDP_GROW_EACH_RUN, &data, None, 5);
    let t = ProgramType::from_name("xdp").unwrap();
    let insns = crate::isa::decode(&assemble(XDP_GROW_EACH_RUN).unwrap()).unwrap();
    // SAFETY: the program only touches the context and the packet inside the bounds it
    // checks against data_end (the grown head stays inside the headroom).
    let unchecked = unsafe { crate::jit::JitOptions::new().unchecked() };
    for opts in [crate::jit::JitOptions::new(), unchecked] {
        let jit = crate::jit::JitProgram::compile(&insns, &registry(), None, opts).unwrap();
        let got = test_run(
            &jit,
            t,
            &TestRun {
                data_in: &data,
                ctx_in: None,
                repeat: 5,
            },
            &mut RunContext::new(),
        )
        .unwrap();
        if let Some(want) = &want {
            assert_eq!(got.retval, want.retval);
            assert_eq!(hex(&got.data_out), hex(&want.data_out));
        }
        assert_eq!(got.data_out.len(), 80);
    }
}

#[test]
fn short_ip_frames_match_the_kernel() {
    // An IPv4/IPv6 ethertype with less than the fixed IP header after the Ethernet
    // header is EINVAL; other ethertypes run. Returns len so the accepted runs compare.
    let src = "r0 = *(u32 *)(r1 + 0)\nr0 &= 1\nexit";
    let cases: [(u16, &[usize]); 3] = [
        (0x0800, &[14, 15, 20, 33, 34, 35]),
        (0x86dd, &[14, 15, 53, 54, 55]),
        (0x0806, &[14, 15]),
    ];
    for ty in ["sched_cls", "socket_filter", "cgroup_skb"] {
        for (ethertype, sizes) in cases {
            for &n in sizes {
                let mut d = packet(64);
                d.truncate(n);
                d[12..14].copy_from_slice(&ethertype.to_be_bytes());
                let ip_hlen = match ethertype {
                    0x0800 => 20,
                    0x86dd => 40,
                    _ => 0,
                };
                let o = compare(ty, src, &d, None);
                assert_eq!(o.is_some(), n >= 14 + ip_hlen, "{ty} {ethertype:#x} {n}");
            }
        }
    }
}
