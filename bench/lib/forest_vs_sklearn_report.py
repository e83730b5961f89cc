#!/usr/bin/env python3
"""Aggregate the rounds of bench/forest_vs_sklearn.sh into JSON and a markdown table.

Input layout (under --tmp): <fold>/rf-<r>/{measure.json,out/report.json} and
<fold>/sk-<r>/{measure.json,result.json}; rounds 0..warmup-1 are warm-up (kept in the JSON, not in
the medians). Called by the driver; not meant to be run by hand, but it can be re-run on a kept
temporary directory (KEEP_TMP=1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess

RMSE_TOLERANCE = 0.01  # issue 3: "within 0.01 of scikit-learn's"
REG = ("rmse", "mae", "r2")
CLS = ("accuracy", "f1", "roc_auc")


def load(path: str):
    with open(path) as f:
        return json.load(f)


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict:
    cpu = ""
    for line in sh(["lscpu"]).splitlines():
        if line.lower().startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": int(sh(["nproc"]) or os.cpu_count() or 0),
        "cpu_model": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "load_average_at_end": os.getloadavg(),
    }


def binary_info(repo: str, binary: str) -> tuple[str, bool, str]:
    """(HEAD commit, whether crates/ or the manifests have uncommitted changes, the binary's mtime)."""
    commit = sh(["git", "-C", repo, "rev-parse", "HEAD"])
    dirty = bool(sh(["git", "-C", repo, "status", "--porcelain", "--", "crates", "Cargo.lock", "Cargo.toml"]))
    mtime = dt.datetime.fromtimestamp(os.path.getmtime(binary), dt.timezone.utc).isoformat(timespec="seconds")
    return commit, dirty, mtime


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fold_summary(tmp: str, fold: str, warmup: int, rounds: int) -> dict:
    raw = []
    for r in range(warmup + rounds):
        rf_rep = load(f"{tmp}/{fold}/rf-{r}/out/report.json")
        rf_meas = load(f"{tmp}/{fold}/rf-{r}/measure.json")
        sk_res = load(f"{tmp}/{fold}/sk-{r}/result.json")
        sk_meas = load(f"{tmp}/{fold}/sk-{r}/measure.json")
        raw.append(
            {
                "round": r,
                "warmup": r < warmup,
                "reelforest": {
                    "process": rf_meas,
                    "tasks": {
                        t["task"]: {
                            "test": t["test"],
                            "fit_seconds": t["fit_seconds"],
                            "params": t["params"],
                            "oob_error": t.get("oob_error"),
                            "total_num_nodes": t.get("total_num_nodes"),
                        }
                        for t in rf_rep["tasks"]
                    },
                    "audit": rf_rep.get("audit", []),
                    "timings": rf_rep.get("timings"),
                    "total_seconds": rf_rep.get("total_seconds"),
                },
                "sklearn": {
                    "process": sk_meas,
                    "tasks": {t["task"]: t for t in sk_res["tasks"]},
                    "meta": {k: v for k, v in sk_res.items() if k != "tasks"},
                },
            }
        )
    rep0 = load(f"{tmp}/{fold}/rf-{warmup}/out/report.json")["features"]
    features = {k: rep0.get(k) for k in ("run", "train_rows", "test_rows", "feature_columns", "spec")}
    measured = [x for x in raw if not x["warmup"]]
    first = measured[0]
    tasks = {}
    for task in first["reelforest"]["tasks"]:
        keys = REG if task == "regression" else CLS
        rf_t = first["reelforest"]["tasks"][task]
        sk_t = first["sklearn"]["tasks"][task]
        # Determinism: every round (warm-up included) must give the same metrics on each side.
        spread = {}
        for side in ("reelforest", "sklearn"):
            for k in keys:
                vals = [x[side]["tasks"][task]["test"][k] for x in raw]
                vals = [v for v in vals if v is not None]
                spread[f"{side}.{k}"] = (max(vals) - min(vals)) if vals else None
        rf_fit = med([x["reelforest"]["tasks"][task]["fit_seconds"] for x in measured])
        sk_fit = med([x["sklearn"]["tasks"][task]["fit_seconds"] for x in measured])
        entry = {
            "reelforest": {k: rf_t["test"].get(k) for k in keys},
            "sklearn": {k: sk_t["test"].get(k) for k in keys},
            "abs_diff": {
                k: (abs(rf_t["test"][k] - sk_t["test"][k]) if rf_t["test"].get(k) is not None and sk_t["test"].get(k) is not None else None)
                for k in keys
            },
            "metric_spread_across_rounds": spread,
            "reelforest_fit_seconds_median": rf_fit,
            "sklearn_fit_seconds_median": sk_fit,
            "fit_ratio_sklearn_over_reelforest": (sk_fit / rf_fit) if rf_fit else None,
            "sklearn_predict_seconds_median": med([x["sklearn"]["tasks"][task]["predict_seconds"] for x in measured]),
            "reelforest_params": rf_t["params"],
            "sklearn_params": sk_t["params"],
            "reelforest_total_num_nodes": rf_t.get("total_num_nodes"),
            "sklearn_total_num_nodes": sk_t.get("total_num_nodes"),
        }
        if task == "regression":
            entry["within_tolerance"] = entry["abs_diff"]["rmse"] <= RMSE_TOLERANCE
        tasks[task] = entry
    audit = {
        a["task"]: {"honest": a["honest"], "leaky": a["leaky"]} for a in first["reelforest"]["audit"]
    }
    return {
        "fold": fold,
        "tasks": tasks,
        "audit": audit,
        "process": {
            "reelforest_run_wall_seconds_median": med([x["reelforest"]["process"]["wall_seconds"] for x in measured]),
            "reelforest_run_cpu_seconds_median": med([x["reelforest"]["process"]["cpu_seconds"] for x in measured]),
            "reelforest_run_peak_rss_mib_median": med([x["reelforest"]["process"]["peak_rss_mib"] for x in measured]),
            "sklearn_process_wall_seconds_median": med([x["sklearn"]["process"]["wall_seconds"] for x in measured]),
            "sklearn_process_cpu_seconds_median": med([x["sklearn"]["process"]["cpu_seconds"] for x in measured]),
            "sklearn_process_peak_rss_mib_median": med([x["sklearn"]["process"]["peak_rss_mib"] for x in measured]),
            "reelforest_timings_median": {
                name: med([dict(x["reelforest"]["timings"])[name] for x in measured])
                for name, _ in first["reelforest"]["timings"]
            },
        },
        "features": features,
        "rounds": raw,
    }


def _num(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def f(x, nd=4):
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "**NO**"
    return f"{x:.{nd}f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--folds", required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--rounds", type=int, required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--datasets", required=True)
    ap.add_argument("--openblas-env", default="")
    ap.add_argument("--sk-jobs", default="2")
    ap.add_argument("--max-bins", default="")
    ap.add_argument("--load-start", default="")
    ap.add_argument("--json", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()

    folds = [x for x in a.folds.split(",") if x]
    per_fold = [fold_summary(a.tmp, fold, a.warmup, a.rounds) for fold in folds]
    first_sk = per_fold[0]["rounds"][0]["sklearn"]["meta"]
    commit, dirty, binary_mtime = binary_info(a.repo, a.binary)

    means = {}
    for side in ("reelforest", "sklearn"):
        means[side] = {}
        for task, keys in (("regression", REG), ("classification", CLS)):
            if all(task in pf["tasks"] for pf in per_fold):
                means[side][task] = {k: mean([pf["tasks"][task][side][k] for pf in per_fold]) for k in keys}
    means["leaky"] = {}
    for task, keys in (("regression", REG), ("classification", CLS)):
        if all(task in pf["audit"] for pf in per_fold):
            means["leaky"][task] = {k: mean([pf["audit"][task]["leaky"].get(k) for pf in per_fold]) for k in keys}
    if "regression" in means["reelforest"]:
        means["rmse_abs_diff"] = abs(means["reelforest"]["regression"]["rmse"] - means["sklearn"]["regression"]["rmse"])
        means["rmse_within_tolerance"] = means["rmse_abs_diff"] <= RMSE_TOLERANCE

    doc = {
        "benchmark": "forest_vs_sklearn",
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "dataset": "ml-100k",
        "datasets_dir": a.datasets,
        "folds": folds,
        "warmup_rounds": a.warmup,
        "measured_rounds": a.rounds,
        "order": "per fold: warm-up, then reelforest, sklearn, reelforest, sklearn, ... (sklearn reads the same round's warehouse)",
        "rmse_tolerance": RMSE_TOLERANCE,
        "max_bins_override": a.max_bins or None,
        "reelforest": {"binary": os.path.abspath(a.binary), "binary_mtime": binary_mtime, "git_commit": commit, "crates_dirty": dirty},
        "sklearn": {
            "version": first_sk.get("sklearn_version"),
            "numpy": first_sk.get("numpy_version"),
            "python": first_sk.get("python"),
            "n_jobs": int(a.sk_jobs),
            "nan_handling": first_sk.get("nan_values", {}).get("handling"),
        },
        "environment": {
            "openblas_as_found": a.openblas_env,
            "sklearn_command": "run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset",
            "reelforest_command": "run with REELFOREST_WAREHOUSE unset, --quiet",
        },
        "machine": {**machine(), "load_average_at_start": a.load_start},
        "means": means,
        "per_fold": per_fold,
    }
    with open(a.json, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")

    # ---------------- markdown ----------------
    m = doc["machine"]
    L = []
    L.append("# reelforest vs scikit-learn: random forests on the same features")
    L.append("")
    L.append(
        "Generated by `bash bench/forest_vs_sklearn.sh"
        + (f" --folds {a.folds}" if a.folds != "u1" else "")
        + (f" --max-bins {a.max_bins}" if a.max_bins else "")
        + "` — do not edit by hand."
    )
    L.append("")
    p = per_fold[0]["tasks"].get("regression", next(iter(per_fold[0]["tasks"].values())))["reelforest_params"]
    L.append(
        f"ml-100k official folds, honest out-of-fold features (`features/honest`), "
        f"{p['numTrees']} trees, maxDepth {p['maxDepth']}, maxBins {p['maxBins']} (reelforest; sklearn splits exactly), "
        f"featureSubsetStrategy `{p['featureSubsetStrategy']}`, minInstancesPerNode {p['minInstancesPerNode']}, "
        f"bootstrap, seed {p['seed']}. scikit-learn {doc['sklearn']['version']} `n_jobs={a.sk_jobs}` reads the "
        f"same Parquet files reelforest wrote; max_features = Spark's subset size as an integer "
        f"(regression {per_fold[0]['tasks'].get('regression', {}).get('sklearn_params', {}).get('max_features', '—')}, "
        f"classification {per_fold[0]['tasks'].get('classification', {}).get('sklearn_params', {}).get('max_features', '—')} "
        f"of {len(per_fold[0]['features']['feature_columns'])} features)."
    )
    L.append(
        f"{a.warmup} warm-up + {a.rounds} alternating rounds per fold; times are medians of the measured rounds. "
        "Fit time: reelforest's `tasks[].fit_seconds` from report.json (training only; binning and "
        "feature building excluded) vs sklearn's `fit()` wall time (on an in-memory float matrix)."
    )
    L.append("")
    if "regression" in per_fold[0]["tasks"]:
        L.append("## Regression (rating), test split")
        L.append("")
        L.append("| fold | reelforest RMSE | sklearn RMSE | \\|diff\\| | within 0.01 | reelforest MAE | sklearn MAE | reelforest R² | sklearn R² | reelforest fit s | sklearn fit s | sklearn/reelforest |")
        L.append("| --- | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for pf in per_fold:
            t = pf["tasks"]["regression"]
            L.append(
                f"| {pf['fold']} | {f(t['reelforest']['rmse'])} | {f(t['sklearn']['rmse'])} | {f(t['abs_diff']['rmse'])} | "
                f"{f(t['within_tolerance'])} | {f(t['reelforest']['mae'])} | {f(t['sklearn']['mae'])} | "
                f"{f(t['reelforest']['r2'])} | {f(t['sklearn']['r2'])} | {f(t['reelforest_fit_seconds_median'], 2)} | "
                f"{f(t['sklearn_fit_seconds_median'], 2)} | {f(t['fit_ratio_sklearn_over_reelforest'], 1)}× |"
            )
        if len(per_fold) > 1:
            r, s = means["reelforest"]["regression"], means["sklearn"]["regression"]
            rf_fit = mean([pf["tasks"]["regression"]["reelforest_fit_seconds_median"] for pf in per_fold])
            sk_fit = mean([pf["tasks"]["regression"]["sklearn_fit_seconds_median"] for pf in per_fold])
            L.append(
                f"| **mean** | {f(r['rmse'])} | {f(s['rmse'])} | {f(means['rmse_abs_diff'])} | {f(means['rmse_within_tolerance'])} | "
                f"{f(r['mae'])} | {f(s['mae'])} | {f(r['r2'])} | {f(s['r2'])} | {f(rf_fit, 2)} | {f(sk_fit, 2)} | {f(sk_fit / rf_fit, 1)}× |"
            )
        L.append("")
    if "classification" in per_fold[0]["tasks"]:
        L.append("## Classification (good = rating ≥ threshold), test split")
        L.append("")
        L.append("| fold | reelforest accuracy | sklearn accuracy | reelforest F1 | sklearn F1 | reelforest AUC | sklearn AUC | reelforest fit s | sklearn fit s | sklearn/reelforest |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for pf in per_fold:
            t = pf["tasks"]["classification"]
            L.append(
                f"| {pf['fold']} | {f(t['reelforest']['accuracy'])} | {f(t['sklearn']['accuracy'])} | "
                f"{f(t['reelforest']['f1'])} | {f(t['sklearn']['f1'])} | {f(t['reelforest']['roc_auc'])} | "
                f"{f(t['sklearn']['roc_auc'])} | {f(t['reelforest_fit_seconds_median'], 2)} | "
                f"{f(t['sklearn_fit_seconds_median'], 2)} | {f(t['fit_ratio_sklearn_over_reelforest'], 1)}× |"
            )
        if len(per_fold) > 1:
            r, s = means["reelforest"]["classification"], means["sklearn"]["classification"]
            rf_fit = mean([pf["tasks"]["classification"]["reelforest_fit_seconds_median"] for pf in per_fold])
            sk_fit = mean([pf["tasks"]["classification"]["sklearn_fit_seconds_median"] for pf in per_fold])
            L.append(
                f"| **mean** | {f(r['accuracy'])} | {f(s['accuracy'])} | {f(r['f1'])} | {f(s['f1'])} | "
                f"{f(r['roc_auc'])} | {f(s['roc_auc'])} | {f(rf_fit, 2)} | {f(sk_fit, 2)} | {f(sk_fit / rf_fit, 1)}× |"
            )
        L.append("")
    L.append("## Leakage audit (reelforest report.json: same parameters, leaky features)")
    L.append("")
    L.append("| fold | honest RMSE | leaky RMSE | honest MAE | leaky MAE | honest R² | leaky R² | honest acc | leaky acc | honest F1 | leaky F1 | honest AUC | leaky AUC |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def arow(label, hr, lr, hc, lc):
        return (
            f"| {label} | {f(hr.get('rmse'))} | {f(lr.get('rmse'))} | {f(hr.get('mae'))} | {f(lr.get('mae'))} | "
            f"{f(hr.get('r2'))} | {f(lr.get('r2'))} | {f(hc.get('accuracy'))} | {f(lc.get('accuracy'))} | "
            f"{f(hc.get('f1'))} | {f(lc.get('f1'))} | {f(hc.get('roc_auc'))} | {f(lc.get('roc_auc'))} |"
        )

    for pf in per_fold:
        au = pf["audit"]
        e = {}
        L.append(
            arow(
                pf["fold"],
                au.get("regression", {}).get("honest", e), au.get("regression", {}).get("leaky", e),
                au.get("classification", {}).get("honest", e), au.get("classification", {}).get("leaky", e),
            )
        )
    if len(per_fold) > 1:
        L.append(
            arow(
                "**mean**",
                means["reelforest"].get("regression", {}), means["leaky"].get("regression", {}),
                means["reelforest"].get("classification", {}), means["leaky"].get("classification", {}),
            )
        )
    L.append("")
    L.append("## Whole processes (medians)")
    L.append("")
    L.append("| fold | `reelforest run` wall s (ingest+features+2 fits+audit) | its CPU s | its peak RSS MiB | sklearn process wall s (load+2 fits+predict) | its CPU s | its peak RSS MiB |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for pf in per_fold:
        pr = pf["process"]
        L.append(
            f"| {pf['fold']} | {f(pr['reelforest_run_wall_seconds_median'], 2)} | {f(pr['reelforest_run_cpu_seconds_median'], 2)} | "
            f"{f(pr['reelforest_run_peak_rss_mib_median'], 0)} | {f(pr['sklearn_process_wall_seconds_median'], 2)} | "
            f"{f(pr['sklearn_process_cpu_seconds_median'], 2)} | {f(pr['sklearn_process_peak_rss_mib_median'], 0)} |"
        )
    L.append("")
    nondet = [
        (pf["fold"], task, k, v)
        for pf in per_fold
        for task, t in pf["tasks"].items()
        for k, v in t["metric_spread_across_rounds"].items()
        if v and v > 1e-9
    ]
    L.append(
        "Determinism: metrics were identical in every round on both sides (to 1e-9; sklearn with n_jobs=2 "
        "varies in the last bit from the order it sums tree outputs)."
        if not nondet
        else "Determinism: metrics differed across rounds: "
        + "; ".join(f"{fo} {ta} {k} spread {v:.2e}" for fo, ta, k, v in nondet)
    )
    L.append("")
    busy = [x for x in (a.load_start.split() + [f"{v:.2f}" for v in m["load_average_at_end"]]) if _num(x) and float(x) > m["nproc"]]
    if busy:
        L.append(
            f"**Timing caveat:** the load average exceeded nproc ({m['nproc']}) during this run (other work on "
            "the machine), so absolute times are pessimistic for both sides; the accuracy columns are unaffected."
        )
        L.append("")
    L.append("## Machine")
    L.append("")
    L.append(f"- CPU: {m['cpu_model']}, nproc {m['nproc']}, memory {m['memory']}, kernel {m['kernel']}")
    L.append(f"- load average (1, 5, 15 min) at the start: {a.load_start}")
    L.append(f"- load average at the end: {', '.join(f'{x:.2f}' for x in m['load_average_at_end'])}")
    L.append(
        f"- reelforest: `{os.path.relpath(a.binary, a.repo)}` (built {binary_mtime}), commit {commit[:12]}"
        + (" with uncommitted changes under crates/" if dirty else "")
    )
    L.append(
        f"- scikit-learn {doc['sklearn']['version']}, numpy {doc['sklearn']['numpy']}, Python {doc['sklearn']['python']}; "
        f"NaN handling {doc['sklearn']['nan_handling']}"
    )
    L.append(f"- environment as found: {a.openblas_env}; the sklearn command ran with both unset")
    L.append("")
    with open(a.md, "w") as fh:
        fh.write("\n".join(L))


if __name__ == "__main__":
    main()
