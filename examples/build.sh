#!/bin/sh
# Rebuild oxbpf's example BPF objects from their C sources.
# Usage: examples/build.sh   (needs clang-19 or CLANG=...)
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-clang-19}"
build() { # src out extra-flags...
	src="$1"; out="$2"; shift 2
	"$CLANG" -O2 -target bpf -Iinclude -fdebug-prefix-map="$PWD"=. "$@" -c "$src" -o "$out"
}
build hello.c hello.o -g
build hello.c hello-nobtf.o
build hello.c hello-v1.o -g -mcpu=v1
build subprog.c subprog.o -g
build subprog.c subprog-v4.o -g -mcpu=v4
build legacy_maps.c legacy_maps.o -g
build iproute2_maps.c iproute2_maps.o
build btf_maps.c btf_maps.o -g -mcpu=v3
build extern_call.c extern_call.o -g -fno-builtin
build misc.c misc.o -g
build legacy_inner.c legacy_inner.o
build iproute2_mim.c iproute2_mim.o
build types.c types.o -g
build proto_count.c proto_count.o -g
build lpm_route.c lpm_route.o -g
build ringbuf.c ringbuf.o -g
build kprobe_read.c kprobe_read.o -g
build memfn.c memfn.o -g -fno-builtin
build tailcall.c tailcall.o -g
build spin_lock.c spin_lock.o -g
build callbacks.c callbacks.o -g
build core.c core.o -g
# Every -mcpu with and without debug info (the loader must read them all alike).
mkdir -p mcpu
for v in 1 2 3 4; do
	for s in subprog legacy_maps; do
		build "$s.c" "mcpu/$s-v$v-g.o" -g -mcpu=v$v
		build "$s.c" "mcpu/$s-v$v.o" -mcpu=v$v
	done
done
# Deliberately rejected by the verifier (the README demo); kept out of *.o, which must all run.
build rejected/no_bounds_check.c rejected/no_bounds_check.o -g
# Unguarded access to a field the kernel lacks: CO-RE poisons it and the load fails.
build rejected/core_missing.c rejected/core_missing.o -g
# Golden BTF listings from bpftool, for the BTF parser test.
if command -v bpftool >/dev/null; then
	for o in hello.o subprog.o legacy_maps.o btf_maps.o extern_call.o misc.o types.o; do
		bpftool btf dump file "$o" format raw >"${o%.o}.btf.txt"
	done
fi
# Variants with section names aya-obj 0.3 accepts (oracle test).
build subprog.c subprog-classifier.o -g -DTC_SEC=\"classifier\"
build btf_maps.c btf_maps-classifier.o -g -DTC_SEC=\"classifier\"
build xdp_frags.c xdp_frags.o -g
build snprintf.c snprintf.o -g
echo "built: $(ls *.o | tr '\n' ' ')"
