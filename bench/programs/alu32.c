/* 32-bit ALU: multiply, unsigned division and modulo, shifts and xor over 256 words
 * (compiled with -mcpu=v3, so the BPF code uses the 32-bit ALU class). */
#include "bench.h"

#define NWORDS 256

SEC("xdp")
int bench_alu32(struct xdp_md *ctx)
{
	u8 *data = PKT_DATA(ctx);
	u8 *end = PKT_END(ctx);
	u32 a = 1, b = 2, c = 3, d = 4;

	if (data + NWORDS * 4 > end)
		return 0;
	for (int i = 0; i < NWORDS; i++) {
		u32 v = ((u32 *)data)[i];

		a = a * 31u + v;
		b ^= a / (v | 1u);
		c += a % ((v >> 3) | 7u);
		d = (d + (v >> 5)) ^ (a << 3) ^ (b >> 7);
	}
	return a ^ b ^ c ^ d;
}

BENCH_LICENSE;
