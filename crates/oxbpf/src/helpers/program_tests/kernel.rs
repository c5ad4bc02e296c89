//! The kernel as oracle: the same programs (XDP, GPL) with the same maps run through
//! bpf(2) `BPF_PROG_TEST_RUN` and through the interpreter, and their results arrays (map
//! 0) must agree, as must the expected values where the test states them. Skipped with a
//! message where bpf(2) is not available.

use std::os::fd::{AsFd, AsRawFd};

use super::callbacks::{tens_array, FOR_EACH_ARRAY, LOOP, LOOP_EXPECTED, TAIL_SELF};
use super::maps::{
    ARRAY_EXPECTED, ARRAY_SEQUENCE, HASH_EXPECTED, HASH_SEQUENCE, QUEUE_EXPECTED, QUEUE_SEQUENCE,
};
use super::misc::{check_strings, rodata_map, strings_rodata, RINGBUF, RINGBUF_EXPECTED, STRINGS};
use super::*;
use crate::kernel::{self, MapCreate, ProgLoad, Program, TestRun};

pub(super) fn available() -> bool {
    match kernel::available() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: kernel unavailable: {reason}");
            false
        }
    }
}

/// A kernel copy of an oxbpf map: same definition and contents (arrays, hashes), frozen
/// if the original is.
pub(super) fn kernel_map(m: &Map) -> kernel::Map {
    let d = m.def();
    let km = kernel::Map::create(&MapCreate {
        map_type: d.map_type as u32,
        key_size: d.key_size,
        value_size: d.value_size,
        max_entries: d.max_entries,
        flags: d.map_flags,
        ..MapCreate::default()
    })
    .unwrap_or_else(|e| panic!("kernel map {d:?}: {e}"));
    if matches!(d.map_type, MapType::Array | MapType::Hash) {
        for key in m.keys() {
            km.update(&key, &m.lookup(&key).unwrap(), 0).unwrap();
        }
    }
    if m.is_frozen() {
        km.freeze().unwrap();
    }
    km
}

/// Minimal BTF for a program with `n` functions (the kernel wants `func_info` whenever a
/// program has subprograms used as callbacks): `int`, `int (void)`, and static functions
/// `f0`..`fN` of that type. Returns the raw BTF.
fn func_btf(n: usize) -> Vec<u8> {
    let mut types: Vec<u32> = vec![
        1,              // [1] "int"
        1 << 24,        // BTF_KIND_INT
        4,              // size
        (1 << 24) | 32, // signed, 32 bits
        0,              // [2] FUNC_PROTO, no name
        13 << 24,       // BTF_KIND_FUNC_PROTO, 0 params
        1,              // returns int
    ];
    let mut strings = b"\0int\0".to_vec();
    for i in 0..n {
        types.extend([strings.len() as u32, 12 << 24, 2]); // FUNC, static, type [2]
        strings.extend(format!("f{i}\0").bytes());
    }
    let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut btf = Vec::new();
    btf.extend(0xeb9fu16.to_ne_bytes());
    btf.extend([1u8, 0]);
    for w in [
        24u32,
        0,
        type_bytes.len() as u32,
        type_bytes.len() as u32,
        strings.len() as u32,
    ] {
        btf.extend(w.to_ne_bytes());
    }
    btf.extend(type_bytes);
    btf.extend(strings);
    btf
}

/// Loads `src` as XDP with `maps` (by index), with BTF function info if it has
/// subprograms.
pub(super) fn kernel_load(src: &str, maps: &[kernel::Map]) -> Program {
    kernel_load_as(kernel::PROG_TYPE_XDP, src, maps)
}

