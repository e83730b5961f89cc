#!/usr/bin/env bash
# bench/forest_vs_sklearn.sh — reelforest's random forest vs scikit-learn's on the same features.
#
# Purpose (issue 3 acceptance; the seed of issue 7's driver):
#   For each ml-100k fold (u1 by default, u1..u5 with --folds all) it runs `reelforest run` on the
#   honest ml-100k job (examples/jobs/ml-100k-u1.toml with the fold's split name: 100 trees,
#   depth 10, 32 bins, both tasks, leakage audit), then bench/peers/sklearn_rf.py on the very
#   Parquet feature tables that run wrote (`<out>/warehouse/features/honest/{train,test}`), with
#   the same parameters (numTrees, maxDepth, featureSubsetStrategy, minInstancesPerNode, seed, read
#   from report.json). Rounds: WARMUP warm-up round(s), then ROUNDS alternating rounds
#   (reelforest, sklearn, reelforest, sklearn, ...). Timings are medians over the measured rounds;
#   metrics are deterministic per seed (the report checks they agree across rounds).
#
# Writes bench/results/<name>.json (everything, raw rounds included) and bench/results/<name>.md
# (tables: RMSE both sides and |diff|, fit times and ratio, classification metrics, the leakage
# audit, means over folds, the machine). <name> defaults to forest_vs_sklearn.
#
# Usage:
#   bash bench/forest_vs_sklearn.sh                     # u1, 1 warm-up + 3 rounds
#   bash bench/forest_vs_sklearn.sh --folds all         # u1..u5
#   bash bench/forest_vs_sklearn.sh --folds u1,u3 --rounds 5 --warmup 1
#   bash bench/forest_vs_sklearn.sh --max-bins 256 --name forest_vs_sklearn-bins256   # investigation
#
# Environment:
#   REELFOREST_BIN   the binary (default: target-release/release/reelforest, then target/release/reelforest)
#   DATASETS         datasets root (default: <repo>/../shared/datasets; needs ml-100k/u.data, uN.base/test)
#   SK_JOBS          sklearn n_jobs (default 2)
#   KEEP_TMP=1       keep the temporary directory (jobs, warehouses, logs)
#
# Notes: the sklearn command runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (both are
# recorded in the JSON as found); the reelforest command runs with REELFOREST_WAREHOUSE unset and
# --quiet. The Python env comes from bench/peers/setup.sh (created on first use).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

folds="u1"
rounds=3
warmup=1
max_bins=""
name="forest_vs_sklearn"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --folds) folds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --max-bins) max_bins="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//' | head -n -1; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$folds" == "all" ]] && folds="u1,u2,u3,u4,u5"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: --rounds must be >= 1" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "error: --warmup must be >= 0" >&2; exit 2; }
if [[ -n "$max_bins" ]] && ! [[ "$max_bins" =~ ^[0-9]+$ && "$max_bins" -ge 2 && "$max_bins" -le 256 ]]; then
  echo "error: --max-bins must be in 2..=256" >&2; exit 2
fi

# --- locate the binary, the data, the job template, the Python env --------------------------------
bin="${REELFOREST_BIN:-}"
if [[ -z "$bin" ]]; then
  for c in "$repo/target-release/release/reelforest" "$repo/target/release/reelforest"; do
    [[ -x "$c" ]] && { bin="$c"; break; }
  done
fi
if [[ -n "${REELFOREST_BIN:-}" && ! -x "$bin" ]]; then
  echo "error: REELFOREST_BIN=$bin is not an executable file" >&2; exit 1
fi
if [[ -z "$bin" ]]; then
  echo "error: reelforest release binary not found (looked at target-release/release/reelforest and" >&2
  echo "       target/release/reelforest; build with 'cargo build --release' or set REELFOREST_BIN)" >&2
  exit 1
fi
datasets="${DATASETS:-$repo/../shared/datasets}"
ml100k="$datasets/ml-100k"
if [[ ! -f "$ml100k/u.data" ]]; then
  echo "error: ml-100k not found at $ml100k (set DATASETS=...; 'reelforest data download ml-100k --to DIR')" >&2
  exit 1
fi
ml100k="$(cd "$ml100k" && pwd)"
template="$repo/examples/jobs/ml-100k-u1.toml"
[[ -f "$template" ]] || { echo "error: job template $template missing" >&2; exit 1; }
IFS=',' read -r -a fold_list <<<"$folds"
for f in "${fold_list[@]}"; do
  [[ -f "$ml100k/$f.base" && -f "$ml100k/$f.test" ]] || { echo "error: fold $f: $ml100k/$f.base/.test missing" >&2; exit 1; }
