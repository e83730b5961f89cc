#!/usr/bin/env python3
"""Collect one dataset's rounds of bench/run.sh into bench/results/peers/<dataset>.json.

Input layout (under --tmp, one dataset): r<R>/reelforest/{measure.json,out/report.json},
r<R>/<peer>-<G>/{measure.json,result.json} for the forest peers (G = group of tasks sharing
parameters, normally one), r<R>/reelforest-cv/..., r<R>/spark-cv/..., r<R>/reelforest-features/
measure.json, r<R>/spark-sql/{measure.json,result.json}, and ingest/measure.json (features-only
datasets). Rounds 0..warmup-1 are warm-up: kept in "rounds", left out of every median.

Output: medians per side and the ratios peer / reelforest computed from them (one run of the
driver, never mixed across runs). Called by bench/run.sh; it can be re-run on a kept temporary
directory (KEEP_TMP=1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from forest_vs_sklearn_report import binary_info, machine, med  # noqa: E402  (one definition of the machine block)

FOREST_PEERS = ("spark", "sklearn", "lightgbm")
METRICS = {"regression": ("rmse", "mae", "r2"), "classification": ("accuracy", "f1", "roc_auc")}
DATASET_NAMES = {
    "u1": "ml-100k, fold u1",
    "small": "ml-latest-small (+ IMDB-5000 directors), random 80/20",
    "1m": "1M generated ratings, random 80/20",
    "10m": "10M generated ratings, random 80/20",
}


def load(path: str):
    with open(path) as f:
        return json.load(f)


def maybe(path: str):
    return load(path) if os.path.isfile(path) else None


def ratio(a, b):
    return (a / b) if a is not None and b not in (None, 0) else None


def spread(vals):
    vals = [v for v in vals if v is not None]
    return (max(vals) - min(vals)) if vals else None


def forest_rounds(tmp: str, total: int) -> list[dict]:
    rounds = []
    for r in range(total):
        d = f"{tmp}/r{r}"
        rep = maybe(f"{d}/reelforest/out/report.json")
        if rep is None:
            return []
        process = load(f"{d}/reelforest/measure.json")
        stage_peaks = dict(rep.get("stage_peak_rss_mib") or [])
        # `reelforest run` resets its high-water mark at every stage start (to report stage
        # peaks), and the kernel's ru_maxrss at exit follows that mark, so ru_maxrss alone can
        # miss an earlier stage's peak (seen: 127 MiB against a features stage of 176 MiB).
        # The process peak is the larger of the two.
        if stage_peaks:
            process["ru_maxrss_mib"] = process["peak_rss_mib"]
            process["peak_rss_mib"] = max(process["peak_rss_mib"], max(stage_peaks.values()))
        entry = {
            "reelforest": {
                "process": process,
                "timings": dict(rep.get("timings") or []),
                # peak RSS per stage (the process resets its high-water mark at each stage start)
                "stage_peak_rss_mib": stage_peaks,
                "total_seconds": rep.get("total_seconds"),
                "tasks": {
                    t["task"]: {
                        "test": t["test"],
                        "fit_seconds": t["fit_seconds"],
                        "fit_cpu_seconds": t.get("fit_cpu_seconds"),
                        "params": t["params"],
                        "total_num_nodes": t.get("total_num_nodes"),
                    }
                    for t in rep["tasks"]
                },
                "features": {k: rep["features"].get(k) for k in ("train_rows", "test_rows", "feature_columns", "spec")},
            }
        }
        pred_log = f"{d}/reelforest-predict/stdout.log"
        if os.path.isfile(pred_log):
            pred = json.loads(open(pred_log).read())
            for t in pred["tasks"]:
                rt = entry["reelforest"]["tasks"].get(t["task"])
                if rt is None:
                    continue
                rt["predict_seconds"] = t["predict_seconds"]
                rt["predict_rows_per_second"] = t["predict_rows_per_second"]
                # the timer's own metric on the exported rows must equal the report's
                key = "rmse" if t["task"] == "regression" else "accuracy"
                rt["predict_check"] = {key: t.get(key), "report": rt["test"].get(key),
                                       "agrees": abs(t.get(key) - rt["test"].get(key)) < 1e-9}
        for peer in FOREST_PEERS:
            groups = sorted(glob.glob(f"{d}/{peer}-[0-9]*"))
            if not groups:
                continue
            procs, tasks, meta = [], {}, {}
            for g in groups:
                procs.append(load(f"{g}/measure.json"))
                res = load(f"{g}/result.json")
                for t in res["tasks"]:
                    tasks[t["task"]] = t
                meta = {k: v for k, v in res.items() if k != "tasks"}
            entry[peer] = {
                "process": {
                    "wall_seconds": sum(p["wall_seconds"] for p in procs),
                    "cpu_seconds": sum(p["cpu_seconds"] for p in procs),
                    "peak_rss_mib": max(p["peak_rss_mib"] for p in procs),
                    "processes": len(procs),
                },
                "tasks": tasks,
                "meta": meta,
            }
        rounds.append(entry)
    return rounds


def summarise_forest(rounds: list[dict], warmup: int) -> dict:
    measured = rounds[warmup:]
    sides = ["reelforest"] + [p for p in FOREST_PEERS if p in measured[0]]
    out = {"sides": sides, "tasks": {}, "process": {}}
    for task in measured[0]["reelforest"]["tasks"]:
        keys = METRICS[task]
        t_out = {}
        for side in sides:
            ts = [x[side]["tasks"].get(task) for x in measured if side in x]
            ts = [t for t in ts if t]
            if not ts:
                continue
            allr = [x[side]["tasks"].get(task) for x in rounds if side in x and x[side]["tasks"].get(task)]
            t_out[side] = {
                "metrics": {k: ts[0]["test"].get(k) for k in keys},
                "metric_spread_across_rounds": {k: spread([t["test"].get(k) for t in allr]) for k in keys},
                "fit_seconds": med([t["fit_seconds"] for t in ts]),
                "fit_seconds_all": [t["fit_seconds"] for t in ts],
                "fit_cpu_seconds": med([t.get("fit_cpu_seconds") for t in ts]),
                "predict_seconds": med([t.get("predict_seconds") for t in ts]),
                "predict_rows_per_second": med([t.get("predict_rows_per_second") for t in ts]),
                "params": ts[0].get("params"),
                "total_num_nodes": ts[0].get("total_num_nodes"),
            }
            if side == "reelforest":
                t_out[side]["predict_check"] = ts[0].get("predict_check")
        rf = t_out["reelforest"]
        for side in sides[1:]:
            if side not in t_out:
                continue
            s = t_out[side]
            s["fit_ratio"] = ratio(s["fit_seconds"], rf["fit_seconds"])
            # throughput ratio reelforest / peer (> 1: reelforest predicts more rows per second)
            s["predict_throughput_ratio"] = ratio(rf["predict_rows_per_second"], s["predict_rows_per_second"])
            s["metric_diff"] = {
                k: (s["metrics"][k] - rf["metrics"][k]) if s["metrics"].get(k) is not None and rf["metrics"].get(k) is not None else None
                for k in keys
            }
        out["tasks"][task] = t_out
    for side in sides:
        ps = [x[side]["process"] for x in measured if side in x]
        out["process"][side] = {
            "wall_seconds": med([p["wall_seconds"] for p in ps]),
            "cpu_seconds": med([p["cpu_seconds"] for p in ps]),
            "peak_rss_mib": med([p["peak_rss_mib"] for p in ps]),
        }
        if side == "spark":
            out["process"][side]["jvm_peak_rss_mib"] = med([x[side]["meta"].get("jvm_peak_rss_mib") for x in measured])
    rp = out["process"]["reelforest"]
    for side in sides[1:]:
        p = out["process"][side]
        p["wall_ratio"] = ratio(p["wall_seconds"], rp["wall_seconds"])
        p["cpu_ratio"] = ratio(p["cpu_seconds"], rp["cpu_seconds"])
        p["rss_ratio"] = ratio(p["peak_rss_mib"], rp["peak_rss_mib"])
    stage_peaks = [x["reelforest"].get("stage_peak_rss_mib") or {} for x in measured]
    if all(stage_peaks):
        out["reelforest_stage_peak_rss_mib"] = {k: med([sp.get(k) for sp in stage_peaks]) for k in stage_peaks[0]}
        train_peak = out["reelforest_stage_peak_rss_mib"].get("train+evaluate")
        for side in sides[1:]:
            # a forest peer's process only loads the tables, fits and scores: its whole-process
            # peak is its peak while training
            out["process"][side]["training_rss_ratio"] = ratio(out["process"][side]["peak_rss_mib"], train_peak)
    out["reelforest_timings"] = {
        k: med([x["reelforest"]["timings"].get(k) for x in measured]) for k in measured[0]["reelforest"]["timings"]
    }
    out["features"] = measured[0]["reelforest"]["features"]
    out["peer_meta"] = {side: measured[0][side]["meta"] for side in sides[1:]}
    return out


def cv_summary(tmp: str, warmup: int, total: int) -> dict | None:
    rounds = []
    for r in range(total):
        d = f"{tmp}/r{r}"
        rep, res = maybe(f"{d}/reelforest-cv/out/report.json"), maybe(f"{d}/spark-cv/result.json")
        if rep is None or res is None:
            return None
        rf_fit = sum(t["fit_seconds"] for t in rep["tasks"])
        tuning = dict(rep.get("timings") or []).get("tuning")
        rounds.append(
            {
                "reelforest": {
                    "process": load(f"{d}/reelforest-cv/measure.json"),
                    "tuning_seconds": tuning,
                    "final_fit_seconds": rf_fit,
                    "search_seconds": (tuning or 0.0) + rf_fit,
                    "grid": rep.get("grid"),
                    "tasks": {t["task"]: {"params": t["params"], "test": t["test"], "cv": t.get("cv")} for t in rep["tasks"]},
                },
                "spark": {
                    "process": load(f"{d}/spark-cv/measure.json"),
                    "search_seconds": sum(t["fit_seconds"] for t in res["tasks"]),
                    "tasks": {t["task"]: {"params": t["params"], "test": t["test"], "cv": t.get("cv")} for t in res["tasks"]},
                    "jvm_peak_rss_mib": res.get("jvm_peak_rss_mib"),
                },
            }
        )
    m = rounds[warmup:]
    out = {"rounds": rounds}
    for side in ("reelforest", "spark"):
        out[side] = {
            "search_seconds": med([x[side]["search_seconds"] for x in m]),
            "wall_seconds": med([x[side]["process"]["wall_seconds"] for x in m]),
            "cpu_seconds": med([x[side]["process"]["cpu_seconds"] for x in m]),
            "peak_rss_mib": med([x[side]["process"]["peak_rss_mib"] for x in m]),
            "tasks": m[0][side]["tasks"],
        }
    out["reelforest"]["tuning_seconds"] = med([x["reelforest"]["tuning_seconds"] for x in m])
    out["search_ratio"] = ratio(out["spark"]["search_seconds"], out["reelforest"]["search_seconds"])
    out["wall_ratio"] = ratio(out["spark"]["wall_seconds"], out["reelforest"]["wall_seconds"])
    out["rss_ratio"] = ratio(out["spark"]["peak_rss_mib"], out["reelforest"]["peak_rss_mib"])
    return out


def features_summary(tmp: str, warmup: int, total: int) -> dict | None:
    rounds = []
    for r in range(total):
        d = f"{tmp}/r{r}"
        rf, sp, res = maybe(f"{d}/reelforest-features/measure.json"), maybe(f"{d}/spark-sql/measure.json"), maybe(f"{d}/spark-sql/result.json")
        if rf is None or sp is None or res is None:
            return None
        rounds.append({"reelforest": {"process": rf}, "spark-sql": {"process": sp, "result": res}})
    m = rounds[warmup:]
    first = m[0]["spark-sql"]["result"]
    out = {
        "rounds": rounds,
        "reelforest": {
            "wall_seconds": med([x["reelforest"]["process"]["wall_seconds"] for x in m]),
            "cpu_seconds": med([x["reelforest"]["process"]["cpu_seconds"] for x in m]),
            "peak_rss_mib": med([x["reelforest"]["process"]["peak_rss_mib"] for x in m]),
        },
        "spark-sql": {
            "features_seconds": med([x["spark-sql"]["result"]["features_seconds"] for x in m]),
            "features_cpu_seconds": med([x["spark-sql"]["result"].get("features_cpu_seconds") for x in m]),
            "session_start_seconds": med([x["spark-sql"]["result"].get("session_start_seconds") for x in m]),
            "wall_seconds": med([x["spark-sql"]["process"]["wall_seconds"] for x in m]),
            "cpu_seconds": med([x["spark-sql"]["process"]["cpu_seconds"] for x in m]),
            "peak_rss_mib": med([x["spark-sql"]["process"]["peak_rss_mib"] for x in m]),
            "spark_version": first.get("spark_version"),
            "steps": first.get("steps"),
        },
        "train_rows": first.get("train_rows"),
        "test_rows": first.get("test_rows"),
        "spec": first.get("spec"),
        "tables_match_every_round": all(x["spark-sql"]["result"].get("compare", {}).get("match") for x in rounds),
        "compare": first.get("compare"),
    }
    rfx, spx = out["reelforest"], out["spark-sql"]
    out["ratios"] = {
        # in-process feature time of Spark (session already up) vs the whole `reelforest features` process
        "features_seconds": ratio(spx["features_seconds"], rfx["wall_seconds"]),
        "wall_seconds": ratio(spx["wall_seconds"], rfx["wall_seconds"]),
        "cpu_seconds": ratio(spx["cpu_seconds"], rfx["cpu_seconds"]),
        "peak_rss_mib": ratio(spx["peak_rss_mib"], rfx["peak_rss_mib"]),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--peers", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--load-start", default="")
    ap.add_argument("--spark-master", default="")
    ap.add_argument("--spark-driver-memory", default="")
    ap.add_argument("--peer-jobs", default="2")
    ap.add_argument("--forest-skipped", default="0")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    total = a.warmup + a.rounds
    commit, dirty, mtime = binary_info(a.repo, a.binary)
    frounds = forest_rounds(a.tmp, total)
    doc = {
        "benchmark": "peers",
        "dataset": a.dataset,
        "dataset_name": DATASET_NAMES.get(a.dataset, a.dataset),
        "tag": a.tag or None,
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "warmup_rounds": a.warmup,
        "measured_rounds": a.rounds,
        "peers": a.peers.split(","),
        "order": "per round: reelforest run, forest peers on its tables; reelforest tuning run, Spark CrossValidator; "
        "reelforest features, Spark SQL features",
        "reelforest": {"binary": a.binary, "binary_mtime": mtime, "git_commit": commit, "crates_dirty": dirty},
        "spark": {"master": a.spark_master, "driver_memory": a.spark_driver_memory},
        "peer_jobs": int(a.peer_jobs),
        "machine": {**machine(), "load_average_at_start": a.load_start},
        "forest": summarise_forest(frounds, a.warmup) if frounds else None,
        "forest_skipped": a.forest_skipped == "1",
        "cv": cv_summary(a.tmp, a.warmup, total),
        "features": features_summary(a.tmp, a.warmup, total),
        "ingest": maybe(f"{a.tmp}/ingest/measure.json"),
        "forest_rounds": frounds,
    }
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2, default=str)
        f.write("\n")


if __name__ == "__main__":
    main()
