//! probe_read*, task, string, csum and ring buffer / perf helpers through programs.

use super::*;
use crate::helpers::errno::{E2BIG, EFAULT, EINVAL, ERANGE};
use crate::maps::{BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE};
use crate::vm::{Fault, FaultKind};

fn fault(r: Result<u64, RunError>) -> (u32, Fault) {
    match r {
        Err(RunError::HelperMemory { helper, fault, .. }) => (helper, fault),
        other => panic!("expected a helper fault, got {other:?}"),
    }
}

/// Reads 8 bytes at `addr` with helper `id` into results[1..2] (r0 into results[0]).
fn probe_read(id: u32, addr: u64, size: u32) -> (i64, [u8; 16]) {
    let maps = [results_map(3)];
    let src = format!(
        "
        r9 = map[idx:0]+0
        r1 = -1
        *(u64 *)(r9 + 8) = r1
        *(u64 *)(r9 + 16) = r1
        r1 = r9
        r1 += 8
        r2 = {size}
        r3 = {addr} ll
        call {id}
        *(u64 *)(r9 + 0) = r0
        exit"
    );
    let (a, b) = run_both(&src, &maps);
    assert_eq!(a, b);
    let r = results(&maps[0]);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&r[1].to_ne_bytes());
    bytes[8..].copy_from_slice(&r[2].to_ne_bytes());
    (r[0], bytes)
}

#[test]
fn probe_read_copies_host_memory_and_fails_safely() {
    // Host memory outside every region of the run: readable by probe_read only.
    let secret: Box<[u8; 16]> = Box::new(*b"0123456789abcdef");
    let addr = secret.as_ptr() as u64;
    for id in [4, 112, 113] {
        let (r, bytes) = probe_read(id, addr, 16);
        assert_eq!((r, &bytes), (0, secret.as_ref()));
        // NULL, an unmapped page, a non-canonical address: -EFAULT (-ERANGE for the
        // NULL page and the `_kernel` variant, as the kernel) and zeroed, no crash.
        for bad in [0, 8, 0xdead_0000_0000, 0xffff_8000_0000_0000] {
            let err = if id == 113 && bad < 65536 {
                -ERANGE
            } else {
                -EFAULT
            };
            let (r, bytes) = probe_read(id, bad, 16);
            assert_eq!((r, bytes), (err, [0; 16]), "helper {id} at {bad:#x}");
        }
        // Size 0 copies nothing.
        let (r, bytes) = probe_read(id, 0, 0);
        assert_eq!((r, bytes), (0, [0xff; 16]));
    }
    // A read that crosses into an unmapped page fails as a whole.
    let page = page_then_hole();
    let (r, bytes) = probe_read(113, page + 4096 - 8, 16);
    assert_eq!((r, bytes), (-EFAULT, [0; 16]));
    // The destination must be writable memory of the run.
    let maps = [Map::new(&MapDef::global_data(".rodata", 16, true)).unwrap()];
    let (h, f) = fault(run(
        &format!("r1 = map[idx:0]+0\nr2 = 8\nr3 = {addr} ll\ncall bpf_probe_read_kernel\nexit"),
        &maps,
    ));
    assert_eq!((h, f.kind), (113, FaultKind::ReadOnly));
}

/// A readable page followed by an unmapped one (leaked: tests share the process).
fn page_then_hole() -> u64 {
    // SAFETY: anonymous private mapping of two fresh pages; the second is unmapped again.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(p, libc::MAP_FAILED);
        let p = p.cast::<u8>();
        std::ptr::write_bytes(p, b'x', 4096);
        assert_eq!(libc::munmap(p.add(4096).cast(), 4096), 0);
        p as u64
    }
}

#[test]
fn probe_read_str_lengths_truncation_and_faults() {
    let s = b"hello\0world";
    let addr = s.as_ptr() as u64;
    for id in [45, 114, 115] {
        let (r, bytes) = probe_read(id, addr, 16);
        assert_eq!(r, 6);
        assert_eq!(&bytes[..6], b"hello\0");
        // Bytes after the NUL are left alone.
        assert_eq!(bytes[6..], [0xff; 10]);
        let (r, bytes) = probe_read(id, addr, 4);
        assert_eq!((r, &bytes[..4]), (4, &b"hel\0"[..]));
        let err = if id == 115 { -ERANGE } else { -EFAULT };
        let (r, bytes) = probe_read(id, 16, 16);
        assert_eq!((r, bytes), (err, [0; 16]));
        assert_eq!(probe_read(id, addr, 0).0, 0);
    }
    // A string running into an unmapped page: -EFAULT; one ending just before it reads.
    let page = page_then_hole();
    assert_eq!(probe_read(115, page + 4096 - 4, 16), (-EFAULT, [0; 16]));
    // SAFETY: the last byte of the mapped page.
    unsafe { *((page + 4095) as *mut u8) = 0 };
    let (r, bytes) = probe_read(115, page + 4096 - 4, 16);
    assert_eq!((r, &bytes[..4]), (4, &b"xxx\0"[..]));
}

