//! Quantile binning, done once before training (LightGBM's `bin.h` habit).
//!
//! [`BinMapper::fit`] computes, per feature, sorted split points ([`BinEdges::thresholds`]) from a
//! deterministic seeded sample of rows; [`BinnedMatrix`] then stores every feature column as `u8`
//! bin indices, column-major.
//!
//! # Bins
//! A non-missing value `v` of feature `f` falls into value bin `#{t in thresholds : t < v}`, so
//! `bin <= b` is exactly `v <= thresholds[b]`: trees store that raw threshold and predict on raw
//! features without any bins. Thresholds are midpoints between consecutive distinct values.
//! Binning is **exact** (one bin per distinct value, found by a scan of all rows) when a feature
//! has at most `max_bins` distinct values (`max_bins - 1` if it also has missing values);
//! otherwise edges are equal-frequency quantiles of the sample.
//!
//! # Missing values
//! `NaN` means missing. A feature that has missing values in the data the mapper was fitted on
//! gets a **dedicated missing bin**, the last one (`thresholds.len() + 1`). At split time the
//! learner tries sending that bin left and right and keeps the better direction
//! ([`crate::model::Split::missing_left`]). A feature without missing values in training has no
//! missing bin; at prediction a `NaN` there follows the split's default direction (the child that
//! received more training weight).

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::params::MaxBins;
use crate::sampler::{seed_bytes, splitmix64};

/// Number of rows sampled to compute quantiles (all rows if fewer).
pub const QUANTILE_SAMPLE_ROWS: usize = 100_000;

/// Split points of one feature; see the module docs for the bin convention.
#[derive(Debug, Clone, PartialEq)]
pub struct BinEdges {
    /// Sorted, strictly increasing split points. A value `v` goes to bin `#{t < v}`.
    pub thresholds: Vec<f64>,
    /// Whether the feature has a dedicated missing bin (index `thresholds.len() + 1`).
    pub has_missing: bool,
}

impl BinEdges {
    /// Number of bins for non-missing values.
    pub fn num_value_bins(&self) -> usize {
        self.thresholds.len() + 1
    }

    /// Total number of bins, including the missing bin if any.
    pub fn num_bins(&self) -> usize {
        self.num_value_bins() + usize::from(self.has_missing)
    }

    /// Index of the missing bin, if the feature has one.
    pub fn missing_bin(&self) -> Option<u8> {
        // num_value_bins <= 255 when has_missing (checked at construction).
        self.has_missing.then(|| self.thresholds.len() as u8 + 1)
    }

    /// Bin of a raw value; `None` for a missing value on a feature without a missing bin.
    pub fn bin(&self, value: f64) -> Option<u8> {
        if value.is_nan() {
            return self.missing_bin();
        }
        Some(self.thresholds.partition_point(|t| *t < value) as u8)
    }

    /// Raw threshold equivalent to "bin <= `bin`" (`+inf` for the last value bin).
    pub fn upper_bound(&self, bin: usize) -> f64 {
        self.thresholds.get(bin).copied().unwrap_or(f64::INFINITY)
    }
}

/// Bin edges of every feature; maps raw values to bins.
#[derive(Debug, Clone, PartialEq)]
pub struct BinMapper {
    edges: Vec<BinEdges>,
    max_bins: MaxBins,
}

impl BinMapper {
    /// Fits quantile edges on column-major features (`columns[f][row]`, `NaN` = missing).
    ///
    /// Quantiles come from at most [`QUANTILE_SAMPLE_ROWS`] rows drawn with `seed`; missing
    /// values and low-cardinality features (exact bins) are detected on all rows.
    pub fn fit<C: AsRef<[f64]> + Sync>(columns: &[C], max_bins: MaxBins, seed: u64) -> Result<Self> {
        let n_rows = check_columns(columns)?;
        let sample = sample_rows(n_rows, QUANTILE_SAMPLE_ROWS, seed);
        let edges = columns
            .par_iter()
            .map(|col| {
                let col = col.as_ref();
                let has_missing = col.iter().any(|v| v.is_nan());
                let value_bins = if has_missing { max_bins.get() - 1 } else { max_bins.get() };
                // Few distinct values over all rows: exact bins, whatever the sample saw.
                if let Some(distinct) = few_distinct(col, value_bins) {
                    return BinEdges {
                        thresholds: distinct.windows(2).map(|w| midpoint(w[0], w[1])).collect(),
                        has_missing,
                    };
                }
                let mut values: Vec<f64> = match &sample {
                    Some(idx) => idx.iter().map(|&i| col[i as usize]).collect(),
                    None => col.to_vec(),
                };
                values.retain(|v| !v.is_nan());
                values.sort_unstable_by(f64::total_cmp);
                BinEdges { thresholds: quantile_thresholds(&values, value_bins), has_missing }
            })
            .collect();
        Ok(BinMapper { edges, max_bins })
    }

