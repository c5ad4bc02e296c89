/* CO-RE: local views of kernel types whose layout differs from the kernel's on purpose
 * (fields reordered, bitfields swapped, a field the kernel lacks). The loader moves each
 * access to where the target BTF (the running kernel's vmlinux) has it, as libbpf does.
 * `core_parse` parses IPv4 through `struct iphdr` (the wire layout) and records what each
 * relocation kind gives in `out`; `core_task` reads a task_struct with
 * bpf_probe_read_kernel from the relocated layout, its address from pt_regs->di. */
#include "oxbpf_helpers.h"

#define __core __attribute__((preserve_access_index))

/* enum bpf_field_info_kind / bpf_type_info_kind / bpf_enum_value_kind (clang). */
#define FIELD_BYTE_OFFSET 0
#define FIELD_BYTE_SIZE 1
#define FIELD_EXISTS 2
#define FIELD_SIGNED 3
#define FIELD_LSHIFT_U64 4
#define FIELD_RSHIFT_U64 5
#define TYPE_EXISTS 0
#define TYPE_SIZE 1
#define TYPE_MATCHES 2
#define ENUMVAL_EXISTS 0
#define ENUMVAL_VALUE 1

#define field_info(f, k) __builtin_preserve_field_info(f, k)
#define type_info(T, k) __builtin_preserve_type_info(*(T *)0, k)
#define enum_info(E, v, k) __builtin_preserve_enum_value(*(typeof(E) *)v, k)

/* libbpf's BPF_CORE_READ_BITFIELD, for a pointer the program may dereference. */
#define READ_BITFIELD(s, field)                                                        \
	({                                                                                 \
		const void *p = (const void *)(s) + field_info((s)->field, FIELD_BYTE_OFFSET); \
		unsigned long long val = 0;                                                    \
		asm volatile("" : "=r"(p) : "0"(p));                                           \
		switch (field_info((s)->field, FIELD_BYTE_SIZE)) {                             \
		case 1: val = *(const unsigned char *)p; break;                                \
		case 2: val = *(const unsigned short *)p; break;                               \
		case 4: val = *(const unsigned int *)p; break;                                 \
		case 8: val = *(const unsigned long long *)p; break;                           \
		}                                                                              \
		val <<= field_info((s)->field, FIELD_LSHIFT_U64);                              \
		if (field_info((s)->field, FIELD_SIGNED))                                      \
			val = ((long long)val) >> field_info((s)->field, FIELD_RSHIFT_U64);    \
		else                                                                           \
			val = val >> field_info((s)->field, FIELD_RSHIFT_U64);                 \
		val;                                                                           \
	})

struct ethhdr___oxbpf {
	__u16 h_proto; /* at 12 in the kernel */
} __core;

struct iphdr___oxbpf {
	__u32 daddr;           /* 16, inside the kernel's anonymous `addrs` union */
	__u8 protocol;         /* 9 */
	__u8 ttl;              /* 8 */
	__u8 version : 4, ihl : 4; /* swapped: ihl is the low nibble of byte 0 */
	__u16 tot_len;         /* 2 */
	__u32 oxbpf_no_such_field;
} __core;

enum xdp_action___oxbpf {
	XDP_DROP___oxbpf = 11,
	XDP_PASS___oxbpf = 12,
	OXBPF_NO_SUCH_ACTION = 13,
};

struct oxbpf_no_such_type {
	int x;
} __core;

__u64 out[16] = {};

SEC("xdp")
int core_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr___oxbpf *eth = data;
	struct iphdr___oxbpf *ip = data + 14;

	if (data + 34 > end)
		return XDP_DROP;
	out[0] = eth->h_proto;
	out[1] = ip->protocol;
	out[2] = ip->ttl;
	out[3] = ip->daddr;
	out[4] = ip->tot_len;
	out[5] = READ_BITFIELD(ip, ihl);
	out[6] = READ_BITFIELD(ip, version);
	out[7] = field_info(ip->oxbpf_no_such_field, FIELD_EXISTS);
	/* Guarded: poisoned against the kernel, but dead code there. */
	if (field_info(ip->oxbpf_no_such_field, FIELD_EXISTS))
		out[8] = ip->oxbpf_no_such_field;
	out[9] = type_info(struct iphdr___oxbpf, TYPE_EXISTS) |
		 type_info(struct oxbpf_no_such_type, TYPE_EXISTS) << 1;
	out[10] = type_info(struct iphdr___oxbpf, TYPE_SIZE);
	out[11] = enum_info(enum xdp_action___oxbpf, XDP_PASS___oxbpf, ENUMVAL_VALUE);
	out[12] = enum_info(enum xdp_action___oxbpf, OXBPF_NO_SUCH_ACTION, ENUMVAL_EXISTS) |
		  enum_info(enum xdp_action___oxbpf, XDP_DROP___oxbpf, ENUMVAL_EXISTS) << 1;
	out[13] = field_info(ip->tot_len, FIELD_BYTE_SIZE) | field_info(ip->daddr, FIELD_BYTE_OFFSET) << 8;
	out[14] = __builtin_btf_type_id(*ip, 0) != 0; /* local type id */
	out[15] = field_info(ip->protocol, FIELD_SIGNED);
	return XDP_PASS;
}

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;

struct pt_regs___oxbpf {
	unsigned long si;
	unsigned long di; /* 112 on x86-64 */
} __core;

struct task_struct___oxbpf {
	char comm[16];
	int tgid;
	struct task_struct___oxbpf *real_parent;
} __core;

char task_comm[16] = {};
int parent_tgid = 0;

SEC("kprobe/wake_up_new_task")
int core_task(struct pt_regs___oxbpf *ctx)
{
	struct task_struct___oxbpf *t = (void *)ctx->di, *parent = 0;
	int tgid = -1;

	if (bpf_probe_read_kernel(&tgid, sizeof(tgid), &t->tgid))
		return -1;
	bpf_probe_read_kernel(task_comm, sizeof(task_comm), t->comm);
	if (!bpf_probe_read_kernel(&parent, sizeof(parent), &t->real_parent))
		bpf_probe_read_kernel(&parent_tgid, sizeof(parent_tgid), &parent->tgid);
	return tgid;
}



/* Type matching and target type ids: ethhdr___oxbpf matches the kernel's ethhdr
 * (same member name, an unsigned 16-bit type), iphdr___oxbpf does not (a member the
 * kernel lacks); the target id is the kernel's own BTF id of struct iphdr. */
__u64 types_out[5] = {};

/* A subprogram with its own CO-RE relocation, linked into the program that calls it. */
static __noinline __u64 ttl_offset(struct iphdr___oxbpf *ip)
{
	return field_info(ip->ttl, FIELD_BYTE_OFFSET) + (ip != 0);
}

SEC("xdp")
int core_types(struct xdp_md *ctx)
{
	types_out[4] = ttl_offset((void *)(long)ctx->data);
	types_out[0] = type_info(struct ethhdr___oxbpf, TYPE_MATCHES);
	types_out[1] = type_info(struct iphdr___oxbpf, TYPE_MATCHES);
	types_out[2] = __builtin_btf_type_id(*(struct iphdr___oxbpf *)0, 1);
	types_out[3] = type_info(struct oxbpf_no_such_type, TYPE_MATCHES);
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
