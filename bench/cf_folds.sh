#!/usr/bin/env bash
# bench/cf_folds.sh — honest ml-100k accuracy over the official folds u1..u5.
#
# Runs examples/jobs/ml-100k-u1.toml once per fold (its split name replaced, leakage audit off)
# and prints, per fold and as means: the forest's test RMSE and AUC, each CF model alone
# (report.json's `cf_alone`), and the top-10 ranking metrics of every scorer (`ranking`). Accuracy only: the runs are deterministic, so one round is enough;
# speed comparisons live in bench/run.sh.
#
# Usage:   bash bench/cf_folds.sh [FOLDS...]          # default u1 u2 u3 u4 u5
# Environment:
#   REELFOREST_BIN  the binary (default: target/release/reelforest, then target/debug/reelforest)
#   DATASETS        datasets root (default: <repo>/../shared/datasets)
#   KEEP_TMP=1      keep the temporary directory
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
datasets="${DATASETS:-$repo/../shared/datasets}"
folds=("$@")
[[ ${#folds[@]} -gt 0 ]] || folds=(u1 u2 u3 u4 u5)

bin="${REELFOREST_BIN:-}"
if [[ -z "$bin" ]]; then
  for c in "$repo/target/release/reelforest" "$repo/target/debug/reelforest"; do
    [[ -x "$c" ]] && { bin="$c"; break; }
  done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "error: no reelforest binary (set REELFOREST_BIN or cargo build)" >&2; exit 1; }
[[ -f "$datasets/ml-100k/u.data" ]] || { echo "error: $datasets/ml-100k/u.data not found (set DATASETS)" >&2; exit 1; }

tmp="$(mktemp -d)"
[[ "${KEEP_TMP:-}" == 1 ]] || trap 'rm -rf "$tmp"' EXIT
for f in "${folds[@]}"; do
  [[ "$f" =~ ^u[1-5]$ ]] || { echo "error: unknown fold $f (u1..u5)" >&2; exit 2; }
  sed -e "s/name = \"u1\"/name = \"$f\"/" -e 's/^leaky = true/leaky = false/' \
      -e "s|^source = .*|source = \"$datasets/ml-100k\"|" "$repo/examples/jobs/ml-100k-u1.toml" >"$tmp/$f.toml"
  echo "running $f ..." >&2
  env -u REELFOREST_WAREHOUSE "$bin" run "$tmp/$f.toml" --out "$tmp/out-$f" --quiet >"$tmp/$f.log" 2>&1 \
    || { cat "$tmp/$f.log" >&2; exit 1; }
done
python3 - "$tmp" "${folds[@]}" <<'PY'
import json, statistics, sys
tmp, folds = sys.argv[1], sys.argv[2:]
rows = []
for f in folds:
    r = json.load(open(f"{tmp}/out-{f}/report.json"))
    task = {t["task"]: t["test"] for t in r["tasks"]}
    cf = {c["model"]: (c["test"]["rmse"], c["roc_auc"]) for c in r.get("cf_alone", [])}
    rows.append((f, task["regression"]["rmse"], task["classification"]["roc_auc"], cf))
models = list(rows[0][3])
print("| fold | forest RMSE | forest AUC | " + " | ".join(f"{m} RMSE / AUC" for m in models) + " |")
print("|---" * (3 + len(models)) + "|")
for f, rmse, auc, cf in rows:
    print(f"| {f} | {rmse:.4f} | {auc:.4f} | " + " | ".join(f"{cf[m][0]:.4f} / {cf[m][1]:.4f}" for m in models) + " |")
mean = statistics.mean
print(f"| mean | {mean(r[1] for r in rows):.4f} | {mean(r[2] for r in rows):.4f} | "
      + " | ".join(f"{mean(r[3][m][0] for r in rows):.4f} / {mean(r[3][m][1] for r in rows):.4f}" for m in models) + " |")
ranks = {f: json.load(open(f"{tmp}/out-{f}/report.json")).get("ranking", []) for f in folds}
if all(ranks.values()):
    print()
    print("| fold | " + " | ".join(f"{x['model']} P@{x['k']} / NDCG / distinct / max lists" for x in ranks[folds[0]]) + " |")
    print("|---" * (1 + len(ranks[folds[0]])) + "|")
    cell = lambda x: f"{x['precision_at_k']:.4f} / {x['ndcg_at_k']:.4f} / {x['distinct_movies']} / {x['max_lists_per_movie']}"
    for f in folds:
        print(f"| {f} | " + " | ".join(cell(x) for x in ranks[f]) + " |")
    n = len(ranks[folds[0]])
    print("| mean P / NDCG | " + " | ".join(
        f"{mean(ranks[f][i]['precision_at_k'] for f in folds):.4f} / {mean(ranks[f][i]['ndcg_at_k'] for f in folds):.4f}"
        for i in range(n)) + " |")
PY
