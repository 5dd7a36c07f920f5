#!/bin/bash
# tabular_cv.sh — models/tabular.json (two hidden layers of 64, relu, Adam, 50 epochs, batch
# 32; CSV preprocessing fitted per fold) under `kiln cv --folds 5` against scikit-learn's
# StandardScaler + MLPClassifier((64, 64), relu, adam, batch 32, 50 epochs) under 5-fold
# stratified cross-validation, on the CSV datasets the tests use, in the same run. Folds
# differ between the two (each its own seeded split); accuracy is the mean over folds.
# usage: bench/tabular_cv.sh   (from the repository root, after make)
set -euo pipefail
BUILD=${BUILD:-build}
KILN=$BUILD/kiln
PY=/usr/bin/python3
[ -x "$KILN" ] || { echo "build kiln first (make)"; exit 1; }
echo "# $(date -u +%F) $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores)"
echo "# $KILN cv models/tabular.json --data csv:tests/data/SET.csv --folds 5 --json; scikit-learn $($PY -c 'import sklearn; print(sklearn.__version__)')"
echo
echo "| data | kiln mean accuracy | kiln seconds | scikit-learn mean accuracy | scikit-learn seconds |"
echo "| --- | --- | --- | --- | --- |"
for set in wine breast_cancer iris; do
    t0=$(date +%s.%N)
    acc=$($KILN cv models/tabular.json --data "csv:tests/data/$set.csv" --folds 5 --json --quiet | tail -n 1 |
        $PY -c 'import json,sys; o=json.load(sys.stdin); print("%.4f +- %.4f" % (o["mean_accuracy"], o["std_accuracy"]))')
    t1=$(date +%s.%N)
    peer=$($PY - "$set" <<'PYEOF'
import sys, time, warnings
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
warnings.filterwarnings("ignore")
data = np.genfromtxt(f"tests/data/{sys.argv[1]}.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
cols = data.dtype.names
x = np.column_stack([data[c] for c in cols[:-1]]).astype(float)
y = data[cols[-1]]
model = make_pipeline(StandardScaler(), MLPClassifier((64, 64), batch_size=32, max_iter=50, random_state=0))
t = time.time()
s = cross_val_score(model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0))
print(f"{s.mean():.4f} +- {s.std():.4f} | {time.time() - t:.2f}")
PYEOF
)
    echo "| $set | $acc | $($PY -c "print(f'{$t1 - $t0:.2f}')") | $peer |"
done
