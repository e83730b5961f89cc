#!/usr/bin/env bash
# bench/run.sh — reelforest side by side with Spark MLlib, scikit-learn, LightGBM and Spark SQL (issue 7).
#
# Same data, same features, same parameters: every peer reads the Parquet feature tables the same
# round's `reelforest run` wrote (<out>/warehouse/features/honest/{train,test}), with parameters read
# from that run's report.json (bench/lib/peer_args.py). Per dataset and round, in this order:
#
#   forest    A: `reelforest run` (job: 100 trees, depth 10 unless the job says otherwise, both
#                tasks, no leakage audit)
#             B: each forest peer on A's feature tables: spark (MLlib RandomForest*, local[2]),
#                sklearn (RandomForest*, n_jobs=2), lightgbm (gradient boosting: accuracy reference)
#   cv        A: `reelforest run` of the tuning job (examples/jobs/movielens-small.toml: fold-honest
#                3-fold CV over maxDepth [6,10] x numTrees [20,50])           (dataset small only)
#             B: spark-cv: Spark's CrossValidator over the same grid on A's honest training table
#                (regression: the job's tuning metric is rmse)
#   features  A: `reelforest features` (embedded DataFusion) on the raw tables A ingested
#             B: spark-sql: bench/peers/spark_features.py, reelforest's feature SQL run by Spark SQL
#                local[2] on the same raw tables; its train/test tables are checked against A's
#
# Rounds: WARMUP warm-up round(s), then ROUNDS measured ones, sides alternating (A B A B ...).
# Every process runs under bench/lib/measure.py (wall, CPU, peak RSS via wait4); peers also report
# in-process fit / predict seconds. Each dataset's rounds become bench/results/peers/<dataset>.json;
# bench/lib/peers_report.py turns every dataset JSON present into bench/results/peers.md (medians and
# ratios peer / reelforest), and bench/lib/render_benchmarks.py regenerates BENCHMARKS.md.
#
# Datasets:  u1     ml-100k, official fold u1 (examples/jobs/ml-100k-u1.toml)
#            small  ml-latest-small + IMDB-5000 directors, random 80/20 (examples/jobs/movielens-small.toml
#                   [model] without [tuning] for the forest comparison; with it for cv)
#            1m     1,000,000 generated ratings (`reelforest data synth --seed 1`), random 80/20,
#                   100 trees, depth 10
#            10m    10,000,000 generated ratings: features only by default (the forest peers would not
#                   finish within 15 minutes on 2 cores, see the report); `--forest-10m` to try anyway
#
# Usage:
#   bash bench/run.sh                                   # u1,small,1m: every peer, 1 warm-up + 3 rounds
#   bash bench/run.sh --datasets u1 --peers sklearn --rounds 1 --warmup 0     # a short run
#   bash bench/run.sh --datasets 10m --peers spark-sql                        # feature SQL at 10M
#   bash bench/run.sh --report-only                     # re-render peers.md and BENCHMARKS.md
#
# Options:
#   --datasets LIST   u1,small,1m,10m (default u1,small,1m)
#   --peers LIST      spark,sklearn,lightgbm,spark-cv,spark-sql (default: all)
#   --rounds N        measured rounds (default 3)      --warmup N   warm-up rounds (default 1)
#   --forest-10m      also run the forest comparison on 10m
#   --tag NAME        write results/peers/<dataset>-NAME.json instead of <dataset>.json, so a run with
#                     other peers or rounds (e.g. Spark alone on 1m) sits beside the main one
#   --no-render       do not regenerate BENCHMARKS.md
#   --report-only     only regenerate bench/results/peers.md and BENCHMARKS.md from the JSON files
#
# Environment:
#   REELFOREST_BIN    the binary (default target-release/release/reelforest, then target/release/reelforest)
#   DATASETS          datasets root (default <repo>/../shared/datasets)
#   BENCH_DATA        where generated data is kept between runs (default /tmp/reelforest-bench-data)
#   PEER_JOBS         n_jobs / num_threads of sklearn and LightGBM (default 2)
#   SPARK_MASTER      default local[2]        SPARK_DRIVER_MEMORY   default 4g (8g for 10m)
#   KEEP_TMP=1        keep the temporary directory (jobs, warehouses, logs)
#   REELFOREST_SOURCE the git checkout the binary was built from, for the commit recorded in the
#                     results (default: this repository)
#   BENCH_TARGET      cargo target directory for bench/predict (default <repo>/target-bench; a
#                     workspace member, built with the workspace's lock file and release profile)
#   NO_PREDICT=1      do not build / run bench/predict (reelforest's batch prediction timer)
#
# CPU etiquette on the shared machine: run it under `flock /tmp/reelforest-cpu.lock bash bench/run.sh ...`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

