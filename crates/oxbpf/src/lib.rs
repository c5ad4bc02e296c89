//! oxbpf: the eBPF system in user space.
//!
//! Load BPF bytecode (raw, assembly text or `clang -target bpf` objects), run it in the
//! interpreter or the x86-64 JIT with maps and helpers that follow the kernel's ids and
//! semantics, and inspect it as bpftool would.
//!
//! ```
//! use oxbpf::{asm, helpers::Registry, interp::Interpreter, vm::RunContext};
//!
//! let prog = asm::assemble_located("r0 = *(u32 *)(r1 + 0)\nr0 += r2\nexit").unwrap();
//! let vm = Interpreter::new(&prog, &Registry::standard()).unwrap();
//! let mut ctx = RunContext::new();
//! let mut mem = 40u32.to_le_bytes();
//! assert_eq!(vm.run_with_mem(&mut ctx, &mut mem).unwrap(), 44);
//! ```

pub mod asm;
pub mod btf;
pub mod helpers;
pub mod interp;
pub mod isa;
pub mod jit;
#[cfg(target_os = "linux")]
pub mod kernel;
pub mod maps;
pub mod object;
pub mod program;
pub mod runtime;
pub mod testgen;
pub mod verifier;
pub mod vm;
