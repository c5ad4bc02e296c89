/* Odds and ends: string literals in .rodata.str1.1, a custom .data.* section, a
 * static subprogram in .text called by two programs of one section, and a CO-RE
 * field access (BTF.ext core_relo records). */
#include "oxbpf_helpers.h"

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

int limit __attribute__((section(".data.limits"))) = 100;

static __noinline int clamp(int v)
{
	return v > limit ? limit : v;
}

SEC("cgroup_skb/egress")
int egress(struct __sk_buff *skb)
{
	bpf_trace_printk("egress %d\n", 11, skb->len);
	return clamp(skb->len) > 0;
}

SEC("cgroup_skb/egress")
int egress2(struct __sk_buff *skb)
{
	return clamp(skb->mark) > 0;
}

SEC("kprobe/wake_up_new_task")
int on_new_task(struct task_struct *t)
{
	int tgid = 0;

	bpf_probe_read_kernel(&tgid, sizeof(tgid), __builtin_preserve_access_index(&t->tgid));
	return tgid;
}

char LICENSE[] SEC("license") = "GPL";
