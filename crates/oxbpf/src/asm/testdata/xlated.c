// Golden-test source for the xlated printer: regen.sh loads it with bpftool (root) and records
// `bpftool prog dump xlated` (text and raw bytes).
typedef unsigned long long u64;
static long (*bpf_trace_printk)(const char *fmt, unsigned fmt_size, ...) = (void *)6;
__attribute__((section("socket"))) int prog(void *ctx) {
  volatile u64 a = 5;
  long r = 2;
  if (a > 5) r += a * 3;
  if ((int)a < -3) r ^= 7;
  char m[] = "hi";
  bpf_trace_printk(m, 3);
  asm volatile("r1 = 0\n r1 = be16 r1\n r1 = -r1\n w1 = -w1\n r1 s>>= 3\n r1 = bswap64 r1\n" ::: "r1");
  return r;
}
char _license[] __attribute__((section("license"))) = "GPL";
