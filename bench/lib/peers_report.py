#!/usr/bin/env python3
"""Render bench/results/peers.md from every bench/results/peers/<dataset>.json (bench/run.sh).

Each dataset's numbers come from one run of the driver (its JSON); datasets can be measured by
separate runs (`bench/run.sh --datasets 10m ...`) and are rendered together here, each with its
own date, load and rounds. Ratios are always within one dataset's run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

ORDER = ["u1", "small", "1m", "10m"]
SIDE_NAMES = {
    "reelforest": "reelforest",
    "spark": "Spark MLlib",
    "sklearn": "scikit-learn",
    "lightgbm": "LightGBM (boosting)",
}
TARGETS = {"spark_fit": 50.0, "sklearn_fit": 8.0, "rmse_gap": 0.005, "features": 5.0, "predict": 10.0, "memory": 10.0}


def f(x, nd=2, suffix=""):
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "**no**"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return f"{x:,}{suffix}"
    if abs(x) >= 1e5:
        return f"{x:,.0f}{suffix}"
    return f"{x:.{nd}f}{suffix}"


def rate(x):
    if x is None:
        return "—"
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.0f} k/s"


def met(ok):
    return "unverified" if ok is None else ("met" if ok else "**missed**")


def one_partition(fo: dict) -> bool:
    """Spark runs made before spark_rf.py repartitioned its input trained on one partition (one core)."""
    meta = (fo.get("peer_meta") or {}).get("spark")
    return meta is not None and meta.get("partitions") is None


def side_name(fo: dict, side: str) -> str:
    name = SIDE_NAMES.get(side, side)
    return name + " (1 partition: one core, see notes)" if side == "spark" and one_partition(fo) else name


def forest_section(doc: dict, L: list) -> None:
    fo = doc["forest"]
    feats = fo["features"]
    L.append(
        f"Forest comparison: `reelforest run` writes the honest feature tables ({f(feats['train_rows'], 0)} training × "
        f"{len(feats['feature_columns'])} features, {f(feats['test_rows'], 0)} test rows); every peer reads those Parquet "
        "files and trains with the parameters in reelforest's report.json."
    )
    L.append("")
    for task, t in fo["tasks"].items():
        keys = ["rmse", "mae", "r2"] if task == "regression" else ["accuracy", "f1", "roc_auc"]
        names = {"rmse": "RMSE", "mae": "MAE", "r2": "R²", "accuracy": "accuracy", "f1": "F1", "roc_auc": "AUC"}
        p = t["reelforest"]["params"]
        L.append(
            f"**{task}** — {p['numTrees']} trees, maxDepth {p['maxDepth']}, maxBins {p['maxBins']} (reelforest, Spark), "
            f"featureSubsetStrategy `{p['featureSubsetStrategy']}`, seed {p['seed']}"
        )
        L.append("")
        L.append(
            "| side | " + " | ".join(f"test {names[k]}" for k in keys)
            + " | fit s | fit CPU s | fit ratio peer / reelforest | predict s | predict rows/s | reelforest throughput ÷ peer's |"
        )
        L.append("| --- | " + " | ".join("---:" for _ in keys) + " | ---: | ---: | ---: | ---: | ---: | ---: |")
        for side in fo["sides"]:
            s = t.get(side)
            if not s:
                continue
            L.append(
                f"| {side_name(fo, side)} | " + " | ".join(f(s["metrics"].get(k), 4) for k in keys)
                + f" | {f(s['fit_seconds'])} | {f(s.get('fit_cpu_seconds'))} | "
                + ("—" if side == "reelforest" else f"{f(s.get('fit_ratio'), 1)}×")
                + f" | {f(s.get('predict_seconds'), 3)} | {rate(s.get('predict_rows_per_second'))} | "
                + ("—" if side == "reelforest" else f"{f(s.get('predict_throughput_ratio'), 1)}×")
                + " |"
            )
        L.append("")
    L.append("Whole processes (median): what each command does differs — `reelforest run` ingests the raw files, "
             "builds the features, fits and scores both tasks; a peer loads the Parquet tables, fits and scores.")
    L.append("")
    L.append("| side | wall s | CPU s | peak RSS MiB | wall ratio peer / reelforest | CPU ratio | peak RSS ratio |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for side in fo["sides"]:
        p = fo["process"][side]
        extra = ""
        if side == "spark" and p.get("jvm_peak_rss_mib"):
            extra = f" (JVM {f(p['jvm_peak_rss_mib'], 0)})"
        L.append(
            f"| {SIDE_NAMES.get(side, side)} | {f(p['wall_seconds'])} | {f(p['cpu_seconds'])} | {f(p['peak_rss_mib'], 0)}{extra} | "
            + " | ".join("—" if side == "reelforest" else f"{f(p.get(k), 1)}×" for k in ("wall_ratio", "cpu_ratio", "rss_ratio"))
            + " |"
        )
    L.append("")
    tm = fo.get("reelforest_timings") or {}
    if tm:
        L.append("reelforest stages (median s): " + ", ".join(f"{k} {v:.2f}" for k, v in tm.items() if v is not None) + ".")
        L.append("")
    sp = fo.get("reelforest_stage_peak_rss_mib") or {}
    if sp:
        L.append("reelforest peak RSS per stage (median MiB; the run resets its high-water mark at each stage start, "
                 "memory still held from earlier stages counts): "
                 + ", ".join(f"{k} {v:.0f}" for k, v in sp.items() if v is not None) + ". "
                 "Peak memory while training compares the train+evaluate stage (binning, both fits, scoring) with a "
                 "forest peer's whole process (loading the tables, fitting, scoring): "
                 + ", ".join(f"{SIDE_NAMES.get(side, side)} {f(fo['process'][side].get('training_rss_ratio'), 1)}×"
                             for side in fo["sides"][1:] if fo["process"][side].get("training_rss_ratio") is not None) + ".")
        L.append("")
    checks = [t["reelforest"].get("predict_check") for t in fo["tasks"].values()]
    checks = [c for c in checks if c]
    if checks:
        ok = all(c["agrees"] for c in checks)
        L.append(
            "reelforest prediction: `bench/predict` (the saved model, the test rows exported in the peers' order, all "
            "threads) — its metrics " + ("reproduce the run's report exactly." if ok else "**differ from the report**: " + json.dumps(checks))
        )
        L.append("")
    nondet = []
    for task, t in fo["tasks"].items():
        for side, s in t.items():
            for k, v in (s.get("metric_spread_across_rounds") or {}).items():
                if v and v > 1e-9:
                    nondet.append(f"{SIDE_NAMES.get(side, side)} {task} {k} ±{v:.1e}")
    L.append("Determinism across rounds: " + ("every side gave the same metrics in every round." if not nondet else "; ".join(nondet) + "."))
    L.append("")


def cv_section(doc: dict, L: list) -> None:
    cv = doc["cv"]
    rf, sp = cv["reelforest"], cv["spark"]
    L.append("Tuning: `examples/jobs/movielens-small.toml`'s CrossValidator (3 folds, maxDepth × numTrees grid) — "
             "reelforest's fold-honest search (the feature SQL re-runs on each fold's training part) against Spark's "
             "`CrossValidator` over the same grid on the honest training table (features computed once, so Spark's "
             "search does less work: its CV scores are optimistic). Search time = every fold × grid point fit and "
             "score plus the final refit (reelforest: tuning stage + final fits).")
    L.append("")
    L.append("| side | search s | process wall s | CPU s | peak RSS MiB | chosen (regression) | test RMSE | chosen (classification) | test AUC |")
    L.append("| --- | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: |")

    def chosen(side, task):
        t = side["tasks"].get(task)
        if not t:
            return "—", None
        p = t["params"]
        return f"maxDepth {p.get('maxDepth')}, numTrees {p.get('numTrees')}", t["test"]

    for name, side in (("reelforest", rf), ("Spark MLlib", sp)):
        cr, tr = chosen(side, "regression")
        cc, tc = chosen(side, "classification")
        L.append(
            f"| {name} | {f(side['search_seconds'])} | {f(side['wall_seconds'])} | {f(side['cpu_seconds'])} | {f(side['peak_rss_mib'], 0)} | "
            f"{cr} | {f(tr.get('rmse') if tr else None, 4)} | {cc} | {f(tc.get('roc_auc') if tc else None, 4)} |"
        )
    L.append(
        f"| ratio Spark / reelforest | {f(cv['search_ratio'], 1)}× | {f(cv['wall_ratio'], 1)}× | | {f(cv['rss_ratio'], 1)}× | | | | |"
    )
    L.append("")


def features_section(doc: dict, L: list) -> None:
    fe = doc["features"]
    rf, sp = fe["reelforest"], fe["spark-sql"]
    spec = fe.get("spec") or {}
    split = spec.get("split")
    L.append(
        f"Feature SQL ({spec.get('protocol')}, {split}{' ' + str(spec.get('split_name')) if spec.get('split_name') else ''}, "
        f"{spec.get('folds')} out-of-fold folds; {f(fe.get('train_rows'), 0)} train / {f(fe.get('test_rows'), 0)} test rows): "
        "`reelforest features` (embedded DataFusion, one process) against `bench/peers/spark_features.py` (the same "
        f"SQL templates run by Spark SQL {sp.get('spark_version')} `local[2]`, every step written to Parquet like "
        "reelforest does). Spark's tables are compared with reelforest's row by row: "
        + ("**identical** (same keys, every column within 1e-9) in every round." if fe.get("tables_match_every_round")
           else "**they differ**: " + json.dumps(fe.get("compare")))
    )
    L.append("")
    L.append("| side | feature SQL s | process wall s | CPU s | peak RSS MiB |")
    L.append("| --- | ---: | ---: | ---: | ---: |")
    L.append(f"| reelforest features | {f(rf['wall_seconds'])} (whole process) | {f(rf['wall_seconds'])} | {f(rf['cpu_seconds'])} | {f(rf['peak_rss_mib'], 0)} |")
    L.append(
        f"| Spark SQL | {f(sp['features_seconds'])} (session up; start-up {f(sp.get('session_start_seconds'))} s more) | "
        f"{f(sp['wall_seconds'])} | {f(sp['cpu_seconds'])} | {f(sp['peak_rss_mib'], 0)} |"
    )
    r = fe["ratios"]
    L.append(
        f"| ratio Spark / reelforest | {f(r['features_seconds'], 1)}× | {f(r['wall_seconds'], 1)}× | {f(r['cpu_seconds'], 1)}× | {f(r['peak_rss_mib'], 1)}× |"
    )
    L.append("")
    steps = sp.get("steps") or []
    if steps:
        top = sorted(steps, key=lambda s: -s["seconds"])[:4]
        L.append("Spark's slowest steps (first measured round): " + ", ".join(f"{s['step']} {s['seconds']:.1f} s" for s in top) + ".")
        L.append("")


def extrapolation(docs: dict) -> str:
    """What the 1m runs say about 10m: fit seconds x 10 (linear in rows: a lower bound for trees)."""
    fits = {}
    for doc in docs.values():
        if doc["dataset"] != "1m" or not doc.get("forest"):
            continue
        for side in doc["forest"]["sides"]:
            total = sum((t.get(side) or {}).get("fit_seconds") or 0.0 for t in doc["forest"]["tasks"].values())
            fits.setdefault(side, total)
    if not fits:
        return "No 1m forest run to extrapolate from."
    parts = []
    for side, s1 in fits.items():
        est = s1 * 10.0
        verdict = "over" if est > 15 * 60 else "under"
        parts.append(f"{SIDE_NAMES.get(side, side)} {s1:.0f} s at 1M → ≥ {est / 60:.0f} min at 10M ({verdict} 15 min)")
    return ("Extrapolated from the 1m runs (both tasks' fit seconds × 10, linear in rows, so a lower bound): "
            + "; ".join(parts) + ".")


def targets(docs: dict) -> list:
    rows = []

    def add(target, ds, measured, ok):
        rows.append((target, ds, measured, ok))

    for ds, doc in docs.items():
        fo = doc.get("forest")
        if fo:
            for task, t in fo["tasks"].items():
                if "spark" in t:
                    r = t["spark"]["fit_ratio"]
                    add(f"forest fit ≥ {TARGETS['spark_fit']:.0f}× faster than Spark MLlib", f"{ds} {task}",
                        f"{f(r, 1)}×" + (" (Spark on one partition: overstated, see notes)" if one_partition(fo) else ""),
                        None if one_partition(fo) and r is not None and r >= TARGETS["spark_fit"]
                        else (r is not None and r >= TARGETS["spark_fit"]))
                if "sklearn" in t:
                    r = t["sklearn"]["fit_ratio"]
                    gap = None
                    if task == "regression":
                        gap = abs(t["sklearn"]["metric_diff"]["rmse"])
                    ok = r is not None and r >= TARGETS["sklearn_fit"] and (gap is None or gap <= TARGETS["rmse_gap"])
                    add(
                        f"forest fit ≥ {TARGETS['sklearn_fit']:.0f}× faster than scikit-learn"
                        + (f", RMSE within {TARGETS['rmse_gap']}" if task == "regression" else ""),
                        f"{ds} {task}",
                        f"{f(r, 1)}×" + (f", RMSE gap {gap:.4f}" if gap is not None else ""),
                        ok,
                    )
                    tr = t["sklearn"].get("predict_throughput_ratio")
                    if tr is not None:
                        add(f"batch prediction ≥ {TARGETS['predict']:.0f}× scikit-learn's throughput", f"{ds} {task}", f"{f(tr, 1)}×", tr >= TARGETS["predict"])
            if "spark" in fo["process"]:
                r = fo["process"]["spark"]["rss_ratio"]
                add("peak memory ≤ 1/10 of Spark's (whole processes)", ds, f"Spark / reelforest {f(r, 1)}×", r is not None and r >= TARGETS["memory"])
                tr = fo["process"]["spark"].get("training_rss_ratio")
                if tr is not None:
                    add("peak memory while training ≤ 1/10 of Spark's (train+evaluate stage vs Spark's fit process)", ds,
                        f"Spark / reelforest {f(tr, 1)}×", tr >= TARGETS["memory"])
        fe = doc.get("features")
        if fe:
            r = fe["ratios"]["features_seconds"]
            add(f"feature SQL ≥ {TARGETS['features']:.0f}× faster than Spark SQL local[2]", ds, f"{f(r, 1)}× (whole processes {f(fe['ratios']['wall_seconds'], 1)}×)", r is not None and r >= TARGETS["features"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--md", required=True)
    a = ap.parse_args()
    docs = {}
    for path in glob.glob(os.path.join(a.dir, "*.json")):
        doc = json.load(open(path))
        docs[os.path.splitext(os.path.basename(path))[0]] = doc  # <dataset>[-<tag>]

    def order(key):
        d = docs[key]
        return (ORDER.index(d["dataset"]) if d["dataset"] in ORDER else 99, d.get("tag") or "")

    docs = {k: docs[k] for k in sorted(docs, key=order)}
    L = ["# reelforest vs Spark MLlib, scikit-learn, LightGBM and Spark SQL", ""]
    L.append("Generated by `bench/run.sh` (`bench/lib/peers_report.py` from `bench/results/peers/*.json`) — do not edit by hand.")
    L.append("Same data, same feature tables (the Parquet files reelforest wrote), same parameters (read from "
             "reelforest's report.json); medians of the measured rounds after warm-up, sides alternating. "
             "Ratios are peer ÷ reelforest for times and memory (above 1: reelforest is faster / smaller) and "
             "reelforest ÷ peer for prediction throughput.")
    L.append("")
    if not docs:
        L.append("No results yet: run `bash bench/run.sh`.")
    else:
        L.append("## Targets (issue 7)")
        L.append("")
        L.append("| target | dataset | measured | |")
        L.append("| --- | --- | --- | --- |")
        for target, ds, measured, ok in targets(docs):
            L.append(f"| {target} | {ds} | {measured} | {met(ok)} |")
        L.append("")
    for ds, doc in docs.items():
        m = doc["machine"]
        tag = doc.get("tag")
        L.append(f"## {doc['dataset_name']}{' — ' + ', '.join(doc['peers']) if tag else ''} (`--datasets {doc['dataset']}"
                 f"{' --tag ' + tag if tag else ''}`)")
        L.append("")
        L.append(
            f"Measured {doc['generated']}: {doc['warmup_rounds']} warm-up + {doc['measured_rounds']} rounds, peers "
            f"{', '.join(doc['peers'])}; load average at the start {m.get('load_average_at_start')}, at the end "
            f"{', '.join(f'{x:.2f}' for x in m['load_average_at_end'])}; reelforest commit {doc['reelforest']['git_commit'][:12]}"
            + (" (crates/ had uncommitted changes)" if doc["reelforest"]["crates_dirty"] else "")
            + f"; Spark `{doc['spark']['master']}`, driver memory {doc['spark']['driver_memory']}; scikit-learn / LightGBM n_jobs {doc['peer_jobs']}."
        )
        busy = [x for x in (str(m.get("load_average_at_start", "")).split() + [str(v) for v in m["load_average_at_end"]])
                if x.replace(".", "", 1).isdigit() and float(x) > m["nproc"] + 0.5]
        if busy:
            L.append("")
            L.append(f"**Timing caveat:** the load average exceeded the {m['nproc']} cores during this run (other work on the machine).")
        L.append("")
        if doc.get("forest"):
            forest_section(doc, L)
            not_run = [SIDE_NAMES.get(p, p) for p in ("spark", "sklearn") if p not in doc["forest"]["sides"]]
            if doc["dataset"] == "10m" and not_run:
                L.append(f"Not run at 10M (the issue's 15-minute budget): {', '.join(not_run)}. {extrapolation(docs)}")
                L.append("")
        elif doc.get("forest_skipped"):
            L.append(f"Forest comparison not run in this run (`--forest-10m` runs it). {extrapolation(docs)}")
            L.append("")
        if doc.get("cv"):
            cv_section(doc, L)
        if doc.get("features"):
            features_section(doc, L)
        if doc.get("ingest"):
            L.append(f"(`reelforest data ingest` of the raw files, once, not compared: {f(doc['ingest']['wall_seconds'])} s, "
                     f"peak {f(doc['ingest']['peak_rss_mib'], 0)} MiB.)")
            L.append("")
    if docs:
        L.append("## Reproduce")
        L.append("")
        L.append("```sh")
        L.append("bash bench/peers/setup.sh          # bench/.venv: pyspark, scikit-learn, lightgbm, pandas, pyarrow (Java 17)")
        L.append("# release binary: CARGO_TARGET_DIR=target-release cargo build --release -p reelforest")
        for doc in docs.values():
            L.append(
                f"flock /tmp/reelforest-cpu.lock bash bench/run.sh --datasets {doc['dataset']} --peers {','.join(doc['peers'])} "
                f"--rounds {doc['measured_rounds']} --warmup {doc['warmup_rounds']}"
                + (" --forest-10m" if doc["dataset"] == "10m" and doc.get("forest") else "")
                + (f" --tag {doc['tag']}" if doc.get("tag") else "") + " --no-render"
            )
        L.append("python3 bench/lib/render_benchmarks.py   # or drop --no-render from the last command")
        L.append("```")
        L.append("")
        any_doc = next(iter(docs.values()))
        m = any_doc["machine"]
        pm = {}
        for doc in docs.values():
            for side, meta in ((doc.get("forest") or {}).get("peer_meta") or {}).items():
                pm.setdefault(side, meta)
        L.append("## Versions and machine")
        L.append("")
        L.append(f"- CPU: {m['cpu_model']}, {m['nproc']} cores, memory {m['memory']}, kernel {m['kernel']}")
        L.append(f"- reelforest: `{os.path.basename(any_doc['reelforest']['binary'])}` release build of {any_doc['reelforest']['binary_mtime']}")
        if "spark" in pm:
            L.append(f"- Spark {pm['spark'].get('spark_version')} (pyspark {pm['spark'].get('pyspark_version')}), Python {pm['spark'].get('python')}")
        if "sklearn" in pm:
            L.append(f"- scikit-learn {pm['sklearn'].get('sklearn_version')}, numpy {pm['sklearn'].get('numpy_version')}")
        if "lightgbm" in pm:
            L.append(f"- LightGBM {pm['lightgbm'].get('lightgbm_version')}")
        L.append("")
    with open(a.md, "w") as fh:
        fh.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
