"""Golden values for tests/test_resize.c: upsampling of NHWC images (Keras's UpSampling2D,
kn_upsample2d), forward and backward, computed by PyTorch's F.interpolate on NCHW-permuted
data: mode="bilinear", align_corners=False for interpolation "bilinear", mode="nearest" for
"nearest", each with an integer scale_factor; and resizing to any size (Keras's Resizing,
kn_resize2d) by F.interpolate(size=(OH, OW)), mode="bilinear", align_corners=False, and
mode="nearest-exact".

Keras 3's UpSampling2D(interpolation="bilinear") is keras.ops.image.resize(..., "bilinear")
without antialias: half-pixel centers (TensorFlow's half_pixel_centers=True; JAX's
scale_and_translate with a triangle kernel). Before printing, the script checks that for
every case PyTorch's output equals, within 1e-12 in float64, two references written here
from those definitions: TensorFlow's formula (src = (o + 0.5) / s - 0.5, the cells floor(src)
and ceil(src) clamped into the image, weight src - floor(src)) and JAX's (each input cell i
weighted by the triangle max(0, 1 - |(o + 0.5) / s - (i + 0.5)|), the weights of cells inside
the image normalized to sum 1); and that nearest equals each cell repeated. So the values
below are what Keras computes, whichever backend. For the resizing cases it checks bilinear
against TensorFlow's formula with the scale in / out (src = (o + 0.5) in / out - 0.5) and
nearest-exact against floor((o + 0.5) in / out) computed in exact fractions (TensorFlow's
half-pixel nearest), clamped to the last cell; the resizing cases come last, so the values
drawn before them are unchanged.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_resize.py > tests/golden/resize.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<case>.<what>': first '<case>.dims'
(N H W C SH SW BILINEAR), then x (N, H, W, C), dy (N, H SH, W SW, C), y (N, H SH, W SW, C)
and dx (N, H, W, C); resizing cases '<case>.dims' (N H W C OH OW BILINEAR), dy and y
(N, OH, OW, C). float32 inputs, computed in float64, values printed to 9 digits."""
import math
from fractions import Fraction
import torch
import torch.nn.functional as F

torch.manual_seed(5)
torch.set_default_dtype(torch.float64)


def rand(*shape):  # float32 values, so kiln reads exactly what torch used
    return torch.randn(*shape).float().double()


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, " ".join("%.9g" % x for x in v))


def tf_axis(n, s):
    """(out, n) weights of TensorFlow's half-pixel bilinear along one axis."""
    w = torch.zeros(n * s, n)
    for o in range(n * s):
        src = (o + 0.5) / s - 0.5
        lo = math.floor(src)
        frac = src - lo
        w[o, min(max(lo, 0), n - 1)] += 1 - frac
        w[o, min(max(lo + 1, 0), n - 1)] += frac
    return w


def jax_axis(n, s):
    """(out, n) weights of JAX's triangle kernel, normalized over the cells inside."""
    w = torch.zeros(n * s, n)
    for o in range(n * s):
        centre = (o + 0.5) / s
        for i in range(n):
            w[o, i] = max(0.0, 1.0 - abs(centre - (i + 0.5)))
        w[o] /= w[o].sum()
    return w


def separable(x, wy, wx):  # x (N, H, W, C) -> (N, OH, OW, C)
    return torch.einsum("ph,nhwc,qw->npqc", wy, x, wx)


