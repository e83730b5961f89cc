//! Recommendations judged as rankings: Spark's `RankingEvaluator` metrics of top-k lists on the
//! held-out split, for the forest, for ALS alone and for a popularity baseline.
//!
//! For each evaluated user (test users with at least one good test rating; at most
//! [`RankingConfig::users`] of them, chosen by a seeded hash of the id so the choice does not
//! depend on row order), every movie with training ratings that the user did not rate in
//! training is a candidate; a scorer ranks the candidates (ties: smaller movie id first) and the
//! first `k` are the list. The relevant movies are the user's good test ratings. Metrics, as
//! Spark's `RankingMetrics` defines them, averaged over users:
//!
//! - `precisionAtK = |top k ∩ relevant| / k`
//! - `recallAtK = |top k ∩ relevant| / |relevant|`
//! - `ndcgAtK = DCG / IDCG` with binary relevance and `1 / log2(rank + 1)` discounts
//! - `meanAveragePrecisionAtK = sum over hits at rank r of (hits so far / r) / min(|relevant|, k)`
//!
//! Diversity, over the lists of the first 100 evaluated users: how many distinct movies they
//! hold and the most lists any one movie is in (a model that recommends the same blockbusters
//! to everyone scores well on popularity and badly here).
//!
//! Scorers: `popularity` (training rating count); `als` (Spark's explicit ALS: the predicted
//! rating); `als_implicit` (ALS with `implicitPrefs`: how likely the user is to rate the movie
//! at all); `forest`, a two-stage recommender as production systems build one: the implicit
//! model's best [`RankingConfig::candidates`] movies, re-ranked by the forest's served rating
//! ([`Predictor::predict`], features built at one fixed moment, the split's latest timestamp,
//! so the numbers depend only on the data and the model). Rating predictors alone rank unseen
//! movies poorly: the held-out ratings are movies the user *chose* to watch, which a rating
//! prediction does not model; the implicit model does.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::predict::Predictor;
use crate::spec::TaskKind;
use crate::{Error, Result};

/// `[ranking]` of a job spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RankingConfig {
    /// List length `k` (default 10, at least 1).
    pub k: u32,
    /// Most test users evaluated (default 200; 0 turns the ranking evaluation off).
    pub users: u32,
    /// The forest re-ranks this many candidates per user, the implicit-feedback ALS model's
    /// best (default 100; 0: every movie). Without that model it ranks every movie.
    pub candidates: u32,
    /// Spark's `recommendForAllUsers(n)` / `recommendForAllItems(n)` of the run's ALS models,
    /// written as `<run>.recommend_users` and `<run>.recommend_movies` (default 10; 0: none).
    pub recommend: u32,
}

impl Default for RankingConfig {
    fn default() -> Self {
        RankingConfig { k: 10, users: 200, candidates: 100, recommend: 10 }
    }
}

/// Users whose lists the diversity figures count.
pub const DIVERSITY_USERS: usize = 100;

/// The ranking metrics of one scorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingReport {
    /// `forest`, `als` or `popularity`.
    pub model: String,
    /// List length.
    pub k: u32,
    /// Users evaluated.
    pub users: u64,
    /// Mean precision@k.
    pub precision_at_k: f64,
    /// Mean recall@k.
    pub recall_at_k: f64,
    /// Mean NDCG@k.
    pub ndcg_at_k: f64,
    /// Mean average precision@k.
    pub map_at_k: f64,
    /// Distinct movies in the lists of the first [`DIVERSITY_USERS`] users.
    pub distinct_movies: u64,
    /// The most of those lists one movie is in.
    pub max_lists_per_movie: u64,
}

/// What the evaluation needs of the split: per user, the movies rated in training and the
/// good test movies; per movie, its training rating count.
#[derive(Debug, Default)]
pub struct RankingData {
    /// Training movies per user.
    pub train: HashMap<i64, HashSet<i64>>,
    /// Good test movies per user.
    pub relevant: HashMap<i64, HashSet<i64>>,
    /// Training ratings per movie (the popularity score).
    pub movie_count: HashMap<i64, u64>,
    /// Latest timestamp of the split (the moment the forest's features are built for).
    pub latest: i64,
}

impl RankingData {
    /// Adds one rating of the split.
    pub fn add(&mut self, user: i64, movie: i64, rating: f64, is_test: bool, timestamp: i64, good_threshold: f64) {
        self.latest = self.latest.max(timestamp);
        if is_test {
            if rating >= good_threshold {
                self.relevant.entry(user).or_default().insert(movie);
            }
        } else {
            self.train.entry(user).or_default().insert(movie);
            *self.movie_count.entry(movie).or_default() += 1;
        }
    }

    /// The users to evaluate: test users with a relevant movie, at most `n`, by seeded hash.
    pub fn users(&self, n: usize, seed: u64) -> Vec<i64> {
        let mut users: Vec<i64> = self.relevant.keys().copied().collect();
        users.sort_unstable_by_key(|&u| (reelforest_features::udf::splitmix64(seed ^ u as u64), u));
        users.truncate(n);
        users
    }