#[test]
fn current_task_helpers() {
    let maps = [results_map(4)];
    let src = "
        r9 = map[idx:0]+0
        call bpf_get_current_pid_tgid
        *(u64 *)(r9 + 0) = r0
        call bpf_get_current_uid_gid
        *(u64 *)(r9 + 8) = r0
        r1 = r9
        r1 += 16
        r2 = 16
        call bpf_get_current_comm
        exit";
    std::thread::Builder::new()
        .name("comm-test-thread-long".into())
        .spawn(move || {
            run(src, &maps).unwrap();
            let r = results(&maps[0]);
            // SAFETY: plain libc getters.
            let (pid, tid, uid, gid) = unsafe {
                (
                    libc::getpid(),
                    libc::gettid(),
                    libc::getuid(),
                    libc::getgid(),
                )
            };
            assert_eq!(r[0] as u64, (pid as u64) << 32 | tid as u64);
            assert_eq!(r[1] as u64, (gid as u64) << 32 | uid as u64);
            let comm: Vec<u8> = r[2..].iter().flat_map(|v| v.to_ne_bytes()).collect();
            // Linux keeps 15 bytes of the thread name.
            assert_eq!(&comm, b"comm-test-threa\0");
        })
        .unwrap()
        .join()
        .unwrap();
    // A short buffer is truncated and terminated; func_ip comes from the context.
    let maps = [results_map(1)];
    let vm = load(
        "r9 = map[idx:0]+0\nr1 = r9\nr2 = 3\ncall bpf_get_current_comm\ncall bpf_get_func_ip\nexit",
        &maps,
    );
    let mut ctx = context(&maps);
    ctx.func_ip = 0xffff_ffff_8100_0000;
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(0xffff_ffff_8100_0000));
    let comm = crate::helpers::current_comm();
    let first = results(&maps[0])[0].to_ne_bytes();
    assert_eq!(&first[..3], &[comm[0], comm[1], 0]);
}

/// strncmp of "abcd" (stack) against const strings; snprintf into a map value.
pub(super) const STRINGS: &str = "
    r9 = map[idx:0]+0
    r1 = 0x64636261
    *(u64 *)(r10 - 8) = r1
    r1 = r10
    r1 += -8
    r2 = 4
    r3 = map[idx:1]+0
    call bpf_strncmp
    *(u64 *)(r9 + 0) = r0
    r1 = r10
    r1 += -8
    r2 = 5
    r3 = map[idx:1]+0
    call bpf_strncmp
    *(u64 *)(r9 + 8) = r0
    r1 = r10
    r1 += -8
    r2 = 3
    r3 = map[idx:1]+8
    call bpf_strncmp
    *(u64 *)(r9 + 16) = r0
    r1 = r10
    r1 += -8
    r2 = 4
    r3 = map[idx:1]+8
    call bpf_strncmp
    *(u64 *)(r9 + 24) = r0
    r1 = -7
    *(u64 *)(r10 - 32) = r1
    r1 = 255
    *(u64 *)(r10 - 24) = r1
    r1 = r10
    r1 += -8
    *(u64 *)(r10 - 16) = r1
    r1 = r9
    r1 += 40
    r2 = 24
    r3 = map[idx:1]+16
    r4 = r10
    r4 += -32
    r5 = 24
    call bpf_snprintf
    *(u64 *)(r9 + 32) = r0
    r1 = r9
    r1 += 64
    r2 = 8
    r3 = map[idx:1]+16
    r4 = r10
    r4 += -32
    r5 = 24
    call bpf_snprintf
    *(u64 *)(r9 + 72) = r0
    r1 = 0
    r2 = 0
    r3 = map[idx:1]+16
    r4 = r10
    r4 += -32
    r5 = 24
    call bpf_snprintf
    *(u64 *)(r9 + 80) = r0
    r0 = 2
    exit
