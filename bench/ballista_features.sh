#!/usr/bin/env bash
# Feature SQL on Ballista vs embedded DataFusion (issue 4), on generated ratings.
#
#   bash bench/ballista_features.sh [RATINGS ...]      default: 1000000 10000000
#   ROUNDS=3 bash bench/ballista_features.sh 1000000    rounds per configuration (default 3, 1 above 5M)
#
# For each size: `data synth` + `data ingest` once, then in alternating rounds the same
# `reelforest features` (random split, 5 folds, seed 42) as
#   embedded   in one process (DataFusion, all cores)
#   b1         `--cluster`: 1 scheduler + 1 executor with 2 task slots
#   b2         `--cluster`: 1 scheduler + 2 executors with 1 task slot each, pinned to cores 0 and 1
# Wall time is the `features` command's (client side: planning, shipping plans, waiting for the
# cluster, writing manifests); peak MiB is the largest VmHWM among the cluster's processes and
# the client. Every cluster run's tables are checked against the embedded run's row counts.
# Needs a release build: CARGO_TARGET_DIR=target-release cargo build --release -p reelforest
# Writes bench/results/ballista_features.{json,md}.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${REELFOREST_BIN:-}
if [ -z "$bin" ]; then
  for b in "$repo/target-release/release/reelforest" "$repo/target/release/reelforest"; do
    [ -x "$b" ] && { bin=$b; break; }
  done