datasets_arg="u1,small,1m"
peers_arg="spark,sklearn,lightgbm,spark-cv,spark-sql"
rounds=3
warmup=1
render=1
report_only=0
forest_10m=0
tag=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --datasets) datasets_arg="$2"; shift 2 ;;
    --peers) peers_arg="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --forest-10m) forest_10m=1; shift ;;
    --tag) tag="$2"; shift 2 ;;
    --no-render) render=0; shift ;;
    --report-only) report_only=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//' | head -n -1; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -z "$tag" || "$tag" =~ ^[a-z0-9_]+$ ]] || { echo "error: --tag: lowercase letters, digits, _" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "error: --rounds must be >= 1" >&2; exit 2; }
[[ "$warmup" =~ ^[0-9]+$ ]] || { echo "error: --warmup must be >= 0" >&2; exit 2; }
IFS=',' read -r -a datasets <<<"$datasets_arg"
IFS=',' read -r -a peers <<<"$peers_arg"
for d in "${datasets[@]}"; do
  case "$d" in u1|small|1m|10m) ;; *) echo "error: unknown dataset $d (u1, small, 1m, 10m)" >&2; exit 2 ;; esac
done
for p in "${peers[@]}"; do
  case "$p" in spark|sklearn|lightgbm|spark-cv|spark-sql) ;; *) echo "error: unknown peer $p" >&2; exit 2 ;; esac
done
has_peer() { local x; for x in "${peers[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }

py="$(bash "$here/peers/setup.sh" | tail -n 1)"
[[ -x "$py" ]] || { echo "error: bench/peers/setup.sh did not produce a Python" >&2; exit 1; }
results="$repo/bench/results"
mkdir -p "$results/peers"

render_all() {
  "$py" "$here/lib/peers_report.py" --dir "$results/peers" --md "$results/peers.md"
  if [[ "$render" == 1 ]]; then "$py" "$here/lib/render_benchmarks.py"; fi
}
if [[ "$report_only" == 1 ]]; then render_all; exit 0; fi

# --- binary, data --------------------------------------------------------------------------------
bin="${REELFOREST_BIN:-}"
if [[ -z "$bin" ]]; then
  for c in "$repo/target-release/release/reelforest" "$repo/target/release/reelforest"; do
    [[ -x "$c" ]] && { bin="$c"; break; }
  done
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "error: no reelforest release binary (set REELFOREST_BIN or cargo build --release)" >&2; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
data_root="$(cd "${DATASETS:-$repo/../shared/datasets}" 2>/dev/null && pwd)" || { echo "error: datasets root not found (set DATASETS)" >&2; exit 1; }
bench_data="${BENCH_DATA:-/tmp/reelforest-bench-data}"
peer_jobs="${PEER_JOBS:-2}"
master="${SPARK_MASTER:-local[2]}"

# reelforest's batch prediction is timed by bench/predict (a small workspace member on the
# project's crates: the saved model on the test rows the peers predict). Built here when cargo is
# available; without it the prediction columns of reelforest stay empty.
predict_bin=""
if [[ -z "${NO_PREDICT:-}" ]] && command -v cargo >/dev/null; then
  predict_target="${BENCH_TARGET:-$repo/target-bench}"
  echo "building bench/predict (release, into $predict_target)" >&2
  if CARGO_TARGET_DIR="$predict_target" cargo build --quiet --locked --release -p reelforest-bench-predict --manifest-path "$repo/Cargo.toml" >&2; then
    predict_bin="$predict_target/release/reelforest-bench-predict"
  else
    echo "warning: bench/predict did not build; reelforest's batch prediction is not measured" >&2
  fi
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/reelforest-bench.XXXXXX")"
if [[ -z "${KEEP_TMP:-}" ]]; then trap 'rm -rf "$tmp"' EXIT; else echo "keeping $tmp" >&2; fi

# --- jobs ----------------------------------------------------------------------------------------
synth_dir() { # ratings -> directory with generated CSVs (made once, reused)
  local n="$1" d="$bench_data/synth-$1-seed1"
  if [[ ! -f "$d/.complete" ]]; then
    rm -rf "$d"; mkdir -p "$d"
    echo "generating $n ratings into $d" >&2
    "$bin" --quiet data synth --ratings "$n" --seed 1 --out "$d" >/dev/null
    touch "$d/.complete"
  fi
  echo "$d"
}

# make_job DATASET KIND(forest|cv) OUT  — writes the job file, no leakage audit (not compared).
make_job() {
  local ds="$1" kind="$2" job="$3"
  case "$ds" in
    u1)
      sed -e "s|^source = .*|source = \"$data_root/ml-100k\"|" -e 's|^leaky = true|leaky = false|' \
        "$repo/examples/jobs/ml-100k-u1.toml" >"$job" ;;
    small)
      sed -e "s|^source = .*|source = \"$data_root/ml-latest-small\"|" \
          -e "s|^metadata = .*|metadata = \"$data_root/imdb-5000/movie_metadata.csv\"|" \
          "$repo/examples/jobs/movielens-small.toml" >"$job.full"
      if [[ "$kind" == forest ]]; then
        # [model] of the tuning job, without [tuning] / [tuning.grid]
        awk '/^\[tuning/ {skip=1; next} /^\[/ {skip=0} !skip' "$job.full" >"$job"
      else
        # the tuning job's metric (rmse) applies to regression only: reelforest rejects it for
        # the classification task, so the CrossValidator comparison is the regression task
        sed -e 's|^tasks = .*|tasks = ["regression"]|' "$job.full" >"$job"
      fi
      printf '\n[audit]\nleaky = false\n' >>"$job" ;;
    1m|10m)
      local n=1000000; [[ "$ds" == 10m ]] && n=10000000
      cat >"$job" <<TOML
