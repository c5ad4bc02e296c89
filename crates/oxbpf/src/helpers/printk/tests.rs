use super::*;
use crate::vm::{FaultKind, MemRegion};

/// Formats with a fresh context; string arguments point into `mem`, registered read-only.
fn fmt_with(mem: &[u8], fmt: &str, args: &[u64]) -> Result<String, i64> {
    let mut ctx = RunContext::new();
    // SAFETY: `mem` outlives `ctx` and is only read.
    unsafe {
        ctx.add_region(MemRegion {
            start: mem.as_ptr() as u64,
            len: mem.len() as u64,
            writable: false,
        })
    };
    let mut f = fmt.as_bytes().to_vec();
    f.push(0);
    format_printk(&f, args, &mut ctx).map(|v| String::from_utf8(v).unwrap())
}

fn fmt(fmt: &str, args: &[u64]) -> Result<String, i64> {
    fmt_with(&[], fmt, args)
}

#[test]
fn integers() {
    let neg = (-5i64) as u64;
    assert_eq!(fmt("%d %i %u", &[neg, 7, neg]).unwrap(), "-5 7 4294967291");
    assert_eq!(
        fmt("%ld %lli %llu", &[neg, neg, neg]).unwrap(),
        "-5 -5 18446744073709551611"
    );
    assert_eq!(
        fmt("%x %lx %llX", &[0x1_dead_beef, 0x1_dead_beef, 0xabc]).unwrap(),
        "deadbeef 1deadbeef ABC"
    );
    assert_eq!(fmt("100%% %d", &[1]).unwrap(), "100% 1");
    assert_eq!(fmt("%d", &[0x8000_0000]).unwrap(), "-2147483648");
    assert_eq!(fmt("no args\n", &[]).unwrap(), "no args\n");
}

#[test]
fn flags_and_width() {
    assert_eq!(fmt("[%5d]", &[42]).unwrap(), "[   42]");
    assert_eq!(fmt("[%-5d]", &[42]).unwrap(), "[42   ]");
    assert_eq!(fmt("[%05d]", &[(-42i64) as u64]).unwrap(), "[-0042]");
    assert_eq!(fmt("[%+d] [% d]", &[42, 42]).unwrap(), "[+42] [ 42]");
    assert_eq!(
        fmt("[%+u] [%08x]", &[42, 0xbeef]).unwrap(),
        "[42] [0000beef]"
    );
    assert_eq!(fmt("[%-05d]", &[7]).unwrap(), "[7    ]");
    assert_eq!(
        fmt("[%3c][%-3c]", &[b'a' as u64, b'b' as u64]).unwrap(),
        "[  a][b  ]"
    );
}

#[test]
fn strings_chars_pointers() {
    let mut mem = b"hello\0\x0a\x00\x00\x01".to_vec();
    let mut v6 = [0u8; 16];
    v6[0] = 0xfe;
    v6[1] = 0x80;
    v6[15] = 1;
    mem.extend_from_slice(&v6);
    let mem = &mem[..];
    let p = mem.as_ptr() as u64;
    assert_eq!(fmt_with(mem, "%s!", &[p]).unwrap(), "hello!");
    assert_eq!(fmt_with(mem, "[%7s]", &[p]).unwrap(), "[  hello]");
    assert_eq!(
        fmt_with(mem, "%pks %pus", &[p, p + 1]).unwrap(),
        "hello ello"
    );
    // Unreadable strings print as empty, as the kernel's nofault copy does.
    assert_eq!(fmt_with(mem, "<%s>", &[0x10]).unwrap(), "<>");
    assert_eq!(fmt("%c%c", &[b'o' as u64, 0x14b]).unwrap(), "oK");
    assert_eq!(fmt("%p", &[0xabc]).unwrap(), "0000000000000abc");
    assert_eq!(
        fmt("%px %pK.", &[1, 2]).unwrap(),
        "0000000000000001 0000000000000002."
    );
    assert_eq!(fmt("%ps", &[0x1234]).unwrap(), "0x1234");
    assert_eq!(fmt_with(mem, "%pI4", &[p + 6]).unwrap(), "10.0.0.1");
    assert_eq!(fmt_with(mem, "%pi4", &[p + 6]).unwrap(), "010.000.000.001");
    assert_eq!(
        fmt_with(mem, "%pI6", &[p + 10]).unwrap(),
        "fe80:0000:0000:0000:0000:0000:0000:0001"
    );
    assert_eq!(
        fmt_with(mem, "%pi6", &[p + 10]).unwrap(),
        "fe800000000000000000000000000001"
    );
    assert_eq!(fmt("%pI4", &[0x10]).unwrap(), "0.0.0.0");
    // UTF-8 is allowed in plain text (kernel commit b960430ea886).
    assert_eq!(fmt("é %d", &[1]).unwrap(), "é 1");
}

