//! Map types and definitions, validated with the kernel's rules and errnos.

use std::fmt;
use std::str::FromStr;

use super::percpu::round8;
use super::MapError;

/// Map flags (`BPF_F_*` for `map_flags`), kernel values.
pub mod flags {
    /// Do not preallocate hash elements; required for LPM tries.
    pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
    /// One LRU list per CPU (LRU hashes only).
    pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
    /// `numa_node` attribute is valid.
    pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
    /// Read-only from the syscall side.
    pub const BPF_F_RDONLY: u32 = 1 << 3;
    /// Write-only from the syscall side.
    pub const BPF_F_WRONLY: u32 = 1 << 4;
    /// Zero hash seed (tests only).
    pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
    /// Read-only for programs (`.rodata`).
    pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
    /// Write-only for programs.
    pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
    /// Array memory can be mmap-ed by user space.
    pub const BPF_F_MMAPABLE: u32 = 1 << 10;
    /// Perf event array keeps its events when the file is closed.
    pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
    /// Inner map template whose `max_entries` may differ between inner maps.
    pub const BPF_F_INNER_MAP: u32 = 1 << 12;

    /// The four access flags.
    pub(crate) const ACCESS_MASK: u32 =
        BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG;
}

use flags::*;

/// `KMALLOC_MAX_SIZE` on x86-64 (order-10 pages): the kernel's bound on one element.
pub(crate) const KMALLOC_MAX_SIZE: u64 = 4 << 20;
/// `PCPU_MIN_UNIT_SIZE`: bound on a per-CPU value.
pub(crate) const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// Page size used for ring buffer size checks.
pub(crate) const PAGE_SIZE: u32 = 4096;
/// Longest LPM key data (`LPM_DATA_SIZE_MAX`).
pub(crate) const LPM_DATA_SIZE_MAX: u32 = 256;
/// `BPF_OBJ_NAME_LEN`, including the terminating NUL.
pub const BPF_OBJ_NAME_LEN: usize = 16;

macro_rules! map_types {
    ($($variant:ident = $num:literal, $name:literal, $kname:literal;)*) => {
        /// A map type, numbered as the kernel's `enum bpf_map_type`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum MapType {
            $(
                #[doc = concat!("`", $kname, "`")]
                #[doc(alias = $kname)]
                $variant = $num,
            )*
        }

        impl MapType {
            /// All supported types.
            pub const ALL: &'static [MapType] = &[$(MapType::$variant),*];

            /// The type for a kernel number, if supported.
            pub fn from_raw(raw: u32) -> Option<MapType> {
                match raw {
                    $($num => Some(MapType::$variant),)*
                    _ => None,
                }
            }

            /// The name bpftool prints (`hash`, `lru_percpu_hash`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $(MapType::$variant => $name,)*
                }
            }
        }

        impl FromStr for MapType {
            type Err = MapError;

            /// Parse a bpftool name (e.g. `percpu_array`) or a kernel number.
            fn from_str(s: &str) -> Result<MapType, MapError> {
                match s {
                    $($name => Ok(MapType::$variant),)*
                    _ => match s.parse::<u32>() {
                        Ok(raw) => MapType::from_raw(raw).ok_or(MapError::UnknownType { raw }),
                        Err(_) => Err(MapError::UnknownTypeName { name: s.to_string() }),
                    },
                }
            }
        }
    };
}

map_types! {
    Hash = 1, "hash", "BPF_MAP_TYPE_HASH";
    Array = 2, "array", "BPF_MAP_TYPE_ARRAY";
    ProgArray = 3, "prog_array", "BPF_MAP_TYPE_PROG_ARRAY";
    PerfEventArray = 4, "perf_event_array", "BPF_MAP_TYPE_PERF_EVENT_ARRAY";
    PercpuHash = 5, "percpu_hash", "BPF_MAP_TYPE_PERCPU_HASH";
    PercpuArray = 6, "percpu_array", "BPF_MAP_TYPE_PERCPU_ARRAY";
    LruHash = 9, "lru_hash", "BPF_MAP_TYPE_LRU_HASH";
    LruPercpuHash = 10, "lru_percpu_hash", "BPF_MAP_TYPE_LRU_PERCPU_HASH";
    LpmTrie = 11, "lpm_trie", "BPF_MAP_TYPE_LPM_TRIE";
    ArrayOfMaps = 12, "array_of_maps", "BPF_MAP_TYPE_ARRAY_OF_MAPS";
    HashOfMaps = 13, "hash_of_maps", "BPF_MAP_TYPE_HASH_OF_MAPS";
    Queue = 22, "queue", "BPF_MAP_TYPE_QUEUE";
    Stack = 23, "stack", "BPF_MAP_TYPE_STACK";
    RingBuf = 27, "ringbuf", "BPF_MAP_TYPE_RINGBUF";
}