    /// Candidate movies (with training ratings), ascending.
    pub fn candidates(&self) -> Vec<i64> {
        let mut m: Vec<i64> = self.movie_count.keys().copied().collect();
        m.sort_unstable();
        m
    }
}

/// The top `k` of `candidates` not in `seen` by `score` (higher first, ties by smaller id).
pub fn top_k(candidates: &[i64], seen: Option<&HashSet<i64>>, k: usize, score: impl Fn(i64) -> f64) -> Vec<i64> {
    let mut scored: Vec<(f64, i64)> = candidates
        .iter()
        .filter(|m| seen.is_none_or(|s| !s.contains(m)))
        .map(|&m| (score(m), m))
        .filter(|(s, _)| !s.is_nan())
        .collect();
    let by = |a: &(f64, i64), b: &(f64, i64)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if scored.len() > k {
        scored.select_nth_unstable_by(k, by);
        scored.truncate(k);
    }
    scored.sort_unstable_by(by);
    scored.into_iter().map(|(_, m)| m).collect()
}

/// Spark's ranking metrics of `lists` (each a top-k list and its relevant set; sets non-empty).
pub fn metrics(model: &str, k: usize, lists: &[(Vec<i64>, &HashSet<i64>)]) -> RankingReport {
    let (mut p, mut r, mut ndcg, mut map) = (0.0, 0.0, 0.0, 0.0);
    for (list, relevant) in lists {
        let top = &list[..list.len().min(k)];
        let (mut hits, mut dcg, mut ap) = (0usize, 0.0, 0.0);
        for (i, m) in top.iter().enumerate() {
            if relevant.contains(m) {
                hits += 1;
                dcg += 1.0 / ((i + 2) as f64).log2();
                ap += hits as f64 / (i + 1) as f64;
            }
        }
        let idcg: f64 = (0..relevant.len().min(k)).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
        p += hits as f64 / k as f64;
        r += hits as f64 / relevant.len() as f64;
        ndcg += dcg / idcg;
        map += ap / relevant.len().min(k) as f64;
    }
    let n = lists.len().max(1) as f64;
    let mut counts: HashMap<i64, u64> = HashMap::new();
    for (list, _) in lists.iter().take(DIVERSITY_USERS) {
        for m in list.iter().take(k) {
            *counts.entry(*m).or_default() += 1;
        }
    }
    RankingReport {
        model: model.to_string(),
        k: k as u32,
        users: lists.len() as u64,
        precision_at_k: p / n,
        recall_at_k: r / n,
        ndcg_at_k: ndcg / n,
        map_at_k: map / n,
        distinct_movies: counts.len() as u64,
        max_lists_per_movie: counts.values().copied().max().unwrap_or(0),
    }
}

/// Top-k lists of `users` by `score`, in parallel (each list on its own, so the result does
/// not depend on the thread count), paired with their relevant sets.
fn lists<'a>(
    data: &'a RankingData,
    users: &[i64],
    candidates: &[i64],
    k: usize,
    score: impl Fn(i64, &[i64]) -> Vec<i64> + Sync,
) -> Result<Vec<(Vec<i64>, &'a HashSet<i64>)>> {
    let tops: Vec<Vec<i64>> = users.par_iter().map(|&u| score(u, candidates)).collect();
    users
        .iter()
        .zip(tops)
        .map(|(&u, mut top)| {
            top.truncate(k);
            let relevant = data.relevant.get(&u).ok_or(Error::Internal("ranking user without relevant movies"))?;
            Ok((top, relevant))
        })
        .collect()
}

/// Ranks with every scorer the model allows and scores each (see the module doc).
pub fn evaluate(
    predictor: &Predictor,
    data: &RankingData,
    cfg: &RankingConfig,
    seed: u64,
) -> Result<Vec<RankingReport>> {
    let k = cfg.k as usize;
    let users = data.users(cfg.users as usize, seed);
    let all = data.candidates();
    let cf = predictor.model().artifact.serving.cf.clone();
    let implicit = cf.as_ref().and_then(|c| c.implicit.as_ref());
    let mut out = Vec::new();

    if predictor.model().forest(TaskKind::Regression).is_some() {
        let pool = if cfg.candidates == 0 { usize::MAX } else { cfg.candidates as usize };
        let scored = lists(data, &users, &all, k, |u, all| {
            let seen = data.train.get(&u);
            let shortlist = match implicit {
                Some(m) => top_k(all, seen, pool, |i| m.predict(u, i).unwrap_or(f64::NAN)),
                None => top_k(all, seen, usize::MAX, |_| 0.0),
            };
            top_k(&shortlist, None, k, |m| {
                predictor.predict(u, m, Some(data.latest)).ok().and_then(|p| p.rating).unwrap_or(f64::NAN)
            })
        })?;
        out.push(metrics("forest", k, &scored));
    }
    for (name, model) in [("als", cf.as_ref().and_then(|c| c.als.as_ref())), ("als_implicit", implicit)] {
        if let Some(m) = model {
            let scored = lists(data, &users, &all, k, |u, all| {
                top_k(all, data.train.get(&u), k, |i| m.predict(u, i).unwrap_or(f64::NAN))
            })?;
            out.push(metrics(name, k, &scored));
        }
    }
    let popularity = |m: i64| data.movie_count.get(&m).copied().unwrap_or(0) as f64;
    let scored = lists(data, &users, &all, k, |u, all| top_k(all, data.train.get(&u), k, popularity))?;
    out.push(metrics("popularity", k, &scored));
    Ok(out)
}

