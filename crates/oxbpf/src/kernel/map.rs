//! Maps: `BPF_MAP_CREATE`, element commands, `BPF_MAP_FREEZE`, info.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;

use super::sys::{self, Cmd};
use super::{check_name, KernelError, Result};

/// Map types whose syscall values hold one 8-byte-aligned slot per possible CPU.
const PERCPU_TYPES: [u32; 4] = [
    5,  // BPF_MAP_TYPE_PERCPU_HASH
    6,  // BPF_MAP_TYPE_PERCPU_ARRAY
    10, // BPF_MAP_TYPE_LRU_PERCPU_HASH
    21, // BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE
];

/// BTF type information for a map's key and value.
#[derive(Debug, Clone, Copy)]
pub struct MapBtf<'a> {
    /// A loaded BTF object ([`super::Btf`]).
    pub btf_fd: BorrowedFd<'a>,
    /// BTF type id of the key.
    pub key_type_id: u32,
    /// BTF type id of the value.
    pub value_type_id: u32,
    /// BTF type id of a kernel struct stored as the value (struct_ops), else 0.
    pub vmlinux_value_type_id: u32,
}

/// What to create with `BPF_MAP_CREATE`.
#[derive(Debug, Clone, Default)]
#[doc(alias = "BPF_MAP_CREATE")]
pub struct MapCreate<'a> {
    /// `enum bpf_map_type` number (e.g. [`super::MAP_TYPE_HASH`]).
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` map flags.
    pub flags: u32,
    /// Name, at most 15 bytes of `[A-Za-z0-9_.]` (may be empty).
    pub name: &'a str,
    /// Template inner map for map-in-map types.
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    /// NUMA node, used with `BPF_F_NUMA_NODE`.
    pub numa_node: u32,
    /// Optional BTF for key and value.
    pub btf: Option<MapBtf<'a>>,
    /// `map_extra` (e.g. bloom filter hash count).
    pub map_extra: u64,
}

/// `struct bpf_map_info` as Rust values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// `enum bpf_map_type` number.
    pub map_type: u32,
    /// Kernel-wide map id.
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// Name given at creation.
    pub name: String,
    /// BTF id (0 for none).
    pub btf_id: u32,
    /// `map_extra`.
    pub map_extra: u64,
}

/// A map in the kernel. Element operations take byte slices of exactly the map's key and
/// value sizes (per-CPU maps: [`Map::value_len`] covers all CPUs).
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    info: MapInfo,
}

impl Map {
    /// Creates the map an object declares, as libbpf does: its inner-map template first,
    /// a perf event array declared with 0 entries sized to the possible CPUs, the BTF key
    /// and value ids when `btf` (the object's BTF, loaded) is given, and a global-data
    /// map's initial contents written to slot 0. Freezing `.rodata` is left to the caller.
    pub fn from_spec(spec: &crate::object::MapSpec, btf: Option<&super::Btf>) -> Result<Map> {
        let inner = spec
            .inner
            .as_ref()
            .map(|i| Map::from_spec(i, btf))
            .transpose()?;
        let max_entries = if spec.map_type == crate::object::map_type::PERF_EVENT_ARRAY
            && spec.max_entries == 0
        {
            crate::maps::num_possible_cpus()
        } else {
            spec.max_entries
        };
        let btf = match (btf, spec.btf_value_type_id) {
            (Some(b), Some(value_type_id)) => Some(MapBtf {
                btf_fd: b.as_fd(),
                key_type_id: spec.btf_key_type_id.unwrap_or(0),
                value_type_id,
                vmlinux_value_type_id: 0,
            }),
            _ => None,
        };
        let map = Map::create(&MapCreate {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries,
            flags: spec.map_flags,
            name: &crate::runtime::kernel_obj_name(&spec.name),
            inner_map_fd: inner.as_ref().map(|i| i.as_fd()),
            numa_node: spec.numa_node,
            btf,
            map_extra: spec.map_extra,
        })?;
        if let Some(data) = &spec.data {
            map.update(&0u32.to_ne_bytes(), data, super::BPF_ANY)?;
        }
        Ok(map)
    }

    /// `BPF_MAP_CREATE`.
    #[doc(alias = "BPF_MAP_CREATE")]
    pub fn create(opts: &MapCreate<'_>) -> Result<Map> {
        let mut attr = sys::MapCreateAttr {
            map_type: opts.map_type,
            key_size: opts.key_size,
            value_size: opts.value_size,
            max_entries: opts.max_entries,
            map_flags: opts.flags,
            inner_map_fd: opts.inner_map_fd.map_or(0, |fd| fd.as_raw_fd() as u32),
            numa_node: opts.numa_node,
            map_name: check_name(opts.name)?,
            map_extra: opts.map_extra,
            ..Default::default()
        };
        if let Some(btf) = &opts.btf {
            attr.btf_fd = btf.btf_fd.as_raw_fd() as u32;
            attr.btf_key_type_id = btf.key_type_id;
            attr.btf_value_type_id = btf.value_type_id;
            attr.btf_vmlinux_value_type_id = btf.vmlinux_value_type_id;
        }
        let fd = sys::bpf_fd(Cmd::MapCreate, &mut attr)?;
        Map::from_fd(fd)
    }

    /// Wraps an fd that refers to a BPF map, reading its sizes from the kernel.
    pub fn from_fd(fd: OwnedFd) -> Result<Map> {
        let info = map_info(fd.as_fd())?;
        Ok(Map { fd, info })
    }

    /// `BPF_MAP_GET_FD_BY_ID`: opens the map with this kernel id.
    #[doc(alias = "BPF_MAP_GET_FD_BY_ID")]
    pub fn from_id(id: u32) -> Result<Map> {
        Map::from_fd(super::fd_by_id(Cmd::MapGetFdById, id)?)
    }

    /// The map's info as read when it was opened (see [`Map::refresh_info`]).
    pub fn info(&self) -> &MapInfo {
        &self.info
    }

    /// `BPF_OBJ_GET_INFO_BY_FD`, read now.
    #[doc(alias = "BPF_OBJ_GET_INFO_BY_FD")]
    pub fn refresh_info(&self) -> Result<MapInfo> {
        map_info(self.fd.as_fd())
    }

    /// Size of a key in bytes.
    pub fn key_len(&self) -> usize {
        self.info.key_size as usize
    }

    /// Size of a value buffer for the syscalls: `value_size`, or for per-CPU maps
    /// `round_up(value_size, 8) * possible CPUs`.
    pub fn value_len(&self) -> usize {
        let v = self.info.value_size as usize;
        if PERCPU_TYPES.contains(&self.info.map_type) {
            v.div_ceil(8) * 8 * possible_cpus()
        } else {
            v
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM`: the value for `key`, or `None` if absent (`ENOENT`).
    #[doc(alias = "BPF_MAP_LOOKUP_ELEM")]
    pub fn lookup(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check("key", self.key_len(), key.len())?;
        let mut value = vec![0u8; self.value_len()];
        let mut attr = self.elem_attr(key, value.as_mut_ptr(), 0);
        // `key` and `value` are borrowed across the call, `value` has value_len bytes.
        match sys::bpf(Cmd::MapLookupElem, &mut attr) {
            Ok(_) => Ok(Some(value)),
            Err(e) if e.errno() == libc::ENOENT => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` with `flags` ([`super::BPF_ANY`], [`super::BPF_NOEXIST`],
    /// [`super::BPF_EXIST`], `BPF_F_LOCK`). The kernel's `EEXIST` / `ENOENT` come back as
    /// [`KernelError::Sys`] (see [`KernelError::errno`]).
    #[doc(alias = "BPF_MAP_UPDATE_ELEM")]
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.check("key", self.key_len(), key.len())?;
        self.check("value", self.value_len(), value.len())?;
        let mut attr = self.elem_attr(key, value.as_ptr(), flags);
        // `key` and `value` are borrowed across the call; the kernel only reads them.
        sys::bpf(Cmd::MapUpdateElem, &mut attr)?;
        Ok(())
    }

    /// `BPF_MAP_DELETE_ELEM`; a missing key is an `ENOENT` error.
    #[doc(alias = "BPF_MAP_DELETE_ELEM")]
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.check("key", self.key_len(), key.len())?;
        let mut attr = self.elem_attr(key, std::ptr::null(), 0);
        sys::bpf(Cmd::MapDeleteElem, &mut attr)?;
        Ok(())
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (`None` starts at the first), or
    /// `None` at the end.
    #[doc(alias = "BPF_MAP_GET_NEXT_KEY")]
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        if let Some(k) = key {
            self.check("key", self.key_len(), k.len())?;
        }
        let mut next = vec![0u8; self.key_len()];
        let mut attr = sys::MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            key: key.map_or(0, |k| sys::ptr_u64(k.as_ptr())),
            value_or_next_key: sys::ptr_u64(next.as_mut_ptr()),
            ..Default::default()
        };
        // `key` and `next` are borrowed across the call, `next` has key_len bytes.
        match sys::bpf(Cmd::MapGetNextKey, &mut attr) {
            Ok(_) => Ok(Some(next)),
            Err(e) if e.errno() == libc::ENOENT => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// `BPF_MAP_FREEZE`: makes the map read-only from user space.
    #[doc(alias = "BPF_MAP_FREEZE")]
    pub fn freeze(&self) -> Result<()> {
        let mut attr = sys::MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            ..Default::default()
        };
        sys::bpf(Cmd::MapFreeze, &mut attr)?;
        Ok(())
    }

    /// All `(key, value)` pairs, walking `GET_NEXT_KEY` then `LOOKUP_ELEM`. Entries
    /// deleted between the two calls are skipped; the walk stops after `max_entries`
    /// pairs so concurrent churn cannot make it loop forever.
    pub fn entries(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        while out.len() < self.info.max_entries as usize {
            let Some(next) = self.next_key(key.as_deref())? else {
                break;
            };
            if let Some(value) = self.lookup(&next)? {
                out.push((next.clone(), value));
            }
            key = Some(next);
        }
        Ok(out)
    }

    fn elem_attr(&self, key: &[u8], value: *const u8, flags: u64) -> sys::MapElemAttr {
        sys::MapElemAttr {
            map_fd: self.fd.as_raw_fd() as u32,
            // Keyless maps (queue, stack, bloom filter) need a NULL key: the kernel
            // answers EINVAL to any key pointer when key_size is 0.
            key: if key.is_empty() {
                0
            } else {
                sys::ptr_u64(key.as_ptr())
            },
            value_or_next_key: sys::ptr_u64(value),
            flags,
            ..Default::default()
        }
    }

    fn check(&self, what: &'static str, expected: usize, got: usize) -> Result<()> {
        if expected == got {
            Ok(())
        } else {
            Err(KernelError::ElemSize {
                map_id: self.info.id,
                what,
                expected,
                got,
            })
        }
    }
}

impl AsFd for Map {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo> {
    let mut raw = sys::MapInfoRaw::default();
    sys::obj_get_info(fd, &mut raw)?;
    Ok(MapInfo {
        map_type: raw.map_type,
        id: raw.id,
        key_size: raw.key_size,
        value_size: raw.value_size,
        max_entries: raw.max_entries,
        flags: raw.map_flags,
        name: sys::name_from(&raw.name),
        btf_id: raw.btf_id,
        map_extra: raw.map_extra,
    })
}

/// Number of possible CPUs (the kernel sizes per-CPU syscall values by it), from
/// `/sys/devices/system/cpu/possible` ("0-3,5"); falls back to the online count.
pub fn possible_cpus() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::fs::read_to_string("/sys/devices/system/cpu/possible")
            .ok()
            .and_then(|s| parse_cpu_list(s.trim()))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Highest CPU index + 1 in a kernel cpu list like "0-3,5", or `None` if malformed.
fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut max = None;
    for part in s.split(',') {
        let last = match part.split_once('-') {
            Some((_, hi)) => hi.trim().parse::<usize>().ok()?,
            None => part.trim().parse::<usize>().ok()?,
        };
        max = max.max(Some(last));
    }
    max.map(|m| m + 1)
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    #[test]
    fn cpu_list_parsing() {
        assert_eq!(parse_cpu_list("0-1"), Some(2));
        assert_eq!(parse_cpu_list("0"), Some(1));
        assert_eq!(parse_cpu_list("0-3,5"), Some(6));
        assert_eq!(parse_cpu_list("x"), None);
    }
}
