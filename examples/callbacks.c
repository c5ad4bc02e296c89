/* Callbacks: bpf_loop bumps every array slot (the callback looks the slot up itself),
 * then bpf_for_each_map_elem sums the values into a context on the caller's stack and
 * stops early at a limit taken from the packet length. */
#include "oxbpf_helpers.h"

static long (*bpf_for_each_map_elem)(void *map, void *callback_fn, void *callback_ctx,
				     __u64 flags) = (void *)164;
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx,
			__u64 flags) = (void *)181;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

struct sum_ctx {
	__u64 sum;
	__u32 seen;
	__u32 limit;
};

static long add_value(void *map, __u32 *key, __u64 *val, struct sum_ctx *c)
{
	c->sum += *val * (*key + 1);
	c->seen++;
	return c->seen >= c->limit;
}

static long bump(__u32 i, void *ctx)
{
	__u32 key = i;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	if (v)
		*v += i + 1;
	return 0;
}

SEC("xdp")
int sum_values(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	struct sum_ctx c = { .limit = (len & 7) + 1 };
	long n = bpf_loop(8, bump, 0, 0);

	bpf_for_each_map_elem(&values, add_value, &c, 0);
	return (__u32)(c.sum * 16 + c.seen + n * 0x10000);
}

char LICENSE[] SEC("license") = "GPL";
