/* BTF-defined maps: hash, array of maps with __array, a prog array with
 * initial function slots, and several programs in one section. */
#include "oxbpf_helpers.h"

/* Built a second time with -DTC_SEC=\"classifier\" for the aya-obj oracle test. */
#ifndef TC_SEC
#define TC_SEC "tc"
#endif

struct key_t {
	__u32 pid;
	__u8 comm[16];
	__u16 port;
	unsigned int flag : 3;
	unsigned int level : 5;
};

struct val_t {
	__u64 packets;
	__u64 bytes;
	char name[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct key_t);
	__type(value, struct val_t);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { &inner_a, [2] = &inner_b },
};

int tail_a(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_a },
};

SEC(TC_SEC)
int tail_a(struct __sk_buff *skb)
{
	return 1;
}

SEC(TC_SEC)
int classify(struct __sk_buff *skb)
{
	struct key_t k = {};
	__u32 idx = 0;
	void *inner;
	struct val_t *v;

	k.pid = skb->mark;
	k.flag = 5;
	v = bpf_map_lookup_elem(&flows, &k);
	if (v)
		v->packets++;
	inner = bpf_map_lookup_elem(&outer, &idx);
	if (inner)
		bpf_map_lookup_elem(inner, &idx);
	bpf_tail_call(skb, &jumps, 1);
	return 0;
}

SEC("kprobe/do_sys_open")
int probe(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
