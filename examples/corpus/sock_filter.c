/* Capture-style socket filter without LD_ABS, for an AF_INET raw socket (the data starts
 * at the IP header, as in a socket filter's test run): headers are copied with
 * bpf_skb_load_bytes and parsed on the stack. DNS (UDP port 53) is captured whole, TCP
 * SYNs are truncated to their headers, everything else is dropped (return 0). Per-port
 * counts go to a hash, totals to .bss. */
#include "corpus.h"

__u64 seen = 0, captured = 0, truncated = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u16);
	__type(value, __u64);
} port_counts SEC(".maps");

static __noinline int count_port(__u16 port)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(&port_counts, &port);

	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	return bpf_map_update_elem(&port_counts, &port, &one, BPF_NOEXIST);
}

SEC("socket")
int capture(struct __sk_buff *skb)
{
	struct {
		struct iphdr ip;
	} h;
	__u8 l4[20];
	__u32 hlen;
	__u16 sport, dport;

	seen++;
	if (bpf_skb_load_bytes(skb, 0, &h, sizeof(h)))
		return 0;
	if (skb->protocol != bpf_htons(ETH_P_IP) || h.ip.version != 4)
		return 0;
	hlen = h.ip.ihl * 4;
	if (hlen < 20 || hlen > 60)
		return 0;
	if (bpf_skb_load_bytes(skb, hlen, l4, 8))
		return 0;
	sport = (l4[0] << 8) | l4[1];
	dport = (l4[2] << 8) | l4[3];
	if (h.ip.protocol == IPPROTO_UDP && (sport == 53 || dport == 53)) {
		count_port(53);
		captured++;
		return skb->len;
	}
	if (h.ip.protocol == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, hlen, l4, 20))
			return 0;
		if (l4[13] & 0x02) { /* SYN */
			count_port(dport);
			truncated++;
			return hlen + (l4[12] >> 4) * 4;
		}
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
