/* A counter pair updated under a bpf_spin_lock: packets and bytes stay consistent even
 * when the program runs on several CPUs (or Rust threads) at once. */
#include "oxbpf_helpers.h"

struct bpf_spin_lock {
	__u32 val;
};

static long (*bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static long (*bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;

struct counter {
	struct bpf_spin_lock lock;
	__u32 max_len;
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

SEC("xdp")
int count_locked(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 len = ctx->data_end - ctx->data;
	struct counter *c = bpf_map_lookup_elem(&counters, &key);

	if (!c)
		return XDP_ABORTED;
	bpf_spin_lock(&c->lock);
	c->packets++;
	c->bytes += len;
	if (len > c->max_len)
		c->max_len = len;
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
