//! The running kernel as oracle: every XDP case of the table is also loaded with
//! `bpf(BPF_PROG_LOAD)` (as root) and the kernel's verdict compared with ours. Known
//! differences are listed with their reason; an unexpected one fails the test.

use super::*;
use crate::isa::{Insn, LdPseudo};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_TYPE_XDP: u32 = 6;

/// Cases where the verdicts differ on purpose, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "dereference a map handle",
        "the kernel lets root read `struct bpf_map` fields through BTF; oxbpf has no kernel objects",
    ),
    (
        "narrow read of a spilled constant",
        "oxbpf reads any bytes of a spilled constant precisely; the kernel only its low bytes",
    ),
];

/// Rejections whose kernel message differs from ours, with the reason.
const KNOWN_WORDING: &[(&str, &str)] = &[
    (
        "32-bit jump does not bound a 64-bit value",
        "oxbpf keeps signed bounds through left shifts; the kernel drops them, so it rejects earlier",
    ),
    ("kfunc call", "kfuncs are not supported by oxbpf's verifier"),
    ("indirect call", "callx is not supported by oxbpf's verifier"),
    ("function pointer load", "callbacks are not supported by oxbpf's verifier"),
    ("BTF id load", "BTF ids are not supported by oxbpf's verifier"),
    (
        "jump into the second half of lddw",
        "the kernel reports the skipped lddw as unreachable before the bad target",
    ),
    ("map index out of range", "the oracle passes fd -1 for a map index that does not exist"),
];

fn sys_bpf(cmd: libc::c_long, attr: &mut [u8; 128]) -> i64 {
    // SAFETY: `attr` is a valid, zero-initialised buffer of the length passed; the kernel
    // reads at most that many bytes and writes only to the log buffer whose address and
    // size the caller placed in it.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) }
}

fn put32(a: &mut [u8; 128], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(a: &mut [u8; 128], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

/// An owned fd closed on drop.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd was returned by bpf(2) to this process and is closed once.
        unsafe { libc::close(self.0) };
    }
}

fn create_map(m: &MapInfo) -> Option<Fd> {
    let mut a = [0u8; 128];
    put32(&mut a, 0, m.map_type);
    put32(&mut a, 4, m.key_size);
    put32(&mut a, 8, m.value_size);
    put32(&mut a, 12, m.max_entries);
    put32(&mut a, 16, m.flags);
    let fd = sys_bpf(BPF_MAP_CREATE, &mut a);
    (fd >= 0).then_some(Fd(fd as i32))
}

/// Loads the case's program as XDP; returns the kernel's verdict and log.
fn kernel_verdict(c: &Case) -> Option<(bool, String)> {
    let maps: Vec<Fd> = c.maps.iter().map(create_map).collect::<Option<_>>()?;
    let insns: Vec<Insn> = c
        .insns
        .iter()
        .map(|i| match *i {
            Insn::LdImm64 {
                dst,
                pseudo: LdPseudo::MapIdx,
                imm,
                imm2,
            } => Insn::LdImm64 {
                dst,
                pseudo: LdPseudo::MapFd,
                imm: maps.get(imm as usize).map_or(-1, |f| f.0),
                imm2,
            },
            Insn::LdImm64 {
                dst,
                pseudo: LdPseudo::MapIdxValue,
                imm,
                imm2,
            } => Insn::LdImm64 {
                dst,
                pseudo: LdPseudo::MapValue,
                imm: maps.get(imm as usize).map_or(-1, |f| f.0),
                imm2,
            },
            i => i,
        })
        .collect();
    let mut bytes = Vec::new();
    for i in &insns {
        i.encode_into(&mut bytes);
    }
    let license: &[u8] = if c.gpl { b"GPL\0" } else { b"MIT\0" };
    let mut log = vec![0u8; 1 << 16];
    let mut a = [0u8; 128];
    put32(&mut a, 0, BPF_PROG_TYPE_XDP);
    put32(&mut a, 4, (bytes.len() / 8) as u32);
    put64(&mut a, 8, bytes.as_ptr() as u64);
    put64(&mut a, 16, license.as_ptr() as u64);
    put32(&mut a, 24, 1);
    put32(&mut a, 28, log.len() as u32);
    put64(&mut a, 32, log.as_mut_ptr() as u64);
    let fd = sys_bpf(BPF_PROG_LOAD, &mut a);
    let text =
        String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)]).into_owned();
    if fd >= 0 {
        drop(Fd(fd as i32));
    }
    Some((fd >= 0, text))
}

fn all_cases() -> Vec<Case> {
    [
        super::cases_alu::cases(),
        super::cases_calls::cases(),
        super::cases_cfg::cases(),
        super::cases_helpers::cases(),
        super::cases_mem::cases(),
        super::cases_pkt::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn verdicts_match_the_kernel() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: loading programs needs root");
        return;
    }
    let mut compared = 0;
    let mut diffs = Vec::new();
    for c in all_cases() {
        if !matches!(c.ty, Ty::Xdp) || c.limit.is_some() || c.insns.is_empty() {
            continue;
        }
        let Some((kernel_ok, klog)) = kernel_verdict(&c) else {
            continue;
        };
        compared += 1;
        let ours_ok = matches!(c.expect, Expect::Accept);
        let known = KNOWN_DIFFERENCES.iter().any(|(n, _)| *n == c.name);
        // Where both reject, the kernel's log should contain our message.
        if let (Expect::Reject(m), false) = (c.expect, kernel_ok) {
            let known_wording = KNOWN_WORDING.iter().any(|(n, _)| *n == c.name);
            if !klog.contains(m) && !known_wording {
                let last = klog.lines().rev().nth(1).unwrap_or("").to_string();
                diffs.push(format!("{}: wording {m:?} | kernel {last:?}", c.name));
            }
        }
        if (kernel_ok != ours_ok) != known {
            let last = klog.lines().rev().nth(1).unwrap_or("").to_string();
            diffs.push(format!(
                "{}: kernel {} ours {} | {}",
                c.name, kernel_ok, ours_ok, last
            ));
        }
    }
    assert!(compared > 100, "only {compared} cases compared");
    assert!(
        diffs.is_empty(),
        "{} of {compared} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
