"""scikit-learn 1.2.1 Lasso and ElasticNet values for tests/test_enet.c (Debian's
python3-sklearn):
/usr/bin/python3 tests/golden/make_enet.py > tests/golden/enet.txt

Data: tests/data/diabetes.csv, read as float32, standardized in float64 with the population
std and rounded to float32 (written here, %.9g, so the C test reads nothing else); the target
as float32. Weighted cases use sample_weight[i] = i % 4 + 1 (0 for every seventh row).

Format: one record a line, "name v1 v2 ...": data_shape (n d), data_x, data_t; per case <tag>:
<tag>_coef (d), <tag>_intercept, <tag>_n_iter, <tag>_pred (the first 20 rows)."""
import csv
import os
import warnings

import numpy as np
from sklearn.linear_model import ElasticNet, Lasso

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


with open(os.path.join(HERE, "..", "data", "diabetes.csv"), newline="") as f:
    rows = list(csv.reader(f))[1:]
x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32).astype(np.float64)
t = np.array([float(r[-1]) for r in rows], dtype=np.float32).astype(np.float64)
x = ((x - x.mean(0)) / x.std(0)).astype(np.float32).astype(np.float64)
emit("data_shape", x.shape, "%d")
emit("data_x", x, "%.9g")
emit("data_t", t, "%.9g")
w = np.arange(len(t)) % 4 + 1.0
w[::7] = 0


def case(tag, model, weighted=False):
    model.fit(x, t, sample_weight=w if weighted else None)
    emit(tag + "_coef", model.coef_)
    emit(tag + "_intercept", [model.intercept_])
    emit(tag + "_n_iter", [model.n_iter_], "%d")
    emit(tag + "_pred", model.predict(x[:20]))


case("lasso", Lasso(alpha=0.1))
case("lasso_default", Lasso())
case("lasso_strong", Lasso(alpha=30.0))  # most coefficients 0
case("enet", ElasticNet())
case("enet_l1_0.2", ElasticNet(alpha=0.05, l1_ratio=0.2))
case("enet_weighted", ElasticNet(alpha=0.1, l1_ratio=0.7), weighted=True)
case("lasso_positive", Lasso(alpha=0.5, positive=True))
case("lasso_no_intercept", Lasso(alpha=0.2, fit_intercept=False))
case("lasso_tight", Lasso(alpha=0.01, tol=1e-8, max_iter=100000))
