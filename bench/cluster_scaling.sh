#!/usr/bin/env bash
# Training on the cluster vs embedded, and the speed-up from 1 to 2 workers (issue 4).
#
#   bash bench/cluster_scaling.sh [RATINGS] [ROUNDS]
#
# One job (regression, 100 trees, maxDepth 10, no tuning, no audit) on generated data:
#   embedded   `reelforest run` (all cores)
#   c1         coordinator + 1 worker (all cores)
#   p1         coordinator + 1 worker pinned to core 0 (--threads 1)
#   p2         coordinator + 2 workers pinned to cores 0 and 1 (--threads 1 each)
# in alternating rounds. "fit" is the report's fit_seconds: from asking for the forest to
# having it (for the cluster: leases, tree building, transfer and assembly). Needs a release
# build (CARGO_TARGET_DIR=target-release cargo build --release -p reelforest).
# Writes bench/results/cluster_scaling.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
RATINGS=${1:-1000000}
ROUNDS=${2:-3}
BIN=${REELFOREST_BIN:-target-release/release/reelforest}
[ -x "$BIN" ] || { echo "build first: CARGO_TARGET_DIR=target-release cargo build --release -p reelforest" >&2; exit 1; }
BIN=$(realpath "$BIN")
WORK=$(mktemp -d /tmp/rf-cluster-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
cat > "$WORK/job.toml" <<TOML
name = "scaling"
tasks = ["regression"]
[data]
source = "synth"
synth = { ratings = $RATINGS, seed = 1 }
[model]
kind = "random_forest"
numTrees = 100
maxDepth = 10
[audit]
leaky = false
TOML
export REELFOREST_QUIET=true
fit_of() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["tasks"][0]["fit_seconds"], r["tasks"][0]["forest_sha256"])' "$1"; }

run_embedded() {
  rm -rf "$WORK/emb"; "$BIN" run "$WORK/job.toml" --out "$WORK/emb" >/dev/null
  fit_of "$WORK/emb/report.json"
}

# run_cluster NAME WORKER_SPEC...  (each spec: "CPUS THREADS", CPUS "" = unpinned)
run_cluster() {
  local name=$1; shift
  local d="$WORK/$name"; rm -rf "$d"; mkdir -p "$d"
  "$BIN" coordinator --bind 127.0.0.1:0 --warehouse "$d/wh" --work-dir "$d/co" --trees-per-task 5 > "$d/co.out" 2>/dev/null &
  local cpid=$!
  while ! grep -q "listening on" "$d/co.out" 2>/dev/null; do kill -0 $cpid; read -r -t 0.05 < /dev/zero || true; done
  local url="http://$(sed -n 's/coordinator listening on //p' "$d/co.out")"
  local wpids=()
  for spec in "$@"; do
    local cpus=${spec% *} threads=${spec#* }
    if [ -n "$cpus" ] && [ "$cpus" != "-" ]; then
      taskset -c "$cpus" "$BIN" worker --coordinator "$url" --threads "$threads" 2>/dev/null & wpids+=($!)
    else
      "$BIN" worker --coordinator "$url" --threads "$threads" 2>/dev/null & wpids+=($!)
    fi
  done
  local out; out=$("$BIN" submit "$WORK/job.toml" --coordinator "$url")
  local id; id=$(sed -n 's/^submitted //p' <<<"$out")
  kill "${wpids[@]}" $cpid 2>/dev/null; wait "${wpids[@]}" $cpid 2>/dev/null || true
  fit_of "$d/co/jobs/$id/report.json"
}

echo "warm-up"; run_embedded >/dev/null
results="$WORK/results.txt"; : > "$results"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r"
  echo "embedded $(run_embedded)" >> "$results"
  echo "c1 $(run_cluster c1 "- $(nproc)")" >> "$results"
  echo "p1 $(run_cluster p1 "0 1")" >> "$results"
  echo "p2 $(run_cluster p2 "0 1" "1 1")" >> "$results"
done
cat "$results"
mkdir -p bench/results
python3 - "$results" "$RATINGS" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
fits, shas = {}, set()
for name, fit, sha in rows:
    fits.setdefault(name, []).append(float(fit)); shas.add(sha)
med = {k: statistics.median(v) for k, v in fits.items()}
out = {"ratings": int(sys.argv[2]), "trees": 100, "fit_seconds": fits, "median": med,
       "identical_forests": len(shas) == 1,
       "cluster_1_worker_vs_embedded": med["c1"] / med["embedded"],
       "speedup_1_to_2_pinned_workers": med["p1"] / med["p2"]}
json.dump(out, open("bench/results/cluster_scaling.json", "w"), indent=2)
md = ["| setup | fit s (median) | trees/s |", "| --- | ---: | ---: |"]
for k, label in [("embedded", "embedded (2 threads)"), ("c1", "cluster, 1 worker (2 threads)"),
                 ("p1", "cluster, 1 worker pinned to 1 core"), ("p2", "cluster, 2 workers pinned to 1 core each")]:
    md.append(f"| {label} | {med[k]:.2f} | {100 / med[k]:.1f} |")
md.append("")
md.append(f"1-worker cluster / embedded: {out['cluster_1_worker_vs_embedded']:.3f}; "
          f"speed-up 1 → 2 pinned workers: {out['speedup_1_to_2_pinned_workers']:.2f}×; "
          f"forests identical in every run: {out['identical_forests']}")
open("bench/results/cluster_scaling.md", "w").write("\n".join(md) + "\n")
print("\n".join(md))
PY
