"""scikit-learn 1.2.1 (Debian's python3-sklearn) values for tests/test_linear.c:
/usr/bin/python3 tests/golden/make_linear.py > tests/golden/linear.txt

Data: tests/data/*.csv read as float32 (as kiln reads them), widened to float64 for sklearn,
so both fit the same numbers. Labels: class names sorted (breast_cancer: benign 0,
malignant 1; iris: setosa, versicolor, virginica; wine: 0, 1, 2). Classification features
are standardized the way the C test does it: mean and population std (ddof 0) in float64 of
the float32 values, (x - mean) / std rounded to float32. Sample weights, where used, are
w_i = 1 + (i % 3).

Records, one a line, "name v1 v2 ...", doubles as %.17g:
  regression on diabetes (last column the target):
    ols_{coef,intercept,r2}, ridge1_* (Ridge alpha=1), ridge10_* (alpha=10),
    olsw_{coef,intercept} and ridgew_* (alpha=1) with the weights, ols_noint_coef
    (fit_intercept=False), rank_{coef,intercept} (bmi duplicated as an 11th column: lstsq's
    minimum-norm solution, bmi's coefficient split in two halves).
  logistic regression (lbfgs, l2) for <set> in bc (binary), iris, wine and C in 1, 0.1 (tag
  c1, c01): <set>_<C>_tight_{coef,intercept,objective} (the
  unique optimum, by newton-cg at tol=1e-9: lbfgs stops on its ftol first; objective = C * sum logloss + 0.5 ||coef||^2), and with the defaults
  (tol=1e-4, max_iter=100): <set>_<C>_{coef,intercept,n_iter,pred,accuracy,log_loss}
  (training predictions, accuracy and sklearn's log_loss on the training rows).
  iris_ovr_{coef,intercept} (multi_class="ovr", tight), iris_w_{coef,intercept} (weights,
  tight).
  l1 on bc, C = 0.1 and 1: bc_l1_<C>_{coef,intercept,objective} by saga (tol=1e-12, unpenalized
  intercept, as kiln's objective C * sum logloss + ||coef||_1), and the objective of
  liblinear's solution for comparison (liblinear penalizes the intercept too)."""
import csv
import os
import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import log_loss

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def load(name):
    with open(os.path.join(DATA, name)) as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32).astype(np.float64)
    return x, [r[-1] for r in rows]


def standardize(x):
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return ((x - mean) / std).astype(np.float32).astype(np.float64)


def labels(names):
    classes = sorted(set(names))
    return np.array([classes.index(v) for v in names])


def weights(n):
    return 1.0 + (np.arange(n) % 3)


def objective(C, coef, intercept, x, y, penalty, sample_weight=None):
    """C * sum w logloss + penalty, for a fitted (k, d) coef (k = 1: binary)."""
    z = x @ coef.T + intercept
    if coef.shape[0] == 1:
        z = z[:, 0]
        t = (y == 1).astype(float)
        loss = np.logaddexp(0, z) - t * z
    else:
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.exp(z - zmax).sum(axis=1))
        loss = lse - z[np.arange(len(y)), y]
    w = np.ones(len(y)) if sample_weight is None else sample_weight
    pen = 0.5 * np.sum(coef**2) if penalty == "l2" else np.sum(np.abs(coef))
    return C * np.sum(w * loss) + pen


def regression():
    x, t = load("diabetes.csv")
    t = np.array(t, dtype=np.float32).astype(np.float64)
    w = weights(len(t))
    for tag, model in (("ols", LinearRegression()), ("ridge1", Ridge(alpha=1.0)), ("ridge10", Ridge(alpha=10.0))):
        model.fit(x, t)
        emit(tag + "_coef", model.coef_)
        emit(tag + "_intercept", [model.intercept_])
        emit(tag + "_r2", [model.score(x, t)])
    for tag, model in (("olsw", LinearRegression()), ("ridgew", Ridge(alpha=1.0))):
        model.fit(x, t, sample_weight=w)
        emit(tag + "_coef", model.coef_)
        emit(tag + "_intercept", [model.intercept_])
    emit("ols_noint_coef", LinearRegression(fit_intercept=False).fit(x, t).coef_)
    xr = np.hstack([x, x[:, 2:3]])
    model = LinearRegression().fit(xr, t)
    emit("rank_coef", model.coef_)
    emit("rank_intercept", [model.intercept_])


def logistic():
    sets = {}
    x, names = load("breast_cancer.csv")
    sets["bc"] = (standardize(x), labels(names))
    x, names = load("iris.csv")
    sets["iris"] = (standardize(x), labels(names))
    x, names = load("wine.csv")
    sets["wine"] = (standardize(x), labels(names))
    for tag, (x, y) in sets.items():
        for ctag, C in (("c1", 1.0), ("c01", 0.1)):
            p = f"{tag}_{ctag}"
            m = LogisticRegression(C=C, solver="newton-cg", tol=1e-9, max_iter=10000).fit(x, y)
            emit(p + "_tight_coef", m.coef_)
            emit(p + "_tight_intercept", m.intercept_)
            emit(p + "_tight_objective", [objective(C, m.coef_, m.intercept_, x, y, "l2")])
            m = LogisticRegression(C=C).fit(x, y)
            emit(p + "_coef", m.coef_)
            emit(p + "_intercept", m.intercept_)
            emit(p + "_n_iter", m.n_iter_, "%d")
            emit(p + "_pred", m.predict(x), "%d")
            emit(p + "_accuracy", [m.score(x, y)])
            emit(p + "_log_loss", [log_loss(y, m.predict_proba(x))])
    x, y = sets["iris"]
    m = LogisticRegression(multi_class="ovr", solver="newton-cg", tol=1e-9, max_iter=10000).fit(x, y)
    emit("iris_ovr_coef", m.coef_)
    emit("iris_ovr_intercept", m.intercept_)
    m = LogisticRegression(solver="newton-cg", tol=1e-9, max_iter=10000).fit(x, y, sample_weight=weights(len(y)))
    emit("iris_w_coef", m.coef_)
    emit("iris_w_intercept", m.intercept_)
    x, y = sets["bc"]
    for ctag, C in (("c01", 0.1), ("c1", 1.0)):
        m = LogisticRegression(penalty="l1", solver="saga", C=C, tol=1e-12, max_iter=200000, random_state=0).fit(x, y)
        emit(f"bc_l1_{ctag}_coef", m.coef_)
        emit(f"bc_l1_{ctag}_intercept", m.intercept_)
        emit(f"bc_l1_{ctag}_objective", [objective(C, m.coef_, m.intercept_, x, y, "l1")])
        m = LogisticRegression(penalty="l1", solver="liblinear", C=C, tol=1e-10, max_iter=100000, random_state=0).fit(x, y)
        emit(f"bc_l1_{ctag}_liblinear_objective", [objective(C, m.coef_, m.intercept_, x, y, "l1")])


if __name__ == "__main__":
    # newton-cg at tol=1e-9 reaches the optimum to rounding, then warns that its line search
    # cannot improve further (scipy) and so it "failed to converge" (sklearn): not news here.
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", UserWarning)
    warnings.filterwarnings("ignore", module="scipy")
    regression()
    logistic()
    sys.stdout.flush()
