/* A large straight-line program (about 4,000 instructions: a jhash-style mix over 224
 * words, fully unrolled) for measuring load, verification and JIT time. */
#include "bench.h"

#define NWORDS 224

static __always_inline u32 rol32(u32 x, int k)
{
	return (x << k) | (x >> (32 - k));
}

SEC("xdp")
int bench_large(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 a = 0xdeadbeef, b = 0x9e3779b9, c = 0x01234567;

	if (data + NWORDS * 4 > end)
		return 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < NWORDS; i++) {
		a += ((u32 *)data)[i];
		c ^= b;
		c -= rol32(b, 14);
		a ^= c;
		a -= rol32(c, 11);
		b ^= a;
	}
	return a ^ b ^ c;
}

BENCH_LICENSE;