impl TryFrom<u32> for MapType {
    type Error = MapError;

    /// The type for a kernel `enum bpf_map_type` number.
    fn try_from(raw: u32) -> Result<MapType, MapError> {
        MapType::from_raw(raw).ok_or(MapError::UnknownType { raw })
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl MapType {
    /// Per-CPU value storage (user space sees one value per possible CPU).
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuHash | MapType::PercpuArray | MapType::LruPercpuHash
        )
    }

    /// Hash-table based (including LRU and hash-of-maps).
    pub fn is_hash(self) -> bool {
        matches!(
            self,
            MapType::Hash
                | MapType::PercpuHash
                | MapType::LruHash
                | MapType::LruPercpuHash
                | MapType::HashOfMaps
        )
    }

    /// Values are ids of other objects (`bpf_fd_array` maps and hash-of-maps).
    pub fn holds_ids(self) -> bool {
        matches!(
            self,
            MapType::ProgArray
                | MapType::PerfEventArray
                | MapType::ArrayOfMaps
                | MapType::HashOfMaps
        )
    }
}

/// A map definition: what `BPF_MAP_CREATE` receives (and what an ELF `.maps` entry holds).
#[derive(Debug, Clone, PartialEq, Eq)]
#[doc(alias = "bpf_map_def")]
pub struct MapDef {
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity (bytes for ring buffers).
    pub max_entries: u32,
    /// `BPF_F_*` flags, see [`flags`].
    pub map_flags: u32,
    /// Object name (at most 15 bytes of `[A-Za-z0-9_.]`).
    pub name: String,
    /// Inner map template for `ARRAY_OF_MAPS` / `HASH_OF_MAPS`.
    pub inner: Option<Box<MapDef>>,
    /// Offset of a `struct bpf_spin_lock` in the value (known from BTF), enabling
    /// `BPF_F_LOCK` and the `bpf_spin_lock` helpers. Hash and array maps only.
    pub spin_lock_off: Option<u32>,
}

