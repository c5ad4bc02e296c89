/* Calls to memcpy and memset that clang leaves undefined (built with -fno-builtin): the
 * runtime supplies them. Copies a variable-length prefix of the packet into a global. */
#include "oxbpf_helpers.h"

extern void *memcpy(void *dst, const void *src, unsigned long n);
extern void *memset(void *dst, int c, unsigned long n);

__u8 head[32];

SEC("xdp")
int copy_head(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned long n = (data_end - data) & 31;

	if (data + 32 > data_end)
		return XDP_DROP;
	memset(head, 0xee, sizeof(head));
	memcpy(head, data, n);
	return n;
}

char LICENSE[] SEC("license") = "GPL";
