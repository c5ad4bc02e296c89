//! CO-RE-relocated programs in the runtime: examples/core.o against the kernel's BTF,
//! run here and (XDP) in the kernel on the same packets; the task_struct reader on a
//! "kernel" struct laid out as vmlinux says; poisoned instructions fail the load by name.

use super::tests::{fixture, run_packet};
use super::tests_kernel::{compare_object, ipv4};
use super::*;
use crate::btf::Btf;
use crate::object::{kernel_btf, CoreTarget, VMLINUX_BTF};
use crate::program::TestRun;
use crate::vm::{MemRegion, RunContext};

fn vmlinux() -> Option<Arc<Btf>> {
    let b = kernel_btf();
    if b.is_none() {
        eprintln!("SKIPPED: kernel unavailable: {VMLINUX_BTF} is not readable");
    }
    b
}

fn packet() -> Vec<u8> {
    let mut p = ipv4(17);
    p[14] = 0x46; // version 4, ihl 6
    p[16..18].copy_from_slice(&[0x01, 0x02]); // tot_len
    p[22] = 63; // ttl
    p[30..34].copy_from_slice(&[10, 1, 2, 3]); // daddr
    p
}

#[test]
fn core_parse_reads_the_wire_layout_and_matches_the_kernel() {
    if vmlinux().is_none() {
        return;
    }
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("core.o")).unwrap();
    let p = l.program("core_parse").unwrap();
    assert!(
        p.verified.is_some(),
        "verified, the poisoned access being dead"
    );
    assert_eq!(run_packet(p, &packet()).output.retval, 2);
    let bss = l
        .map("core.bss")
        .unwrap()
        .map
        .lookup(&0u32.to_ne_bytes())
        .unwrap();
    let out: Vec<u64> = bss[..128]
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let want = [
        0x0008,                                       // h_proto (big-endian 0x0800 read as LE)
        17,                                           // protocol
        63,                                           // ttl
        u64::from(u32::from_le_bytes([10, 1, 2, 3])), // daddr (inside an anonymous union)
        0x0201,                                       // tot_len
        6,                                            // ihl: low nibble
        4,                                            // version: high nibble
        0,                                            // the kernel's iphdr has no such field
        0,                                            // ... so the guarded read did not run
        1,                                            // iphdr exists, oxbpf_no_such_type does not
        20,                                           // sizeof(struct iphdr)
        2,                                            // XDP_PASS
        2,           // OXBPF_NO_SUCH_ACTION missing, XDP_DROP there
        2 | 16 << 8, // tot_len is 2 bytes, daddr at 16
        1,           // local type id != 0
        0,           // protocol is unsigned
    ];
    assert_eq!(out, want);
    // The same object in the kernel (relocated the same way) on the same packets.
    let mut short = packet();
    short.truncate(30);
    compare_object(
        "core.o",
        "core_parse",
        &[packet(), ipv4(6), short],
        &["core.bss"],
    );
}

#[test]
fn core_task_reads_a_task_struct_laid_out_as_vmlinux() {
    let Some(k) = vmlinux() else { return };
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("core.o")).unwrap();
    let p = l.program("core_task").unwrap();
    // A "kernel" task_struct at vmlinux's offsets: tgid, comm, real_parent.
    let ts = k
        .id_by_name_kind("task_struct", crate::btf::kind::STRUCT)
        .unwrap();
    let off = |f: &str| (k.member(ts, f).unwrap().bit_offset / 8) as usize;
    let size = k.size_of(ts).unwrap() as usize;
    let mut parent = vec![0u8; size];
    parent[off("tgid")..off("tgid") + 4].copy_from_slice(&1i32.to_ne_bytes());
    let mut task = vec![0u8; size];
    task[off("tgid")..off("tgid") + 4].copy_from_slice(&4242i32.to_ne_bytes());
    task[off("comm")..off("comm") + 6].copy_from_slice(b"oxbpf\0");
    let pp = parent.as_ptr() as u64;
    task[off("real_parent")..off("real_parent") + 8].copy_from_slice(&pp.to_ne_bytes());
    let regions = [
        MemRegion {
            start: task.as_ptr() as u64,
            len: size as u64,
            writable: false,
        },
        MemRegion {
            start: pp,
            len: size as u64,
            writable: false,
        },
    ];
    let mut regs = [0u8; 168];
    regs[112..120].copy_from_slice(&regions[0].start.to_ne_bytes()); // x86-64 di
                                                                     // SAFETY: `task` and `parent` outlive the run and are only read through the regions.
    let out = unsafe {
        p.test_run_with(
            &TestRun {
                ctx_in: Some(&regs),
                ..TestRun::default()
            },
            &mut RunContext::new(),
            &regions,
        )
    }
    .unwrap();
    assert_eq!(out.output.retval as i32, 4242);
    let bss = l
        .map("core.bss")
        .unwrap()
        .map
        .lookup(&0u32.to_ne_bytes())
        .unwrap();
    // core.bss: out[16] (128 bytes), task_comm[16], parent_tgid.
    assert_eq!(&bss[128..134], b"oxbpf\0");
    assert_eq!(i32::from_ne_bytes(bss[144..148].try_into().unwrap()), 1);
}

#[test]
fn poisoned_instruction_fails_the_load_by_name() {
    if vmlinux().is_none() {
        return;
    }
    let rt = Runtime::new();
    let e = rt
        .load_object(&fixture("rejected/core_missing.o"))
        .unwrap_err();
    let RuntimeError::CorePoisoned {
        prog, relocation, ..
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(prog, "core_missing");
    assert!(
        relocation.contains("iphdr___oxbpf.oxbpf_no_such_field"),
        "{e}"
    );
    // Against the object's own BTF the field exists: the program loads and reads it.
    let mut o = fixture("rejected/core_missing.o");
    o.relocate_core(CoreTarget::Local).unwrap();
    let l = rt.load_object(&o).unwrap();
    let mut pkt = vec![0u8; 64];
    pkt[14] = 5; // protocol at 0 of the local layout
    pkt[18] = 7; // the field at 4
    assert_eq!(run_packet(&l.programs[0], &pkt).output.retval, 12);
}

#[test]
fn core_types_gives_the_kernels_type_ids() {
    let Some(k) = vmlinux() else { return };
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("core.o")).unwrap();
    let p = l.program("core_types").unwrap();
    assert_eq!(run_packet(p, &ipv4(6)).output.retval, 2);
    let bss = l
        .map("core.bss")
        .unwrap()
        .map
        .lookup(&0u32.to_ne_bytes())
        .unwrap();
    // types_out[5] follows out[16], task_comm[16] and parent_tgid (8-byte aligned).
    let t: Vec<u64> = bss[152..192]
        .chunks(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    let iphdr = k
        .id_by_name_kind("iphdr", crate::btf::kind::STRUCT)
        .unwrap();
    // ... and the subprogram's relocated ttl offset (8) + 1 for a non-null pointer.
    assert_eq!(t, [0, 0, u64::from(iphdr), 0, 9]);
    compare_object("core.o", "core_types", &[ipv4(6)], &["core.bss"]);
}
