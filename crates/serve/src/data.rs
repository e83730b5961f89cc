//! What the pages and routes need from the raw tables, read once per served bundle:
//! [`DataSnapshot`] holds every movie (title, year, genres, number of ratings) for title search
//! and display, each user's rated movies (recommendations skip them), and the [`Overview`]
//! statistics the Overview page charts (rating distribution, ratings and mean per genre,
//! activity long tail, ratings over time), computed with SQL over the warehouse tables.

use crate::{Error, Result};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use std::collections::HashMap;

/// A movie as the pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Movie {
    /// Id.
    pub movie_id: i64,
    /// Title as ingested (shown escaped).
    pub title: String,
    /// Release year, when known.
    pub year: Option<i64>,
    /// `|`-joined genres.
    pub genres: String,
    /// Number of ratings in the `ratings` table.
    pub ratings: u64,
    /// Lower-cased title, for search.
    lower: String,
}

/// Ratings and mean rating of one genre.
#[derive(Debug, Clone, PartialEq)]
pub struct GenreStat {
    /// Genre name.
    pub genre: String,
    /// Ratings of movies of the genre.
    pub ratings: u64,
    /// Their mean.
    pub mean: f64,
}

/// The Overview page's statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Overview {
    /// Ratings in the `ratings` table.
    pub ratings: u64,
    /// Users with at least one rating.
    pub users: u64,
    /// Movies in the `movies` table.
    pub movies: u64,
    /// Mean rating.
    pub mean_rating: Option<f64>,
    /// (rating value, count), ascending by value.
    pub rating_histogram: Vec<(f64, u64)>,
    /// Per genre, most rated first.
    pub genres: Vec<GenreStat>,
    /// Ratings per user, largest first (the activity long tail).
    pub activity: Vec<u64>,
    /// (period, ratings) in time order; periods are months (`YYYY-MM`) when the data spans
    /// at most ten years, else years (`YYYY`).
    pub over_time: Vec<(String, u64)>,
}

/// Movies, who rated what, and the overview statistics.
#[derive(Debug, Clone, Default)]
pub struct DataSnapshot {
    movies: Vec<Movie>,
    index: HashMap<i64, usize>,
    seen: HashMap<i64, Vec<i64>>,
    /// Statistics for the Overview page.
    pub overview: Overview,
}

impl DataSnapshot {
    /// Reads the raw tables registered in `ctx` (see
    /// [`reelforest_warehouse::Warehouse::register_all`]).
    pub async fn load(ctx: &SessionContext) -> Result<Self> {
        let mut counts: HashMap<i64, u64> = HashMap::new();
        let mut seen: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut stream = stream(ctx, "ratings", "SELECT user_id, movie_id FROM ratings").await?;
        while let Some(b) = stream.next().await {
            let b = b.map_err(|source| Error::Query { what: "ratings".into(), source })?;
            let users = int_column(&b, 0, "ratings", "user_id")?;
            let movies = int_column(&b, 1, "ratings", "movie_id")?;
            for (u, m) in users.into_iter().zip(movies) {
                if let (Some(u), Some(m)) = (u, m) {
                    seen.entry(u).or_default().push(m);
                    *counts.entry(m).or_default() += 1;
                }
            }
        }
        let mut activity: Vec<u64> = Vec::with_capacity(seen.len());
        for list in seen.values_mut() {
            list.sort_unstable();
            list.dedup();
            activity.push(list.len() as u64);
        }
        activity.sort_unstable_by(|a, b| b.cmp(a));

        let mut movies = Vec::new();
        for b in collect(ctx, "movies", "SELECT movie_id, title, CAST(year AS BIGINT), genres FROM movies").await? {
            let ids = int_column(&b, 0, "movies", "movie_id")?;
            let titles = string_column(&b, 1, "movies", "title")?;
            let years = int_column(&b, 2, "movies", "year")?;
            let genres = string_column(&b, 3, "movies", "genres")?;
            for r in 0..b.num_rows() {
                let Some(movie_id) = ids[r] else { continue };
                let title = titles[r].clone().unwrap_or_default();
                movies.push(Movie {
                    movie_id,
                    lower: title.to_lowercase(),
                    title,
                    year: years[r],
                    genres: genres[r].clone().unwrap_or_default(),
                    ratings: counts.get(&movie_id).copied().unwrap_or(0),
                });
            }
        }
        movies.sort_by(|a, b| b.ratings.cmp(&a.ratings).then(a.movie_id.cmp(&b.movie_id)));
        let index = movies.iter().enumerate().map(|(i, m)| (m.movie_id, i)).collect();

        let mut overview = Overview {
            ratings: counts.values().sum(),
            users: seen.len() as u64,
            movies: movies.len() as u64,
            activity,
            ..Overview::default()
        };
        let mut weighted = 0.0;
        let sql = "SELECT CAST(rating AS DOUBLE), count(*) FROM ratings GROUP BY 1 ORDER BY 1";
        for b in collect(ctx, "rating histogram", sql).await? {
            let values = float_column(&b, 0, "ratings", "rating")?;
            let n = int_column(&b, 1, "ratings", "count")?;
            for (v, n) in values.into_iter().zip(n) {
                if let (Some(v), Some(n)) = (v, n) {
                    weighted += v * n as f64;
                    overview.rating_histogram.push((v, n.max(0) as u64));
                }
            }
        }
        let rated: u64 = overview.rating_histogram.iter().map(|(_, n)| n).sum();
        overview.mean_rating = (rated > 0).then(|| weighted / rated as f64);

        let sql = "SELECT g.genre, count(*) AS n, avg(r.rating) FROM ratings r JOIN movie_genres g \
                   ON r.movie_id = g.movie_id GROUP BY g.genre ORDER BY n DESC, g.genre";
        for b in collect(ctx, "ratings per genre", sql).await? {
            let names = string_column(&b, 0, "movie_genres", "genre")?;
            let n = int_column(&b, 1, "movie_genres", "count")?;
            let mean = float_column(&b, 2, "ratings", "avg")?;
            for r in 0..b.num_rows() {
                if let (Some(genre), Some(n), Some(mean)) = (names[r].clone(), n[r], mean[r]) {
                    overview.genres.push(GenreStat { genre, ratings: n.max(0) as u64, mean });
                }
            }
        }

        let sql = "SELECT CAST(date_trunc('month', to_timestamp_seconds(\"timestamp\")) AS VARCHAR), count(*) \
                   FROM ratings GROUP BY 1 ORDER BY 1";
        let mut months: Vec<(String, u64)> = Vec::new();
        for b in collect(ctx, "ratings over time", sql).await? {
            let periods = string_column(&b, 0, "ratings", "timestamp")?;
            let n = int_column(&b, 1, "ratings", "count")?;
            for (p, n) in periods.into_iter().zip(n) {
                if let (Some(p), Some(n)) = (p, n) {
                    months.push((p.chars().take(7).collect(), n.max(0) as u64));
                }
            }
        }
        overview.over_time = by_period(months);
        Ok(DataSnapshot { movies, index, seen, overview })
    }

