"""Golden values for tests/test_conv_transpose.c: the transposed 2-D convolution (Keras's
Conv2DTranspose without its bias, kn_conv2d_transpose), forward and backward, from
PyTorch's F.conv_transpose2d on NCHW-permuted data.

Keras's kernel (KH, KW, F, C) is PyTorch's ConvTranspose2d weight (C, F, KH, KW) permuted:
weight = kernel.permute(3, 2, 0, 1). Keras's sizes and crop (keras.src.backend.common.
backend_utils: _get_output_shape_given_tf_padding, and the left pad of the JAX padding) are
computed here from Keras's rules, then applied to PyTorch's full output (padding 0,
(H - 1) s + (K - 1) d + 1 cells an axis): cropped at the top/left, zero-extended at the
bottom/right where Keras's output is longer (output_padding, or strides above the window).
Where one of PyTorch's own (padding, output_padding) pairs gives the same window, the script
also runs nn.ConvTranspose2d with it and checks the outputs agree; the pair is recorded in
'<case>.torch' (-1 -1 -1 -1 where there is none: Keras's crop is uneven, as for a 3x3
kernel with stride 2 under 'same', where the usual padding=1, output_padding=1 is one
cell off Keras). The crop is also checked against TensorFlow's 'same' padding of the
convolution whose input gradient this is (half the total, rounded down).

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_conv_transpose.py > tests/golden/conv_transpose.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>': '<case>.dims'
(N H W C F KH KW SH SW DH DW SAME OPH OPW OH OW; OPH = OPW = -1: output_padding None), or
for the 1-D cases (Keras's Conv1DTranspose, F.conv_transpose1d, kernel (K, F, C) = PyTorch's
(C, F, K) permuted) '<case>.dims1d' (N L C F K S D SAME OP OL) with (N, L, C) sequences; then
x (N, H, W, C), kernel (KH, KW, F, C) (kiln's (KH*KW*F, C) row-major), dy and y (N, OH, OW,
F), dx (N, H, W, C), dkernel (KH, KW, F, C), torch (padding h, w, output_padding h, w).
float32 inputs, computed in float64, values printed to 9 digits."""
import math
import torch
import torch.nn.functional as F

torch.manual_seed(23)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double()


def keras_axis(n, k, s, d, same, op):
    """Keras's output length and the leading cells of the full output it drops."""
    span = (k - 1) * d + 1
    if not same:
        return (n - 1) * s + span + (max(span, s) - span if op is None else op), 0
    out = n * s if op is None else (n - 1) * s + span % 2 + op
    pad_len = s + span - 2 if op is None else span + span % 2 - 2 + op
    left = min(pad_len // 2 + pad_len % 2, span - 1)
    crop = span - 1 - left
    tf_top = max((n - 1) * s + span - out, 0) // 2  # TensorFlow's 'same' top padding of the convolution
    assert crop == tf_top, (n, k, s, d, op, crop, tf_top)
    return out, crop


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, " ".join("%.9g" % x for x in v))


def case(name, n, h, w, c, f, kh, kw, sh, sw, dh, dw, same, op=None):
    x = rand(n, h, w, c)
    k = rand(kh, kw, f, c, scale=1.0 / math.sqrt(kh * kw))
    oh, ct = keras_axis(h, kh, sh, dh, same, None if op is None else op[0])
    ow, cl = keras_axis(w, kw, sw, dw, same, None if op is None else op[1])
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)  # (N, C, H, W)
    wt = k.permute(3, 2, 0, 1).clone().requires_grad_(True)  # (C, F, KH, KW)
    full = F.conv_transpose2d(xt, wt, stride=(sh, sw), dilation=(dh, dw))  # padding 0: every cell
    fh, fw = full.shape[2], full.shape[3]
    full = F.pad(full, (0, max(cl + ow - fw, 0), 0, max(ct + oh - fh, 0)))  # Keras's longer outputs: zeros
    y = full[:, :, ct:ct + oh, cl:cl + ow]
    assert y.shape == (n, f, oh, ow)
    dy = rand(n, oh, ow, f)
    y.backward(dy.permute(0, 3, 1, 2))
    # PyTorch's own padding / output_padding, where a pair gives this window
    pair = []
    for (crop, out, full_len, s, d) in ((ct, oh, fh, sh, dh), (cl, ow, fw, sw, dw)):
        opt = out - (full_len - 2 * crop)
        pair.append((crop, opt) if 0 <= opt < max(s, d) else None)
    torch_rec = [-1, -1, -1, -1]
    if pair[0] and pair[1]:
        m = torch.nn.ConvTranspose2d(c, f, (kh, kw), stride=(sh, sw), padding=(pair[0][0], pair[1][0]),
                                     output_padding=(pair[0][1], pair[1][1]), dilation=(dh, dw), bias=False)
        with torch.no_grad():
            m.weight.copy_(wt)
            assert torch.allclose(m(xt), y, rtol=0, atol=1e-12), name
        torch_rec = [pair[0][0], pair[1][0], pair[0][1], pair[1][1]]
    oph, opw = (-1, -1) if op is None else op
    print(name + ".dims", n, h, w, c, f, kh, kw, sh, sw, dh, dw, int(same), oph, opw, oh, ow)
    emit(name + ".x", x)
    emit(name + ".kernel", k)
    emit(name + ".dy", dy)
    emit(name + ".y", y.permute(0, 2, 3, 1))
    emit(name + ".dx", xt.grad.permute(0, 2, 3, 1))
    emit(name + ".dkernel", wt.grad.permute(2, 3, 1, 0))
    print(name + ".torch", *torch_rec)


