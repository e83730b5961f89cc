//! The description of a finished feature run ([`FeatureRun`]), stored as
//! `features/<run>/features.json` next to its tables.

use crate::error::{Error, Result};
use crate::spec::FeatureSpec;
use reelforest_warehouse::Warehouse;
use serde::{Deserialize, Serialize};

/// Name of the regression label column.
pub const LABEL: &str = "rating";
/// Name of the classification label column (`1.0` when `rating >= good_threshold`, else `0.0`).
pub const GOOD_LABEL: &str = "good";
/// The key columns that lead every `train` / `test` row.
pub const KEY_COLUMNS: [&str; 2] = ["user_id", "movie_id"];

/// The built-in feature columns in table order, before the genre columns. NULL is allowed only
/// in `release_year`, `movie_age` (unknown year) and `user_age`, `user_gender`,
/// `occupation_index` (no demographics); every other column is filled with its prior.
pub const BASE_FEATURES: [&str; 17] = [
    "avg_user_rating",
    "user_rating_count",
    "user_rating_std",
    "avg_movie_rating",
    "rating_count",
    "movie_rating_std",
    "user_genre_affinity",
    "release_year",
    "movie_age",
    "user_age",
    "user_gender",
    "occupation_index",
    "occupation_mean",
    "director_mean",
    "director_count",
    "movie_tag_count",
    "user_tag_count",
];

/// One multi-hot genre column: the genre as the data spells it and its column name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenreColumn {
    /// The genre in `movie_genres` (`Sci-Fi`).
    pub genre: String,
    /// Its 0/1 feature column (`genre_sci_fi`).
    pub column: String,
}

/// A finished feature run: what was computed, under which spec, and where it is.
///
/// Tables (namespace = run name, SQL name `<run>.<table>`): `split` (when the run made its
/// own split), `train`, `test`, `online_users`, `online_movies`, `online_user_genre`, plus the
/// intermediate steps (`genres`, `movie_static`, `user_static`, `*_oof`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRun {
    /// Version of this file's layout.
    pub version: u32,
    /// The run name (the tables' namespace).
    pub run: String,
    /// The spec the run was built with.
    pub spec: FeatureSpec,
    /// SQL name of the split table the features were computed from.
    pub split_table: String,
    /// Every feature column of `train` / `test`, in table order (after keys and labels).
    pub feature_columns: Vec<String>,
    /// The regression label column ([`LABEL`]).
    pub label: String,
    /// The classification label column ([`GOOD_LABEL`]).
    pub good_label: String,
    /// Mean rating of the rows statistics come from (training rows; all rows when leaky):
    /// the prior `mu` of every shrunk mean and the value for unknown users and movies.
    pub global_mean: f64,
    /// Standard deviation of the same ratings: the prior of the spread features.
    pub global_std: f64,
    /// The genre columns in order.
    pub genres: Vec<GenreColumn>,
    /// Rows of `train`.
    pub train_rows: u64,
    /// Rows of `test`.
    pub test_rows: u64,
    /// Rows of `online_users`.
    pub online_users: u64,
    /// Rows of `online_movies`.
    pub online_movies: u64,
    /// The CF models fitted on every training row, when the run built CF features: what a
    /// model file stores to compute the `cf_*` columns at serving time. Kept in memory by the
    /// run that built them (not in `features.json`; a run read back from the warehouse has
    /// none).
    #[serde(skip)]
    pub cf_models: Option<std::sync::Arc<crate::cf::CfModels>>,
}

impl FeatureRun {
    /// Current layout version of `features.json`.
    pub const VERSION: u32 = 1;

    /// Where a run's description lives, relative to the warehouse root.
    pub fn path(run: &str) -> String {
        format!("features/{run}/features.json")
    }

    /// SQL name of one of the run's tables (`<run>.<table>`).
    pub fn table(&self, table: &str) -> String {
        format!("{}.{}", self.run, table)
    }

    /// Reads `features/<run>/features.json`.
    pub async fn load(warehouse: &Warehouse, run: &str) -> Result<FeatureRun> {
        let path = Self::path(run);
        let bytes =
            warehouse.get(&path).await.map_err(|source| Error::Warehouse { step: "features.json".into(), source })?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Json { path, source })
    }

    pub(crate) async fn save(&self, warehouse: &Warehouse) -> Result<()> {
        let path = Self::path(&self.run);
        let bytes = serde_json::to_vec_pretty(self).map_err(|source| Error::Json { path: path.clone(), source })?;
        warehouse.put(&path, bytes).await.map_err(|source| Error::Warehouse { step: "features.json".into(), source })
    }
}

/// The column name of a genre: `genre_` + the lowercase ASCII letters and digits of the name,
/// every other run of characters turned into one `_` (`Sci-Fi` -> `genre_sci_fi`,
/// `(no genres listed)` -> `genre_no_genres_listed`).
pub fn genre_column_name(genre: &str) -> String {
    let mut s = String::new();
    let mut pending_sep = false;
    for c in genre.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_sep && !s.is_empty() {
                s.push('_');
            }
            pending_sep = false;
            s.push(c.to_ascii_lowercase());
        } else {
            pending_sep = true;
        }
    }
    if s.is_empty() {
        s.push_str("unnamed");
    }
    s.truncate(50);
    format!("genre_{s}")
}

/// Column names for genres in order, made unique with `_2`, `_3`, ... suffixes.
pub(crate) fn genre_columns(genres: &[String]) -> Vec<GenreColumn> {
    let mut used = std::collections::BTreeSet::new();
    genres
        .iter()
        .map(|g| {
            let base = genre_column_name(g);
            let mut column = base.clone();
            let mut k = 2;
            while !used.insert(column.clone()) {
                column = format!("{base}_{k}");
                k += 1;
            }
            GenreColumn { genre: g.clone(), column }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genre_names_are_sanitised_and_unique() {
        assert_eq!(genre_column_name("Sci-Fi"), "genre_sci_fi");
        assert_eq!(genre_column_name("(no genres listed)"), "genre_no_genres_listed");
        assert_eq!(genre_column_name("Children's"), "genre_children_s");
        assert_eq!(genre_column_name("Film-Noir"), "genre_film_noir");
        assert_eq!(genre_column_name("???"), "genre_unnamed");
        let cols = genre_columns(&["Sci Fi".into(), "Sci-Fi".into(), "sci_fi".into()]);
        let names: Vec<_> = cols.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(names, ["genre_sci_fi", "genre_sci_fi_2", "genre_sci_fi_3"]);
        for c in cols {
            assert!(crate::sql::is_ident(&c.column));
        }
    }
}
