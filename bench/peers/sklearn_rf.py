#!/usr/bin/env python3
"""scikit-learn random forests on the exact feature tables reelforest wrote.

Purpose
    Peer program for the forest benchmarks (issue 3: "our test RMSE within 0.01 of scikit-learn's
    RandomForestRegressor with the same parameters"; issue 7: side-by-side driver). It reads a
    reelforest feature run straight from the warehouse, with no reelforest code in between:

        <warehouse>/features/<run>/features.json        feature_columns (order), label, good_label
        <warehouse>/features/<run>/train/*.parquet      training rows
        <warehouse>/features/<run>/test/*.parquet       test rows

    rows sorted by (user_id, movie_id) like reelforest's loader, feature columns in the order of
    `feature_columns`, labels `rating` (regression) and `good` (classification, 0/1). It trains
    RandomForestRegressor / RandomForestClassifier with Spark MLlib's parameters mapped as below and
    prints (and optionally writes) one JSON document with test metrics, fit/predict seconds, CPU
    seconds and peak RSS.

Parameter mapping (Spark / reelforest -> scikit-learn)
    numTrees                -> n_estimators
    maxDepth                -> max_depth            (same convention: root at depth 0)
    minInstancesPerNode     -> min_samples_leaf
    featureSubsetStrategy   -> max_features as an INTEGER computed with Spark's rounding
                               (auto = onethird for regression, sqrt for classification;
                               onethird = ceil(n/3), sqrt = ceil(sqrt(n)), log2 = max(1, ceil(log2 n)),
                               fraction f = ceil(f*n), all = n). sklearn's own float/"sqrt" rounding
                               floors, so an int is passed to get exactly the same subset size.
    bootstrap=True          -> bootstrap=True (sklearn draws n rows with replacement; Spark/reelforest
                               use Poisson(1) weights -- the same distribution asymptotically)
    impurity variance/gini  -> criterion squared_error / gini
    minInfoGain = 0         -> min_impurity_decrease = 0
    seed                    -> random_state
    maxBins                 -> (none: sklearn splits on exact thresholds; see --prebin)
    n_jobs                  -> 2 by default (the benchmark machine's cores)

Missing values
    scikit-learn >= 1.4 random forests accept NaN natively (they learn the missing direction per
    split), which matches reelforest's missing bin. With an older scikit-learn, NaN are replaced by
    the sentinel --nan-sentinel (default -1e9, below every feature's range) and the JSON says so.
    The feature tables are normally NULL-free (unknown users/movies get shrunk priors); the JSON
    reports the NaN count actually seen.

Usage
    bench/.venv/bin/python bench/peers/sklearn_rf.py --warehouse OUT/warehouse [--run honest]
        [--tasks regression,classification] [--num-trees 100] [--max-depth 10]
        [--feature-subset auto] [--min-instances-per-node 1] [--seed 42] [--n-jobs 2]
        [--prebin 32] [--out result.json]

    --prebin N  (investigation only) replaces every feature by its quantile-bin index with N bins
                computed on the training rows, to separate the effect of binning from the rest.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import resource
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import sklearn
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn import metrics as skm


def die(msg: str) -> None:
    print(f"sklearn_rf.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read_table(warehouse: str, run: str, table: str, columns: list[str]):
    files = sorted(glob.glob(os.path.join(warehouse, "features", run, table, "*.parquet")))
    if not files:
        die(f"no Parquet files in {os.path.join(warehouse, 'features', run, table)}")
    import pyarrow as pa

    t = pa.concat_tables([pq.read_table(f, columns=["user_id", "movie_id"] + columns) for f in files])
    t = t.sort_by([("user_id", "ascending"), ("movie_id", "ascending")])
    return t


def to_matrix(t, cols: list[str]) -> np.ndarray:
    # NULL -> NaN, everything as float64 (reelforest casts every feature to Float64 too).
    return np.column_stack(
        [t.column(c).cast("float64").to_numpy(zero_copy_only=False) for c in cols]
    ).astype(np.float64, copy=False)


def spark_subset_size(strategy: str, n: int, task: str, num_trees: int) -> int:
    s = strategy.strip().lower()
    if s == "auto":
        if num_trees == 1:
            s = "all"
        else:
            s = "onethird" if task == "regression" else "sqrt"
    if s == "all":
        k = n
    elif s == "onethird":
        k = math.ceil(n / 3.0)
    elif s == "sqrt":
        k = math.ceil(math.sqrt(n))
    elif s == "log2":
        k = max(1, math.ceil(math.log2(n)))
    else:
        try:
            if "." in s:
                f = float(s)
                if not 0.0 < f <= 1.0:
                    raise ValueError
                k = math.ceil(f * n)
            else:
                k = int(s)
                if k < 1:
                    raise ValueError
        except ValueError:
            die(f"--feature-subset: expected auto|all|onethird|sqrt|log2|<fraction>|<n>, got {strategy!r}")
    return max(1, min(n, k))


def prebin(train: np.ndarray, test: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantile-bin every column on the training rows (investigation aid, not reelforest's exact edges)."""
    tr = np.empty_like(train)
    te = np.empty_like(test)
    for j in range(train.shape[1]):
        col = train[:, j]
        vals = col[~np.isnan(col)]
        uniq = np.unique(vals)
        if len(uniq) <= bins:
            edges = (uniq[:-1] + uniq[1:]) / 2.0
        else:
            qs = np.quantile(vals, np.linspace(0, 1, bins + 1)[1:-1])
            edges = np.unique(qs)
        for src, dst in ((train, tr), (test, te)):
            c = src[:, j]
            out = np.searchsorted(edges, c, side="left").astype(np.float64)
            out[np.isnan(c)] = np.nan
            dst[:, j] = out
    return tr, te


