//! End-to-end tests: assemble, map executable, call.

use super::encoder::*;
use super::memory::{ExecMemory, MemoryError};
use std::sync::atomic::{AtomicU64, Ordering};

type Fn2 = unsafe extern "sysv64" fn(u64, u64) -> u64;

fn map(build: impl FnOnce(&mut Asm)) -> ExecMemory {
    let mut a = Asm::new();
    build(&mut a);
    let code = a.finish().expect("test code lays out");
    ExecMemory::new(&code.bytes).expect("maps")
}

fn call2(mem: &ExecMemory, a: u64, b: u64) -> u64 {
    // SAFETY: every test function here is a sysv64 function of at most two integer
    // arguments returning rax, and `mem` outlives the call.
    unsafe {
        let f: Fn2 = mem.entry(0).expect("entry 0");
        f(a, b)
    }
}

#[test]
fn rdi_plus_rsi_times_three() {
    let mem = map(|a| {
        a.lea(
            Width::W64,
            Reg::Rax,
            Mem::indexed(Reg::Rdi, Reg::Rsi, Scale::S2, 0),
        );
        a.alu(AluOp::Add, Width::W64, Reg::Rax, Reg::Rsi);
        a.ret();
    });
    for (x, y) in [(0, 0), (1, 2), (100, 7), (u64::MAX, 1), (5, u64::MAX)] {
        assert_eq!(call2(&mem, x, y), x.wrapping_add(y.wrapping_mul(3)));
    }
}

#[test]
fn loop_with_backward_and_forward_branches() {
    // sum of 1..=n, with the loop condition at the top.
    let mem = map(|a| {
        let (top, done) = (a.new_label(), a.new_label());
        a.mov_imm(Reg::Rax, 0);
        a.bind(top);
        a.test(Width::W64, Reg::Rdi, Reg::Rdi);
        a.jcc(Cond::E, done);
        a.alu(AluOp::Add, Width::W64, Reg::Rax, Reg::Rdi);
        a.alu_imm(AluOp::Sub, Width::W64, Reg::Rdi, 1);
        a.jmp(top);
        a.bind(done);
        a.ret();
    });
    for n in [0u64, 1, 10, 1000] {
        assert_eq!(call2(&mem, n, 0), n * (n + 1) / 2);
    }
}

#[test]
fn mov_imm_values_are_exact() {
    for v in [
        0u64,
        1,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
        i32::MIN as i64 as u64,
        (i32::MIN as i64 - 1) as u64,
        0x0123_4567_89ab_cdef,
    ] {
        // Dirty rax first so a 32-bit form that failed to zero-extend would show.
        let mem = map(|a| {
            a.mov_imm(Reg::Rax, u64::MAX);
            a.mov_imm(Reg::Rax, v);
            a.ret();
        });
        assert_eq!(call2(&mem, 0, 0), v, "{v:#x}");
    }
}

#[test]
fn byte_swaps_and_extensions_run() {
    let be16 = map(|a| {
        a.mov(Width::W64, Reg::Rax, Reg::Rdi);
        a.rol16(Reg::Rax, 8);
        a.movzx(Ext::B16, Width::W32, Reg::Rax, Reg::Rax);
        a.ret();
    });
    assert_eq!(call2(&be16, 0xdead_1234, 0), 0x3412);
    let be64 = map(|a| {
        a.mov(Width::W64, Reg::Rax, Reg::Rdi);
        a.bswap(Width::W64, Reg::Rax);
        a.ret();
    });
    assert_eq!(
        call2(&be64, 0x0102_0304_0506_0708, 0),
        0x0807_0605_0403_0201
    );
    let sx8 = map(|a| {
        a.movsx(Ext::B8, Width::W64, Reg::Rax, Reg::Rsi);
        a.ret();
    });
    assert_eq!(call2(&sx8, 0, 0x80), 0xffff_ffff_ffff_ff80);
}

#[test]
fn atomics_and_memory_operands_run() {
    // Atomic so that the JIT code's writes through the raw pointer are sound to observe.
    let cell = AtomicU64::new(40);
    let addr = cell.as_ptr() as u64;
    // lock xadd [rdi], rsi: returns the old value, adds in memory.
    let xadd = map(|a| {
        a.mov(Width::W64, Reg::Rax, Reg::Rsi);
        a.lock_xadd(Width::W64, Mem::base(Reg::Rdi, 0), Reg::Rax);
        a.ret();
    });
    assert_eq!(call2(&xadd, addr, 2), 40);
    assert_eq!(cell.load(Ordering::SeqCst), 42);
    // cmpxchg: if [rdi] == 42 store rsi; returns the value seen.
    let cas = map(|a| {
        a.mov_imm(Reg::Rax, 42);
        a.lock_cmpxchg(Width::W64, Mem::base(Reg::Rdi, 0), Reg::Rsi);
        a.ret();
    });
    assert_eq!(call2(&cas, addr, 7), 42);
    assert_eq!(call2(&cas, addr, 9), 7);
    // Indexed store and zero-extending load through r12/r13, the special-case bases.
    let bytes = map(|a| {
        a.push(Reg::R12);
        a.push(Reg::R13);
        a.mov(Width::W64, Reg::R12, Reg::Rdi);
        a.mov(Width::W64, Reg::R13, Reg::Rdi);
        a.mov_imm(Reg::Rcx, 1);
        a.store(
            Size::B8,
            Mem::indexed(Reg::R12, Reg::Rcx, Scale::S2, 1),
            Reg::Rsi,
        );
        a.load(Size::B32, Reg::Rax, Mem::base(Reg::R13, 0));
        a.pop(Reg::R13);
        a.pop(Reg::R12);
        a.ret();
    });
    cell.store(0, Ordering::SeqCst);
    // Byte 3 of cell gets 0xab.
    assert_eq!(call2(&bytes, addr, 0xab), 0xab00_0000);
    assert_eq!(cell.load(Ordering::SeqCst), 0xab00_0000);
}

#[test]
fn mapping_is_read_execute_only() {
    let mem = map(|a| a.ret());
    assert_eq!(mem.code(), &[0xC3]);
    let addr = mem.as_ptr() as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").expect("procfs");
    let line = maps
        .lines()
        .find(|l| {
            let range = l.split_whitespace().next().unwrap_or("");
            let (lo, hi) = range.split_once('-').unwrap_or(("0", "0"));
            let lo = usize::from_str_radix(lo, 16).unwrap_or(0);
            let hi = usize::from_str_radix(hi, 16).unwrap_or(0);
            (lo..hi).contains(&addr)
        })
        .expect("mapping listed");
    let perms = line.split_whitespace().nth(1).expect("perms column");
    assert_eq!(perms, "r-xp", "{line}");
}

#[test]
fn mapping_errors() {
    assert!(matches!(ExecMemory::new(&[]), Err(MemoryError::Empty)));
    let mem = map(|a| a.ret());
    // SAFETY: the pointer is never called; the out-of-range request must fail.
    let r = unsafe { mem.entry::<Fn2>(1) };
    assert!(matches!(
        r,
        Err(MemoryError::EntryOutOfRange { offset: 1, len: 1 })
    ));
}
