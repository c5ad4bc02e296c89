/* Call-heavy: BPF-to-BPF calls (noinline static functions, two levels deep), three
 * calls per 32-bit word over 256 words. */
#include "bench.h"

#define NWORDS 256

static __noinline u32 mix(u32 a, u32 b)
{
	a ^= b;
	a *= 0x9e3779b1u;
	return a ^ (a >> 15);
}

static __noinline u32 step(u32 h, u32 v)
{
	return mix(h, v) + mix(v, h >> 3);
}

SEC("xdp")
int bench_calls(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 h = 1;

	if (data + NWORDS * 4 > end)
		return 0;
	for (int i = 0; i < NWORDS; i++)
		h = step(h, ((u32 *)data)[i]);
	return h;
}

BENCH_LICENSE;
