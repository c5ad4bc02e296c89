/* XDP multi-buffer (SEC "xdp.frags", loaded with BPF_F_XDP_HAS_FRAGS): strips a 4-byte
 * trailer that may sit in the last fragment. The trailer is read with bpf_xdp_load_bytes
 * wherever it lies, copied over the source MAC with bpf_xdp_store_bytes, then cut off
 * with bpf_xdp_adjust_tail (which trims or frees the last fragment). An array counts
 * packets, bytes, and bytes that were in fragments. */
#include "oxbpf_helpers.h"

static long (*bpf_xdp_adjust_tail)(struct xdp_md *ctx, int delta) = (void *)65;
static __u64 (*bpf_xdp_get_buff_len)(struct xdp_md *ctx) = (void *)188;
static long (*bpf_xdp_load_bytes)(struct xdp_md *ctx, __u32 off, void *buf, __u32 len) = (void *)189;
static long (*bpf_xdp_store_bytes)(struct xdp_md *ctx, __u32 off, void *buf, __u32 len) = (void *)190;

struct stats {
	__u64 packets;
	__u64 bytes;
	__u64 frag_bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} frag_stats SEC(".maps");

SEC("xdp.frags")
int strip_trailer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = bpf_xdp_get_buff_len(ctx);
	__u64 linear = data_end - data;
	__u8 trailer[4];
	__u32 key = 0;
	struct stats *s;

	if (len < 14 + 4 || len > 0xffff)
		return XDP_DROP;
	if (bpf_xdp_load_bytes(ctx, len - 4, trailer, sizeof(trailer)))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 6, trailer, sizeof(trailer)))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, -4))
		return XDP_ABORTED;
	s = bpf_map_lookup_elem(&frag_stats, &key);
	if (s) {
		s->packets++;
		s->bytes += len;
		s->frag_bytes += len - linear;
	}
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
