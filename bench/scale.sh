#!/usr/bin/env bash
# Ingest + feature SQL at scale on generated data: wall time and peak RSS of each step.
#
#   bench/scale.sh [RATINGS ...]          default: 1000000 10000000
#
# Uses the release binary (REELFOREST_BIN, default target/release/reelforest; build it with
# `cargo build --release -p reelforest`). Writes bench/results/scale.md and scale.json.
# The generator step is timed too, but the target in issue 2 is ingest + features.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${REELFOREST_BIN:-$repo/target/release/reelforest}
[ -x "$bin" ] || { echo "error: $bin not found; build it with: cargo build --release -p reelforest" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$repo/bench/results"
json="$repo/bench/results/scale.json"; md="$repo/bench/results/scale.md"
echo "[" > "$json"; first=1

measure() { # label, command... -> "seconds maxrss_kib"
  local log="$work/time.log"
  /usr/bin/time -f "%e %M" -o "$log" "${@:2}" > "$work/$1.out" 2> "$work/$1.err" || { cat "$work/$1.err" >&2; exit 1; }
  cat "$log"
}

{
  echo "| ratings | synth s | ingest s | ingest peak MiB | features s | features peak MiB | ingest+features s |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
} > "$md"
for n in "${sizes[@]}"; do
  d="$work/data-$n"; wh="$work/wh-$n"
  read -r s_synth _ < <(measure synth "$bin" data synth --ratings "$n" --seed 1 --out "$d")
  read -r s_ing m_ing < <(measure ingest "$bin" --quiet data ingest --source "$d" --warehouse "$wh")
  read -r s_feat m_feat < <(measure features "$bin" --quiet features --warehouse "$wh" --out honest)
  tot=$(echo "$s_ing + $s_feat" | bc)
  printf "| %s | %.1f | %.1f | %d | %.1f | %d | %.1f |\n" "$n" "$s_synth" "$s_ing" $((m_ing/1024)) "$s_feat" $((m_feat/1024)) "$tot" >> "$md"
  [ $first = 1 ] || echo "," >> "$json"; first=0
  printf '{"ratings": %s, "synth_s": %s, "ingest_s": %s, "ingest_peak_kib": %s, "features_s": %s, "features_peak_kib": %s}' \
    "$n" "$s_synth" "$s_ing" "$m_ing" "$s_feat" "$m_feat" >> "$json"
  echo "n=$n synth ${s_synth}s ingest ${s_ing}s ($((m_ing/1024)) MiB) features ${s_feat}s ($((m_feat/1024)) MiB)"
  rm -rf "$d" "$wh"
done
echo "]" >> "$json"
{ echo; echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)."; } >> "$md"
cat "$md"