impl MapDef {
    /// A definition with no flags, no name and no inner map.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: 0,
            name: String::new(),
            inner: None,
            spin_lock_off: None,
        }
    }

    /// Set `map_flags`.
    pub fn with_flags(mut self, map_flags: u32) -> MapDef {
        self.map_flags = map_flags;
        self
    }

    /// Set the name.
    pub fn with_name(mut self, name: &str) -> MapDef {
        self.name = name.to_string();
        self
    }

    /// Declare a `struct bpf_spin_lock` at byte `off` of the value.
    pub fn with_spin_lock(mut self, off: u32) -> MapDef {
        self.spin_lock_off = Some(off);
        self
    }

    /// Set the inner map template (map-in-map).
    pub fn with_inner(mut self, inner: MapDef) -> MapDef {
        self.inner = Some(Box::new(inner));
        self
    }

    /// The definition of a global-data map (`.data`, `.bss`: writable; `.rodata`: created
    /// with `BPF_F_RDONLY_PROG` and meant to be frozen after its initial value is written),
    /// as libbpf makes them: an ARRAY of one `size`-byte value.
    pub fn global_data(name: &str, size: u32, rodata: bool) -> MapDef {
        let flags = if rodata { BPF_F_RDONLY_PROG } else { 0 };
        MapDef::new(MapType::Array, 4, size, 1)
            .with_flags(flags | BPF_F_MMAPABLE)
            .with_name(name)
    }

    fn invalid(&self, reason: &'static str) -> MapError {
        MapError::InvalidDef {
            map_type: self.map_type,
            reason,
        }
    }

    fn too_big(&self, reason: &'static str) -> MapError {
        MapError::DefTooBig {
            map_type: self.map_type,
            reason,
        }
    }

    /// Check the definition as `BPF_MAP_CREATE` would and return it normalized for
    /// `ncpus` possible CPUs. Only normalization: a perf event array with `max_entries == 0`
    /// gets one entry per CPU (what libbpf does before calling the kernel).
    pub fn validate(&self, ncpus: u32) -> Result<MapDef, MapError> {
        let mut def = self.clone();
        if def.map_type == MapType::PerfEventArray && def.max_entries == 0 {
            def.max_entries = ncpus.max(1);
        }
        def.check_name()?;
        def.check_common()?;
        match def.map_type {
            MapType::Array | MapType::PercpuArray => def.check_array()?,
            MapType::ProgArray | MapType::PerfEventArray | MapType::ArrayOfMaps => {
                def.check_fd_array()?
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash => {
                def.check_hash()?
            }
            MapType::HashOfMaps => {
                if def.value_size != 4 {
                    return Err(def.invalid("value_size must be 4 (an inner map id)"));
                }
                def.check_hash()?
            }
            MapType::LpmTrie => def.check_lpm()?,
            MapType::Queue | MapType::Stack => def.check_queue()?,
            MapType::RingBuf => def.check_ringbuf()?,
        }
        if matches!(def.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
            def.check_inner()?;
        }
        def.check_spin_lock()?;
        Ok(def)
    }

    fn check_name(&self) -> Result<(), MapError> {
        let ok = self.name.len() < BPF_OBJ_NAME_LEN
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if ok {
            Ok(())
        } else {
            Err(MapError::InvalidName {
                name: self.name.clone(),
            })
        }
    }

    /// `bpf_map_flags_access_ok`: not both read-only and write-only on the same side.
    fn check_common(&self) -> Result<(), MapError> {
        let f = self.map_flags;
        if f & BPF_F_RDONLY != 0 && f & BPF_F_WRONLY != 0 {
            return Err(self.invalid("BPF_F_RDONLY together with BPF_F_WRONLY"));
        }
        if f & BPF_F_RDONLY_PROG != 0 && f & BPF_F_WRONLY_PROG != 0 {
            return Err(self.invalid("BPF_F_RDONLY_PROG together with BPF_F_WRONLY_PROG"));
        }
        if self.inner.is_some()
            && !matches!(self.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps)
        {
            return Err(self.invalid("inner map given for a map that is not map-in-map"));
        }
        Ok(())
    }

    fn check_flags(&self, allowed: u32) -> Result<(), MapError> {
        if self.map_flags & !allowed != 0 {
            return Err(self.invalid("map_flags not supported by this map type"));
        }
        Ok(())
    }

    /// `array_map_alloc_check`.
    fn check_array(&self) -> Result<(), MapError> {
        let percpu = self.map_type.is_percpu();
        let mut allowed = BPF_F_NUMA_NODE | ACCESS_MASK;
        if self.map_type == MapType::Array {
            allowed |= BPF_F_MMAPABLE | BPF_F_INNER_MAP;
        }
        if self.map_type == MapType::PerfEventArray {
            allowed |= BPF_F_PRESERVE_ELEMS;
        }
        if percpu && self.map_flags & BPF_F_NUMA_NODE != 0 {
            return Err(self.invalid("BPF_F_NUMA_NODE on a per-CPU array"));
        }
        self.check_flags(allowed)?;
        if self.max_entries == 0 {
            return Err(self.invalid("max_entries is 0"));
        }
        if self.key_size != 4 {
            return Err(self.invalid("key_size must be 4"));
        }
        if self.value_size == 0 {
            return Err(self.invalid("value_size is 0"));
        }
        if u64::from(self.value_size) > KMALLOC_MAX_SIZE {
            return Err(self.too_big("value_size above KMALLOC_MAX_SIZE"));
        }
        if percpu && round8(self.value_size as usize) as u64 > PCPU_MIN_UNIT_SIZE {
            return Err(self.too_big("per-CPU value_size above PCPU_MIN_UNIT_SIZE"));
        }
        Ok(())
    }

    /// `fd_array_map_alloc_check`: ids are u32.
    fn check_fd_array(&self) -> Result<(), MapError> {
        if self.value_size != 4 {
            return Err(self.invalid("value_size must be 4 (a map, program or event id)"));
        }
        if self.map_flags & BPF_F_MMAPABLE != 0 {
            return Err(self.invalid("BPF_F_MMAPABLE on an fd array"));
        }
        self.check_array()
    }

    /// `htab_map_alloc_check`.
    fn check_hash(&self) -> Result<(), MapError> {
        let lru = matches!(self.map_type, MapType::LruHash | MapType::LruPercpuHash);
        let percpu = self.map_type.is_percpu();
        let f = self.map_flags;
        self.check_flags(
            BPF_F_NO_PREALLOC
                | BPF_F_NO_COMMON_LRU
                | BPF_F_NUMA_NODE
                | ACCESS_MASK
                | BPF_F_ZERO_SEED,
        )?;
        if !lru && f & BPF_F_NO_COMMON_LRU != 0 {
            return Err(self.invalid("BPF_F_NO_COMMON_LRU on a non-LRU hash"));
        }
        if lru && f & BPF_F_NO_PREALLOC != 0 {
            return Err(MapError::NotSupported {
                op: "BPF_MAP_CREATE with BPF_F_NO_PREALLOC",
                map_type: self.map_type,
                errno: super::errno::ENOTSUPP,
            });
        }
        if f & BPF_F_NUMA_NODE != 0 && (percpu || f & BPF_F_NO_COMMON_LRU != 0) {
            return Err(self.invalid("BPF_F_NUMA_NODE on a per-CPU hash"));
        }
        if self.max_entries == 0 || self.key_size == 0 || self.value_size == 0 {
            return Err(self.invalid("max_entries, key_size and value_size must be non-zero"));
        }
        // sizeof(struct htab_elem) is 48 on x86-64.
        if u64::from(self.key_size) + u64::from(self.value_size) >= KMALLOC_MAX_SIZE - 48 {
            return Err(self.too_big("key_size + value_size above KMALLOC_MAX_SIZE"));
        }
        if percpu && round8(self.value_size as usize) as u64 > PCPU_MIN_UNIT_SIZE {
            return Err(self.too_big("per-CPU value_size above PCPU_MIN_UNIT_SIZE"));
        }
        Ok(())
    }

    /// `trie_alloc` checks: key = u32 prefixlen + 1..=256 data bytes, NO_PREALLOC required.
    fn check_lpm(&self) -> Result<(), MapError> {
        if self.max_entries == 0 {
            return Err(self.invalid("max_entries is 0"));
        }
        if self.map_flags & BPF_F_NO_PREALLOC == 0 {
            return Err(self.invalid("LPM trie requires BPF_F_NO_PREALLOC"));
        }
        self.check_flags(BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | ACCESS_MASK)?;
        if self.key_size < 4 + 1 || self.key_size > 4 + LPM_DATA_SIZE_MAX {
            return Err(self.invalid("key_size must be 4 (prefixlen) + 1..=256 data bytes"));
        }
        // LPM_VAL_SIZE_MAX = KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - sizeof(lpm_trie_node)
        if self.value_size == 0
            || u64::from(self.value_size) > KMALLOC_MAX_SIZE - u64::from(LPM_DATA_SIZE_MAX) - 48
        {
            return Err(self.invalid("value_size out of range"));
        }
        Ok(())
    }

    /// `queue_stack_map_alloc_check`.
    fn check_queue(&self) -> Result<(), MapError> {
        if self.max_entries == 0 || self.key_size != 0 || self.value_size == 0 {
            return Err(self.invalid("need key_size 0, value_size > 0, max_entries > 0"));
        }
        self.check_flags(BPF_F_NUMA_NODE | ACCESS_MASK)?;
        if u64::from(self.value_size) > KMALLOC_MAX_SIZE {
            return Err(self.too_big("value_size above KMALLOC_MAX_SIZE"));
        }
        Ok(())
    }

    /// `ringbuf_map_alloc`: size a power of two and a page multiple, no key or value.
    fn check_ringbuf(&self) -> Result<(), MapError> {
        self.check_flags(BPF_F_NUMA_NODE)?;
        if self.key_size != 0 || self.value_size != 0 {
            return Err(self.invalid("key_size and value_size must be 0"));
        }
        if !self.max_entries.is_power_of_two() || self.max_entries % PAGE_SIZE != 0 {
            return Err(
                self.invalid("max_entries must be a power of 2 and a multiple of the page size")
            );
        }
        Ok(())
    }

    /// `map_check_btf` for `struct bpf_spin_lock`: hash and array maps only (EOPNOTSUPP),
    /// 4-byte aligned and inside the value (EINVAL).
    fn check_spin_lock(&self) -> Result<(), MapError> {
        let Some(off) = self.spin_lock_off else {
            return Ok(());
        };
        if !matches!(self.map_type, MapType::Hash | MapType::Array) {
            return Err(MapError::NotSupported {
                op: "bpf_spin_lock in map value",
                map_type: self.map_type,
                errno: super::errno::EOPNOTSUPP,
            });
        }
        if off % 4 != 0 || u64::from(off) + 4 > u64::from(self.value_size) {
            return Err(self.invalid("bpf_spin_lock not 4-byte aligned inside the value"));
        }
        Ok(())
    }

    /// `bpf_map_meta_alloc`: a template that is itself map-in-map is refused.
    fn check_inner(&self) -> Result<(), MapError> {
        let inner = self.inner.as_deref().ok_or(MapError::MissingInner {
            map_type: self.map_type,
        })?;
        if matches!(inner.map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
            return Err(self.invalid("more than one level of map-in-map"));
        }
        inner.validate(1).map(|_| ())
    }

    /// Whether `candidate` may be stored in a map-in-map whose template is `self`
    /// (`bpf_map_meta_equal`; arrays also compare `max_entries` unless `BPF_F_INNER_MAP`).
    pub fn inner_compatible(&self, candidate: &MapDef) -> bool {
        let base = self.map_type == candidate.map_type
            && self.key_size == candidate.key_size
            && self.value_size == candidate.value_size
            && self.map_flags == candidate.map_flags
            && self.spin_lock_off == candidate.spin_lock_off;
        let array_like = matches!(self.map_type, MapType::Array | MapType::PercpuArray);
        base && (!array_like
            || self.map_flags & BPF_F_INNER_MAP != 0
            || self.max_entries == candidate.max_entries)
    }
}

