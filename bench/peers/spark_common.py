"""Shared pieces of the Spark peers (bench/peers/spark_rf.py, bench/peers/spark_features.py).

- `start(app, master, driver_memory)`: a SparkSession tuned the way a careful user would for a
  single machine: `local[N]`, UI off, `spark.sql.shuffle.partitions` = N (the default 200 tasks
  per shuffle would only add scheduling overhead on small data), driver memory given explicitly
  (local mode runs everything in the driver JVM).
- `Jvm`: CPU seconds and peak RSS of the driver JVM (the child process pyspark launched), read from
  /proc, so the peers can report in-process CPU time of the JVM (the Python process is idle while
  Spark works).
- `stop(spark)`: stops Spark and waits for the JVM to exit, so its CPU time and peak RSS are
  accounted to this process's children (bench/lib/measure.py reads them with wait4).
"""

from __future__ import annotations

import os
import time


def start(app: str, master: str, driver_memory: str, extra: dict | None = None):
    from pyspark.sql import SparkSession

    b = (
        SparkSession.builder.appName(app)
        .master(master)
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(parallelism_of(master)))
        .config("spark.default.parallelism", str(parallelism_of(master)))
        .config("spark.driver.extraJavaOptions", "-XX:+UseG1GC")
    )
    for k, v in (extra or {}).items():
        b = b.config(k, v)
    t0 = time.perf_counter()
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark, time.perf_counter() - t0


def parallelism_of(master: str) -> int:
    if master.startswith("local[") and master.endswith("]"):
        n = master[6:-1]
        return (os.cpu_count() or 2) if n == "*" else int(n)
    return 2


class Jvm:
    """The driver JVM's /proc accounting (Linux)."""

    def __init__(self, spark):
        proc = spark.sparkContext._gateway.proc  # subprocess.Popen of spark-submit (exec'd into java)
        self.proc = proc
        self.pid = proc.pid if proc is not None else None
        self.ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float | None:
        if self.pid is None:
            return None
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[11], fields[12] = utime, stime (fields 14 and 15 of stat(5), counted after the name)
            return (int(fields[11]) + int(fields[12])) / self.ticks
        except OSError:
            return None

    def peak_rss_mib(self) -> float | None:
        if self.pid is None:
            return None
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            return None
        return None


def stop(spark, jvm: Jvm) -> None:
    from pyspark import SparkContext

    spark.stop()
    gw = SparkContext._gateway
    try:
        if gw is not None:
            gw.shutdown()
    except Exception:  # noqa: BLE001 — best effort; the JVM also exits when its stdin closes
        pass
    if jvm.proc is not None:
        try:
            if jvm.proc.stdin:
                jvm.proc.stdin.close()
        except OSError:
            pass
        try:
            jvm.proc.wait(timeout=60)
        except Exception:  # noqa: BLE001
            jvm.proc.kill()
            jvm.proc.wait()