def case1d(name, n, length, c, f, k, s, d, same, op=None):
    """Keras's Conv1DTranspose: kernel (K, F, C), PyTorch's ConvTranspose1d weight (C, F, K)."""
    x = rand(n, length, c)
    kern = rand(k, f, c, scale=1.0 / math.sqrt(k))
    out, crop = keras_axis(length, k, s, d, same, op)
    xt = x.permute(0, 2, 1).clone().requires_grad_(True)  # (N, C, L)
    wt = kern.permute(2, 1, 0).clone().requires_grad_(True)  # (C, F, K)
    full = F.conv_transpose1d(xt, wt, stride=s, dilation=d)
    full = F.pad(full, (0, max(crop + out - full.shape[2], 0)))
    y = full[:, :, crop:crop + out]
    assert y.shape == (n, f, out)
    dy = rand(n, out, f)
    y.backward(dy.permute(0, 2, 1))
    print(name + ".dims1d", n, length, c, f, k, s, d, int(same), -1 if op is None else op, out)
    emit(name + ".x", x)
    emit(name + ".kernel", kern)
    emit(name + ".dy", dy)
    emit(name + ".y", y.permute(0, 2, 1))
    emit(name + ".dx", xt.grad.permute(0, 2, 1))
    emit(name + ".dkernel", wt.grad.permute(2, 1, 0))


case("valid3x3", 2, 4, 5, 3, 2, 3, 3, 1, 1, 1, 1, False)                 # stride 1: (H + 2, W + 2)
case("same3x3_s2", 2, 4, 3, 2, 3, 3, 3, 2, 2, 1, 1, True)                # the uneven crop: no torch pair
case("same4x4_s2", 1, 3, 4, 3, 4, 4, 4, 2, 2, 1, 1, True)                # torch padding 1: the DCGAN block
case("valid3x2_s2x3_op", 2, 3, 4, 2, 3, 3, 2, 2, 3, 1, 1, False, (1, 2))  # output_padding on both axes
case("same3x3_d2", 1, 5, 6, 4, 2, 3, 3, 1, 1, 2, 2, True)                # dilation 2, 'same'
case("same2x3_s3x2_op", 2, 3, 2, 1, 5, 2, 3, 3, 2, 1, 1, True, (2, 1))   # even kernel, output_padding, C 1
case("valid1x1_s2", 2, 3, 3, 3, 2, 1, 1, 2, 2, 1, 1, False)              # stride above the window: zero cells
case("valid2x2_s3", 1, 2, 3, 2, 2, 2, 2, 3, 3, 1, 1, False)              # ... and between the windows
case("valid3x3_s2_d2", 2, 3, 3, 2, 3, 3, 3, 2, 2, 2, 2, False)           # strides with dilation (Keras refuses)
case("same5x5_s2_op0", 1, 4, 5, 6, 7, 5, 5, 2, 2, 1, 1, True, (0, 1))     # odd sizes, C != F, output_padding 0
case1d("seq_same3_s2", 2, 7, 3, 4, 3, 2, 1, True)                         # Conv1DTranspose: 7 -> 14 steps
case1d("seq_valid4_s3_op2", 2, 5, 2, 3, 4, 3, 1, False, 2)                 # output_padding 2 under stride 3
case1d("seq_same2_d3", 1, 6, 5, 2, 2, 1, 3, True)                          # even kernel, dilation 3
