#!/usr/bin/env bash
# Installs the S3-compatible server the S3 tests start (moto's server, from PyPI) into a virtual
# environment at target/s3-venv. Idempotent: does nothing when the pinned version is already there.
#
#   bash tests/s3/setup.sh            # then: cargo test --workspace --locked -- s3
#
# tests/s3.rs looks for target/s3-venv/bin/python (or $REELFOREST_S3_PYTHON) and fails with this
# command in its message when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

MOTO_VERSION="5.2.5"
VENV="target/s3-venv"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$MOTO_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
sys.exit(0 if m.version("moto") == sys.argv[1] else 1)
PY
then
  echo "moto $MOTO_VERSION already installed in $VENV"
  exit 0
fi

command -v python3 >/dev/null || { echo "error: python3 is needed for the S3 tests' moto server" >&2; exit 1; }
mkdir -p target
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "moto[server]==$MOTO_VERSION"
"$VENV/bin/python" -c 'import moto.server, boto3; print("moto", moto.__version__, "installed in '"$VENV"'")'