#[cfg(test)]
mod tests {
    use super::super::errno::*;
    use super::*;

    fn err(d: MapDef) -> i32 {
        d.validate(4).expect_err("must be rejected").errno()
    }

    #[test]
    fn type_names_round_trip() {
        for &t in MapType::ALL {
            assert_eq!(t.name().parse::<MapType>(), Ok(t));
            assert_eq!(MapType::from_raw(t as u32), Some(t));
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!("27".parse::<MapType>(), Ok(MapType::RingBuf));
        assert_eq!(MapType::LruPercpuHash as u32, 10);
        assert_eq!(
            "lru_percpu_hash".parse::<MapType>(),
            Ok(MapType::LruPercpuHash)
        );
        assert_eq!(
            "sockmap".parse::<MapType>(),
            Err(MapError::UnknownTypeName {
                name: "sockmap".into()
            })
        );
        assert_eq!(MapType::try_from(13), Ok(MapType::HashOfMaps));
        assert_eq!(MapType::try_from(7).map_err(|e| e.errno()), Err(22));
        assert_eq!(MapType::from_raw(7), None);
    }

    #[test]
    fn array_checks() {
        assert!(MapDef::new(MapType::Array, 4, 8, 10).validate(4).is_ok());
        assert_eq!(err(MapDef::new(MapType::Array, 8, 8, 10)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::Array, 4, 0, 10)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::Array, 4, 8, 0)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::Array, 4, 5 << 20, 1)), E2BIG);
        assert_eq!(err(MapDef::new(MapType::PercpuArray, 4, 40000, 1)), E2BIG);
        assert_eq!(
            err(MapDef::new(MapType::PercpuArray, 4, 8, 1).with_flags(BPF_F_MMAPABLE)),
            EINVAL
        );
        assert_eq!(
            err(MapDef::new(MapType::Array, 4, 8, 1).with_flags(BPF_F_RDONLY | BPF_F_WRONLY)),
            EINVAL
        );
        assert_eq!(err(MapDef::new(MapType::ProgArray, 4, 8, 4)), EINVAL);
    }

    #[test]
    fn hash_checks() {
        assert!(MapDef::new(MapType::Hash, 3, 5, 10).validate(4).is_ok());
        assert_eq!(err(MapDef::new(MapType::Hash, 0, 8, 10)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::Hash, 4, 8, 0)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::Hash, 4, 4 << 20, 1)), E2BIG);
        assert_eq!(
            err(MapDef::new(MapType::Hash, 4, 8, 1).with_flags(BPF_F_NO_COMMON_LRU)),
            EINVAL
        );
        assert_eq!(
            err(MapDef::new(MapType::LruHash, 4, 8, 1).with_flags(BPF_F_NO_PREALLOC)),
            ENOTSUPP
        );
        assert_eq!(
            err(MapDef::new(MapType::Hash, 4, 8, 1).with_flags(1 << 20)),
            EINVAL
        );
    }

    #[test]
    fn lpm_queue_ringbuf_checks() {
        let lpm = MapDef::new(MapType::LpmTrie, 8, 4, 16);
        assert_eq!(err(lpm.clone()), EINVAL, "NO_PREALLOC required");
        assert!(lpm
            .clone()
            .with_flags(BPF_F_NO_PREALLOC)
            .validate(4)
            .is_ok());
        let bad_key = MapDef::new(MapType::LpmTrie, 4, 4, 16).with_flags(BPF_F_NO_PREALLOC);
        assert_eq!(err(bad_key), EINVAL);
        let big_key = MapDef::new(MapType::LpmTrie, 261, 4, 16).with_flags(BPF_F_NO_PREALLOC);
        assert_eq!(err(big_key), EINVAL);

        assert!(MapDef::new(MapType::Queue, 0, 4, 16).validate(4).is_ok());
        assert_eq!(err(MapDef::new(MapType::Queue, 4, 4, 16)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::Stack, 0, 0, 16)), EINVAL);

        assert!(MapDef::new(MapType::RingBuf, 0, 0, 4096)
            .validate(4)
            .is_ok());
        assert_eq!(err(MapDef::new(MapType::RingBuf, 0, 0, 4096 * 3)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::RingBuf, 0, 0, 2048)), EINVAL);
        assert_eq!(err(MapDef::new(MapType::RingBuf, 4, 0, 4096)), EINVAL);
    }

    #[test]
    fn perf_array_defaults_to_cpu_count() {
        let d = MapDef::new(MapType::PerfEventArray, 4, 4, 0)
            .validate(6)
            .expect("valid");
        assert_eq!(d.max_entries, 6);
    }

    #[test]
    fn map_in_map_checks() {
        let outer = MapDef::new(MapType::ArrayOfMaps, 4, 4, 4);
        assert_eq!(err(outer.clone()), EBADF);
        let inner = MapDef::new(MapType::Array, 4, 8, 2);
        let ok = outer.clone().with_inner(inner.clone());
        assert!(ok.validate(4).is_ok());
        assert_eq!(err(outer.clone().with_inner(ok.clone())), EINVAL);
        assert!(inner.inner_compatible(&MapDef::new(MapType::Array, 4, 8, 2)));
        assert!(!inner.inner_compatible(&MapDef::new(MapType::Array, 4, 8, 3)));
        let tmpl = inner.clone().with_flags(BPF_F_INNER_MAP);
        assert!(tmpl
            .inner_compatible(&MapDef::new(MapType::Array, 4, 8, 3).with_flags(BPF_F_INNER_MAP)));
        assert_eq!(
            err(MapDef::new(MapType::HashOfMaps, 4, 8, 4).with_inner(inner)),
            EINVAL
        );
    }

    #[test]
    fn names() {
        assert!(MapDef::new(MapType::Array, 4, 4, 1)
            .with_name("my_map.bss")
            .validate(1)
            .is_ok());
        assert_eq!(
            err(MapDef::new(MapType::Array, 4, 4, 1).with_name("bad name")),
            EINVAL
        );
        assert_eq!(
            err(MapDef::new(MapType::Array, 4, 4, 1).with_name("a_very_long_map_name")),
            EINVAL
        );
    }
}
