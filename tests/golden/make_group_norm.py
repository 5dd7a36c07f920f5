"""Golden values for tests/test_group_norm.c: group normalization as Keras's
GroupNormalization (epsilon 1e-3) over the last axis (channels-last), which is PyTorch's
F.group_norm on the channels-first view with eps passed as 1e-3 (PyTorch's own default is
1e-5). Cases: an NHWC image batch (2, 3, 4, 6) in 3 groups; a dense batch (5, 8) in 2 groups;
a sequence batch (3, 7, 4) with a group a channel (instance normalization) and no gamma or
beta; a whole sample (1 group) of (2, 2, 3, 6); an image far from zero (mean about 40, spread
0.5) in 2 groups. The forward output and the gradients of sum(y * dy) with respect to x,
gamma and beta.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_group_norm.py > tests/golden/group_norm.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>' with what x, dy,
gamma, beta (when the case has them), y, dx, dgamma, dbeta. float32 inputs, computed in
float64, values printed to 9 digits."""
import torch
import torch.nn.functional as F

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)
EPS = 1e-3


def rand(*shape, scale=1.0, shift=0.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale + shift).float().double()


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, " ".join("%.9g" % x for x in v))


def channels_first(t):  # (N, ..., C) -> (N, C, ...)
    return t.permute(0, t.dim() - 1, *range(1, t.dim() - 1))


def channels_last(t):  # (N, C, ...) -> (N, ..., C)
    return t.permute(0, *range(2, t.dim()), 1)


def case(name, shape, groups, affine=True, scale=2.0, shift=0.5):
    c = shape[-1]
    x = rand(*shape, scale=scale, shift=shift).requires_grad_(True)
    dy = rand(*shape)
    emit(name + ".x", x)
    emit(name + ".dy", dy)
    g = b = None
    if affine:
        g = rand(c, scale=0.5, shift=1.0).requires_grad_(True)
        b = rand(c, scale=0.5).requires_grad_(True)
        emit(name + ".gamma", g)
        emit(name + ".beta", b)
    y = channels_last(F.group_norm(channels_first(x), groups, g, b, eps=EPS))
    y.backward(dy)
    emit(name + ".y", y)
    emit(name + ".dx", x.grad)
    if affine:
        emit(name + ".dgamma", g.grad)
        emit(name + ".dbeta", b.grad)


case("img", (2, 3, 4, 6), 3)
case("dense", (5, 8), 2)
case("inst", (3, 7, 4), 4, affine=False)
case("whole", (2, 2, 3, 6), 1)
case("far", (2, 5, 5, 8), 2, scale=0.5, shift=40.0)
