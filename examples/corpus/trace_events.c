/* Falco/tracee-style event producers. A raw tracepoint program (sys_enter) builds an
 * event from its arguments and the current task (pid/tgid, uid, comm, timestamp) and
 * sends it through a ring buffer (reserve/submit, discarding filtered events) and a
 * perf event array; a tracepoint program for sched_process_exec does the same from
 * its format struct. Counters and the last event's fields stay in .bss. */
#include "corpus.h"

struct event {
	__u64 ts;
	__u32 pid;
	__u32 tgid;
	__u32 uid;
	__u32 syscall;
	__u64 arg0;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

/* Syscall numbers (x86-64) this producer reports; others are discarded. */
const volatile __u32 watched[4] = { 59, 322, 2, 257 };

__u64 submitted = 0, discarded = 0, dropped = 0;
long last_perf_rc = 0;
__u32 last_pid = 0, last_tgid = 0;
char last_comm[16] = {};
__u64 clock_moved = 0;

static __always_inline int is_watched(__u32 nr)
{
	int i;

#pragma unroll
	for (i = 0; i < 4; i++)
		if (watched[i] == nr)
			return 1;
	return 0;
}

static __always_inline void fill(struct event *e, __u32 nr, __u64 arg0)
{
	__u64 id = bpf_get_current_pid_tgid();

	e->ts = bpf_ktime_get_ns();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->syscall = nr;
	e->arg0 = arg0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

SEC("raw_tp/sys_enter")
int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 nr = ctx->args[1];
	__u64 arg0 = ctx->args[0];
	struct event *e, copy;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		dropped++;
		return 0;
	}
	fill(e, nr, arg0);
	if (!is_watched(nr)) {
		bpf_ringbuf_discard(e, 0);
		discarded++;
		return 0;
	}
	__builtin_memcpy(&copy, e, sizeof(copy));
	bpf_ringbuf_submit(e, 0);
	submitted++;
	last_perf_rc = bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &copy, sizeof(copy));
	last_pid = copy.pid;
	last_tgid = copy.tgid;
	__builtin_memcpy(last_comm, copy.comm, sizeof(last_comm));
	if (bpf_ktime_get_ns() >= copy.ts)
		clock_moved++;
	return 1;
}

/* The format of sched:sched_process_exec (common fields, then its own). */
struct exec_ctx {
	__u64 common;
	__u32 filename_loc; /* __data_loc char[] */
	__s32 pid;
	__s32 old_pid;
};

SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct exec_ctx *ctx)
{
	struct event e = {};

	fill(&e, 59, ctx->pid);
	e.arg0 = ((__u64)ctx->old_pid << 32) | (ctx->filename_loc & 0xffff);
	if (bpf_ringbuf_output(&events, &e, sizeof(e), 0))
		dropped++;
	else
		submitted++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
