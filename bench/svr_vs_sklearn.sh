#!/bin/bash
# svr_vs_sklearn.sh — kiln's support vector regression (svm and linear_svm on regression data)
# against scikit-learn's SVR and LinearSVR in the same run, and its SVC against SVC on the same
# rows as two classes (the target above or below the training rows' median: a kernel SVM on
# few features, where kiln's GEMM-computed kernel rows save little), on Friedman's regression problem #1
# (scikit-learn's make_friedman1: 10 uniform features, 5 of them used, noise 1; seeded), N
# training rows and 5,000 test rows written once as CSV. Both sides standardize the features
# with the training rows' mean and deviation (kiln: its CSV preprocessing; scikit-learn:
# StandardScaler, outside the timing). Fit seconds, predict seconds (the test rows), test R²
# (accuracy for the classes), and the ratio of fit times. Each side runs on 1 thread (LIBSVM and LIBLINEAR have one).
# usage: bench/svr_vs_sklearn.sh [N ...]   (from the repository root, after make; default 2000 5000 10000)
set -euo pipefail
BUILD=${BUILD:-build}
BIN=$BUILD/bench/classic_csv
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "build first (make)"; exit 1; }
SIZES=${*:-2000 5000 10000}
T=$(mktemp -d /tmp/kiln_svr_XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "# $(date -u +'%F %H:%M UTC') $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores); scikit-learn $($PY -c 'import sklearn; print(sklearn.__version__)')"
echo "# kiln: $BIN SPEC train.csv test.csv 1; scikit-learn: the same model and rows, 1 thread"

peer() { # model n -> "fit predict r2"
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PY - "$1" "$T/train_$2.csv" "$T/test.csv" <<'PYEOF'
import sys, time, numpy as np, warnings
warnings.filterwarnings("ignore")
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR, LinearSVR
def load(p):
    a = np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.float32)
    return a[:, :-1], a[:, -1]
xtr, ytr = load(sys.argv[2]); xte, yte = load(sys.argv[3])
sc = StandardScaler().fit(xtr); xtr = sc.transform(xtr); xte = sc.transform(xte)
from sklearn.svm import SVC
if sys.argv[1] == "svc":  # the classes kiln reads from the label column: above or below the median
    med = np.median(ytr); ytr, yte = ytr > med, yte > med
m = {"svm": lambda: SVR(C=10.0), "linear_svm": lambda: LinearSVR(random_state=0), "svc": lambda: SVC(C=10.0)}[sys.argv[1]]()
t = time.time(); m.fit(xtr, ytr); t1 = time.time(); p = m.predict(xte); t2 = time.time()
score = (p == yte).mean() if sys.argv[1] == "svc" else 1 - ((p - yte) ** 2).sum() / ((yte - yte.mean()) ** 2).sum()
print(f"{t1 - t:.3f} {t2 - t1:.3f} {score:.4f}")
PYEOF
}

# the data: N training rows (the first N of one draw) and 5,000 test rows, for every N
MAXN=$(echo $SIZES | tr ' ' '\n' | sort -n | tail -n 1)
$PY - "$T" "$MAXN" $SIZES <<'PYEOF'
import sys, numpy as np
from sklearn.datasets import make_friedman1
d, maxn = sys.argv[1], int(sys.argv[2])
x, y = make_friedman1(n_samples=maxn + 5000, n_features=10, noise=1.0, random_state=0)
head = ",".join(f"x{i}" for i in range(10)) + ",y"
np.savetxt(f"{d}/test.csv", np.c_[x[maxn:], y[maxn:]], delimiter=",", header=head, comments="", fmt="%.7g")
def classes(path, rows, med):  # the same rows, the target as a label: hi above the median, lo below
    with open(path, "w") as f:
        f.write(head + "\n")
        for r, v in zip(rows[:, :-1], rows[:, -1]):
            f.write(",".join("%.7g" % c for c in r) + ("," + ("hi" if v > med else "lo")) + "\n")
for n in map(int, sys.argv[3:]):
    np.savetxt(f"{d}/train_{n}.csv", np.c_[x[:n], y[:n]], delimiter=",", header=head, comments="", fmt="%.7g")
    med = np.median(np.float32(y[:n]))
    classes(f"{d}/train_cls_{n}.csv", np.float32(np.c_[x[:n], y[:n]]), med)
    classes(f"{d}/test_cls_{n}.csv", np.float32(np.c_[x[maxn:], y[maxn:]]), med)
PYEOF

echo
echo "| model | n_train | kiln fit s | kiln predict s | kiln R² (accuracy) | scikit-learn fit s | predict s | R² (accuracy) | fit time ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for n in $SIZES; do
    for spec in 'svm|{"type": "svm", "C": 10}' 'linear_svm|{"type": "linear_svm"}' 'svc|{"type": "svm", "C": 10}'; do
        name=${spec%%|*} json=${spec#*|}
        train=$T/train_$n.csv test=$T/test.csv
        [ "$name" = svc ] && train=$T/train_cls_$n.csv test=$T/test_cls_$n.csv
        k=$("$BIN" "$json" "$train" "$test" 1)
        kf=$(echo "$k" | $PY -c 'import json,sys; o=json.load(sys.stdin); print(o["fit_seconds"], o["predict_seconds"], o.get("r2", o.get("accuracy")))')
        read -r kfit kpred kr2 <<<"$kf"
        read -r sfit spred sr2 <<<"$(peer "$name" "$n")"
        ratio=$($PY -c "print(f'{$kfit / $sfit:.3f}')")
        echo "| $name $json | $n | $kfit | $kpred | $kr2 | $sfit | $spred | $sr2 | $ratio |"
    done
done
