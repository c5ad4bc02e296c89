// An XDP program with a classic bug: it reads the IP protocol byte without first checking
// that the packet is long enough. Both the kernel's verifier and `oxbpf verify` reject it;
// the README shows the two logs side by side.
#include "oxbpf_helpers.h"

SEC("xdp")
int drop_udp(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;

	// Missing: if (data + 24 > (unsigned char *)(long)ctx->data_end) return XDP_PASS;
	unsigned char proto = data[23];
	return proto == 17 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