#[test]
fn invalid_formats() {
    for bad in [
        "%f",
        "%.2d",
        "%lc",
        "%llc",
        "%lllx",
        "%hd",
        "%--------",
        "%q",
        "%sx",
        "%pz",
        "%pI5",
        "\x01",
        "%\u{80}",
        "%d %d %d %d",
        "%",
    ] {
        assert_eq!(fmt(bad, &[1, 2, 3]), Err(EINVAL), "{bad:?}");
    }
    // Three specifiers are fine, a fourth is not.
    assert!(fmt("%d %d %d", &[1, 2, 3]).is_ok());
    // No NUL within fmt_size.
    let mut ctx = RunContext::new();
    assert_eq!(format_printk(b"abc", &[], &mut ctx), Err(EINVAL));
}

#[test]
fn staging_buffer_limit() {
    let mut mem = vec![b'a'; 300];
    mem.push(0);
    let p = mem.as_ptr() as u64;
    let two = fmt_with(&mem, "%s|%s", &[p, p]).unwrap();
    // The second string only gets what is left of 512 bytes after the first (301 with NUL).
    assert_eq!(two.len(), 300 + 1 + 210);
    assert_eq!(fmt_with(&mem, "%s%s%s", &[p, p, p]), Err(ENOSPC));
}

#[test]
fn trace_printk_helper() {
    let mut ctx = RunContext::new();
    let fmt = b"x=%d s=%s\n\0";
    let s = b"str\0";
    // SAFETY: both arrays outlive `ctx` and are only read.
    unsafe {
        for m in [&fmt[..], &s[..]] {
            ctx.add_region(MemRegion {
                start: m.as_ptr() as u64,
                len: m.len() as u64,
                writable: false,
            });
        }
    }
    ctx.cpu_id = 2;
    let f = fmt.as_ptr() as u64;
    let n = bpf_trace_printk(f, fmt.len() as u64, 7, s.as_ptr() as u64, 0, &mut ctx);
    assert_eq!(n, "x=7 s=str\n".len() as u64);
    let lines = ctx.trace.take();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].text, "x=7 s=str\n");
    assert_eq!(lines[0].cpu, 2);
    assert_eq!(lines[0].to_string(), "x=7 s=str");
    let pipe = lines[0].pipe_format("oxbpf", 1);
    assert!(
        pipe.starts_with("           oxbpf-1       [002] ..... "),
        "{pipe}"
    );
    assert!(pipe.ends_with(": bpf_trace_printk: x=7 s=str"), "{pipe}");
    assert!(ctx.fault.is_none());
    // Bad format: -EINVAL, nothing logged.
    let bad = b"%z\0";
    // SAFETY: `bad` outlives `ctx` and is only read.
    unsafe {
        ctx.add_region(MemRegion {
            start: bad.as_ptr() as u64,
            len: 3,
            writable: false,
        })
    };
    assert_eq!(
        bpf_trace_printk(bad.as_ptr() as u64, 3, 0, 0, 0, &mut ctx) as i64,
        -EINVAL
    );
    assert!(ctx.trace.lines().is_empty());
    // fmt_size reaching past the region: a memory-safety fault.
    assert_eq!(
        bpf_trace_printk(f, fmt.len() as u64 + 1, 0, 0, 0, &mut ctx) as i64,
        -EFAULT
    );
    let fault = ctx.fault.take().unwrap();
    assert_eq!(fault.kind, FaultKind::OutOfBounds);
    assert_eq!(fault.addr, f);
    assert_eq!(fault.size as usize, fmt.len() + 1);
}
