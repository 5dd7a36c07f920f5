"""Golden values for tests/test_conv1d.c: 1-D convolution (valid, same, causal; strides,
dilation), max / average pooling and global pooling over sequences, forward and backward,
and a small 1-D CNN's predictions, computed by PyTorch. PyTorch's sequences are (N, C, L)
and its Conv1d weight (F, C, K); kiln's (and Keras's) are (N, L, C) and (K, C, F), so
tensors are permuted to and from kiln's layout. 'same' padding is TensorFlow's (out =
ceil(L / stride), the smaller half of the padding first) and 'causal' Keras's
(dilation * (K - 1) zeros before the first step), both applied with F.pad; average pooling
counts only the steps inside the sequence, as Keras.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_conv1d.py > tests/golden/conv1d.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>', what x, kernel
(K, C, F) flattened, dy, y, dx, dkernel for a convolution; x, dy, y, dx for a pooling; for
the model x, each parameter by its kiln name (conv1d_0/kernel, ...) and y (its softmax
output). Everything (N, L, C); the geometry of each case is in the C test's table. float32
inputs, computed in float64, values printed to 9 digits."""
import math
import torch
import torch.nn.functional as F

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)  # goldens in double, compared to float32 at 1e-5


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double()


def pads(n, k, s, d, padding):
    span = (k - 1) * d + 1
    if padding == 0:
        return 0, 0, (n - span) // s + 1
    out = -(-n // s)
    if padding == 2:
        return span - 1, 0, out
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2, out


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, " ".join("%.9g" % x for x in v))


def nlc(t):  # (N, C, L) -> (N, L, C)
    return t.permute(0, 2, 1)


def ncl(t):  # (N, L, C) -> (N, C, L)
    return t.permute(0, 2, 1)


def conv_case(name, n, length, c, k, f, s, d, padding):
    x = rand(n, length, c)
    w = rand(k, c, f, scale=1.0 / math.sqrt(k * c))
    xt = ncl(x).clone().requires_grad_(True)
    wt = w.permute(2, 1, 0).clone().requires_grad_(True)  # (F, C, K)
    left, right, out = pads(length, k, s, d, padding)
    y = F.conv1d(F.pad(xt, (left, right)), wt, stride=s, dilation=d)
    assert y.shape[2] == out
    dy = rand(n, out, f)
    y.backward(ncl(dy))
    emit(name + ".x", x)
    emit(name + ".kernel", w)
    emit(name + ".dy", dy)
    emit(name + ".y", nlc(y))
    emit(name + ".dx", nlc(xt.grad))
    emit(name + ".dkernel", wt.grad.permute(2, 1, 0))


def pool(kind, xt, p, s, same):
    left, right, _ = pads(xt.shape[2], p, s, 1, 1 if same else 0)
    if kind == "maxpool1d":
        return F.max_pool1d(F.pad(xt, (left, right), value=-math.inf), p, s)
    total = F.avg_pool1d(F.pad(xt, (left, right)), p, s)
    count = F.avg_pool1d(F.pad(torch.ones_like(xt), (left, right)), p, s)
    return total / count


def pool_case(name, kind, n, length, c, p, s, same):
    x = rand(n, length, c)
    xt = ncl(x).clone().requires_grad_(True)
    y = pool(kind, xt, p, s, same)
    assert y.shape[2] == pads(length, p, s, 1, 1 if same else 0)[2]
    dy = rand(n, y.shape[2], c)
    y.backward(ncl(dy))
    emit(name + ".x", x)
    emit(name + ".dy", dy)
    emit(name + ".y", nlc(y))
    emit(name + ".dx", nlc(xt.grad))


