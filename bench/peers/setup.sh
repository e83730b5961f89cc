#!/usr/bin/env bash
# bench/peers/setup.sh — create the Python environment the peer benchmarks run in.
#
# Purpose: a virtual environment at bench/.venv (gitignored) with scikit-learn, lightgbm, pyspark 4.x,
# scikit-surprise, pandas, pyarrow and numpy from PyPI, used by the peer programs in bench/peers/ and the drivers in
# bench/ (bench/run.sh, bench/forest_vs_sklearn.sh). Idempotent: when the venv exists and already
# imports every package at an acceptable version, it does nothing. pyspark needs a Java 17 or 21
# runtime (`java` on PATH or JAVA_HOME); the check fails with a clear message when there is none
# (Debian: apt-get install openjdk-17-jre-headless). Optional profilers (py-spy, pyinstrument) are
# installed with PROFILERS=1.
#
# Usage:  bash bench/peers/setup.sh            # create or verify bench/.venv
#         PYTHON=/path/to/python3.11 bash bench/peers/setup.sh
#         FORCE=1 bash bench/peers/setup.sh    # reinstall the packages
#         PROFILERS=1 bash bench/peers/setup.sh  # also py-spy and pyinstrument
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
  "lightgbm>=4.3,<5"
  "pyspark>=4.0,<5"          # Spark 4 runs on Java 17/21
  "scikit-surprise>=1.1.4,<2" # SVD, KNNBaseline: the CF peers (bench/cf_peers.sh)
)
PROFILER_REQUIREMENTS=("py-spy>=0.3" "pyinstrument>=4")

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

check_java() {
  local j="java"
  [[ -n "${JAVA_HOME:-}" ]] && j="$JAVA_HOME/bin/java"
  local v
  v="$("$j" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)" || true
  if [[ -z "$v" ]]; then
    echo "error: no Java runtime found (pyspark 4 needs Java 17 or 21; apt-get install openjdk-17-jre-headless)" >&2
    exit 1
  fi
  if (( v < 17 )); then
    echo "error: Java $v found, pyspark 4 needs Java 17 or 21 (set JAVA_HOME)" >&2
    exit 1
  fi
}

check() {
  "$venv/bin/python" - <<'PY' 2>/dev/null || return 1
import sys
import sklearn, numpy, pandas, pyarrow, lightgbm, pyspark, surprise  # noqa: F401
major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
ok = (major, minor) >= (1, 5) and int(pyspark.__version__.split(".")[0]) == 4
sys.exit(0 if ok else 1)
PY
  if [[ -n "${PROFILERS:-}" ]]; then
    "$venv/bin/python" -c 'import pyinstrument' 2>/dev/null && [[ -x "$venv/bin/py-spy" ]] || return 1
  fi
}

check_java

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
reqs=("${REQUIREMENTS[@]}")
[[ -n "${PROFILERS:-}" ]] && reqs+=("${PROFILER_REQUIREMENTS[@]}")
"$venv/bin/python" -m pip install --quiet "${reqs[@]}" >&2
if ! check; then
  echo "error: packages installed but the import check failed in $venv" >&2
  exit 1
fi
"$venv/bin/python" -c 'import sklearn, numpy, pandas, pyarrow, lightgbm, pyspark, sys; print(f"python {sys.version.split()[0]}  scikit-learn {sklearn.__version__}  lightgbm {lightgbm.__version__}  pyspark {pyspark.__version__}  numpy {numpy.__version__}  pandas {pandas.__version__}  pyarrow {pyarrow.__version__}")' >&2
echo "$venv/bin/python"
