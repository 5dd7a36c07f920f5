"""scikit-learn 1.2.1 values for tests/test_tree.c (Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_tree.py > tests/golden/tree.txt

Data: tests/data/{iris,wine,breast_cancer,diabetes}.csv, last column the label (classes
numbered in sorted order of their text, as np.unique) or the target; X as float32, as the trees
see it.

Exact trees. Where every feature has <= 256 distinct values kiln's binning is lossless and its
tree must be scikit-learn's. diabetes's s2 has 302: kiln's candidate splits are then a subset
of scikit-learn's, and the diabetes trees here never split on s2, so they must still be found
(where a split falls on such a feature, kiln's threshold sits midway between the values of
the two bins, not of the node's rows: the same partition of the training rows, a slightly
different threshold; min_samples_leaf=20 keeps the weighted tree off s2). synth_*: 5000 x 20 features of 200 levels each and labels / integer targets from
an LCG that test_tree.c repeats (large enough for kiln's whole-node histograms, sibling
subtraction and a parallel split search). scikit-learn breaks ties between features by
its random visiting order, kiln by the lowest feature index, so each tree is fitted with
random_state 0..39 and the variant with the lexicographically smallest preorder feature
sequence is kept (iris's root is such a tie: petal_length <= 2.45 and petal_width <= 0.80 both
isolate setosa). Records <case>_<field>: n_nodes, feature, threshold (%.17g of the float64
threshold), left, right, value (class fractions or the mean), n_samples, impurity,
importance, and <case>_text lines of export_text(feature_names=header).

Metrics: <set>_tree_train (train accuracy / R² of a depth-limited tree), <set>_fold (a fixed
5-fold assignment), <set>_forest_cv (the 5-fold held-out accuracy / R² of RandomForest(100),
averaged over random_state 0..4; min and max follow), <set>_forest_oob (oob_score_, same
averaging).

Format: one record a line, "name v1 v2 ..." (text records: "name<space>the line")."""
import csv
import os

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, export_text

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def load(name, regression=False):
    with open(os.path.join(DATA, name + ".csv")) as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
    if regression:
        y = np.array([float(r[-1]) for r in rows], dtype=np.float32)
    else:
        y = np.unique([r[-1] for r in rows], return_inverse=True)[1]
    return header[:-1], x, y


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def exact(case, make, names, x, y, w=None):
    variants = {}
    for rs in range(40):
        m = make(rs).fit(x, y, sample_weight=w)
        variants.setdefault(tuple(m.tree_.feature), m)
    key = min(variants)
    m = variants[key]
    t = m.tree_
    print("# %s: %d variant(s) over random_state 0..39" % (case, len(variants)))
    emit(case + "_n_nodes", [t.node_count], "%d")
    emit(case + "_feature", t.feature, "%d")
    emit(case + "_threshold", np.where(t.feature >= 0, t.threshold, 0.0))
    emit(case + "_left", t.children_left, "%d")
    emit(case + "_right", t.children_right, "%d")
    v = t.value[:, 0, :]
    if isinstance(m, DecisionTreeClassifier):
        v = v / v.sum(axis=1, keepdims=True)
    emit(case + "_value", v)
    emit(case + "_n_samples", t.n_node_samples, "%d")
    emit(case + "_impurity", t.impurity)
    emit(case + "_importance", m.feature_importances_)
    for line in export_text(m, feature_names=list(names)).rstrip("\n").split("\n"):
        print(case + "_text " + line)


def synth():
    """The LCG data test_tree.c makes too: x[i, j] = (draw % 200) / 8; a class from a noisy
    score of features 0, 1, 2; an integer target from features 0, 3, 4 and noise."""
    n, d, state, mask = 5000, 20, 12345, (1 << 64) - 1
    x = np.zeros((n, d), dtype=np.float32)
    y = np.zeros(n, dtype=np.int64)
    t = np.zeros(n, dtype=np.float32)

    def draw():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        return state >> 33

    for i in range(n):
        v = [draw() % 200 for _ in range(d)]
        x[i] = np.array(v, dtype=np.float32) / 8
        s = v[0] + v[1] - v[2] + draw() % 120
        y[i] = (s > 170) + (s > 250)
        t[i] = 2 * v[0] + v[3] - v[4] + draw() % 50
    return ["f%d" % j for j in range(d)], x, y, t


