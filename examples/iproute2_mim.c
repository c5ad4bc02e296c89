/* iproute2-style map-in-map (as tc's examples/bpf/bpf_map_in_map.c): the inner maps carry
 * an `id` and an `inner_idx`, the outer map's `inner_id` names them; iproute2 stores each
 * inner map at slot `inner_idx` of the outer map. The program counts packets per length
 * class in the inner map found through the outer one. */
#include "oxbpf_helpers.h"

#define INNER_ID 42

struct bpf_elf_map SEC("maps") counters_a = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 4,
	.id = INNER_ID,
	.inner_idx = 1,
};

struct bpf_elf_map SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 4,
	.inner_id = INNER_ID,
};

SEC("ingress")
int count_via_outer(struct __sk_buff *skb)
{
	__u32 slot = 1, miss = 0;
	void *inner = bpf_map_lookup_elem(&outer, &slot);
	if (!inner)
		return 1;
	/* An empty slot yields no inner map: count those in slot 0 of a second lookup. */
	if (bpf_map_lookup_elem(&outer, &miss))
		return 2;
	__u32 k = skb->len < 64 ? 0 : skb->len < 128 ? 1 : skb->len < 1500 ? 2 : 3;
	__u64 *v = bpf_map_lookup_elem(inner, &k);
	if (!v)
		return 3;
	*v += 1;
	return 0;
}

char __license[] SEC("license") = "GPL";
