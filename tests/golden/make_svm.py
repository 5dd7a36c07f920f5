"""scikit-learn 1.2.1 LinearSVC, SVC and NuSVC values for tests/test_svm.c (Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_svm.py > tests/golden/svm.txt
(Regenerating moves a few decision values and objectives in their last digit, 1e-16 relative:
numpy's sums; the tests allow far more.)

Data: tests/data/{iris,wine,breast_cancer}.csv, last column the label. Labels are numbered in
the sorted order of their text (as sklearn's LabelEncoder numbers them); the features are read
as float32 (as kiln's CSV reader does), standardized in float64 with the population standard
deviation ((x - mean) / std, std over n), and rounded to float32. sklearn is given those
float32 values widened to float64; the C test standardizes the same way.

Conventions written here are LIBSVM's, which kiln keeps (sklearn flips the sign of the binary
case's dual_coef_, intercept_ and decision_function; its internal _dual_coef_ and _intercept_
are LIBSVM's): for the pair (i, j), i < j, a positive decision value votes for class i;
intercept = -rho. Support vectors come grouped by class, in data order within a class.

Format: one record a line, "name v1 v2 ...", doubles as %.17g, counts as ints. For each case
<tag>:
  LinearSVC: <tag>_coef (k*d), <tag>_intercept (k), <tag>_n_iter, <tag>_pred (n);
  SVC:       <tag>_n_support (n_classes), <tag>_support (n_sv row indices),
             <tag>_dual_coef ((n_classes-1)*n_sv), <tag>_intercept (pairs), <tag>_gamma,
             <tag>_dual_obj (pairs: 0.5 a'Qa - e'a of each pair's problem, from the model),
             <tag>_dec (n*pairs, row-major), <tag>_pred (n);
  probability: <tag>_proba (n*n_classes), <tag>_prob_a, <tag>_prob_b (pairs);
  NuSVC:     <tag>_n_support, <tag>_support, <tag>_dual_coef, <tag>_intercept, <tag>_dec,
             <tag>_pred as for SVC (LIBSVM's layout, the solution scaled by 1 / r as LIBSVM
             scales it)."""
import csv
import os

