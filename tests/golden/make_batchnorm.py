"""Golden values for tests/test_batchnorm.c: batch normalization as Keras's
BatchNormalization (momentum 0.99, epsilon 1e-3) over the last axis, for an NHWC image
batch (2, 3, 4, 3) and a dense batch (5, 4). The forward output and the gradients of
sum(y * dy) with respect to x, gamma and beta in training mode come from PyTorch
(F.batch_norm on the NCHW permutation, training=True); the moving statistics after two
training steps are Keras's: moving = moving * 0.99 + batch * 0.01 with the batch's biased
variance (PyTorch's running_var uses the unbiased one, so it is not used here); then the
inference output on a third batch, (x - moving_mean) / sqrt(moving_variance + eps) * gamma + beta.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_batchnorm.py > tests/golden/batchnorm.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>' with case img or dense;
for steps 1 and 2: x1, dy1, y1, dx1, dgamma1, dbeta1 (and ...2); gamma, beta; moving_mean,
moving_variance after step 2; x3, y3 (inference). float32 inputs, values printed to 9 digits."""
import torch
import torch.nn.functional as F

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)
MOM, EPS = 0.99, 1e-3


def rand(*shape, scale=1.0, shift=0.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale + shift).float().double()


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, " ".join("%.9g" % x for x in v))


def case(name, shape):
    c = shape[-1]
    gamma, beta = rand(c, scale=0.5, shift=1.0), rand(c, scale=0.5)
    emit(name + ".gamma", gamma)
    emit(name + ".beta", beta)
    mm, mv = torch.zeros(c), torch.ones(c)
    for step in (1, 2):
        x = rand(*shape, scale=2.0, shift=0.5)
        dy = rand(*shape)
        xt = x.reshape(-1, c).clone().requires_grad_(True)  # (rows, channels): channels are torch's C
        g = gamma.clone().requires_grad_(True)
        b = beta.clone().requires_grad_(True)
        y = F.batch_norm(xt, None, None, g, b, training=True, eps=EPS)
        y.backward(dy.reshape(-1, c))
        emit("%s.x%d" % (name, step), x)
        emit("%s.dy%d" % (name, step), dy)
        emit("%s.y%d" % (name, step), y)
        emit("%s.dx%d" % (name, step), xt.grad)
        emit("%s.dgamma%d" % (name, step), g.grad)
        emit("%s.dbeta%d" % (name, step), b.grad)
        rows = x.reshape(-1, c)
        mean, var = rows.mean(0), rows.var(0, unbiased=False)  # Keras: the biased variance
        mm, mv = mm * MOM + mean * (1 - MOM), mv * MOM + var * (1 - MOM)
    emit(name + ".moving_mean", mm)
    emit(name + ".moving_variance", mv)
    x = rand(*shape, scale=2.0, shift=0.5)
    emit(name + ".x3", x)
    emit(name + ".y3", (x - mm) / torch.sqrt(mv + EPS) * gamma + beta)


case("img", (2, 3, 4, 3))
case("dense", (5, 4))
