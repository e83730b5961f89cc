//! Predictions: answer "what would user U rate movie M?" from a saved model.
//!
//! A [`Predictor`] is a model version ([`crate::model::load`]) plus the online tables of the
//! feature run it was trained on, in memory ([`OnlineFeatures`], which builds the feature row of
//! any (user, movie) exactly as the feature SQL builds a test row). [`Predictor::predict`] walks
//! the model's forests over that row: the rating from the regression forest, P(good) from the
//! classification forest, and the row's cold-start flags.
//!
//! A model whose feature columns the online tables cannot provide (the spec's
//! `extra_feature_tables`, model-derived features) is refused by [`Predictor::from_model`]
//! rather than served from made-up values.

use crate::model::{self, Model};
use crate::spec::TaskKind;
use crate::{Error, Result};
use reelforest_features::online::{self, FeatureRow, OnlineFeatures};
use reelforest_warehouse::Warehouse;

/// A prediction for one (user, movie).
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The user.
    pub user_id: i64,
    /// The movie.
    pub movie_id: i64,
    /// Predicted star rating (the regression forest), when the model has one.
    pub rating: Option<f64>,
    /// Probability that the rating is good (the classification forest), when the model has one.
    pub p_good: Option<f64>,
    /// The feature row the forests saw, with its cold-start flags.
    pub features: FeatureRow,
}

/// A model plus its feature run's online tables, in memory.
#[derive(Debug)]
pub struct Predictor {
    model: Model,
    online: OnlineFeatures,
}

impl Predictor {
    /// Loads version `version` (the newest when `None`) of model `name` and its online tables.
    pub async fn load(warehouse: &Warehouse, name: &str, version: Option<u64>) -> Result<Self> {
        let model = model::load(warehouse, name, version).await?;
        Self::from_model(warehouse, model).await
    }

    /// Reads the online tables of `model`'s feature run from `warehouse`.
    pub async fn from_model(warehouse: &Warehouse, model: Model) -> Result<Self> {
        let a = &model.artifact;
        if let Some(n) = online::unservable_feature(&a.serving, &a.feature_names) {
            return Err(Error::Model {
                path: model.path.clone(),
                reason: format!("feature {n:?} cannot be built at serving time (not a column of the online tables)"),
            });
        }
        let online = OnlineFeatures::load(warehouse, &a.serving, &a.feature_names).await?;
        tracing::info!(
            model = a.name,
            version = a.version,
            users = online.num_users(),
            movies = online.num_movies(),
            "predictor loaded"
        );
        Ok(Predictor { model, online })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The online feature lookup.
    pub fn online(&self) -> &OnlineFeatures {
        &self.online
    }

    /// Feature names, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.model.artifact.feature_names
    }

    /// The feature row of (`user_id`, `movie_id`); `timestamp` (seconds since the epoch) is
    /// the moment of the rating for `movie_age`, the current time when `None`.
    pub fn features(&self, user_id: i64, movie_id: i64, timestamp: Option<i64>) -> FeatureRow {
        self.online.row(user_id, movie_id, timestamp)
    }