fi
[ -x "${bin:-}" ] || { echo "error: no release binary; build: CARGO_TARGET_DIR=target-release cargo build --release -p reelforest" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
command -v curl >/dev/null || { echo "error: curl missing" >&2; exit 1; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
work=$(mktemp -d /tmp/rf-ballista-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$repo/bench/results"
json="$repo/bench/results/ballista_features.json"; md="$repo/bench/results/ballista_features.md"

# Ports: every daemon binds port 0 and prints the address it got (`scheduler listening on
# ADDR`, `executor health on ADDR`), which is read back here. No port is found free and
# released first: another process could take it before the daemon binds it.

port_of() { # file prefix pid seconds -> the port of the address the daemon printed after prefix
  local file=$1 prefix=$2 pid=$3 deadline=$((SECONDS + $4)) addr
  while :; do
    addr=$(awk -v p="$prefix" 'index($0, p) == 1 { print substr($0, length(p) + 1); exit }' "$file" 2>/dev/null || true)
    addr=${addr%% *}
    [ -z "$addr" ] || { echo "${addr##*:}"; return; }
    kill -0 "$pid" 2>/dev/null || { echo "error: pid $pid exited before printing '$prefix'" >&2; tail -n 30 "$work"/*.log >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "error: no '$prefix' from pid $pid after $4 s" >&2; tail -n 30 "$work"/*.log >&2; exit 1; }
    sleep 0.1
  done
}

wait_ready() { # url, seconds
  local deadline=$((SECONDS + $2))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; do
    [ $SECONDS -lt $deadline ] || { echo "error: $1 not ready after $2 s" >&2; tail -n 30 "$work"/*.log >&2; exit 1; }
    sleep 0.2
  done
}

peak_kib() { # pids... -> largest VmHWM
  local m=0 v
  for p in "$@"; do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt $m ] && m=$v
  done
  echo $m
}

# start_cluster N -> sets sched_pid, exec_pids, url
start_cluster() {
  local n=$1 sp
  "$bin" --log-level warn scheduler --port 0 --min-ready-executors "$n" > "$work/sched.out" 2> "$work/scheduler.log" &
  sched_pid=$!; pids+=("$sched_pid")
  sp=$(port_of "$work/sched.out" "scheduler listening on " "$sched_pid" 30)
  wait_ready "http://127.0.0.1:$sp/healthz" 30
  exec_pids=()
  for i in $(seq 0 $((n - 1))); do
    local hp slots=2 pin=()
    if [ "$n" -gt 1 ]; then slots=1; pin=(taskset -c "$i"); fi
    "${pin[@]}" "$bin" --log-level warn executor --port 0 --grpc-port 0 --health-port 0 \
      --scheduler-port "$sp" --concurrent-tasks "$slots" --work-dir "$work/exec-$n-$i" \
      > "$work/exec-$i.out" 2> "$work/executor-$i.log" &
    exec_pids+=($!); pids+=($!)
    hp=$(port_of "$work/exec-$i.out" "executor health on " "$!" 60)
    wait_ready "http://127.0.0.1:$hp/readyz" 60
  done
  wait_ready "http://127.0.0.1:$sp/readyz" 60
  url="df://127.0.0.1:$sp"
}

stop_cluster() {
  kill "$sched_pid" "${exec_pids[@]}" 2>/dev/null || true
  wait "$sched_pid" "${exec_pids[@]}" 2>/dev/null || true
}

# run_features LABEL WAREHOUSE OUT [--cluster URL] -> "seconds client_peak_kib"
run_features() {
  local label=$1 wh=$2 out=$3; shift 3
  /usr/bin/time -f "%e %M" -o "$work/time.log" "$bin" --quiet features --warehouse "$wh" --out "$out" "$@" \
    > "$work/$label.out" 2> "$work/$label.err" || { cat "$work/$label.err" >&2; tail -n 30 "$work"/*.log >&2; exit 1; }
  cat "$work/time.log"
}

counts() { # warehouse run -> "train test online_users online_movies"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["train_rows"], r["test_rows"], r["online_users"], r["online_movies"])' \
    "$1/features/$2/features.json"
}

echo "[" > "$json"; first=1
{
  echo "| ratings | embedded s | Ballista 1 executor s | ratio | Ballista 2 executors s | ratio | embedded peak MiB | Ballista peak MiB (largest process) |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} > "$md"
for n in "${sizes[@]}"; do
  d="$work/data-$n"; wh="$work/wh-$n"
  rounds=${ROUNDS:-$([ "$n" -gt 5000000 ] && echo 1 || echo 3)}
  "$bin" --quiet data synth --ratings "$n" --seed 1 --out "$d" > /dev/null
  "$bin" --quiet data ingest --source "$d" --warehouse "$wh" > /dev/null
  declare -A times=([embedded]="" [b1]="" [b2]="")
  declare -A peaks=([embedded]=0 [b1]=0 [b2]=0)
  for r in $(seq 1 "$rounds"); do
    read -r s m < <(run_features "embedded-$r" "$wh" embedded)
    times[embedded]+="$s "; [ "$m" -gt "${peaks[embedded]}" ] && peaks[embedded]=$m
    ref=$(counts "$wh" embedded)
    for cfg in b1 b2; do
      start_cluster "${cfg#b}"
      read -r s m < <(run_features "$cfg-$r" "$wh" "$cfg" --cluster "$url")
      pk=$(peak_kib "$sched_pid" "${exec_pids[@]}"); [ "$m" -gt "$pk" ] && pk=$m
      stop_cluster
      got=$(counts "$wh" "$cfg")
      [ "$got" = "$ref" ] || { echo "error: $cfg counts $got != embedded $ref" >&2; exit 1; }
      times[$cfg]+="$s "; [ "$pk" -gt "${peaks[$cfg]}" ] && peaks[$cfg]=$pk
    done
    echo "n=$n round $r: embedded ${times[embedded]}| b1 ${times[b1]}| b2 ${times[b2]}"
  done
  med() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' $1; }
  e=$(med "${times[embedded]}"); b1=$(med "${times[b1]}"); b2=$(med "${times[b2]}")
  printf "| %s | %.1f | %.1f | %.2f× | %.1f | %.2f× | %d | %d |\n" "$n" "$e" "$b1" "$(echo "$b1 / $e" | bc -l)" \
    "$b2" "$(echo "$b2 / $e" | bc -l)" $((peaks[embedded] / 1024)) $(( (peaks[b1] > peaks[b2] ? peaks[b1] : peaks[b2]) / 1024 )) >> "$md"
  [ $first = 1 ] || echo "," >> "$json"; first=0
  printf '{"ratings": %s, "rounds": %s, "embedded_s": [%s], "ballista_1x2_s": [%s], "ballista_2x1_s": [%s], "embedded_peak_kib": %s, "ballista_1x2_peak_kib": %s, "ballista_2x1_peak_kib": %s}' \
    "$n" "$rounds" "$(echo ${times[embedded]} | tr ' ' ',')" "$(echo ${times[b1]} | tr ' ' ',')" "$(echo ${times[b2]} | tr ' ' ',')" \
    "${peaks[embedded]}" "${peaks[b1]}" "${peaks[b2]}" >> "$json"
  rm -rf "$d" "$wh"
done
echo "]" >> "$json"
{ echo; echo "Medians of the rounds; ratio = Ballista / embedded (above 1: slower). Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)."; } >> "$md"
cat "$md"
