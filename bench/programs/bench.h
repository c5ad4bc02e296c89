/* Shared header of oxbpf's benchmark programs.
 *
 * Each program is an XDP program over the packet (ctx->data .. ctx->data_end with
 * bounds checks), so the kernel verifier accepts it as-is and BPF_PROG_TEST_RUN can run
 * it with `repeat`. The same source also compiles for the host (no __bpf__): SEC() and
 * the map definition macros become plain C, and the map helpers call into the benchmark
 * harness (oxbpf's map implementation), so "native" runs the same C with -O2.
 *
 * The harness places the packet below 4 GiB, so the 32-bit xdp_md.data/data_end fields
 * hold real addresses for every engine that does not rewrite context loads (oxbpf,
 * rbpf, native); the kernel rewrites them itself.
 */
#ifndef OXBPF_BENCH_H
#define OXBPF_BENCH_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

/* The UAPI struct xdp_md (linux/bpf.h). */
struct xdp_md {
	u32 data;
	u32 data_end;
	u32 data_meta;
	u32 ingress_ifindex;
	u32 rx_queue_index;
	u32 egress_ifindex;
};

#define __noinline __attribute__((noinline))
#define __always_inline inline __attribute__((always_inline))

#define PKT_DATA(ctx) ((u8 *)(unsigned long)(ctx)->data)
#define PKT_END(ctx) ((u8 *)(unsigned long)(ctx)->data_end)

#define BPF_MAP_TYPE_HASH 1
#define BPF_ANY 0
#define BPF_EXIST 2

#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

#ifdef __bpf__
#define SEC(name) __attribute__((section(name), used))
/* Helper ids are the kernel's (enum bpf_func_id). */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value,
				   u64 flags) = (void *)2;
#define BENCH_LICENSE char _license[] SEC("license") = "GPL"
#else
#define SEC(name)
/* Provided by the harness (crates/oxbpf-bench): oxbpf maps, called from native code. */
void *oxbpf_native_map_lookup_elem(void *map, const void *key);
long oxbpf_native_map_update_elem(void *map, const void *key, const void *value, u64 flags);
#define bpf_map_lookup_elem oxbpf_native_map_lookup_elem
#define bpf_map_update_elem oxbpf_native_map_update_elem
#define BENCH_LICENSE typedef int bench_license_unused
#endif

#endif
