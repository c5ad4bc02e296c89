/* A packet-sampling work queue: an XDP program pushes a small record of every IPv4
 * packet into a FIFO queue (overwriting the oldest when full, BPF_EXIST) and a LIFO
 * stack of recent sources; every fourth packet it pops one record from each and peeks
 * at the next, folding them into .bss, as a consumer running in the datapath would. */
#include "corpus.h"

struct sample {
	__u32 saddr;
	__u16 len;
	__u8 proto;
	__u8 ttl;
};

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__uint(value_size, sizeof(struct sample));
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 3);
	__uint(value_size, sizeof(__u32));
} recent SEC(".maps");

__u64 pushed = 0, push_fail = 0, popped = 0, pop_empty = 0;
__u64 fold = 0;
__u32 peeked = 0;

SEC("xdp")
int sample_queue(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct sample s = {}, out;
	__u32 src;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	s.saddr = ip->saddr;
	s.len = data_end - data;
	s.proto = ip->protocol;
	s.ttl = ip->ttl;
	if (bpf_map_push_elem(&fifo, &s, BPF_EXIST))
		push_fail++;
	else
		pushed++;
	src = ip->saddr;
	if (bpf_map_push_elem(&recent, &src, 0))
		push_fail++;
	if ((pushed & 3) == 0) {
		if (bpf_map_pop_elem(&fifo, &out) == 0) {
			popped++;
			fold = fold * 31 + out.saddr + out.len + out.proto;
		} else {
			pop_empty++;
		}
		if (bpf_map_pop_elem(&recent, &src) == 0)
			fold ^= src;
		else
			pop_empty++;
		if (bpf_map_peek_elem(&fifo, &out) == 0)
			peeked = out.saddr;
	}
	return s.ttl <= 1 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
