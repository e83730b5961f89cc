//! Integration tests of reelforest-data against the real datasets in `../shared/datasets`
//! and generated data. Corrupted copies are written to temp directories, never the repo.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use reelforest_core::NoProgress;
use reelforest_core::tables::{self, RAW_TABLES};
use reelforest_data::{DatasetFormat, Error, IngestOptions, IngestReport, RejectReason, ingest};
use reelforest_warehouse::Warehouse;
use std::path::{Path, PathBuf};

fn datasets() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/datasets"))
}

fn warehouse(dir: &tempfile::TempDir) -> Warehouse {
    Warehouse::open(dir.path().join("wh").to_str().expect("utf8")).expect("open warehouse")
}

async fn run(
    source: &Path,
    options: &IngestOptions,
) -> (tempfile::TempDir, Warehouse, reelforest_data::Result<IngestReport>) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let wh = warehouse(&tmp);
    let r = ingest(source, options, &wh, &NoProgress).await;
    (tmp, wh, r)
}

async fn sql_i64(wh: &Warehouse, sql: &str) -> i64 {
    let ctx = SessionContext::new();
    wh.register_all(&ctx).await.expect("register");
    let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// Copies a dataset directory's files into a temp dir so tests can corrupt them.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).expect("copy");
    }
    tmp
}

#[tokio::test]
async fn ml_latest_small_counts() {
    let (_tmp, wh, r) = run(&datasets().join("ml-latest-small"), &IngestOptions::default()).await;
    let report = r.expect("ingest");
    assert_eq!(report.format, DatasetFormat::Csv);
    assert_eq!(report.rows(tables::RATINGS), 100_836);
    assert_eq!(report.rows(tables::USERS), 610);
    assert_eq!(report.rows(tables::MOVIES), 9_742);
    assert_eq!(report.rows(tables::LINKS), 9_742);
    assert_eq!(report.rows(tables::TAGS), 3_683);
    assert_eq!(report.total_rejected, 0, "{:?}", report.first_rejections);
    assert!(report.committed);
    let catalog = wh.catalog().await.expect("catalog");
    let names: Vec<&str> = catalog.iter().map(|m| m.name.as_str()).collect();
    for t in RAW_TABLES {
        assert!(names.contains(&t), "{t} missing from catalog");
    }
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM ratings").await, 100_836);
    assert_eq!(sql_i64(&wh, "SELECT count(DISTINCT movie_id) FROM ratings").await, 9_724);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM links WHERE tmdb_id IS NULL").await, 8);
    assert_eq!(sql_i64(&wh, "SELECT CAST(year AS BIGINT) FROM movies WHERE movie_id = 1").await, 1995);
    assert_eq!(
        sql_i64(&wh, "SELECT count(*) FROM movie_genres WHERE movie_id = 1").await,
        5,
        "Toy Story: Adventure|Animation|Children|Comedy|Fantasy"
    );
    // `(no genres listed)` becomes no genre rows.
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM movie_genres WHERE genre = '(no genres listed)'").await, 0);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM users WHERE age IS NULL").await, 610);
}

#[tokio::test]
async fn ml_100k_counts_and_splits() {
    let (_tmp, wh, r) = run(&datasets().join("ml-100k"), &IngestOptions::default()).await;
    let report = r.expect("ingest");
    assert_eq!(report.format, DatasetFormat::Ml100k);
    assert_eq!(report.rows(tables::RATINGS), 100_000);
    assert_eq!(report.rows(tables::USERS), 943);
    assert_eq!(report.rows(tables::MOVIES), 1_682);
    assert_eq!(report.total_rejected, 0, "{:?}", report.first_rejections);
    assert_eq!(report.rows(tables::PREDEFINED_SPLITS), 700_000);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM predefined_splits WHERE split = 'u1' AND NOT is_test").await, 80_000);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM predefined_splits WHERE split = 'u1' AND is_test").await, 20_000);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM users WHERE age IS NOT NULL").await, 943);
    // Latin-1 titles decode.
    let ctx = SessionContext::new();
    wh.register_all(&ctx).await.expect("register");
    let b = ctx
        .sql("SELECT title, year FROM movies WHERE title LIKE 'Mis%rables%'")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let titles: Vec<String> = b
        .iter()
        .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert!(titles.contains(&"Misérables, Les (1995)".to_string()), "{titles:?}");
}

