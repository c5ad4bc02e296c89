/* A host-firewall style cgroup_skb/egress program (in the spirit of systemd's and
 * Cilium's per-cgroup policies): direct packet access from the IPv4 header (cgroup skb
 * data starts at L3), a denied-port hash consulted for TCP/UDP, per-protocol byte and
 * packet accounting in a hash created on first use, and a .bss count of verdicts.
 * Return 1 lets the packet go, 0 drops it. */
#include "corpus.h"

struct acct_key {
	__u8 proto;
	__u8 pad;
	__u16 port; /* destination port, host order; 0 for other protocols */
};

struct acct {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct acct_key);
	__type(value, struct acct);
} accounting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u16);
	__type(value, __u8);
} denied_ports SEC(".maps");

__u64 allowed = 0, denied = 0, malformed = 0;

static __always_inline void account(struct acct_key *k, __u32 len)
{
	struct acct *a = bpf_map_lookup_elem(&accounting, k), init = { 1, len };

	if (!a) {
		bpf_map_update_elem(&accounting, k, &init, BPF_NOEXIST);
		return;
	}
	__sync_fetch_and_add(&a->packets, 1);
	__sync_fetch_and_add(&a->bytes, len);
}

SEC("cgroup_skb/egress")
int egress_fw(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	struct acct_key k = {};

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 1;
	if ((void *)(ip + 1) > data_end || ip->ihl < 5) {
		malformed++;
		return 1;
	}
	k.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__u16 *ports = data + ip->ihl * 4;

		if ((void *)(ports + 2) > data_end) {
			malformed++;
			return 0;
		}
		k.port = bpf_ntohs(ports[1]);
		if (bpf_map_lookup_elem(&denied_ports, &k.port)) {
			denied++;
			return 0;
		}
	}
	account(&k, skb->len);
	allowed++;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
