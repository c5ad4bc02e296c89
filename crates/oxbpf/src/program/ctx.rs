//! Context layouts: the UAPI structs programs receive in `r1`, field by field, with what
//! each program type may do with each field (the kernel's `*_is_valid_access`).

use crate::vm::MemRegion;

/// What a program may do with a context field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldAccess {
    /// Loads only.
    Read,
    /// Loads and stores.
    ReadWrite,
}

/// One field of a context struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtxField {
    /// UAPI field name (`data_end`, `cb`).
    pub name: &'static str,
    /// Byte offset in the struct.
    pub off: u32,
    /// Size in bytes (arrays: the whole array).
    pub size: u32,
    /// Permitted access.
    pub access: FieldAccess,
}

/// A context struct as one program type sees it: fields absent from `fields` may not be
/// accessed at all by that type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtxLayout {
    /// UAPI struct name (`struct xdp_md`).
    pub struct_name: &'static str,
    /// `sizeof` the struct (for raw records: the largest accepted size).
    pub size: u32,
    /// Accessible fields, by offset.
    pub fields: &'static [CtxField],
}

impl CtxLayout {
    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&CtxField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field containing byte `off`.
    pub fn field_at(&self, off: u32) -> Option<&CtxField> {
        self.fields
            .iter()
            .find(|f| off >= f.off && off - f.off < f.size)
    }

    /// Checked-mode regions for a context of `len` bytes at `addr`: one region per run
    /// of adjacent fields with the same access, so forbidden fields fault and read-only
    /// fields fault on stores.
    pub fn regions(&self, addr: u64, len: u32) -> Vec<MemRegion> {
        let mut out: Vec<MemRegion> = Vec::new();
        for f in self.fields {
            let end = (f.off + f.size).min(len);
            if f.off >= end {
                continue;
            }
            let writable = f.access == FieldAccess::ReadWrite;
            let start = addr + f.off as u64;
            match out.last_mut() {
                Some(r) if r.start + r.len == start && r.writable == writable => {
                    r.len += (end - f.off) as u64
                }
                _ => out.push(MemRegion {
                    start,
                    len: (end - f.off) as u64,
                    writable,
                }),
            }
        }
        out
    }
}

const fn r(name: &'static str, off: u32, size: u32) -> CtxField {
    CtxField {
        name,
        off,
        size,
        access: FieldAccess::Read,
    }
}

const fn w(name: &'static str, off: u32, size: u32) -> CtxField {
    CtxField {
        name,
        off,
        size,
        access: FieldAccess::ReadWrite,
    }
}

/// `struct xdp_md` offsets.
#[allow(missing_docs)]
pub mod xdp_md {
    pub const DATA: u32 = 0;
    pub const DATA_END: u32 = 4;
    pub const DATA_META: u32 = 8;
    pub const INGRESS_IFINDEX: u32 = 12;
    pub const RX_QUEUE_INDEX: u32 = 16;
    pub const EGRESS_IFINDEX: u32 = 20;
    pub const SIZE: u32 = 24;
}

/// `struct xdp_md` for XDP programs (`xdp_is_valid_access`: no stores; `egress_ifindex`
/// only for devmap programs, so not here).
pub const XDP_MD: CtxLayout = CtxLayout {
    struct_name: "struct xdp_md",
    size: xdp_md::SIZE,
    fields: &[
        r("data", xdp_md::DATA, 4),
        r("data_end", xdp_md::DATA_END, 4),
        r("data_meta", xdp_md::DATA_META, 4),
        r("ingress_ifindex", xdp_md::INGRESS_IFINDEX, 4),
        r("rx_queue_index", xdp_md::RX_QUEUE_INDEX, 4),
    ],
};

