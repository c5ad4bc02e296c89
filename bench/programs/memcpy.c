/* Memory copy: the first 1 KiB of the packet onto the second in 64-byte blocks
 * (clang expands each block copy into 8-byte loads and stores), then a checksum read
 * back from the copy. Idempotent, so repeated runs on the same packet agree. */
#include "bench.h"

#define LEN 1024

struct block {
	u64 w[8];
};

SEC("xdp")
int bench_memcpy(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	struct block *src = (struct block *)data;
	struct block *dst = (struct block *)(data + LEN);
	u64 sum = 0;

	if (data + 2 * LEN > end)
		return 0;
	for (int i = 0; i < LEN / sizeof(struct block); i++)
		dst[i] = src[i];
	for (int i = 0; i < LEN / sizeof(struct block); i++)
		sum = sum * 3 + dst[i].w[i & 7];
	return (u32)(sum ^ (sum >> 32));
}

BENCH_LICENSE;