# generated by bench/run.sh: $n generated ratings (seed 1), random 80/20 split
name = "synth-$ds"
tasks = ["regression", "classification"]

[data]
source = "$(synth_dir "$n")"

[features]
split = { kind = "random", test_fraction = 0.2 }
seed = 42

[model]
kind = "random_forest"
numTrees = 100
maxDepth = 10
maxBins = 32
featureSubsetStrategy = "auto"
seed = 42

[audit]
leaky = false
TOML
      ;;
  esac
  grep -q '^leaky = false' "$job" || { echo "error: could not disable the audit in $job" >&2; exit 1; }
}

measure() { # DIR CMD... : runs CMD under measure.py with logs in DIR; fails loudly
  local d="$1"; shift
  mkdir -p "$d"
  if ! "$py" "$here/lib/measure.py" "$d/measure.json" -- "$@" >"$d/stdout.log" 2>"$d/stderr.log"; then
    echo "error: command failed (logs in $d): $*" >&2
    tail -n 30 "$d/stderr.log" >&2
    exit 1
  fi
}

# --- one round -----------------------------------------------------------------------------------
run_forest() { # ds r job
  local ds="$1" r="$2" job="$3" d="$tmp/$1/r$2"
  echo "[$ds round $r] reelforest run" >&2
  measure "$d/reelforest" env -u REELFOREST_WAREHOUSE "$bin" --quiet run "$job" --out "$d/reelforest/out"
  local report="$d/reelforest/out/report.json" wh="$d/reelforest/out/warehouse"
  [[ -f "$report" ]] || { echo "error: $report missing" >&2; exit 1; }
  if [[ -n "$predict_bin" ]]; then
    local prow pcol pmodel
    read -r prow pcol pmodel < <("$py" "$here/lib/export_matrix.py" "$wh" honest "$d/test.f64")
    echo "[$ds round $r] reelforest batch prediction ($prow test rows)" >&2
    measure "$d/reelforest-predict" "$predict_bin" "$pmodel" "$d/test.f64" "$prow" "$pcol" 25
    rm -f "$d/test.f64"
  fi
  local line tasks nt md mb fs mi ss seed imp g=0
  while read -r line; do
    read -r tasks nt md mb fs mi ss seed imp <<<"$line"
    if has_peer spark; then
      echo "[$ds round $r] spark mllib ($tasks: $nt trees, depth $md, $mb bins, subset $fs)" >&2
      measure "$d/spark-$g" "$py" "$here/peers/spark_rf.py" --warehouse "$wh" --run honest --tasks "$tasks" \
        --num-trees "$nt" --max-depth "$md" --max-bins "$mb" --feature-subset "$fs" --min-instances-per-node "$mi" \
        --subsampling-rate "$ss" --impurity "$imp" --seed "$seed" --master "$master" --driver-memory "$spark_mem" \
        --out "$d/spark-$g/result.json"
    fi
    if has_peer sklearn; then
      echo "[$ds round $r] scikit-learn ($tasks)" >&2
      measure "$d/sklearn-$g" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$here/peers/sklearn_rf.py" \
        --warehouse "$wh" --run honest --tasks "$tasks" --num-trees "$nt" --max-depth "$md" --feature-subset "$fs" \
        --min-instances-per-node "$mi" --impurity "$imp" --seed "$seed" --n-jobs "$peer_jobs" --out "$d/sklearn-$g/result.json"
    fi
    if has_peer lightgbm; then
      echo "[$ds round $r] lightgbm ($tasks)" >&2
      measure "$d/lightgbm-$g" "$py" "$here/peers/lightgbm_gbm.py" --warehouse "$wh" --run honest --tasks "$tasks" \
        --num-trees "$nt" --seed "$seed" --n-jobs "$peer_jobs" --out "$d/lightgbm-$g/result.json"
    fi
    g=$((g + 1))
  done < <("$py" "$here/lib/peer_args.py" forest "$report")
}

