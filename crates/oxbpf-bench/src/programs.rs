//! The benchmark programs: built BPF objects (bench/programs/*.o, rebuilt by
//! bench/build.sh), their native builds (build.rs), and the packets they run on.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use oxbpf::maps::Map;
use oxbpf::object::{MapSpec, Object, ObjectError, ProgramSection};

use crate::lowmem::XdpMd;

/// A natively compiled benchmark entry point.
pub type NativeFn = unsafe extern "C" fn(ctx: *const XdpMd) -> i32;

mod native {
    use super::XdpMd;
    extern "C" {
        pub fn bench_empty(ctx: *const XdpMd) -> i32;
        pub fn bench_fnv(ctx: *const XdpMd) -> i32;
        pub fn bench_parse(ctx: *const XdpMd) -> i32;
        pub fn bench_bits(ctx: *const XdpMd) -> i32;
        pub fn bench_calls(ctx: *const XdpMd) -> i32;
        pub fn bench_alu32(ctx: *const XdpMd) -> i32;
        pub fn bench_maps(ctx: *const XdpMd) -> i32;
        pub fn bench_memcpy(ctx: *const XdpMd) -> i32;
        pub fn bench_large(ctx: *const XdpMd) -> i32;
        /// The map definition of maps.c; native code passes its address as the map.
        pub static bench_counts: u8;
    }
}

/// A map of the object (by name) and the address of its native definition.
pub type NativeMap = (&'static str, fn() -> usize);

/// One benchmark.
pub struct Benchmark {
    /// Short name (the C file's stem).
    pub name: &'static str,
    /// What it exercises.
    pub description: &'static str,
    /// The BPF object built by clang-19.
    pub object: &'static [u8],
    /// Entry function (and native symbol) name.
    pub entry: &'static str,
    /// The same function compiled for the host.
    pub native: NativeFn,
    /// Builds the packet the program runs on.
    pub input: fn() -> Vec<u8>,
    /// Hash maps get keys `0..prefill_keys` (u32) with the key as value (u64).
    pub prefill_keys: u32,
    /// Native addresses of the object's maps, by map name.
    pub native_maps: &'static [NativeMap],
}

/// The empty program (`r0 = 0; exit`): per-run overhead.
pub const EMPTY: &str = "empty";
/// The ~4,000-instruction program used for load times.
pub const LARGE: &str = "large";

/// Every benchmark, the empty program first.
pub fn all() -> Vec<Benchmark> {
    vec![
        Benchmark {
            name: EMPTY,
            description: "r0 = 0; exit (per-run overhead)",
            object: include_bytes!("../../../bench/programs/empty.o"),
            entry: "bench_empty",
            native: native::bench_empty,
            input: || random_bytes(64, 1),
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: "fnv",
            description: "FNV-1a over 1 KiB (compute loop)",
            object: include_bytes!("../../../bench/programs/fnv.o"),
            entry: "bench_fnv",
            native: native::bench_fnv,
            input: || random_bytes(1024, 2),
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: "parse",
            description: "Ethernet/VLAN/IPv4/TCP/UDP parser, 32 frames",
            object: include_bytes!("../../../bench/programs/parse.o"),
            entry: "bench_parse",
            native: native::bench_parse,
            input: frames,
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: "bits",
            description: "branchy bit manipulation, 256 words",
            object: include_bytes!("../../../bench/programs/bits.o"),
            entry: "bench_bits",
            native: native::bench_bits,
            input: || random_bytes(1024, 3),
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: "calls",
            description: "BPF-to-BPF calls, 768 calls",
            object: include_bytes!("../../../bench/programs/calls.o"),
            entry: "bench_calls",
            native: native::bench_calls,
            input: || random_bytes(1024, 4),
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: "alu32",
            description: "32-bit ALU with div/mod, 256 words",
            object: include_bytes!("../../../bench/programs/alu32.o"),
            entry: "bench_alu32",
            native: native::bench_alu32,
            input: || random_bytes(1024, 5),
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: "maps",
            description: "hash map: 128 lookups, 32 updates",
            object: include_bytes!("../../../bench/programs/maps.o"),
            entry: "bench_maps",
            native: native::bench_maps,
            input: || random_bytes(512, 6),
            prefill_keys: 128,
            native_maps: &[("bench_counts", || {
                std::ptr::addr_of!(native::bench_counts) as usize
            })],
        },
        Benchmark {
            name: "memcpy",
            description: "1 KiB copy in 64-byte blocks + checksum",
            object: include_bytes!("../../../bench/programs/memcpy.o"),
            entry: "bench_memcpy",
            native: native::bench_memcpy,
            input: || {
                let mut v = random_bytes(1024, 7);
                v.resize(2048, 0);
                v
            },
            prefill_keys: 0,
            native_maps: &[],
        },
        Benchmark {
            name: LARGE,
            description: "unrolled jhash-style mix, ~4,000 insns",
            object: include_bytes!("../../../bench/programs/large.o"),
            entry: "bench_large",
            native: native::bench_large,
            input: || random_bytes(1024, 8),
            prefill_keys: 0,
            native_maps: &[],
        },
    ]
}

/// A benchmark's program as parsed from its object.
pub struct Loaded {
    /// The linked entry program.
    pub program: ProgramSection,
    /// The object's maps (index = map index in relocations).
    pub maps: Vec<MapSpec>,
}

/// Errors of loading a benchmark object.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The object did not parse.
    #[error("benchmark {bench}: {source}")]
    Object {
        /// Benchmark name.
        bench: &'static str,
        /// Parser error.
        source: ObjectError,
    },
    /// The entry function is missing.
    #[error("benchmark {bench}: no program {entry} in the object")]
    NoEntry {
        /// Benchmark name.
        bench: &'static str,
        /// The function looked for.
        entry: &'static str,
    },
}