def folds(n, seed):
    f = np.arange(n) % 5
    np.random.default_rng(seed).shuffle(f)
    return f


def forest_cv(name, x, y, regression):
    fold = folds(len(y), 7)
    emit(name + "_fold", fold, "%d")
    scores, oobs = [], []
    for rs in range(5):
        pred = np.zeros(len(y))
        for k in range(5):
            tr, te = fold != k, fold == k
            if regression:
                m = RandomForestRegressor(n_estimators=100, random_state=rs).fit(x[tr], y[tr])
            else:
                m = RandomForestClassifier(n_estimators=100, random_state=rs).fit(x[tr], y[tr])
            pred[te] = m.predict(x[te])
        scores.append(r2_score(y, pred) if regression else np.mean(pred == y))
        kind = RandomForestRegressor if regression else RandomForestClassifier
        oobs.append(kind(n_estimators=100, oob_score=True, random_state=rs).fit(x, y).oob_score_)
    emit(name + "_forest_cv", [np.mean(scores), np.min(scores), np.max(scores)])
    emit(name + "_forest_oob", [np.mean(oobs), np.min(oobs), np.max(oobs)])


def main():
    iris = load("iris")
    wine = load("wine")
    cancer = load("breast_cancer")
    diabetes = load("diabetes", regression=True)
    for nm, (_, x, _) in (("iris", iris), ("wine", wine), ("breast_cancer", cancer), ("diabetes", diabetes)):
        distinct = [len(np.unique(x[:, j])) for j in range(x.shape[1])]
        print("# %s: %d x %d, at most %d distinct values in a feature" % (nm, x.shape[0], x.shape[1], max(distinct)))

    names, x, y = iris
    exact("iris_d3", lambda rs: DecisionTreeClassifier(max_depth=3, random_state=rs), names, x, y)
    w = (1 + np.arange(len(y)) % 3).astype(np.float64)
    exact("iris_w_d3", lambda rs: DecisionTreeClassifier(max_depth=3, random_state=rs), names, x, y, w)
    exact("iris_leaf5", lambda rs: DecisionTreeClassifier(min_samples_leaf=5, min_samples_split=12, random_state=rs),
          names, x, y)
    w = 0.5 + 0.25 * (np.arange(len(y)) % 3)  # binary fractions: sums stay exact
    exact("iris_fw_e3", lambda rs: DecisionTreeClassifier(criterion="entropy", max_depth=3, random_state=rs), names,
          x, y, w)
    names, x, y = wine
    exact("wine_e3", lambda rs: DecisionTreeClassifier(criterion="entropy", max_depth=3, random_state=rs), names, x, y)
    names, x, y = diabetes
    exact("diabetes_r3", lambda rs: DecisionTreeRegressor(max_depth=3, random_state=rs), names, x, y)
    w = (1 + np.arange(len(y)) % 3).astype(np.float64)
    exact("diabetes_w_r3", lambda rs: DecisionTreeRegressor(max_depth=3, min_samples_leaf=20, random_state=rs), names,
          x, y, w)

    names, x, y, t = synth()
    exact("synth_g6", lambda rs: DecisionTreeClassifier(max_depth=6, min_samples_leaf=20, random_state=rs), names, x, y)
    exact("synth_e5", lambda rs: DecisionTreeClassifier(criterion="entropy", max_depth=5,
                                                        random_state=rs), names, x, y)
    exact("synth_r6", lambda rs: DecisionTreeRegressor(max_depth=6, min_samples_split=40, random_state=rs), names, x, t)

    for nm, (_, x, y) in (("iris", iris), ("wine", wine), ("breast_cancer", cancer)):
        for crit in ("gini", "entropy"):
            m = DecisionTreeClassifier(criterion=crit, max_depth=4, random_state=0).fit(x, y)
            emit("%s_tree_train_%s" % (nm, crit), [np.mean(m.predict(x) == y)])
        forest_cv(nm, x, y, False)
    _, x, y = diabetes
    m = DecisionTreeRegressor(max_depth=4, random_state=0).fit(x, y)
    emit("diabetes_tree_train_squared_error", [r2_score(y, m.predict(x))])
    forest_cv("diabetes", x, y, True)


main()
