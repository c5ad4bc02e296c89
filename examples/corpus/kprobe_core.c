/* A tracing agent's process-lineage probe: a kprobe on wake_up_new_task reads the new
 * task's comm, tgid, its parent's tgid and the thread count of its signal struct through
 * bpf_probe_read_kernel, with CO-RE relocations (local "___corpus" flavors marked
 * preserve_access_index) so the offsets follow the running kernel's layout. */
#include "corpus.h"

struct pt_regs___corpus {
	unsigned long di;
	unsigned long si;
} __core;

struct signal_struct___corpus {
	int nr_threads;
} __core;

struct task_struct___corpus {
	char comm[16];
	int pid;
	int tgid;
	struct task_struct___corpus *real_parent;
	struct signal_struct___corpus *signal;
} __core;

struct lineage {
	__u32 tgid;
	__u32 ppid;
	__s32 threads;
	__u32 pad;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct lineage);
} lineage SEC(".maps");

__u64 read_faults = 0;

#define READ(dst, src) bpf_probe_read_kernel(&(dst), sizeof(dst), &(src))

SEC("kprobe/wake_up_new_task")
int trace_new_task(struct pt_regs___corpus *ctx)
{
	struct task_struct___corpus *t = (void *)ctx->di, *parent = 0;
	struct signal_struct___corpus *sig = 0;
	struct lineage l = {};

	if (READ(l.tgid, t->tgid) || READ(parent, t->real_parent) || READ(l.ppid, parent->tgid)) {
		read_faults++;
		return 0;
	}
	if (!READ(sig, t->signal))
		READ(l.threads, sig->nr_threads);
	bpf_probe_read_kernel(l.comm, sizeof(l.comm), t->comm);
	bpf_map_update_elem(&lineage, &l.tgid, &l, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
