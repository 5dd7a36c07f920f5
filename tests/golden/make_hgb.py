"""scikit-learn 1.2.1 values for tests/test_hgb.c (Debian's python3-sklearn), on one thread:
OMP_NUM_THREADS=1 /usr/bin/python3 tests/golden/make_hgb.py > tests/golden/hgb.txt
(the script sets OMP_NUM_THREADS=1 itself: scikit-learn's root gradient sum is an OpenMP
reduction whose order follows the thread count; kiln sums in row order, as one thread does).

Data: tests/data/{diabetes,breast_cancer,digits,iris}.csv, last column the label (classes
numbered in sorted order of their text, as np.unique) or the target; X as float32, as kiln
sees it. Weighted cases use w[i] = 1 + i % 3 (exact in float32, so kiln's float weights are
scikit-learn's float64 ones). Every case fits on all rows with early_stopping=False unless it
says otherwise, and records:

  <case>_n_iter          n_iter_
  <case>_tree_nodes      node count of every tree, iteration-major (tree t: iteration t / k, class t % k)
  <case>_raw             the raw scores (decision_function, or predict for regression) of the
                         first ROWS rows, row-major (rows, k)
  <case>_proba           predict_proba of the first 5 rows (classifiers)
  <case>_t<i>_feature / _threshold / _value / _count
                         tree i (first and last) in scikit-learn's predictor order (preorder, as
                         kiln's): feature_idx (-1 for a leaf), num_threshold (0 for a leaf),
                         value (a leaf's shrunk value; internal nodes 0 here: scikit-learn keeps
                         them unshrunk), count
  <case>_train_score     train_score_ (early-stopping cases)

diabetes's s2 has 302 distinct values and breast_cancer's features up to 547, so those cases
also exercise the quantile binning (on all rows: fewer than scikit-learn's 200,000-row
subsample); cancer_w bins into max_bins=32.

Format: one record a line, "name v1 v2 ..."."""
import csv
import os

os.environ["OMP_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def load(name, regression=False):
    with open(os.path.join(DATA, name + ".csv")) as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
    if regression:
        y = np.array([float(r[-1]) for r in rows], dtype=np.float32)
    else:
        y = np.unique([r[-1] for r in rows], return_inverse=True)[1]
    return x, y


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def record(case, m, x, rows, trees=(0, -1)):
    k = m.n_trees_per_iteration_
    emit(case + "_n_iter", [m.n_iter_], "%d")
    emit(case + "_tree_nodes", [len(p.nodes) for it in m._predictors for p in it], "%d")
    if isinstance(m, HistGradientBoostingClassifier):
        raw = m.decision_function(x[:rows]).reshape(rows, k)
        emit(case + "_proba", m.predict_proba(x[:5]))
    else:
        raw = m.predict(x[:rows]).reshape(rows, 1)
    emit(case + "_raw", raw)
    flat = [p for it in m._predictors for p in it]
    for i in trees:
        nodes = flat[i].nodes
        leaf = nodes["is_leaf"].astype(bool)
        tag = "%s_t%d" % (case, i if i >= 0 else len(flat) + i)
        emit(tag + "_feature", np.where(leaf, -1, nodes["feature_idx"]), "%d")
        emit(tag + "_threshold", np.where(leaf, 0.0, nodes["num_threshold"]))
        emit(tag + "_value", np.where(leaf, nodes["value"], 0.0))
        emit(tag + "_count", nodes["count"], "%d")
    if m.do_early_stopping_:
        emit(case + "_train_score", m.train_score_)


def weights(n):
    return (1 + np.arange(n) % 3).astype(np.float64)


x, t = load("diabetes", regression=True)
print("# diabetes: 442 x 10, squared_error, defaults")
record("diabetes", HistGradientBoostingRegressor(early_stopping=False).fit(x, t), x, 442)
print("# diabetes_w: weighted, l2_regularization=1, max_leaf_nodes=15, max_depth=4, min_samples_leaf=10, learning_rate=0.2")
m = HistGradientBoostingRegressor(early_stopping=False, l2_regularization=1.0, max_leaf_nodes=15, max_depth=4,
                                  min_samples_leaf=10, learning_rate=0.2)
record("diabetes_w", m.fit(x, t, sample_weight=weights(len(t))), x, 442)
print("# diabetes_abs: absolute_error, max_iter=50")
m = HistGradientBoostingRegressor(loss="absolute_error", early_stopping=False, max_iter=50)
record("diabetes_abs", m.fit(x, t), x, 442)
print("# diabetes_absw: absolute_error, weighted, max_iter=30")
m = HistGradientBoostingRegressor(loss="absolute_error", early_stopping=False, max_iter=30)
record("diabetes_absw", m.fit(x, t, sample_weight=weights(len(t))), x, 442)
print("# diabetes_es: early stopping on the training loss (validation_fraction=None), n_iter_no_change=5, tol=50")
m = HistGradientBoostingRegressor(early_stopping=True, validation_fraction=None, n_iter_no_change=5, tol=50.0)
record("diabetes_es", m.fit(x, t), x, 442)
print("# diabetes_r2: early stopping on the training r2 (scoring='r2'), n_iter_no_change=4, tol=5e-3")
m = HistGradientBoostingRegressor(early_stopping=True, validation_fraction=None, scoring="r2", n_iter_no_change=4, tol=5e-3)
record("diabetes_r2", m.fit(x, t), x, 442)

x, y = load("breast_cancer")
print("# cancer: 569 x 30, binary log_loss, defaults")
record("cancer", HistGradientBoostingClassifier(early_stopping=False).fit(x, y), x, 569)
print("# cancer_w: weighted, max_bins=32, learning_rate=0.3, max_iter=60")
m = HistGradientBoostingClassifier(early_stopping=False, max_bins=32, learning_rate=0.3, max_iter=60)
record("cancer_w", m.fit(x, y, sample_weight=weights(len(y))), x, 569)

x, y = load("digits")
print("# digits: 1797 x 64, 10 classes, max_iter=30 (300 trees)")
m = HistGradientBoostingClassifier(early_stopping=False, max_iter=30)
record("digits", m.fit(x, y), x, 300, trees=(0, 9, -1))
emit("digits_train_accuracy", [(m.predict(x) == y).mean()])

x, y = load("iris")
print("# iris: 150 x 4, 3 classes, min_samples_leaf=5, max_iter=20")
m = HistGradientBoostingClassifier(early_stopping=False, min_samples_leaf=5, max_iter=20)
record("iris", m.fit(x, y), x, 150)
print("# iris_acc: early stopping on the weighted training accuracy (scoring='accuracy'), n_iter_no_change=3, tol=0")
m = HistGradientBoostingClassifier(early_stopping=True, validation_fraction=None, scoring="accuracy", n_iter_no_change=3,
                                   tol=0.0, min_samples_leaf=5, max_iter=40)
record("iris_acc", m.fit(x, y, sample_weight=weights(len(y))), x, 150)