impl Benchmark {
    /// Parses the object and picks the entry program.
    pub fn load(&self) -> Result<Loaded, LoadError> {
        let obj = Object::parse(self.object, self.name).map_err(|source| LoadError::Object {
            bench: self.name,
            source,
        })?;
        let program = obj.program(self.entry).cloned().ok_or(LoadError::NoEntry {
            bench: self.name,
            entry: self.entry,
        })?;
        Ok(Loaded {
            program,
            maps: obj.maps,
        })
    }
}

/// The (key, value) pairs a benchmark's maps start with.
pub fn prefill(keys: u32) -> impl Iterator<Item = ([u8; 4], [u8; 8])> {
    (0..keys).map(|k| (k.to_ne_bytes(), u64::from(k).to_ne_bytes()))
}

/// Deterministic pseudo-random bytes (splitmix64).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// 32 frames of 64 bytes: TCP and UDP over IPv4 (with and without options and an 802.1Q
/// tag), IPv6, ARP, an IPv4 fragment and ICMP, so every branch of the parser is taken.
pub fn frames() -> Vec<u8> {
    const FRAME: usize = 64;
    let mut rng = SplitMix(9);
    let mut out = Vec::with_capacity(32 * FRAME);
    for i in 0..32 {
        let mut f = vec![0u8; FRAME];
        let r = rng.next().to_le_bytes();
        f[..12].copy_from_slice(&random_bytes(12, i as u64 + 100));
        let kind = i % 8;
        let mut l3 = 14;
        let ethertype: u16 = match kind {
            3 => 0x86dd,
            5 => 0x0806,
            _ => 0x0800,
        };
        if kind == 2 {
            f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
            f[14..16].copy_from_slice(&(100 + i as u16).to_be_bytes());
            f[16..18].copy_from_slice(&ethertype.to_be_bytes());
            l3 = 18;
        } else {
            f[12..14].copy_from_slice(&ethertype.to_be_bytes());
        }
        if ethertype == 0x0800 {
            let ihl: usize = match kind {
                2 => 8,
                4 => 6,
                _ => 5,
            };
            let proto = match kind {
                1 => 17,
                7 => 1,
                _ => 6,
            };
            f[l3] = 0x40 | ihl as u8;
            f[l3 + 2..l3 + 4].copy_from_slice(&(FRAME as u16 - l3 as u16).to_be_bytes());
            if kind == 6 {
                f[l3 + 6] = 0x20; // more fragments
            }
            f[l3 + 8] = 64;
            f[l3 + 9] = proto;
            f[l3 + 12..l3 + 20].copy_from_slice(&r);
            let l4 = l3 + ihl * 4;
            // Ports, and for TCP the data offset/flags word; may run into the next frame's
            // bytes for the longest headers, as the parser allows.
            let ports = rng.next().to_le_bytes();
            for (k, b) in ports.iter().enumerate() {
                if let Some(slot) = f.get_mut(l4 + k) {
                    *slot = *b;
                }
            }
            if let Some(slot) = f.get_mut(l4 + 12) {
                *slot = 0x50;
            }
            if let Some(slot) = f.get_mut(l4 + 13) {
                *slot = 0x12;
            }
        }
        out.extend_from_slice(&f);
    }
    out
}

