//! A small fixed-seed generator for the verifier's property tests (splitmix64), biased
//! toward the values where bounds logic breaks: 0, ±1, the 32/64-bit sign boundaries.

/// Deterministic pseudo-random numbers.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability 1/n.
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    /// A value near an edge, a small value, or a random one.
    pub(crate) fn interesting(&mut self) -> u64 {
        const EDGES: [u64; 10] = [
            0,
            1,
            u64::MAX,
            i64::MAX as u64,
            i64::MIN as u64,
            u32::MAX as u64,
            i32::MAX as u64,
            i32::MIN as u32 as u64,
            i32::MIN as i64 as u64,
            1 << 32,
        ];
        match self.below(6) {
            0 => EDGES[self.below(EDGES.len() as u64) as usize]
                .wrapping_add(self.below(5))
                .wrapping_sub(2),
            1 => self.below(64),
            2 => (self.below(512) as i64 - 256) as u64,
            3 => self.next() & self.bits_mask(),
            _ => self.next(),
        }
    }

    /// A mask of unknown bits: none, a low run, a random sparse set, or all.
    pub(crate) fn bits_mask(&mut self) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => (1u64 << self.below(64)) - 1,
            3 => self.next() & self.next(),
            4 => u32::MAX as u64,
            _ => self.next(),
        }
    }
}