    /// Predicts the rating and P(good) of (`user_id`, `movie_id`) at `timestamp` (now when
    /// `None`).
    pub fn predict(&self, user_id: i64, movie_id: i64, timestamp: Option<i64>) -> Result<Prediction> {
        let features = self.features(user_id, movie_id, timestamp);
        let rating = self.model.forest(TaskKind::Regression).map(|f| f.predict_row(&features.values)).transpose()?;
        let p_good = match self.model.forest(TaskKind::Classification) {
            None => None,
            Some(f) => f.predict_proba_row(&features.values)?.get(1).copied(),
        };
        Ok(Prediction { user_id, movie_id, rating, p_good, features })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::{JobSpec, RunOptions};
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    use datafusion::prelude::SessionContext;
    use reelforest_core::NoProgress;
    use reelforest_features::FeatureRun;
    use std::collections::HashMap;

    /// A small two-task model on generated ratings, by the embedded job (no tuning, no audit).
    async fn job(out: &std::path::Path) -> Warehouse {
        let spec = JobSpec::from_toml(
            "name = \"predict-test\"\n[data]\nsource = \"synth\"\nsynth = { ratings = 4000, seed = 7 }\n\
             [model]\nkind = \"random_forest\"\nnumTrees = 5\nmaxDepth = 5\n[audit]\nleaky = false\n",
            "test",
        )
        .expect("spec");
        let opts = RunOptions { out: out.to_path_buf(), data: None, warehouse: None };
        crate::run_job(&spec, &opts, &NoProgress).await.expect("job");
        Warehouse::open(&out.join("warehouse").display().to_string()).expect("warehouse")
    }

    /// Every test row: the predictor's rating is the regression forest's on the row the SQL
    /// built, and P(good) a probability.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn predictions_are_the_forests_on_the_sql_test_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wh = job(dir.path()).await;
        let p = Predictor::load(&wh, "predict-test", None).await.expect("predictor");
        let run = FeatureRun::load(&wh, &p.model().artifact.serving.run).await.expect("feature run");
        assert_eq!(p.feature_names(), run.feature_columns.as_slice());
        let ctx = SessionContext::new();
        wh.register_all(&ctx).await.expect("register");
        let test = Dataset::load(&ctx, &run.table("test"), &run).await.expect("test rows");
        assert!(test.len() > 100, "only {} test rows", test.len());

        let sql = format!("SELECT user_id, movie_id, \"timestamp\" FROM {} WHERE is_test", run.table("split"));
        let mut ts = HashMap::new();
        for b in ctx.sql(&sql).await.expect("sql").collect().await.expect("collect") {
            let col = |i: usize| b.column(i).as_primitive::<Int64Type>().values().to_vec();
            let (u, m, t) = (col(0), col(1), col(2));
            ts.extend((0..u.len()).map(|r| ((u[r], m[r]), t[r])));
        }
        let reg = p.model().forest(TaskKind::Regression).expect("regression forest");
        for r in 0..test.len() {
            let (u, m) = (test.user_id[r], test.movie_id[r]);
            let sql_row: Vec<f64> = test.columns.iter().map(|c| c[r]).collect();
            let pred = p.predict(u, m, Some(ts[&(u, m)])).expect("predict");
            assert_eq!((pred.user_id, pred.movie_id), (u, m));
            assert_eq!(pred.rating, Some(reg.predict_row(&sql_row).expect("row")), "user {u}, movie {m}");
            assert!(pred.p_good.is_some_and(|g| (0.0..=1.0).contains(&g)));
        }

        // Spark's recommendForAllUsers of the run's ALS: every user with training ratings, ten
        // movies each, rank 1 the best-scoring movie of the served ALS model.
        let als = p.model().artifact.serving.cf.as_ref().and_then(|c| c.als.clone()).expect("als model");
        let sql = format!(
            "SELECT user_id, movie_id FROM {} WHERE model = 'als' AND rank = 1 ORDER BY user_id",
            run.table("recommend_users")
        );
        let mut users = 0;
        for b in ctx.sql(&sql).await.expect("sql").collect().await.expect("collect") {
            let col = |i: usize| b.column(i).as_primitive::<Int64Type>().values().to_vec();
            for (u, m) in col(0).into_iter().zip(col(1)) {
                let best = als.items.ids.iter().map(|&i| (als.predict(u, i).expect("known"), i)).fold(
                    (f64::NEG_INFINITY, i64::MAX),
                    |a, b| {
                        if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) { b } else { a }
                    },
                );
                assert_eq!(m, best.1, "user {u}");
                users += 1;
            }
        }
        assert_eq!(users, als.users.ids.len());

        // Unknown ids: priors, flags, and still a prediction.
        let pred = p.predict(-5, -7, None).expect("predict");
        let f = &pred.features;
        assert!(f.cold_user && f.cold_movie && !f.known_user && !f.known_movie);
        assert!(pred.rating.is_some_and(f64::is_finite) && pred.p_good.is_some());

        // A feature the online tables do not have: the model is refused, by name.
        let mut model = p.model().clone();
        model.artifact.feature_names.push("als_score".into());
        let e = Predictor::from_model(&wh, model).await.expect_err("unservable feature").to_string();
        assert_eq!(
            e,
            "model file models/predict-test/1/model.pb: feature \"als_score\" cannot be built at serving time \
             (not a column of the online tables)"
        );
    }
}
