"""ROC-AUC and log-loss from scikit-learn for tests/test_metrics.c (Debian's python3-sklearn):
/usr/bin/python3 tests/golden/make_metrics_golden.py > tests/golden/metrics.txt
Inputs are float64 so log_loss's eps="auto" is float64's epsilon."""
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

# scores with ties (0.35 twice across classes, 0.8 twice) and a saturated 1.0
scores = np.array([0.1, 0.35, 0.4, 0.35, 0.8, 0.8, 0.65, 0.2, 1.0, 0.05, 0.5, 0.9])
labels = np.array([0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1])
print("auc_scores " + " ".join("%.17g" % v for v in scores))
print("auc_labels " + " ".join(str(v) for v in labels))
print("auc %.17g" % roc_auc_score(labels, scores))
# three classes, one row with a zero probability for its true class (clipped), rows not summing to 1
probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.0, 0.5, 0.5], [0.25, 0.25, 0.6]])
plabels = np.array([0, 1, 2, 0, 1])
print("ll_probs " + " ".join("%.17g" % v for v in probs.flatten()))
print("ll_labels " + " ".join(str(v) for v in plabels))
print("log_loss %.17g" % log_loss(plabels, probs, labels=[0, 1, 2]))
# multi-class one-vs-rest ROC-AUC (roc_auc_score(multi_class="ovr")): 4 classes of unequal
# counts, rows summing to 1 (scikit-learn insists), ties within a column
rng = np.random.RandomState(7)
raw = rng.rand(14, 4) ** 2
raw[3, :] = raw[5, :]  # a tied pair of rows
ovr_probs = np.round(raw / raw.sum(axis=1, keepdims=True), 3)
ovr_probs[:, 3] = np.round(1 - ovr_probs[:, :3].sum(axis=1), 3)  # 3 decimals: the same ties in float32
ovr_labels = np.array([0, 1, 2, 3, 0, 0, 1, 2, 0, 3, 1, 0, 2, 0])
print("ovr_probs " + " ".join("%.17g" % v for v in ovr_probs.flatten()))
print("ovr_labels " + " ".join(str(v) for v in ovr_labels))
print("auc_ovr_macro %.17g" % roc_auc_score(ovr_labels, ovr_probs, multi_class="ovr", average="macro"))
print("auc_ovr_weighted %.17g" % roc_auc_score(ovr_labels, ovr_probs, multi_class="ovr", average="weighted"))