def global_case(name, kind, n, length, c, distinct=False):
    if distinct:  # a permutation: one maximum per channel, so its gradient is unambiguous
        x = (torch.randperm(n * length * c).double() / (n * length * c)).reshape(n, length, c)
    else:
        x = rand(n, length, c)
    xt = ncl(x).clone().requires_grad_(True)
    y = xt.amax(dim=2) if kind == "gmaxpool1d" else xt.mean(dim=2)
    dy = rand(n, c)
    y.backward(dy)
    emit(name + ".x", x)
    emit(name + ".dy", dy)
    emit(name + ".y", y)
    emit(name + ".dx", nlc(xt.grad))


def model_case(n, length, c):
    """input (L, C) -> conv1d 6, kernel 3, causal, relu -> max_pool1d 2 -> conv1d 5, kernel
    2, dilation 2, same, tanh -> average_pool1d 2 stride 1 same -> global_average_pool1d ->
    dense 3 softmax. Parameters named as kiln names them, kernels (K, C, F) and (in, out)."""
    x = rand(n, length, c)
    p = {"conv1d_0/kernel": rand(3, c, 6, scale=0.5), "conv1d_0/bias": rand(6, scale=0.1),
         "conv1d_1/kernel": rand(2, 6, 5, scale=0.4), "conv1d_1/bias": rand(5, scale=0.1),
         "dense_0/kernel": rand(5, 3), "dense_0/bias": rand(3, scale=0.1)}
    h = ncl(x)
    h = F.conv1d(F.pad(h, (2, 0)), p["conv1d_0/kernel"].permute(2, 1, 0), p["conv1d_0/bias"])
    h = F.max_pool1d(torch.relu(h), 2, 2)
    left, right, _ = pads(h.shape[2], 2, 1, 2, 1)
    h = F.conv1d(F.pad(h, (left, right)), p["conv1d_1/kernel"].permute(2, 1, 0), p["conv1d_1/bias"], dilation=2)
    h = pool("avgpool1d", torch.tanh(h), 2, 1, True)
    h = h.mean(dim=2)
    y = torch.softmax(h @ p["dense_0/kernel"] + p["dense_0/bias"], dim=1)
    emit("model.x", x)
    for name, v in p.items():
        emit("model." + name, v)
    emit("model.y", y)


# (names and geometries: the C test's table, tests/test_conv1d.c)
conv_case("valid", 2, 11, 3, 3, 4, 1, 1, 0)
conv_case("same_k4", 2, 10, 3, 4, 4, 1, 1, 1)       # an even kernel: padding 1 before, 2 after
conv_case("same_s2", 2, 11, 3, 3, 4, 2, 1, 1)
conv_case("valid_s2", 2, 11, 3, 3, 4, 2, 1, 0)
conv_case("valid_d2", 2, 12, 2, 3, 3, 1, 2, 0)
conv_case("same_d2", 2, 9, 2, 3, 3, 1, 2, 1)
conv_case("causal", 2, 9, 3, 3, 4, 1, 1, 2)
conv_case("causal_d2", 2, 9, 2, 3, 3, 1, 2, 2)      # 4 zeros before
conv_case("causal_s3", 2, 10, 2, 4, 3, 3, 1, 2)
conv_case("causal_k5", 3, 3, 1, 5, 2, 1, 1, 2)      # a kernel longer than the sequence
pool_case("max_valid", "maxpool1d", 2, 9, 3, 2, 2, False)
pool_case("max_same", "maxpool1d", 2, 9, 3, 3, 2, True)
pool_case("avg_valid", "avgpool1d", 2, 9, 3, 2, 2, False)
pool_case("avg_same", "avgpool1d", 2, 9, 3, 3, 2, True)
pool_case("avg_same_s1", "avgpool1d", 2, 8, 2, 3, 1, True)
global_case("gavg", "gavgpool1d", 2, 7, 3)
global_case("gmax", "gmaxpool1d", 2, 7, 3, distinct=True)
global_case("gavg_long", "gavgpool1d", 2, 510, 2)   # past 255 steps: windows of 255, then 2
global_case("gmax_long", "gmaxpool1d", 2, 300, 2, distinct=True)  # windows of 255 ('same'), then 2
model_case(4, 12, 2)
