//! Map hot paths as programs use them: `lookup_ptr` (bpf_map_lookup_elem) and
//! `update_from_prog` (bpf_map_update_elem). Run with `cargo bench -p oxbpf --bench maps`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use oxbpf::maps::{flags::BPF_F_NO_PREALLOC, Map, MapDef, MapType, BPF_ANY};

fn lookups(c: &mut Criterion) {
    let hash = Map::new(&MapDef::new(MapType::Hash, 4, 8, 10_000)).expect("hash");
    for i in 0..10_000u32 {
        hash.update(&i.to_ne_bytes(), &u64::from(i).to_ne_bytes(), BPF_ANY)
            .expect("fill");
    }
    let keys: Vec<[u8; 4]> = (0..1024u32)
        .map(|i| (i * 7 % 10_000).to_ne_bytes())
        .collect();
    let mut i = 0;
    c.bench_function("hash_lookup_ptr_hit_u32_key", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            // SAFETY: keys are 4 bytes, the map's key size.
            black_box(unsafe { hash.lookup_ptr(keys[i].as_ptr()) })
        })
    });
    let miss: Vec<[u8; 4]> = (0..1024u32).map(|i| (20_000 + i).to_ne_bytes()).collect();
    c.bench_function("hash_lookup_ptr_miss_u32_key", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            // SAFETY: as above.
            black_box(unsafe { hash.lookup_ptr(miss[i].as_ptr()) })
        })
    });

    let hash16 = Map::new(&MapDef::new(MapType::Hash, 16, 64, 10_000)).expect("hash16");
    let keys16: Vec<[u8; 16]> = (0..1024u64)
        .map(|i| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&i.to_ne_bytes());
            k[8..].copy_from_slice(&(!i).to_ne_bytes());
            k
        })
        .collect();
    for k in &keys16 {
        hash16.update(k, &[0u8; 64], BPF_ANY).expect("fill");
    }
    c.bench_function("hash_lookup_ptr_hit_16b_key", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            // SAFETY: keys are 16 bytes.
            black_box(unsafe { hash16.lookup_ptr(keys16[i].as_ptr()) })
        })
    });

    let array = Map::new(&MapDef::new(MapType::Array, 4, 8, 1024)).expect("array");
    let idx: Vec<[u8; 4]> = (0..1024u32).map(u32::to_ne_bytes).collect();
    c.bench_function("array_lookup_ptr", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            // SAFETY: keys are 4 bytes.
            black_box(unsafe { array.lookup_ptr(idx[i].as_ptr()) })
        })
    });

    let lpm = Map::new(&MapDef::new(MapType::LpmTrie, 8, 8, 1024).with_flags(BPF_F_NO_PREALLOC))
        .expect("lpm");
    for (plen, a) in [
        (8u32, [10u8, 0, 0, 0]),
        (16, [10, 1, 0, 0]),
        (24, [10, 1, 1, 0]),
    ] {
        let mut k = [0u8; 8];
        k[..4].copy_from_slice(&plen.to_ne_bytes());
        k[4..].copy_from_slice(&a);
        lpm.update(&k, &[0u8; 8], BPF_ANY).expect("lpm fill");
    }
    let mut probe = [0u8; 8];
    probe[..4].copy_from_slice(&32u32.to_ne_bytes());
    probe[4..].copy_from_slice(&[10, 1, 2, 3]);
    c.bench_function("lpm_lookup_ptr_3_prefixes", |b| {
        // SAFETY: probe is 8 bytes.
        b.iter(|| black_box(unsafe { lpm.lookup_ptr(black_box(probe.as_ptr())) }))
    });

    let val = 5u64.to_ne_bytes();
    c.bench_function("hash_update_from_prog_existing", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            // SAFETY: key 4 bytes, value 8 bytes.
            black_box(unsafe { hash.update_from_prog(keys[i].as_ptr(), val.as_ptr(), BPF_ANY) })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = lookups
}
criterion_main!(benches);
