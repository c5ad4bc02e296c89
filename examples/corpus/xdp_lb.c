/* Katran/Cilium-style XDP L4 load balancer: parses Ethernet (with up to two VLAN tags),
 * IPv4 and IPv6, then TCP or UDP; a VIP table selects a service, an LRU conntrack table
 * pins each flow to a backend chosen from an array by hash; the IPv4 destination is
 * rewritten with the header checksum fixed through bpf_csum_diff, the MACs are swapped
 * and the packet bounced with XDP_TX. Per-CPU counters record every verdict. */
#include "corpus.h"

#define MAX_BACKENDS 8

struct vip_key {
	__u32 addr; /* IPv4 in network order; IPv6 uses the last word */
	__u16 port;
	__u8 proto;
	__u8 family;
};

struct vip_meta {
	__u32 first_backend;
	__u32 nr_backends;
};

struct flow_key {
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct backend {
	__u32 addr;
	__u8 mac[6];
	__u16 pad;
};

struct lb_stats {
	__u64 packets;
	__u64 bytes;
};

enum { ST_RX, ST_TX, ST_PASS, ST_DROP, ST_NEW_FLOW, ST_V6, ST_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, __u32);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_MAX);
	__type(key, __u32);
	__type(value, struct lb_stats);
} stats SEC(".maps");

static __always_inline void count(__u32 what, __u64 bytes)
{
	struct lb_stats *s = bpf_map_lookup_elem(&stats, &what);

	if (s) {
		s->packets++;
		s->bytes += bytes;
	}
}

static __always_inline __u32 flow_hash(const struct flow_key *k)
{
	__u32 h = k->src ^ (k->dst * 2654435761u);

	h ^= ((__u32)k->sport << 16) | k->dport;
	h ^= h >> 15;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	return h ^ k->proto;
}

struct parsed {
	void *l4;
	__u16 l3_proto;
	__u8 l4_proto;
	__u8 family;
};

static __always_inline int parse_eth(void *data, void *data_end, struct parsed *p, void **l3)
{
	struct ethhdr *eth = data;
	__u16 proto;
	void *cur;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;
	proto = eth->h_proto;
	cur = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *vh = cur;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return -1;
		proto = vh->encap_proto;
		cur = vh + 1;
	}
	p->l3_proto = proto;
	*l3 = cur;
	return 0;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct parsed p = {};
	struct flow_key fk = {};
	struct vip_key vk = {};
	struct vip_meta *vip;
	struct backend *be;
	struct iphdr *ip4 = 0;
	void *l3;
	__u32 *pinned, idx;

	count(ST_RX, len);
	if (parse_eth(data, data_end, &p, &l3) < 0)
		goto drop;
	if (p.l3_proto == bpf_htons(ETH_P_IP)) {
		ip4 = l3;
		if ((void *)(ip4 + 1) > data_end)
			goto drop;
		if (ip4->ihl != 5 || (ip4->frag_off & bpf_htons(0x3fff)))
			goto pass;
		fk.src = ip4->saddr;
		fk.dst = ip4->daddr;
		p.l4_proto = ip4->protocol;
		p.l4 = ip4 + 1;
		p.family = 4;
	} else if (p.l3_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			goto drop;
		fk.src = ip6->saddr[0] ^ ip6->saddr[1] ^ ip6->saddr[2] ^ ip6->saddr[3];
		fk.dst = ip6->daddr[3];
		p.l4_proto = ip6->nexthdr;
		p.l4 = ip6 + 1;
		p.family = 6;
		count(ST_V6, len);
	} else {
		goto pass;
	}

	if (p.l4_proto == IPPROTO_TCP) {
		struct tcphdr *th = p.l4;

		if ((void *)(th + 1) > data_end)
			goto drop;
		fk.sport = th->source;
		fk.dport = th->dest;
	} else if (p.l4_proto == IPPROTO_UDP) {
		struct udphdr *uh = p.l4;

		if ((void *)(uh + 1) > data_end)
			goto drop;
		fk.sport = uh->source;
		fk.dport = uh->dest;
	} else {
		goto pass;
	}
	fk.proto = p.l4_proto;

	vk.addr = fk.dst;
	vk.port = fk.dport;
	vk.proto = fk.proto;
	vk.family = p.family;
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (!vip)
		goto pass;

	pinned = bpf_map_lookup_elem(&conntrack, &fk);
	if (pinned) {
		idx = *pinned;
	} else {
		if (vip->nr_backends == 0)
			goto drop;
		idx = vip->first_backend + flow_hash(&fk) % vip->nr_backends;
		bpf_map_update_elem(&conntrack, &fk, &idx, BPF_NOEXIST);
		count(ST_NEW_FLOW, len);
	}
	if (idx >= MAX_BACKENDS)
		goto drop;
	be = bpf_map_lookup_elem(&backends, &idx);
	if (!be || !be->addr)
		goto drop;

	if (ip4) {
		__be32 old = ip4->daddr, new = be->addr;
		__s64 sum = bpf_csum_diff(&old, 4, &new, 4, ~((__u32)ip4->check) & 0xffff);

		if (sum < 0)
			goto drop;
		ip4->daddr = new;
		ip4->check = csum_fold(sum);
	}
	{
		struct ethhdr *eth = data;
		__u8 tmp[6];

		if ((void *)(eth + 1) > data_end)
			goto drop;
		__builtin_memcpy(tmp, eth->h_source, 6);
		__builtin_memcpy(eth->h_source, eth->h_dest, 6);
		__builtin_memcpy(eth->h_dest, be->mac, 6);
		(void)tmp;
	}
	count(ST_TX, len);
	return XDP_TX;
pass:
	count(ST_PASS, len);
	return XDP_PASS;
drop:
	count(ST_DROP, len);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