/// [`kernel_load`] as another program type (`enum bpf_prog_type`).
pub(super) fn kernel_load_as(prog_type: u32, src: &str, maps: &[kernel::Map]) -> Program {
    let located = assemble_located(src).unwrap();
    let insns = crate::isa::encode(&located);
    let fds: Vec<i32> = maps.iter().map(|m| m.as_fd().as_raw_fd()).collect();
    let starts = crate::isa::function_starts(&located);
    let btf = (starts.len() > 1).then(|| kernel::Btf::load(&func_btf(starts.len()), 1).unwrap());
    let func_info: Vec<u8> = starts
        .iter()
        .enumerate()
        .flat_map(|(i, &slot)| [slot as u32, 3 + i as u32])
        .flat_map(u32::to_ne_bytes)
        .collect();
    Program::load(&ProgLoad {
        fd_array: &fds,
        btf: btf.as_ref().map(|b| kernel::ProgBtf {
            btf_fd: b.as_fd(),
            func_info: &func_info,
            func_info_rec_size: 8,
            line_info: &[],
            line_info_rec_size: 16,
        }),
        ..ProgLoad::new(prog_type, &insns)
    })
    .unwrap_or_else(|e| panic!("kernel rejected the program: {e}\n{src}"))
}

pub(super) fn kernel_results(results: &kernel::Map) -> Vec<i64> {
    results
        .lookup(&0u32.to_ne_bytes())
        .unwrap()
        .unwrap()
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect()
}

/// Runs `src` with fresh copies of `maps` (from `make`) in the kernel and in the
/// interpreter; returns (kernel results, oxbpf results) after checking `r0` agrees.
fn both(src: &str, make: impl Fn() -> Vec<Arc<Map>>) -> (Vec<i64>, Vec<i64>) {
    let ours = make();
    let kmaps: Vec<kernel::Map> = make().iter().map(|m| kernel_map(m)).collect();
    let prog = kernel_load(src, &kmaps);
    let out = prog
        .test_run(&TestRun {
            data_in: &[0u8; 64],
            ..TestRun::default()
        })
        .unwrap();
    let r0 = run(src, &ours).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(u64::from(out.retval), r0 & 0xffff_ffff);
    (kernel_results(&kmaps[0]), results(&ours[0]))
}

/// Builds a fresh set of maps for one side of a comparison.
pub(super) type MakeMaps = fn() -> Vec<Arc<Map>>;

#[test]
fn map_sequences_match_the_kernel() {
    if !available() {
        return;
    }
    let cases: [(&str, Vec<i64>, MakeMaps); 3] = [
        (HASH_SEQUENCE, HASH_EXPECTED.to_vec(), || {
            vec![results_map(12), map(MapType::Hash, 4, 8, 2)]
        }),
        (ARRAY_SEQUENCE, ARRAY_EXPECTED.to_vec(), || {
            vec![results_map(5), map(MapType::Array, 4, 8, 4)]
        }),
        (QUEUE_SEQUENCE, QUEUE_EXPECTED.to_vec(), || {
            vec![results_map(9), map(MapType::Queue, 0, 8, 2)]
        }),
    ];
    for (src, expected, make) in cases {
        let (k, o) = both(src, make);
        assert_eq!(k, expected, "kernel");
        assert_eq!(o, expected, "oxbpf");
    }
}

#[test]
fn callbacks_match_the_kernel() {
    if !available() {
        return;
    }
    let (k, o) = both(LOOP, || vec![results_map(6)]);
    assert_eq!(
        (k.as_slice(), o.as_slice()),
        (&LOOP_EXPECTED[..], &LOOP_EXPECTED[..])
    );
    let (k, o) = both(FOR_EACH_ARRAY, || vec![results_map(5), tens_array()]);
    assert_eq!(k, o);
    assert_eq!(o, [5, 10, 100, 3, -22]);
    // A hash map: iteration order differs, so compare the order-independent results (the
    // count, key and value sums, and the flags check).
    let hash = || {
        let h = map(MapType::Hash, 4, 8, 8);
        for i in 0..5u32 {
            h.update(&i.to_ne_bytes(), &(10 * i as u64).to_ne_bytes(), 0)
                .unwrap();
        }
        vec![results_map(5), h]
    };
    let (k, o) = both(FOR_EACH_ARRAY, hash);
    assert_eq!([k[0], k[1], k[2], k[4]], [5, 10, 100, -22]);
    assert_eq!([o[0], o[1], o[2], o[4]], [5, 10, 100, -22]);
    assert!((1..=5).contains(&k[3]) && (1..=5).contains(&o[3]));
}

