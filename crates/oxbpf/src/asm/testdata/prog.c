// Golden-test source for the asm module: regen.sh compiles it with
// `clang-19 -O2 -target bpf -mcpu=v4` and records llvm-objdump-19's view of section `tc`.
typedef unsigned long long u64;
typedef unsigned int u32;
typedef signed char s8;
typedef short s16;

static long (*bpf_trace_printk)(const char *fmt, u32 fmt_size, ...) = (void *)6;

static __attribute__((noinline)) int sub(int a, int b) { return a * b + 7; }

int g;

__attribute__((section("tc"))) int prog(u64 *ctx)
{
	u64 x = ctx[1];
	u32 y = ((u32 *)ctx)[1];
	s8 z = ((s8 *)ctx)[3];
	s16 q = ((s16 *)ctx)[5];
	long r = (long)z + q;

	__sync_fetch_and_add(&ctx[2], x);
	u64 o = __sync_fetch_and_xor((u32 *)&ctx[3], y);
	o += __sync_fetch_and_or((u32 *)&ctx[3], 5);
	__sync_fetch_and_and((u32 *)&ctx[7], 6);
	o += __sync_val_compare_and_swap(&ctx[4], x, 3);
	o += __sync_val_compare_and_swap((u32 *)&ctx[8], y, 4);
	o += __sync_lock_test_and_set(&ctx[5], 9);
	if ((long)x / (long)y > 5)
		r += 100;
	r += (long)x % 7;
	r += __builtin_bswap32(y) + __builtin_bswap16((unsigned short)y) + __builtin_bswap64(x);
	if (r < -1)
		r = 0x1122334455667788ULL;
	ctx[6] = 5;
	((u32 *)ctx)[13] = 77;
	((unsigned short *)ctx)[29] = 0xffff;
	r += sub(x, y);
	r >>= 3;
	r += (s8)y + (s16)x + (int)x;
	g += r;
	char m[] = "hi";
	bpf_trace_printk(m, 3);
	for (int i = 0; i < (int)y; i++)
		r += ctx[i] * 3;
	if ((int)y < (int)x)
		r ^= 0x7fffffff;
	if ((u32)r & 8)
		r |= 0x10;
	r = (u64)r >> 1;
	r -= (u64)x / 3;
	r += (u32)x % (u32)y;
	asm volatile("r0 = *(u8 *)skb[12]\n"
		     "r0 = *(u16 *)skb[r6]\n"
		     "r1 = be16 r1\n"
		     "r1 = le32 r1\n"
		     "w1 = -w1\n"
		     "r1 = -r1\n"
		     "r1 s/= 3\n"
		     "w1 s%%= w2\n"
		     "r1 s>>= 3\n"
		     "w1 = (s8)w2\n"
		     "r1 = (s32)r1\n"
		     "if w1 s< -1 goto +1\n"
		     "goto +0\n"
		     "gotol +1\n"
		     "callx r2\n"
		     "lock *(u32 *)(r1 + 4) &= w2\n"
		     "r2 = xchg_64(r1 - 8, r2)\n"
		     "w2 = xchg32_32(r1 + 0, w2)\n"
		     "r2 = *(s32 *)(r1 + 8)\n"
		     "r2 = *(s16 *)(r10 - 32768)\n"
		     ::: "r0", "r1", "r2", "memory");
	return r + o - (long)x;
}
