#!/usr/bin/env python3
"""Spark MLlib random forests (and a CrossValidator) on the exact feature tables reelforest wrote.

Purpose
    Peer program for issue 7's side-by-side driver (bench/run.sh). It reads a reelforest feature run
    straight from the warehouse with Spark's own Parquet reader, no reelforest code in between:

        <warehouse>/features/<run>/features.json        feature_columns (order), label, good_label
        <warehouse>/features/<run>/train/*.parquet      training rows
        <warehouse>/features/<run>/test/*.parquet       test rows

    assembles the feature columns (in features.json order) into a vector, and trains
    `pyspark.ml.regression.RandomForestRegressor` / `pyspark.ml.classification.RandomForestClassifier`
    on `local[2]`. With --cv it instead runs `pyspark.ml.tuning.CrossValidator` over a grid (the
    driver passes the grid of the reelforest tuning job), refits the best point on the whole
    training table (CrossValidator does) and scores it on the test table.

Parameters (reelforest's report.json -> Spark; reelforest uses Spark's names and semantics)
    numTrees, maxDepth, maxBins, minInstancesPerNode, minInfoGain, subsamplingRate,
    featureSubsetStrategy, bootstrap, seed: passed unchanged.
    impurity: variance (regression), gini (classification) unless given.
    Everything else is Spark's default (maxMemoryInMB 256, cacheNodeIds false, checkpointInterval 10).

Timing (in-process, reported per task)
    load_seconds       read Parquet + assemble + cache + count (not part of fit)
    fit_seconds        wall time of `estimator.fit(train)` on the cached DataFrame
    fit_cpu_seconds    CPU time of the driver JVM during fit (from /proc: the JVM is where Spark works)
    predict_seconds    `model.transform(test)` + collecting (user, movie, prediction[, P(good)]) to the
                       driver: what a batch scoring job needs before writing results
    peak_rss_mib       the JVM's VmHWM (largest resident set) and this Python process's, separately

Missing values
    Spark's trees do not handle NaN. NULL features (a handful of rows: unknown release year or
    gender) are replaced by --nan-sentinel (-1e9, below every feature's range), so a split can still
    send them to one side; the JSON reports how many were seen.

Metrics: computed with the same functions as sklearn_rf.py (scikit-learn's metric code) on the
collected predictions sorted by (user_id, movie_id), so every peer is scored identically.

Usage
    bench/.venv/bin/python bench/peers/spark_rf.py --warehouse OUT/warehouse [--run honest]
        [--tasks regression,classification] [--num-trees 100] [--max-depth 10] [--max-bins 32]
        [--feature-subset auto] [--min-instances-per-node 1] [--seed 42] [--master local[2]]
        [--driver-memory 4g] [--out result.json]
        [--cv-folds 3 --cv-grid 'maxDepth=6,10;numTrees=20,50' --cv-seed 7
         --cv-metric-regression rmse --cv-metric-classification areaUnderROC]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spark_common  # noqa: E402
from sklearn_rf import (  # noqa: E402
    add_common_args, classification_metrics, die, emit, parse_tasks, peak_rss_mib, regression_metrics, run_meta,
)

INT_PARAMS = ("numTrees", "maxDepth", "maxBins", "minInstancesPerNode")
FLOAT_PARAMS = ("subsamplingRate", "minInfoGain")


def parse_grid(text: str) -> dict:
    grid = {}
    for part in [p for p in text.split(";") if p.strip()]:
        name, _, values = part.partition("=")
        name = name.strip()
        vals = [v.strip() for v in values.split(",") if v.strip()]
        if not vals:
            die(f"--cv-grid: {name} has no values")
        if name in INT_PARAMS:
            grid[name] = [int(v) for v in vals]
        elif name in FLOAT_PARAMS:
            grid[name] = [float(v) for v in vals]
        elif name in ("featureSubsetStrategy", "impurity"):
            grid[name] = vals
        else:
            die(f"--cv-grid: unsupported parameter {name!r}")
    return grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap)
    ap.add_argument("--max-bins", type=int, default=32)
    ap.add_argument("--min-info-gain", type=float, default=0.0)
    ap.add_argument("--subsampling-rate", type=float, default=1.0)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default=os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
    ap.add_argument("--nan-sentinel", type=float, default=-1e9)
    ap.add_argument("--cv-folds", type=int, default=0, help="run a CrossValidator with this many folds")
    ap.add_argument("--cv-grid", default="", help="e.g. 'maxDepth=6,10;numTrees=20,50'")
    ap.add_argument("--cv-seed", type=int, default=7)
    ap.add_argument("--cv-metric-regression", default="rmse")
    ap.add_argument("--cv-metric-classification", default="areaUnderROC")
    args = ap.parse_args()

    run_dir = os.path.join(args.warehouse, "features", args.run)
    cols, label, good = run_meta(args.warehouse, args.run)
    tasks = parse_tasks(args.tasks)
    grid = parse_grid(args.cv_grid) if args.cv_folds else {}

    spark, start_seconds = spark_common.start("reelforest-bench-spark-rf", args.master, args.driver_memory)
    jvm = spark_common.Jvm(spark)
    import pyspark
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.evaluation import BinaryClassificationEvaluator, RegressionEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.regression import RandomForestRegressor
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from pyspark.sql import functions as F

    def load(part: str):
        path = os.path.join(run_dir, part)
        df = spark.read.parquet(path).select(
            "user_id", "movie_id", F.col(label).cast("double").alias("label_rating"),
            F.col(good).cast("double").alias("label_good"), *[F.col(c).cast("double").alias(c) for c in cols]
        )
        nulls = df.select([F.sum(F.when(F.col(c).isNull() | F.isnan(c), 1).otherwise(0)).alias(c) for c in cols]).first()
        n_null = int(sum(v or 0 for v in nulls))
        df = df.na.fill(args.nan_sentinel, subset=cols)  # fills NULL and NaN of numeric columns
        df = VectorAssembler(inputCols=cols, outputCol="features").transform(df)
        # One Parquet file reads as one partition: spread the rows over the master's cores, or MLlib
        # trains on one core (the runs before this line was added did: see the notes).
        df = df.select("user_id", "movie_id", "label_rating", "label_good", "features").repartition(partitions).cache()
        rows = df.count()
        return df, rows, n_null

    partitions = spark_common.parallelism_of(args.master)
    t0 = time.perf_counter()
    train, train_rows, null_train = load("train")
    test, test_rows, null_test = load("test")
    load_seconds = time.perf_counter() - t0

    out = {
        "peer": "spark-mllib",
        "spark_version": spark.version,
        "pyspark_version": pyspark.__version__,
        "python": platform.python_version(),
        "master": args.master,
        "driver_memory": args.driver_memory,
        "partitions": partitions,
        "session_start_seconds": start_seconds,
        "warehouse": os.path.abspath(args.warehouse),
        "run": args.run,
        "train_rows": train_rows,
        "test_rows": test_rows,
        "n_features": len(cols),
        "nan_values": {"train": null_train, "test": null_test, "handling": f"sentinel {args.nan_sentinel}"},
        "load_seconds": load_seconds,
        "cv": None,
        "tasks": [],
    }

    for task in tasks:
        common = dict(
            featuresCol="features",
            numTrees=args.num_trees,
            maxDepth=args.max_depth,
            maxBins=args.max_bins,
            minInstancesPerNode=args.min_instances_per_node,
            minInfoGain=args.min_info_gain,
            subsamplingRate=args.subsampling_rate,
            featureSubsetStrategy=args.feature_subset,
            bootstrap=True,
            seed=args.seed,
        )
        if task == "regression":
            est = RandomForestRegressor(labelCol="label_rating", impurity="variance", **common)
            evaluator = RegressionEvaluator(labelCol="label_rating", metricName=args.cv_metric_regression)
        else:
            est = RandomForestClassifier(labelCol="label_good", impurity=args.impurity or "gini", **common)
            evaluator = BinaryClassificationEvaluator(
                labelCol="label_good", rawPredictionCol="rawPrediction", metricName=args.cv_metric_classification
            )
        cv_info = None
        j0, w0 = jvm.cpu_seconds(), time.perf_counter()
        if args.cv_folds:
            pg = ParamGridBuilder()
            for name, values in grid.items():
                pg = pg.addGrid(est.getParam(name), values)
            maps = pg.build()
            cv = CrossValidator(
                estimator=est, estimatorParamMaps=maps, evaluator=evaluator, numFolds=args.cv_folds,
                seed=args.cv_seed, parallelism=1,
            )
            cv_model = cv.fit(train)
            model = cv_model.bestModel
            points = []
            for pm, metric in zip(maps, cv_model.avgMetrics):
                points.append({"params": {p.name: v for p, v in pm.items()}, "mean": float(metric)})
            best_i = int(np.argmax(cv_model.avgMetrics) if evaluator.isLargerBetter() else np.argmin(cv_model.avgMetrics))
            cv_info = {
                "folds": args.cv_folds,
                "seed": args.cv_seed,
                "metric": evaluator.getMetricName(),
                "grid": grid,
                "points": points,
                "best": points[best_i],
                "fits": args.cv_folds * len(maps) + 1,
            }
        else:
            model = est.fit(train)
        fit_seconds = time.perf_counter() - w0
        j1 = jvm.cpu_seconds()
        fit_cpu = (j1 - j0) if j0 is not None and j1 is not None else None
        rss_after_fit = jvm.peak_rss_mib()

        j0, w0 = jvm.cpu_seconds(), time.perf_counter()
        pred = model.transform(test)
        if task == "regression":
            pdf = pred.select("user_id", "movie_id", "label_rating", "prediction").toPandas()
        else:
            pdf = pred.select(
                "user_id", "movie_id", "label_good", "prediction",
                vector_to_array("probability")[1].alias("p1"),
            ).toPandas()
        predict_seconds = time.perf_counter() - w0
        j1 = jvm.cpu_seconds()
        pdf = pdf.sort_values(["user_id", "movie_id"], kind="stable")
        if task == "regression":
            test_metrics = regression_metrics(pdf["label_rating"].to_numpy(), pdf["prediction"].to_numpy())
        else:
            y = pdf["label_good"].to_numpy().astype(np.int64)
            test_metrics = classification_metrics(y, pdf["p1"].to_numpy(), pdf["prediction"].to_numpy().astype(np.int64))
        params = {p.name: v for p, v in model.extractParamMap().items() if p.name in (
            "numTrees", "maxDepth", "maxBins", "minInstancesPerNode", "minInfoGain", "subsamplingRate",
            "featureSubsetStrategy", "bootstrap", "seed", "impurity", "maxMemoryInMB", "cacheNodeIds")}
        out["tasks"].append(
            {
                "task": task,
                "params": params,
                "test": test_metrics,
                "fit_seconds": fit_seconds,
                "fit_cpu_seconds": fit_cpu,
                "predict_seconds": predict_seconds,
                "predict_cpu_seconds": (j1 - j0) if j0 is not None and j1 is not None else None,
                "predict_rows_per_second": len(pdf) / predict_seconds if predict_seconds > 0 else None,
                "jvm_peak_rss_mib_after_fit": rss_after_fit,
                "total_num_nodes": int(model.totalNumNodes),
                "cv": cv_info,
            }
        )

    out["jvm_peak_rss_mib"] = jvm.peak_rss_mib()
    out["python_peak_rss_mib"] = peak_rss_mib()
    spark_common.stop(spark, jvm)
    emit(out, args.out)

if __name__ == "__main__":
    main()
