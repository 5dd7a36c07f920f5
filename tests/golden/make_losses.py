"""Losses of one term per element and their gradients from PyTorch, for tests/test_losses.c.

Each loss on a batch of 4 rows of 3 outputs, in double precision: the batch's loss (mean of
the rows' losses) and its gradient with respect to the predictions. Where PyTorch has the
loss built in with Keras's definition, it is used (huber, poisson, kl_divergence); the others
(log_cosh, hinge, squared_hinge, msle, mape) are Keras 3's formulas written in torch, and
autograd gives their gradients. Predictions and targets are chosen away from the kinks.
Run with Debian's torch: /usr/bin/python3 tests/golden/make_losses.py > tests/golden/losses.txt
"""
import math
import torch
import torch.nn.functional as F

EPS = 1e-7
N, C = 4, 3
base = [[0.3 * ((i * 5 + j * 7) % 11) - 1.4 for j in range(C)] for i in range(N)]  # in [-1.4, 1.6]


def rows(v):
    return torch.tensor(v, dtype=torch.float64)


regression_y = rows([[0.9 * ((i * 3 + j * 2) % 7) - 2.5 for j in range(C)] for i in range(N)])
positive_p = rows([[0.2 + 0.35 * ((i * 5 + j * 7) % 11) for j in range(C)] for i in range(N)])
positive_y = rows([[float((i + 2 * j) % 4) for j in range(C)] for i in range(N)])
labels01 = rows([[float((i + j) % 2) for j in range(C)] for i in range(N)])
labels_pm = rows([[1.0 if (i * 2 + j) % 3 else -1.0 for j in range(C)] for i in range(N)])
probs_p = torch.softmax(rows(base), dim=1)
probs_y = torch.softmax(rows([[0.5 * ((i * 2 + j * 5) % 7) for j in range(C)] for i in range(N)]), dim=1)


hinge_p = rows(base) + 0.05  # no margin exactly 0 (base holds 1.0 and -1.0)


def keras_hinge_labels(y):
    return torch.where(y == 0, -torch.ones_like(y), y)


cases = {
    # name: (predictions, targets, loss(p, y) as the mean over the batch)
    "huber": (rows(base), regression_y, lambda p, y: F.huber_loss(p, y, delta=1.0)),
    "log_cosh": (rows(base), regression_y,
                 lambda p, y: ((p - y) + F.softplus(-2.0 * (p - y)) - math.log(2.0)).mean()),
    "hinge": (hinge_p, labels01, lambda p, y: torch.clamp(1.0 - keras_hinge_labels(y) * p, min=0).mean()),
    "hinge_pm": (hinge_p, labels_pm, lambda p, y: torch.clamp(1.0 - y * p, min=0).mean()),
    "squared_hinge": (hinge_p, labels01,
                      lambda p, y: (torch.clamp(1.0 - keras_hinge_labels(y) * p, min=0) ** 2).mean()),
    "poisson": (positive_p, positive_y, lambda p, y: F.poisson_nll_loss(p, y, log_input=False, full=False, eps=EPS)),
    "kl_divergence": (probs_p, probs_y,
                      lambda p, y: F.kl_div(torch.log(p.clamp(EPS, 1.0)), y.clamp(EPS, 1.0), reduction="sum") / N),
    "msle": (positive_p, positive_y,
             lambda p, y: ((torch.log(p.clamp(min=EPS) + 1) - torch.log(y.clamp(min=EPS) + 1)) ** 2).mean()),
    "mape": (rows(base), regression_y + 0.05,
             lambda p, y: (100.0 * (y - p).abs() / y.abs().clamp(min=EPS)).mean()),
}
print("N %d C %d" % (N, C))
for name, (p, y, f) in cases.items():
    p = p.clone().requires_grad_(True)
    loss = f(p, y)
    loss.backward()
    print(name + "_pred " + " ".join("%.17g" % v for v in p.detach().flatten().tolist()))
    print(name + "_target " + " ".join("%.17g" % v for v in y.flatten().tolist()))
    print(name + "_loss %.17g" % loss.item())
    print(name + "_grad " + " ".join("%.17g" % v for v in p.grad.flatten().tolist()))