/// Maps native code's map definition to an oxbpf map for the native map helpers.
static NATIVE_MAP_ADDR: AtomicUsize = AtomicUsize::new(0);
static NATIVE_MAP_HANDLE: AtomicU64 = AtomicU64::new(0);

/// While alive, native code's map definition at an address is backed by an oxbpf map
/// (one binding at a time: the suite runs one benchmark at a time).
pub struct NativeMapBinding<'a> {
    _map: &'a Arc<Map>,
}

impl<'a> NativeMapBinding<'a> {
    /// Binds the native map definition at `addr` to `map` until the binding is dropped.
    pub fn new(addr: usize, map: &'a Arc<Map>) -> NativeMapBinding<'a> {
        NATIVE_MAP_HANDLE.store(map.handle(), Ordering::Release);
        NATIVE_MAP_ADDR.store(addr, Ordering::Release);
        NativeMapBinding { _map: map }
    }
}

impl Drop for NativeMapBinding<'_> {
    fn drop(&mut self) {
        NATIVE_MAP_ADDR.store(0, Ordering::Release);
        NATIVE_MAP_HANDLE.store(0, Ordering::Release);
    }
}

fn native_map(map: *mut u8) -> Option<&'static Map> {
    if map.is_null() || map as usize != NATIVE_MAP_ADDR.load(Ordering::Acquire) {
        return None;
    }
    let handle = NATIVE_MAP_HANDLE.load(Ordering::Acquire);
    // SAFETY: the handle was stored by a `NativeMapBinding`, which borrows the `Arc<Map>`
    // (keeping it alive) and clears the handle when dropped.
    (handle != 0).then(|| unsafe { Map::from_handle(handle) })
}

/// `bpf_map_lookup_elem` for natively compiled programs (declared in bench.h).
///
/// # Safety
/// `key` must be readable for the map's key size.
#[no_mangle]
pub unsafe extern "C" fn oxbpf_native_map_lookup_elem(map: *mut u8, key: *const u8) -> *mut u8 {
    match native_map(map) {
        // SAFETY: guaranteed by the caller.
        Some(m) => unsafe { m.lookup_ptr(key) },
        None => std::ptr::null_mut(),
    }
}

/// `bpf_map_update_elem` for natively compiled programs (declared in bench.h).
///
/// # Safety
/// `key` and `value` must be readable for the map's key and value sizes.
#[no_mangle]
pub unsafe extern "C" fn oxbpf_native_map_update_elem(
    map: *mut u8,
    key: *const u8,
    value: *const u8,
    flags: u64,
) -> i64 {
    match native_map(map) {
        // SAFETY: guaranteed by the caller.
        Some(m) => unsafe { m.update_from_prog(key, value, flags) },
        None => -i64::from(libc::EINVAL),
    }
}
