"""Golden values for tests/test_functional.c: a small non-sequential model (two branches
off the input, a residual add, and every merge layer: add, subtract, multiply, average,
maximum, concatenate) computed by PyTorch: its softmax output, its mean sparse categorical
cross-entropy and the gradient of that loss for every parameter. The model, as the C test's
description builds it (kiln's dense kernel is (in, out): y = x W + b):

    d0 = tanh(dense_0(input))          (5)
    d1 = dense_1(d0)                   (5)
    a  = add(d1, d0)
    d2 = sigmoid(dense_2(input))       (5)
    s  = subtract(a, d2)
    mu = multiply(s, d2)
    av = average(mu, a, d1)
    mx = maximum(av, d0)
    c  = concatenate(mx, d2)           (10)
    y  = softmax(dense_3(c))           (3)

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_functional.py > tests/golden/functional.txt

Format (tests/golden.h): lines 'name v1 v2 ...': x (4, 6), labels, each parameter by its
kiln name (dense_0/kernel, ...), then y (4, 3), loss, and grad:<parameter> for each.
float32 inputs, computed in float64, printed to 9 digits."""
import torch

torch.manual_seed(5)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double()


def emit(name, t):
    print(name, " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist()))


x = rand(4, 6)
labels = torch.tensor([0, 2, 1, 2])
shapes = [("dense_0", 6, 5), ("dense_1", 5, 5), ("dense_2", 6, 5), ("dense_3", 10, 3)]
params = {}
for name, i, o in shapes:
    params[name + "/kernel"] = rand(i, o, scale=0.6).requires_grad_()
    params[name + "/bias"] = rand(o, scale=0.3).requires_grad_()


def dense(name, h):
    return h @ params[name + "/kernel"] + params[name + "/bias"]


d0 = torch.tanh(dense("dense_0", x))
d1 = dense("dense_1", d0)
a = d1 + d0
d2 = torch.sigmoid(dense("dense_2", x))
s = a - d2
mu = s * d2
av = (mu + a + d1) / 3
mx = torch.maximum(av, d0)
assert (av - d0).abs().min() > 1e-3  # no tie: the gradient's side is unambiguous
c = torch.cat([mx, d2], dim=1)
logits = dense("dense_3", c)
y = torch.softmax(logits, dim=1)
loss = torch.nn.functional.cross_entropy(logits, labels)
loss.backward()

emit("x", x)
emit("labels", labels.double())
for name in params:
    emit(name, params[name])
emit("y", y)
emit("loss", loss.reshape(1))
for name in params:
    emit("grad:" + name, params[name].grad)
