/* An unguarded access to a field the kernel lacks: CO-RE poisons the load
 * (`call 0xbad2310`, as libbpf does) and loading fails naming the relocation. */
#include "../include/oxbpf_helpers.h"

struct iphdr___oxbpf {
	__u8 protocol;
	__u32 oxbpf_no_such_field;
} __attribute__((preserve_access_index));

SEC("xdp")
int core_missing(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr___oxbpf *ip = data + 14;

	if (data + 64 > end)
		return XDP_DROP;
	return ip->protocol + ip->oxbpf_no_such_field;
}

char LICENSE[] SEC("license") = "GPL";
