//! Why a forest predicted what it did: path-based feature contributions (the
//! "treeinterpreter" decomposition of Saabas).
//!
//! Every node of a tree has a value: the mean label of its training rows (regression) or the
//! share of class 1, "good", among them (classification, the same normalized class
//! distribution the forest averages for P(good)). Walking a row from the root to its leaf, each
//! step changes the value by `value(child) - value(parent)`; that change is credited to the
//! feature the parent split on. So for every tree
//!
//! ```text
//! leaf value = root value + Σ_features contribution(feature)
//! ```
//!
//! and averaging over the trees gives `prediction = bias + Σ contributions` exactly, with the
//! bias the mean root value (the training mean). The walk itself is the tree engine's
//! [`reelforest_tree::Forest::explain_row`] (rows ranked once against the forest's thresholds,
//! 8-byte nodes), which yields the prediction too: the server answers rating and P(good) from
//! the same walk (a test checks they equal [`reelforest_pipeline::predict::Predictor::predict`]).

use reelforest_core::TaskKind;
use reelforest_pipeline::model::Model;
use reelforest_tree::Forest;
use serde::Serialize;
use utoipa::ToSchema;

/// Class whose probability the classification forest's contributions explain: 1, "good".
const GOOD: usize = 1;

/// A model's forests, borrowed for predictions with contributions (cheap to make per request).
#[derive(Debug, Clone, Copy)]
pub struct Explainer<'m> {
    rating: Option<&'m Forest>,
    good: Option<&'m Forest>,
    feature_names: &'m [String],
}

/// Mean over the trees (regression) or P(good), plus the bias, writing contributions to
/// `contrib` when given; a row of the wrong width (never from our own feature rows) answers
/// NaN rather than panicking.
fn walk(forest: &Forest, class: usize, row: &[f64], contrib: Option<&mut Vec<f64>>) -> (f64, f64) {
    let mut scratch;
    let c = match contrib {
        Some(c) => {
            c.resize(forest.num_features(), 0.0);
            c
        }
        None => {
            scratch = vec![0.0; forest.num_features()];
            &mut scratch
        }
    };
    forest.explain_row(row, class, c).unwrap_or((f64::NAN, f64::NAN))
}

/// Rating and P(good) of one row, with the decomposition when asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Predicted rating (regression forest), if the model has one.
    pub rating: Option<f64>,
    /// P(good) (classification forest), if the model has one.
    pub p_good: Option<f64>,
    /// Mean root value of the regression trees: the rating before any split.
    pub rating_bias: Option<f64>,
    /// Mean root value of the classification trees.
    pub p_good_bias: Option<f64>,
    /// Per feature (model order): contribution to the rating (empty without contributions).
    pub rating_contrib: Vec<f64>,
    /// Per feature: contribution to P(good).
    pub p_good_contrib: Vec<f64>,
}

/// One feature's share of a prediction.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Contribution {
    /// Feature name.
    pub feature: String,
    /// The feature's value in this row (`null`: missing).
    pub value: Option<f64>,
    /// What the feature added to the predicted rating (stars).
    pub rating: Option<f64>,
    /// What the feature added to P(good).
    pub p_good: Option<f64>,
}

impl<'m> Explainer<'m> {
    /// Borrows the model's forests.
    pub fn new(model: &'m Model) -> Self {
        Explainer {
            rating: model.forest(TaskKind::Regression),
            good: model.forest(TaskKind::Classification),
            feature_names: &model.artifact.feature_names,
        }
    }

    /// Feature names, in row order.
    pub fn feature_names(&self) -> &[String] {
        self.feature_names
    }

    /// Rating and P(good) of `row` without the decomposition.
    pub fn predict(&self, row: &[f64]) -> (Option<f64>, Option<f64>) {
        (self.rating.map(|f| walk(f, 0, row, None).0), self.good.map(|f| walk(f, GOOD, row, None).0))
    }

    /// Rating, P(good) and every feature's contribution to each.
    pub fn explain(&self, row: &[f64]) -> Explanation {
        let mut e = Explanation {
            rating: None,
            p_good: None,
            rating_bias: None,
            p_good_bias: None,
            rating_contrib: Vec::new(),
            p_good_contrib: Vec::new(),
        };
        if let Some(f) = self.rating {
            let (v, b) = walk(f, 0, row, Some(&mut e.rating_contrib));
            (e.rating, e.rating_bias) = (Some(v), Some(b));
        }
        if let Some(f) = self.good {
            let (v, b) = walk(f, GOOD, row, Some(&mut e.p_good_contrib));
            (e.p_good, e.p_good_bias) = (Some(v), Some(b));
        }
        e
    }

