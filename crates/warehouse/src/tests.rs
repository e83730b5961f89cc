use super::*;
use datafusion::arrow::array::{Float64Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("rating", DataType::Float64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(Float64Array::from(vec![4.0, 3.5, 5.0]))],
    )
    .expect("valid batch")
}

#[tokio::test]
async fn write_register_query_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = Warehouse::open(dir.path().to_str().expect("utf8")).expect("open");
    let b = batch();
    let mut w = wh.writer("raw", "ratings", b.schema()).await.expect("writer");
    w.write(&b).await.expect("write");
    let m = w.finish("test").await.expect("finish");
    assert_eq!(m.row_count, 3);
    assert_eq!(m.sql_name(), "ratings");

    let ctx = SessionContext::new();
    let names = wh.register_all(&ctx).await.expect("register");
    assert_eq!(names, vec!["ratings".to_string()]);
    let df = ctx.sql("SELECT sum(rating) AS s FROM ratings").await.expect("plan");
    let out = df.collect().await.expect("run");
    let s = out[0].column(0).as_any().downcast_ref::<Float64Array>().expect("f64").value(0);
    assert!((s - 12.5).abs() < 1e-12);

    // A derived table through DataFusion lands in a run namespace, queryable as run.table.
    let df = ctx.sql("SELECT user_id, rating * 2 AS r2 FROM ratings").await.expect("plan");
    let m2 = wh.write_dataframe("demo", "doubled", df, "test").await.expect("write df");
    assert_eq!(m2.row_count, 3);
    let ctx = SessionContext::new();
    wh.register_all(&ctx).await.expect("register");
    let query = "SELECT count(*) AS n, sum(r2) AS s FROM demo.doubled";
    let out = ctx.sql(query).await.expect("plan").collect().await.expect("run");
    assert_eq!(out.iter().map(RecordBatch::num_rows).sum::<usize>(), 1, "one result row");
    let n = out[0].column(0).as_any().downcast_ref::<Int64Array>().expect("count is BIGINT").value(0);
    assert_eq!(n, 3, "every row of the derived table was written");
    let s = out[0].column(1).as_any().downcast_ref::<Float64Array>().expect("f64").value(0);
    assert_eq!(s, 25.0, "the derived values, not just the row count: 2 * (4.0 + 3.5 + 5.0)");
}

#[tokio::test]
async fn missing_table_and_bad_names_are_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = Warehouse::open(dir.path().to_str().expect("utf8")).expect("open");
    let err = wh.manifest("raw", "ratings").await.expect_err("missing");
    assert!(err.to_string().contains("table raw.ratings"), "{err}");
    let err = wh.writer("raw", "bad-name", batch().schema()).await.expect_err("bad name");
    assert!(matches!(err, Error::InvalidName { .. }));
    let err = Warehouse::open("ftp://x/y").expect_err("scheme");
    assert!(err.to_string().contains("unsupported scheme"), "{err}");
    assert!(
        matches!(&err, Error::Location { problem: LocationProblem::UnsupportedScheme(s), .. } if s == "ftp"),
        "{err:?}"
    );
}

#[tokio::test]
async fn schema_mismatch_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wh = Warehouse::open(dir.path().to_str().expect("utf8")).expect("open");
    let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let mut w = wh.writer("raw", "t", other).await.expect("writer");
    let err = w.write(&batch()).await.expect_err("mismatch");
    assert!(matches!(err, Error::SchemaMismatch { .. }));
}

#[tokio::test]
async fn file_urls_and_paths_open_the_same_warehouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let by_path = Warehouse::open(dir.path().to_str().expect("utf8")).expect("open path");
    let b = batch();
    let mut w = by_path.writer("raw", "ratings", b.schema()).await.expect("writer");
    w.write(&b).await.expect("write");
    w.finish("test").await.expect("finish");
    let url = url::Url::from_directory_path(dir.path()).expect("url");
    let by_url = Warehouse::open(url.as_str()).expect("open url");
    assert_eq!(by_url.root(), by_path.root());
    let m = by_url.manifest("raw", "ratings").await.expect("manifest via file://");
    assert_eq!(m.row_count, 3);
}

#[test]
fn s3_locations_and_settings_are_checked_before_any_request() {
    let ok = S3Options::with_endpoint("http://127.0.0.1:1", "k", "s");
    let err = Warehouse::open_with("s3://Bad_Bucket/x", &ok).expect_err("bucket name");
    assert!(err.to_string().contains("invalid bucket name"), "{err}");
    let err = Warehouse::open_with("s3:///x", &ok).expect_err("no bucket");
    assert!(err.to_string().contains("no bucket"), "{err}");
    let plain_http = S3Options { allow_http: false, ..ok.clone() };
    let err = Warehouse::open_with("s3://bucket/x", &plain_http).expect_err("http");
    assert!(err.to_string().contains("AWS_ALLOW_HTTP"), "{err}");
    let wh = Warehouse::open_with("s3a://bucket/team/wh/", &ok).expect("no request made yet");
    assert!(wh.is_s3());
    assert_eq!(wh.root().as_str(), "s3://bucket/team/wh/");
    assert_eq!(wh.url("raw/ratings/").expect("url").as_str(), "s3://bucket/team/wh/raw/ratings/");
    assert_eq!(wh.object_path("raw/ratings/part-0.parquet").as_ref(), "team/wh/raw/ratings/part-0.parquet");
}

#[tokio::test]
async fn an_unreachable_endpoint_names_bucket_endpoint_and_cause() {
    // Bind then drop: nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let wh =
        Warehouse::open_with("s3://reelforest-wh/x", &S3Options::with_endpoint(&endpoint, "k", "s")).expect("open");
    let err = wh.catalog().await.expect_err("nothing listens");
    let Error::S3 { problem: S3Problem::Unreachable(_), .. } = &err else {
        panic!("expected Unreachable, got {err:?}")
    };
    let text = err.to_string();
    assert!(text.contains("\"reelforest-wh\"") && text.contains(&endpoint), "{text}");
    assert!(text.contains("cannot connect") && !text.contains('\n'), "{text}");
    // Nothing was cached: the next call tries again.
    assert!(wh.exists("x").await.is_err());
}
