/* A call to an undefined memcpy (built with -fno-builtin, as older clang left them),
 * a static subprogram in the program's own section, and a function address taken
 * with BPF_PSEUDO_FUNC (a bpf_loop-style callback). */
#include "oxbpf_helpers.h"

extern void *memcpy(void *dst, const void *src, unsigned long n);
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *)181;

char dst[64];
char src[64];

static __noinline __attribute__((section("socket"))) int twice(int x)
{
	return x * 2;
}

static int callback(__u32 index, void *ctx)
{
	*(int *)ctx += index;
	return 0;
}

SEC("socket")
int copy(struct __sk_buff *skb)
{
	int sum = 0;

	memcpy(dst, src, skb->len & 0x3f);
	bpf_loop(4, callback, &sum, 0);
	return twice(sum + dst[0]);
}

char LICENSE[] SEC("license") = "GPL";
