#!/bin/sh
# Rebuilds the golden disassembly fixtures of the asm module with clang-19 / llvm-19.
# The tests themselves need neither: they read the committed .bin and .txt files.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"

# 1. A clang-compiled program: the `tc` section's bytes and llvm-objdump's view of it.
clang-19 -O2 -target bpf -mcpu=v4 -c prog.c -o "$tmp/prog.o"
llvm-objcopy-19 -O binary --only-section=tc "$tmp/prog.o" prog.bin
llvm-objdump-19 -d --mcpu=v4 --section=tc "$tmp/prog.o" | grep -E '^ +[0-9]+:' > prog.objdump-v4.txt
llvm-objdump-19 -d --section=tc "$tmp/prog.o" | grep -E '^ +[0-9]+:' > prog.objdump.txt

# 2. Every valid encoding of the sweep (written by the ignored test), wrapped in an object.
# The tests include every fixture at compile time: create missing ones so they compile.
for f in sweep.bin sweep.objdump-v4.txt sweep.llvm-mc.txt xlated.bin xlated.bpftool.txt; do
	[ -e "$f" ] || : > "$f"
done
cargo test -q -p oxbpf --lib asm::tests::write_sweep_fixture -- --ignored >/dev/null
printf '.text\n.globl f\nf:\n.incbin "%s"\n' "$here/sweep.bin" > "$tmp/sweep.s"
llvm-mc-19 -triple bpfel -mcpu=v4 -filetype=obj "$tmp/sweep.s" -o "$tmp/sweep.o"
llvm-objdump-19 -d --mcpu=v4 "$tmp/sweep.o" | grep -E '^ +[0-9]+:' > sweep.objdump-v4.txt
# The same bytes through llvm-mc's disassembler, which prints immediates in decimal.
od -An -v -tx1 sweep.bin | sed 's/\([0-9a-f][0-9a-f]\)/0x\1/g' > "$tmp/sweep.hex"
llvm-mc-19 --disassemble -triple=bpfel -mcpu=v4 "$tmp/sweep.hex" | grep -v '^\s*\.text' |
	sed 's/^\t//; s/\t/ /g' > sweep.llvm-mc.txt

# 3. bpftool's `dump xlated` of a loaded program (needs root and bpf(2); skipped otherwise).
pin=/sys/fs/bpf/oxbpf_asm_regen_$$
clang-19 -O2 -target bpf -mcpu=v4 -c xlated.c -o "$tmp/xlated.o"
if bpftool prog load "$tmp/xlated.o" "$pin" 2>/dev/null; then
	bpftool prog dump xlated pinned "$pin" > xlated.bpftool.txt
	bpftool prog dump xlated pinned "$pin" file xlated.bin
	rm -f "$pin"
else
	echo "bpftool prog load failed; xlated fixtures not regenerated" >&2
fi