/// `struct __sk_buff` offsets.
#[allow(missing_docs)]
pub mod sk_buff {
    pub const LEN: u32 = 0;
    pub const PKT_TYPE: u32 = 4;
    pub const MARK: u32 = 8;
    pub const QUEUE_MAPPING: u32 = 12;
    pub const PROTOCOL: u32 = 16;
    pub const VLAN_PRESENT: u32 = 20;
    pub const VLAN_TCI: u32 = 24;
    pub const VLAN_PROTO: u32 = 28;
    pub const PRIORITY: u32 = 32;
    pub const INGRESS_IFINDEX: u32 = 36;
    pub const IFINDEX: u32 = 40;
    pub const TC_INDEX: u32 = 44;
    pub const CB: u32 = 48;
    pub const HASH: u32 = 68;
    pub const TC_CLASSID: u32 = 72;
    pub const DATA: u32 = 76;
    pub const DATA_END: u32 = 80;
    pub const NAPI_ID: u32 = 84;
    pub const FAMILY: u32 = 88;
    pub const REMOTE_IP4: u32 = 92;
    pub const LOCAL_IP4: u32 = 96;
    pub const REMOTE_IP6: u32 = 100;
    pub const LOCAL_IP6: u32 = 116;
    pub const REMOTE_PORT: u32 = 132;
    pub const LOCAL_PORT: u32 = 136;
    pub const DATA_META: u32 = 140;
    pub const FLOW_KEYS: u32 = 144;
    pub const TSTAMP: u32 = 152;
    pub const WIRE_LEN: u32 = 160;
    pub const GSO_SEGS: u32 = 164;
    pub const SK: u32 = 168;
    pub const GSO_SIZE: u32 = 176;
    pub const TSTAMP_TYPE: u32 = 180;
    pub const HWTSTAMP: u32 = 184;
    pub const SIZE: u32 = 192;
}

use sk_buff as s;

/// `struct __sk_buff` for socket filters (`sk_filter_is_valid_access`): no packet
/// pointers, no socket fields, no `tc_classid`/`tstamp`/`wire_len`/`hwtstamp`; only `cb`
/// is writable.
pub const SK_BUFF_SOCKET_FILTER: CtxLayout = CtxLayout {
    struct_name: "struct __sk_buff",
    size: s::SIZE,
    fields: &[
        r("len", s::LEN, 4),
        r("pkt_type", s::PKT_TYPE, 4),
        r("mark", s::MARK, 4),
        r("queue_mapping", s::QUEUE_MAPPING, 4),
        r("protocol", s::PROTOCOL, 4),
        r("vlan_present", s::VLAN_PRESENT, 4),
        r("vlan_tci", s::VLAN_TCI, 4),
        r("vlan_proto", s::VLAN_PROTO, 4),
        r("priority", s::PRIORITY, 4),
        r("ingress_ifindex", s::INGRESS_IFINDEX, 4),
        r("ifindex", s::IFINDEX, 4),
        r("tc_index", s::TC_INDEX, 4),
        w("cb", s::CB, 20),
        r("hash", s::HASH, 4),
        r("napi_id", s::NAPI_ID, 4),
        r("gso_segs", s::GSO_SEGS, 4),
        r("gso_size", s::GSO_SIZE, 4),
    ],
};

/// `struct __sk_buff` for tc classifiers and actions (`tc_cls_act_is_valid_access`):
/// direct packet access, writable mark/priority/tc_index/tc_classid/cb/tstamp/
/// queue_mapping, no socket address fields.
pub const SK_BUFF_TC: CtxLayout = CtxLayout {
    struct_name: "struct __sk_buff",
    size: s::SIZE,
    fields: &[
        r("len", s::LEN, 4),
        r("pkt_type", s::PKT_TYPE, 4),
        w("mark", s::MARK, 4),
        w("queue_mapping", s::QUEUE_MAPPING, 4),
        r("protocol", s::PROTOCOL, 4),
        r("vlan_present", s::VLAN_PRESENT, 4),
        r("vlan_tci", s::VLAN_TCI, 4),
        r("vlan_proto", s::VLAN_PROTO, 4),
        w("priority", s::PRIORITY, 4),
        r("ingress_ifindex", s::INGRESS_IFINDEX, 4),
        r("ifindex", s::IFINDEX, 4),
        w("tc_index", s::TC_INDEX, 4),
        w("cb", s::CB, 20),
        r("hash", s::HASH, 4),
        w("tc_classid", s::TC_CLASSID, 4),
        r("data", s::DATA, 4),
        r("data_end", s::DATA_END, 4),
        r("napi_id", s::NAPI_ID, 4),
        r("data_meta", s::DATA_META, 4),
        w("tstamp", s::TSTAMP, 8),
        r("wire_len", s::WIRE_LEN, 4),
        r("gso_segs", s::GSO_SEGS, 4),
        r("gso_size", s::GSO_SIZE, 4),
        r("hwtstamp", s::HWTSTAMP, 8),
    ],
};

