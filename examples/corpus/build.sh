#!/bin/sh
# Rebuild the corpus objects (examples/corpus/*.o) from their C sources.
# Usage: examples/corpus/build.sh   (needs clang-19 or CLANG=...)
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-clang-19}"
for src in *.c; do
	"$CLANG" -O2 -g -target bpf -fdebug-prefix-map="$PWD"=. -c "$src" -o "${src%.c}.o"
done
echo "built: $(ls *.o | tr '\n' ' ')"
