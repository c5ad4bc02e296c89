/* Hash-map lookup cost from a program: 64 bpf_map_lookup_elem calls on a prefilled
 * u32 -> u64 hash map (all hits), and an empty baseline; (lookups - baseline) / 64 is
 * the cost of one lookup, call included. Built by bench/build.sh. */
#include "../../examples/include/oxbpf_helpers.h"

#define LOOKUPS 64

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

SEC("xdp")
int lookups(struct xdp_md *ctx)
{
	__u64 sum = 0;

#pragma unroll
	for (__u32 i = 0; i < LOOKUPS; i++) {
		__u32 key = i * 7;
		__u64 *v = bpf_map_lookup_elem(&table, &key);

		if (v)
			sum += *v;
	}
	return sum == 0 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int baseline(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