/// Writes Spark's `recommendForAllUsers(n)` and `recommendForAllItems(n)` of every ALS model of
/// `run` (`als`, `implicit`; the biased `mf` too) as two tables of the run, one row per
/// recommendation: `<run>.recommend_users` (`model`, `user_id`, `rank`, `movie_id`, `score`)
/// and `<run>.recommend_movies` (`model`, `movie_id`, `rank`, `user_id`, `score`). As in Spark,
/// movies the user rated are not excluded. Returns the tables' SQL names.
pub async fn write_recommendations(
    warehouse: &reelforest_warehouse::Warehouse,
    run: &reelforest_features::FeatureRun,
    n: usize,
) -> Result<Vec<String>> {
    use datafusion::arrow::array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    let Some(cf) = run.cf_models.clone() else { return Ok(Vec::new()) };
    if n == 0 {
        return Ok(Vec::new());
    }
    // Scored off the async runtime: every (user, movie) pair of every model.
    let lists = tokio::task::spawn_blocking(move || {
        [("als", cf.als.as_ref()), ("mf", cf.mf.as_ref()), ("implicit", cf.implicit.as_ref())]
            .into_iter()
            .filter_map(|(name, m)| m.map(|m| (name, m.recommend_for_all_users(n), m.recommend_for_all_items(n))))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| Error::Internal("recommendations panicked"))?;
    if lists.is_empty() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    let sides = [("recommend_users", "user_id", "movie_id"), ("recommend_movies", "movie_id", "user_id")];
    for (side, (table, key, other)) in sides.into_iter().enumerate() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("model", DataType::Utf8, false),
            Field::new(key, DataType::Int64, false),
            Field::new("rank", DataType::Int32, false),
            Field::new(other, DataType::Int64, false),
            Field::new("score", DataType::Float64, false),
        ]));
        let mut writer = warehouse.writer(&run.run, table, schema.clone()).await?;
        for (name, users, items) in &lists {
            let lists = if side == 0 { users } else { items };
            let (mut ids, mut ranks, mut others, mut scores) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (id, list) in lists {
                for (r, (o, s)) in list.iter().enumerate() {
                    ids.push(*id);
                    ranks.push(r as i32 + 1);
                    others.push(*o);
                    scores.push(*s);
                }
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(StringArray::from(vec![*name; ids.len()])),
                Arc::new(Int64Array::from(ids)),
                Arc::new(Int32Array::from(ranks)),
                Arc::new(Int64Array::from(others)),
                Arc::new(Float64Array::from(scores)),
            ];
            let batch = RecordBatch::try_new(schema.clone(), columns)
                .map_err(|source| Error::Query { what: format!("{}.{table}", run.run), source: source.into() })?;
            writer.write(&batch).await?;
        }
        let description = format!(
            "top {n} per {} of the ALS models ({}), Spark's recommendForAll",
            key.trim_end_matches("_id"),
            lists.iter().map(|m| m.0).collect::<Vec<_>>().join(", ")
        );
        writer.finish(&description).await?;
        names.push(format!("{}.{table}", run.run));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computation() {
        // One user, k = 3, list [a, b, c], relevant {b, d}: one hit at rank 2.
        let relevant: HashSet<i64> = [2, 4].into();
        let m = metrics("x", 3, &[(vec![1, 2, 3], &relevant)]);
        assert_eq!(m.precision_at_k, 1.0 / 3.0);
        assert_eq!(m.recall_at_k, 0.5);
        let (dcg, idcg) = (1.0 / 3f64.log2(), 1.0 + 1.0 / 3f64.log2());
        assert!((m.ndcg_at_k - dcg / idcg).abs() < 1e-15);
        assert_eq!(m.map_at_k, 0.5 / 2.0);
        assert_eq!((m.distinct_movies, m.max_lists_per_movie), (3, 1));
    }

    #[test]
    fn top_k_skips_seen_and_breaks_ties_by_id() {
        let seen: HashSet<i64> = [3].into();
        let top = top_k(&[1, 2, 3, 4, 5], Some(&seen), 3, |m| if m == 5 { f64::NAN } else { (m % 2) as f64 });
        assert_eq!(top, vec![1, 2, 4]);
    }
}