run_cv() { # ds r job
  local ds="$1" r="$2" job="$3" d="$tmp/$1/r$2"
  echo "[$ds round $r] reelforest run (tuning job)" >&2
  measure "$d/reelforest-cv" env -u REELFOREST_WAREHOUSE "$bin" --quiet run "$job" --out "$d/reelforest-cv/out"
  local report="$d/reelforest-cv/out/report.json" wh="$d/reelforest-cv/out/warehouse" cvargs
  cvargs="$("$py" "$here/lib/peer_args.py" tuning "$job")"
  # The CrossValidator starts from the job's [model] (the grid overrides its values).
  local line tasks nt md mb fs mi ss seed imp
  line="$("$py" "$here/lib/peer_args.py" forest "$report" | head -n 1)"
  read -r tasks nt md mb fs mi ss seed imp <<<"$line"
  local all_tasks
  all_tasks="$("$py" -c 'import json,sys; print(",".join(t["task"] for t in json.load(open(sys.argv[1]))["tasks"]))' "$report")"
  echo "[$ds round $r] spark CrossValidator ($all_tasks; $cvargs)" >&2
  # shellcheck disable=SC2086
  measure "$d/spark-cv" "$py" "$here/peers/spark_rf.py" --warehouse "$wh" --run honest --tasks "$all_tasks" \
    --max-bins "$mb" --feature-subset "$fs" --min-instances-per-node "$mi" --subsampling-rate "$ss" --seed "$seed" \
    --master "$master" --driver-memory "$spark_mem" $cvargs --out "$d/spark-cv/result.json"
}

