/* Firewall-style XDP ACL on longest-prefix-match tries: source prefixes (IPv4 and IPv6
 * tries) map to a rule with an action and a rule id; the most specific rule wins, its
 * hit counter is bumped, and unmatched packets take the default action from .rodata. */
#include "corpus.h"

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct v6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct rule {
	__u32 action;
	__u32 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v4_key);
	__type(value, struct rule);
} acl_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v6_key);
	__type(value, struct rule);
} acl_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} rule_hits SEC(".maps");

const volatile __u32 default_action = XDP_PASS;

static __always_inline int verdict(struct rule *r)
{
	__u32 id;
	__u64 *h;

	if (!r)
		return default_action;
	id = r->id & 15;
	h = bpf_map_lookup_elem(&rule_hits, &id);
	if (h)
		__sync_fetch_and_add(h, 1);
	return r->action <= XDP_TX ? r->action : XDP_ABORTED;
}

SEC("xdp")
int xdp_acl(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct v4_key k = { .prefixlen = 32 };

		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		__builtin_memcpy(k.addr, &ip->saddr, 4);
		return verdict(bpf_map_lookup_elem(&acl_v4, &k));
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		struct v6_key k = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		__builtin_memcpy(k.addr, ip6->saddr, 16);
		return verdict(bpf_map_lookup_elem(&acl_v6, &k));
	}
	return default_action;
}

char LICENSE[] SEC("license") = "GPL";
