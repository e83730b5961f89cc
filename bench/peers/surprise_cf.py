"""Surprise's SVD and KNNBaseline on a ratings file pair: peers of reelforest's biased matrix
factorisation and item-kNN (bench/cf_peers.sh).

Reads tab- or comma-separated `user item rating [time]` files (ml-100k's u1.base / u1.test) and
fits one algorithm, timed from the built trainset to the fitted model:
- `svd`: Surprise's SVD with its defaults (biased MF by SGD: 100 factors, 20 epochs);
- `knn`: KNNBaseline, item-based, `pearson_baseline` similarity with shrinkage 100, k = 40,
  min_k = 1, ALS baselines (reg_u 15, reg_i 10, 10 epochs): reelforest's `KnnParams` defaults.
Test rows whose user or item has no training rating are dropped and predictions are not
clipped, as on the reelforest side. Prints one JSON line.
Usage: surprise_cf.py TRAIN TEST svd|knn [SEED]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd


def read(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, sep=None, engine="python", header=None, usecols=[0, 1, 2])
    df.columns = ["user", "item", "rating"]
    return df


def main() -> None:
    train_path, test_path, which = sys.argv[1:4]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 42
    from surprise import SVD, Dataset, KNNBaseline, Reader

    train = read(train_path)
    test = read(test_path)
    data = Dataset.load_from_df(train, Reader(rating_scale=(1, 5)))
    trainset = data.build_full_trainset()
    if which == "svd":
        algo = SVD(random_state=seed)
    elif which == "knn":
        algo = KNNBaseline(
            k=40,
            min_k=1,
            sim_options={"name": "pearson_baseline", "user_based": False, "shrinkage": 100},
            bsl_options={"method": "als", "reg_u": 15, "reg_i": 10, "n_epochs": 10},
            verbose=False,
        )
    else:
        raise SystemExit(f"unknown algorithm {which} (svd, knn)")
    t0 = time.perf_counter()
    algo.fit(trainset)
    fit_seconds = time.perf_counter() - t0
    se, rows, dropped = 0.0, 0, 0
    for u, i, r in test.itertuples(index=False):
        if u not in trainset._raw2inner_id_users or i not in trainset._raw2inner_id_items:
            dropped += 1
            continue
        est = algo.predict(u, i, clip=False).est
        se += (est - r) ** 2
        rows += 1
    print(json.dumps({
        "peer": "surprise",
        "model": which,
        "fit_seconds": fit_seconds,
        "rmse": float(np.sqrt(se / max(rows, 1))),
        "rows": rows,
        "dropped": dropped,
        "threads": 1,
    }))


if __name__ == "__main__":
    main()