    /// Builds a mapper from explicit edges (e.g. decoded from a model file).
    pub fn from_edges(edges: Vec<BinEdges>, max_bins: MaxBins) -> Result<Self> {
        for (f, e) in edges.iter().enumerate() {
            if e.num_bins() > max_bins.get()
                || e.thresholds.windows(2).any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
                || e.thresholds.iter().any(|t| t.is_nan())
            {
                return Err(Error::param(
                    "maxBins",
                    format!("edges of feature {f} are not strictly increasing within {max_bins} bins"),
                ));
            }
        }
        Ok(BinMapper { edges, max_bins })
    }

    /// Edges of every feature.
    pub fn edges(&self) -> &[BinEdges] {
        &self.edges
    }

    /// The `maxBins` the mapper was fitted with.
    pub fn max_bins(&self) -> MaxBins {
        self.max_bins
    }

    /// Number of features.
    pub fn num_features(&self) -> usize {
        self.edges.len()
    }

    /// Maps one raw row to bins.
    pub fn bin_row(&self, row: &[f64]) -> Result<Vec<u8>> {
        if row.len() != self.edges.len() {
            return Err(Error::FeatureCount { expected: self.edges.len(), actual: row.len() });
        }
        row.iter()
            .zip(&self.edges)
            .enumerate()
            .map(|(f, (v, e))| e.bin(*v).ok_or_else(|| unexpected_missing(f)))
            .collect()
    }
}

fn unexpected_missing(feature: usize) -> Error {
    Error::InvalidParam {
        param: "features",
        reason: format!("feature {feature} has a missing value but had none when the bins were fitted"),
    }
}

/// Features binned once, stored row-major as `u8` bins (`n_features` bytes per row).
///
/// Row-major because training reads it by row id: every tree being grown keeps only the ids of
/// its in-bag rows per node and gathers their bins from this one shared matrix, and one row's
/// bins (30 bytes at 30 features) come in one or two cache lines whichever features the node
/// sampled. Column-major, the same gather costs a cache miss per row *and* feature.
#[derive(Debug, Clone)]
pub struct BinnedMatrix {
    n_rows: usize,
    n_features: usize,
    bins: Vec<u8>,
    mapper: BinMapper,
}

impl BinnedMatrix {
    /// Fits bin edges (see [`BinMapper::fit`]) and bins every column.
    pub fn from_columns<C: AsRef<[f64]> + Sync>(columns: &[C], max_bins: MaxBins, seed: u64) -> Result<Self> {
        let mapper = BinMapper::fit(columns, max_bins, seed)?;
        Self::with_mapper(columns, mapper)
    }

