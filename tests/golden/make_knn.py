"""scikit-learn 1.2.1 KNeighborsClassifier / KNeighborsRegressor values for tests/test_knn.c
(Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_knn.py > tests/golden/knn.txt

Data: tests/data/wine.csv (classes numbered in the sorted order of their text) and
tests/data/diabetes.csv (regression), features read as float32, standardized in float64 with
the population std and rounded to float32; rows with an even index train, odd ones are the
queries. The data are written here too (as %.9g floats), so the C test reads nothing else.
algorithm="brute" (every algorithm gives the same neighbours but for ties). Chebyshev
distances tie on a few queries (the same feature's difference decides both); kiln orders tied
rows by index, scikit-learn in no set order, so the test lets those differ.

Format: one record a line, "name v1 v2 ...". Per dataset <set>: <set>_shape (n_train
n_query d), <set>_xtrain, <set>_ytrain, <set>_xquery. Per case <tag>: <tag>_k, <tag>_ind
(n_query * k, nearest first), <tag>_dist (likewise), and <tag>_proba (n_query * classes) or
<tag>_pred (n_query)."""
import csv
import os

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def load(name, classify):
    with open(os.path.join(DATA, name + ".csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    target = [r[-1].strip() for r in rows]
    if classify:
        classes = sorted(set(target))
        y = np.array([classes.index(s) for s in target], dtype=np.int64)
    else:
        y = np.array([float(s) for s in target], dtype=np.float32).astype(np.float64)
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32).astype(np.float64)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    x = ((x - x.mean(axis=0)) / std).astype(np.float32)
    return x[0::2], y[0::2], x[1::2]


def dataset(tag, classify):
    xt, yt, xq = load(tag, classify)
    emit(tag + "_shape", [len(xt), len(xq), xt.shape[1]], "%d")
    emit(tag + "_xtrain", xt, "%.9g")
    emit(tag + "_ytrain", yt, "%d" if classify else "%.9g")
    emit(tag + "_xquery", xq, "%.9g")
    return xt.astype(np.float64), yt, xq.astype(np.float64)


def case(tag, model, xt, yt, xq, classify):
    model.fit(xt, yt)
    dist, ind = model.kneighbors(xq)
    emit(tag + "_k", [model.n_neighbors], "%d")
    emit(tag + "_ind", ind, "%d")
    emit(tag + "_dist", dist)
    if classify:
        emit(tag + "_proba", model.predict_proba(xq))
    else:
        emit(tag + "_pred", model.predict(xq))


xt, yt, xq = dataset("wine", True)
C = KNeighborsClassifier
case("wine_uniform", C(algorithm="brute"), xt, yt, xq, True)
case("wine_distance7", C(7, weights="distance", algorithm="brute"), xt, yt, xq, True)
case("wine_manhattan3", C(3, metric="manhattan", algorithm="brute"), xt, yt, xq, True)
case("wine_chebyshev4", C(4, metric="chebyshev", algorithm="brute"), xt, yt, xq, True)
case("wine_minkowski3", C(6, p=3, weights="distance", algorithm="brute"), xt, yt, xq, True)
case("wine_k1", C(1, algorithm="brute"), xt, yt, xq, True)
# queries that are training rows: "distance" weights take the distance-0 neighbour alone
case("wine_self", C(5, weights="distance", algorithm="brute"), xt, yt, xt, True)

xt, yt, xq = dataset("diabetes", False)
R = KNeighborsRegressor
case("diabetes_uniform", R(algorithm="brute"), xt, yt, xq, False)
case("diabetes_distance10", R(10, weights="distance", algorithm="brute"), xt, yt, xq, False)
