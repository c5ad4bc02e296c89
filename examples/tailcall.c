/* Tail-call dispatcher: an XDP entry point jumps through a prog array indexed by the
 * IPv4 protocol to a per-protocol handler (TCP and UDP slots filled from the object's
 * initial values); other packets fall through. Each path counts in .bss. */
#include "oxbpf_helpers.h"

__u64 tcp_seen = 0, udp_seen = 0, fallthrough = 0;

int handle_tcp(struct xdp_md *ctx);
int handle_udp(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 256);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} handlers SEC(".maps") = {
	.values = { [6] = (void *)&handle_tcp, [17] = (void *)&handle_udp },
};

SEC("xdp")
int handle_tcp(struct xdp_md *ctx)
{
	tcp_seen++;
	return XDP_DROP;
}

SEC("xdp")
int handle_udp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;

	udp_seen++;
	if (data + 6 > data_end)
		return XDP_ABORTED;
	p[5] ^= 0xff;
	return XDP_TX;
}

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;

	if (data + 34 > data_end)
		return XDP_DROP;
	if (p[12] == 0x08 && p[13] == 0x00)
		bpf_tail_call(ctx, &handlers, p[23]);
	fallthrough++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
