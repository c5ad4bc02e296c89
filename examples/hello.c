/* XDP hello counter: a global in .bss, a format string in .rodata, bpf_printk. */
#include "oxbpf_helpers.h"

int counter = 0;
const volatile int verbose = 1;
__u64 last_seen = 7; /* .data */

SEC("xdp")
int hello(struct xdp_md *ctx)
{
	counter++;
	last_seen = counter;
	if (verbose)
		bpf_printk("Hello World %d", counter);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
