"""scikit-learn 1.2.1 GaussianNB and MultinomialNB values for tests/test_naive_bayes.c (Debian's
python3-sklearn):
/usr/bin/python3 tests/golden/make_nb.py > tests/golden/nb.txt

Data: tests/data/wine.csv as it is (every feature is positive, so MultinomialNB takes it),
read as float32 and written here (%.9g) so the C test reads nothing else; classes numbered in
sorted order. Weighted cases use sample_weight[i] = i % 3 + 1.

Format: one record a line, "name v1 v2 ...". wine_shape (n d), wine_x, wine_y; per case <tag>:
gaussian: <tag>_theta, <tag>_var, <tag>_prior (class_prior_); multinomial: <tag>_flp
(feature_log_prob_), <tag>_clp (class_log_prior_); both: <tag>_proba (n x classes)."""
import csv
import os

import numpy as np
from sklearn.naive_bayes import GaussianNB, MultinomialNB

HERE = os.path.dirname(os.path.abspath(__file__))


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


with open(os.path.join(HERE, "..", "data", "wine.csv"), newline="") as f:
    rows = list(csv.reader(f))[1:]
labels = [r[-1].strip() for r in rows]
classes = sorted(set(labels))
y = np.array([classes.index(s) for s in labels])
x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
emit("wine_shape", x.shape, "%d")
emit("wine_x", x, "%.9g")
emit("wine_y", y, "%d")
x = x.astype(np.float64)
w = np.arange(len(y)) % 3 + 1.0


def gaussian(tag, weighted=False, **kw):
    m = GaussianNB(**kw).fit(x, y, sample_weight=w if weighted else None)
    emit(tag + "_theta", m.theta_)
    emit(tag + "_var", m.var_)
    emit(tag + "_prior", m.class_prior_)
    emit(tag + "_proba", m.predict_proba(x))


def multinomial(tag, weighted=False, **kw):
    m = MultinomialNB(**kw).fit(x, y, sample_weight=w if weighted else None)
    emit(tag + "_flp", m.feature_log_prob_)
    emit(tag + "_clp", m.class_log_prior_)
    emit(tag + "_proba", m.predict_proba(x))


gaussian("gnb")
gaussian("gnb_weighted", weighted=True)
gaussian("gnb_priors", priors=[0.2, 0.3, 0.5], var_smoothing=1e-3)
multinomial("mnb")
multinomial("mnb_weighted", weighted=True, alpha=0.5)
multinomial("mnb_uniform", fit_prior=False)
multinomial("mnb_class_prior", class_prior=[0.5, 0.25, 0.25], alpha=2.0)
