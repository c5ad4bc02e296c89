//! The program type table: kernel numbers, bpftool and libbpf names, context layouts,
//! return semantics and how `test_run` builds the context.

use super::ctx::{self, CtxLayout};
use crate::object::prog_type as pt;

/// What a program's return value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnKind {
    /// An XDP action (`XDP_ABORTED` 0, `XDP_DROP`, `XDP_PASS`, `XDP_TX`, `XDP_REDIRECT`).
    XdpAction,
    /// Socket filter: bytes of the packet to keep (0 drops it).
    KeepBytes,
    /// A tc action (`TC_ACT_OK` 0, `TC_ACT_SHOT` 2, `TC_ACT_UNSPEC` -1, ...).
    TcAction,
    /// Cgroup verdict: 1 allows, 0 denies.
    Verdict,
    /// A plain integer (tracing programs, raw memory).
    Integer,
}

impl ReturnKind {
    /// The symbolic name of `retval` where the kind has one (`XDP_PASS`, `TC_ACT_SHOT`).
    pub fn name(self, retval: u32) -> Option<&'static str> {
        match self {
            ReturnKind::XdpAction => [
                "XDP_ABORTED",
                "XDP_DROP",
                "XDP_PASS",
                "XDP_TX",
                "XDP_REDIRECT",
            ]
            .get(retval as usize)
            .copied(),
            ReturnKind::TcAction => match retval as i32 {
                -1 => Some("TC_ACT_UNSPEC"),
                0 => Some("TC_ACT_OK"),
                1 => Some("TC_ACT_RECLASSIFY"),
                2 => Some("TC_ACT_SHOT"),
                3 => Some("TC_ACT_PIPE"),
                4 => Some("TC_ACT_STOLEN"),
                5 => Some("TC_ACT_QUEUED"),
                6 => Some("TC_ACT_REPEAT"),
                7 => Some("TC_ACT_REDIRECT"),
                8 => Some("TC_ACT_TRAP"),
                _ => None,
            },
            ReturnKind::Verdict => match retval {
                0 => Some("deny"),
                1 => Some("allow"),
                _ => None,
            },
            ReturnKind::KeepBytes | ReturnKind::Integer => None,
        }
    }
}

/// How `test_run` builds the program's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunInput {
    /// `struct xdp_md` over a packet frame with `XDP_PACKET_HEADROOM`.
    Xdp,
    /// `struct __sk_buff` over a packet. `l2`: the program sees the Ethernet header (tc);
    /// otherwise `data` starts at the network header (socket filter, cgroup skb).
    /// `direct`: `data`/`data_end` are real pointers the program may use.
    Skb {
        /// The Ethernet header stays in front of `data`.
        l2: bool,
        /// Direct packet access.
        direct: bool,
    },
    /// `ctx_in` is the context (pt_regs, raw tracepoint args, tracepoint record); no
    /// packet data.
    CtxOnly,
    /// Raw memory: `r1` = address of a copy of `data_in`, `r2` = its length.
    Memory,
}

/// A program type: data plus the layouts the runtime needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramType {
    /// `enum bpf_prog_type` number (0, `BPF_PROG_TYPE_UNSPEC`, for raw memory).
    pub id: u32,
    /// The kernel's enum name.
    pub kernel_name: &'static str,
    /// The name bpftool prints (`xdp`, `sched_cls`, `socket_filter`).
    pub bpftool_name: &'static str,
    /// Other names accepted for `--type` and libbpf section prefixes (`tc`, `socket`).
    pub aliases: &'static [&'static str],
    /// The context struct and what the type may access in it.
    pub ctx: &'static CtxLayout,
    /// Meaning of the return value.
    pub ret: ReturnKind,
    /// How test_run builds the input.
    pub input: RunInput,
    /// Whether the kernel's `BPF_PROG_TEST_RUN` supports this type (the oracle tests use
    /// it; oxbpf runs every type).
    pub kernel_test_run: bool,
}

// One positional row per type keeps the table below readable as a table.
#[allow(clippy::too_many_arguments)]
const fn ty(
    id: u32,
    kernel_name: &'static str,
    bpftool_name: &'static str,
    aliases: &'static [&'static str],
    ctx: &'static CtxLayout,
    ret: ReturnKind,
    input: RunInput,
    kernel_test_run: bool,
) -> ProgramType {
    ProgramType {
        id,
        kernel_name,
        bpftool_name,
        aliases,
        ctx,
        ret,
        input,
        kernel_test_run,
    }
}