    /// Every movie, most rated first.
    pub fn movies(&self) -> &[Movie] {
        &self.movies
    }

    /// The movie with id `movie_id`.
    pub fn movie(&self, movie_id: i64) -> Option<&Movie> {
        self.index.get(&movie_id).map(|&i| &self.movies[i])
    }

    /// Movies whose title contains `query` (case-insensitive; every movie when it is blank),
    /// most rated first: up to `limit` of them and how many matched in all.
    pub fn search(&self, query: &str, limit: usize) -> (Vec<&Movie>, usize) {
        let q = query.trim().to_lowercase();
        let mut total = 0;
        let mut out = Vec::new();
        for m in self.movies.iter().filter(|m| q.is_empty() || m.lower.contains(&q)) {
            total += 1;
            if out.len() < limit {
                out.push(m);
            }
        }
        (out, total)
    }

    /// The movies `user_id` has rated, ascending (empty for an unknown user).
    pub fn seen(&self, user_id: i64) -> &[i64] {
        self.seen.get(&user_id).map_or(&[], Vec::as_slice)
    }

    /// Up to `n` users with the most ratings, most active first (for the pages' pickers).
    pub fn active_users(&self, n: usize) -> Vec<(i64, usize)> {
        let mut all: Vec<(i64, usize)> = self.seen.iter().map(|(u, l)| (*u, l.len())).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

/// Months as they are when they span at most ten years; otherwise summed per year.
fn by_period(months: Vec<(String, u64)>) -> Vec<(String, u64)> {
    if months.len() <= 120 {
        return months;
    }
    let mut years: Vec<(String, u64)> = Vec::new();
    for (m, n) in months {
        let y: String = m.chars().take(4).collect();
        match years.last_mut() {
            Some((last, total)) if *last == y => *total += n,
            _ => years.push((y, n)),
        }
    }
    years
}

async fn stream(
    ctx: &SessionContext,
    what: &str,
    sql: &str,
) -> Result<datafusion::physical_plan::SendableRecordBatchStream> {
    let q = |source| Error::Query { what: what.to_string(), source };
    ctx.sql(sql).await.map_err(q)?.execute_stream().await.map_err(q)
}

async fn collect(ctx: &SessionContext, what: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    let q = |source| Error::Query { what: what.to_string(), source };
    ctx.sql(sql).await.map_err(q)?.collect().await.map_err(q)
}

fn cast_to(b: &RecordBatch, i: usize, table: &str, column: &str, to: &DataType) -> Result<std::sync::Arc<dyn Array>> {
    cast(b.column(i), to).map_err(|e| Error::Column {
        table: table.to_string(),
        column: column.to_string(),
        reason: e.to_string(),
    })
}

fn int_column(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<Option<i64>>> {
    let a = cast_to(b, i, table, column, &DataType::Int64)?;
    Ok(a.as_primitive::<Int64Type>().iter().collect())
}

fn float_column(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<Option<f64>>> {
    let a = cast_to(b, i, table, column, &DataType::Float64)?;
    Ok(a.as_primitive::<Float64Type>().iter().collect())
}

fn string_column(b: &RecordBatch, i: usize, table: &str, column: &str) -> Result<Vec<Option<String>>> {
    let a = cast_to(b, i, table, column, &DataType::Utf8)?;
    Ok(a.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    fn table(ctx: &SessionContext, name: &str, cols: Vec<(&str, Arc<dyn Array>)>) {
        let schema =
            Schema::new(cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>());
        let batch = RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect()).expect("batch");
        ctx.register_batch(name, batch).expect("register");
    }

    #[tokio::test]
    async fn snapshot_counts_searches_and_charts() {
        let ctx = SessionContext::new();
        // 2023-01-01, 2023-01-02, 2023-02-01 (unix seconds).
        let (jan, jan2, feb) = (1_672_531_200i64, 1_672_617_600i64, 1_675_209_600i64);
        table(
            &ctx,
            "ratings",
            vec![
                ("user_id", Arc::new(Int64Array::from(vec![1, 1, 2, 2, 3]))),
                ("movie_id", Arc::new(Int64Array::from(vec![10, 11, 10, 12, 10]))),
                ("rating", Arc::new(Float64Array::from(vec![4.0, 3.0, 5.0, 4.0, 4.0]))),
                ("timestamp", Arc::new(Int64Array::from(vec![jan, jan2, feb, feb, feb]))),
            ],
        );
        table(
            &ctx,
            "movies",
            vec![
                ("movie_id", Arc::new(Int64Array::from(vec![10, 11, 12, 13]))),
                ("title", Arc::new(StringArray::from(vec!["Toy Story", "Heat", "Toys", "Unrated <b>"]))),
                ("year", Arc::new(Int64Array::from(vec![Some(1995), Some(1995), None, Some(2000)]))),
                ("genres", Arc::new(StringArray::from(vec!["Animation", "Crime", "Comedy", ""]))),
            ],
        );
        table(
            &ctx,
            "movie_genres",
            vec![
                ("movie_id", Arc::new(Int64Array::from(vec![10, 11, 12]))),
                ("genre", Arc::new(StringArray::from(vec!["Animation", "Crime", "Comedy"]))),
            ],
        );
        let d = DataSnapshot::load(&ctx).await.expect("load");
        let o = &d.overview;
        assert_eq!((o.ratings, o.users, o.movies), (5, 3, 4));
        assert_eq!(o.mean_rating, Some(4.0));
        assert_eq!(o.rating_histogram, vec![(3.0, 1), (4.0, 3), (5.0, 1)]);
        assert_eq!(o.activity, vec![2, 2, 1]);
        assert_eq!(o.over_time, vec![("2023-01".to_string(), 2), ("2023-02".to_string(), 3)]);
        assert_eq!(o.genres[0], GenreStat { genre: "Animation".into(), ratings: 3, mean: 13.0 / 3.0 });
        assert_eq!(o.genres.len(), 3);

        let (hits, total) = d.search("toy", 10);
        assert_eq!(total, 2);
        assert_eq!(hits.iter().map(|m| m.movie_id).collect::<Vec<_>>(), [10, 12], "most rated first");
        assert_eq!(d.search("  ", 2).1, 4, "a blank query matches everything");
        assert_eq!(d.search("TOY", 1).0.len(), 1);
        assert_eq!(d.movie(13).map(|m| (m.title.as_str(), m.ratings)), Some(("Unrated <b>", 0)));
        assert_eq!(d.seen(2), [10, 12]);
        assert!(d.seen(99).is_empty());
        assert_eq!(d.active_users(1), vec![(1, 2)]);
    }

    #[test]
    fn long_spans_are_shown_per_year() {
        let months: Vec<(String, u64)> =
            (0..130).map(|i| (format!("{}-{:02}", 2000 + i / 12, i % 12 + 1), 1)).collect();
        let years = by_period(months);
        assert_eq!(years.len(), 11);
        assert_eq!(years[0], ("2000".to_string(), 12));
        assert_eq!(years[10], ("2010".to_string(), 10));
    }
}
