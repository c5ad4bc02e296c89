/* A noinline subprogram in .text called from two programs, one calling it twice
 * and through a second subprogram. */
#include "oxbpf_helpers.h"

/* Built a second time with -DTC_SEC=\"classifier\" for the aya-obj oracle test. */
#ifndef TC_SEC
#define TC_SEC "tc"
#endif

__noinline int add_one(int x)
{
	return x + 1;
}

__noinline int add_two(int x)
{
	return add_one(add_one(x));
}

static __noinline int unused_helper(int x)
{
	return x * 3;
}

SEC("xdp")
int xdp_sub(struct xdp_md *ctx)
{
	int v = add_one((int)ctx->rx_queue_index);
	return v > 2 ? XDP_PASS : XDP_DROP;
}

SEC(TC_SEC)
int tc_sub(struct __sk_buff *skb)
{
	return add_two((int)skb->len) == 0 ? 1 : 0;
}

int (*volatile keep)(int) = unused_helper;

char LICENSE[] SEC("license") = "GPL";
