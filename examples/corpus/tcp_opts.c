/* TCP option parsing as SYN-proxy and flow-telemetry programs do it: one XDP program walks
 * the options with a constant-bound for loop, a second with bpf_loop and a callback;
 * both record MSS, window scale, SACK-permitted and the timestamp value of each SYN in a
 * hash keyed by source port (the bpf_loop walker's entries | 0x10000), and count malformed option lists. */
#include "corpus.h"

#define MAX_OPT_BYTES 40
/* Options walked by the unrolled loop: each iteration forks the verifier's state on the
 * option kind, so 40 (one per byte) exceeds its 1M-instruction budget; 8 covers the
 * options real SYNs carry (Linux sends 5). */
#define MAX_OPTS 8

struct opts {
	__u16 mss;
	__u8 wscale;
	__u8 sack_ok;
	__u32 tsval;
	__u32 parsed;
	__u32 malformed;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct opts);
} syn_opts SEC(".maps");

struct walk {
	__u8 *start;
	void *data_end;
	__u32 len;
	__u32 off;
	struct opts o;
};

/* Handles the option at w->off; returns 1 to stop the walk. */
static __always_inline int one_option(struct walk *w)
{
	__u8 *p, kind, olen;
	__u32 off = w->off;

	if (off >= w->len || off >= MAX_OPT_BYTES)
		return 1;
	p = w->start + off;
	if ((void *)(p + 1) > w->data_end)
		return 1;
	kind = p[0];
	if (kind == 0)
		return 1;
	if (kind == 1) {
		w->off = off + 1;
		return 0;
	}
	if ((void *)(p + 2) > w->data_end)
		return 1;
	olen = p[1];
	if (olen < 2 || off + olen > w->len) {
		w->o.malformed++;
		return 1;
	}
	if (kind == 2 && olen == 4 && (void *)(p + 4) <= w->data_end)
		w->o.mss = (p[2] << 8) | p[3];
	else if (kind == 3 && olen == 3 && (void *)(p + 3) <= w->data_end)
		w->o.wscale = p[2];
	else if (kind == 4 && olen == 2)
		w->o.sack_ok = 1;
	else if (kind == 8 && olen == 10 && (void *)(p + 6) <= w->data_end)
		w->o.tsval = ((__u32)p[2] << 24) | ((__u32)p[3] << 16) | ((__u32)p[4] << 8) | p[5];
	w->o.parsed++;
	w->off = off + olen;
	return 0;
}

static long loop_cb(__u32 i, void *ctx)
{
	return one_option(ctx);
}

/* Finds a SYN's options; returns the source port, or -1 with nothing to parse. */
static __always_inline int syn_start(struct xdp_md *ctx, struct walk *w)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *th;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_TCP || ip->ihl != 5)
		return -1;
	th = (void *)(ip + 1);
	if ((void *)(th + 1) > data_end || !th->syn || th->doff < 5)
		return -1;
	w->start = (__u8 *)(th + 1);
	w->data_end = data_end;
	w->len = th->doff * 4 - 20;
	return bpf_ntohs(th->source);
}

static __always_inline int record(__u32 port, struct walk *w)
{
	bpf_map_update_elem(&syn_opts, &port, &w->o, BPF_ANY);
	return w->o.malformed ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int opts_unrolled(struct xdp_md *ctx)
{
	struct walk w = {};
	int port = syn_start(ctx, &w), i;

	if (port < 0)
		return XDP_PASS;
	for (i = 0; i < MAX_OPTS; i++)
		if (one_option(&w))
			break;
	return record(port, &w);
}

SEC("xdp")
int opts_bpf_loop(struct xdp_md *ctx)
{
	struct walk w = {};
	int port = syn_start(ctx, &w);

	if (port < 0)
		return XDP_PASS;
	bpf_loop(MAX_OPT_BYTES, loop_cb, &w, 0);
	return record(port | 0x10000, &w);
}

char LICENSE[] SEC("license") = "GPL";
