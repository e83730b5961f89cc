//! A deterministic generator of MovieLens-shaped data with structure a model can learn.
//!
//! [`synth`] writes the `csv` layout of ml-latest-small (`ratings.csv`, `movies.csv`,
//! `tags.csv`, `links.csv`) plus `users.csv` (`userId,age,gender,occupation,zip`) and
//! `directors.csv` (`movieId,director`, read into `movie_meta` by ingest). A rating is
//!
//! ```text
//! round_half(3.5 + b_user + b_movie + b_director + mean(affinity[user][g] for g in genres(movie))
//!            + noise * N(0,1))   clipped to [0.5, 5]
//! ```
//!
//! Movies are chosen with long-tail (Zipf-like) popularity, users rate Zipf-like numbers of
//! movies (at least 20, like MovieLens), release years skew recent and every timestamp falls
//! after the movie's release. With `bad_rows > 0`, `ratings.csv` also gets that fraction of
//! deliberately bad lines, evenly spread and cycling through every [`RejectReason`] that
//! rating validation knows; [`SynthSummary::bad_by_reason`] says exactly how many of each,
//! so tests can match ingest's counts. The same options and seed give byte-identical files
//! (ChaCha8 RNG, no hash-order dependence). Files are streamed through a `BufWriter`.

use crate::error::{Error, Result};
use crate::report::RejectReason;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthOptions {
    /// Number of (good) ratings.
    pub ratings: u64,
    /// RNG seed: the same seed gives the same bytes.
    pub seed: u64,
    /// Number of users; by default `ratings / 165` (ml-latest-small's ratio), at least 5.
    pub users: Option<u64>,
    /// Number of movies; by default `30 * sqrt(ratings)` (≈ 9,500 for 100k ratings), at least 20.
    pub movies: Option<u64>,
    /// Standard deviation of the gaussian noise added before rounding (0 = none).
    pub noise: f64,
    /// Fraction (0 ≤ f ≤ 0.5) of extra, deliberately bad lines in `ratings.csv`.
    pub bad_rows: f64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions { ratings: 100_000, seed: 42, users: None, movies: None, noise: 0.5, bad_rows: 0.0 }
    }
}

/// What [`synth`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthSummary {
    /// Good rating lines in `ratings.csv`.
    pub ratings: u64,
    /// Users (all of them rated at least once).
    pub users: u64,
    /// Movies.
    pub movies: u64,
    /// Directors.
    pub directors: u64,
    /// Tag lines.
    pub tags: u64,
    /// Bad lines in `ratings.csv`.
    pub bad_rows: u64,
    /// Bad lines by the reason ingest will give.
    pub bad_by_reason: BTreeMap<RejectReason, u64>,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// The bad-line kinds, cycled in this order.
const BAD_KINDS: [RejectReason; 6] = [
    RejectReason::FieldCount,
    RejectReason::NonNumericId,
    RejectReason::RatingOutOfScale,
    RejectReason::BadTimestamp,
    RejectReason::UnknownMovie,
    RejectReason::DuplicatePair,
];

/// Genres with the share of movies that have them (roughly MovieLens').
const GENRES: [(&str, f64); 19] = [
    ("Drama", 0.45),
    ("Comedy", 0.35),
    ("Thriller", 0.2),
    ("Action", 0.18),
    ("Romance", 0.16),
    ("Adventure", 0.12),
    ("Crime", 0.12),
    ("Horror", 0.1),
    ("Sci-Fi", 0.09),
    ("Fantasy", 0.07),
    ("Children", 0.07),
    ("Animation", 0.06),
    ("Mystery", 0.06),
    ("Documentary", 0.04),
    ("War", 0.04),
    ("Musical", 0.03),
    ("Western", 0.02),
    ("IMAX", 0.02),
    ("Film-Noir", 0.01),
];

