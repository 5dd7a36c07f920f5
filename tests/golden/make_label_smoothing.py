"""The cross-entropy losses under label smoothing, and their gradients, from PyTorch, for
tests/test_label_smoothing.c.

A batch of 4 rows of 5 classes, in double precision: the batch's loss (the mean over the
rows of each row's loss, or with sample weights the sum of weight x row loss over the rows
divided by the batch, as Keras's sample_weight) and its gradient with respect to the
predictions. PyTorch's own label smoothing where it has one:
  sparse_logits   F.cross_entropy(z, labels, label_smoothing=ls) (targets (1 - ls) onehot + ls / C)
  sparse_probs    the same of log(p) (log_softmax of log p is log p for rows summing to 1)
  cce_logits      F.cross_entropy(z, y, label_smoothing=ls) with probability targets y, whose
                  rows sum to 0.8 (smoothing is y (1 - ls) + ls / C, Keras's rule, whatever the sum)
  cce_probs       the same of log(p)
Binary cross-entropy has no label_smoothing in PyTorch; Keras's rule, y (1 - ls) + ls / 2,
is applied to the targets before F.binary_cross_entropy_with_logits and F.binary_cross_entropy
(bce_logits, bce_probs). Each record also at ls = 1 (uniform targets) for the sparse logits.
Run with Debian's torch:
  /usr/bin/python3 tests/golden/make_label_smoothing.py > tests/golden/label_smoothing.txt
"""
import torch
import torch.nn.functional as F

N, C = 4, 5
LS = 0.1
z = torch.tensor([[0.3 * ((i * 5 + j * 7) % 11) - 1.4 for j in range(C)] for i in range(N)], dtype=torch.float64)
labels = torch.tensor([2, 0, 4, 1])
weights = torch.tensor([0.5, 1.0, 2.0, 1.5], dtype=torch.float64)
soft = 0.8 * torch.softmax(torch.tensor([[0.5 * ((i * 2 + j * 5) % 7) for j in range(C)] for i in range(N)],
                                        dtype=torch.float64), dim=1)
binary = torch.tensor([[float((i + j) % 2) for j in range(C)] for i in range(N)], dtype=torch.float64)


def rows_sparse(inp, ls, log=False):
    return F.cross_entropy(torch.log(inp) if log else inp, labels, label_smoothing=ls, reduction="none")


def rows_cce(inp, ls, log=False):
    return F.cross_entropy(torch.log(inp) if log else inp, soft, label_smoothing=ls, reduction="none")


def rows_bce(inp, ls, probs=False):
    y = binary * (1 - ls) + ls / 2
    f = F.binary_cross_entropy if probs else F.binary_cross_entropy_with_logits
    return f(inp, y, reduction="none").mean(dim=1)


cases = {
    # name: (predictions, targets printed, row losses of the predictions, label smoothing)
    "sparse_logits": (z, labels, lambda p: rows_sparse(p, LS), LS),
    "sparse_logits_ls1": (z, labels, lambda p: rows_sparse(p, 1.0), 1.0),
    "sparse_probs": (torch.softmax(z, dim=1), labels, lambda p: rows_sparse(p, LS, log=True), LS),
    "cce_logits": (z, soft, lambda p: rows_cce(p, LS), LS),
    "cce_probs": (torch.softmax(z, dim=1), soft, lambda p: rows_cce(p, LS, log=True), LS),
    "bce_logits": (z, binary, lambda p: rows_bce(p, LS), LS),
    "bce_probs": (torch.sigmoid(z), binary, lambda p: rows_bce(p, LS, probs=True), LS),
}


def emit(name, values):
    print(name + " " + " ".join("%.17g" % float(v) for v in values))


print("N %d C %d" % (N, C))
emit("weights", weights.tolist())
for name, (p0, y, f, ls) in cases.items():
    emit(name + "_pred", p0.flatten().tolist())
    emit(name + "_target", y.flatten().tolist())
    emit(name + "_ls", [ls])
    for weighted in (False, True):
        p = p0.clone().requires_grad_(True)
        r = f(p)
        loss = (r * weights).sum() / N if weighted else r.mean()
        loss.backward()
        tag = name + ("_weighted" if weighted else "")
        emit(tag + "_loss", [loss.item()])
        emit(tag + "_grad", p.grad.flatten().tolist())