    /// Bins columns with existing edges (e.g. a test set with the training set's edges).
    pub fn with_mapper<C: AsRef<[f64]> + Sync>(columns: &[C], mapper: BinMapper) -> Result<Self> {
        if columns.len() != mapper.num_features() {
            return Err(Error::FeatureCount { expected: mapper.num_features(), actual: columns.len() });
        }
        let n_rows = check_columns(columns)?;
        let nf = columns.len();
        // Blocks of rows in parallel; within a block, feature by feature (reads stay sequential
        // in each input column, writes stay inside the block's few kilobytes).
        const BLOCK_ROWS: usize = 4096;
        let mut bins = vec![0u8; n_rows * nf];
        bins.par_chunks_mut(BLOCK_ROWS * nf).enumerate().try_for_each(|(bi, out)| {
            let start = bi * BLOCK_ROWS;
            for (f, (col, e)) in columns.iter().zip(&mapper.edges).enumerate() {
                let vals = &col.as_ref()[start..start + out.len() / nf];
                for (dst, v) in out[f..].iter_mut().step_by(nf).zip(vals) {
                    *dst = e.bin(*v).ok_or_else(|| unexpected_missing(f))?;
                }
            }
            Ok::<(), Error>(())
        })?;
        Ok(BinnedMatrix { n_rows, n_features: nf, bins, mapper })
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Bins of row `r`, one per feature.
    #[inline]
    pub fn row(&self, r: usize) -> &[u8] {
        &self.bins[r * self.n_features..(r + 1) * self.n_features]
    }

    /// All bins, row-major.
    pub fn as_row_major(&self) -> &[u8] {
        &self.bins
    }

    /// A copy of feature `f`'s bins, one per row (for inspection and tests; training reads rows).
    pub fn column(&self, f: usize) -> Vec<u8> {
        self.bins.iter().skip(f).step_by(self.n_features).copied().collect()
    }

    /// Edges of feature `f`.
    pub fn edges(&self, f: usize) -> &BinEdges {
        &self.mapper.edges[f]
    }

    /// The mapper (edges of all features).
    pub fn mapper(&self) -> &BinMapper {
        &self.mapper
    }

    /// Bytes held by the bins (the "binned matrix" of memory budgets).
    pub fn heap_bytes(&self) -> usize {
        self.bins.len()
    }
}

/// Checks that columns are non-empty and of equal length; returns the row count.
fn check_columns<C: AsRef<[f64]>>(columns: &[C]) -> Result<usize> {
    let first = columns.first().ok_or(Error::EmptyInput("no feature columns"))?;
    let n = first.as_ref().len();
    if n == 0 {
        return Err(Error::EmptyInput("no rows"));
    }
    if n > u32::MAX as usize {
        return Err(Error::param("features", "more than 2^32 - 1 rows"));
    }
    check_lengths(columns, n)?;
    Ok(n)
}

/// Checks that every column has `n` rows; the error names the first column that does not.
pub(crate) fn check_lengths<C: AsRef<[f64]>>(columns: &[C], n: usize) -> Result<()> {
    for (f, c) in columns.iter().enumerate() {
        if c.as_ref().len() != n {
            return Err(Error::LengthMismatch {
                what: format!("feature column {f}"),
                expected: n,
                actual: c.as_ref().len(),
            });
        }
    }
    Ok(())
}

/// Deterministic sorted sample of `k` row indices out of `n` (Floyd's algorithm); `None` if
/// `n <= k` (use all rows).
fn sample_rows(n: usize, k: usize, seed: u64) -> Option<Vec<u32>> {
    if n <= k {
        return None;
    }
    let mut rng = ChaCha8Rng::from_seed(seed_bytes(splitmix64(seed ^ 0xB1A5_B1A5_B1A5_B1A5)));
    let mut chosen = std::collections::HashSet::with_capacity(k);
    let mut out = Vec::with_capacity(k);
    for j in (n - k)..n {
        let t = crate::sampler::uniform_below(&mut rng, j as u64 + 1) as usize;
        let pick = if chosen.insert(t) { t } else { j };
        if pick == j {
            chosen.insert(j);
        }
        out.push(pick as u32);
    }
    out.sort_unstable();
    Some(out)
}

/// The sorted distinct non-missing values of `col` if there are at most `limit` of them (a
/// full scan that gives up as soon as there are more).
fn few_distinct(col: &[f64], limit: usize) -> Option<Vec<f64>> {
    let mut distinct: Vec<f64> = Vec::with_capacity(limit + 1);
    for &v in col {
        if v.is_nan() {
            continue;
        }
        if let Err(pos) = distinct.binary_search_by(|d| d.total_cmp(&v)) {
            if distinct.len() == limit {
                return None;
            }
            distinct.insert(pos, v);
        }
    }
    // -0.0 and 0.0 are one value for splits.
    distinct.dedup_by(|a, b| a == b);
    Some(distinct)
}

/// Midpoint split value between consecutive distinct values `a < b`, in `[a, b)`.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = a + (b - a) / 2.0;
    if m >= a && m < b { m } else { a }
}

