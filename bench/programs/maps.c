/* Map-heavy: 128 hash map lookups (keys from the packet, about half present: the
 * harness fills keys 0..127 of 256), an in-place increment on hits and an update
 * (BPF_EXIST, so the key set never changes) on every fourth hit. The result depends only
 * on which keys are present, so repeated runs return the same value. */
#include "bench.h"

#define NKEYS 128

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} bench_counts SEC(".maps");

SEC("xdp")
int bench_maps(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 hits = 0, misses = 0;

	if (data + NKEYS * 4 > end)
		return 0;
	for (int i = 0; i < NKEYS; i++) {
		u32 key = ((u32 *)data)[i] & 255;
		u64 *v = bpf_map_lookup_elem(&bench_counts, &key);

		if (!v) {
			misses++;
			continue;
		}
		*v += 1;
		hits += key;
		if ((i & 3) == 0) {
			u64 nv = key;
			bpf_map_update_elem(&bench_counts, &key, &nv, BPF_EXIST);
		}
	}
	return hits * 3 + misses;
}

BENCH_LICENSE;
