#!/usr/bin/env bash
# The docker-compose end-to-end test (issue 6): the real image, the real compose file, a real
# Docker engine. `.ci/run` calls it when `docker info` succeeds; run it by hand with
#
#   bash tests/compose.sh                    # REELFOREST_BIN=... to pick the binary
#
# 1. builds the base image if needed and the image (deploy/build-image.sh) from the host binary;
# 2. `up` in an isolated compose project (its own volume, network, random host ports) and waits,
#    driven by `docker events`, until every service is healthy (timed: start-up to healthy);
# 3. ingests ../shared/datasets/ml-latest-small into the warehouse volume (`cli` service);
# 4. submits deploy/jobs/movielens-small.toml (the ml-latest-small tuning job, data at /datasets
#    where the coordinator container reads it) from the host to the published coordinator port; when the first "task done" line appears in
#    the workers' logs, `docker kill`s one worker, and the job must still succeed;
# 5. queries the job's feature table with `sql --cluster df://scheduler:50050`, run in a
#    container on the compose network (the scheduler's port is not published);
# 6. starts the web server (profile "web") and asks `POST /api/predict` for a prediction;
# 7. runs the same job embedded on the host (`reelforest run`) and requires every task's
#    `forest_sha256` to equal the compose job's;
# 8. writes the timings to bench/results/compose.{md,json}.
# `down -v` runs on exit, also when a step fails. No sleeps: every wait is on an event or a
# process, bounded by a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
test_started=$SECONDS

datasets="${REELFOREST_DATASETS:-$(cd .. && pwd)/shared/datasets}"
[ -d "$datasets/ml-latest-small" ] || { echo "error: $datasets/ml-latest-small is missing" >&2; exit 1; }
export REELFOREST_DATASETS="$datasets"

if docker compose version >/dev/null 2>&1; then compose_cmd=(docker compose); else compose_cmd=(docker-compose); fi
# An isolated project: its own containers, network and warehouse volume; random host ports.
export COMPOSE_PROJECT_NAME="reelforest-test-$$"
export COMPOSE_FILE="$repo/docker-compose.yml"
export REELFOREST_IMAGE="${REELFOREST_IMAGE:-reelforest:local}"
export REELFOREST_COORDINATOR_PORT="" REELFOREST_WEB_PORT=""
REELFOREST_TOKEN="compose-test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
export REELFOREST_TOKEN
compose() { "${compose_cmd[@]}" --profile web --profile tools "$@"; }

tmp="$(mktemp -d /var/tmp/reelforest-compose.XXXXXX)"
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "== compose test FAILED (exit $rc); last logs:" >&2
    compose logs --no-color --tail=40 >&2 2>&1 || true
  fi
  compose down -v --remove-orphans >/dev/null 2>&1 || echo "warning: compose down -v failed" >&2
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
step() { echo "== $(date -u +%T) $*"; }
fail() { echo "error: $*" >&2; exit 1; }

# --- 1. image -------------------------------------------------------------------------------
bin="${REELFOREST_BIN:-}"
if [ -z "$bin" ]; then
  for c in target/debug/reelforest target-release/release/reelforest; do
    if [ -x "$c" ]; then bin="$c"; break; fi
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] || fail "no reelforest binary: cargo build -p reelforest (or set REELFOREST_BIN)"
bin="$(realpath "$bin")"
export REELFOREST_BIN="$bin"
step "image $REELFOREST_IMAGE from $bin"
image_started=$SECONDS
deploy/build-image.sh
image_seconds=$((SECONDS - image_started))