    /// The `k` features with the largest absolute contribution (to the rating when the model
    /// predicts one, else to P(good)), largest first; features that contributed nothing are
    /// left out.
    pub fn top(&self, e: &Explanation, row: &[f64], k: usize) -> Vec<Contribution> {
        let key: &[f64] = if e.rating_contrib.is_empty() { &e.p_good_contrib } else { &e.rating_contrib };
        let mut order: Vec<usize> = (0..key.len()).filter(|&j| key[j] != 0.0).collect();
        order.sort_by(|&a, &b| key[b].abs().total_cmp(&key[a].abs()).then(a.cmp(&b)));
        order
            .into_iter()
            .take(k)
            .map(|j| Contribution {
                feature: self.feature_names.get(j).cloned().unwrap_or_default(),
                value: row.get(j).copied().filter(|v| !v.is_nan()),
                rating: e.rating_contrib.get(j).copied(),
                p_good: e.p_good_contrib.get(j).copied(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reelforest_tree::{BinnedMatrix, ForestParams, TrainingSet, train};

    /// A forest on two features where the label depends on both.
    fn forest(task: reelforest_tree::Task) -> (Forest, Vec<Vec<f64>>) {
        let x0: Vec<f64> = (0..400).map(|i| f64::from(i % 20)).collect();
        let x1: Vec<f64> = (0..400).map(|i| if i % 7 == 0 { f64::NAN } else { f64::from(i % 3) }).collect();
        let y: Vec<f64> = x0
            .iter()
            .zip(&x1)
            .map(|(a, b)| {
                let v = a / 4.0 + if b.is_nan() { 0.5 } else { *b };
                match task {
                    reelforest_tree::Task::Regression => v,
                    reelforest_tree::Task::Classification { .. } => f64::from(u8::from(v > 3.0)),
                }
            })
            .collect();
        let params = ForestParams { num_trees: 7, max_depth: 5, ..ForestParams::default() };
        let cols = vec![x0, x1];
        let binned = BinnedMatrix::from_columns(&cols, params.max_bins, params.seed).expect("bins");
        let data = TrainingSet::new(&binned, &y, None, task).expect("data");
        (train(&data, &params).expect("train"), cols)
    }

    #[test]
    fn contributions_sum_to_the_forest_prediction() {
        for task in [reelforest_tree::Task::Regression, reelforest_tree::Task::Classification { num_classes: 2 }] {
            let (f, cols) = forest(task);
            let class = match task {
                reelforest_tree::Task::Regression => 0,
                reelforest_tree::Task::Classification { .. } => GOOD,
            };
            let mut nonzero = [0usize; 2];
            for (r, (&a, &b)) in cols[0].iter().zip(&cols[1]).enumerate() {
                let row = [a, b];
                let mut c = Vec::new();
                let (pred, bias) = walk(&f, class, &row, Some(&mut c));
                let want = match task {
                    reelforest_tree::Task::Regression => f.predict_row(&row).expect("row"),
                    reelforest_tree::Task::Classification { .. } => f.predict_proba_row(&row).expect("proba")[1],
                };
                assert!((pred - want).abs() < 1e-12, "row {r}: walk {pred}, forest {want}");
                assert!((bias + c[0] + c[1] - pred).abs() < 1e-9, "row {r}: {bias} + {c:?} != {pred}");
                for (j, v) in c.iter().enumerate() {
                    nonzero[j] += usize::from(*v != 0.0);
                }
            }
            assert!(nonzero[0] > 0 && nonzero[1] > 0, "both features matter: {nonzero:?}");
        }
    }

    #[test]
    fn top_orders_by_absolute_contribution_and_drops_zeros() {
        let e = Explanation {
            rating: Some(3.0),
            p_good: Some(0.5),
            rating_bias: Some(3.5),
            p_good_bias: Some(0.5),
            rating_contrib: vec![0.1, -0.6, 0.0, 0.3],
            p_good_contrib: vec![0.01, -0.2, 0.0, 0.05],
        };
        let names = ["a", "b", "c", "d"].map(String::from);
        let x = Explainer { rating: None, good: None, feature_names: &names };
        let top = x.top(&e, &[1.0, f64::NAN, 2.0, 4.0], 2);
        assert_eq!(top.len(), 2);
        assert_eq!((top[0].feature.as_str(), top[0].value, top[0].rating), ("b", None, Some(-0.6)));
        assert_eq!((top[1].feature.as_str(), top[1].value, top[1].p_good), ("d", Some(4.0), Some(0.05)));
        assert_eq!(x.top(&e, &[0.0; 4], 10).len(), 3, "the zero contribution is left out");
    }
}
