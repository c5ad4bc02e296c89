/* Route lookup in an LPM trie: the IPv4 destination of each packet is matched against
 * prefixes user space installed; a hit rewrites the first destination MAC byte to the
 * route's next hop id and transmits, a miss passes. Hits and misses are counted in
 * .bss globals. */
#include "oxbpf_helpers.h"

#define BPF_MAP_TYPE_LPM_TRIE 11

struct route_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct route {
	__u32 next_hop;
	__u32 metric;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__type(key, struct route_key);
	__type(value, struct route);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

__u64 hits = 0;
__u64 misses = 0;

SEC("xdp")
int route(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	struct route_key key = { .prefixlen = 32 };
	struct route *r;

	if (data + 14 + 20 > data_end)
		return XDP_DROP;
	if (p[12] != 0x08 || p[13] != 0x00)
		return XDP_PASS;
	__builtin_memcpy(key.addr, p + 14 + 16, 4);
	r = bpf_map_lookup_elem(&routes, &key);
	if (!r) {
		misses++;
		return XDP_PASS;
	}
	hits++;
	p[0] = r->next_hop;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
