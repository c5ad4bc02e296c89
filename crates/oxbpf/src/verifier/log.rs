//! Log helpers: instruction text and one-sentence fix hints for rejections.

use crate::asm::{fmt_insn, DisasmOptions, Style};
use crate::isa::Insn;

/// The instruction as text for the log, in LLVM syntax with decimal immediates
/// (`r0 = *(u64 *)(r10 - 8)`).
pub(super) fn insn_text(insn: &Insn, slot: usize) -> String {
    let mut opts = DisasmOptions::new(Style::Llvm);
    opts.hex = false;
    fmt_insn(insn, slot, &opts)
}

/// A one-sentence hint for a rejection message.
pub(super) fn hint(message: &str) -> &'static str {
    const HINTS: &[(&str, &str)] = &[
        (
            "!read_ok",
            "Initialise the register before reading it; helper and function calls clobber r1-r5.",
        ),
        (
            "_or_null",
            "Compare the pointer with 0 (if (!p) return ...) before using it.",
        ),
        (
            "invalid mem access 'scalar'",
            "Only pointers can be dereferenced; check where this register's value comes from.",
        ),
        (
            "invalid mem access",
            "This pointer type cannot be dereferenced.",
        ),
        (
            "packet",
            "Compare data + offset + size against data_end before the access.",
        ),
        (
            "write into map forbidden",
            "The map is read-only for programs (BPF_F_RDONLY_PROG); do not write its values.",
        ),
        (
            "map value",
            "Bound the offset (e.g. if (i >= N) return) so the access stays inside the map value.",
        ),
        (
            "min value is negative",
            "Use an unsigned index or check index >= 0 before the access.",
        ),
        (
            "memory range",
            "Bound the offset so the access stays inside the object.",
        ),
        (
            "unbounded memory access",
            "Bound the register with a comparison or a mask (var &= const) first.",
        ),
        (
            "invalid access to memory",
            "Keep the access inside the memory object's size.",
        ),
        (
            "misaligned stack access",
            "Align stack accesses to their size.",
        ),
        ("stack", "Keep stack accesses within r10-512 .. r10-1."),
        (
            "invalid size of register",
            "Spill and fill pointers with 8-byte accesses only.",
        ),
        (
            "bpf_context access",
            "Access only the context fields this program type allows, with their exact size.",
        ),
        (
            "ctx",
            "Access context fields through the original r1 plus a constant offset.",
        ),
        (
            "pointer",
            "Only add or subtract scalars to pointers; do other arithmetic on the scalar first.",
        ),
        ("div by zero", "Use a non-zero divisor constant."),
        ("invalid shift", "Shift by less than the operand width."),
        ("unreachable insn", "Remove the dead code or jump to it."),
        (
            "jump out of range",
            "Fix the jump offset so it lands inside the same function.",
        ),
        (
            "ldimm64",
            "Jump to the first half of an lddw, not its second slot.",
        ),
        (
            "last insn",
            "End every function with exit or an unconditional jump.",
        ),
        (
            "infinite loop",
            "Make the loop bounded by a counter the verifier can see.",
        ),
        (
            "too large",
            "Simplify the program or bound loops more tightly; every path is explored.",
        ),
        (
            "too complex",
            "Reduce the number of branches taken in sequence.",
        ),
        (
            "Unreleased reference",
            "Submit or discard every ring buffer record on every path.",
        ),
        (
            "At program exit",
            "Return a value within the program type's allowed range.",
        ),
        (
            "expected=",
            "Pass an argument of the type the helper expects.",
        ),
        (
            "func",
            "Call only helpers available to this program type and license.",
        ),
        (
            "GPL",
            "Declare a GPL-compatible license to call this helper.",
        ),
        (
            "call stack",
            "Reduce the depth of nested function calls (at most 8 frames).",
        ),
        ("map_type", "Use a map type this helper supports."),
        ("known constant", "Pass a constant size."),
        ("zero-sized", "Pass a size of at least 1."),
        (
            "BPF_LD_[ABS|IND]",
            "Use direct packet access instead of legacy packet loads.",
        ),
        (
            "not supported",
            "This construct is not supported by oxbpf's verifier yet.",
        ),
        ("bpf_map", "Reference only maps given to the verifier."),
    ];
    HINTS.iter().find(|(k, _)| message.contains(k)).map_or(
        "Inspect the register states above to see which assumption fails.",
        |(_, h)| h,
    )
}
