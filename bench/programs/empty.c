/* The empty program (r0 = 0; exit): the per-run overhead of each engine. */
#include "bench.h"

SEC("xdp")
int bench_empty(struct xdp_md *ctx)
{
	return 0;
}

BENCH_LICENSE;