const ADJECTIVES: [&str; 24] = [
    "Silent", "Broken", "Last", "Golden", "Hidden", "Crimson", "Lonely", "Wild", "Frozen", "Electric", "Secret",
    "Burning", "Midnight", "Lost", "Velvet", "Iron", "Paper", "Distant", "Bitter", "Little", "Endless", "Savage",
    "Quiet", "Final",
];
const NOUNS: [&str; 24] = [
    "River",
    "Empire",
    "Garden",
    "Signal",
    "Harbor",
    "Winter",
    "Machine",
    "Kingdom",
    "Letter",
    "Mirror",
    "Storm",
    "Road",
    "Island",
    "Promise",
    "Frontier",
    "Circus",
    "Orchard",
    "Detective",
    "Planet",
    "Summer",
    "Station",
    "Crown",
    "Shadow",
    "Voyage",
];
const FIRST: [&str; 16] = [
    "Ada", "Bruno", "Clara", "Dev", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kofi", "Lena", "Marco",
    "Nadia", "Oskar", "Priya",
];
const LAST: [&str; 16] = [
    "Abbott",
    "Becker",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fontaine",
    "Gallo",
    "Hayes",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
];
const OCCUPATIONS: [&str; 21] = [
    "administrator",
    "artist",
    "doctor",
    "educator",
    "engineer",
    "entertainment",
    "executive",
    "healthcare",
    "homemaker",
    "lawyer",
    "librarian",
    "marketing",
    "none",
    "other",
    "programmer",
    "retired",
    "salesman",
    "scientist",
    "student",
    "technician",
    "writer",
];
const TAG_WORDS: [&str; 12] = [
    "atmospheric",
    "funny",
    "slow",
    "classic",
    "twist ending",
    "visually appealing",
    "overrated",
    "great soundtrack",
    "dark",
    "quirky",
    "thought-provoking",
    "predictable",
];

const DAY: i64 = 86_400;
/// 1996-01-01 and 2018-01-01, the span of user sign-ups.
const START_MIN: i64 = 820_454_400;
const START_MAX: i64 = 1_514_764_800;

struct Movie {
    year: i32,
    genres: Vec<usize>,
    director: usize,
    bias: f64,
}

struct User {
    bias: f64,
    affinity: [f64; 19],
    start: i64,
}

fn create(out: &Path, name: &str, files: &mut Vec<PathBuf>) -> Result<(BufWriter<File>, PathBuf)> {
    let path = out.join(name);
    let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
    files.push(path.clone());
    Ok((BufWriter::with_capacity(1 << 20, f), path))
}

fn normal(rng: &mut ChaCha8Rng, sd: f64) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    z * sd
}

/// Picks an index from cumulative weights.
fn pick(cum: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total = cum.last().copied().unwrap_or(0.0);
    let x = rng.random::<f64>() * total;
    cum.partition_point(|&c| c <= x).min(cum.len().saturating_sub(1))
}

fn zipf_cum(n: usize, s: f64, offset: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    // Weights by rank, ranks randomly assigned to ids (Fisher-Yates).
    let mut ranks: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        ranks.swap(i, j);
    }
    let mut cum = Vec::with_capacity(n);
    let mut acc = 0.0;
    for &r in &ranks {
        acc += 1.0 / (r as f64 + offset).powf(s);
        cum.push(acc);
    }
    cum
}

