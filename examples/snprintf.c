/* Formatting: bpf_snprintf with its format in .rodata (a constant string the verifier
 * checks at load: NUL-terminated in a frozen read-only map, conversions valid for the
 * number of arguments) writes into an array value; bpf_trace_vprintk (what bpf_printk
 * becomes with more than three arguments) prints five numbers. The return value packs
 * both lengths. */
#include "oxbpf_helpers.h"

static long (*bpf_snprintf)(char *str, __u32 str_size, const char *fmt, __u64 *data,
			    __u32 data_len) = (void *)165;
static long (*bpf_trace_vprintk)(const char *fmt, __u32 fmt_size, const void *data,
				 __u32 data_len) = (void *)177;

/* libbpf's bpf_printk with more than three arguments: the arguments go in an array. */
#define bpf_printk_n(fmt, ...)                                                  \
	({                                                                      \
		static const char ___fmt[] = fmt;                               \
		__u64 ___args[] = { __VA_ARGS__ };                              \
		bpf_trace_vprintk(___fmt, sizeof(___fmt), ___args, sizeof(___args)); \
	})

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[64]);
} out SEC(".maps");

static const char fmt[] = "len=%u first=%02x sum=%lld tag=%s%c";
static const char tag[] = "oxbpf";

SEC("xdp")
int format_packet(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 len = end - data;
	__u32 key = 0;
	__u64 args[5];
	char *buf = bpf_map_lookup_elem(&out, &key);
	long n, v;

	if (!buf)
		return 0;
	args[0] = len;
	args[1] = data + 1 <= end ? *(__u8 *)data : 0xff;
	args[2] = -(__s64)len * 1000;
	args[3] = (__u64)(long)tag;
	args[4] = '!';
	n = bpf_snprintf(buf, 64, fmt, args, sizeof(args));
	v = bpf_printk_n("vprintk %d %d %u %x %d\n", len, len * 2, len + 3, 0xbeef, -(int)len);
	return (__u32)(n | v << 8);
}

char LICENSE[] SEC("license") = "GPL";
