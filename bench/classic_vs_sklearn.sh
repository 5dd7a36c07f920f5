#!/bin/bash
# classic_vs_sklearn.sh — kiln's classical models against scikit-learn on Fashion-MNIST
# (pixels / 255, the 60,000 training and 10,000 test images; the kernel SVM on the first
# 10,000 training images, and kiln's also on all 60,000), 2 threads each, in the same run:
# fit seconds (everything from the raw training matrix to the fitted model), predict seconds
# and test accuracy, with the ratio of fit times. SKIP="linear_svm ..." leaves out peers
# that take long (scikit-learn's LinearSVC takes ~8 minutes here); ONLY="hist_gradient_boosting
# ..." runs just those models.
# usage: bench/classic_vs_sklearn.sh   (from the repository root, after make)
set -euo pipefail
BUILD=${BUILD:-build}
BIN=$BUILD/bench/classic_fmnist
PY=/usr/bin/python3
SKIP=${SKIP:-}
ONLY=${ONLY:-}
[ -x "$BIN" ] || { echo "build first (make)"; exit 1; }
echo "# $(date -u +%F) $(lscpu | sed -n 's/Model name: *//p') ($(nproc) cores); scikit-learn $($PY -c 'import sklearn; print(sklearn.__version__)')"
echo "# kiln: $BIN SPEC [N] 2; scikit-learn: the same model and data in this script, n_jobs=2 / 2 OpenMP+BLAS threads"

peer() { # name n_train -> "fit_seconds predict_seconds accuracy"
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $PY - "$1" "$2" <<'PYEOF'
import sys, time, gzip, numpy as np, warnings
warnings.filterwarnings("ignore")
def idx(path):
    with gzip.open(path) as f: data = f.read()
    nd = data[3]; dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)
d = "/usr/share/datasets/fashion-mnist/"
xtr = idx(d + "train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
ytr = idx(d + "train-labels-idx1-ubyte.gz"); xte = idx(d + "t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
yte = idx(d + "t10k-labels-idx1-ubyte.gz")
name, n = sys.argv[1], int(sys.argv[2]); xtr, ytr = xtr[:n], ytr[:n]
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC, SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.ensemble import RandomForestClassifier, HistGradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.naive_bayes import BernoulliNB, ComplementNB, GaussianNB
m = {"logistic_regression": lambda: LogisticRegression(C=1.0, max_iter=100),
     "linear_svm": lambda: LinearSVC(C=1.0),
     "decision_tree": lambda: DecisionTreeClassifier(criterion="entropy", max_depth=10, random_state=0),
     "random_forest": lambda: RandomForestClassifier(100, criterion="entropy", n_jobs=2, random_state=0),
     "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=100, random_state=0),
     "k_nearest_neighbors": lambda: KNeighborsClassifier(n_jobs=2),
     "gaussian_nb": lambda: GaussianNB(),
     "bernoulli_nb": lambda: BernoulliNB(),
     "complement_nb": lambda: ComplementNB(),
     "svm": lambda: SVC(C=10)}[name]()
t = time.time(); m.fit(xtr, ytr); t1 = time.time(); acc = (m.predict(xte) == yte).mean(); t2 = time.time()
print(f"{t1 - t:.2f} {t2 - t1:.2f} {acc:.4f}")
PYEOF
}

echo
echo "| model | n_train | kiln fit s | kiln predict s | kiln accuracy | scikit-learn fit s | predict s | accuracy | fit time ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # name spec n_train
    [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]] || return 0
    local k
    k=$("$BIN" "$2" "$3" 2)
    read -r kf kp ka < <(echo "$k" | $PY -c 'import json,sys; o=json.load(sys.stdin); print(o["fit_seconds"], o["predict_seconds"], o["accuracy"])')
    local sf=- sp=- sa=- ratio=-
    if [[ " $SKIP " != *" $1 "* ]] && [ "$3" -le 10000 -o "$1" != svm ]; then
        read -r sf sp sa < <(peer "$1" "$3")
        ratio=$($PY -c "print(f'{$kf / $sf:.3f}')")
    fi
    echo "| $1 | $3 | $kf | $kp | $ka | $sf | $sp | $sa | $ratio |"
}
run logistic_regression '{"type": "logistic_regression", "C": 1.0, "max_iter": 100}' 60000
run linear_svm '{"type": "linear_svm", "C": 1.0}' 60000
run decision_tree '{"type": "decision_tree", "criterion": "entropy", "max_depth": 10}' 60000
run random_forest '{"type": "random_forest", "n_estimators": 100, "criterion": "entropy"}' 60000
# defaults: 100 iterations, 31 leaves, early stopping on (over 10,000 rows: 10% for validation)
run hist_gradient_boosting '{"type": "hist_gradient_boosting", "max_iter": 100}' 60000
run k_nearest_neighbors '{"type": "k_nearest_neighbors"}' 60000
run gaussian_nb '{"type": "gaussian_nb"}' 60000
# defaults: bernoulli_nb binarizes at 0 (a pixel that is not black is 1); complement_nb takes
# the scaled pixels as counts
run bernoulli_nb '{"type": "bernoulli_nb"}' 60000
run complement_nb '{"type": "complement_nb"}' 60000
run svm '{"type": "svm", "kernel": "rbf", "C": 10}' 10000
[[ " $SKIP " == *" svm60k "* ]] || run svm '{"type": "svm", "kernel": "rbf", "C": 10}' 60000
