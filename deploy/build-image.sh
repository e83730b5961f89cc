#!/usr/bin/env bash
# Builds the reelforest image from a binary built on this host.
#
#   deploy/build-image.sh                      # image reelforest:local from the default binary
#   REELFOREST_BIN=path/to/reelforest REELFOREST_IMAGE=name:tag deploy/build-image.sh
#
# Steps:
# 1. The binary: $REELFOREST_BIN, else target/debug/reelforest (what CI's `cargo test
#    --workspace` builds), else target-release/release/reelforest; when none exists,
#    `cargo build -p reelforest --locked` builds target/debug/reelforest.
# 2. The base image (BASE, default debian:bookworm-slim): deploy/build-base.sh pulls it or, with
#    no registry, builds it with debootstrap.
# 3. A staging directory with only the (stripped) binary is the build context for
#    deploy/Dockerfile, so the build never sends the repository's target directories.
# Set REELFOREST_STRIP=0 to keep the binary's line tables (bigger image, line numbers in backtraces).
set -euo pipefail
cd "$(dirname "$0")/.."

image="${REELFOREST_IMAGE:-reelforest:local}"
base="${BASE:-debian:bookworm-slim}"

bin="${REELFOREST_BIN:-}"
if [ -z "$bin" ]; then
  for candidate in target/debug/reelforest target-release/release/reelforest; do
    if [ -x "$candidate" ]; then bin="$candidate"; break; fi
  done
fi
if [ -z "$bin" ]; then
  echo "no reelforest binary yet: cargo build -p reelforest --locked"
  cargo build -p reelforest --locked
  bin=target/debug/reelforest
fi
if [ ! -x "$bin" ]; then
  echo "error: REELFOREST_BIN=$bin is not an executable file" >&2
  exit 1
fi

deploy/build-base.sh "$base"

stage="$(mktemp -d /var/tmp/reelforest-image.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
if [ "${REELFOREST_STRIP:-1}" != 0 ] && command -v strip >/dev/null; then
  strip --strip-debug -o "$stage/reelforest" "$bin"
else
  cp "$bin" "$stage/reelforest"
fi
started=$SECONDS
# The legacy builder (no buildx here) warns that it is deprecated on every build: its stderr is
# shown only when the build fails.
if ! docker build --quiet --build-arg "BASE=$base" --build-arg BINARY=reelforest \
  --label "org.opencontainers.image.source=reelforest deploy/Dockerfile" \
  --label "reelforest.binary=$(realpath "$bin")" \
  -f deploy/Dockerfile -t "$image" "$stage" >"$stage.log" 2>&1; then
  cat "$stage.log" >&2
  rm -f "$stage.log"
  echo "error: docker build of $image failed (base $base, binary $bin)" >&2
  exit 1
fi
rm -f "$stage.log"
echo "image $image: built from $bin on $base in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
