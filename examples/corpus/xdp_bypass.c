/* Suricata-style XDP bypass: flows the IDS has seen enough of are placed in a bypass
 * table (by user space, or here on a TCP FIN/RST verdict) and dropped before reaching
 * the capture socket; their packets and bytes are counted per CPU in the flow's entry.
 * Flow keys are normalised so both directions share one entry. */
#include "corpus.h"

struct flow {
	__u32 a_addr;
	__u32 b_addr;
	__u16 a_port;
	__u16 b_port;
	__u8 proto;
	__u8 pad[3];
};

struct flow_counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, struct flow);
	__type(value, struct flow_counters);
} bypass SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

static __always_inline void total(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&totals, &i);

	if (v)
		*v += 1;
}

SEC("xdp")
int xdp_bypass(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct flow f = {};
	struct flow_counters *c, init;
	__u16 sport, dport;
	__u8 flags = 0;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	/* Options-bearing headers go to the IDS (a variable ihl also trips clang into
	 * rebasing the bounds-checked pointer, which verifiers reject). */
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return XDP_PASS;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(ip + 1);

		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		sport = th->source;
		dport = th->dest;
		flags = ((__u8 *)th)[13];
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(ip + 1);

		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		sport = uh->source;
		dport = uh->dest;
	} else {
		return XDP_PASS;
	}
	if (ip->saddr < ip->daddr || (ip->saddr == ip->daddr && sport < dport)) {
		f.a_addr = ip->saddr, f.b_addr = ip->daddr, f.a_port = sport, f.b_port = dport;
	} else {
		f.a_addr = ip->daddr, f.b_addr = ip->saddr, f.a_port = dport, f.b_port = sport;
	}
	f.proto = ip->protocol;

	c = bpf_map_lookup_elem(&bypass, &f);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
		total(0);
		if (flags & 0x05) { /* FIN or RST ends the flow */
			bpf_map_delete_elem(&bypass, &f);
			total(2);
		}
		return XDP_DROP;
	}
	/* A TCP PSH+URG marks "bypass from now on" (stands in for the IDS verdict). */
	if ((flags & 0x28) == 0x28) {
		init.packets = 1;
		init.bytes = data_end - data;
		bpf_map_update_elem(&bypass, &f, &init, BPF_NOEXIST);
	}
	total(1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