";

/// The read-only strings `STRINGS` uses: "abcd" at 0, "abz" at 8, the format at 16.
pub(super) fn strings_rodata() -> Vec<u8> {
    let mut v = vec![0u8; 48];
    v[..4].copy_from_slice(b"abcd");
    v[8..11].copy_from_slice(b"abz");
    let f = b"%d:%x:%s|";
    v[16..16 + f.len()].copy_from_slice(f);
    v
}

/// Results of `STRINGS`: strncmp values, then snprintf lengths; the text "-7:ff:abcd|"
/// lands in slots 5.. and a truncated copy "-7:ff:a" in slot 8.
pub(super) const STRINGS_EXPECTED: [i64; 4] = [0, 0, -1, -1];

pub(super) fn check_strings(r: &[i64]) {
    assert_eq!(r[..4], STRINGS_EXPECTED);
    assert_eq!(r[4], 12);
    let text: Vec<u8> = r[5..8].iter().flat_map(|v| v.to_ne_bytes()).collect();
    assert_eq!(&text[..12], b"-7:ff:abcd|\0");
    assert_eq!(&r[8].to_ne_bytes(), b"-7:ff:a\0");
    assert_eq!(r[9..11], [12, 12]);
}

pub(super) fn rodata_map(bytes: &[u8]) -> Arc<Map> {
    let m = Map::new(&MapDef::global_data(".rodata", bytes.len() as u32, true)).unwrap();
    m.update(&0u32.to_ne_bytes(), bytes, 0).unwrap();
    m.freeze().unwrap();
    m
}

#[test]
fn strncmp_and_snprintf() {
    let maps = [results_map(11), rodata_map(&strings_rodata())];
    run(STRINGS, &maps).unwrap();
    check_strings(&results(&maps[0]));
    // Too few arguments for the format, a size not a multiple of 8, too many, NULL data:
    // -EINVAL (the kernel verifier already refuses the first two at load time).
    for (data, len) in [
        ("r10\nr4 += -32", 16),
        ("r10\nr4 += -32", 12),
        ("r10\nr4 += -104", 104),
        ("0", 8),
    ] {
        let src = format!(
            "r1 = r10\nr1 += -8\nr2 = 8\nr3 = map[idx:1]+16\nr4 = {data}\nr5 = {len}\ncall bpf_snprintf\nexit"
        );
        assert_eq!(run(&src, &maps), Ok(neg(EINVAL)), "{data} {len}");
    }
    // A const string without a NUL inside readable memory is a fault.
    let maps = [rodata_map(b"abcdefgh")];
    let (h, f) = fault(run(
        "r1 = r10\nr1 += -8\nr2 = 8\nr3 = map[idx:0]+4\ncall bpf_strncmp\nexit",
        &maps,
    ));
    assert_eq!((h, f.kind), (182, FaultKind::OutOfBounds));
}

#[test]
fn trace_vprintk_formats_twelve_arguments() {
    let maps = [rodata_map(b"%d %d %d %d %d %d %d %d %d %d %d %d\n\0")];
    let mut src = String::new();
    for i in 0..13 {
        src += &format!("r1 = {}\n*(u64 *)(r10 - {})= r1\n", i + 1, 104 - 8 * i);
    }
    src += "
        r1 = map[idx:0]+0
        r2 = 37
        r3 = r10
        r3 += -104
        r4 = 96
        call bpf_trace_vprintk
        r6 = r0
        r1 = map[idx:0]+0
        r2 = 37
        r3 = r10
        r3 += -104
        r4 = 104
        call bpf_trace_vprintk
        r7 = r0
        r1 = map[idx:0]+0
        r2 = 37
        r3 = r10
        r3 += -104
        r4 = 88
        call bpf_trace_vprintk
        *(u64 *)(r10 - 8) = r0
        r0 = r6
        exit";
    let vm = load(&src, &maps);
    let mut ctx = context(&maps);
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(27));
    let lines = ctx.trace.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "1 2 3 4 5 6 7 8 9 10 11 12\n");
    // 13 values is -EINVAL, 11 values for 12 conversions is -EINVAL.
    let vm = load(&src.replace("r0 = r6\n", "r0 = r7\n"), &maps);
    assert_eq!(vm.run(&mut ctx, 0, 0), Ok(neg(EINVAL)));
}

