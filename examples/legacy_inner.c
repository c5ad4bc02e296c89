/* The older 28-byte libbpf map definition with inner_map_idx and numa_node. */
#include "oxbpf_helpers.h"

struct bpf_map_def_28 {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

struct bpf_map_def_28 SEC("maps") inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 1,
	.numa_node = 2,
};

struct bpf_map_def_28 SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 8,
	.inner_map_idx = 0,
};

SEC("classifier")
int lookup(struct __sk_buff *skb)
{
	__u32 k = 0;
	void *m = bpf_map_lookup_elem(&outer, &k);

	return m != 0;
}

char LICENSE[] SEC("license") = "BSD";