def regression_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    mse = float(np.mean((y - p) ** 2))
    return {
        "rows": int(len(y)),
        "rmse": math.sqrt(mse),
        "mse": mse,
        "mae": float(np.mean(np.abs(y - p))),
        "r2": float(skm.r2_score(y, p)),
        "explained_variance": float(skm.explained_variance_score(y, p)),
    }


def classification_metrics(y: np.ndarray, proba1: np.ndarray, pred: np.ndarray) -> dict:
    two = len(np.unique(y)) == 2
    return {
        "rows": int(len(y)),
        "accuracy": float(skm.accuracy_score(y, pred)),
        "precision": float(skm.precision_score(y, pred, zero_division=0)),
        "recall": float(skm.recall_score(y, pred, zero_division=0)),
        "f1": float(skm.f1_score(y, pred, zero_division=0)),
        "weighted_f1": float(skm.f1_score(y, pred, average="weighted", zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y, proba1)) if two else None,
        # average precision (step-wise PR AUC); reelforest's pr_auc may interpolate differently.
        "pr_auc": float(skm.average_precision_score(y, proba1)) if two else None,
        "log_loss": float(skm.log_loss(y, np.column_stack([1 - proba1, proba1]), labels=[0, 1])),
        "confusion": skm.confusion_matrix(y, pred, labels=[0, 1]).astype(float).tolist(),
    }


# ---- shared by every Python peer (lightgbm_gbm.py, spark_rf.py, bench/lib/export_matrix.py) -------
def add_common_args(ap: argparse.ArgumentParser) -> None:
    """The arguments every forest peer takes, with reelforest's / Spark's names and defaults."""
    ap.add_argument("--warehouse", required=True, help="warehouse root (a directory)")
    ap.add_argument("--run", default="honest", help="feature run name (default honest)")
    ap.add_argument("--tasks", default="regression,classification")
    ap.add_argument("--num-trees", type=int, default=100)
    ap.add_argument("--max-depth", type=int, default=10)
    ap.add_argument("--feature-subset", default="auto", help="Spark featureSubsetStrategy")
    ap.add_argument("--min-instances-per-node", type=int, default=1)
    ap.add_argument("--impurity", default=None, help="classification: gini (default) or entropy")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="also write the JSON here")


def parse_tasks(text: str) -> list[str]:
    tasks = [t.strip() for t in text.split(",") if t.strip()]
    for t in tasks:
        if t not in ("regression", "classification"):
            die(f"--tasks: unknown task {t!r} (regression, classification)")
    return tasks


def run_meta(warehouse: str, run: str) -> tuple[list[str], str, str]:
    """(feature columns in order, label column, good-label column) of a feature run."""
    fj = os.path.join(warehouse, "features", run, "features.json")
    if not os.path.isfile(fj):
        die(f"{fj} not found: is --warehouse a reelforest warehouse with feature run {run!r}?")
    with open(fj) as f:
        meta = json.load(f)
    return list(meta["feature_columns"]), meta.get("label", "rating"), meta.get("good_label", "good")


def load_features(warehouse: str, run: str):
    """(cols, X_train, X_test, y_train, y_test, load_seconds); y_* map task -> labels."""
    cols, label, good = run_meta(warehouse, run)
    t0 = time.perf_counter()
    train = read_table(warehouse, run, "train", [label, good] + cols)
    test = read_table(warehouse, run, "test", [label, good] + cols)
    X_train, X_test = to_matrix(train, cols), to_matrix(test, cols)
    y_train = {"regression": to_matrix(train, [label])[:, 0], "classification": to_matrix(train, [good])[:, 0]}
    y_test = {"regression": to_matrix(test, [label])[:, 0], "classification": to_matrix(test, [good])[:, 0]}
    return cols, X_train, X_test, y_train, y_test, time.perf_counter() - t0