/// Inserts `lines` after data line `after` (1-based, header excluded) of `path`.
fn inject(path: &Path, after: usize, lines: &[&str]) {
    let text = std::fs::read(path).expect("read");
    let mut out = Vec::new();
    for (n, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        out.extend_from_slice(line);
        if n == after {
            for l in lines {
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    std::fs::write(path, out).expect("write");
}

const BAD_RATINGS: [(&str, RejectReason); 6] = [
    ("1,1,4.0", RejectReason::FieldCount),
    ("x1,1,4.0,964982703", RejectReason::NonNumericId),
    ("1,2,6.0,964982703", RejectReason::RatingOutOfScale),
    ("1,2,4.0,yesterday", RejectReason::BadTimestamp),
    ("1,999999,4.0,964982703", RejectReason::UnknownMovie),
    ("1,1,5.0,964982703", RejectReason::DuplicatePair),
];

#[tokio::test]
async fn corrupted_copy_quarantines_every_bad_line() {
    let src = copy_dir(&datasets().join("ml-latest-small"));
    let lines: Vec<&str> = BAD_RATINGS.iter().map(|(l, _)| *l).collect();
    inject(&src.path().join("ratings.csv"), 1000, &lines);
    inject(&src.path().join("movies.csv"), 10, &["abc,Bad Movie (2000),Drama"]);

    let (_tmp, wh, r) = run(src.path(), &IngestOptions::default()).await;
    let report = r.expect("non-strict ingest succeeds");
    assert_eq!(report.rows(tables::RATINGS), 100_836, "every good rating kept");
    assert_eq!(report.rows(tables::MOVIES), 9_742);
    for (_, reason) in BAD_RATINGS {
        assert_eq!(report.rejected(tables::RATINGS, reason), 1, "{reason}");
    }
    assert_eq!(report.rejected(tables::MOVIES, RejectReason::NonNumericId), 1);
    assert_eq!(report.total_rejected, 7);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM ratings").await, 100_836);

    let q = String::from_utf8(wh.get("raw/ratings.quarantine.tsv").await.expect("quarantine")).expect("utf8");
    let rows: Vec<&str> = q.lines().collect();
    assert_eq!(rows[0], "file\tline\treason\ttext");
    assert_eq!(rows.len(), 7);
    for (i, (line, reason)) in BAD_RATINGS.iter().enumerate() {
        // Header is line 1, data line 1000 is file line 1001, injected lines follow.
        assert_eq!(rows[i + 1], format!("ratings.csv\t{}\t{reason}\t{line}", 1002 + i));
    }
    assert_eq!(report.tables[tables::RATINGS].quarantine.as_deref(), Some("raw/ratings.quarantine.tsv"));
    let mq = String::from_utf8(wh.get("raw/movies.quarantine.tsv").await.expect("movie quarantine")).expect("utf8");
    assert!(mq.contains("movies.csv\t12\tnon_numeric_id\tabc,Bad Movie (2000),Drama"), "{mq}");
    assert_eq!(report.first_rejections.len(), 7);
    serde_json::to_string(&report).expect("report serializes");

    // Strict: refuses with a readable message and commits nothing.
    let strict = IngestOptions { strict: true, ..IngestOptions::default() };
    let (_tmp2, wh2, r) = run(src.path(), &strict).await;
    let err = r.expect_err("strict ingest fails");
    let msg = err.to_string();
    assert!(matches!(err, Error::Rejected { .. }));
    assert!(msg.contains("rejected 7 line(s)"), "{msg}");
    assert!(msg.contains("ratings.csv:1002: field_count"), "{msg}");
    assert!(msg.contains("duplicate_pair"), "{msg}");
    assert!(wh2.catalog().await.expect("catalog").is_empty(), "strict failure committed tables");
}

fn small_dataset(dir: &Path, ratings: &[u8], movies: &[u8]) {
    std::fs::write(dir.join("ratings.csv"), ratings).expect("write ratings");
    std::fs::write(dir.join("movies.csv"), movies).expect("write movies");
}

#[tokio::test]
async fn bom_crlf_quotes_and_nbsp() {
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(
        dir.path(),
        b"\xEF\xBB\xBFuserId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,2,3.5,964982704\r\n2,1,5.0,964982705\r\n",
        "\u{feff}movieId,title,genres\r\n1,\"American President, The (1995)\u{a0} \",Comedy|Drama\r\n2,Heat (1995),(no genres listed)\r\n"
            .as_bytes(),
    );
    let (_tmp, wh, r) = run(dir.path(), &IngestOptions::default()).await;
    let report = r.expect("ingest");
    assert_eq!(report.total_rejected, 0, "{:?}", report.first_rejections);
    assert_eq!(report.rows(tables::RATINGS), 3);
    assert_eq!(report.rows(tables::MOVIES), 2);
    assert_eq!(report.rows(tables::USERS), 2);
    assert_eq!(report.rows(tables::MOVIE_GENRES), 2);
    assert_eq!(
        sql_i64(&wh, "SELECT count(*) FROM movies WHERE title = 'American President, The (1995)' AND year = 1995")
            .await,
        1
    );
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM movies WHERE genres = ''").await, 1);
    // Empty tables still exist with their columns.
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM tags").await, 0);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM predefined_splits").await, 0);
}

#[tokio::test]
async fn layout_errors_are_clear() {
    // Forcing the wrong layout names the files that layout expects.
    let err = run(
        &datasets().join("ml-latest-small"),
        &IngestOptions { format: Some(DatasetFormat::Dat), ..Default::default() },
    )
    .await
    .2
    .expect_err("wrong layout");
    let msg = err.to_string();
    assert!(matches!(err, Error::WrongLayout { .. }), "{msg}");
    assert!(msg.contains("looks like a csv dataset") && msg.contains("ratings.dat"), "{msg}");

    // A file whose contents are another layout.
    let dir = tempfile::tempdir().expect("tempdir");
    small_dataset(dir.path(), b"1::1::4::964982703\n", b"1::Toy Story (1995)::Animation\n");
    let err = run(dir.path(), &IngestOptions::default()).await.2.expect_err("dat content in csv files");
    assert!(matches!(err, Error::FileLayout { .. }), "{err}");
    assert!(err.to_string().contains("'::'-separated"), "{err}");

    // Missing file.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("ratings.csv"), b"userId,movieId,rating,timestamp\n1,1,4.0,1\n").expect("write");
    let err = run(dir.path(), &IngestOptions::default()).await.2.expect_err("missing movies");
    assert!(matches!(err, Error::MissingFile { .. }), "{err}");
    assert!(err.to_string().contains("movies.csv is missing"), "{err}");

    // Empty files: zero bytes, or a header and nothing else.
    for movies in [&b""[..], b"movieId,title,genres\r\n"] {
        let dir = tempfile::tempdir().expect("tempdir");
        small_dataset(dir.path(), b"userId,movieId,rating,timestamp\n1,1,4.0,1\n", movies);
        let err = run(dir.path(), &IngestOptions::default()).await.2.expect_err("empty movies");
        assert!(matches!(err, Error::EmptyFile { .. }), "{err}");
        assert!(err.to_string().contains("movies.csv is empty"), "{err}");
    }

    // Nothing recognisable.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), b"hi").expect("write");
    let err = run(dir.path(), &IngestOptions::default()).await.2.expect_err("unknown");
    assert!(matches!(err, Error::UnknownLayout { .. }), "{err}");
}

#[tokio::test]
async fn imdb_metadata_joins_through_links() {
    let options =
        IngestOptions { metadata: Some(datasets().join("imdb-5000/movie_metadata.csv")), ..Default::default() };
    let (_tmp, wh, r) = run(&datasets().join("ml-latest-small"), &options).await;
    let report = r.expect("ingest");
    let meta = report.metadata.as_ref().expect("metadata report");
    assert_eq!(meta.joined_on, "imdb_id");
    assert_eq!(meta.rows, 5_043);
    assert_eq!(meta.rows - meta.duplicates_collapsed - meta.unkeyed, 4_919, "distinct imdb links");
    assert!(meta.matched_movies > 1_000, "{meta:?}");
    assert_eq!(report.rows(tables::MOVIE_META), meta.matched_movies);
    assert_eq!(report.total_rejected, 0);
    // Avatar (tt0499549) is movie 72998 in ml-latest-small.
    assert_eq!(
        sql_i64(
            &wh,
            "SELECT count(*) FROM movie_meta WHERE movie_id = 72998 AND director = 'James Cameron' AND imdb_score = 7.9"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn imdb_metadata_joins_ml_100k_on_title_and_year() {
    let options =
        IngestOptions { metadata: Some(datasets().join("imdb-5000/movie_metadata.csv")), ..Default::default() };
    let (_tmp, _wh, r) = run(&datasets().join("ml-100k"), &options).await;
    let report = r.expect("ingest");
    let meta = report.metadata.as_ref().expect("metadata report");
    assert_eq!(meta.joined_on, "title_year");
    assert!(meta.matched_movies > 100, "{meta:?}");
    assert_eq!(report.rows(tables::MOVIE_META), meta.matched_movies);
}

#[tokio::test]
async fn synth_round_trips_through_ingest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = reelforest_data::SynthOptions { ratings: 20_000, seed: 3, bad_rows: 0.003, ..Default::default() };
    let summary = reelforest_data::synth(&options, dir.path()).expect("synth");
    assert_eq!(summary.bad_rows, 60);
    let (_tmp, wh, r) = run(dir.path(), &IngestOptions::default()).await;
    let report = r.expect("ingest");
    assert_eq!(report.rows(tables::RATINGS), summary.ratings);
    assert_eq!(report.rows(tables::USERS), summary.users);
    assert_eq!(report.rows(tables::MOVIES), summary.movies);
    assert_eq!(report.rows(tables::LINKS), summary.movies);
    assert_eq!(report.rows(tables::TAGS), summary.tags);
    assert_eq!(report.rows(tables::MOVIE_META), summary.movies, "directors.csv lands in movie_meta");
    for reason in RejectReason::ALL {
        assert_eq!(
            report.rejected(tables::RATINGS, reason),
            summary.bad_by_reason.get(&reason).copied().unwrap_or(0),
            "{reason}"
        );
    }
    assert_eq!(report.total_rejected, summary.bad_rows);
    assert_eq!(sql_i64(&wh, "SELECT count(*) FROM users WHERE age IS NOT NULL").await, summary.users as i64);
    // Ratings carry learnable structure: user means spread well beyond noise.
    let ctx = SessionContext::new();
    wh.register_all(&ctx).await.expect("register");
    let b = ctx
        .sql("SELECT min(rating), max(rating), avg(rating), stddev(m) FROM ratings, (SELECT avg(rating) AS m FROM ratings GROUP BY user_id)")
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let f = |i: usize| b[0].column(i).as_primitive::<datafusion::arrow::datatypes::Float64Type>().value(0);
    assert_eq!((f(0), f(1)), (0.5, 5.0));
    assert!((2.8..4.2).contains(&f(2)), "mean {}", f(2));
    assert!(f(3) > 0.25, "user means spread {}", f(3));
}

mod download {
    use super::datasets;
    use reelforest_core::NoProgress;
    use reelforest_data::download::sha256_file;
    use reelforest_data::{Error, KnownDataset, download_with};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::Path;

    /// Zips `ml-100k` as GroupLens does (`ml-100k/<file>`) into `dir`.
    fn build_zip(dir: &Path) -> Vec<u8> {
        let path = dir.join("ml-100k.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create zip"));
        let opts = zip::write::SimpleFileOptions::default();
        let src = datasets().join("ml-100k");
        let mut names: Vec<_> = std::fs::read_dir(&src).expect("read").map(|e| e.expect("entry").file_name()).collect();
        names.sort();
        zip.add_directory("ml-100k/", opts).expect("dir");
        for n in names {
            zip.start_file(format!("ml-100k/{}", n.to_string_lossy()), opts).expect("start");
            zip.write_all(&std::fs::read(src.join(&n)).expect("read file")).expect("write");
        }
        zip.finish().expect("finish");
        std::fs::read(path).expect("read zip")
    }

    /// Serves one HTTP/1.1 response per connection: `Content-Length: announced`, then `body`,
    /// then closes. Returns the base URL.
    fn serve(body: Vec<u8>, announced: usize, connections: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(connections) {
                let Ok(mut s) = stream else { continue };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {announced}\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
                let _ = s.flush();
            }
        });
        format!("http://{addr}/datasets/movielens/")
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn downloads_verifies_and_unpacks() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bytes = build_zip(tmp.path());
        let mut spec = KnownDataset::Ml100k.spec();
        spec.size = Some(bytes.len() as u64);
        spec.sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)));
        let base = serve(bytes.clone(), bytes.len(), 1);
        let to = tmp.path().join("data");
        let dir = download_with(&spec, &to, &base, &NoProgress).expect("download");
        assert_eq!(dir, to.join("ml-100k"));
        assert_eq!(
            sha256_file(&dir.join("u.data")).expect("hash"),
            "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
        );
        assert!(dir.join("u1.test").is_file());
        assert_eq!(leftovers(&to), vec!["ml-100k".to_string()], "no temp files left");
        // A second download into the same place refuses instead of mixing files.
        let err = download_with(&spec, &to, &base, &NoProgress).expect_err("exists");
        assert!(matches!(err, Error::TargetExists { .. }), "{err}");
    }

    #[test]
    fn truncated_download_fails_cleanly() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bytes = build_zip(tmp.path());
        let spec = KnownDataset::Ml100k.spec();
        let half = bytes[..bytes.len() / 2].to_vec();
        let base = serve(half, bytes.len(), 1);
        let to = tmp.path().join("data");
        let err = download_with(&spec, &to, &base, &NoProgress).expect_err("truncated");
        assert!(matches!(err, Error::Truncated { .. } | Error::Http { .. }), "{err}");
        assert!(err.to_string().contains("ml-100k.zip"), "{err}");
        assert!(leftovers(&to).is_empty(), "left behind: {:?}", leftovers(&to));
    }

    #[test]
    fn checksum_mismatch_fails_cleanly() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let bytes = build_zip(tmp.path());
        let mut spec = KnownDataset::Ml100k.spec();
        spec.sha256 = Some("00".repeat(32));
        let base = serve(bytes.clone(), bytes.len(), 1);
        let to = tmp.path().join("data");
        let err = download_with(&spec, &to, &base, &NoProgress).expect_err("checksum");
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        assert!(leftovers(&to).is_empty(), "left behind: {:?}", leftovers(&to));
    }
}
