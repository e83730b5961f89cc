#!/usr/bin/env python3
"""Write a feature run's test rows as the raw matrix bench/predict reads (used by bench/run.sh).

  export_matrix.py WAREHOUSE RUN OUT.f64 [TABLE]   -> prints "ROWS COLS MODEL.pb"

TABLE is `test` (default) or `train` (the training rows, for the engine's dev example
crates/tree/examples/fit_matrix.rs).

Rows and columns exactly as the peers read them (bench/peers/sklearn_rf.py's loader: rows sorted by
(user_id, movie_id), features in features.json order, NULL as NaN), column-major little-endian f64,
followed by the rating and good labels. MODEL.pb is the newest model file under WAREHOUSE/models.
"""
import glob
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from sklearn_rf import read_table, to_matrix  # noqa: E402

wh, run, out = sys.argv[1:4]
table = sys.argv[4] if len(sys.argv) > 4 else "test"
if table not in ("test", "train"):
    sys.exit(f"export_matrix.py: TABLE must be test or train, got {table}")
meta = json.load(open(os.path.join(wh, "features", run, "features.json")))
cols = list(meta["feature_columns"])
label, good = meta.get("label", "rating"), meta.get("good_label", "good")
t = read_table(wh, run, table, [label, good] + cols)
m = to_matrix(t, cols + [label, good])
np.asfortranarray(m).astype("<f8").T.tofile(out)  # column after column
models = sorted(glob.glob(os.path.join(wh, "models", "*", "*", "model.pb")), key=os.path.getmtime)
if not models:
    sys.exit(f"export_matrix.py: no model under {wh}/models")
print(m.shape[0], len(cols), models[-1])