/// Writes a generated dataset into `out` (created if missing). See the [module docs](self).
pub fn synth(options: &SynthOptions, out: &Path) -> Result<SynthSummary> {
    let r_total = options.ratings;
    if r_total == 0 {
        return Err(Error::SynthOptions("ratings must be > 0".into()));
    }
    if !(0.0..=0.5).contains(&options.bad_rows) {
        return Err(Error::SynthOptions(format!("bad_rows must be within [0, 0.5], got {}", options.bad_rows)));
    }
    if !(options.noise >= 0.0 && options.noise.is_finite()) {
        return Err(Error::SynthOptions(format!(
            "noise must be a finite standard deviation >= 0, got {}",
            options.noise
        )));
    }
    let n_users = options.users.unwrap_or((r_total / 165).max(5)).max(1) as usize;
    let n_movies = options.movies.unwrap_or(((r_total as f64).sqrt() * 30.0) as u64).max(20) as usize;
    // Each user may rate at most a fifth of the movies (so distinct sampling stays cheap).
    let cap = (n_movies / 5).max(1) as u64;
    if r_total > cap * n_users as u64 {
        return Err(Error::SynthOptions(format!(
            "{r_total} ratings do not fit {n_users} users x {cap} movies each (a fifth of {n_movies}); add users or movies"
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut files = Vec::new();
    tracing::info!(ratings = r_total, users = n_users, movies = n_movies, seed = options.seed, "generating data");

    // Directors and movies.
    let n_directors = (n_movies / 4).max(5);
    let director_cum = zipf_cum(n_directors, 0.8, 2.0, &mut rng);
    let director_effect: Vec<f64> = (0..n_directors).map(|_| normal(&mut rng, 0.3)).collect();
    let popularity = zipf_cum(n_movies, 1.0, 3.0, &mut rng);
    let age_exp = Exp::new(1.0 / 18.0).map_err(|e| Error::SynthOptions(e.to_string()))?;
    let mut movies = Vec::with_capacity(n_movies);
    for i in 0..n_movies {
        let age: f64 = age_exp.sample(&mut rng);
        let year = (2018.0 - age).max(1920.0) as i32;
        let mut genres: Vec<usize> = (0..GENRES.len()).filter(|&g| rng.random::<f64>() < GENRES[g].1).collect();
        let no_genre = rng.random::<f64>() < 0.003;
        if no_genre {
            genres.clear();
        } else if genres.is_empty() {
            genres.push(rng.random_range(0..2));
        }
        genres.truncate(4);
        let director = pick(&director_cum, &mut rng);
        // Popular movies are a little better liked.
        let share = (popularity[i] - if i == 0 { 0.0 } else { popularity[i - 1] }) / popularity[n_movies - 1];
        let bias = normal(&mut rng, 0.4) + 0.04 * (share * n_movies as f64).ln().clamp(-3.0, 3.0);
        movies.push(Movie { year, genres, director, bias });
    }

    let (mut w, path) = create(out, "movies.csv", &mut files)?;
    let io = |e| Error::io(&path, e);
    writeln!(w, "movieId,title,genres").map_err(io)?;
    for (i, m) in movies.iter().enumerate() {
        let adj = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
        let noun = NOUNS[rng.random_range(0..NOUNS.len())];
        let title = match rng.random_range(0..10) {
            0 => format!("\"{noun}, The ({})\"", m.year),
            1 => format!("{adj} {noun} {} ({})", rng.random_range(2..5), m.year),
            _ => format!("{adj} {noun} ({})", m.year),
        };
        let genres = if m.genres.is_empty() {
            "(no genres listed)".to_string()
        } else {
            m.genres.iter().map(|&g| GENRES[g].0).collect::<Vec<_>>().join("|")
        };
        writeln!(w, "{},{title},{genres}", i + 1).map_err(io)?;
    }
    w.flush().map_err(io)?;

    let (mut w, path) = create(out, "links.csv", &mut files)?;
    let io = |e| Error::io(&path, e);
    writeln!(w, "movieId,imdbId,tmdbId").map_err(io)?;
    for i in 0..n_movies {
        writeln!(w, "{},{:07},{}", i + 1, 100_000 + 7 * i, 1_000 + i).map_err(io)?;
    }
    w.flush().map_err(io)?;

    let (mut w, path) = create(out, "directors.csv", &mut files)?;
    let io = |e| Error::io(&path, e);
    writeln!(w, "movieId,director").map_err(io)?;
    for (i, m) in movies.iter().enumerate() {
        let d = m.director;
        writeln!(w, "{},{} {} {}", i + 1, FIRST[d % FIRST.len()], LAST[(d / FIRST.len()) % LAST.len()], d + 1)
            .map_err(io)?;
    }
    w.flush().map_err(io)?;

    // Users.
    let mut users = Vec::with_capacity(n_users);
    let (mut w, path) = create(out, "users.csv", &mut files)?;
    let io = |e| Error::io(&path, e);
    writeln!(w, "userId,age,gender,occupation,zip").map_err(io)?;
    for u in 0..n_users {
        let mut affinity = [0.0; 19];
        for a in &mut affinity {
            *a = normal(&mut rng, 0.5);
        }
        users.push(User { bias: normal(&mut rng, 0.35), affinity, start: rng.random_range(START_MIN..START_MAX) });
        let age = rng.random_range(16..70);
        let gender = if rng.random::<f64>() < 0.7 { "M" } else { "F" };
        let occupation = OCCUPATIONS[rng.random_range(0..OCCUPATIONS.len())];
        writeln!(w, "{},{age},{gender},{occupation},{:05}", u + 1, rng.random_range(1000..99_999)).map_err(io)?;
    }
    w.flush().map_err(io)?;

    // Ratings per user: at least min(20, R/U), the rest Zipf-like, capped.
    let min_per = (r_total / n_users as u64).min(20);
    let activity = zipf_cum(n_users, 0.9, 10.0, &mut rng);
    let total_w = activity[n_users - 1];
    let extra = r_total - min_per * n_users as u64;
    let mut counts: Vec<u64> = (0..n_users)
        .map(|u| {
            let wu = activity[u] - if u == 0 { 0.0 } else { activity[u - 1] };
            (min_per + (extra as f64 * wu / total_w) as u64).min(cap)
        })
        .collect();
    let mut assigned: u64 = counts.iter().sum();
    let mut u = 0;
    while assigned < r_total {
        if counts[u] < cap {
            counts[u] += 1;
            assigned += 1;
        }
        u = (u + 1) % n_users;
    }

    let n_bad = (r_total as f64 * options.bad_rows).round() as u64;
    let mut bad_by_reason = BTreeMap::new();
    let (mut w, rpath) = create(out, "ratings.csv", &mut files)?;
    let (mut tw, tpath) = create(out, "tags.csv", &mut files)?;
    let io = |e| Error::io(&rpath, e);
    let tio = |e| Error::io(&tpath, e);
    writeln!(w, "userId,movieId,rating,timestamp").map_err(io)?;
    writeln!(tw, "userId,movieId,tag,timestamp").map_err(tio)?;
    let gap = Exp::new(1.0 / 120.0).map_err(|e| Error::SynthOptions(e.to_string()))?;
    let mut written: u64 = 0;
    let mut next_bad: u64 = 0;
    let mut tags = 0u64;
    let mut chosen: Vec<usize> = Vec::new();
    let mut taken = vec![false; n_movies];
    for (ui, user) in users.iter().enumerate() {
        let k = counts[ui] as usize;
        chosen.clear();
        while chosen.len() < k {
            let m = if rng.random::<f64>() < 0.8 { pick(&popularity, &mut rng) } else { rng.random_range(0..n_movies) };
            if !taken[m] {
                taken[m] = true;
                chosen.push(m);
            }
        }
        chosen.sort_unstable();
        for &m in &chosen {
            taken[m] = false;
            let movie = &movies[m];
            let taste = if movie.genres.is_empty() {
                0.0
            } else {
                movie.genres.iter().map(|&g| user.affinity[g]).sum::<f64>() / movie.genres.len() as f64
            };
            let x = 3.5
                + user.bias
                + movie.bias
                + director_effect[movie.director]
                + taste
                + normal(&mut rng, options.noise);
            let rating = ((x * 2.0).round() / 2.0).clamp(0.5, 5.0);
            let release = (i64::from(movie.year) - 1970) * 365 * DAY + 25 * 3600 * i64::from(movie.year / 4 - 492);
            let days: f64 = gap.sample(&mut rng);
            let mut ts = user.start + (days * DAY as f64) as i64;
            if ts < release {
                ts = release + rng.random_range(30..400) * DAY;
            }
            writeln!(w, "{},{},{:.1},{ts}", ui + 1, m + 1, rating).map_err(io)?;
            written += 1;
            if rng.random::<f64>() < 0.036 {
                let word = TAG_WORDS[(m + rng.random_range(0..3)) % TAG_WORDS.len()];
                writeln!(tw, "{},{},{word},{}", ui + 1, m + 1, ts + 60).map_err(tio)?;
                tags += 1;
            }
            // Bad line k goes after good line (k + 1) * R / (n_bad + 1).
            while next_bad < n_bad && written == (next_bad + 1) * r_total / (n_bad + 1) {
                let kind = BAD_KINDS[(next_bad % BAD_KINDS.len() as u64) as usize];
                let (lu, lm, lt) = (ui + 1, m + 1, ts);
                match kind {
                    RejectReason::FieldCount => writeln!(w, "{lu},{lm},3.0"),
                    RejectReason::NonNumericId => writeln!(w, "u{lu},{lm},3.0,{lt}"),
                    RejectReason::RatingOutOfScale => writeln!(w, "{lu},{lm},7.5,{lt}"),
                    RejectReason::BadTimestamp => writeln!(w, "{lu},{lm},3.0,2015-13-45"),
                    RejectReason::UnknownMovie => writeln!(w, "{lu},{},3.0,{lt}", n_movies + 1_000_000),
                    _ => writeln!(w, "{lu},{lm},1.0,{}", lt + 1),
                }
                .map_err(io)?;
                *bad_by_reason.entry(kind).or_insert(0) += 1;
                next_bad += 1;
            }
        }
    }
    w.flush().map_err(io)?;
    tw.flush().map_err(tio)?;
    tracing::info!(ratings = written, bad = next_bad, tags, "generated data written");
    Ok(SynthSummary {
        ratings: written,
        users: n_users as u64,
        movies: n_movies as u64,
        directors: n_directors as u64,
        tags,
        bad_rows: next_bad,
        bad_by_reason,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_counts() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let o = SynthOptions { ratings: 5_000, seed: 7, bad_rows: 0.01, ..SynthOptions::default() };
        let sa = synth(&o, a.path()).expect("synth a");
        let sb = synth(&o, b.path()).expect("synth b");
        assert_eq!(sa.ratings, 5_000);
        assert_eq!(sa.bad_rows, 50);
        assert_eq!(sa.bad_by_reason.values().sum::<u64>(), 50);
        assert_eq!(sa.bad_by_reason.len(), 6);
        for f in ["ratings.csv", "movies.csv", "tags.csv", "links.csv", "users.csv", "directors.csv"] {
            let x = std::fs::read(a.path().join(f)).expect("read a");
            let y = std::fs::read(b.path().join(f)).expect("read b");
            assert!(x == y, "{f} differs between runs with the same seed");
        }
        assert_eq!(sa.ratings, sb.ratings);
        let c = tempfile::tempdir().expect("tempdir");
        synth(&SynthOptions { seed: 8, ..o }, c.path()).expect("synth c");
        assert_ne!(
            std::fs::read(a.path().join("ratings.csv")).expect("a"),
            std::fs::read(c.path().join("ratings.csv")).expect("c")
        );
    }

    #[test]
    fn rejects_bad_options() {
        let d = tempfile::tempdir().expect("tempdir");
        assert!(synth(&SynthOptions { bad_rows: 0.9, ..SynthOptions::default() }, d.path()).is_err());
        assert!(synth(&SynthOptions { ratings: 0, ..SynthOptions::default() }, d.path()).is_err());
        let too_many = SynthOptions { ratings: 1_000, users: Some(1), movies: Some(20), ..SynthOptions::default() };
        assert!(synth(&too_many, d.path()).is_err());
    }
}
