"""Golden values for tests/test_layernorm.c: layer normalization as Keras's
LayerNormalization (epsilon 1e-3, center and scale) over the last axis, which is
PyTorch's F.layer_norm over the last dimension with eps passed as 1e-3 (PyTorch's own
default is 1e-5). Cases: a dense batch (5, 8); an NHWC image batch (2, 3, 4, 6), each
position's 6 channels normalized; the same dense batch without gamma and beta (Keras's
center=False, scale=False); and rows of 1100 values far from zero (mean about 40), longer
than the CPU kernel's blocks of 1024, whose variance a one-pass E[x^2] - mean^2 would lose.
The forward output and the gradients of sum(y * dy) with respect to x, gamma and beta.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_layernorm.py > tests/golden/layernorm.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>' with what x, dy,
gamma, beta (when the case has them), y, dx, dgamma, dbeta. float32 inputs, computed in
float64, values printed to 9 digits."""
import torch
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)
EPS = 1e-3


def rand(*shape, scale=1.0, shift=0.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale + shift).float().double()


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, " ".join("%.9g" % x for x in v))


def case(name, shape, affine=True, scale=2.0, shift=0.5):
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
    y = F.layer_norm(x, (c,), g, b, eps=EPS)
    y.backward(dy)
    emit(name + ".y", y)
    emit(name + ".dx", x.grad)
    if affine:
        emit(name + ".dgamma", g.grad)
        emit(name + ".dbeta", b.grad)


case("dense", (5, 8))
case("img", (2, 3, 4, 6))
case("plain", (5, 8), affine=False)
case("wide", (2, 1100), scale=3.0, shift=40.0)
