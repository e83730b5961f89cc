#!/usr/bin/env bash
# bench/peers/setup.sh — create the Python environment the peer benchmarks run in.
#
# Purpose: a virtual environment at bench/.venv (gitignored) with scikit-learn, pandas, pyarrow and
# numpy from PyPI, used by bench/peers/sklearn_rf.py and the drivers in bench/. Idempotent: when the
# venv exists and already imports every package at an acceptable version, it does nothing.
# (Issue 7 will add pyspark and lightgbm here; add them to REQUIREMENTS and to the check below.)
#
# Usage:  bash bench/peers/setup.sh            # create or verify bench/.venv
#         PYTHON=/path/to/python3.11 bash bench/peers/setup.sh
#         FORCE=1 bash bench/peers/setup.sh    # reinstall the packages
#
# Prints the venv's python path as its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
venv="$bench/.venv"

REQUIREMENTS=(
  "scikit-learn>=1.5,<1.8"   # >=1.4 needed: RandomForest* accept NaN (missing values) natively
  "numpy>=1.26,<3"
  "pandas>=2.1,<3"
  "pyarrow>=15,<22"
)

find_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
  for p in python3.11 /usr/bin/python3.11 python3; do
    if command -v "$p" >/dev/null 2>&1; then
      if "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 10) else 1)' 2>/dev/null; then
        command -v "$p"; return
      fi
    fi
  done
  echo "error: no Python >= 3.10 found (set PYTHON=...)" >&2
  exit 1
}

check() {
  "$venv/bin/python" - <<'PY' 2>/dev/null
import sys
import sklearn, numpy, pandas, pyarrow  # noqa: F401
major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
sys.exit(0 if (major, minor) >= (1, 5) else 1)
PY
}

if [[ -x "$venv/bin/python" && -z "${FORCE:-}" ]] && check; then
  echo "bench/.venv ready" >&2
  echo "$venv/bin/python"
  exit 0
fi

py="$(find_python)"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "creating $venv with $py ($("$py" --version 2>&1))" >&2
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2 || true
"$venv/bin/python" -m pip install --quiet "${REQUIREMENTS[@]}" >&2
if ! check; then
  echo "error: packages installed but the import check failed in $venv" >&2
  exit 1
fi
"$venv/bin/python" -c 'import sklearn, numpy, pandas, pyarrow, sys; print(f"python {sys.version.split()[0]}  scikit-learn {sklearn.__version__}  numpy {numpy.__version__}  pandas {pandas.__version__}  pyarrow {pyarrow.__version__}")' >&2
echo "$venv/bin/python"