def score(model, task: str, X_test: np.ndarray, y_te: np.ndarray) -> tuple[dict, float, float]:
    """Predict the test rows with a scikit-learn-style model: (metrics, predict seconds, predict CPU seconds)."""
    c0, w0 = cpu_seconds(), time.perf_counter()
    if task == "regression":
        p = model.predict(X_test)
        predict_seconds = time.perf_counter() - w0
        test_metrics = regression_metrics(y_te, p)
    else:
        proba = model.predict_proba(X_test)
        predict_seconds = time.perf_counter() - w0
        classes = list(model.classes_)
        proba1 = proba[:, classes.index(1)] if 1 in classes else np.zeros(len(y_te))
        pred = np.asarray(classes)[np.argmax(proba, axis=1)]
        test_metrics = classification_metrics(y_te, proba1, pred)
    return test_metrics, predict_seconds, cpu_seconds() - c0


def fit_and_score(model, task: str, X_train, y_tr, X_test, y_te) -> dict:
    """Fit, then predict the test rows: test metrics, wall / CPU seconds of both, throughput, peak RSS."""
    c0, w0 = cpu_seconds(), time.perf_counter()
    model.fit(X_train, y_tr)
    fit_seconds, fit_cpu = time.perf_counter() - w0, cpu_seconds() - c0
    rss_after_fit = peak_rss_mib()
    test_metrics, predict_seconds, predict_cpu = score(model, task, X_test, y_te)
    return {
        "test": test_metrics,
        "fit_seconds": fit_seconds,
        "fit_cpu_seconds": fit_cpu,
        "predict_seconds": predict_seconds,
        "predict_cpu_seconds": predict_cpu,
        "predict_rows_per_second": len(y_te) / predict_seconds if predict_seconds > 0 else None,
        "peak_rss_mib_after_fit": rss_after_fit,
    }


def run_summary(args, X_train: np.ndarray, X_test: np.ndarray, cols: list[str]) -> dict:
    """The part of a peer's JSON that says what it read."""
    return {
        "python": platform.python_version(),
        "warehouse": os.path.abspath(args.warehouse),
        "run": args.run,
        "train_rows": int(X_train.shape[0]),
        "test_rows": int(X_test.shape[0]),
        "n_features": len(cols),
    }


def emit(doc: dict, path: str | None) -> None:
    """Print the result JSON (and write it to `path`)."""
    text = json.dumps(doc, indent=2, default=str)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--prebin", type=int, default=0, help="investigation: quantile-bin features first")
    ap.add_argument("--nan-sentinel", type=float, default=-1e9)
    args = ap.parse_args()

    tasks = parse_tasks(args.tasks)
    cols, X_train, X_test, y_train, y_test, load_seconds = load_features(args.warehouse, args.run)

    nan_train, nan_test = int(np.isnan(X_train).sum()), int(np.isnan(X_test).sum())
    sk_version = tuple(int(x) for x in sklearn.__version__.split(".")[:2])
    native_nan = sk_version >= (1, 4)
    nan_handling = "native (sklearn>=1.4)" if native_nan else f"sentinel {args.nan_sentinel}"
    if not native_nan and (nan_train or nan_test):
        X_train = np.where(np.isnan(X_train), args.nan_sentinel, X_train)
        X_test = np.where(np.isnan(X_test), args.nan_sentinel, X_test)
    if args.prebin:
        X_train, X_test = prebin(X_train, X_test, args.prebin)

    out = {
        "peer": "scikit-learn",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        **run_summary(args, X_train, X_test, cols),
        "nan_values": {"train": nan_train, "test": nan_test, "handling": nan_handling},
        "prebin": args.prebin or None,
        "load_seconds": load_seconds,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")},
        "tasks": [],
    }

    for task in tasks:
        k = spark_subset_size(args.feature_subset, len(cols), task, args.num_trees)
        common = dict(
            n_estimators=args.num_trees,
            max_depth=args.max_depth,
            min_samples_leaf=args.min_instances_per_node,
            max_features=k,
            bootstrap=True,
            n_jobs=args.n_jobs,
            random_state=args.seed,
        )
        if task == "regression":
            model = RandomForestRegressor(criterion="squared_error", **common)
        else:
            model = RandomForestClassifier(criterion=args.impurity or "gini", **common)
        y_tr, y_te = y_train[task], y_test[task]
        if task == "classification":
            y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)

        timed = fit_and_score(model, task, X_train, y_tr, X_test, y_te)
        total_nodes = int(sum(e.tree_.node_count for e in model.estimators_))
        out["tasks"].append(
            {
                "task": task,
                "params": {
                    "n_estimators": args.num_trees,
                    "max_depth": args.max_depth,
                    "min_samples_leaf": args.min_instances_per_node,
                    "max_features": k,
                    "feature_subset_strategy": args.feature_subset,
                    "criterion": model.criterion,
                    "bootstrap": True,
                    "n_jobs": args.n_jobs,
                    "random_state": args.seed,
                },
                **timed,
                "total_num_nodes": total_nodes,
            }
        )
        del model

    out["peak_rss_mib"] = peak_rss_mib()
    emit(out, args.out)


if __name__ == "__main__":
    main()
