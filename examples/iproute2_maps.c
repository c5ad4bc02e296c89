/* iproute2-style 36-byte map definitions and non-libbpf section names. */
#include "oxbpf_helpers.h"

struct bpf_elf_map SEC("maps") jmp_table = {
	.type = BPF_MAP_TYPE_PROG_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 8,
	.id = 1,
	.pinning = 2,
};

struct bpf_elf_map SEC("maps") stats = {
	.type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 4,
	.pinning = 1,
	.inner_id = 3,
	.inner_idx = 5,
};

SEC("2/7")
int tail(struct __sk_buff *skb)
{
	return 0;
}

SEC("from-netdev")
int entry(struct __sk_buff *skb)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&stats, &k);
	if (v)
		*v += 1;
	bpf_tail_call(skb, &jmp_table, 7);
	return 0;
}

char __license[] SEC("license") = "GPL";
