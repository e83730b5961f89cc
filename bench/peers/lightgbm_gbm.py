#!/usr/bin/env python3
"""LightGBM on the exact feature tables reelforest wrote: the accuracy reference.

Purpose
    Peer program for issue 7's side-by-side driver (bench/run.sh). A user choosing a tree model for
    these features might pick gradient boosting instead of a random forest; this program shows what
    LightGBM reaches on the same rows and columns, and how fast. It is **not** the same model as
    reelforest's / Spark's / scikit-learn's random forest, so its fit time is not a like-for-like
    ratio; its metrics are the reference.

    Input, read with pyarrow exactly like bench/peers/sklearn_rf.py (shared helpers imported from
    there): <warehouse>/features/<run>/{features.json, train/*.parquet, test/*.parquet}, rows sorted
    by (user_id, movie_id), features in the order of feature_columns, labels rating / good.

Parameters (documented, not tuned on the test split)
    n_estimators        = --num-trees (the forest's numTrees, 100 in the ml-100k job)
    learning_rate 0.1, num_leaves 31, max_depth -1, min_child_samples 20, max_bin 255
                        (LightGBM's defaults)
    n_jobs              = --n-jobs (2), deterministic=True, force_row_wise=True, seed = --seed
    objective           regression (L2) / binary; NULL features stay NaN (LightGBM's native missing
                        value handling).

Output: one JSON document on stdout (and --out), the same shape as sklearn_rf.py's: per task test
metrics, fit / predict wall and CPU seconds, prediction throughput, peak RSS.

Usage
    bench/.venv/bin/python bench/peers/lightgbm_gbm.py --warehouse OUT/warehouse [--run honest]
        [--tasks regression,classification] [--num-trees 100] [--seed 42] [--n-jobs 2] [--out F]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sklearn_rf import (  # noqa: E402  (shared loader and metrics: one definition for every peer)
    add_common_args,
    die,
    emit,
    fit_and_score,
    load_features,
    parse_tasks,
    peak_rss_mib,
    run_summary,
)

import lightgbm as lgb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(ap)  # --max-depth, --feature-subset, ... are accepted and not used (see the docstring)
    ap.add_argument("--learning-rate", type=float, default=0.1)
    ap.add_argument("--num-leaves", type=int, default=31)
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()

    tasks = parse_tasks(args.tasks)
    cols, X_train, X_test, y_train, y_test, load_seconds = load_features(args.warehouse, args.run)

    out = {
        "peer": "lightgbm",
        "lightgbm_version": lgb.__version__,
        **run_summary(args, X_train, X_test, cols),
        "nan_values": {
            "train": int(np.isnan(X_train).sum()),
            "test": int(np.isnan(X_test).sum()),
            "handling": "native (LightGBM missing values)",
        },
        "load_seconds": load_seconds,
        "tasks": [],
    }
    for task in tasks:
        params = dict(
            n_estimators=args.num_trees,
            learning_rate=args.learning_rate,
            num_leaves=args.num_leaves,
            max_depth=-1,
            min_child_samples=20,
            max_bin=255,
            n_jobs=args.n_jobs,
            random_state=args.seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        if task == "regression":
            model = lgb.LGBMRegressor(objective="regression", **params)
            y_tr, y_te = y_train[task], y_test[task]
        elif task == "classification":
            model = lgb.LGBMClassifier(objective="binary", **params)
            y_tr, y_te = y_train[task].astype(np.int64), y_test[task].astype(np.int64)
        else:
            die(f"--tasks: unknown task {task!r}")  # parse_tasks checked already
        out["tasks"].append(
            {
                "task": task,
                "params": {k: v for k, v in params.items() if k != "verbose"},
                **fit_and_score(model, task, X_train, y_tr, X_test, y_te),
            }
        )
        del model
    out["peak_rss_mib"] = peak_rss_mib()
    emit(out, args.out)

if __name__ == "__main__":
    main()