/// `struct __sk_buff` for cgroup skb programs (`cg_skb_is_valid_access` with CAP_BPF):
/// packet pointers and socket address fields readable; mark, priority, cb, tstamp writable.
pub const SK_BUFF_CGROUP: CtxLayout = CtxLayout {
    struct_name: "struct __sk_buff",
    size: s::SIZE,
    fields: &[
        r("len", s::LEN, 4),
        r("pkt_type", s::PKT_TYPE, 4),
        w("mark", s::MARK, 4),
        r("queue_mapping", s::QUEUE_MAPPING, 4),
        r("protocol", s::PROTOCOL, 4),
        r("vlan_present", s::VLAN_PRESENT, 4),
        r("vlan_tci", s::VLAN_TCI, 4),
        r("vlan_proto", s::VLAN_PROTO, 4),
        w("priority", s::PRIORITY, 4),
        r("ingress_ifindex", s::INGRESS_IFINDEX, 4),
        r("ifindex", s::IFINDEX, 4),
        r("tc_index", s::TC_INDEX, 4),
        w("cb", s::CB, 20),
        r("hash", s::HASH, 4),
        r("data", s::DATA, 4),
        r("data_end", s::DATA_END, 4),
        r("napi_id", s::NAPI_ID, 4),
        r("family", s::FAMILY, 4),
        r("remote_ip4", s::REMOTE_IP4, 4),
        r("local_ip4", s::LOCAL_IP4, 4),
        r("remote_ip6", s::REMOTE_IP6, 16),
        r("local_ip6", s::LOCAL_IP6, 16),
        r("remote_port", s::REMOTE_PORT, 4),
        r("local_port", s::LOCAL_PORT, 4),
        w("tstamp", s::TSTAMP, 8),
        r("wire_len", s::WIRE_LEN, 4),
        r("gso_segs", s::GSO_SEGS, 4),
        r("gso_size", s::GSO_SIZE, 4),
        r("hwtstamp", s::HWTSTAMP, 8),
    ],
};

/// Size of x86-64 `struct pt_regs`.
pub const PT_REGS_SIZE: u32 = 168;

/// x86-64 `struct pt_regs` (`arch/x86/include/uapi/asm/ptrace.h`), read-only, as kprobe
/// programs see it. `PT_REGS_PARM1` is `di`.
pub const PT_REGS: CtxLayout = CtxLayout {
    struct_name: "struct pt_regs",
    size: PT_REGS_SIZE,
    fields: &[
        r("r15", 0, 8),
        r("r14", 8, 8),
        r("r13", 16, 8),
        r("r12", 24, 8),
        r("bp", 32, 8),
        r("bx", 40, 8),
        r("r11", 48, 8),
        r("r10", 56, 8),
        r("r9", 64, 8),
        r("r8", 72, 8),
        r("ax", 80, 8),
        r("cx", 88, 8),
        r("dx", 96, 8),
        r("si", 104, 8),
        r("di", 112, 8),
        r("orig_ax", 120, 8),
        r("ip", 128, 8),
        r("cs", 136, 8),
        r("flags", 144, 8),
        r("sp", 152, 8),
        r("ss", 160, 8),
    ],
};

/// `pt_regs` register names in struct order, for `--ctx-in` builders and printing.
pub const PT_REGS_NAMES: [&str; 21] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss",
];

