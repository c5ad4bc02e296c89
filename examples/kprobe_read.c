/* A kprobe-style program: the first argument of the probed function (PT_REGS_PARM1, %rdi
 * on x86-64) points to a struct; its fields are read with bpf_probe_read_kernel, as the
 * probed memory is not the program's to dereference. The tgid is returned, the name
 * kept in a global, and a failed read counted. */
#include "oxbpf_helpers.h"

static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;

/* x86-64 struct pt_regs (arch/x86/include/asm/ptrace.h). */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

struct task {
	int pid;
	int tgid;
	char comm[16];
};

char last_comm[16] = {};
__u32 faults = 0;

SEC("kprobe/wake_up_new_task")
int on_task(struct pt_regs *ctx)
{
	struct task *t = (struct task *)ctx->di;
	int tgid = 0;

	if (bpf_probe_read_kernel(&tgid, sizeof(tgid), &t->tgid)) {
		faults++;
		return -1;
	}
	if (bpf_probe_read_kernel(last_comm, sizeof(last_comm), t->comm))
		faults++;
	return tgid;
}

char LICENSE[] SEC("license") = "GPL";
