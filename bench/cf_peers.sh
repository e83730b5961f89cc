#!/usr/bin/env bash
# bench/cf_peers.sh — reelforest's CF learners against their peers, same files, alternating rounds.
#
# Pairs (each round runs both sides, alternating which goes first):
#   als  reelforest's ALS           vs Spark MLlib's ALS (pyspark, local[2]): same rank, maxIter,
#                                      regParam, seed; explicit feedback
#   mf   reelforest's biased MF      vs Surprise's SVD (its defaults: SGD, 100 factors, 20 epochs);
#                                      reelforest: rank 20, regParam 0.15 (its `cf_mf` defaults)
#   knn  reelforest's item-kNN       vs Surprise's KNNBaseline: pearson_baseline, shrinkage 100,
#                                      k 40, ALS baselines; the same parameters on both sides
# on ml-100k's official fold (u1 by default). reelforest's side is the release binary of
# `cargo bench -p reelforest-cf --bench als`; cold test rows are dropped and predictions are not
# clipped on both sides. Reports medians of the measured rounds, each side's RMSE and the
# fit-time ratio. Writes bench/results/cf_peers.json (every round) and bench/results/cf_peers.md.
#
# Usage:   bash bench/cf_peers.sh [--pairs als,mf,knn] [--fold u1] [--rounds 3] [--warmup 1]
#                                 [--rank 10] [--max-iter 10] [--reg 0.1] [--seed 42]
# Environment: DATASETS (default <repo>/../shared/datasets); the Python env of bench/peers/setup.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
datasets="${DATASETS:-$repo/../shared/datasets}"
fold=u1 rounds=3 warmup=1 rank=10 iters=10 reg=0.1 seed=42 pairs=als,mf,knn
while [[ $# -gt 0 ]]; do
  case "$1" in
    --pairs) pairs="$2"; shift 2 ;;
    --fold) fold="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --rank) rank="$2"; shift 2 ;;
    --max-iter) iters="$2"; shift 2 ;;
    --reg) reg="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) echo "error: unknown flag $1" >&2; exit 2 ;;
  esac
done
train="$datasets/ml-100k/$fold.base" test="$datasets/ml-100k/$fold.test"
[[ -f "$train" && -f "$test" ]] || { echo "error: $train or $test not found (set DATASETS)" >&2; exit 1; }

python="$(bash "$here/peers/setup.sh" | tail -n 1)"
als_bin="$(cd "$repo" && cargo bench --locked -q -p reelforest-cf --bench als --no-run --message-format=json 2>/dev/null \
  | "$python" -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "als": print(m["executable"])' | tail -n 1)"
[[ -x "$als_bin" ]] || { echo "error: could not build the ALS bench binary" >&2; exit 1; }

out="$repo/bench/results/cf_peers"
lines=()
run_side() { # side pair
  case "$1:$2" in
    rf:als) "$als_bin" "$train" "$test" "$rank" "$iters" "$reg" "$seed" als ;;
    rf:mf) "$als_bin" "$train" "$test" 20 "$iters" 0.15 "$seed" mf ;;
    rf:knn) "$als_bin" "$train" "$test" "$rank" "$iters" "$reg" "$seed" knn ;;
    peer:als) (cd "$here/peers" && "$python" spark_als.py "$train" "$test" "$rank" "$iters" "$reg" "$seed" 2>/dev/null | tail -n 1) ;;
    peer:mf) (cd "$here/peers" && "$python" surprise_cf.py "$train" "$test" svd "$seed" | tail -n 1) ;;
    peer:knn) (cd "$here/peers" && "$python" surprise_cf.py "$train" "$test" knn "$seed" | tail -n 1) ;;
    *) echo "error: unknown pair $2 (als, mf, knn)" >&2; exit 2 ;;
  esac
}
IFS=, read -r -a pair_list <<<"$pairs"
for pair in "${pair_list[@]}"; do
  for ((r = 0; r < warmup + rounds; r++)); do
    for side in $( ((r % 2 == 0)) && echo "rf peer" || echo "peer rf"); do
      line="$(run_side "$side" "$pair")"
      line="${line%\}}, \"pair\": \"$pair\"}"
      echo "$pair round $r: $line" >&2
      ((r >= warmup)) && lines+=("$line")
    done
  done
done
runs="$(mktemp)"
trap 'rm -f "$runs"' EXIT
printf '%s\n' "${lines[@]}" >"$runs"
"$python" - "$runs" "$out" "$fold" "$rank" "$iters" "$reg" "$seed" "$rounds" <<'PY'
import json, statistics, sys, platform, os
path, out, fold, rank, iters, reg, seed, rounds = sys.argv[1:]
runs = [json.loads(l) for l in open(path) if l.strip()]
PEERS = {"als": ("ALS", "Spark MLlib ALS"), "mf": ("biased MF (ALS)", "Surprise SVD"), "knn": ("item-kNN", "Surprise KNNBaseline")}
pairs = []
for pair in dict.fromkeys(r["pair"] for r in runs):
    ours = [r for r in runs if r["pair"] == pair and r["peer"] == "reelforest"]
    theirs = [r for r in runs if r["pair"] == pair and r["peer"] != "reelforest"]
    assert len({r["rmse"] for r in ours}) == 1, f"{pair}: reelforest's RMSE differs between rounds"
    fit = lambda rs: statistics.median(r["fit_seconds"] for r in rs)
    pairs.append({
        "pair": pair, "ours": PEERS[pair][0], "peer": PEERS[pair][1],
        "reelforest": {"fit_seconds_median": fit(ours), "rmse": ours[0]["rmse"], "rows": ours[0]["rows"]},
        "other": {"fit_seconds_median": fit(theirs), "rmse": statistics.median(r["rmse"] for r in theirs), "rows": theirs[0]["rows"]},
    })
for p in pairs:
    p["speedup"] = p["other"]["fit_seconds_median"] / p["reelforest"]["fit_seconds_median"]
    p["rmse_gap"] = p["reelforest"]["rmse"] - p["other"]["rmse"]
summary = {"fold": fold, "rank": int(rank), "maxIter": int(iters), "regParam": float(reg), "seed": int(seed),
           "rounds": int(rounds), "cpus": os.cpu_count(), "machine": platform.platform(), "pairs": pairs, "runs": runs}
json.dump(summary, open(out + ".json", "w"), indent=2)
rows = "\n".join(
    f"| {p['ours']} vs {p['peer']} | {p['reelforest']['fit_seconds_median']:.3f} | {p['other']['fit_seconds_median']:.3f} | "
    f"**{p['speedup']:.1f}x** | {p['reelforest']['rmse']:.4f} | {p['other']['rmse']:.4f} | {p['rmse_gap']:+.4f} | {p['reelforest']['rows']} |"
    for p in pairs)
md = f"""# CF learners: reelforest vs Spark MLlib and Surprise

ml-100k {fold}; ALS pair: rank {rank}, maxIter {iters}, regParam {reg}, seed {seed} on both sides; biased MF:
rank 20, regParam 0.15 against Surprise SVD's defaults; item-kNN: the same parameters on both sides.
Cold test rows dropped, predictions not clipped; {rounds} measured rounds, alternating, medians of fit
time; {os.cpu_count()} CPUs, Spark local[2], Surprise single-threaded, reelforest on rayon.

| pair | reelforest fit (s) | peer fit (s) | speed-up | reelforest RMSE | peer RMSE | difference | rows |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

Generated by `bash bench/cf_peers.sh` — do not edit by hand.
"""
open(out + ".md", "w").write(md)
print(md)
PY