# --- helpers ----------------------------------------------------------------------------------
# Waits until every running container of the project (or of the given services) is healthy.
# Subscribes to docker's health_status / die events first, then checks, then re-checks on each
# event; `read -t` bounds the wait. Fails at once on an unhealthy or exited container.
wait_healthy() {
  local timeout=$1; shift
  local deadline=$((SECONDS + timeout)) events="$tmp/events.$RANDOM"
  mkfifo "$events"
  docker events --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" \
    --filter type=container --filter event=health_status --filter event=die \
    --format '{{.Status}} {{.Actor.Attributes.name}}' >"$events" &
  local watcher=$!
  exec 7<"$events"
  local ids ok line status
  while true; do
    ids="$(compose ps -q "$@")"
    [ -n "$ids" ] || { kill "$watcher"; exec 7<&-; fail "no containers for: ${*:-the project}"; }
    ok=1
    while read -r status name; do
      case "$status" in
        healthy) ;;
        starting) ok=0 ;;
        *) kill "$watcher"; exec 7<&-; fail "container $name is $status" ;;
      esac
    done < <(docker inspect -f '{{if .State.Running}}{{if .State.Health}}{{.State.Health.Status}}{{else}}no-healthcheck{{end}}{{else}}exited({{.State.ExitCode}}){{end}} {{.Name}}' $ids)
    [ $ok = 1 ] && break
    local left=$((deadline - SECONDS))
    if [ $left -le 0 ] || ! read -r -t "$left" line <&7; then
      kill "$watcher"; exec 7<&-
      fail "not healthy within ${timeout}s: $(docker inspect -f '{{.Name}}={{if .State.Health}}{{.State.Health.Status}}{{end}}' $ids | tr '\n' ' ')"
    fi
  done
  kill "$watcher" 2>/dev/null || true
  exec 7<&-
  rm -f "$events"
}
# The host port a service's container port is published on.
host_port() { compose port "$1" "$2" | sed 's/.*://'; }

# --- 2. up ------------------------------------------------------------------------------------
step "up: ${compose_cmd[*]} (project $COMPOSE_PROJECT_NAME)"
up_started=$SECONDS
up_ns=$(date +%s%N)
# Compose 1.29 has no `up --wait`; `depends_on: service_healthy` makes `up -d` wait for the
# scheduler, executors and coordinator, and wait_healthy covers the workers.
"${compose_cmd[@]}" up -d --quiet-pull 2>&1 | sed 's/^/   /'
wait_healthy 240
startup_seconds=$(awk -v a="$up_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
step "healthy: $(compose ps -q | wc -l) containers in ${startup_seconds}s"
coordinator="http://127.0.0.1:$(host_port coordinator 50070)"

# --- 3. ingest into the volume --------------------------------------------------------------
step "ingest ml-latest-small into the warehouse volume"
compose run --rm -T cli data ingest --source /datasets/ml-latest-small \
  --metadata /datasets/imdb-5000/movie_metadata.csv | tail -n 12 | sed 's/^/   /'
compose run --rm -T cli sql --format csv "SELECT count(*) AS ratings FROM ratings" | tee "$tmp/ingest.csv" | sed 's/^/   /'
grep -qx '100836' "$tmp/ingest.csv" || fail "ml-latest-small should have 100836 ratings in the volume"

# --- 4. the tuning job on the cluster, one worker killed mid-training ------------------------
job_spec=deploy/jobs/movielens-small.toml
step "submit the tuning job to $coordinator"

job_started_ns=$(date +%s%N)
"$bin" --quiet submit "$job_spec" --coordinator "$coordinator" >"$tmp/submit.out" 2>"$tmp/submit.err" &
submit_pid=$!
# The first task the victim finishes (a line in its log): training is under way; kill it.
victim="$(compose ps -q worker | sed -n 1p)"
killed=""
while read -r line; do
  case "$line" in
    *"task done"*)
      docker kill "$victim" >/dev/null
      killed=1
      step "killed worker $(docker inspect -f '{{.Name}}' "$victim") after: $(printf '%s' "$line" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-160)"
      break
      ;;
  esac
