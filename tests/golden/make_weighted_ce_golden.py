"""Class-weighted cross-entropy and its gradient from PyTorch, for tests/test_control.c.

Keras's class_weight scales each row's loss by its class's weight and divides the sum by the
batch size (sum_over_batch_size); PyTorch's CrossEntropyLoss(weight=w) divides by the sum of
the weights instead, so the loss here is reduction='none' times the weights, summed, over N.
Run with Debian's torch: /usr/bin/python3 tests/golden/make_weighted_ce_golden.py
"""
import torch

torch.manual_seed(0)
N, C = 6, 4
logits = torch.tensor([[0.3 * ((i * 7 + j * 3) % 11) - 1.2 for j in range(C)] for i in range(N)],
                      dtype=torch.float64, requires_grad=True)
labels = torch.tensor([i % C for i in range(N)])
class_weight = torch.tensor([1.0, 3.0, 0.5, 2.0], dtype=torch.float64)
per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
loss = (per_row * class_weight[labels]).sum() / N
loss.backward()
print("N %d C %d" % (N, C))
print("logits " + " ".join("%.17g" % v for v in logits.detach().flatten().tolist()))
print("labels " + " ".join(str(v) for v in labels.tolist()))
print("class_weight " + " ".join("%.17g" % v for v in class_weight.tolist()))
print("loss %.17g" % loss.item())
print("grad " + " ".join("%.17g" % v for v in logits.grad.flatten().tolist()))
