/* Compute loop: FNV-1a (32-bit) over the first 1 KiB of the packet. */
#include "bench.h"

#define LEN 1024

SEC("xdp")
int bench_fnv(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 h = 2166136261u;

	if (data + LEN > end)
		return 0;
	for (int i = 0; i < LEN; i++) {
		h ^= data[i];
		h *= 16777619u;
	}
	return h;
}

BENCH_LICENSE;
