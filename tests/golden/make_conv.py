"""Golden values for tests/test_conv.c: 2-D convolution and max / average pooling, forward
and backward, computed by PyTorch (NCHW, so tensors are permuted to and from kiln's NHWC).
'same' padding is TensorFlow's (out = ceil(in / stride), the smaller half of the padding
first), applied with F.pad since torch's padding='same' allows stride 1 only; average
pooling counts only the cells inside the image, as Keras.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_conv.py > tests/golden/conv.txt

Format: one case per block: a header line
    conv N H W C KH KW F SH SW DH DW SAME     or     maxpool|avgpool N H W C PH PW SH SW SAME
then lines 'name count v1 v2 ...': x, kernel (KH, KW, C, F) flattened, dy, y, dx, dkernel
(conv) or x, dy, y, dx (pooling), all NHWC, in float32 printed to 9 digits."""
import math
import torch
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_default_dtype(torch.float64)  # goldens in double, compared to float32 at 1e-5


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double()


def pads(n, k, s, d, same):
    if not same:
        return 0, 0, (n - ((k - 1) * d + 1)) // s + 1
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2, out


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, len(v), " ".join("%.9g" % x for x in v))


def nhwc(t):  # NCHW -> NHWC
    return t.permute(0, 2, 3, 1)


def conv_case(n, h, w, c, kh, kw, f, sh, sw, dh, dw, same):
    x = rand(n, h, w, c)
    k = rand(kh, kw, c, f, scale=1.0 / math.sqrt(kh * kw * c))
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)
    kt = k.permute(3, 2, 0, 1).clone().requires_grad_(True)  # (F, C, KH, KW)
    t, b, oh = pads(h, kh, sh, dh, same)
    l, r, ow = pads(w, kw, sw, dw, same)
    y = F.conv2d(F.pad(xt, (l, r, t, b)), kt, stride=(sh, sw), dilation=(dh, dw))
    assert y.shape[2:] == (oh, ow)
    dy = rand(n, oh, ow, f)
    y.backward(dy.permute(0, 3, 1, 2))
    print("conv", n, h, w, c, kh, kw, f, sh, sw, dh, dw, int(same))
    emit("x", x)
    emit("kernel", k)
    emit("dy", dy)
    emit("y", nhwc(y))
    emit("dx", nhwc(xt.grad))
    emit("dkernel", kt.grad.permute(2, 3, 1, 0))


def pool_case(kind, n, h, w, c, ph, pw, sh, sw, same):
    x = rand(n, h, w, c)
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)
    t, b, oh = pads(h, ph, sh, 1, same)
    l, r, ow = pads(w, pw, sw, 1, same)
    if kind == "maxpool":
        y = F.max_pool2d(F.pad(xt, (l, r, t, b), value=-math.inf), (ph, pw), (sh, sw))
    else:
        s = F.avg_pool2d(F.pad(xt, (l, r, t, b)), (ph, pw), (sh, sw))
        cnt = F.avg_pool2d(F.pad(torch.ones_like(xt), (l, r, t, b)), (ph, pw), (sh, sw))
        y = s / cnt
    assert y.shape[2:] == (oh, ow)
    dy = rand(n, oh, ow, c)
    y.backward(dy.permute(0, 3, 1, 2))
    print(kind, n, h, w, c, ph, pw, sh, sw, int(same))
    emit("x", x)
    emit("dy", dy)
    emit("y", nhwc(y))
    emit("dx", nhwc(xt.grad))


conv_case(2, 7, 6, 3, 3, 3, 4, 1, 1, 1, 1, False)
conv_case(2, 7, 6, 3, 3, 3, 4, 2, 2, 1, 1, True)
conv_case(2, 8, 9, 3, 3, 3, 4, 1, 1, 2, 2, False)
conv_case(2, 8, 9, 3, 3, 2, 4, 2, 1, 2, 1, True)
conv_case(3, 5, 5, 1, 5, 5, 2, 1, 1, 1, 1, True)
pool_case("maxpool", 2, 6, 7, 3, 2, 2, 2, 2, False)
pool_case("maxpool", 2, 7, 7, 3, 3, 3, 2, 2, True)
pool_case("maxpool", 2, 5, 6, 2, 3, 2, 1, 1, True)
pool_case("avgpool", 2, 6, 7, 3, 2, 2, 2, 2, False)
pool_case("avgpool", 2, 7, 7, 3, 3, 3, 2, 2, True)
pool_case("avgpool", 2, 5, 6, 2, 3, 2, 1, 1, True)
