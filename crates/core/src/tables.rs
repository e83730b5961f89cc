//! Names and column layouts of the raw warehouse tables.
//!
//! Ingest (`reelforest-data`) writes every table below for every dataset, empty when the
//! dataset lacks that file, so the feature SQL never has to ask whether a table exists.
//! Column types are given as the SQL/Arrow type names; `reelforest-warehouse` turns them
//! into Arrow schemas.
//!
//! | table | columns |
//! | --- | --- |
//! | `ratings` | `user_id BIGINT`, `movie_id BIGINT`, `rating DOUBLE`, `timestamp BIGINT` (unix s) |
//! | `movies` | `movie_id BIGINT`, `title VARCHAR`, `year INT NULL`, `genres VARCHAR` (`|`-joined) |
//! | `movie_genres` | `movie_id BIGINT`, `genre VARCHAR` (one row per movie and genre) |
//! | `users` | `user_id BIGINT`, `age INT NULL`, `gender VARCHAR NULL`, `occupation VARCHAR NULL`, `zip VARCHAR NULL` |
//! | `tags` | `user_id BIGINT`, `movie_id BIGINT`, `tag VARCHAR`, `timestamp BIGINT` |
//! | `links` | `movie_id BIGINT`, `imdb_id BIGINT NULL`, `tmdb_id BIGINT NULL` |
//! | `movie_meta` | `movie_id BIGINT`, `director VARCHAR NULL`, `imdb_score DOUBLE NULL`, `duration DOUBLE NULL`, `budget DOUBLE NULL`, `gross DOUBLE NULL`, `content_rating VARCHAR NULL` |
//! | `predefined_splits` | `split VARCHAR`, `user_id BIGINT`, `movie_id BIGINT`, `is_test BOOLEAN` |

/// Raw ratings: one row per accepted (user, movie) pair.
pub const RATINGS: &str = "ratings";
/// Movies with title, release year and `|`-joined genres.
pub const MOVIES: &str = "movies";
/// Long form of the genres: one row per (movie, genre).
pub const MOVIE_GENRES: &str = "movie_genres";
/// Users with demographics where the dataset has them (ml-100k, ml-1m, generated data);
/// otherwise one row per rating user with NULL demographics.
pub const USERS: &str = "users";
/// Free-text tags users gave movies.
pub const TAGS: &str = "tags";
/// MovieLens ids to IMDb / TMDb ids.
pub const LINKS: &str = "links";
/// Optional movie metadata (director, IMDb score, ...), from `--metadata` or the generator.
pub const MOVIE_META: &str = "movie_meta";
/// Predefined train/test splits shipped with a dataset (ml-100k's `u1..u5`, `ua`, `ub`).
pub const PREDEFINED_SPLITS: &str = "predefined_splits";

/// Every raw table, in the order ingest writes them.
pub const RAW_TABLES: [&str; 8] = [RATINGS, MOVIES, MOVIE_GENRES, USERS, TAGS, LINKS, MOVIE_META, PREDEFINED_SPLITS];

/// The catalog namespace of the raw tables. SQL sees them unqualified (`FROM ratings`).
pub const RAW_NAMESPACE: &str = "raw";
