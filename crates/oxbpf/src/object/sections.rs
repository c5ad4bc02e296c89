//! Program section names → kernel program type and expected attach type, following
//! libbpf's `section_defs` table (libbpf 1.x matching: a name either equals an entry, or,
//! for entries that take a target (`kprobe+`), is the entry followed by `/target`).
//! Unknown names are not an error: the program gets no type and the caller names it.

/// `enum bpf_prog_type` values (linux/bpf.h).
#[allow(missing_docs)]
pub mod prog_type {
    pub const SOCKET_FILTER: u32 = 1;
    pub const KPROBE: u32 = 2;
    pub const SCHED_CLS: u32 = 3;
    pub const SCHED_ACT: u32 = 4;
    pub const TRACEPOINT: u32 = 5;
    pub const XDP: u32 = 6;
    pub const PERF_EVENT: u32 = 7;
    pub const CGROUP_SKB: u32 = 8;
    pub const CGROUP_SOCK: u32 = 9;
    pub const LWT_IN: u32 = 10;
    pub const LWT_OUT: u32 = 11;
    pub const LWT_XMIT: u32 = 12;
    pub const SOCK_OPS: u32 = 13;
    pub const SK_SKB: u32 = 14;
    pub const CGROUP_DEVICE: u32 = 15;
    pub const SK_MSG: u32 = 16;
    pub const RAW_TRACEPOINT: u32 = 17;
    pub const CGROUP_SOCK_ADDR: u32 = 18;
    pub const LWT_SEG6LOCAL: u32 = 19;
    pub const LIRC_MODE2: u32 = 20;
    pub const SK_REUSEPORT: u32 = 21;
    pub const FLOW_DISSECTOR: u32 = 22;
    pub const CGROUP_SYSCTL: u32 = 23;
    pub const RAW_TRACEPOINT_WRITABLE: u32 = 24;
    pub const CGROUP_SOCKOPT: u32 = 25;
    pub const TRACING: u32 = 26;
    pub const STRUCT_OPS: u32 = 27;
    pub const EXT: u32 = 28;
    pub const LSM: u32 = 29;
    pub const SK_LOOKUP: u32 = 30;
    pub const SYSCALL: u32 = 31;
    /// Newer than this machine's header (kernel 6.4+).
    pub const NETFILTER: u32 = 32;
}