done
py="$(bash "$here/peers/setup.sh" | tail -n 1)"
[[ -x "$py" ]] || { echo "error: bench/peers/setup.sh did not produce a Python" >&2; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/forest_vs_sklearn.XXXXXX")"
if [[ -z "${KEEP_TMP:-}" ]]; then trap 'rm -rf "$tmp"' EXIT; else echo "keeping $tmp" >&2; fi
mkdir -p "$repo/bench/results"

openblas_env="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
sk_jobs="${SK_JOBS:-2}"
load_start="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

# --- one fold's job file --------------------------------------------------------------------------
make_job() { # fold -> path of the job file
  local fold="$1" job="$tmp/$1/job.toml"
  mkdir -p "$tmp/$fold"
  sed -e "s|^source = .*|source = \"$ml100k\"|" \
      -e "s|^name = \"ml100k-u1\"|name = \"ml100k-$fold\"|" \
      -e "s|name = \"u1\" }|name = \"$fold\" }|" \
      "$template" >"$job"
  if [[ -n "$max_bins" ]]; then sed -i -e "s|^maxBins = .*|maxBins = $max_bins|" "$job"; fi
  grep -q "name = \"$fold\" }" "$job" || { echo "error: could not set split name $fold in $job (template changed?)" >&2; exit 1; }
  grep -q "^source = \"$ml100k\"" "$job" || { echo "error: could not set the data source in $job" >&2; exit 1; }
  echo "$job"
}

run_reelforest() { # fold round
  local fold="$1" r="$2" d="$tmp/$1/rf-$2"
  mkdir -p "$d"
  echo "[$fold round $r] reelforest run" >&2
  if ! env -u REELFOREST_WAREHOUSE "$py" "$here/lib/measure.py" "$d/measure.json" -- \
      "$bin" --quiet run "$tmp/$fold/job.toml" --out "$d/out" >"$d/stdout.log" 2>"$d/stderr.log"; then
    echo "error: reelforest run failed for $fold (round $r); log: $d/stderr.log" >&2
    tail -n 20 "$d/stderr.log" >&2; exit 1
  fi
  [[ -f "$d/out/report.json" ]] || { echo "error: $d/out/report.json missing" >&2; exit 1; }
}

run_sklearn() { # fold round (reads the same round's reelforest warehouse)
  local fold="$1" r="$2" d="$tmp/$1/sk-$2" wh="$tmp/$1/rf-$2/out/warehouse"
  mkdir -p "$d"
  # Parameters straight from reelforest's report, so both sides always agree.
  local params
  params="$("$py" - "$tmp/$fold/rf-$r/out/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ps = {t["task"]: t["params"] for t in r["tasks"]}
p = ps.get("regression") or next(iter(ps.values()))
for t, q in ps.items():
    for k in ("numTrees", "maxDepth", "featureSubsetStrategy", "minInstancesPerNode", "seed"):
        if q[k] != p[k]:
            sys.exit(f"tasks use different {k}: sklearn_rf.py takes one value")
imp = {t: q.get("impurity") for t, q in ps.items()}
cls_imp = imp.get("classification") or "gini"
print(p["numTrees"], p["maxDepth"], p["featureSubsetStrategy"], p["minInstancesPerNode"], p["seed"],
      cls_imp, ",".join(ps))
PY
)"
  local nt md fs mi seed imp tasks
  read -r nt md fs mi seed imp tasks <<<"$params"
  echo "[$fold round $r] sklearn ($tasks: $nt trees, depth $md, subset $fs, leaf $mi, seed $seed)" >&2
  if ! env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$here/lib/measure.py" "$d/measure.json" -- \
      "$py" "$here/peers/sklearn_rf.py" --warehouse "$wh" --run honest --tasks "$tasks" \
      --num-trees "$nt" --max-depth "$md" --feature-subset "$fs" --min-instances-per-node "$mi" \
      --impurity "$imp" --seed "$seed" --n-jobs "$sk_jobs" --out "$d/result.json" \
      >"$d/stdout.log" 2>"$d/stderr.log"; then
    echo "error: sklearn_rf.py failed for $fold (round $r); log: $d/stderr.log" >&2
    tail -n 20 "$d/stderr.log" >&2; exit 1
  fi
}

# --- rounds: warm-up, then A B A B ... ------------------------------------------------------------
for fold in "${fold_list[@]}"; do
  make_job "$fold" >/dev/null
  total=$((warmup + rounds))
  for ((r = 0; r < total; r++)); do
    run_reelforest "$fold" "$r"
    run_sklearn "$fold" "$r"
  done
done

# --- report ---------------------------------------------------------------------------------------
"$py" "$here/lib/forest_vs_sklearn_report.py" \
  --tmp "$tmp" --folds "$folds" --warmup "$warmup" --rounds "$rounds" \
  --binary "$bin" --repo "$repo" --datasets "$ml100k" --openblas-env "$openblas_env" \
  --sk-jobs "$sk_jobs" --max-bins "${max_bins:-}" --load-start "$load_start" \
  --json "$repo/bench/results/$name.json" --md "$repo/bench/results/$name.md"
echo "wrote bench/results/$name.json and bench/results/$name.md" >&2
