/* Packet parser: Ethernet (optional 802.1Q tag) / IPv4 (with options) / TCP / UDP over
 * 32 frames of 64 bytes laid out back to back in the packet; folds the 5-tuple of each
 * TCP/UDP frame into a checksum and counts the others. */
#include "bench.h"

#define FRAME 64
#define NFRAMES 32

#define ETH_P_IP 0x0800
#define ETH_P_8021Q 0x8100
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

struct ethhdr {
	u8 h_dest[6];
	u8 h_source[6];
	u16 h_proto;
};

struct iphdr {
	u8 ver_ihl;
	u8 tos;
	u16 tot_len;
	u16 id;
	u16 frag_off;
	u8 ttl;
	u8 protocol;
	u16 check;
	u32 saddr;
	u32 daddr;
};

struct tcphdr {
	u16 source;
	u16 dest;
	u32 seq;
	u32 ack_seq;
	u16 flags;
	u16 window;
	u16 check;
	u16 urg_ptr;
};

struct udphdr {
	u16 source;
	u16 dest;
	u16 len;
	u16 check;
};

static __always_inline u16 be16(u16 x)
{
	return __builtin_bswap16(x);
}

/* Parses the frame at f. Headers at fixed offsets lie inside the range checked once in
 * the caller; the L4 header sits at a variable offset (IPv4 options), so it is checked
 * against the packet end, which is what the verifier needs (a header running past the
 * frame's 64 bytes reads the next frame: deterministic, and still inside the packet). */
static __always_inline u32 parse_frame(u8 *f, u8 *end)
{
	struct ethhdr *eth = (struct ethhdr *)f;
	u8 *l3 = f + sizeof(*eth);
	u16 proto = be16(eth->h_proto);

	if (proto == ETH_P_8021Q) {
		proto = be16(*(u16 *)(l3 + 2));
		l3 += 4;
	}
	if (proto != ETH_P_IP)
		return 1;
	struct iphdr *ip = (struct iphdr *)l3;
	if ((ip->ver_ihl >> 4) != 4)
		return 2;
	u32 ihl = (ip->ver_ihl & 0x0f) * 4;
	if (ihl < sizeof(*ip))
		return 3;
	if (be16(ip->frag_off) & 0x3fff)
		return 4;
	u8 *l4 = l3 + ihl;
	u32 flow = ip->saddr ^ (ip->daddr * 31) ^ ip->protocol;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (struct tcphdr *)l4;
		if ((u8 *)(tcp + 1) > end)
			return 5;
		return flow ^ (be16(tcp->source) << 16 | be16(tcp->dest)) ^
		       (be16(tcp->flags) & 0x3f);
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (struct udphdr *)l4;
		if ((u8 *)(udp + 1) > end)
			return 6;
		return flow ^ (be16(udp->source) << 16 | be16(udp->dest)) ^ be16(udp->len);
	}
	return 7;
}

SEC("xdp")
int bench_parse(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 acc = 0;

	if (data + FRAME * NFRAMES > end)
		return 0;
	for (int i = 0; i < NFRAMES; i++)
		acc = acc * 33 + parse_frame(data + i * FRAME, end);
	return acc;
}

BENCH_LICENSE;
