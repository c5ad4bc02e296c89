//! `memcpy`, `memmove`, `memset`, `memcmp` for objects whose code calls them as external
//! functions (clang leaves such calls for large or non-constant sizes, or with
//! `-fno-builtin`). The runtime appends these BPF subprograms to the program and turns
//! each external call into a BPF-to-BPF call, so every engine runs them like the
//! program's own code.

use crate::asm::assemble;

/// BPF source of each function: arguments in r1-r3 as in C; r0 is the C return value.
fn source(symbol: &str) -> Option<&'static str> {
    Some(match symbol {
        "memcpy" => {
            "r0 = r1
            if r3 == 0 goto end
        loop:
            r4 = *(u8 *)(r2 + 0)
            *(u8 *)(r1 + 0) = r4
            r1 += 1
            r2 += 1
            r3 += -1
            if r3 != 0 goto loop
        end:
            exit"
        }
        "memmove" => {
            "r0 = r1
            if r3 == 0 goto end
            if r1 > r2 goto back
        fwd:
            r4 = *(u8 *)(r2 + 0)
            *(u8 *)(r1 + 0) = r4
            r1 += 1
            r2 += 1
            r3 += -1
            if r3 != 0 goto fwd
            exit
        back:
            r1 += r3
            r2 += r3
        bloop:
            r1 += -1
            r2 += -1
            r4 = *(u8 *)(r2 + 0)
            *(u8 *)(r1 + 0) = r4
            r3 += -1
            if r3 != 0 goto bloop
        end:
            exit"
        }
        "memset" => {
            "r0 = r1
            if r3 == 0 goto end
        loop:
            *(u8 *)(r1 + 0) = r2
            r1 += 1
            r3 += -1
            if r3 != 0 goto loop
        end:
            exit"
        }
        "memcmp" => {
            "r0 = 0
            if r3 == 0 goto end
        loop:
            r4 = *(u8 *)(r1 + 0)
            r5 = *(u8 *)(r2 + 0)
            if r4 != r5 goto diff
            r1 += 1
            r2 += 1
            r3 += -1
            if r3 != 0 goto loop
            exit
        diff:
            r0 = r4
            r0 -= r5
            r0 <<= 32
            r0 s>>= 32
        end:
            exit"
        }
        _ => return None,
    })
}

/// The instruction slots of the subprogram implementing `symbol`, or `None` for a
/// function the runtime does not provide.
pub(crate) fn subprogram(symbol: &str) -> Option<Vec<[u8; 8]>> {
    let bytes = assemble(source(symbol)?).ok()?;
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| {
                let mut s = [0u8; 8];
                s.copy_from_slice(c);
                s
            })
            .collect(),
    )
}

/// Names of the undefined functions the runtime supplies as BPF subprograms.
pub const PROVIDED: [&str; 4] = ["memcpy", "memmove", "memset", "memcmp"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpers::Registry;
    use crate::interp::Interpreter;
    use crate::vm::RunContext;

    /// Calls `symbol` on `mem` through a BPF-to-BPF call: r1 = &mem[a], r2 = &mem[b]
    /// (memset: the byte `b`), r3 = n.
    fn call(symbol: &str, mem: &mut [u8], a: u64, b: u64, n: u64) -> u64 {
        let r2 = if symbol == "memset" {
            format!("r2 = {b}")
        } else {
            format!("r2 = r1\nr2 += {b}")
        };
        let src = format!(
            "r3 = {n}\n{r2}\nr1 += {a}\ncall sub\nexit\nsub:\n{}",
            source(symbol).unwrap()
        );
        let vm = Interpreter::from_bytes(&crate::asm::assemble(&src).unwrap(), &Registry::new())
            .unwrap();
        let base = mem.as_ptr() as u64;
        let r = vm.run_with_mem(&mut RunContext::new(), mem).unwrap();
        if symbol != "memcmp" {
            assert_eq!(r, base + a, "{symbol} returns dst");
        }
        r
    }

    #[test]
    fn mem_functions_match_libc() {
        let mut m: Vec<u8> = (0..32).collect();
        call("memcpy", &mut m, 0, 16, 8);
        assert_eq!(&m[..8], &[16, 17, 18, 19, 20, 21, 22, 23]);
        let mut m: Vec<u8> = (0..32).collect();
        call("memmove", &mut m, 2, 0, 8);
        assert_eq!(&m[..10], &[0, 1, 0, 1, 2, 3, 4, 5, 6, 7]);
        let mut m: Vec<u8> = (0..32).collect();
        call("memmove", &mut m, 0, 2, 8);
        assert_eq!(&m[..8], &[2, 3, 4, 5, 6, 7, 8, 9]);
        let mut m: Vec<u8> = (0..32).collect();
        call("memset", &mut m, 4, 0xab, 3);
        assert_eq!(&m[3..8], &[3, 0xab, 0xab, 0xab, 7]);
        let mut m = vec![1u8, 2, 3, 1, 2, 4];
        assert_eq!(call("memcmp", &mut m, 0, 3, 2), 0);
        assert_eq!(call("memcmp", &mut m, 0, 3, 3) as i64, -1);
        assert_eq!(call("memcmp", &mut m, 3, 0, 3) as i64, 1);
        for s in PROVIDED {
            assert!(subprogram(s).is_some());
        }
        assert!(subprogram("strlen").is_none());
    }
}
