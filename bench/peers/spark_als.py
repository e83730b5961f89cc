"""Spark MLlib's ALS on a ratings file pair: the peer of reelforest's ALS (bench/als_vs_spark.sh).

Reads tab- or comma-separated `user item rating [time]` files (ml-100k's u1.base / u1.test),
caches the training DataFrame and counts it (so loading is not timed), then times `ALS.fit`
with the given rank, maxIter, regParam and seed (coldStartStrategy "drop", everything else
Spark's defaults: explicit feedback, nonnegative false, 10 user and item blocks), scores the
test rows with RegressionEvaluator (RMSE over the rows that are not dropped) and prints one JSON
line. Usage: spark_als.py TRAIN TEST RANK MAX_ITER REG_PARAM SEED [MASTER]
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

from spark_common import Jvm, parallelism_of, start, stop


def read(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, sep=None, engine="python", header=None, usecols=[0, 1, 2])
    df.columns = ["user", "item", "rating"]
    return df.astype({"user": "int32", "item": "int32", "rating": "float32"})


def main() -> None:
    train_path, test_path, rank, max_iter, reg, seed = sys.argv[1:7]
    master = sys.argv[7] if len(sys.argv) > 7 else "local[2]"
    from pyspark.ml.evaluation import RegressionEvaluator
    from pyspark.ml.recommendation import ALS

    spark, startup = start("reelforest-peer-als", master, "2g")
    jvm = Jvm(spark)
    train = spark.createDataFrame(read(train_path)).cache()
    test = spark.createDataFrame(read(test_path)).cache()
    train.count()
    test.count()
    als = ALS(
        rank=int(rank),
        maxIter=int(max_iter),
        regParam=float(reg),
        seed=int(seed),
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        coldStartStrategy="drop",
    )
    t0 = time.perf_counter()
    model = als.fit(train)
    # Spark's fit is lazy in places: materialise both factor tables inside the timing.
    model.userFactors.count()
    model.itemFactors.count()
    fit_seconds = time.perf_counter() - t0
    predictions = model.transform(test)
    rows = predictions.count()
    rmse = RegressionEvaluator(metricName="rmse", labelCol="rating", predictionCol="prediction").evaluate(predictions)
    total = test.count()
    stop(spark, jvm)
    print(json.dumps({
        "peer": "spark",
        "fit_seconds": fit_seconds,
        "rmse": rmse,
        "rows": rows,
        "dropped": total - rows,
        "threads": parallelism_of(master),
        "startup_seconds": startup,
    }))


if __name__ == "__main__":
    main()