def case(name, n, h, w, c, sh, sw, bilinear):
    x = rand(n, h, w, c)
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)  # (N, C, H, W)
    if bilinear:
        y = F.interpolate(xt, scale_factor=(sh, sw), mode="bilinear", align_corners=False)
    else:
        y = F.interpolate(xt, scale_factor=(sh, sw), mode="nearest")
    y = y.permute(0, 2, 3, 1)
    assert y.shape == (n, h * sh, w * sw, c)
    if bilinear:
        for ref in (separable(x, tf_axis(h, sh), tf_axis(w, sw)), separable(x, jax_axis(h, sh), jax_axis(w, sw))):
            assert (ref - y).abs().max().item() < 1e-12, name
    else:
        rep = x.repeat_interleave(sh, dim=1).repeat_interleave(sw, dim=2)
        assert torch.equal(rep, y), name
    dy = rand(n, h * sh, w * sw, c)
    y.backward(dy)
    print(name + ".dims", n, h, w, c, sh, sw, int(bilinear))
    emit(name + ".x", x)
    emit(name + ".dy", dy)
    emit(name + ".y", y)
    emit(name + ".dx", xt.grad.permute(0, 2, 3, 1))


case("bilinear2x2", 2, 5, 6, 3, 2, 2, True)     # the common case, odd sizes
case("bilinear3x2", 1, 4, 5, 2, 3, 2, True)     # an odd scale: src not exact in float
case("bilinear1x3", 2, 3, 4, 1, 1, 3, True)     # a factor of 1 on one axis
case("bilinear4x4", 1, 3, 3, 5, 4, 4, True)     # a larger factor
case("bilinear2x5_one_row", 1, 1, 4, 2, 2, 5, True)  # a one-row image: every row the same cells
case("nearest2x3", 2, 3, 4, 2, 2, 3, False)


def tf_resize_axis(n, out):
    """(out, n) weights of TensorFlow's half-pixel bilinear resize along one axis."""
    w = torch.zeros(out, n)
    for o in range(out):
        src = max((o + 0.5) * n / out - 0.5, 0.0)
        lo = math.floor(src)
        frac = src - lo
        w[o, min(lo, n - 1)] += 1 - frac
        w[o, min(lo + 1, n - 1)] += frac
    return w


def nearest_resize_axis(n, out):
    """(out, n) one-hot rows: cell min(floor((o + 1/2) n / out), n - 1), exactly."""
    w = torch.zeros(out, n)
    for o in range(out):
        w[o, min(math.floor(Fraction(2 * o + 1, 2) * Fraction(n, out)), n - 1)] = 1
    return w


def resize_case(name, n, h, w, c, oh, ow, bilinear):
    x = rand(n, h, w, c)
    xt = x.permute(0, 3, 1, 2).clone().requires_grad_(True)  # (N, C, H, W)
    mode = "bilinear" if bilinear else "nearest-exact"
    if bilinear:
        y = F.interpolate(xt, size=(oh, ow), mode=mode, align_corners=False)
    else:
        y = F.interpolate(xt, size=(oh, ow), mode=mode)
    y = y.permute(0, 2, 3, 1)
    assert y.shape == (n, oh, ow, c)
    axis = tf_resize_axis if bilinear else nearest_resize_axis
    ref = separable(x, axis(h, oh), axis(w, ow))
    assert (ref - y).abs().max().item() < 1e-12, name
    dy = rand(n, oh, ow, c)
    y.backward(dy)
    print(name + ".dims", n, h, w, c, oh, ow, int(bilinear))
    emit(name + ".x", x)
    emit(name + ".dy", dy)
    emit(name + ".y", y)
    emit(name + ".dx", xt.grad.permute(0, 2, 3, 1))


resize_case("resize_bilinear_down", 2, 9, 7, 3, 5, 4, True)   # 9 -> 5, 7 -> 4: down, scale not exact
resize_case("resize_bilinear_up", 1, 5, 3, 2, 12, 7, True)    # 5 -> 12, 3 -> 7: up by fractions
resize_case("resize_bilinear_mixed", 1, 6, 4, 2, 4, 10, True)  # down rows, up columns
resize_case("resize_nearest_down", 2, 9, 7, 3, 5, 4, False)
resize_case("resize_nearest_up", 1, 5, 3, 2, 12, 7, False)
resize_case("resize_nearest_to_one", 1, 4, 6, 2, 1, 3, False)  # an output side of 1
