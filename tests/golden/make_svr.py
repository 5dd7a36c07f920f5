"""scikit-learn 1.2.1 SVR and LinearSVR values for tests/test_svr.c (Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_svr.py > tests/golden/svr.txt

Data: tests/data/diabetes.csv, last column the target (integers, exact in float32). The features
are read as float32 (as kiln's CSV reader does), standardized in float64 with the population
standard deviation ((x - mean) / std, std over n) and rounded to float32, as make_svm.py does;
sklearn is given those float32 values widened to float64, and the C test standardizes the same
way. "std" cases also standardize the target (float64, then rounded to float32).

Format: one record a line, "name v1 v2 ...", doubles as %.17g, counts as ints. For each case
<tag>:
  SVR, NuSVR: <tag>_support (n_sv row indices), <tag>_dual_coef (n_sv: alpha - alpha*),
             <tag>_intercept, <tag>_gamma, <tag>_n_iter, <tag>_dual_obj (the dual objective
             0.5 c'Kc + epsilon |c|_1 - t'c from the model), <tag>_pred (n, on the training rows);
  LinearSVR: <tag>_coef (d), <tag>_intercept, <tag>_n_iter, <tag>_pred (n).
<tag>_w (n) holds the sample weights where a case has them."""
import csv
import os

import numpy as np
from sklearn.svm import SVR, LinearSVR, NuSVR

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def standardize(a):
    mean = a.mean(axis=0)
    std = a.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    return ((a - mean) / std).astype(np.float32).astype(np.float64)


def load():
    with open(os.path.join(DATA, "diabetes.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32).astype(np.float64)
    t = np.array([float(r[-1]) for r in rows], dtype=np.float32).astype(np.float64)
    return standardize(x), t


def kernel(a, b, kind, gamma, degree, coef0):
    dot = a @ b.T
    if kind == "linear":
        return dot
    if kind == "poly":
        return (gamma * dot + coef0) ** degree
    if kind == "sigmoid":
        return np.tanh(gamma * dot + coef0)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * dot
    return np.exp(-gamma * np.maximum(sq, 0))


def svr_case(tag, x, t, w=None, nu=None, **kw):
    m = (NuSVR(nu=nu, **kw) if nu else SVR(**kw)).fit(x, t, sample_weight=w)
    kind = kw.get("kernel", "rbf")
    gamma = m._gamma
    c = m.dual_coef_.ravel()
    sv = m.support_vectors_
    kk = kernel(sv, sv, kind, gamma, kw.get("degree", 3), kw.get("coef0", 0.0))
    eps = kw.get("epsilon", 0.1) if not nu else 0.0  # nu-SVR: the objective without the tube's term
    emit(tag + "_support", m.support_, "%d")
    emit(tag + "_dual_coef", c)
    emit(tag + "_intercept", m.intercept_)
    emit(tag + "_gamma", [gamma])
    emit(tag + "_n_iter", [int(np.ravel(m.n_iter_)[0])], "%d")
    emit(tag + "_dual_obj", [0.5 * c @ kk @ c + eps * np.abs(c).sum() - t[m.support_] @ c])
    emit(tag + "_pred", m.predict(x))
    if w is not None:
        emit(tag + "_w", w)


def linear_case(tag, x, t, w=None, **kw):
    m = LinearSVR(random_state=0, **kw).fit(x, t, sample_weight=w)
    emit(tag + "_coef", m.coef_)
    emit(tag + "_intercept", np.ravel(m.intercept_))
    emit(tag + "_n_iter", [m.n_iter_], "%d")
    emit(tag + "_pred", m.predict(x))
    if w is not None:
        emit(tag + "_w", w)


x, t = load()
ts = standardize(t[:, None])[:, 0]
emit("diabetes_shape", x.shape, "%d")
emit("diabetes_t", t)

# SVR: the defaults (rbf, C=1, epsilon 0.1: nearly every row at its bound on targets of
# 25-346), a wide tube with large C, then each kernel, a tight tolerance, weights.
svr_case("svr_default", x, t)
svr_case("svr_rbf_c100", x, t, C=100.0, epsilon=5.0)
svr_case("svr_linear", x, t, kernel="linear", C=10.0, epsilon=10.0)
svr_case("svr_poly", x, t, kernel="poly", degree=2, gamma="auto", coef0=1.0, C=50.0, epsilon=2.0)
svr_case("svr_std_rbf", x, ts, C=3.0, epsilon=0.05)
svr_case("svr_std_tight", x, ts, C=10.0, epsilon=0.2, tol=1e-7)
svr_case("svr_std_sigmoid", x, ts, kernel="sigmoid", gamma=0.02, coef0=0.0, C=2.0, epsilon=0.1)
# positive weights: scikit-learn 1.2's SVR with a weight of 0 numbers support_ within the rows
# it kept (so they point at the wrong rows); kiln leaves such rows out (test_svr.c checks that
# equals dropping them)
weights = 0.5 + (np.arange(len(t)) % 3) * 0.75
svr_case("svr_weighted", x, ts, w=weights, C=2.0, epsilon=0.1)

# LinearSVR: the defaults (epsilon_insensitive, epsilon 0, C=1, tol 1e-4), then the squared
# loss, each tightly converged so the unique optimum is compared, weights, no intercept.
linear_case("lsvr_default", x, t)
linear_case("lsvr_tight", x, t, C=10.0, epsilon=5.0, tol=1e-9, max_iter=200000)
linear_case("lsvr_sq_tight", x, ts, loss="squared_epsilon_insensitive", C=0.5, epsilon=0.1, tol=1e-9,
            max_iter=200000)
linear_case("lsvr_weighted", x, ts, w=weights, C=1.0, epsilon=0.05, tol=1e-9, max_iter=200000)
linear_case("lsvr_noint", x, ts, fit_intercept=False, C=0.1, epsilon=0.1, tol=1e-9, max_iter=200000)
linear_case("lsvr_scaled", x, t, intercept_scaling=10.0, C=10.0, epsilon=1.0, tol=1e-9, max_iter=200000)

# NuSVR (Solver_NU from LIBSVM's starting point): the tube found from nu
svr_case("nusvr_default", x, t, nu=0.5)
svr_case("nusvr_std", x, ts, nu=0.3, C=3.0)
svr_case("nusvr_std_linear", x, ts, nu=0.6, C=0.5, kernel="linear")
svr_case("nusvr_weighted", x, ts, w=weights, nu=0.4, C=2.0)
