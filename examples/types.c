/* Every BTF kind clang emits, for the BTF parser's golden test against bpftool:
 * enums (signed, unsigned, 64-bit), union, float, forward declarations, function
 * pointers, decl and type tags, bitfields, const/volatile/restrict, typedefs. */
#include "oxbpf_helpers.h"

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __ttag(x) __attribute__((btf_type_tag(x)))

enum color { RED = -1, GREEN = 0, BLUE = 7 };
enum big { SMALL = 1, HUGE = 0x100000000ULL };
enum flags { F_A = 1u, F_B = 0x80000000u };

struct opaque;
union opaque_u;

typedef int (*handler_t)(void *ctx, int code);

struct everything {
	enum color c;
	enum big b;
	enum flags f;
	union {
		__u32 word;
		__u8 bytes[4];
	} u;
	float ratio;
	double mean;
	_Bool ok;
	struct opaque *op;
	union opaque_u *ou;
	handler_t handler;
	int __ttag("user") *tagged;
	const volatile __u64 cv;
	char *restrict rp;
	unsigned int lo : 4, hi : 12;
	long long sll : 33;
	int tail __tag("tail_tag");
} __tag("struct_tag");

/* bpftool 7.1 cannot print FLOAT: this one (alone in .data) it prints whole. */
struct no_float {
	_Bool ok;
	struct opaque *op;
	handler_t handler;
	int __ttag("user") *tagged;
	const volatile __u64 cv;
	char *restrict rp;
	unsigned int lo : 4, hi : 12;
	long long sll : 33;
	enum color c;
	char name[6];
} no_float_val = { .ok = 1 };

struct everything all_kinds;


static __noinline int __tag("func_tag") pick(int x __tag("arg_tag"))
{
	return x & 3;
}

SEC("socket")
int types(struct __sk_buff *skb)
{
	return pick(all_kinds.tail + all_kinds.lo + no_float_val.hi);
}

char LICENSE[] SEC("license") = "GPL";