#[test]
fn tail_call_limit_matches_the_kernel() {
    if !available() {
        return;
    }
    let kmaps = vec![
        kernel_map(&results_map(1)),
        kernel_map(&map(MapType::ProgArray, 4, 4, 4)),
    ];
    let prog = kernel_load(TAIL_SELF, &kmaps);
    let fd = prog.as_fd().as_raw_fd() as u32;
    kmaps[1]
        .update(&2u32.to_ne_bytes(), &fd.to_ne_bytes(), 0)
        .unwrap();
    let out = prog
        .test_run(&TestRun {
            data_in: &[0u8; 64],
            ..TestRun::default()
        })
        .unwrap();
    assert_eq!(out.retval, 2);
    // The first run plus MAX_TAIL_CALL_CNT (33) tail calls, as in the oxbpf test.
    assert_eq!(kernel_results(&kmaps[0]), [34]);
}

#[test]
fn strings_match_the_kernel() {
    if !available() {
        return;
    }
    let (k, o) = both(STRINGS, || {
        vec![results_map(11), rodata_map(&strings_rodata())]
    });
    check_strings(&k);
    assert_eq!(k, o);
}

#[test]
fn ringbuf_matches_the_kernel() {
    if !available() {
        return;
    }
    let (k, o) = both(RINGBUF, || {
        vec![results_map(5), map(MapType::RingBuf, 0, 0, 4096)]
    });
    assert_eq!(k, RINGBUF_EXPECTED);
    assert_eq!(o, RINGBUF_EXPECTED);
}

/// csum_diff: push, pull and diff with seeds, odd sizes.
const CSUM: &str = "
    r9 = map[idx:0]+0
    r1 = 0xf7f6f5f403f20100 ll
    *(u64 *)(r10 - 8) = r1
    r1 = 0x0123456789abcdef ll
    *(u64 *)(r10 - 16) = r1
    r1 = 0
    r2 = 0
    r3 = r10
    r3 += -8
    r4 = 8
    r5 = 0
    call bpf_csum_diff
    *(u64 *)(r9 + 0) = r0
    r1 = 0
    r2 = 0
    r3 = r10
    r3 += -8
    r4 = 8
    r5 = 0xfffffff0 ll
    call bpf_csum_diff
    *(u64 *)(r9 + 8) = r0
    r1 = r10
    r1 += -8
    r2 = 8
    r3 = 0
    r4 = 0
    r5 = 0x12345678
    call bpf_csum_diff
    *(u64 *)(r9 + 16) = r0
    r1 = r10
    r1 += -8
    r2 = 4
    r3 = r10
    r3 += -16
    r4 = 4
    r5 = 0
    call bpf_csum_diff
    *(u64 *)(r9 + 24) = r0
    r1 = r10
    r1 += -16
    r2 = 16
    r3 = r10
    r3 += -8
    r4 = 8
    r5 = 0xabcdef
    call bpf_csum_diff
    *(u64 *)(r9 + 32) = r0
    r1 = r10
    r1 += -8
    r2 = 6
    r3 = 0
    r4 = 0
    r5 = 0
    call bpf_csum_diff
    *(u64 *)(r9 + 40) = r0
    r1 = 0
    r2 = 0
    r3 = 0
    r4 = 0
    r5 = 77
    call bpf_csum_diff
    *(u64 *)(r9 + 48) = r0
    r0 = 2
    exit
";

#[test]
fn csum_diff_matches_the_kernel() {
    if !available() {
        return;
    }
    let (k, o) = both(CSUM, || vec![results_map(7)]);
    assert_eq!(k, o);
    // Sizes need not be multiples of 4: the tail is summed zero-padded.
    assert_eq!(k[5], 1305);
}