run_features() { # ds r warehouse featureflags
  local ds="$1" r="$2" wh="$3" flags="$4" d="$tmp/$1/r$2" name="fsql_r$2"
  echo "[$ds round $r] reelforest features ($flags)" >&2
  # shellcheck disable=SC2086
  measure "$d/reelforest-features" env -u REELFOREST_WAREHOUSE "$bin" --quiet features --warehouse "$wh" --out "$name" $flags
  echo "[$ds round $r] spark sql features" >&2
  # shellcheck disable=SC2086
  measure "$d/spark-sql" "$py" "$here/peers/spark_features.py" --warehouse "$wh" --out "$d/spark-sql/tables" \
    --run "$name" $flags --master "$master" --driver-memory "$spark_mem" --compare-run "$name" --result "$d/spark-sql/result.json"
  # keep the disk small at 10M: the tables were compared already
  rm -rf "$d/spark-sql/tables" "$wh/features/$name"
}

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
for ds in "${datasets[@]}"; do
  spark_mem="${SPARK_DRIVER_MEMORY:-4g}"
  [[ "$ds" == 10m && -z "${SPARK_DRIVER_MEMORY:-}" ]] && spark_mem="8g"
  mkdir -p "$tmp/$ds"
  do_forest=0; do_cv=0; do_feat=0
  if has_peer spark || has_peer sklearn || has_peer lightgbm; then do_forest=1; fi
  [[ "$ds" == 10m && "$forest_10m" == 0 ]] && do_forest=0
  [[ "$ds" == small ]] && has_peer spark-cv && do_cv=1
  has_peer spark-sql && do_feat=1
  if [[ "$do_forest" == 0 && "$do_cv" == 0 && "$do_feat" == 0 ]]; then
    echo "[$ds] nothing to run with peers $peers_arg" >&2; continue
  fi
  make_job "$ds" forest "$tmp/$ds/job.toml"
  [[ "$do_cv" == 1 ]] && make_job "$ds" cv "$tmp/$ds/job-cv.toml"
  feat_wh=""; feat_flags=""
  if [[ "$do_feat" == 1 && "$do_forest" == 0 ]]; then
    # features only: ingest once (timed for the record, not compared)
    src="$(sed -n 's/^source = "\(.*\)"$/\1/p' "$tmp/$ds/job.toml" | head -n 1)"
    meta=()
    m="$(sed -n 's/^metadata = "\(.*\)"$/\1/p' "$tmp/$ds/job.toml" | head -n 1)"
    [[ -n "$m" ]] && meta=(--metadata "$m")
    fmt=()
    f="$(sed -n 's/^format = "\(.*\)"$/\1/p' "$tmp/$ds/job.toml" | head -n 1)"
    [[ -n "$f" ]] && fmt=(--format "$f")
    echo "[$ds] reelforest data ingest (once)" >&2
    measure "$tmp/$ds/ingest" "$bin" --quiet data ingest --source "$src" "${fmt[@]}" "${meta[@]}" --warehouse "$tmp/$ds/wh"
    feat_wh="$tmp/$ds/wh"
    case "$ds" in
      u1) feat_flags="--split predefined --split-name u1 --folds 5 --seed 42 --good-threshold 4.0 --prior-strength 10.0" ;;
      *) feat_flags="--split random --test-fraction 0.2 --folds 5 --seed 42 --good-threshold 4.0 --prior-strength 10.0" ;;
    esac
  fi
  total=$((warmup + rounds))
  for ((r = 0; r < total; r++)); do
    if [[ "$do_forest" == 1 ]]; then run_forest "$ds" "$r" "$tmp/$ds/job.toml"; fi
    if [[ "$do_cv" == 1 ]]; then run_cv "$ds" "$r" "$tmp/$ds/job-cv.toml"; fi
    if [[ "$do_feat" == 1 ]]; then
      if [[ "$do_forest" == 1 ]]; then
        wh="$tmp/$ds/r$r/reelforest/out/warehouse"
        flags="$("$py" "$here/lib/peer_args.py" features "$tmp/$ds/r$r/reelforest/out/report.json")"
        run_features "$ds" "$r" "$wh" "$flags"
      else
        run_features "$ds" "$r" "$feat_wh" "$feat_flags"
      fi
    fi
    # the warehouses of finished rounds are not needed any more (reports and results are)
    rm -rf "$tmp/$ds/r$r/reelforest/out/warehouse" "$tmp/$ds/r$r/reelforest-cv/out/warehouse"
  done
  "$py" "$here/lib/peers_collect.py" --tmp "$tmp/$ds" --dataset "$ds" --warmup "$warmup" --rounds "$rounds" \
    --peers "$peers_arg" --binary "$bin" --repo "${REELFOREST_SOURCE:-$repo}" --tag "$tag" --load-start "$load_start" --spark-master "$master" \
    --spark-driver-memory "$spark_mem" --peer-jobs "$peer_jobs" --forest-skipped "$([[ "$ds" == 10m && "$forest_10m" == 0 ]] && echo 1 || echo 0)" \
    --out "$results/peers/$ds${tag:+-$tag}.json"
  echo "wrote bench/results/peers/$ds${tag:+-$tag}.json" >&2
done
render_all
echo "wrote bench/results/peers.md$([[ "$render" == 1 ]] && echo ' and BENCHMARKS.md')" >&2
