/* Branchy bit manipulation over 256 32-bit words: data-dependent branches, a
 * branch-based count of trailing zeros, bit reversal by masks, and rotations. */
#include "bench.h"

#define NWORDS 256

static __always_inline u32 ctz_branchy(u32 x)
{
	u32 n = 0;

	if (x == 0)
		return 32;
	if (!(x & 0xffff)) {
		n += 16;
		x >>= 16;
	}
	if (!(x & 0xff)) {
		n += 8;
		x >>= 8;
	}
	if (!(x & 0xf)) {
		n += 4;
		x >>= 4;
	}
	if (!(x & 0x3)) {
		n += 2;
		x >>= 2;
	}
	if (!(x & 0x1))
		n += 1;
	return n;
}

static __always_inline u32 reverse(u32 x)
{
	x = ((x >> 1) & 0x55555555) | ((x & 0x55555555) << 1);
	x = ((x >> 2) & 0x33333333) | ((x & 0x33333333) << 2);
	x = ((x >> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
	x = ((x >> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
	return (x >> 16) | (x << 16);
}

SEC("xdp")
int bench_bits(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 acc = 0x12345678;

	if (data + NWORDS * 4 > end)
		return 0;
	for (int i = 0; i < NWORDS; i++) {
		u32 x = ((u32 *)data)[i];

		if (x & 1)
			acc += x >> 3;
		else
			acc ^= x << 1;
		if ((x & 0x30) == 0x10)
			acc = (acc << 5) | (acc >> 27);
		else if (x & 0x40)
			acc -= x;
		else
			acc ^= reverse(x);
		acc += ctz_branchy(x ^ acc);
		if ((int)acc < 0)
			acc = ~acc;
	}
	return acc;
}

BENCH_LICENSE;
