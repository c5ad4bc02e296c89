/* Cilium-style tc ingress pipeline: the entry program classifies by L3/L4 protocol with
 * bpf_skb_load_bytes and tail-calls through a prog array into per-protocol stages; the
 * stages set skb->mark and skb->priority from a policy map, rewrite the DSCP byte with
 * bpf_skb_store_bytes, and record per-stage hits. Unknown slots fall through. */
#include "corpus.h"

#define SLOT_TCP 0
#define SLOT_UDP 1
#define SLOT_OTHER 2

struct policy {
	__u32 mark;
	__u32 priority;
	__u8 dscp;
	__u8 pad[3];
};

int stage_tcp(struct __sk_buff *skb);
int stage_udp(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} stages SEC(".maps") = {
	.values = { [SLOT_TCP] = (void *)&stage_tcp, [SLOT_UDP] = (void *)&stage_udp },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32);
	__type(key, __u16); /* destination port, host order */
	__type(value, struct policy);
} policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline void hit(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&hits, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The IPv4 header length in bytes, or -1 if it is not an IPv4 packet. */
static __always_inline int ipv4_hlen(struct __sk_buff *skb)
{
	__u8 vihl;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return -1;
	if (bpf_skb_load_bytes(skb, 14, &vihl, 1))
		return -1;
	if ((vihl >> 4) != 4 || (vihl & 0xf) < 5)
		return -1;
	return (vihl & 0xf) * 4;
}

static __always_inline int apply_policy(struct __sk_buff *skb, int hlen)
{
	__u16 dport;
	struct policy *pol;

	if (bpf_skb_load_bytes(skb, 14 + hlen + 2, &dport, 2))
		return TC_ACT_SHOT;
	dport = bpf_ntohs(dport);
	pol = bpf_map_lookup_elem(&policies, &dport);
	if (!pol) {
		skb->mark = 0xdead;
		return TC_ACT_OK;
	}
	skb->mark = pol->mark;
	skb->priority = pol->priority;
	if (pol->dscp) {
		__u8 tos = pol->dscp << 2;

		/* The IPv4 checksum is left to the stack: this runs before the rx checksum. */
		if (bpf_skb_store_bytes(skb, 15, &tos, 1, 0))
			return TC_ACT_SHOT;
	}
	return pol->mark & 1 ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int stage_tcp(struct __sk_buff *skb)
{
	int hlen = ipv4_hlen(skb);

	hit(SLOT_TCP);
	if (hlen < 0)
		return TC_ACT_SHOT;
	return apply_policy(skb, hlen);
}

SEC("tc")
int stage_udp(struct __sk_buff *skb)
{
	int hlen = ipv4_hlen(skb);

	hit(SLOT_UDP);
	if (hlen < 0)
		return TC_ACT_SHOT;
	skb->priority = skb->len;
	return apply_policy(skb, hlen);
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	__u8 proto;
	int hlen = ipv4_hlen(skb);

	skb->cb[0] = skb->len;
	if (hlen < 0)
		goto other;
	if (bpf_skb_load_bytes(skb, 14 + 9, &proto, 1))
		return TC_ACT_SHOT;
	if (proto == IPPROTO_TCP)
		bpf_tail_call(skb, &stages, SLOT_TCP);
	else if (proto == IPPROTO_UDP)
		bpf_tail_call(skb, &stages, SLOT_UDP);
	else
		bpf_tail_call(skb, &stages, SLOT_OTHER);
other:
	hit(SLOT_OTHER + 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
