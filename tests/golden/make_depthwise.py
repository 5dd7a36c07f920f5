"""Golden values for tests/test_depthwise.c: the depthwise 2-D convolution (Keras's
DepthwiseConv2D without its bias, kn_depthwise_conv2d), forward and backward, computed by
PyTorch's F.conv2d with groups = C on NCHW-permuted data. Keras's depthwise kernel
(KH, KW, C, M) maps to PyTorch's weight (C*M, 1, KH, KW) with output channel c*M + m
taking input channel c (the order groups = C gives: group c's M filters are channels
c*M .. c*M + M - 1), which is also kiln's output order. 'same' padding is TensorFlow's
(out = ceil(in / stride), the smaller half of the padding first), applied with F.pad since
torch's padding='same' allows stride 1 only.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_depthwise.py > tests/golden/depthwise.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>': first '<case>.dims'
(N H W C KH KW M SH SW DH DW SAME), then x (N, H, W, C), kernel (KH, KW, C, M) flattened
(kiln's (KH*KW, C*M) row-major), dy and y (N, OH, OW, C*M), dx, dkernel. float32 inputs,
computed in float64, values printed to 9 digits."""
import math
import torch
import torch.nn.functional as F

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)


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
    print(name, " ".join("%.9g" % x for x in v))


def case(name, n, h, w, c, kh, kw, m, sh, sw, dh, dw, same):
    x = rand(n, h, w, c)
    k = rand(kh, kw, c, m, scale=1.0 / math.sqrt(kh * kw))
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)  # (N, C, H, W)
    kt = k.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw).clone().requires_grad_(True)  # (C*M, 1, KH, KW)
    t, b, oh = pads(h, kh, sh, dh, same)
    l, r, ow = pads(w, kw, sw, dw, same)
    y = F.conv2d(F.pad(xt, (l, r, t, b)), kt, stride=(sh, sw), dilation=(dh, dw), groups=c)
    assert y.shape == (n, c * m, oh, ow)
    dy = rand(n, oh, ow, c * m)
    y.backward(dy.permute(0, 3, 1, 2))
    print(name + ".dims", n, h, w, c, kh, kw, m, sh, sw, dh, dw, int(same))
    emit(name + ".x", x)
    emit(name + ".kernel", k)
    emit(name + ".dy", dy)
    emit(name + ".y", y.permute(0, 2, 3, 1))
    emit(name + ".dx", xt.grad.permute(0, 2, 3, 1))
    emit(name + ".dkernel", kt.grad.reshape(c, m, kh, kw).permute(2, 3, 0, 1))


case("valid3x3", 2, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, False)          # M 1, C 5
case("same4x3_m2_s2x1", 2, 7, 6, 3, 4, 3, 2, 2, 1, 1, 1, True)    # even kernel height under 'same'
case("same3x3_m3_d2", 1, 8, 9, 4, 3, 3, 3, 1, 1, 2, 2, True)      # dilation 2, M 3
case("valid2x2_s2_d1x2", 2, 9, 10, 10, 2, 2, 1, 2, 2, 1, 2, False)  # C 10, strides and dilation
case("same2x2_m2_s2", 3, 5, 5, 1, 2, 2, 2, 2, 2, 1, 1, True)     # one channel, odd image, even kernel
case("same3x3_c20", 2, 5, 6, 20, 3, 3, 1, 1, 1, 1, 1, True)     # C 20, M 1: a block of 16 channels and a tail