/// `enum bpf_attach_type` values (linux/bpf.h; the ones past `BPF_LSM_CGROUP` are
/// from newer kernels' uapi).
#[allow(missing_docs)]
pub mod attach_type {
    pub const CGROUP_INET_INGRESS: u32 = 0;
    pub const CGROUP_INET_EGRESS: u32 = 1;
    pub const CGROUP_INET_SOCK_CREATE: u32 = 2;
    pub const CGROUP_SOCK_OPS: u32 = 3;
    pub const SK_SKB_STREAM_PARSER: u32 = 4;
    pub const SK_SKB_STREAM_VERDICT: u32 = 5;
    pub const CGROUP_DEVICE: u32 = 6;
    pub const SK_MSG_VERDICT: u32 = 7;
    pub const CGROUP_INET4_BIND: u32 = 8;
    pub const CGROUP_INET6_BIND: u32 = 9;
    pub const CGROUP_INET4_CONNECT: u32 = 10;
    pub const CGROUP_INET6_CONNECT: u32 = 11;
    pub const CGROUP_INET4_POST_BIND: u32 = 12;
    pub const CGROUP_INET6_POST_BIND: u32 = 13;
    pub const CGROUP_UDP4_SENDMSG: u32 = 14;
    pub const CGROUP_UDP6_SENDMSG: u32 = 15;
    pub const LIRC_MODE2: u32 = 16;
    pub const FLOW_DISSECTOR: u32 = 17;
    pub const CGROUP_SYSCTL: u32 = 18;
    pub const CGROUP_UDP4_RECVMSG: u32 = 19;
    pub const CGROUP_UDP6_RECVMSG: u32 = 20;
    pub const CGROUP_GETSOCKOPT: u32 = 21;
    pub const CGROUP_SETSOCKOPT: u32 = 22;
    pub const TRACE_RAW_TP: u32 = 23;
    pub const TRACE_FENTRY: u32 = 24;
    pub const TRACE_FEXIT: u32 = 25;
    pub const MODIFY_RETURN: u32 = 26;
    pub const LSM_MAC: u32 = 27;
    pub const TRACE_ITER: u32 = 28;
    pub const CGROUP_INET4_GETPEERNAME: u32 = 29;
    pub const CGROUP_INET6_GETPEERNAME: u32 = 30;
    pub const CGROUP_INET4_GETSOCKNAME: u32 = 31;
    pub const CGROUP_INET6_GETSOCKNAME: u32 = 32;
    pub const XDP_DEVMAP: u32 = 33;
    pub const CGROUP_INET_SOCK_RELEASE: u32 = 34;
    pub const XDP_CPUMAP: u32 = 35;
    pub const SK_LOOKUP: u32 = 36;
    pub const XDP: u32 = 37;
    pub const SK_SKB_VERDICT: u32 = 38;
    pub const SK_REUSEPORT_SELECT: u32 = 39;
    pub const SK_REUSEPORT_SELECT_OR_MIGRATE: u32 = 40;
    pub const PERF_EVENT: u32 = 41;
    pub const TRACE_KPROBE_MULTI: u32 = 42;
    pub const LSM_CGROUP: u32 = 43;
    pub const STRUCT_OPS: u32 = 44;
    pub const NETFILTER: u32 = 45;
    pub const TCX_INGRESS: u32 = 46;
    pub const TCX_EGRESS: u32 = 47;
    pub const TRACE_UPROBE_MULTI: u32 = 48;
    pub const CGROUP_UNIX_CONNECT: u32 = 49;
    pub const CGROUP_UNIX_SENDMSG: u32 = 50;
    pub const CGROUP_UNIX_RECVMSG: u32 = 51;
    pub const CGROUP_UNIX_GETPEERNAME: u32 = 52;
    pub const CGROUP_UNIX_GETSOCKNAME: u32 = 53;
    pub const NETKIT_PRIMARY: u32 = 54;
    pub const NETKIT_PEER: u32 = 55;
}

/// What a section name says about its programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramKind {
    /// `enum bpf_prog_type`.
    pub prog_type: u32,
    /// `enum bpf_attach_type` libbpf passes as `expected_attach_type`, if any.
    pub expected_attach_type: Option<u32>,
    /// Sleepable program (`.s` sections: `BPF_F_SLEEPABLE`).
    pub sleepable: bool,
    /// XDP frags support (`xdp.frags`: `BPF_F_XDP_HAS_FRAGS`).
    pub xdp_frags: bool,
    /// The part after `prefix/` for sections that name a target (`kprobe/do_sys_open`).
    pub attach_target: Option<String>,
}

impl ProgramKind {
    /// A kind with only a program type, for sections the caller types itself
    /// (`2/7` → `prog_type::SCHED_CLS`).
    pub fn new(prog_type: u32) -> Self {
        ProgramKind {
            prog_type,
            expected_attach_type: None,
            sleepable: false,
            xdp_frags: false,
            attach_target: None,
        }
    }
}

/// Flags of a table entry.
const NONE: u8 = 0;
/// The name may be followed by `/target`.
const TARGET: u8 = 1;
/// Sleepable.
const SLEEP: u8 = 2;
/// XDP with fragments.
const FRAGS: u8 = 4;

use attach_type as at;
use prog_type as pt;

