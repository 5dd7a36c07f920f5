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
