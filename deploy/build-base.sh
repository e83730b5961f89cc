#!/usr/bin/env bash
# Makes sure the base image of deploy/Dockerfile exists locally (default `debian:bookworm-slim`).
#
#   deploy/build-base.sh [IMAGE]        # IMAGE default: $BASE or debian:bookworm-slim
#
# 1. The image is already there: nothing to do (a second run returns in well under a second).
# 2. `docker pull IMAGE` works: use the pulled image.
# 3. Otherwise (this machine kind has no registry): build a Debian bookworm root file system with
#    `debootstrap --variant=minbase` from deb.debian.org (Debian's `debootstrap` package, installed
#    with apt-get when missing) plus ca-certificates, and `docker import` it as IMAGE.
# Needs root (debootstrap) and a Docker engine. Exits non-zero with the failing step on any error.
set -euo pipefail

image="${1:-${BASE:-debian:bookworm-slim}}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image: present"
  exit 0
fi
if docker pull "$image" >/dev/null 2>&1; then
  echo "base image $image: pulled"
  exit 0
fi
echo "base image $image: cannot be pulled; building it with debootstrap ($suite from $mirror)"

if [ "$(id -u)" != 0 ]; then
  echo "error: debootstrap needs root; run deploy/build-base.sh as root (or with sudo)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
fi

rootfs="$(mktemp -d /var/tmp/reelforest-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
started=$SECONDS
if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" \
  >"$rootfs.log" 2>&1; then
  echo "error: debootstrap failed; its log ($rootfs.log) ends with:" >&2
  tail -n 20 "$rootfs.log" >&2
  exit 1
fi
rm -f "$rootfs.log"
# Slim it like the official -slim images: no package caches, lists, docs or man pages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
tar --numeric-owner -C "$rootfs" -c . |
  docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "debootstrap --variant=minbase $suite ($mirror) by reelforest deploy/build-base.sh" \
    - "$image" >/dev/null
echo "base image $image: built in $((SECONDS - started)) s ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