/// `struct bpf_perf_event_data`: the registers, `sample_period`, `addr`; read-only.
pub const PERF_EVENT_DATA: CtxLayout = CtxLayout {
    struct_name: "struct bpf_perf_event_data",
    size: PT_REGS_SIZE + 16,
    fields: &[
        r("regs", 0, PT_REGS_SIZE),
        r("sample_period", PT_REGS_SIZE, 8),
        r("addr", PT_REGS_SIZE + 8, 8),
    ],
};

/// Most arguments a raw tracepoint passes (`MAX_BPF_FUNC_ARGS`).
pub const MAX_RAW_TP_ARGS: u32 = 12;

/// `struct bpf_raw_tracepoint_args { __u64 args[]; }`, read-only.
pub const RAW_TP_ARGS: CtxLayout = CtxLayout {
    struct_name: "struct bpf_raw_tracepoint_args",
    size: MAX_RAW_TP_ARGS * 8,
    fields: &[r("args", 0, MAX_RAW_TP_ARGS * 8)],
};

/// Largest tracepoint record (`PERF_MAX_TRACE_SIZE`).
pub const PERF_MAX_TRACE_SIZE: u32 = 8192;

/// A tracepoint's raw record: the first 8 bytes (common fields) are not accessible
/// (`tp_prog_is_valid_access`), the rest read-only.
pub const TRACEPOINT_RECORD: CtxLayout = CtxLayout {
    struct_name: "tracepoint record",
    size: PERF_MAX_TRACE_SIZE,
    fields: &[r("fields", 8, PERF_MAX_TRACE_SIZE - 8)],
};

/// Plain memory (`oxbpf run`): `r1` points at the input, `r2` holds its length, every
/// byte readable and writable.
pub const RAW_MEMORY: CtxLayout = CtxLayout {
    struct_name: "memory",
    size: u32::MAX,
    fields: &[w("bytes", 0, u32::MAX)],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_merge_runs_and_skip_forbidden_fields() {
        let regs = SK_BUFF_SOCKET_FILTER.regions(0x1000, s::SIZE);
        // len..tc_index read-only, cb writable, hash read-only, napi_id, gso_segs, gso_size.
        assert_eq!(
            regs[0],
            MemRegion {
                start: 0x1000,
                len: 48,
                writable: false
            }
        );
        assert_eq!(
            regs[1],
            MemRegion {
                start: 0x1000 + 48,
                len: 20,
                writable: true
            }
        );
        assert_eq!(regs[2].start, 0x1000 + 68);
        assert_eq!(regs[2].len, 4);
        // data/data_end are not accessible for socket filters.
        assert!(!regs.iter().any(|r| r.contains(0x1000 + s::DATA as u64, 4)));
        let tc = SK_BUFF_TC.regions(0, s::SIZE);
        assert!(tc.iter().any(|r| r.contains(s::DATA as u64, 8)));
        assert_eq!(XDP_MD.regions(0, 24).len(), 1);
        assert_eq!(XDP_MD.field_at(5).unwrap().name, "data_end");
        assert_eq!(TRACEPOINT_RECORD.regions(0, 16)[0].start, 8);
    }

    #[test]
    fn offsets_match_the_uapi_header() {
        // Offsets checked against /usr/include/linux/bpf.h by hand; these guard typos
        // in the table that a shifted field would cause.
        let f = |l: &CtxLayout| {
            l.fields
                .windows(2)
                .all(|w| w[0].off + w[0].size <= w[1].off)
        };
        for l in [
            &XDP_MD,
            &SK_BUFF_SOCKET_FILTER,
            &SK_BUFF_TC,
            &SK_BUFF_CGROUP,
            &PT_REGS,
            &PERF_EVENT_DATA,
        ] {
            assert!(f(l), "{} fields overlap or are unsorted", l.struct_name);
            let last = l.fields.last().unwrap();
            assert!(last.off + last.size <= l.size);
        }
        assert_eq!(PT_REGS.field("di").unwrap().off, 112);
        assert_eq!(PT_REGS_NAMES[14], "di");
    }
}
