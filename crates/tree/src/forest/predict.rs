//! [`Forest`]'s prediction outputs: batch ([`Forest::predict`], [`Forest::predict_proba`],
//! [`Forest::predict_raw`], [`Forest::predict_leaves`], run on the block walk of `blocks.rs`),
//! single-row ([`Forest::predict_row`], [`Forest::predict_proba_row`]) and the path
//! decomposition of one row ([`Forest::explain_row`]).

use super::Forest;
use crate::error::{Error, Result};
use crate::layout::{BLOCK, FlatTree, PATH_LANES};
use crate::learner::argmax;
use crate::params::Task;

impl Forest {
    /// Spark's `rawPrediction` for column-major rows, row-major `n × K`: the sum over trees of
    /// each leaf's normalized class distribution. Classification only.
    pub fn predict_raw<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<f64>> {
        let k = self.task.num_classes() as usize;
        if k == 0 {
            return Err(Error::WrongTask { expected: "classification" });
        }
        self.sum_leaf_values(columns, k)
    }

    /// Class probabilities, row-major `n × K` (raw prediction divided by the number of trees).
    pub fn predict_proba<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<f64>> {
        let mut raw = self.predict_raw(columns)?;
        let nt = self.trees.len() as f64;
        raw.iter_mut().for_each(|v| *v /= nt);
        Ok(raw)
    }

    /// The class predicted from probabilities `p` (respecting `thresholds` like Spark).
    pub fn class_from_proba(&self, p: &[f64]) -> usize {
        match &self.thresholds {
            None => argmax(p),
            Some(t) => {
                let scaled: Vec<f64> =
                    p.iter().zip(t).map(|(p, t)| if *t == 0.0 { f64::INFINITY } else { p / t }).collect();
                argmax(&scaled)
            }
        }
    }

    /// Predictions for column-major rows: the mean of tree predictions (regression) or the
    /// predicted class index (classification).
    pub fn predict<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<f64>> {
        match self.task {
            Task::Regression => {
                let mut out = self.sum_leaf_values(columns, 1)?;
                let nt = self.trees.len() as f64;
                out.iter_mut().for_each(|v| *v /= nt);
                Ok(out)
            }
            Task::Classification { num_classes } => {
                let k = num_classes as usize;
                let p = self.predict_proba(columns)?;
                Ok(p.chunks_exact(k).map(|p| self.class_from_proba(p) as f64).collect())
            }
        }
    }

    /// Leaf indices (into each tree's [`Tree::nodes`](crate::Tree::nodes)), row-major
    /// `n × numTrees`.
    pub fn predict_leaves<C: AsRef<[f64]> + Sync>(&self, columns: &[C]) -> Result<Vec<u32>> {
        let nt = self.trees.len();
        let mut out = vec![0u32; Self::num_rows(columns) * nt];
        self.for_blocks(columns, nt, &mut out, |leaves, _, nb, chunk| {
            for (t, tree) in self.flat.iter().enumerate() {
                for r in 0..nb {
                    chunk[r * nt + t] = tree.orig(leaves[t * BLOCK + r]);
                }
            }
        })?;
        Ok(out)
    }

    /// Prediction for one raw row.
    pub fn predict_row(&self, row: &[f64]) -> Result<f64> {
        let nf = self.num_features();
        if row.len() != nf {
            return Err(Error::FeatureCount { expected: nf, actual: row.len() });
        }
        Ok(match self.task {
            Task::Regression => {
                let s: f64 = self.trees.iter().map(|t| t.nodes()[t.leaf_index(row)].prediction).sum();
                s / self.trees.len() as f64
            }
            Task::Classification { .. } => {
                let p = self.predict_proba_row(row)?;
                self.class_from_proba(&p) as f64
            }
        })
    }

    /// Why the forest predicts what it does for one raw row: the path decomposition of Saabas
    /// ("treeinterpreter"). Every node has a value (regression: its mean label; classification:
    /// the share of class `class` among its training weight, the distribution the forest
    /// averages). Each split on a row's path moves the value by `value(child) - value(parent)`,
    /// credited to the split's feature, so `value = bias + Σ contrib` exactly, with `bias` the
    /// mean root value. Writes each feature's mean contribution to `contrib` (one slot per
    /// feature) and returns `(value, bias)`; `value` equals [`Forest::predict_row`] (regression)
    /// or the class's entry of [`Forest::predict_proba_row`].
    ///
    /// The row is ranked once against the forest's thresholds, then each tree is walked on
    /// bytes (8-byte nodes), so one row through 100 depth-10 trees costs a few microseconds.
    pub fn explain_row(&self, row: &[f64], class: usize, contrib: &mut [f64]) -> Result<(f64, f64)> {
        let nf = self.num_features();
        if row.len() != nf {
            return Err(Error::FeatureCount { expected: nf, actual: row.len() });
        }
        if contrib.len() != nf {
            return Err(Error::LengthMismatch { what: "contributions".into(), expected: nf, actual: contrib.len() });
        }
        let width = self.task.num_classes().max(1) as usize;
        if class >= width {
            return Err(Error::param("class", format!("class {class} of a forest with {width} outputs")));
        }
        contrib.fill(0.0);
        let (mut sum, mut bias) = (0.0, 0.0);
        let value = |t: &FlatTree, id: u32| t.all_values()[id as usize * t.width() + class];
        match &self.quant {
            Some(q) => {
                let ranks: Vec<u8> = row.iter().enumerate().map(|(f, x)| q.rank(f, *x)).collect();
                // Trees descend PATH_LANES at a time; their paths are then summed tree by tree,
                // in order, so the result is the same bits as one walk after another.
                let mut paths: [Vec<(u32, u32, u32)>; PATH_LANES] = std::array::from_fn(|_| Vec::with_capacity(32));
                for (first, flats) in (0..).step_by(PATH_LANES).zip(self.flat.chunks(PATH_LANES)) {
                    let paths = &mut paths[..flats.len()];
                    paths.iter_mut().for_each(Vec::clear);
                    q.walk_paths(first, &ranks, paths);
                    for (flat, path) in flats.iter().zip(paths.iter()) {
                        bias += value(flat, 0);
                        for &(p, c, f) in path {
                            contrib[f as usize] += value(flat, c) - value(flat, p);
                        }
                        sum += value(flat, path.last().map_or(0, |s| s.1));
                    }
                }
            }
            None => {
                for flat in &self.flat {
                    bias += value(flat, 0);
                    let leaf = flat.walk_path(row, |p, c, f| contrib[f] += value(flat, c) - value(flat, p));
                    sum += value(flat, leaf);
                }
            }
        }
        let nt = self.trees.len() as f64;
        contrib.iter_mut().for_each(|v| *v /= nt);
        Ok((sum / nt, bias / nt))
    }

    /// Class probabilities for one raw row.
    pub fn predict_proba_row(&self, row: &[f64]) -> Result<Vec<f64>> {
        let cols: Vec<[f64; 1]> = row.iter().map(|v| [*v]).collect();
        self.predict_proba(&cols)
    }
}
