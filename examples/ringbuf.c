/* Ring buffer producer: one reserved-and-submitted event per packet (length, protocol,
 * a running sequence number), and every fourth packet also a copy of its first 16 bytes
 * with bpf_ringbuf_output. A Rust consumer reads them (see the runtime tests). */
#include "oxbpf_helpers.h"

#define BPF_MAP_TYPE_RINGBUF 27
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;

struct event {
	__u32 len;
	__u16 proto;
	__u16 kind;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

__u64 seq = 0;
__u64 dropped = 0;

SEC("xdp")
int produce(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	struct event *e;
	__u64 n = ++seq;

	if (data + 16 > data_end)
		return XDP_DROP;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		dropped++;
		return XDP_PASS;
	}
	e->len = data_end - data;
	e->proto = (p[12] << 8) | p[13];
	e->kind = 1;
	e->seq = n;
	bpf_ringbuf_submit(e, 0);
	if ((n & 3) == 0) {
		__u8 head[16];

		__builtin_memcpy(head, p, 16);
		if (bpf_ringbuf_output(&events, head, sizeof(head), 0))
			dropped++;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