#[test]
fn csum_diff_matches_the_reference_sum() {
    use crate::helpers::{csum_diff, csum_partial};
    // RFC 1071 example words (in memory order).
    let data = [0x00u8, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    let sum = csum_partial(&data, 0);
    let fold = |s: u32| {
        let s = (s & 0xffff) + (s >> 16);
        ((s & 0xffff) + (s >> 16)) as u16
    };
    assert_eq!(u16::from_be(fold(sum)), 0xddf2);
    // Replacing a word and applying the diff gives the checksum of the new data.
    let mut new = data;
    new[4..8].copy_from_slice(&[1, 2, 3, 4]);
    let diff = csum_diff(&data[4..8], &new[4..8], sum);
    assert_eq!(diff, u32::from(fold(csum_partial(&new, 0))));
    // Through a program, including a size that is not a multiple of 4.
    let maps = [results_map(3)];
    let src = "
        r9 = map[idx:0]+0
        r1 = 0xf7f6f5f403f20100 ll
        *(u64 *)(r10 - 8) = r1
        r1 = 0
        r2 = 0
        r3 = r10
        r3 += -8
        r4 = 8
        r5 = 0
        call bpf_csum_diff
        *(u64 *)(r9 + 0) = r0
        r1 = r10
        r1 += -8
        r2 = 4
        r3 = 0
        r4 = 0
        r5 = 0
        call bpf_csum_diff
        *(u64 *)(r9 + 8) = r0
        r1 = r10
        r1 += -8
        r2 = 3
        r3 = 0
        r4 = 0
        r5 = 0
        call bpf_csum_diff
        *(u64 *)(r9 + 16) = r0
        exit";
    run(src, &maps).unwrap();
    let r = results(&maps[0]);
    assert_eq!(r[0] as u32, u32::from(fold(csum_partial(&data, 0))));
    assert_eq!(r[1] as u32, u32::from(fold(!csum_partial(&data[..4], !0))));
    assert_eq!(r[2] as u32, u32::from(fold(!csum_partial(&data[..3], !0))));
}

/// Ring buffer: reserve + write + submit, reserve + discard, output, query, a reserve
/// larger than the ring (NULL) and bad flags.
pub(super) const RINGBUF: &str = "
    r9 = map[idx:0]+0
    r1 = map[idx:1]
    r2 = 16
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto reserved
    r1 = 0x1122334455667788 ll
    *(u64 *)(r0 + 0) = r1
    *(u64 *)(r0 + 8) = r1
    r1 = r0
    r2 = 0
    call bpf_ringbuf_submit
reserved:
    r1 = map[idx:1]
    r2 = 8
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto discarded
    r1 = r0
    r2 = 0
    call bpf_ringbuf_discard
discarded:
    r1 = 0x0807060504030201 ll
    *(u64 *)(r10 - 8) = r1
    r1 = map[idx:1]
    r2 = r10
    r2 += -8
    r3 = 8
    r4 = 0
    call bpf_ringbuf_output
    *(u64 *)(r9 + 0) = r0
    r1 = map[idx:1]
    r2 = 0
    call bpf_ringbuf_query
    *(u64 *)(r9 + 8) = r0
    r1 = map[idx:1]
    r2 = 1
    call bpf_ringbuf_query
    *(u64 *)(r9 + 16) = r0
    r1 = map[idx:1]
    r2 = 8192
    r3 = 0
    call bpf_ringbuf_reserve
    if r0 == 0 goto big_null
    r1 = r0
    r2 = 0
    call bpf_ringbuf_discard
    r0 = 1
big_null:
    *(u64 *)(r9 + 24) = r0
    r1 = map[idx:1]
    r2 = r10
    r2 += -8
    r3 = 8
    r4 = 8
    call bpf_ringbuf_output
    *(u64 *)(r9 + 32) = r0
    r0 = 2
    exit
";

/// Avail data after submit(16)+discard(8)+output(8): records of 8-byte header + data
/// rounded to 8: 24 + 16 + 16 = 56; ring size 4096.
pub(super) const RINGBUF_EXPECTED: [i64; 5] = [0, 56, 4096, 0, -EINVAL];

#[test]
fn ringbuf_records_and_queries() {
    let rb = map(MapType::RingBuf, 0, 0, 4096);
    let maps = [results_map(5), rb];
    run(RINGBUF, &maps).unwrap();
    assert_eq!(results(&maps[0]), RINGBUF_EXPECTED);
    let mut got = Vec::new();
    maps[1].ringbuf_consume(|r| got.push(r.to_vec())).unwrap();
    assert_eq!(
        got,
        [
            [0x1122334455667788u64.to_ne_bytes(); 2].concat(),
            0x0807060504030201u64.to_ne_bytes().to_vec()
        ]
    );
    let _ = (BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE);
}

#[test]
fn ringbuf_commit_only_own_reservations() {
    let rb = map(MapType::RingBuf, 0, 0, 4096);
    let maps = [rb];
    // Submitting a pointer that is no reservation is a fault.
    let (h, f) = fault(run(
        "r1 = r10\nr1 += -8\nr2 = 0\ncall bpf_ringbuf_submit\nexit",
        &maps,
    ));
    assert_eq!((h, f.access), (132, crate::vm::Access::Write));
    // Submitting twice: the second is a fault.
    let src = "
        r1 = map[idx:0]
        r2 = 8
        r3 = 0
        call bpf_ringbuf_reserve
        if r0 == 0 goto +6
        r6 = r0
        r1 = r6
        r2 = 0
        call bpf_ringbuf_discard
        r1 = r6
        call bpf_ringbuf_submit
        exit";
    assert_eq!(fault(run(src, &maps)).0, 132);
    // Only the reserved bytes are writable, and only until they are committed.
    let past_end = "
        r1 = map[idx:0]
        r2 = 8
        r3 = 0
        call bpf_ringbuf_reserve
        if r0 == 0 goto +1
        *(u64 *)(r0 + 8) = r0
        exit";
    match run(past_end, &maps) {
        Err(RunError::Memory { slot: 6, fault }) => assert_eq!(fault.kind, FaultKind::OutOfBounds),
        other => panic!("{other:?}"),
    }
    let after_submit = "
        r1 = map[idx:0]
        r2 = 8
        r3 = 0
        call bpf_ringbuf_reserve
        if r0 == 0 goto +5
        r6 = r0
        r1 = r0
        r2 = 0
        call bpf_ringbuf_submit
        *(u64 *)(r6 + 0) = r6
        exit";
    assert!(matches!(
        run(after_submit, &maps),
        Err(RunError::Memory { slot: 10, .. })
    ));
    let mut n = 0;
    maps[0].ringbuf_consume(|_| n += 1).unwrap();
    assert_eq!(n, 1);
    // A record left reserved is discarded when the run ends: the ring is usable again.
    let leak = "r1 = map[idx:0]\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nr0 = 0\nexit";
    run(leak, &maps).unwrap();
    run(
        RINGBUF
            .replace("map[idx:1]", "map[idx:0]")
            .replace("r9 = map[idx:0]+0", "r9 = r10\nr9 += -64")
            .as_str(),
        &maps,
    )
    .unwrap();
    let mut n = 0;
    maps[0].ringbuf_consume(|_| n += 1).unwrap();
    assert_eq!(n, 2);
}

#[test]
fn perf_event_output_to_the_current_cpu() {
    let perf = map(MapType::PerfEventArray, 4, 4, 2);
    perf.perf_open(0, 0, 4096).unwrap();
    let maps = [results_map(3), perf];
    let src = "
        r9 = map[idx:0]+0
        r1 = 0x41424344 ll
        *(u64 *)(r10 - 8) = r1
        r1 = 0
        r2 = map[idx:1]
        r3 = 0xffffffff ll
        r4 = r10
        r4 += -8
        r5 = 4
        call bpf_perf_event_output
        *(u64 *)(r9 + 0) = r0
        r1 = 0
        r2 = map[idx:1]
        r3 = 1
        r4 = r10
        r4 += -8
        r5 = 4
        call bpf_perf_event_output
        *(u64 *)(r9 + 8) = r0
        r1 = 0
        r2 = map[idx:1]
        r3 = 5
        r4 = r10
        r4 += -8
        r5 = 4
        call bpf_perf_event_output
        *(u64 *)(r9 + 16) = r0
        exit";
    crate::maps::set_current_cpu(0);
    run(src, &maps).unwrap();
    // CPU 0 has a reader; channel 1 has none (-ENOENT); 5 is out of range.
    assert_eq!(results(&maps[0]), [0, -2, -E2BIG]);
    let mut got = Vec::new();
    maps[1].perf_drain(0, |r| got.push(r.to_vec())).unwrap();
    assert_eq!(got, [b"DCBA".to_vec()]);
}
