"""scikit-learn 1.2.1 GaussianNB, MultinomialNB, BernoulliNB and ComplementNB values for
tests/test_naive_bayes.c (Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_nb.py > tests/golden/nb.txt

Data: tests/data/wine.csv as it is (every feature is positive, so MultinomialNB takes it), and
every tenth row of tests/data/digits.csv (180 rows of 64 pixel counts 0-16, 10 classes), each
read as float32 and written here (%.9g) so the C test reads nothing else; classes numbered in
sorted order. Weighted cases use sample_weight[i] = i % 3 + 1. The case bnb_prebinarized
fits binarize=None on the digits binarized in advance (pixel > 8 is 1), which the C test
computes the same way.

Format: one record a line, "name v1 v2 ...". <data>_shape (n d), <data>_x, <data>_y; per case
<tag>: gaussian: <tag>_theta, <tag>_var, <tag>_prior (class_prior_); discrete: <tag>_flp
(feature_log_prob_), <tag>_clp (class_log_prior_); all: <tag>_proba (n x classes) and, for
the digits cases, <tag>_pred (predict, as class indices). The digits cases' values are
written with 9 significant digits (the test's tolerance is 1e-5 relative), to keep this file
small.

The "forced" cases (alpha 0 with force_alpha=True) have infinite log-probabilities, and
scikit-learn's predict_proba gives NaN there (its matrix product takes 0 x inf); their
probabilities and predictions are instead kiln's rule (a feature that is 0 adds nothing, as
x^0 = 1; among +inf scores the probability is shared; all -inf: uniform), computed below from
scikit-learn's fitted feature_log_prob_, which the test still compares as it is."""
import csv
import os
import warnings

import numpy as np
from sklearn.naive_bayes import BernoulliNB, ComplementNB, GaussianNB, MultinomialNB

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


# ---- digits: the discrete models (and multinomial's force_alpha)
with open(os.path.join(HERE, "..", "data", "digits.csv"), newline="") as f:
    rows = list(csv.reader(f))[1:][::10]
dy = np.array([int(r[-1]) for r in rows])
dx = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
emit("digits_shape", dx.shape, "%d")
emit("digits_x", dx, "%.9g")
emit("digits_y", dy, "%d")
dx = dx.astype(np.float64)
dw = np.arange(len(dy)) % 3 + 1.0
dxb = (dx > 8).astype(np.float64)


def kiln_proba(jll):
    """Probabilities from scores as kiln takes them: NaN as -inf, +inf shared, all -inf uniform."""
    jll = np.where(np.isnan(jll), -np.inf, jll)
    out = np.empty_like(jll)
    for i, row in enumerate(jll):
        top = row.max()
        if top == -np.inf:
            out[i] = 1.0 / len(row)
        elif top == np.inf:
            out[i] = (row == np.inf) / np.sum(row == np.inf)
        else:
            e = np.exp(row - top)
            out[i] = e / e.sum()
    return out


def kiln_jll(m, x):
    """The joint log-likelihood with 0 x (+-inf) taken as 0 (a feature that is 0 adds nothing)."""
    flp = m.feature_log_prob_
    with np.errstate(invalid="ignore", divide="ignore"):
        if isinstance(m, BernoulliNB):
            xb = (x > m.binarize).astype(np.float64) if m.binarize is not None else x
            neg = np.log(-np.expm1(flp))
            terms = np.where(xb[:, None, :] == 1, flp[None], neg[None])
            return terms.sum(-1) + m.class_log_prior_
        terms = np.where(x[:, None, :] != 0, x[:, None, :] * flp[None], 0.0)
        jll = terms.sum(-1)
        return jll + m.class_log_prior_ if isinstance(m, MultinomialNB) else jll


def discrete(tag, model, x=dx, weighted=False, forced=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # alpha too small, log(0)
        m = model.fit(x, dy, sample_weight=dw if weighted else None)
        p = m.predict_proba(x)
    emit(tag + "_flp", m.feature_log_prob_, "%.9g")
    emit(tag + "_clp", m.class_log_prior_, "%.9g")
    if forced:
        assert np.isnan(p).any(), tag + ": scikit-learn's probabilities were expected to hold NaN"
        p = kiln_proba(kiln_jll(m, x))
    emit(tag + "_proba", p, "%.9g")
    emit(tag + "_pred", p.argmax(axis=1) if forced else m.predict(x), "%d")


prior10 = [0.05] * 5 + [0.15] * 5
discrete("bnb", BernoulliNB())
discrete("bnb_threshold_weighted", BernoulliNB(binarize=8.0, alpha=0.5), weighted=True)
discrete("bnb_class_prior", BernoulliNB(binarize=4.0, class_prior=prior10))
discrete("bnb_uniform", BernoulliNB(binarize=4.0, fit_prior=False))
discrete("bnb_prebinarized", BernoulliNB(binarize=None), x=dxb)
discrete("bnb_small_alpha", BernoulliNB(binarize=8.0, alpha=0.0))  # raised to 1e-10
discrete("bnb_forced", BernoulliNB(binarize=8.0, alpha=0.0, force_alpha=True), forced=True)
discrete("cnb", ComplementNB())
discrete("cnb_norm", ComplementNB(norm=True, fit_prior=False))
discrete("cnb_weighted", ComplementNB(alpha=0.5), weighted=True)
discrete("cnb_weighted_norm", ComplementNB(alpha=2.0, norm=True), weighted=True)
discrete("cnb_class_prior", ComplementNB(class_prior=prior10))  # the prior does not enter: as cnb
discrete("cnb_forced", ComplementNB(alpha=0.0, force_alpha=True), forced=True)
discrete("mnb_small_alpha", MultinomialNB(alpha=0.0))  # raised to 1e-10
discrete("mnb_forced", MultinomialNB(alpha=0.0, force_alpha=True), forced=True)

# with norm and alpha 0, a complement count of 0 makes -inf / -inf: scikit-learn's weights hold
# NaN, which kiln refuses to fit (the C test checks the refusal)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = ComplementNB(alpha=0.0, force_alpha=True, norm=True).fit(dx, dy)
assert np.isnan(m.feature_log_prob_).any()