done < <(timeout 900 docker logs -f "$victim" 2>&1)
[ -n "$killed" ] || fail "worker $victim finished no task (see its log)"
kill_rc=$(docker inspect -f '{{.State.Running}} {{.State.ExitCode}}' "$victim")
[ "$kill_rc" = "false 137" ] || fail "the killed worker should have exited 137, is: $kill_rc"
if ! wait "$submit_pid"; then
  cat "$tmp/submit.out" "$tmp/submit.err" >&2
  fail "the job failed after one worker was killed"
fi
compose_job_seconds=$(awk -v a="$job_started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
job_id="$(sed -n 's/^submitted //p' "$tmp/submit.out")"
step "job $job_id succeeded in ${compose_job_seconds}s with one worker killed"
sed -n "1,30s/^/   /p" "$tmp/submit.out"
compose exec -T coordinator cat "/warehouse/_coordinator/jobs/$job_id/report.json" >"$tmp/compose-report.json"
features_run="$(jq -r .features.run "$tmp/compose-report.json")"

# --- 5. SQL on the Ballista cluster, inside the compose network -----------------------------
step "sql --cluster df://scheduler:50050 on $features_run.train"
compose run --rm -T cli sql --cluster df://scheduler:50050 --format csv \
  "SELECT count(*) AS train_rows, round(avg(rating), 4) AS avg_rating FROM \"$features_run\".train" \
  | tee "$tmp/sql.csv" | sed 's/^/   /'
train_rows="$(sed -n 2p "$tmp/sql.csv" | cut -d, -f1)"
[ "${train_rows:-0}" -gt 50000 ] || fail "the feature table $features_run.train should hold ~80% of 100836 rows, got ${train_rows:-nothing}"

# --- 6. the web server and a prediction -------------------------------------------------------
step "web: up, then POST /api/predict"
"${compose_cmd[@]}" --profile web up -d --quiet-pull web 2>&1 | sed 's/^/   /'
wait_healthy 120 web
web="http://127.0.0.1:$(host_port web 8080)"
curl -fsS -X POST -H 'content-type: application/json' -d '{"user_id": 1, "movie_id": 1}' \
  "$web/api/predict" >"$tmp/predict.json" || fail "POST $web/api/predict failed"
jq -c . "$tmp/predict.json" | cut -c1-300 | sed 's/^/   /'
jq -e '.. | objects | select(has("rating")) | .rating | numbers' "$tmp/predict.json" >/dev/null \
  || fail "the prediction has no numeric rating"

# --- 7. the same job embedded: the same forests -----------------------------------------------
step "the same job embedded on the host (reelforest run)"
embedded_started_ns=$(date +%s%N)
# The same spec with the data at its host path (the only difference).
sed -e "s|\"/datasets/|\"$datasets/|" "$job_spec" >"$tmp/embedded.toml"
"$bin" --quiet run "$tmp/embedded.toml" --out "$tmp/embedded" >"$tmp/embedded.out"
embedded_seconds=$(awk -v a="$embedded_started_ns" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
jq -c '[.tasks[] | {task, forest_sha256}]' "$tmp/compose-report.json" >"$tmp/compose-forests.json"
jq -c '[.tasks[] | {task, forest_sha256}]' "$tmp/embedded/report.json" >"$tmp/embedded-forests.json"
sed 's/^/   compose:  /' "$tmp/compose-forests.json"
sed 's/^/   embedded: /' "$tmp/embedded-forests.json"
jq -e 'length == 2 and all(.[]; .forest_sha256 | length == 64)' "$tmp/compose-forests.json" >/dev/null \
  || fail "the compose report should carry two forest digests"
cmp -s "$tmp/compose-forests.json" "$tmp/embedded-forests.json" \
  || fail "the compose job's forests differ from the embedded run's"

# --- 8. numbers -------------------------------------------------------------------------------
total_seconds=$((SECONDS - test_started))
profile="$(case "$bin" in *release*) echo release ;; *) echo debug ;; esac)"
mkdir -p bench/results
jq -n --arg date "$(date -u +%FT%TZ)" --arg compose "$("${compose_cmd[@]}" version --short 2>/dev/null || echo "${compose_cmd[*]}")" \
  --arg engine "$(docker version -f '{{.Server.Version}}')" --arg profile "$profile" --arg cores "$(nproc)" \
  --argjson startup "$startup_seconds" --argjson cjob "$compose_job_seconds" --argjson ejob "$embedded_seconds" \
  --argjson compose_internal "$(jq .total_seconds "$tmp/compose-report.json")" \
  --argjson embedded_internal "$(jq .total_seconds "$tmp/embedded/report.json")" \
  --argjson image "$image_seconds" --argjson total "$total_seconds" \
  --slurpfile forests "$tmp/compose-forests.json" \
  --argjson ctimings "$(jq -c .timings "$tmp/compose-report.json")" \
  --argjson etimings "$(jq -c .timings "$tmp/embedded/report.json")" \
  '{date: $date, docker_engine: $engine, compose: $compose, binary_profile: $profile, cores: ($cores | tonumber),
    cluster: {scheduler: 1, executors: 2, coordinator: 1, workers: 2, workers_killed_mid_training: 1},
    job: "deploy/jobs/movielens-small.toml (ml-latest-small, CrossValidator 3 folds x 4 grid points, both tasks)",
    image_build_seconds: $image, startup_to_healthy_seconds: $startup,
    compose_job_wall_seconds: $cjob, compose_job_report_total_seconds: $compose_internal,
    embedded_job_wall_seconds: $ejob, embedded_job_report_total_seconds: $embedded_internal,
    compose_job_stage_seconds: $ctimings, embedded_job_stage_seconds: $etimings,
    forests_equal: true, forests: $forests[0], test_total_seconds: $total}' >bench/results/compose.json
cat >bench/results/compose.md <<EOF
# Compose cluster (tests/compose.sh)

Measured $(date -u +%F) by \`bash tests/compose.sh\` on $(nproc) cores, Docker Engine $(docker version -f '{{.Server.Version}}'),
\`${compose_cmd[*]}\`, the **$profile** binary ($bin). Cluster: scheduler, 2 executors,
coordinator, 2 workers (one killed with \`docker kill\` at its first finished task), web.

| what | seconds |
| --- | ---: |
| image build (staging + \`docker build\`, base present) | $image_seconds |
| \`up\` to every service healthy | $startup_seconds |
| movielens-small tuning job on compose (submit → succeeded, one worker killed) | $compose_job_seconds |
| the same job embedded (\`reelforest run\` on the host) | $embedded_seconds |
| whole compose test | $total_seconds |

Per stage (the job's report.json \`timings\`; compose includes the killed worker's lost leases,
taken back after the coordinator's 5 s heartbeat timeout):

| stage | compose | embedded |
| --- | ---: | ---: |
$(jq -r --slurpfile e "$tmp/embedded/report.json" '.timings[] as [$k, $v] | "| \($k) | \($v * 10 | round / 10) | \(($e[0].timings[] | select(.[0] == $k) | .[1]) // 0 | . * 10 | round / 10) |"' "$tmp/compose-report.json")

Forests: every task's \`forest_sha256\` of the compose job equals the embedded run's.
The job's feature SQL runs on the Ballista executors (\`coordinator --ballista df://scheduler:50050\`);
the CPU is shared by all containers (2 cores), so the compose job is not expected to be faster:
on top, each worker loads and bins every fold's training table itself, every task is a gRPC
lease round trip, and the features' SQL pays Ballista's planning and shuffles.
Raw numbers: \`compose.json\`.
EOF
step "numbers: start-up ${startup_seconds}s, job compose ${compose_job_seconds}s vs embedded ${embedded_seconds}s, test ${total_seconds}s"
echo "compose test: OK"