/// probe_read of bad addresses: -EFAULT and a zeroed destination; of the stack: a copy.
const PROBE: &str = "
    r9 = map[idx:0]+0
    r1 = 0x6f6c6c6568 ll
    *(u64 *)(r10 - 8) = r1
    r1 = r9
    r1 += 8
    r2 = 8
    r3 = 0
    call bpf_probe_read_kernel
    *(u64 *)(r9 + 0) = r0
    r1 = r9
    r1 += 24
    r2 = 8
    r3 = 8
    call bpf_probe_read_user
    *(u64 *)(r9 + 16) = r0
    r1 = r9
    r1 += 40
    r2 = 8
    r3 = r10
    r3 += -8
    call bpf_probe_read_kernel
    *(u64 *)(r9 + 32) = r0
    r1 = r9
    r1 += 56
    r2 = 8
    r3 = r10
    r3 += -8
    call bpf_probe_read_kernel_str
    *(u64 *)(r9 + 48) = r0
    r1 = r9
    r1 += 72
    r2 = 8
    r3 = 0
    call bpf_probe_read_kernel_str
    *(u64 *)(r9 + 64) = r0
    r0 = 2
    exit
";

#[test]
fn probe_read_faults_match_the_kernel() {
    if !available() {
        return;
    }
    let make = || {
        let m = results_map(10);
        m.update(&0u32.to_ne_bytes(), &[0xffu8; 80], 0).unwrap();
        vec![m]
    };
    let (k, o) = both(PROBE, make);
    assert_eq!(k, o);
    let (efault, erange) = (-14, -34);
    assert_eq!([k[0], k[1], k[2], k[3]], [erange, 0, efault, 0]);
    assert_eq!(k[4], 0);
    assert_eq!(k[5], 0x6f6c6c6568);
    // The string's NUL ends the copy: the rest of the buffer keeps its 0xff bytes.
    assert_eq!([k[6], k[7]], [6, 0xffff_006f_6c6c_6568_u64 as i64]);
    assert_eq!([k[8], k[9]], [erange, 0]);
}

/// pid/tgid, uid/gid and comm of the current task: `BPF_PROG_TEST_RUN` runs the program
/// in the calling thread, which is also the thread the interpreter runs in.
const TASK: &str = "
    r9 = map[idx:0]+0
    call bpf_get_current_pid_tgid
    *(u64 *)(r9 + 0) = r0
    call bpf_get_current_uid_gid
    *(u64 *)(r9 + 8) = r0
    r1 = r9
    r1 += 16
    r2 = 16
    call bpf_get_current_comm
    *(u64 *)(r9 + 32) = r0
    r1 = r9
    r1 += 40
    r2 = 5
    call bpf_get_current_comm
    r0 = 2
    exit
";

#[test]
fn current_task_matches_the_kernel() {
    if !available() {
        return;
    }
    let (k, o) = both(TASK, || vec![results_map(6)]);
    assert_eq!(k, o);
    // SAFETY: getpid has no preconditions.
    assert_eq!(k[0] >> 32, i64::from(unsafe { libc::getpid() }));
}

/// `%s` of NULL and of an unmapped address prints nothing, in both.
const SNPRINTF_BAD_STRINGS: &str = "
    r9 = map[idx:0]+0
    r1 = 0
    *(u64 *)(r10 - 24) = r1
    r1 = 0x10000000 ll
    *(u64 *)(r10 - 16) = r1
    r1 = 5
    *(u64 *)(r10 - 8) = r1
    r1 = r9
    r1 += 8
    r2 = 16
    r3 = map[idx:1]+0
    r4 = r10
    r4 += -24
    r5 = 24
    call bpf_snprintf
    *(u64 *)(r9 + 0) = r0
    r0 = 2
    exit
";

#[test]
fn snprintf_of_bad_strings_matches_the_kernel() {
    if !available() {
        return;
    }
    let (k, o) = both(SNPRINTF_BAD_STRINGS, || {
        let mut fmt = [0u8; 16];
        fmt[..10].copy_from_slice(b"[%s|%s|%d]");
        vec![results_map(3), rodata_map(&fmt)]
    });
    assert_eq!(k, o);
    assert_eq!(k[0], 6);
    assert_eq!(&k[1].to_ne_bytes()[..6], b"[||5]\0");
}
