#!/usr/bin/env python3
"""Spark SQL running reelforest's feature SQL on the same raw tables: the preprocessing peer.

Purpose
    Peer program for issue 7's side-by-side driver (bench/run.sh): how long does Spark SQL
    (`local[2]`) take to build the same honest feature tables that `reelforest features` builds with
    embedded DataFusion?

What it runs (the same pipeline, translated mechanically, not re-written by hand)
    The SQL is read at run time from reelforest's own templates, `crates/features/sql/*.sql`, in
    the order of `crates/features/src/pipeline.rs` (split, global statistics, genres, movie_static,
    user_static, the five out-of-fold statistics, train, test, the three serving lookups). The
    placeholders are rendered the way `crates/features/src/sql.rs` renders them, and the text is
    translated to Spark's dialect by these rules only:
      - `"ident"` (DataFusion's quoted identifier) -> `` `ident` `` (Spark's);
      - decimal literals such as `1.0` get a `D` suffix (Spark reads `1.0` as DECIMAL, DataFusion
        as DOUBLE);
      - `rf_bucket(user, movie, seed)` (a Rust UDF in reelforest) becomes the same splitmix64 hash
        written with Spark's built-in long arithmetic (`^`, `*`, `shiftrightunsigned`), with
        `spark.sql.ansi.enabled=false` so that BIGINT multiplication wraps like Rust's
        `wrapping_mul`, as a chain of projections over the table the call's SELECT reads
        (`bucket_source`). No Python UDF is involved, so Spark is not slowed by Python workers, and
        the split and the out-of-fold assignment are bit-for-bit reelforest's.
      - `<run>.<step>` table names become temporary views `<run>__<step>`.
    Every step is materialised to Parquet and read back, as reelforest does (each step a table
    of the warehouse). Extra per-(user, movie) feature tables (`extra_feature_tables`) are not
    supported here (the benchmark jobs have none).

Same honest protocol: per-user / per-movie / per-director / per-occupation / per-(user, genre)
aggregates from training rows only, out-of-fold (5 folds by hash) for training rows, full-training
for test rows, shrunk toward the global mean with prior strength m.

Input: the raw tables reelforest ingested (`<warehouse>/raw/<table>/*.parquet`), so both sides
start from the same Parquet files. Output: `<out>/<run>/<step>/` Parquet directories.

Check (outside the timed region, with --compare-run): Spark's train and test tables are compared
with reelforest's `<warehouse>/features/<run>/{train,test}` row by row after sorting by
(user_id, movie_id): same keys, same columns, max absolute difference per column (float sums in a
different order may differ in the last bits). The JSON says whether they match.

Output JSON: total seconds (first step to last table written; the session start is reported
separately), per-step seconds, row counts, the comparison, JVM CPU seconds and peak RSS.

Usage
    bench/.venv/bin/python bench/peers/spark_features.py --warehouse WH --out DIR
        [--run honest] [--split random|temporal|predefined] [--split-name u1] [--test-fraction 0.2]
        [--folds 5] [--seed 42] [--good-threshold 4.0] [--prior-strength 10.0] [--leaky]
        [--master local[2]] [--driver-memory 4g] [--compare-run honest] [--result FILE]
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spark_common  # noqa: E402
from sklearn_rf import emit  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SQL_DIR = os.path.join(REPO, "crates", "features", "sql")
MASK = (1 << 64) - 1
RAW = ["ratings", "movies", "movie_genres", "users", "tags", "movie_meta", "predefined_splits"]
BASE_FEATURES = [
    "avg_user_rating", "user_rating_count", "user_rating_std", "avg_movie_rating", "rating_count",
    "movie_rating_std", "user_genre_affinity", "release_year", "movie_age", "user_age", "user_gender",
    "occupation_index", "occupation_mean", "director_mean", "director_count", "movie_tag_count",
    "user_tag_count",
]


def die(msg: str) -> None:
    print(f"spark_features.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


# ---- reelforest's helpers, in Python ------------------------------------------------------------
def splitmix64(x: int) -> int:  # crates/features/src/udf.rs
    z = (x + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def signed(x: int) -> int:
    return x - (1 << 64) if x >= 1 << 63 else x


def long_lit(x: int) -> str:
    return f"({signed(x & MASK)}L)"


def bucket_source(source: str, user: str, movie: str, seed: int) -> str:
    """`source` (a table or view name) with one more column, __rf_bucket = rf_bucket(user, movie, seed).

    splitmix64(splitmix64(splitmix64(seed) ^ user) ^ movie) >> 11, times 2^-53, written as a chain of
    projections, one arithmetic step each: every step reads the previous one twice, and Spark
    keeps such projections apart (CollapseProject does not inline a non-trivial expression used
    more than once), so each step is computed once per row. (Written as one inlined expression
    the text grows 2^8-fold, and Spark measured 1.3-1.6x slower with it.)"""
    h0 = signed(splitmix64(seed & MASK))
    sql = f"SELECT *, ({long_lit(h0)} ^ CAST({user} AS BIGINT)) AS __rfb_x0 FROM {source}"
    for k, mixin in ((0, movie), (1, None)):  # splitmix64(x0) ^ movie, then splitmix64 of that
        sql = f"SELECT *, (__rfb_x{k} + {long_lit(0x9E3779B97F4A7C15)}) AS __rfb_z{k}a FROM ({sql}) __rfb_{k}a"
        z = f"__rfb_z{k}a"
        for name, shift, mult in (("b", 30, 0xBF58476D1CE4E5B9), ("c", 27, 0x94D049BB133111EB)):
            sql = (f"SELECT *, (({z} ^ shiftrightunsigned({z}, {shift})) * {long_lit(mult)}) AS __rfb_z{k}{name} "
                   f"FROM ({sql}) __rfb_{k}{name}")
            z = f"__rfb_z{k}{name}"
        mixed = f"(({z} ^ shiftrightunsigned({z}, 31)) ^ CAST({mixin} AS BIGINT))" if mixin else f"({z} ^ shiftrightunsigned({z}, 31))"
        sql = f"SELECT *, {mixed} AS {'__rfb_x1' if mixin else '__rfb_h'} FROM ({sql}) __rfb_{k}x"
    return (f"(SELECT *, (CAST(shiftrightunsigned(__rfb_h, 11) AS DOUBLE) * {1.0 / float(1 << 53)!r}D) AS __rf_bucket "
            f"FROM ({sql}) __rfb_out)")


def genre_column_name(genre: str) -> str:  # crates/features/src/run.rs
    s, pending = "", False
    for c in genre:
        if c.isascii() and c.isalnum():
            if pending and s:
                s += "_"
            pending = False
            s += c.lower()
        else:
            pending = True
    s = (s or "unnamed")[:50]
    return f"genre_{s}"


def genre_columns(genres: list[str]) -> list[tuple[str, str]]:
    used, out = set(), []
    for g in genres:
        base = genre_column_name(g)
        col, k = base, 2
        while col in used:
            col, k = f"{base}_{k}", k + 1
        used.add(col)
        out.append((g, col))
    return out


def float_lit(v: float) -> str:  # sql.rs float_literal: exact shortest repr
    if not math.isfinite(v):
        die(f"{v} is not finite")
    return f"CAST('{v!r}' AS DOUBLE)"


def int_lit(v: int) -> str:
    return f"({v})"


# ---- template loading and translation -----------------------------------------------------------
_comment = re.compile(r"--[^\n]*")
_dquote = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"')
_decimal = re.compile(r"(?<![\w.'])(\d+\.\d+)(?![\w.])")
_bucket = re.compile(r"rf_bucket\(\s*([\w.]+)\s*,\s*([\w.]+)\s*,\s*\(?\s*(-?\d+)\s*\)?\s*\)")
_placeholder = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_from = re.compile(r"FROM\s+(`[\w]+`|[A-Za-z_]\w*)(?=\s|\)|$)")


def template(name: str) -> str:
    path = os.path.join(SQL_DIR, name)
    if not os.path.isfile(path):
        die(f"{path} not found (this program reads reelforest's SQL templates from the repository)")
    with open(path) as f:
        return translate(_comment.sub("", f.read()))


def translate(sql: str) -> str:
    sql = _dquote.sub(r"`\1`", sql)
    return _decimal.sub(r"\1D", sql)


def render(text: str, params: dict) -> str:
    def sub(m):
        key = m.group(1)
        if key not in params:
            die(f"placeholder {{{{{key}}}}} has no value")
        return params[key]

    out = _placeholder.sub(sub, text)
    m = _bucket.search(out)
    if m is None:
        return out
    if len(_bucket.findall(out)) != 1:
        die("more than one rf_bucket call in one template: not supported by this translation")
    # rf_bucket(u, m, seed) -> the column __rf_bucket of the chained source that replaces the
    # first `FROM <table>` after the call (the SELECT the call belongs to, in split_random.sql and
    # rows.sql)
    out = out[: m.start()] + "__rf_bucket" + out[m.end():]
    f = _from.search(out, m.start())
    if f is None:
        die("rf_bucket: no FROM <table> after the call")
    src = bucket_source(f.group(1), m.group(1), m.group(2), int(m.group(3)))
    return out[: f.start()] + f"FROM {src} " + f.group(1).strip("`") + out[f.end():]


# ---- the pipeline -------------------------------------------------------------------------------
class Pipeline:
    def __init__(self, spark, out: str, run: str):
        self.spark, self.out, self.run = spark, out, run
        self.steps: list[dict] = []

    def view(self, step: str) -> str:
        return f"`{self.run}__{step}`"

    def materialise(self, step: str, sql: str) -> int:
        t0 = time.perf_counter()
        path = os.path.join(self.out, self.run, step)
        self.spark.sql(sql).write.mode("overwrite").parquet(path)
        df = self.spark.read.parquet(path)
        df.createOrReplaceTempView(f"{self.run}__{step}")
        rows = df.count()  # from Parquet metadata: cheap
        self.steps.append({"step": step, "seconds": time.perf_counter() - t0, "rows": rows})
        return rows

    def collect(self, step: str, sql: str):
        t0 = time.perf_counter()
        rows = self.spark.sql(sql).collect()
        self.steps.append({"step": step, "seconds": time.perf_counter() - t0, "rows": len(rows)})
        return rows


def build(p: Pipeline, a) -> dict:
    spark = p.spark
    # split
    if a.split == "random":
        sql = render(template("split_random.sql"), {"seed": int_lit(a.seed), "test_fraction": float_lit(a.test_fraction)})
    elif a.split == "temporal":
        sql = render(template("split_temporal.sql"), {"test_fraction": float_lit(a.test_fraction)})
    else:
        names = [r[0] for r in spark.sql(template("predefined_names.sql")).collect()]
        if a.split_name not in names:
            die(f"unknown split {a.split_name!r}; available: {names}")
        sql = render(template("split_predefined.sql"), {"name": "'" + a.split_name.replace("'", "''") + "'"})
    p.materialise("split", sql)
    split = p.view("split")

    fold_seed = signed(splitmix64((a.seed ^ 0x0F01D5EED0F01D5E) & MASK))
    rows = render(
        template("rows.sql"),
        {"split": split, "honest": "FALSE" if a.leaky else "TRUE", "fold_seed": int_lit(fold_seed), "folds": int_lit(a.folds)},
    )
    g = p.collect("global statistics", render(template("global_stats.sql"), {"rows": rows}))[0]
    n_stat = g["n_stat"]
    if not n_stat:
        die("no training rows")
    mean = g["s"] / n_stat
    var = max(g["ss"] / n_stat - mean * mean, 0.0)
    sigma = math.sqrt(var)
    m = a.prior_strength

    p.materialise("genres", template("genres.sql"))
    genres = [r[0] for r in p.collect("genre list", f"SELECT genre FROM {p.view('genres')} ORDER BY idx")]
    gcols = genre_columns(genres)
    pivot = "".join(
        f",\n           max(CASE WHEN gl.idx = {i} THEN 1.0D ELSE 0.0D END) AS `{c}`" for i, (_, c) in enumerate(gcols)
    )

    def genre_select(alias):
        return "".join(f",\n           coalesce({alias}.`{c}`, 0.0D) AS `{c}`" for _, c in gcols)

    p.materialise(
        "movie_static",
        render(template("movie_static.sql"), {"genres": p.view("genres"), "genre_pivot": pivot, "genre_select": genre_select("f")}),
    )
    p.materialise("user_static", render(template("user_static.sql"), {}))

    oof = [
        ("user_oof", "keyed_user.sql", ["user_id"]),
        ("movie_oof", "keyed_movie.sql", ["movie_id"]),
        ("director_oof", "keyed_director.sql", ["director"]),
        ("occupation_oof", "keyed_occupation.sql", ["occupation"]),
        ("user_genre_oof", "keyed_user_genre.sql", ["user_id", "genre"]),
    ]
    for step, keyed_t, keys in oof:
        keyed = render(template(keyed_t), {"rows": rows, "movie_static": p.view("movie_static"), "user_static": p.view("user_static")})
        sql = render(
            template("oof_stats.sql"),
            {
                "keyed": keyed,
                "keys": ", ".join(keys),
                "p_keys": ", ".join(f"p.{k}" for k in keys),
                "key_join": " AND ".join(f"p.{k} = t.{k}" for k in keys),
                "m": float_lit(m),
                "mu": float_lit(mean),
                "var": float_lit(var),
            },
        )
        p.materialise(step, sql)

    tables = {t: p.view(t) for t in ["user_oof", "movie_oof", "director_oof", "occupation_oof", "user_genre_oof", "movie_static", "user_static"]}
    stats = {"m": float_lit(m), "mu": float_lit(mean), "sigma": float_lit(sigma)}
    counts = {}
    for step, test_part in (("train", False), ("test", True)):
        core = render(
            template("assemble.sql"),
            {
                "rows": rows,
                "test_part": "TRUE" if test_part else "FALSE",
                "good_threshold": float_lit(a.good_threshold),
                "genre_select": genre_select("ms"),
                "genre_columns": "".join(f",\n       `{c}`" for _, c in gcols),
                **tables,
                **stats,
            },
        )
        sql = render(template("final.sql"), {"core": core, "extra_columns": "", "extra_joins": ""})
        counts[step] = p.materialise(step, sql)
    p.materialise("online_users", render(template("online_users.sql"), {**tables, **stats}))
    p.materialise("online_movies", render(template("online_movies.sql"), {**tables, **stats, "genre_select": genre_select("ms")}))
    p.materialise("online_user_genre", render(template("online_user_genre.sql"), tables))
    return {
        "train_rows": counts["train"],
        "test_rows": counts["test"],
        "global_mean": mean,
        "global_std": sigma,
        "feature_columns": BASE_FEATURES + [c for _, c in gcols],
    }


def compare(spark_dir: str, warehouse: str, run: str, cols: list[str]) -> dict:
    """Spark's train/test vs reelforest's, sorted by (user_id, movie_id)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def read(files):
        t = pa.concat_tables([pq.read_table(f) for f in files])
        return t.sort_by([("user_id", "ascending"), ("movie_id", "ascending")])

    out = {"run": run, "tables": {}, "match": True}
    for part in ("train", "test"):
        rf_files = sorted(glob.glob(os.path.join(warehouse, "features", run, part, "*.parquet")))
        sp_files = sorted(glob.glob(os.path.join(spark_dir, part, "*.parquet")))
        if not rf_files or not sp_files:
            out["tables"][part] = {"error": "missing files"}
            out["match"] = False
            continue
        rf, sp = read(rf_files), read(sp_files)
        entry = {"rows_reelforest": rf.num_rows, "rows_spark": sp.num_rows}
        same_keys = rf.num_rows == sp.num_rows and all(
            np.array_equal(rf.column(k).to_numpy(), sp.column(k).to_numpy()) for k in ("user_id", "movie_id")
        )
        entry["same_keys"] = bool(same_keys)
        missing = [c for c in cols + ["rating", "good"] if c not in sp.column_names or c not in rf.column_names]
        entry["missing_columns"] = missing
        worst, worst_col, null_mismatch = 0.0, None, []
        if same_keys:
            for c in cols + ["rating", "good"]:
                if c in missing:
                    continue
                x = rf.column(c).cast("float64").to_numpy(zero_copy_only=False)
                y = sp.column(c).cast("float64").to_numpy(zero_copy_only=False)
                nx, ny = np.isnan(x), np.isnan(y)
                if not np.array_equal(nx, ny):
                    null_mismatch.append(c)
                    continue
                d = float(np.max(np.abs(x[~nx] - y[~ny]))) if (~nx).any() else 0.0
                if d > worst:
                    worst, worst_col = d, c
        entry["max_abs_diff"] = worst
        entry["max_abs_diff_column"] = worst_col
        entry["null_mismatch_columns"] = null_mismatch
        entry["match"] = bool(same_keys and not missing and not null_mismatch and worst <= 1e-9)
        out["match"] = out["match"] and entry["match"]
        out["tables"][part] = entry
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--warehouse", required=True, help="reelforest warehouse with raw/ tables (input)")
    ap.add_argument("--out", required=True, help="directory for Spark's tables (overwritten)")
    ap.add_argument("--run", default="honest")
    ap.add_argument("--split", choices=["random", "temporal", "predefined"], default="random")
    ap.add_argument("--split-name", default=None)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--good-threshold", type=float, default=4.0)
    ap.add_argument("--prior-strength", type=float, default=10.0)
    ap.add_argument("--leaky", action="store_true")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default=os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    ap.add_argument("--compare-run", default=None, help="compare with reelforest's <warehouse>/features/<run>")
    ap.add_argument("--result", default=None, help="also write the JSON here")
    a = ap.parse_args()
    if a.split == "predefined" and not a.split_name:
        die("--split predefined needs --split-name")

    raw = {}
    for t in RAW:
        d = os.path.join(a.warehouse, "raw", t)
        if not glob.glob(os.path.join(d, "*.parquet")):
            die(f"raw table {t} not found at {d} (run `reelforest data ingest` first)")
        raw[t] = d
    if os.path.isdir(os.path.join(a.out, a.run)):
        shutil.rmtree(os.path.join(a.out, a.run))

    spark, start_seconds = spark_common.start(
        "reelforest-bench-spark-features", a.master, a.driver_memory,
        {"spark.sql.ansi.enabled": "false", "spark.sql.parquet.compression.codec": "snappy"},
    )
    jvm = spark_common.Jvm(spark)
    t0 = time.perf_counter()
    for t, d in raw.items():
        spark.read.parquet(d).createOrReplaceTempView(t)
    p = Pipeline(spark, a.out, a.run)
    j0 = jvm.cpu_seconds()
    info = build(p, a)
    total = time.perf_counter() - t0
    j1 = jvm.cpu_seconds()
    result = {
        "peer": "spark-sql",
        "spark_version": spark.version,
        "master": a.master,
        "driver_memory": a.driver_memory,
        "session_start_seconds": start_seconds,
        "warehouse": os.path.abspath(a.warehouse),
        "run": a.run,
        "spec": {
            "split": a.split, "split_name": a.split_name, "test_fraction": a.test_fraction, "folds": a.folds,
            "seed": a.seed, "good_threshold": a.good_threshold, "prior_strength": a.prior_strength,
            "protocol": "leaky" if a.leaky else "honest",
        },
        "features_seconds": total,
        "features_cpu_seconds": (j1 - j0) if j0 is not None and j1 is not None else None,
        "steps": p.steps,
        **{k: v for k, v in info.items() if k != "feature_columns"},
        "n_features": len(info["feature_columns"]),
        "jvm_peak_rss_mib": jvm.peak_rss_mib(),
    }
    spark_common.stop(spark, jvm)
    if a.compare_run:
        result["compare"] = compare(os.path.join(a.out, a.run), a.warehouse, a.compare_run, info["feature_columns"])
    emit(result, a.result)

if __name__ == "__main__":
    main()
