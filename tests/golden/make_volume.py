"""Golden values for tests/test_volume.c: small networks of kiln's volume layers (conv3d,
conv3d_transpose, max_pool3d, average_pool3d, global pooling, zero_padding3d, cropping3d,
up_sampling3d) over
(depth, height, width, channels) volumes, computed by PyTorch: each model's softmax
predictions and the gradient of its mean sparse cross-entropy for every parameter.

Layouts: kiln's (and Keras's) volumes are (N, D, H, W, C), PyTorch's (N, C, D, H, W); kiln's
conv3d kernel is (KH, KW, KD, C, F) (Keras's (KD, KH, KW, C, F) with the depth axis moved
after the width), PyTorch's Conv3d weight (F, C, KD, KH, KW). 'same' padding is TensorFlow's
(out = ceil(in / stride), the smaller half of the padding first) applied with F.pad; 'same'
pooling takes only the cells inside the volume (the maximum pads with -inf, the average
divides by the count of real cells), as Keras. conv3d_transpose: F.conv_transpose3d's full
output (weight (C, F, KD, KH, KW) from kiln's (KH, KW, KD, F, C)) cropped per axis as Keras 3
sizes a transposed convolution (transpose_axis, as kiln's kn__conv_transpose_axis), zeros
past the full output where output_padding asks for them.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_volume.py > tests/golden/volume.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<model>.<what>', what x (N, D, H, W, C),
labels, each parameter by its kiln name (conv3d_0/kernel, ...), y (the predictions), and
'grad:' before a parameter's name for its gradient. float32 inputs, computed in float64,
printed to 9 digits. The models' descriptions are in the C test."""
import math
import torch
import torch.nn.functional as F

torch.manual_seed(5)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).float().double()


def emit(name, t):
    print(name, " ".join("%.9g" % x for x in t.detach().reshape(-1).tolist()))


def same_pads(n, k, s, d=1):
    span = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + span - n, 0)
    return total // 2, total - total // 2


def pad3(x, k, s, d, same, value=0.0):  # x (N, C, D, H, W)
    if not same:
        return x
    pd = same_pads(x.shape[2], k[0], s[0], d[0])
    ph = same_pads(x.shape[3], k[1], s[1], d[1])
    pw = same_pads(x.shape[4], k[2], s[2], d[2])
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1], pd[0], pd[1]), value=value)


class Model:
    def __init__(self, name):
        self.name, self.params, self.layers = name, [], []

    def param(self, pname, t):
        t = t.clone().requires_grad_(True)
        self.params.append((pname, t))
        return t


def conv3d(m, idx, c, f, k, s, d, same, act):
    kiln = rand(k[1], k[2], k[0], c, f, scale=1.0 / math.sqrt(k[0] * k[1] * k[2] * c))
    w = m.param("conv3d_%d/kernel" % idx, kiln)
    b = m.param("conv3d_%d/bias" % idx, rand(f, scale=0.1))

    def run(x):
        wt = w.permute(4, 3, 2, 0, 1)  # (F, C, KD, KH, KW)
        y = F.conv3d(pad3(x, k, s, d, same), wt, b, stride=s, dilation=d)
        return act(y)
    return run


def pool3d(k, s, same, kind):
    def run(x):
        if kind == "max":
            return F.max_pool3d(pad3(x, k, s, (1, 1, 1), same, -math.inf), k, s)
        total = F.avg_pool3d(pad3(x, k, s, (1, 1, 1), same), k, s, divisor_override=1)
        count = F.avg_pool3d(pad3(torch.ones_like(x), k, s, (1, 1, 1), same), k, s, divisor_override=1)
        return total / count
    return run


def pad_crop(a, crop):  # a: (front, back, top, bottom, left, right)
    sign = -1 if crop else 1
    return lambda x: F.pad(x, tuple(sign * v for v in (a[4], a[5], a[2], a[3], a[0], a[1])))


def upsample(f):
    return lambda x: x.repeat_interleave(f[0], 2).repeat_interleave(f[1], 3).repeat_interleave(f[2], 4)


