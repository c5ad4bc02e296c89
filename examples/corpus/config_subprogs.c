/* A tc rate/sampling policy configured through global data, as skeleton-based loaders
 * do: .rodata knobs fixed at load (const volatile), .data defaults user space may
 * change, .bss state. The work is split across a static subprogram (verified with its
 * caller's context) and global subprograms (verified once, on their own, from their
 * BTF signature: scalar arguments and a nullable pointer to a scalar). */
#include "corpus.h"

const volatile __u32 sample_every = 3;
const volatile __u32 max_len = 1200;
const volatile char tag[8] = "corpus";

__u32 drop_mark = 0x5a5a;
__u64 budget = 5000;

__u64 packets = 0, sampled = 0, over_budget = 0, oversize = 0;
__u32 last_digest = 0;

/* Global: the kernel checks it once for any scalar input. */
__noinline int sample_decision(__u32 n, __u32 every)
{
	if (every == 0)
		return 0;
	return n % every == 0;
}

/* Global with a pointer argument: it may be NULL, so it must check. */
__noinline int take_budget(__u64 *b, __u32 cost)
{
	if (!b)
		return -1;
	if (*b < cost)
		return -1;
	*b -= cost;
	return 0;
}

/* Static: verified in its caller's context, may read the packet through the skb. */
static __noinline __u32 digest(struct __sk_buff *skb)
{
	__u32 words[4] = {}, h = 2166136261u;
	int i;

	if (bpf_skb_load_bytes(skb, 0, words, sizeof(words)))
		return 0;
	for (i = 0; i < 4; i++)
		h = (h ^ words[i]) * 16777619u;
	for (i = 0; i < 8; i++)
		h ^= tag[i] << (i * 3);
	return h;
}

SEC("tc")
int sample_policy(struct __sk_buff *skb)
{
	__u64 b = budget;

	packets++;
	if (skb->len > max_len) {
		oversize++;
		skb->mark = drop_mark;
		return TC_ACT_SHOT;
	}
	if (take_budget(&b, skb->len) < 0) {
		over_budget++;
		return TC_ACT_SHOT;
	}
	budget = b;
	if (sample_decision(packets, sample_every)) {
		sampled++;
		last_digest = digest(skb);
		skb->mark = last_digest;
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
