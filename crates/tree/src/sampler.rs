//! Seeds, row bagging and per-node feature sampling (LightGBM's `col_sampler.hpp` habit).
//!
//! Tree `i` of a forest with seed `s` draws **all** its randomness from one ChaCha8 stream seeded
//! with [`tree_seed`]`(s, i)`: first one bag draw per row (in row order), then one feature subset
//! per node (in the learner's deterministic node order). Nothing depends on threads, on other
//! trees or on when the tree is built, so a forest is identical on 1 thread, 8 threads or a
//! cluster of workers.
//!
//! Bagging follows Spark: with `bootstrap` each row gets a Poisson(`subsamplingRate`) count;
//! without it and with `subsamplingRate < 1` a Bernoulli(`subsamplingRate`) 0/1 count. Counts
//! multiply the row weight; rows are never copied. Rows with count 0 are out of bag.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// SplitMix64 finaliser: a bijective, well-mixing map of 64-bit values.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of tree `tree_index` in a forest seeded with `forest_seed`.
pub fn tree_seed(forest_seed: u64, tree_index: u32) -> u64 {
    splitmix64(splitmix64(forest_seed) ^ splitmix64(u64::from(tree_index) ^ 0x7EE5_7EE5_0000_0000))
}

/// Expands a 64-bit seed into a 32-byte ChaCha key with SplitMix64 (independent of `rand`'s
/// own `seed_from_u64`, so the stream is stable across `rand` releases).
pub(crate) fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut s = seed;
    for chunk in out.chunks_exact_mut(8) {
        s = splitmix64(s);
        chunk.copy_from_slice(&s.to_le_bytes());
    }
    out
}

/// A uniform value in `[0, 1)` with 53 random bits.
pub(crate) fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[0, n)` (Lemire's multiply-shift; the bias is below 2^-40 for our `n`).
pub(crate) fn uniform_below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// How rows are bagged for each tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BagSpec {
    /// Spark's `subsamplingRate`, in `(0, 1]`.
    pub subsampling_rate: f64,
    /// Spark's `bootstrap`: Poisson counts when true, Bernoulli when false.
    pub bootstrap: bool,
}

/// Row-count sampler for one tree (Poisson via an inverse-CDF table, or Bernoulli).
#[derive(Debug, Clone)]
pub struct BagSampler {
    kind: BagKind,
}

#[derive(Debug, Clone)]
enum BagKind {
    All,
    Bernoulli(f64),
    Poisson(Vec<f64>),
}

impl BagSampler {
    /// A sampler for `spec`.
    pub fn new(spec: BagSpec) -> Self {
        let kind = if spec.bootstrap {
            // Cumulative Poisson(lambda) probabilities until the tail is below 1e-17.
            let lambda = spec.subsampling_rate;
            let mut cdf = Vec::new();
            let mut p = (-lambda).exp();
            let mut c = 0.0;
            let mut k = 0.0;
            loop {
                c += p;
                cdf.push(c);
                k += 1.0;
                p *= lambda / k;
                if p < 1e-17 || cdf.len() >= 64 {
                    break;
                }
            }
            BagKind::Poisson(cdf)
        } else if spec.subsampling_rate < 1.0 {
            BagKind::Bernoulli(spec.subsampling_rate)
        } else {
            BagKind::All
        };
        BagSampler { kind }
    }

    /// The count of the next row (consumes the RNG exactly as training does).
    #[inline]
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> u32 {
        match &self.kind {
            BagKind::All => 1,
            BagKind::Bernoulli(p) => u32::from(uniform(rng) < *p),
            BagKind::Poisson(cdf) => {
                let u = uniform(rng);
                // The count is the number of CDF entries <= u (the CDF never decreases). The
                // first four (98 % of draws at rate 1) are counted without branches: the
                // outcome is random, so a search loop would mispredict on most draws.
                let head = cdf.len().min(4);
                let k = cdf[..head].iter().map(|c| usize::from(*c <= u)).sum::<usize>();
                if k < head {
                    k as u32
                } else {
                    (head + cdf[head..].iter().position(|c| u < *c).unwrap_or(cdf.len() - head)) as u32
                }
            }
        }
    }
}

/// The tree's random stream.
pub(crate) fn tree_rng(forest_seed: u64, tree_index: u32) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(seed_bytes(tree_seed(forest_seed, tree_index)))
}

/// In-bag mask of tree `tree_index` over `n_rows` rows (true = the row has a non-zero count),
/// regenerated from the seed exactly as training drew it. Used for out-of-bag evaluation.
pub fn in_bag_mask(forest_seed: u64, tree_index: u32, spec: BagSpec, n_rows: usize) -> Vec<bool> {
    let mut rng = tree_rng(forest_seed, tree_index);
    let s = BagSampler::new(spec);
    (0..n_rows).map(|_| s.draw(&mut rng) > 0).collect()
}

/// Samples `k` of `n` features without replacement (partial Fisher–Yates), sorted ascending.
/// Draws nothing when `k >= n`.
pub(crate) fn sample_features(rng: &mut ChaCha8Rng, n: usize, k: usize, scratch: &mut Vec<u32>) -> Vec<u32> {
    scratch.clear();
    scratch.extend(0..n as u32);
    if k >= n {
        return scratch.clone();
    }
    for i in 0..k {
        let j = i + uniform_below(rng, (n - i) as u64) as usize;
        scratch.swap(i, j);
    }
    let mut out = scratch[..k].to_vec();
    out.sort_unstable();
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tree_seeds_differ_and_are_stable() {
        assert_ne!(tree_seed(1, 0), tree_seed(1, 1));
        assert_ne!(tree_seed(1, 0), tree_seed(2, 0));
        assert_eq!(tree_seed(42, 7), tree_seed(42, 7));
    }

    #[test]
    fn poisson_mean_and_zero_fraction() {
        let s = BagSampler::new(BagSpec { subsampling_rate: 1.0, bootstrap: true });
        let mut rng = tree_rng(3, 0);
        let n = 200_000;
        let draws: Vec<u32> = (0..n).map(|_| s.draw(&mut rng)).collect();
        let mean = draws.iter().map(|&d| f64::from(d)).sum::<f64>() / n as f64;
        let zeros = draws.iter().filter(|&&d| d == 0).count() as f64 / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
        assert!((zeros - (-1.0f64).exp()).abs() < 0.005, "{zeros}");
    }

    #[test]
    fn bernoulli_and_all() {
        let b = BagSampler::new(BagSpec { subsampling_rate: 0.25, bootstrap: false });
        let mut rng = tree_rng(3, 1);
        let n = 100_000;
        let ones: u32 = (0..n).map(|_| b.draw(&mut rng)).sum();
        assert!((f64::from(ones) / f64::from(n) - 0.25).abs() < 0.01);
        let a = BagSampler::new(BagSpec { subsampling_rate: 1.0, bootstrap: false });
        assert_eq!(a.draw(&mut rng), 1);
    }

    #[test]
    fn feature_subsets() {
        let mut rng = tree_rng(0, 0);
        let mut scratch = Vec::new();
        let s = sample_features(&mut rng, 10, 3, &mut scratch);
        assert_eq!(s.len(), 3);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_features(&mut rng, 4, 9, &mut scratch), vec![0, 1, 2, 3]);
    }
}
