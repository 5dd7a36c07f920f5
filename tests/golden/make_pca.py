"""scikit-learn PCA(svd_solver='full') values for tests/test_pca.c (Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_pca.py > tests/golden/pca.txt

Two seeded synthetic data sets, written into the file as float32 values (%.9g round-trips):
  a: 50 x 6, distinct variances (a rotated diagonal spread plus offsets far from 0);
  b: 5 x 8, fewer rows than features (rank 4 after centering).
sklearn is given the float32 values widened to float64, so it computes in double as kiln does.

Sign convention: sklearn >= 1.5 flips each component so that its entry of largest absolute
value is positive (svd_flip(u_based_decision=False)); older versions (Debian 12 has 1.2.1)
decide on U instead. The script applies the >= 1.5 rule itself, so the file is the same with
either version, and computes the transform from the flipped components.

Format: one record a line, "name v1 v2 ...", doubles as %.17g, counts as ints:
  <set>_shape n d; <set>_x (n*d, row-major); <set>_k k;
  <set>_mean (d); <set>_components (k*d, row-major); <set>_explained_variance (k);
  <set>_ratio (k); <set>_transform (first 5 rows, 5*k);
  a_ratio_all (all 6 ratios); a_share_<s> k for n_components=s (0.5, 0.95, 0.99)."""
import numpy as np
from sklearn.decomposition import PCA


def flip(components):
    c = components.copy()
    rows = np.argmax(np.abs(c), axis=1)
    signs = np.sign(c[np.arange(c.shape[0]), rows])
    return c * signs[:, None]


def emit(name, values, fmt="%.17g"):
    print(name + " " + " ".join(fmt % v for v in np.ravel(values)))


def fit(tag, x32, k):
    x = x32.astype(np.float64)
    p = PCA(n_components=k, svd_solver="full").fit(x)
    comps = flip(p.components_)
    emit(tag + "_shape", x.shape, "%d")
    emit(tag + "_x", x32, "%.9g")
    emit(tag + "_k", [k], "%d")
    emit(tag + "_mean", p.mean_)
    emit(tag + "_components", comps)
    emit(tag + "_explained_variance", p.explained_variance_)
    emit(tag + "_ratio", p.explained_variance_ratio_)
    emit(tag + "_transform", (x[:5] - p.mean_) @ comps.T)
    return x


rng = np.random.default_rng(20240607)
q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
a = (rng.standard_normal((50, 6)) * np.array([6.0, 3.5, 2.0, 1.0, 0.5, 0.1])) @ q.T
a += np.array([10.0, -3.0, 0.5, 100.0, 0.0, 2.0])
xa = fit("a", a.astype(np.float32), 3)
emit("a_ratio_all", PCA(n_components=6, svd_solver="full").fit(xa).explained_variance_ratio_)
for s in (0.5, 0.95, 0.99):
    emit("a_share_%g" % s, [PCA(n_components=s, svd_solver="full").fit(xa).n_components_], "%d")

b = rng.standard_normal((5, 8)) * np.array([4.0, 3.0, 2.5, 2.0, 1.5, 1.0, 0.7, 0.4]) + 1.0
fit("b", b.astype(np.float32), 4)