/// Thresholds for sorted non-missing `values`, producing at most `value_bins` bins.
fn quantile_thresholds(values: &[f64], value_bins: usize) -> Vec<f64> {
    // Distinct values with counts.
    let mut distinct: Vec<(f64, usize)> = Vec::new();
    for &v in values {
        match distinct.last_mut() {
            Some((last, c)) if *last == v => *c += 1,
            _ => distinct.push((v, 1)),
        }
    }
    if distinct.len() <= 1 {
        return Vec::new();
    }
    if distinct.len() <= value_bins {
        return distinct.windows(2).map(|w| midpoint(w[0].0, w[1].0)).collect();
    }
    // Greedy equal-frequency cut points, re-spreading the remaining mass after each cut so
    // that heavy values do not waste bins.
    let n = values.len() as f64;
    let mut out = Vec::with_capacity(value_bins - 1);
    let mut cum = 0.0;
    let mut target = n / value_bins as f64;
    for i in 0..distinct.len() - 1 {
        cum += distinct[i].1 as f64;
        if cum >= target {
            out.push(midpoint(distinct[i].0, distinct[i + 1].0));
            if out.len() == value_bins - 1 {
                break;
            }
            let remaining_bins = (value_bins - out.len()) as f64;
            target = cum + (n - cum) / remaining_bins;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bins(n: i64) -> MaxBins {
        MaxBins::new(n).unwrap()
    }

    #[test]
    fn exact_when_few_distinct_values() {
        let col = vec![3.0, 1.0, 2.0, 1.0, 3.0, 2.0];
        let m = BinnedMatrix::from_columns(&[col], bins(32), 7).unwrap();
        assert_eq!(m.edges(0).thresholds, vec![1.5, 2.5]);
        assert_eq!(m.column(0), [2, 0, 1, 0, 2, 1]);
        assert!(!m.edges(0).has_missing);
    }

    #[test]
    fn rare_values_get_their_own_bin_beyond_the_sample() {
        // 200k rows, value 9 only in the last row: the sample may miss it, the exact scan not.
        let mut col = vec![1.0; QUANTILE_SAMPLE_ROWS * 2];
        col[1] = 2.0;
        *col.last_mut().unwrap() = 9.0;
        let m = BinnedMatrix::from_columns(&[col], bins(32), 0).unwrap();
        assert_eq!(m.edges(0).thresholds, vec![1.5, 5.5]);
        assert_eq!(m.column(0)[QUANTILE_SAMPLE_ROWS * 2 - 1], 2);
    }

    #[test]
    fn quantiles_are_balanced_and_bounded() {
        let col: Vec<f64> = (0..10_000).map(|i| f64::from(i) * 0.5).collect();
        let m = BinnedMatrix::from_columns(&[col], bins(16), 1).unwrap();
        assert_eq!(m.edges(0).num_value_bins(), 16);
        let mut counts = [0usize; 16];
        for &b in &m.column(0) {
            counts[b as usize] += 1;
        }
        for c in counts {
            assert!((600..=650).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn missing_values_get_the_last_bin() {
        let col = vec![1.0, f64::NAN, 2.0, 3.0];
        let m = BinnedMatrix::from_columns(&[col], bins(2), 1).unwrap();
        let e = m.edges(0);
        assert!(e.has_missing);
        assert_eq!(e.num_bins(), 2);
        assert_eq!(m.column(0), [0, 1, 0, 0]);
        // A mapper without a missing bin rejects NaN.
        let m2 = BinMapper::fit(&[vec![1.0, 2.0]], bins(4), 0).unwrap();
        assert!(m2.bin_row(&[f64::NAN]).is_err());
        assert_eq!(m2.bin_row(&[1.7]).unwrap(), vec![1]);
    }

    #[test]
    fn threshold_matches_bin_order() {
        let col: Vec<f64> = (0..5000).map(|i| ((i * 7919) % 1000) as f64 / 7.0).collect();
        let m = BinnedMatrix::from_columns(std::slice::from_ref(&col), bins(32), 3).unwrap();
        let e = m.edges(0);
        for (v, b) in col.iter().zip(&m.column(0)) {
            for k in 0..e.num_value_bins() {
                assert_eq!(*v <= e.upper_bound(k), (*b as usize) <= k);
            }
        }
    }

    #[test]
    fn sampling_is_deterministic_and_distinct() {
        let a = sample_rows(1000, 100, 5).unwrap();
        let b = sample_rows(1000, 100, 5).unwrap();
        assert_eq!(a, b);
        let mut d = a.clone();
        d.dedup();
        assert_eq!(d.len(), 100);
        assert_ne!(a, sample_rows(1000, 100, 6).unwrap());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let four = bins(4);
        assert!(BinnedMatrix::from_columns(&[vec![1.0], vec![]], four, 0).is_err());
        let empty: [Vec<f64>; 0] = [];
        assert!(BinnedMatrix::from_columns(&empty, four, 0).is_err());
    }
}
