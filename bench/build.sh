#!/bin/sh
# Rebuild the benchmark programs' BPF objects from their C sources (the harness reads the
# committed .o files, so running the benchmarks needs no clang).
# Usage: bench/build.sh   (needs clang-19 or CLANG=...)
set -eu
cd "$(dirname "$0")/programs"
CLANG="${CLANG:-clang-19}"
for src in *.c; do
	# -mcpu=v3: 32-bit ALU and JMP32 instructions (what current kernels and clang default to
	# for new code); -g: BTF, which the BTF-defined map in maps.c needs.
	"$CLANG" -O2 -target bpf -mcpu=v3 -g -fdebug-prefix-map="$PWD"=. -c "$src" -o "${src%.c}.o"
done
echo "built: $(ls *.o | tr '\n' ' ')"
# The test_run comparison's own programs (crates/oxbpf-bench/src/testrun.rs).
cd ../testrun
for src in *.c; do
	"$CLANG" -O2 -target bpf -mcpu=v3 -g -fdebug-prefix-map="$PWD"=. -c "$src" -o "${src%.c}.o"
done
echo "built: $(ls *.o | tr '\n' ' ')"