/// (section name, program type, expected attach type, flags), in libbpf's order: the
/// first match wins, so longer names precede their prefixes.
#[rustfmt::skip]
const SECTION_DEFS: &[(&str, u32, Option<u32>, u8)] = &[
    ("socket", pt::SOCKET_FILTER, None, NONE),
    ("sk_reuseport/migrate", pt::SK_REUSEPORT, Some(at::SK_REUSEPORT_SELECT_OR_MIGRATE), NONE),
    ("sk_reuseport", pt::SK_REUSEPORT, Some(at::SK_REUSEPORT_SELECT), NONE),
    ("kprobe", pt::KPROBE, None, TARGET),
    ("uprobe", pt::KPROBE, None, TARGET),
    ("uprobe.s", pt::KPROBE, None, TARGET | SLEEP),
    ("kretprobe", pt::KPROBE, None, TARGET),
    ("uretprobe", pt::KPROBE, None, TARGET),
    ("uretprobe.s", pt::KPROBE, None, TARGET | SLEEP),
    ("kprobe.multi", pt::KPROBE, Some(at::TRACE_KPROBE_MULTI), TARGET),
    ("kretprobe.multi", pt::KPROBE, Some(at::TRACE_KPROBE_MULTI), TARGET),
    ("uprobe.multi", pt::KPROBE, Some(at::TRACE_UPROBE_MULTI), TARGET),
    ("uretprobe.multi", pt::KPROBE, Some(at::TRACE_UPROBE_MULTI), TARGET),
    ("uprobe.multi.s", pt::KPROBE, Some(at::TRACE_UPROBE_MULTI), TARGET | SLEEP),
    ("uretprobe.multi.s", pt::KPROBE, Some(at::TRACE_UPROBE_MULTI), TARGET | SLEEP),
    ("ksyscall", pt::KPROBE, None, TARGET),
    ("kretsyscall", pt::KPROBE, None, TARGET),
    ("usdt", pt::KPROBE, None, TARGET),
    ("usdt.s", pt::KPROBE, None, TARGET | SLEEP),
    ("tc/ingress", pt::SCHED_CLS, Some(at::TCX_INGRESS), NONE),
    ("tc/egress", pt::SCHED_CLS, Some(at::TCX_EGRESS), NONE),
    ("tcx/ingress", pt::SCHED_CLS, Some(at::TCX_INGRESS), NONE),
    ("tcx/egress", pt::SCHED_CLS, Some(at::TCX_EGRESS), NONE),
    ("netkit/primary", pt::SCHED_CLS, Some(at::NETKIT_PRIMARY), NONE),
    ("netkit/peer", pt::SCHED_CLS, Some(at::NETKIT_PEER), NONE),
    ("tc", pt::SCHED_CLS, None, NONE),
    ("classifier", pt::SCHED_CLS, None, NONE),
    ("action", pt::SCHED_ACT, None, NONE),
    ("tracepoint", pt::TRACEPOINT, None, TARGET),
    ("tp", pt::TRACEPOINT, None, TARGET),
    ("raw_tracepoint", pt::RAW_TRACEPOINT, None, TARGET),
    ("raw_tp", pt::RAW_TRACEPOINT, None, TARGET),
    ("raw_tracepoint.w", pt::RAW_TRACEPOINT_WRITABLE, None, TARGET),
    ("raw_tp.w", pt::RAW_TRACEPOINT_WRITABLE, None, TARGET),
    ("tp_btf", pt::TRACING, Some(at::TRACE_RAW_TP), TARGET),
    ("fentry", pt::TRACING, Some(at::TRACE_FENTRY), TARGET),
    ("fmod_ret", pt::TRACING, Some(at::MODIFY_RETURN), TARGET),
    ("fexit", pt::TRACING, Some(at::TRACE_FEXIT), TARGET),
    ("fentry.s", pt::TRACING, Some(at::TRACE_FENTRY), TARGET | SLEEP),
    ("fmod_ret.s", pt::TRACING, Some(at::MODIFY_RETURN), TARGET | SLEEP),
    ("fexit.s", pt::TRACING, Some(at::TRACE_FEXIT), TARGET | SLEEP),
    ("freplace", pt::EXT, None, TARGET),
    ("lsm", pt::LSM, Some(at::LSM_MAC), TARGET),
    ("lsm.s", pt::LSM, Some(at::LSM_MAC), TARGET | SLEEP),
    ("lsm_cgroup", pt::LSM, Some(at::LSM_CGROUP), TARGET),
    ("iter", pt::TRACING, Some(at::TRACE_ITER), TARGET),
    ("iter.s", pt::TRACING, Some(at::TRACE_ITER), TARGET | SLEEP),
    ("syscall", pt::SYSCALL, None, SLEEP),
    ("xdp.frags/devmap", pt::XDP, Some(at::XDP_DEVMAP), FRAGS),
    ("xdp/devmap", pt::XDP, Some(at::XDP_DEVMAP), NONE),
    ("xdp.frags/cpumap", pt::XDP, Some(at::XDP_CPUMAP), FRAGS),
    ("xdp/cpumap", pt::XDP, Some(at::XDP_CPUMAP), NONE),
    ("xdp.frags", pt::XDP, Some(at::XDP), FRAGS),
    ("xdp", pt::XDP, Some(at::XDP), NONE),
    ("perf_event", pt::PERF_EVENT, None, NONE),
    ("lwt_in", pt::LWT_IN, None, NONE),
    ("lwt_out", pt::LWT_OUT, None, NONE),
    ("lwt_xmit", pt::LWT_XMIT, None, NONE),
    ("lwt_seg6local", pt::LWT_SEG6LOCAL, None, NONE),
    ("sockops", pt::SOCK_OPS, Some(at::CGROUP_SOCK_OPS), NONE),
    ("sk_skb/stream_parser", pt::SK_SKB, Some(at::SK_SKB_STREAM_PARSER), NONE),
    ("sk_skb/stream_verdict", pt::SK_SKB, Some(at::SK_SKB_STREAM_VERDICT), NONE),
    ("sk_skb/verdict", pt::SK_SKB, Some(at::SK_SKB_VERDICT), NONE),
    ("sk_skb", pt::SK_SKB, None, NONE),
    ("sk_msg", pt::SK_MSG, Some(at::SK_MSG_VERDICT), NONE),
    ("lirc_mode2", pt::LIRC_MODE2, Some(at::LIRC_MODE2), NONE),
    ("flow_dissector", pt::FLOW_DISSECTOR, Some(at::FLOW_DISSECTOR), NONE),
    ("cgroup_skb/ingress", pt::CGROUP_SKB, Some(at::CGROUP_INET_INGRESS), NONE),
    ("cgroup_skb/egress", pt::CGROUP_SKB, Some(at::CGROUP_INET_EGRESS), NONE),
    ("cgroup/skb", pt::CGROUP_SKB, None, NONE),
    ("cgroup/sock_create", pt::CGROUP_SOCK, Some(at::CGROUP_INET_SOCK_CREATE), NONE),
    ("cgroup/sock_release", pt::CGROUP_SOCK, Some(at::CGROUP_INET_SOCK_RELEASE), NONE),
    ("cgroup/sock", pt::CGROUP_SOCK, Some(at::CGROUP_INET_SOCK_CREATE), NONE),
    ("cgroup/post_bind4", pt::CGROUP_SOCK, Some(at::CGROUP_INET4_POST_BIND), NONE),
    ("cgroup/post_bind6", pt::CGROUP_SOCK, Some(at::CGROUP_INET6_POST_BIND), NONE),
    ("cgroup/bind4", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET4_BIND), NONE),
    ("cgroup/bind6", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET6_BIND), NONE),
    ("cgroup/connect4", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET4_CONNECT), NONE),
    ("cgroup/connect6", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET6_CONNECT), NONE),
    ("cgroup/connect_unix", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UNIX_CONNECT), NONE),
    ("cgroup/sendmsg4", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UDP4_SENDMSG), NONE),
    ("cgroup/sendmsg6", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UDP6_SENDMSG), NONE),
    ("cgroup/sendmsg_unix", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UNIX_SENDMSG), NONE),
    ("cgroup/recvmsg4", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UDP4_RECVMSG), NONE),
    ("cgroup/recvmsg6", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UDP6_RECVMSG), NONE),
    ("cgroup/recvmsg_unix", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UNIX_RECVMSG), NONE),
    ("cgroup/getpeername4", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET4_GETPEERNAME), NONE),
    ("cgroup/getpeername6", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET6_GETPEERNAME), NONE),
    ("cgroup/getpeername_unix", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UNIX_GETPEERNAME), NONE),
    ("cgroup/getsockname4", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET4_GETSOCKNAME), NONE),
    ("cgroup/getsockname6", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_INET6_GETSOCKNAME), NONE),
    ("cgroup/getsockname_unix", pt::CGROUP_SOCK_ADDR, Some(at::CGROUP_UNIX_GETSOCKNAME), NONE),
    ("cgroup/sysctl", pt::CGROUP_SYSCTL, Some(at::CGROUP_SYSCTL), NONE),
    ("cgroup/getsockopt", pt::CGROUP_SOCKOPT, Some(at::CGROUP_GETSOCKOPT), NONE),
    ("cgroup/setsockopt", pt::CGROUP_SOCKOPT, Some(at::CGROUP_SETSOCKOPT), NONE),
    ("cgroup/dev", pt::CGROUP_DEVICE, Some(at::CGROUP_DEVICE), NONE),
    ("struct_ops", pt::STRUCT_OPS, None, TARGET),
    ("struct_ops.s", pt::STRUCT_OPS, None, TARGET | SLEEP),
    ("sk_lookup", pt::SK_LOOKUP, Some(at::SK_LOOKUP), NONE),
    ("netfilter", pt::NETFILTER, Some(at::NETFILTER), NONE),
];

