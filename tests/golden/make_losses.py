"""Losses of one term per element and their gradients from PyTorch, for tests/test_losses.c.

Each loss on a batch of 4 rows of 3 outputs, in double precision: the batch's loss (mean of
the rows' losses) and its gradient with respect to the predictions. Where PyTorch has the
loss built in with Keras's definition, it is used (huber, poisson, kl_divergence); the others
(log_cosh, hinge, squared_hinge, msle, mape) are Keras 3's formulas written in torch, and
autograd gives their gradients. Predictions and targets are chosen away from the kinks.
The losses of a row at a time (the two focal cross-entropies with their options,
cosine_similarity, categorical_hinge) are Keras 3's formulas in torch too, each checked first
against the numbers Keras's documentation gives for its example.
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


# The losses of a row at a time: Keras 3's formulas written in torch (losses.py's
# binary_focal_crossentropy, categorical_focal_crossentropy, cosine_similarity,
# categorical_hinge), autograd for their gradients. Each is first checked against the
# values Keras's documentation prints for its standalone example.
def smooth(y, ls, k):
    return y * (1.0 - ls) + ls / k


def binary_focal(gamma=2.0, alpha=0.25, balance=False, logits=False, ls=0.0):
    def f(p, y):
        y = smooth(y, ls, 2.0)
        if logits:
            prob = torch.sigmoid(p)
            bce = F.binary_cross_entropy_with_logits(p, y, reduction="none")
        else:
            prob, q = p, p.clamp(EPS, 1.0 - EPS)
            bce = -(y * torch.log(q) + (1.0 - y) * torch.log(1.0 - q))
        p_t = y * prob + (1.0 - y) * (1.0 - prob)
        loss = (1.0 - p_t) ** gamma * bce
        if balance:
            loss = (y * alpha + (1.0 - y) * (1.0 - alpha)) * loss
        return loss.mean(dim=1)
    return f


def categorical_focal(gamma=2.0, alpha=0.25, logits=False, ls=0.0):
    def f(p, y):
        q = torch.softmax(p, dim=1) if logits else p
        q = (q / q.sum(dim=1, keepdim=True)).clamp(EPS, 1.0 - EPS)
        y = smooth(y, ls, y.shape[1])
        return (alpha * (1.0 - q) ** gamma * -y * torch.log(q)).sum(dim=1)
    return f


def cosine_similarity(p, y):
    def l2n(x):
        return x / torch.sqrt(torch.clamp((x * x).sum(dim=1, keepdim=True), min=1e-12))
    return -(l2n(y) * l2n(p)).sum(dim=1)


def categorical_hinge(p, y):
    pos = (y * p).sum(dim=1)
    neg = ((1.0 - y) * p).max(dim=1).values
    return torch.clamp(neg - pos + 1.0, min=0.0)


def close(got, want, tol):
    return all(abs(a - b) <= tol for a, b in zip(got.tolist(), want))


assert close(binary_focal()(rows([[0.6, 0.4], [0.4, 0.6]]), rows([[0, 1], [0, 0]])), [0.330, 0.206], 5e-4)
assert close(categorical_focal()(rows([[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]), rows([[0, 1, 0], [0, 0, 1]])),
             [2.63401289e-04, 6.75912094e-01], 1e-7)
assert close(cosine_similarity(rows([[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]), rows([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]])),
             [0.0, -0.99999994, 0.99999994], 1e-6)

onehot = rows([[1.0 if j == (i * 2 + 1) % C else 0.0 for j in range(C)] for i in range(N)])
probs01 = torch.sigmoid(rows(base))
row_cases = {
    # name: (predictions, targets, per-row loss); test_losses.c sets the same options
    "binary_focal": (probs01, labels01, binary_focal()),
    "binary_focal_logits": (rows(base), labels01, binary_focal(logits=True)),
    "binary_focal_balanced": (probs01, labels01, binary_focal(gamma=1.5, alpha=0.4, balance=True, ls=0.1)),
    "binary_focal_logits_balanced": (rows(base), labels01, binary_focal(gamma=3.0, alpha=0.7, balance=True,
                                                                         logits=True, ls=0.2)),
    "binary_focal_gamma0": (probs01, labels01, binary_focal(gamma=0.0)),
    "categorical_focal": (probs_p, onehot, categorical_focal()),
    "categorical_focal_logits": (rows(base), onehot, categorical_focal(logits=True)),
    "categorical_focal_smoothed": (probs_p, onehot, categorical_focal(gamma=0.5, alpha=0.6, ls=0.1)),
    "categorical_focal_logits_smoothed": (rows(base), onehot, categorical_focal(gamma=1.0, alpha=1.0, logits=True, ls=0.3)),
    "cosine_similarity": (rows(base), regression_y, cosine_similarity),
    "categorical_hinge": (hinge_p, onehot, categorical_hinge),
}
for name, (p, y, f) in row_cases.items():
    cases[name] = (p, y, lambda p, y, f=f: f(p, y).mean())
# huber with other deltas (Keras's Huber(delta), PyTorch's HuberLoss(delta))
cases["huber_delta"] = (rows(base), regression_y, lambda p, y: F.huber_loss(p, y, delta=0.5))
cases["huber_delta_wide"] = (rows(base), regression_y, lambda p, y: F.huber_loss(p, y, delta=2.5))

print("N %d C %d" % (N, C))
for name, (p, y, f) in cases.items():
    p = p.clone().requires_grad_(True)
    loss = f(p, y)
    loss.backward()
    print(name + "_pred " + " ".join("%.17g" % v for v in p.detach().flatten().tolist()))
    print(name + "_target " + " ".join("%.17g" % v for v in y.flatten().tolist()))
    print(name + "_loss %.17g" % loss.item())
    print(name + "_grad " + " ".join("%.17g" % v for v in p.grad.flatten().tolist()))