import numpy as np
from sklearn.svm import SVC, LinearSVC, NuSVC

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def load(name):
    with open(os.path.join(DATA, name + ".csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    labels = [r[-1].strip() for r in rows]
    classes = sorted(set(labels))
    y = np.array([classes.index(s) for s in labels], dtype=np.int64)
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32).astype(np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    x = ((x - mean) / std).astype(np.float32).astype(np.float64)
    return x, y


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


def dual_objectives(m, kind, gamma, degree, coef0):
    """Each pair's dual objective 0.5 a'Qa - sum(a) from the fitted model (LIBSVM layout)."""
    k = len(m.classes_)
    sv = m.support_vectors_
    nsv = m.n_support_
    start = np.concatenate([[0], np.cumsum(nsv)])
    coef = m._dual_coef_
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            idx = np.concatenate([np.arange(start[i], start[i + 1]), np.arange(start[j], start[j + 1])])
            c = np.concatenate([coef[j - 1, start[i]:start[i + 1]], coef[i, start[j]:start[j + 1]]])
            kk = kernel(sv[idx], sv[idx], kind, gamma, degree, coef0)
            # c = y * alpha, so a'Qa = c'Kc and sum(alpha) = sum(|c|)
            out.append(0.5 * c @ kk @ c - np.abs(c).sum())
    return out


def linear_case(tag, x, y, **kw):
    m = LinearSVC(random_state=0, **{k: v for k, v in kw.items() if k != "sample_weight"})
    m.fit(x, y, sample_weight=kw.get("sample_weight"))
    emit(tag + "_coef", m.coef_)
    emit(tag + "_intercept", np.broadcast_to(m.intercept_, (m.coef_.shape[0],)))
    emit(tag + "_n_iter", [m.n_iter_], "%d")
    emit(tag + "_pred", m.predict(x), "%d")


def svc_case(tag, x, y, **kw):
    m = SVC(decision_function_shape="ovo", random_state=0, **kw).fit(x, y)
    kind = kw.get("kernel", "rbf")
    gamma = m._gamma
    degree = kw.get("degree", 3)
    coef0 = kw.get("coef0", 0.0)
    emit(tag + "_n_support", m.n_support_, "%d")
    emit(tag + "_support", m.support_, "%d")
    emit(tag + "_dual_coef", m._dual_coef_)
    emit(tag + "_intercept", m._intercept_)
    emit(tag + "_gamma", [gamma])
    emit(tag + "_dual_obj", dual_objectives(m, kind, gamma, degree, coef0))
    dec = m.decision_function(x)
    if len(m.classes_) == 2:
        dec = -dec  # back to LIBSVM's sign: positive votes for class 0
    emit(tag + "_dec", dec)
    emit(tag + "_pred", m.predict(x), "%d")
    if kw.get("probability"):
        emit(tag + "_proba", m.predict_proba(x))
        emit(tag + "_prob_a", m.probA_)
        emit(tag + "_prob_b", m.probB_)


sets = {name: load(name) for name in ("iris", "wine", "breast_cancer")}
for name, (x, y) in sets.items():
    emit(name + "_shape", x.shape, "%d")
    emit(name + "_y", y, "%d")

for name, (x, y) in sets.items():
    # LinearSVC defaults (squared hinge, C=1, tol 1e-4), then hinge, then tightly converged.
    linear_case("lin_" + name, x, y)
    linear_case("linhinge_" + name, x, y, loss="hinge", C=0.5, max_iter=20000)
    linear_case("lintight_" + name, x, y, tol=1e-9, max_iter=100000)
    # SVC: defaults (rbf, C=1, gamma='scale', tol 1e-3), then tightly converged, poly, linear.
    svc_case("rbf_" + name, x, y)
    svc_case("rbftight_" + name, x, y, C=10.0, tol=1e-7)
    svc_case("poly_" + name, x, y, kernel="poly", degree=3, coef0=1.0, C=0.5)
    svc_case("linear_" + name, x, y, kernel="linear", C=0.1)

x, y = sets["breast_cancer"]
svc_case("sigmoid_breast_cancer", x, y, kernel="sigmoid", gamma=0.01, coef0=0.0, C=2.0)
svc_case("weighted_breast_cancer", x, y, class_weight={0: 1.0, 1: 3.0})
w = np.where(np.arange(len(y)) % 3 == 0, 2.0, 0.5)
linear_case("linweighted_breast_cancer", x, y, sample_weight=w, tol=1e-9, max_iter=100000)
# binary class_weight: LIBLINEAR's Cp, Cn are per-sample C, as kiln folds them into w
linear_case("lincw_breast_cancer", x, y, class_weight={0: 1.0, 1: 3.0}, loss="hinge", tol=1e-9, max_iter=100000)
x, y = sets["iris"]
linear_case("linnoint_iris", x, y, fit_intercept=False, tol=1e-9, max_iter=100000)
svc_case("prob_iris", x, y, probability=True)
x, y = sets["breast_cancer"]
svc_case("prob_breast_cancer", x, y, probability=True)


def nusvc_case(tag, x, y, **kw):
    m = NuSVC(decision_function_shape="ovo", random_state=0, **kw).fit(x, y)
    emit(tag + "_n_support", m.n_support_, "%d")
    emit(tag + "_support", m.support_, "%d")
    emit(tag + "_dual_coef", m._dual_coef_)
    emit(tag + "_intercept", m._intercept_)
    dec = m.decision_function(x)
    if len(m.classes_) == 2:
        dec = -dec
    emit(tag + "_dec", dec)
    emit(tag + "_pred", m.predict(x), "%d")


# nu-SVC (Solver_NU from LIBSVM's starting point): each kernel, a tight tolerance
x, y = sets["iris"]
nusvc_case("nu_iris", x, y, nu=0.3)
nusvc_case("nupoly_iris", x, y, nu=0.5, kernel="poly", degree=2, coef0=1.0)
x, y = sets["wine"]
nusvc_case("nu_wine", x, y, nu=0.2, tol=1e-6)
x, y = sets["breast_cancer"]
nusvc_case("nu_breast_cancer", x, y, nu=0.5)
nusvc_case("nulinear_breast_cancer", x, y, nu=0.1, kernel="linear")
