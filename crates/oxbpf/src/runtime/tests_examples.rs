//! The examples the kernel cannot `test_run` (kprobes), or whose output is read by a
//! user-space consumer (ring buffer), or that need the runtime's `mem*` functions.

use std::sync::Arc;

use super::tests::fixture;
use super::*;
use crate::program::TestRun;
use crate::vm::MemRegion;
use crate::vm::RunContext;

fn xdp_packet(proto: u8) -> Vec<u8> {
    let mut p: Vec<u8> = (0..64u8).collect();
    p[12] = 0x08;
    p[13] = 0x00;
    p[23] = proto;
    p
}

#[test]
fn ringbuf_producer_and_a_rust_consumer_thread() {
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("ringbuf.o")).unwrap();
    let p = Arc::clone(l.program("produce").unwrap());
    let events = Arc::clone(&l.map("events").unwrap().map);
    // The consumer polls on its own thread while the program produces on this one.
    let consumer = std::thread::spawn(move || {
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < 10 {
            events
                .ringbuf_poll(std::time::Duration::from_secs(5), |r| got.push(r.to_vec()))
                .unwrap();
        }
        got
    });
    for i in 0..8u8 {
        let out = p
            .test_run(&TestRun {
                data_in: &xdp_packet(i),
                ..TestRun::default()
            })
            .unwrap();
        assert_eq!(out.output.retval, 2);
    }
    let got = consumer.join().unwrap();
    // 8 events, plus a 16-byte head copy (it starts with byte 0 of the packet, an event
    // with its length 64) after packets 4 and 8.
    let mut seq = 0;
    for r in &got {
        if r[0] == 0 {
            assert_eq!(r[..12], (0..12u8).collect::<Vec<_>>()[..]);
            assert_eq!(seq % 4, 0);
            continue;
        }
        assert_eq!(r.len(), 16);
        seq += 1;
        let len = u32::from_ne_bytes(r[0..4].try_into().unwrap());
        let proto = u16::from_ne_bytes(r[4..6].try_into().unwrap());
        let kind = u16::from_ne_bytes(r[6..8].try_into().unwrap());
        let s = u64::from_ne_bytes(r[8..16].try_into().unwrap());
        assert_eq!((len, proto, kind, s), (64, 0x0800, 1, seq));
    }
    assert_eq!(seq, 8);
    assert_eq!(got.len(), 10);
    let bss = l
        .map("ringbuf.bss")
        .unwrap()
        .map
        .lookup(&0u32.to_ne_bytes())
        .unwrap();
    assert_eq!(bss[..8], 8u64.to_ne_bytes());
    assert_eq!(bss[8..16], 0u64.to_ne_bytes());
}

#[test]
fn kprobe_reads_a_struct_through_probe_read() {
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("kprobe_read.o")).unwrap();
    let p = l.program("on_task").unwrap();
    assert_eq!(p.prog_type.bpftool_name, "kprobe");
    // struct task { int pid; int tgid; char comm[16]; } in "kernel" memory.
    let mut task = [0u8; 24];
    task[0..4].copy_from_slice(&7i32.to_ne_bytes());
    task[4..8].copy_from_slice(&4242i32.to_ne_bytes());
    task[8..14].copy_from_slice(b"oxbpf\0");
    let region = MemRegion {
        start: task.as_ptr() as u64,
        len: task.len() as u64,
        writable: false,
    };
    let mut regs = [0u8; 168];
    regs[112..120].copy_from_slice(&region.start.to_ne_bytes()); // di
    let run = |regs: &[u8], extra: &[MemRegion]| {
        // SAFETY: `task` outlives the run and is only read through the region.
        unsafe {
            p.test_run_with(
                &TestRun {
                    ctx_in: Some(regs),
                    ..TestRun::default()
                },
                &mut RunContext::new(),
                extra,
            )
        }
        .unwrap()
        .output
        .retval as i32
    };
    assert_eq!(run(&regs, &[region]), 4242);
    // last_comm and faults live in .bss.
    let comm = l.map("kprobe_r.bss").unwrap();
    let v = comm.map.lookup(&0u32.to_ne_bytes()).unwrap();
    assert_eq!(&v[..6], b"oxbpf\0");
    // A probe read of an unmapped address fails cleanly (-EFAULT to the program, which
    // counts it and returns -1), as in the kernel.
    regs[112..120].copy_from_slice(&0xdead_0000u64.to_ne_bytes());
    assert_eq!(run(&regs, &[]), -1);
    assert_eq!(run(&regs, &[]), -1);
    let v = comm.map.lookup(&0u32.to_ne_bytes()).unwrap();
    assert_eq!(u32::from_ne_bytes(v[16..20].try_into().unwrap()), 2);
}

#[test]
fn external_memcpy_and_memset_are_supplied() {
    let rt = Runtime::new();
    let l = rt.load_object(&fixture("memfn.o")).unwrap();
    let p = l.program("copy_head").unwrap();
    assert!(p.functions.iter().any(|(n, _)| n == "memcpy"));
    assert!(p.functions.iter().any(|(n, _)| n == "memset"));
    let pkt: Vec<u8> = (0..45u8).collect();
    let out = p
        .test_run(&TestRun {
            data_in: &pkt,
            ..TestRun::default()
        })
        .unwrap();
    assert_eq!(out.output.retval, 45 & 31);
    let head = l.maps[0].map.lookup(&0u32.to_ne_bytes()).unwrap();
    let mut want = vec![0xeeu8; 32];
    want[..13].copy_from_slice(&pkt[..13]);
    assert_eq!(head, want);
}