/// Every program type oxbpf can run.
pub const PROGRAM_TYPES: &[ProgramType] = &[
    ty(
        pt::SOCKET_FILTER,
        "BPF_PROG_TYPE_SOCKET_FILTER",
        "socket_filter",
        &["socket", "socket_filter"],
        &ctx::SK_BUFF_SOCKET_FILTER,
        ReturnKind::KeepBytes,
        RunInput::Skb {
            l2: false,
            direct: false,
        },
        true,
    ),
    ty(
        pt::KPROBE,
        "BPF_PROG_TYPE_KPROBE",
        "kprobe",
        &[
            "kprobe",
            "kretprobe",
            "uprobe",
            "uretprobe",
            "ksyscall",
            "kretsyscall",
        ],
        &ctx::PT_REGS,
        ReturnKind::Integer,
        RunInput::CtxOnly,
        false,
    ),
    ty(
        pt::SCHED_CLS,
        "BPF_PROG_TYPE_SCHED_CLS",
        "sched_cls",
        &[
            "tc",
            "classifier",
            "sched_cls",
            "tcx",
            "tcx/ingress",
            "tcx/egress",
        ],
        &ctx::SK_BUFF_TC,
        ReturnKind::TcAction,
        RunInput::Skb {
            l2: true,
            direct: true,
        },
        true,
    ),
    ty(
        pt::SCHED_ACT,
        "BPF_PROG_TYPE_SCHED_ACT",
        "sched_act",
        &["action", "sched_act"],
        &ctx::SK_BUFF_TC,
        ReturnKind::TcAction,
        RunInput::Skb {
            l2: true,
            direct: true,
        },
        true,
    ),
    ty(
        pt::TRACEPOINT,
        "BPF_PROG_TYPE_TRACEPOINT",
        "tracepoint",
        &["tracepoint", "tp"],
        &ctx::TRACEPOINT_RECORD,
        ReturnKind::Integer,
        RunInput::CtxOnly,
        false,
    ),
    ty(
        pt::XDP,
        "BPF_PROG_TYPE_XDP",
        "xdp",
        &["xdp", "xdp.frags"],
        &ctx::XDP_MD,
        ReturnKind::XdpAction,
        RunInput::Xdp,
        true,
    ),
    ty(
        pt::PERF_EVENT,
        "BPF_PROG_TYPE_PERF_EVENT",
        "perf_event",
        &["perf_event"],
        &ctx::PERF_EVENT_DATA,
        ReturnKind::Integer,
        RunInput::CtxOnly,
        false,
    ),
    ty(
        pt::CGROUP_SKB,
        "BPF_PROG_TYPE_CGROUP_SKB",
        "cgroup_skb",
        &[
            "cgroup_skb",
            "cgroup_skb/ingress",
            "cgroup_skb/egress",
            "cgroup/skb",
        ],
        &ctx::SK_BUFF_CGROUP,
        ReturnKind::Verdict,
        RunInput::Skb {
            l2: false,
            direct: true,
        },
        true,
    ),
    ty(
        pt::RAW_TRACEPOINT,
        "BPF_PROG_TYPE_RAW_TRACEPOINT",
        "raw_tracepoint",
        &["raw_tracepoint", "raw_tp"],
        &ctx::RAW_TP_ARGS,
        ReturnKind::Integer,
        RunInput::CtxOnly,
        true,
    ),
    ty(
        0,
        "BPF_PROG_TYPE_UNSPEC",
        "unspec",
        &["raw", "mem", "memory"],
        &ctx::RAW_MEMORY,
        ReturnKind::Integer,
        RunInput::Memory,
        false,
    ),
];

impl ProgramType {
    /// The type with this kernel number.
    pub fn from_id(id: u32) -> Option<&'static ProgramType> {
        PROGRAM_TYPES.iter().find(|t| t.id == id)
    }

    /// The type named `name`: a bpftool name, the kernel enum name (with or without
    /// `BPF_PROG_TYPE_`, any case) or an alias.
    pub fn from_name(name: &str) -> Option<&'static ProgramType> {
        let lower = name.to_ascii_lowercase();
        let bare = lower.strip_prefix("bpf_prog_type_").unwrap_or(&lower);
        PROGRAM_TYPES.iter().find(|t| {
            t.bpftool_name == bare
                || t.kernel_name.eq_ignore_ascii_case(name)
                || t.aliases.contains(&bare)
        })
    }

    /// The type a libbpf section name implies (`xdp`, `tc/ingress`, `kprobe/sys_open`,
    /// `socket`), via the object loader's section table.
    pub fn from_section(section: &str) -> Option<&'static ProgramType> {
        crate::object::program_kind(section).and_then(|k| ProgramType::from_id(k.prog_type))
    }

    /// Whether the program may read `data`/`data_end` as packet pointers.
    pub fn direct_packet_access(&self) -> bool {
        match self.input {
            RunInput::Xdp => true,
            RunInput::Skb { direct, .. } => direct,
            RunInput::CtxOnly | RunInput::Memory => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(ProgramType::from_name("xdp").unwrap().id, 6);
        assert_eq!(ProgramType::from_name("tc").unwrap().id, 3);
        assert_eq!(ProgramType::from_name("classifier").unwrap().id, 3);
        assert_eq!(ProgramType::from_name("socket").unwrap().id, 1);
        assert_eq!(
            ProgramType::from_name("BPF_PROG_TYPE_RAW_TRACEPOINT")
                .unwrap()
                .bpftool_name,
            "raw_tracepoint"
        );
        assert_eq!(ProgramType::from_name("raw_tp").unwrap().id, 17);
        assert_eq!(ProgramType::from_name("tp").unwrap().id, 5);
        assert!(ProgramType::from_name("nonsense").is_none());
        assert_eq!(ProgramType::from_section("xdp").unwrap().id, 6);
        assert_eq!(
            ProgramType::from_section("kprobe/do_sys_open").unwrap().id,
            2
        );
        assert_eq!(ProgramType::from_section("tc").unwrap().id, 3);
        assert_eq!(ProgramType::from_section("socket").unwrap().id, 1);
        for t in PROGRAM_TYPES {
            assert_eq!(ProgramType::from_id(t.id), Some(t));
        }
    }

    #[test]
    fn return_names() {
        assert_eq!(ReturnKind::XdpAction.name(2), Some("XDP_PASS"));
        assert_eq!(ReturnKind::TcAction.name(u32::MAX), Some("TC_ACT_UNSPEC"));
        assert_eq!(ReturnKind::XdpAction.name(9), None);
        assert_eq!(ReturnKind::Integer.name(0), None);
    }
}
