/* XDP packet counter in a hash map keyed by IP protocol (IPv4 and IPv6 next header;
 * other frames count under key 0xffff), plus a byte total per protocol. */
#include "oxbpf_helpers.h"

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct counts);
} proto_counts SEC(".maps");

SEC("xdp")
int count_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *eth = data;
	__u32 key = 0xffff;
	struct counts *c, init = {};

	if (data + 14 > data_end)
		return XDP_DROP;
	__u16 type = (eth[12] << 8) | eth[13];
	if (type == 0x0800 && data + 14 + 20 <= data_end)
		key = eth[14 + 9];
	else if (type == 0x86dd && data + 14 + 40 <= data_end)
		key = eth[14 + 6];
	c = bpf_map_lookup_elem(&proto_counts, &key);
	if (!c) {
		bpf_map_update_elem(&proto_counts, &key, &init, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&proto_counts, &key);
		if (!c)
			return XDP_ABORTED;
	}
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, data_end - data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