/// Infers the program kind from a section name as libbpf does; `None` for names libbpf
/// does not know (`2/7`, `from-netdev`, `xdp_prog`), which the caller then types.
pub fn program_kind(section: &str) -> Option<ProgramKind> {
    for &(name, prog_type, expected, flags) in SECTION_DEFS {
        let target = if section == name {
            None
        } else if flags & TARGET != 0 {
            match section.strip_prefix(name).and_then(|r| r.strip_prefix('/')) {
                Some(t) => Some(t.to_owned()),
                None => continue,
            }
        } else {
            continue;
        };
        return Some(ProgramKind {
            prog_type,
            expected_attach_type: expected,
            sleepable: flags & SLEEP != 0,
            xdp_frags: flags & FRAGS != 0,
            attach_target: target,
        });
    }
    None
}

/// The kernel's `license_is_gpl_compatible` (include/linux/license.h).
pub fn license_is_gpl_compatible(license: &str) -> bool {
    matches!(
        license,
        "GPL"
            | "GPL v2"
            | "GPL and additional rights"
            | "Dual BSD/GPL"
            | "Dual MIT/GPL"
            | "Dual MPL/GPL"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libbpf_names() {
        let k = program_kind("kprobe/do_sys_open").unwrap();
        assert_eq!(k.prog_type, pt::KPROBE);
        assert_eq!(k.attach_target.as_deref(), Some("do_sys_open"));
        let x = program_kind("xdp").unwrap();
        assert_eq!(
            (x.prog_type, x.expected_attach_type),
            (pt::XDP, Some(at::XDP))
        );
        let f = program_kind("xdp.frags").unwrap();
        assert!(f.xdp_frags);
        let c = program_kind("cgroup_skb/egress").unwrap();
        assert_eq!(c.expected_attach_type, Some(at::CGROUP_INET_EGRESS));
        assert_eq!(
            program_kind("cgroup/sock").unwrap().prog_type,
            pt::CGROUP_SOCK
        );
        assert_eq!(
            program_kind("tp/syscalls/x").unwrap().prog_type,
            pt::TRACEPOINT
        );
        assert_eq!(
            program_kind("tp_btf/sched_switch").unwrap().prog_type,
            pt::TRACING
        );
        let s = program_kind("fentry.s/foo").unwrap();
        assert!(s.sleepable);
        assert_eq!(s.expected_attach_type, Some(at::TRACE_FENTRY));
        assert_eq!(program_kind("lsm/file_open").unwrap().prog_type, pt::LSM);
        assert_eq!(
            program_kind("struct_ops/init").unwrap().prog_type,
            pt::STRUCT_OPS
        );
        assert_eq!(
            program_kind("sk_skb/stream_parser").unwrap().prog_type,
            pt::SK_SKB
        );
        assert_eq!(program_kind("classifier").unwrap().prog_type, pt::SCHED_CLS);
        assert_eq!(program_kind("action").unwrap().prog_type, pt::SCHED_ACT);
    }

    #[test]
    fn unknown_names_are_none() {
        for n in [
            "2/7",
            "from-netdev",
            "xdp_prog",
            "socket1",
            "kprobe_x",
            "tcx",
            "",
        ] {
            assert_eq!(program_kind(n), None, "{n}");
        }
        // A name that needs no target does not take one.
        assert_eq!(program_kind("xdp/foo"), None);
    }

    #[test]
    fn gpl_compat() {
        assert!(license_is_gpl_compatible("Dual BSD/GPL"));
        assert!(license_is_gpl_compatible("GPL"));
        assert!(!license_is_gpl_compatible("MIT"));
        assert!(!license_is_gpl_compatible("gpl"));
    }
}