def run_model(m, x, labels, layers, dense_in, classes):
    wd = m.param("dense_0/kernel", rand(dense_in, classes, scale=1.0 / math.sqrt(dense_in)))
    bd = m.param("dense_0/bias", rand(classes, scale=0.1))
    h = x.permute(0, 4, 1, 2, 3)
    for layer in layers:
        h = layer(h)
    h = h.reshape(h.shape[0], h.shape[1], -1)
    h = h.max(2).values if m.global_max else h.mean(2)
    p = torch.softmax(h @ wd + bd, 1)
    loss = -torch.log(p[torch.arange(len(labels)), labels]).mean()
    loss.backward()
    emit(m.name + ".x", x)
    emit(m.name + ".labels", labels.double())
    for pname, t in m.params:
        emit(m.name + "." + pname, t)
        emit(m.name + ".grad:" + pname, t.grad)
    emit(m.name + ".y", p)


# a: conv3d 'same' relu -> max_pool3d -> conv3d 'valid' (strides, dilation) tanh -> global average
m = Model("a")
m.global_max = False
x = rand(3, 5, 6, 7, 2)
layers = [conv3d(m, 0, 2, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), True, torch.relu),
          pool3d((2, 2, 2), (2, 2, 2), False, "max"),
          conv3d(m, 1, 4, 3, (1, 2, 2), (1, 1, 2), (1, 2, 1), False, torch.tanh)]
run_model(m, x, torch.tensor([0, 2, 1]), layers, 3, 3)

# b: conv3d 'same' strided -> average_pool3d 'same' stride 1 -> zero_padding3d -> cropping3d
# -> up_sampling3d -> conv3d 1x1x1 -> max_pool3d 'same' -> global maximum
m = Model("b")
m.global_max = True
x = rand(3, 5, 6, 7, 2)
layers = [conv3d(m, 0, 2, 3, (3, 2, 2), (2, 2, 1), (1, 1, 1), True, torch.tanh),
          pool3d((2, 2, 2), (1, 1, 1), True, "avg"),
          pad_crop((1, 0, 0, 2, 1, 1), False),
          pad_crop((0, 1, 1, 0, 0, 0), True),
          upsample((2, 1, 2)),
          conv3d(m, 1, 3, 3, (1, 1, 1), (1, 1, 1), (1, 1, 1), False, lambda t: t),
          pool3d((2, 3, 2), (2, 2, 3), True, "max")]
run_model(m, x, torch.tensor([1, 0, 2]), layers, 3, 3)


def transpose_axis(n, k, s, d, same, op):  # Keras 3's output size and front crop (op -1: None)
    span = (k - 1) * d + 1
    if not same:
        return (n - 1) * s + span + (op if op >= 0 else max(s - span, 0)), 0
    out = (n - 1) * s + span % 2 + op if op >= 0 else n * s
    pad_len = span + span % 2 - 2 + op if op >= 0 else s + span - 2
    left = min(pad_len // 2 + pad_len % 2, span - 1)
    return out, span - 1 - left


def conv3d_transpose(m, idx, c, f, k, s, d, same, op, act):
    kiln = rand(k[1], k[2], k[0], f, c, scale=1.0 / math.sqrt(k[0] * k[1] * k[2] * f))
    w = m.param("conv3d_transpose_%d/kernel" % idx, kiln)
    b = m.param("conv3d_transpose_%d/bias" % idx, rand(f, scale=0.1))

    def run(x):
        y = F.conv_transpose3d(x, w.permute(4, 3, 2, 0, 1), stride=s, dilation=d)
        for a in range(3):
            out, crop = transpose_axis(x.shape[2 + a], k[a], s[a], d[a], same, op[a])
            full = y.shape[2 + a]
            if crop + out > full:  # zeros past the full output
                pad = [0, 0] * 3
                pad[2 * (2 - a) + 1] = crop + out - full
                y = F.pad(y, tuple(pad))
            y = y.narrow(2 + a, crop, out)
        return act(y + b.reshape(1, -1, 1, 1, 1))
    return run


# c: conv3d_transpose 'same' strided relu -> conv3d_transpose 'valid' with output padding and
# a dilation -> conv3d_transpose 'same' with output padding -> global average
m = Model("c")
m.global_max = False
x = rand(3, 3, 4, 5, 2)
layers = [conv3d_transpose(m, 0, 2, 3, (3, 3, 3), (2, 2, 2), (1, 1, 1), True, (-1, -1, -1), torch.relu),
          conv3d_transpose(m, 1, 3, 2, (2, 3, 2), (1, 2, 3), (2, 1, 1), False, (0, 1, 2), torch.tanh),
          conv3d_transpose(m, 2, 2, 3, (3, 2, 3), (2, 1, 2), (1, 1, 1), True, (1, 0, 1), lambda t: t)]
run_model(m, x, torch.tensor([2, 1, 0]), layers, 3, 3)
