#!/usr/bin/env python3
"""Peer command-line arguments read from a reelforest report.json (used by bench/run.sh).

  peer_args.py forest REPORT   one line per group of tasks that share forest parameters:
                               TASKS NUM_TREES MAX_DEPTH MAX_BINS SUBSET MIN_INST SUBSAMPLING SEED IMPURITY
  peer_args.py features REPORT the feature spec as `reelforest features` flags (one line), which
                               bench/peers/spark_features.py takes too
  peer_args.py tuning JOB.toml the job's tuning as spark_rf.py --cv flags (one line)

Reading the parameters from the report (not from the job file) means every peer trains with
exactly what reelforest trained with, tuned values included.
"""

import json
import sys


def forest(report: str) -> None:
    r = json.load(open(report))
    groups: dict = {}
    for t in r["tasks"]:
        p = t["params"]
        imp = p.get("impurity") or ("variance" if t["task"] == "regression" else "gini")
        key = (
            p["numTrees"], p["maxDepth"], p["maxBins"], p["featureSubsetStrategy"], p["minInstancesPerNode"],
            p["subsamplingRate"], p["seed"],
        )
        groups.setdefault(key, []).append((t["task"], imp))
    for key, tasks in groups.items():
        cls_imp = next((imp for task, imp in tasks if task == "classification"), "gini")
        print(",".join(t for t, _ in tasks), *key, cls_imp)


def features(report: str) -> None:
    spec = json.load(open(report))["features"]["spec"]
    split = spec["split"]
    kind = split["kind"]
    out = [f"--split {kind}"]
    if kind == "predefined":
        out.append(f"--split-name {split['name']}")
    else:
        out.append(f"--test-fraction {split['test_fraction']!r}")
    out += [
        f"--folds {spec['folds']}",
        f"--seed {spec['seed']}",
        f"--good-threshold {float(spec['good_threshold'])!r}",
        f"--prior-strength {float(spec['prior_strength'])!r}",
    ]
    if spec.get("protocol") == "leaky":
        out.append("--leaky")
    if spec.get("extra_feature_tables"):
        sys.exit("peer_args.py: extra_feature_tables are not supported by the Spark SQL peer")
    print(" ".join(out))


def tuning(job: str) -> None:
    import tomllib

    t = tomllib.load(open(job, "rb")).get("tuning")
    if not t:
        sys.exit(f"peer_args.py: {job} has no [tuning]")
    if t.get("method", "cross_validation") != "cross_validation":
        sys.exit("peer_args.py: only cross_validation is mapped to Spark's CrossValidator")
    grid = ";".join(f"{k}={','.join(str(v) for v in vs)}" for k, vs in t.get("grid", {}).items())
    metric = t.get("metric")
    reg = metric or "rmse"
    cls = {"auc": "areaUnderROC", "pr_auc": "areaUnderPR"}.get(metric or "auc", "areaUnderROC")
    print(f"--cv-folds {t.get('numFolds', 3)} --cv-seed {t.get('seed', 42)} --cv-grid {grid} "
          f"--cv-metric-regression {reg} --cv-metric-classification {cls}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("forest", "features", "tuning"):
        sys.exit(__doc__)
    {"forest": forest, "features": features, "tuning": tuning}[sys.argv[1]](sys.argv[2])
