"""Quantized ONNX models and golden outputs for tests/test_onnx_quant.c: small networks with
seeded random float weights, quantized here as onnxruntime.quantization does (int8 weights
symmetric per channel or per tensor, uint8 weights asymmetric, activations uint8 or int8 from
the min and max their calibration inputs reach, 0 always inside the range; a Relu fused away
by quantizing its input with the zero point at the type's lowest), and written with
onnx.helper in ORT's three forms to tests/data/onnx/q_<case>.onnx:

  qdq_cnn      QDQ (quantize_static's default): QuantizeLinear and DequantizeLinear around
               each activation, DequantizeLinear of int8 weights (per channel, per tensor, a
               uint8 one with a zero point) and int32 biases; Conv (relu fused; relu kept as a
               node; int8 activations fused), MaxPool, GlobalAveragePool, Flatten, Gemm
  qop_cnn      QOperator: QuantizeLinear, QLinearConv (relu fused), MaxPool, QLinearConv,
               QLinearAdd (a residual, relu fused), QLinearGlobalAveragePool, Flatten,
               QLinearMatMul, DequantizeLinear
  qgemm_mlp    com.microsoft's QGemm (transB, int32 C), QLinearLeakyRelu, two branches joined
               by QLinearConcat, QLinearSigmoid, QGemm with a float output
  dynamic_mlp  quantize_dynamic: DynamicQuantizeLinear, MatMulInteger (per-tensor int8, then
               per-column int8 with zero points), Cast, Mul by x_scale w_scale, Add, Relu,
               Softmax
  dynamic_conv quantize_dynamic over a convolution: ConvInteger, Cast, Mul, Add of the bias
               Reshape'd to (1, M, 1, 1), Relu, Flatten, MatMulIntegerToFloat (com.microsoft)
  half_cnn     a float16 model (onnxconverter-common's keep_io_types form), a bfloat16 weight
  qdq_gelu_mlp QDQ between the nodes of a GELU spelled in nodes (kiln reads the pattern)
  refused_softmax  QLinearSoftmax, which kiln refuses naming the node (no goldens)

Per case the goldens are '<case>.x' (N inputs, NCHW), '<case>.y' (the float model the
quantized one stands for: the dequantized weights, activations unrounded, a Relu where a
zero point floors a value at 0 — what kiln computes, to float rounding) and '<case>.ort'
(the quantized model as ONNX's ops define it, activations rounded to their 8-bit grids and
clipped at their ranges: what onnxruntime computes, to its rounding), computed in float64
with numpy from the same weights. onnxruntime itself is not packaged for Debian, so these
ops are evaluated here from the ONNX spec (QuantizeLinear rounds half to even and
saturates; DynamicQuantizeLinear's uint8 range is [min(0, x), max(0, x)] over the tensor).

Run with Debian's python3-onnx and python3-numpy:
    /usr/bin/python3 tests/golden/make_onnx_quant.py > tests/golden/onnx_quant.txt"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "onnx")
N = 4
rng = np.random.default_rng(11)
U8, I8 = (TensorProto.UINT8, 0, 255), (TensorProto.INT8, -128, 127)


# ---------------------------------------------------------------- quantization (ORT's rules)

def act_params(x, t=U8):
    """An activation's scale and zero point from its calibration range (0 kept inside)."""
    lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
    s = (hi - lo) / (t[2] - t[1]) or 1.0
    zp = int(np.clip(np.rint(t[1] - lo / s), t[1], t[2]))
    return np.float32(s), zp, t


def relu_params(x, t=U8):
    """The range of relu(x): a Relu fused into the quantization (zero point the lowest)."""
    return act_params(np.maximum(x, 0), t)


def quantize(x, s, zp, t):
    return np.clip(np.rint(x / np.float64(s)) + zp, t[1], t[2])


def weight_int8(w, per_channel, axis=0):
    """Symmetric int8 weights: scale max|w| / 127 per channel (along axis) or per tensor."""
    if per_channel:
        red = tuple(k for k in range(w.ndim) if k != axis)
        s = (np.abs(w).max(axis=red) / 127).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        q = np.clip(np.rint(w / s.reshape(shape)), -127, 127).astype(np.int8)
        return q, s, np.zeros_like(q, shape=s.shape)
    s = np.float32(np.abs(w).max() / 127)
    return np.clip(np.rint(w / s), -127, 127).astype(np.int8), s, np.int8(0)


def weight_uint8(w):
    """Asymmetric uint8 weights per tensor, with a zero point."""
    s, zp, _ = act_params(w, U8)
    return quantize(w, s, zp, U8).astype(np.uint8), s, np.uint8(zp)


def deq(q, s, zp, axis=0):
    s, zp = np.asarray(s, np.float32), np.asarray(zp)
    if s.ndim:
        shape = [1] * q.ndim
        shape[axis] = -1
        s, zp = s.reshape(shape), zp.reshape(shape)
    return ((q.astype(np.int64) - zp.astype(np.int64)) * s).astype(np.float32).astype(np.float64)


class Sem:
    """How activations are quantized: ort True rounds and clips them to their grids (ONNX's
    ops), False keeps them in float, a Relu where the zero point floors the range at 0."""

    def __init__(self, ort):
        self.ort = ort

    def fq(self, x, p, nonneg=False):
        s, zp, t = p
        if self.ort:
            return (quantize(x, s, zp, t) - zp) * np.float64(s)
        return np.maximum(x, 0) if zp == t[1] and not nonneg else x

    def dyn(self, x):
        """DynamicQuantizeLinear then back: uint8 over the whole tensor."""
        if not self.ort:
            return x
        lo, hi = min(0.0, float(x.min())), max(0.0, float(x.max()))
        s = np.float32((hi - lo) / 255) or np.float32(1)
        zp = np.clip(np.rint(0 - lo / np.float64(s)), 0, 255)
        return (np.clip(np.rint(x / np.float64(s)) + zp, 0, 255) - zp) * np.float64(s)


# ---------------------------------------------------------------- float ops (NCHW, float64)

def conv(x, w, b=None, pad=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1
    y = np.zeros((n, f, oh, ow))
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nchw,fc->nfhw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
    return y + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def maxpool2(x):
    n, c, h, w = x.shape
    return x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def rand_w(*shape):
    fan = int(np.prod(shape[1:])) if len(shape) > 2 else shape[0]
    return (rng.standard_normal(shape) * (1.0 / fan) ** 0.5).astype(np.float32)


# ---------------------------------------------------------------- graph building

class G:
    def __init__(self):
        self.nodes, self.inits, self.k = [], [], 0

    def const(self, a, dtype=None, name=None):
        self.k += 1
        name = name or f"c{self.k}"
        a = np.asarray(a) if dtype is None else np.asarray(a).astype(dtype)
        self.inits.append(numpy_helper.from_array(a, name))
        return name

    def node(self, op, ins, n_out=1, domain="", **attrs):
        self.k += 1
        outs = [f"v{self.k}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, ins, outs, name=f"{op}_{self.k}", domain=domain, **attrs))
        return outs[0] if n_out == 1 else outs

    def qp(self, p):
        s, zp, t = p
        return [self.const(np.float32(s)), self.const(zp, np.uint8 if t is U8 else np.int8)]

    def qdq(self, x, p):
        return self.node("DequantizeLinear", [self.node("QuantizeLinear", [x] + self.qp(p))] + self.qp(p))

    def save(self, name, in_shape, y, out_shape, ms=False):
        graph = helper.make_graph(self.nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + list(in_shape))],
                                  [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N"] + list(out_shape))], self.inits)
        opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
        model = helper.make_model(graph, opset_imports=opsets, producer_name="kiln make_onnx_quant.py")
        model.ir_version = 7
        if not ms:
            onnx.checker.check_model(model, full_check=True)
        onnx.save(model, os.path.join(OUT, f"q_{name}.onnx"))


def emit(name, x, y, ort):
    for what, t in (("x", x), ("y", y), ("ort", ort)):
        print(f"{name}.{what} " + " ".join(f"{v:.9g}" for v in np.asarray(t, np.float64).flatten().tolist()))
    print(f"{name}: ort vs float max |diff| {np.abs(y - ort).max():.4g} (outputs up to {np.abs(y).max():.3g})", file=sys.stderr)


# ---------------------------------------------------------------- cases

def qdq_cnn():
    x = rng.standard_normal((N, 3, 8, 8))
    w1, b1 = rand_w(16, 3, 3, 3), (rng.standard_normal(16) * 0.3).astype(np.float32)
    w2, b2 = rand_w(32, 16, 3, 3), (rng.standard_normal(32) * 0.3).astype(np.float32)
    w3, b3 = rand_w(16, 32, 1, 1), (rng.standard_normal(16) * 0.3).astype(np.float32)
    wf, bf = rand_w(5, 16), (rng.standard_normal(5) * 0.3).astype(np.float32)
    q1, s1, z1 = weight_int8(w1, True)
    q2, s2, z2 = weight_uint8(w2)
    q3, s3, z3 = weight_int8(w3, True)
    qf, sf, zf = weight_int8(wf, False)
    W1, W2, W3, WF = deq(q1, s1, z1), deq(q2, s2, z2), deq(q3, s3, z3), deq(qf, sf, zf)
    # calibration on the float model
    px = act_params(x)
    h1 = conv(x, W1, b1, 1)
    p1 = relu_params(h1)
    h2 = conv(maxpool2(np.maximum(h1, 0)), W2, b2, 1)
    p2 = relu_params(h2)
    h3 = conv(np.maximum(h2, 0), W3, b3)
    p3 = relu_params(h3, I8)
    p4 = act_params(np.maximum(h3, 0).mean(axis=(2, 3)))

    def bias(b, xs, ws):
        return np.rint(b / (np.float64(xs) * ws)).astype(np.int32), (np.float32(xs) * ws).astype(np.float32)

    qb1, sb1 = bias(b1, px[0], s1)
    qb2, sb2 = bias(b2, p1[0], np.float64(s2))
    qb3, sb3 = bias(b3, p2[0], s3)
    B1, B2, B3 = deq(qb1, sb1, np.zeros(16, np.int32)), deq(qb2, sb2, np.int32(0)), deq(qb3, sb3, np.zeros(16, np.int32))

    def forward(sem):
        h = sem.fq(x, px)
        h = sem.fq(conv(h, W1, B1, 1), p1)
        h = sem.fq(maxpool2(h), p1, nonneg=True)
        h = sem.fq(np.maximum(conv(h, W2, B2, 1), 0), p2, nonneg=True)
        h = sem.fq(conv(h, W3, B3), p3)
        h = sem.fq(h.mean(axis=(2, 3)), p4)
        return h @ WF.T + bf

    g = G()
    axis0 = {"axis": 0}
    h = g.qdq("x", px)
    w = g.node("DequantizeLinear", [g.const(q1), g.const(s1), g.const(z1)], **axis0)
    b = g.node("DequantizeLinear", [g.const(qb1), g.const(sb1), g.const(np.zeros(16, np.int32))], **axis0)
    h = g.qdq(g.node("Conv", [h, w, b], pads=[1, 1, 1, 1], kernel_shape=[3, 3]), p1)
    h = g.qdq(g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2]), p1)
    w = g.node("DequantizeLinear", [g.const(q2), g.const(s2), g.const(z2)])
    b = g.node("DequantizeLinear", [g.const(qb2), g.const(sb2), g.const(np.int32(0))])
    h = g.qdq(g.node("Relu", [g.node("Conv", [h, w, b], pads=[1, 1, 1, 1], kernel_shape=[3, 3])]), p2)
    w = g.node("DequantizeLinear", [g.const(q3), g.const(s3), g.const(z3)], **axis0)
    b = g.node("DequantizeLinear", [g.const(qb3), g.const(sb3), g.const(np.zeros(16, np.int32))], **axis0)
    h = g.qdq(g.node("Conv", [h, w, b], kernel_shape=[1, 1]), p3)
    h = g.node("Flatten", [g.qdq(g.node("GlobalAveragePool", [h]), p4)])
    w = g.node("DequantizeLinear", [g.const(qf), g.const(sf), g.const(zf)])
    y = g.node("Gemm", [h, w, g.const(bf)], transB=1)
    g.save("qdq_cnn", (3, 8, 8), y, (5,))
    emit("qdq_cnn", x, forward(Sem(False)), forward(Sem(True)))


def qop_cnn():
    x = rng.standard_normal((N, 3, 8, 8))
    w1, b1 = rand_w(16, 3, 3, 3), (rng.standard_normal(16) * 0.3).astype(np.float32)
    w2, b2 = rand_w(16, 16, 3, 3), (rng.standard_normal(16) * 0.3).astype(np.float32)
    wm = rand_w(16, 5)
    q1, s1, _ = weight_int8(w1, True)
    q2, s2, _ = weight_int8(w2, True)
    qm, sm, zm = weight_int8(wm, False)
    W1, W2, WM = deq(q1, s1, 0), deq(q2, s2, 0), deq(qm, sm, 0)
    px = act_params(x)
    qb1 = np.rint(b1 / (np.float64(px[0]) * s1)).astype(np.int32)
    B1 = deq(qb1, (np.float32(px[0]) * s1).astype(np.float32), np.zeros(16, np.int32))
    h1 = np.maximum(conv(x, W1, B1, 1), 0)
    p1 = act_params(h1)
    qb2 = np.rint(b2 / (np.float64(p1[0]) * s2)).astype(np.int32)
    B2 = deq(qb2, (np.float32(p1[0]) * s2).astype(np.float32), np.zeros(16, np.int32))
    m = maxpool2(h1)
    h2 = conv(m, W2, B2, 1)
    p2 = act_params(h2)
    h3 = np.maximum(m + h2, 0)
    p3 = act_params(h3)
    g_ = h3.mean(axis=(2, 3))
    p4 = act_params(g_)
    p5 = act_params(g_ @ WM)

    def forward(sem):
        h = sem.fq(x, px)
        h = sem.fq(conv(h, W1, B1, 1), p1)
        mp = maxpool2(h)
        h = sem.fq(conv(mp, W2, B2, 1), p2)
        h = sem.fq(mp + h, p3)
        h = sem.fq(h.mean(axis=(2, 3)), p4, nonneg=True)
        return sem.fq(h @ WM, p5)

    g = G()
    h = g.node("QuantizeLinear", ["x"] + g.qp(px))
    h = g.node("QLinearConv", [h] + g.qp(px) + [g.const(q1), g.const(s1), g.const(np.zeros(16, np.int8))] + g.qp(p1) +
               [g.const(qb1)], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    mp = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("QLinearConv", [mp] + g.qp(p1) + [g.const(q2), g.const(s2), g.const(np.zeros(16, np.int8))] + g.qp(p2) +
               [g.const(qb2)], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    h = g.node("QLinearAdd", [mp] + g.qp(p1) + [h] + g.qp(p2) + g.qp(p3), domain="com.microsoft")
    h = g.node("QLinearGlobalAveragePool", [h] + g.qp(p3) + g.qp(p4), domain="com.microsoft", channels_last=0)
    h = g.node("Flatten", [h])
    h = g.node("QLinearMatMul", [h] + g.qp(p4) + [g.const(qm), g.const(sm), g.const(zm)] + g.qp(p5))
    y = g.node("DequantizeLinear", [h] + g.qp(p5))
    g.save("qop_cnn", (3, 8, 8), y, (5,), ms=True)
    emit("qop_cnn", x, forward(Sem(False)), forward(Sem(True)))


def qgemm_mlp():
    x = rng.standard_normal((N, 6))
    wa, ba = rand_w(16, 6), (rng.standard_normal(16) * 0.3).astype(np.float32)
    wb, bb = rand_w(16, 6), (rng.standard_normal(16) * 0.3).astype(np.float32)
    wo, bo = rand_w(3, 32), (rng.standard_normal(3) * 0.3).astype(np.float32)
    qa, sa, _ = weight_int8(wa, True)
    qb, sb, _ = weight_int8(wb, False)
    qo, so, _ = weight_int8(wo, True)
    WA, WB, WO = deq(qa, sa, 0), deq(qb, sb, 0), deq(qo, so, 0)
    px = act_params(x)
    ca = np.rint(ba / (np.float64(px[0]) * sa)).astype(np.int32)
    cb = np.rint(bb / (np.float64(px[0]) * sb)).astype(np.int32)
    CA = deq(ca, (np.float32(px[0]) * sa).astype(np.float32), np.zeros(16, np.int32))
    CB = deq(cb, np.float32(np.float32(px[0]) * sb), np.int32(0))
    ha = x @ WA.T + CA
    pa = act_params(ha)
    la = np.where(ha > 0, ha, 0.1 * ha)
    pl = act_params(la)
    hb = x @ WB.T + CB
    pb = act_params(hb)
    sg = 1 / (1 + np.exp(-hb))
    ps = act_params(sg)
    cat = np.concatenate([la, sg], axis=1)
    pc = act_params(cat)
    co = np.rint(bo / (np.float64(pc[0]) * so)).astype(np.int32)
    CO = deq(co, (np.float32(pc[0]) * so).astype(np.float32), np.zeros(3, np.int32))

    def forward(sem):
        h = sem.fq(x, px)
        a = sem.fq(h @ WA.T + CA, pa)
        a = sem.fq(np.where(a > 0, a, 0.1 * a), pl)
        b = sem.fq(h @ WB.T + CB, pb)
        b = sem.fq(1 / (1 + np.exp(-b)), ps)
        c = sem.fq(np.concatenate([a, b], axis=1), pc)
        return c @ WO.T + CO

    g = G()
    ms = {"domain": "com.microsoft"}
    h = g.node("QuantizeLinear", ["x"] + g.qp(px))
    a = g.node("QGemm", [h] + g.qp(px) + [g.const(qa), g.const(sa), g.const(np.zeros(16, np.int8)), g.const(ca)] + g.qp(pa),
               transB=1, **ms)
    a = g.node("QLinearLeakyRelu", [a] + g.qp(pa) + g.qp(pl), alpha=0.1, **ms)
    b = g.node("QGemm", [h] + g.qp(px) + [g.const(qb), g.const(sb), g.const(np.int8(0)), g.const(cb)] + g.qp(pb),
               transB=1, **ms)
    b = g.node("QLinearSigmoid", [b] + g.qp(pb) + g.qp(ps), **ms)
    c = g.node("QLinearConcat", g.qp(pc) + [a] + g.qp(pl) + [b] + g.qp(ps), axis=1, **ms)
    y = g.node("QGemm", [c] + g.qp(pc) + [g.const(qo), g.const(so), g.const(np.zeros(3, np.int8)), g.const(co)],
               transB=1, **ms)
    g.save("qgemm_mlp", (6,), y, (3,), ms=True)
    emit("qgemm_mlp", x, forward(Sem(False)), forward(Sem(True)))


def dynamic_chain(g, h, q, s, z):
    """quantize_dynamic's MatMul: DynamicQuantizeLinear, MatMulInteger, Cast, Mul by x_scale w_scale."""
    hq, hs, hz = g.node("DynamicQuantizeLinear", [h], n_out=3)
    p = g.node("MatMulInteger", [hq, g.const(q), hz, g.const(z)])
    scale = g.node("Mul", [hs, g.const(s)])
    return g.node("Mul", [g.node("Cast", [p], to=TensorProto.FLOAT), scale])


def dynamic_mlp():
    x = rng.standard_normal((N, 16))
    w1, b1 = rand_w(16, 32), (rng.standard_normal(32) * 0.3).astype(np.float32)
    w2, b2 = rand_w(32, 4), (rng.standard_normal(4) * 0.3).astype(np.float32)
    q1, s1, z1 = weight_int8(w1, False)
    # per column, with zero points (asymmetric int8, as weight_symmetric=False writes)
    s2 = ((w2.max(axis=0) - w2.min(axis=0)) / 255).astype(np.float32)
    z2 = np.clip(np.rint(-128 - w2.min(axis=0) / s2), -128, 127).astype(np.int8)
    q2 = np.clip(np.rint(w2 / s2) + z2, -128, 127).astype(np.int8)
    W1, W2 = deq(q1, s1, z1), deq(q2, s2, z2, axis=1)

    def forward(sem):
        h = np.maximum(sem.dyn(x) @ W1 + b1, 0)
        return softmax(sem.dyn(h) @ W2 + b2)

    g = G()
    h = g.node("Relu", [g.node("Add", [dynamic_chain(g, "x", q1, s1, z1), g.const(b1)])])
    h = g.node("Add", [dynamic_chain(g, h, q2, s2, z2), g.const(b2)])
    y = g.node("Softmax", [h], axis=1)
    g.save("dynamic_mlp", (16,), y, (4,))
    emit("dynamic_mlp", x, forward(Sem(False)), forward(Sem(True)))


def dynamic_conv():
    x = rng.standard_normal((N, 4, 6, 6))
    w1, b1 = rand_w(16, 4, 3, 3), (rng.standard_normal(16) * 0.3).astype(np.float32)
    wd, bd = rand_w(256, 3), (rng.standard_normal(3) * 0.3).astype(np.float32)
    q1, s1, _ = weight_int8(w1, False)
    z1 = np.int8(3)  # (a zero point other than 0)
    q1 = np.clip(q1.astype(np.int64) + 3, -128, 127).astype(np.int8)
    qd, sd, zd = weight_int8(wd, True, axis=1)
    W1, WD = deq(q1, s1, z1), deq(qd, sd, zd, axis=1)

    def forward(sem):
        h = np.maximum(conv(sem.dyn(x), W1, b1), 0)
        h = h.reshape(N, -1)
        return sem.dyn(h) @ WD + bd

    g = G()
    xq, xs, xz = g.node("DynamicQuantizeLinear", ["x"], n_out=3)
    p = g.node("ConvInteger", [xq, g.const(q1), xz, g.const(z1)], kernel_shape=[3, 3])
    h = g.node("Mul", [g.node("Cast", [p], to=TensorProto.FLOAT), g.node("Mul", [xs, g.const(s1)])])
    b = g.node("Reshape", [g.const(b1), g.const(np.array([1, 16, 1, 1], np.int64))])
    h = g.node("Flatten", [g.node("Relu", [g.node("Add", [h, b])])])
    hq, hs, hz = g.node("DynamicQuantizeLinear", [h], n_out=3)
    y = g.node("MatMulIntegerToFloat", [hq, g.const(qd), hs, g.const(sd), hz, g.const(zd), g.const(bd)],
               domain="com.microsoft")
    g.save("dynamic_conv", (4, 6, 6), y, (3,), ms=True)
    emit("dynamic_conv", x, forward(Sem(False)), forward(Sem(True)))


def qdq_gelu_mlp():
    """QDQ around the nodes of a GELU PyTorch spells in nodes (x / sqrt 2, Erf, + 1, x *, * 0.5),
    as ORT's QDQ quantizer puts them after each Mul and Add: kiln must read the float graph's
    pattern through them (a dense layer's gelu)."""
    import math
    x = rng.standard_normal((N, 16))
    w1, b1 = rand_w(16, 32), (rng.standard_normal(32) * 0.3).astype(np.float32)
    w2, b2 = rand_w(32, 4), (rng.standard_normal(4) * 0.3).astype(np.float32)
    q1, s1, z1 = weight_int8(w1, True, axis=1)
    q2, s2, z2 = weight_int8(w2, False)
    W1, W2 = deq(q1, s1, z1, axis=1), deq(q2, s2, z2)
    erf = np.vectorize(math.erf)
    px = act_params(x)
    h = x @ W1 + b1
    ph = act_params(h)
    pe = act_params(erf(h / math.sqrt(2)) + 1)
    pm = act_params(h * (erf(h / math.sqrt(2)) + 1))
    pg = act_params(0.5 * h * (erf(h / math.sqrt(2)) + 1))

    def forward(sem):
        h = sem.fq(sem.fq(x, px) @ W1 + b1, ph)
        e = sem.fq(erf(h / np.float64(np.float32(math.sqrt(2)))) + 1, pe)
        g = sem.fq(sem.fq(h * e, pm) * 0.5, pg)
        return softmax(g @ W2 + b2)

    g = G()
    h = g.node("MatMul", [g.qdq("x", px), g.node("DequantizeLinear", [g.const(q1), g.const(s1), g.const(z1)], axis=1)])
    h = g.qdq(g.node("Add", [h, g.const(b1)]), ph)
    e = g.node("Erf", [g.node("Div", [h, g.const(np.float32(math.sqrt(2)))])])
    e = g.qdq(g.node("Add", [e, g.const(np.float32(1))]), pe)
    m = g.qdq(g.node("Mul", [h, e]), pm)
    m = g.qdq(g.node("Mul", [m, g.const(np.float32(0.5))]), pg)
    h = g.node("MatMul", [m, g.node("DequantizeLinear", [g.const(q2), g.const(s2), g.const(z2)])])
    y = g.node("Softmax", [g.node("Add", [h, g.const(b2)])], axis=1)
    g.save("qdq_gelu_mlp", (16,), y, (4,))
    emit("qdq_gelu_mlp", x, forward(Sem(False)), forward(Sem(True)))


def bf16_bits(a):
    """float32 values as bfloat16 bits, rounded to nearest even, and the values they hold."""
    b = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32)


def half_cnn():
    """A half-precision model as onnxconverter-common's float16 conversion writes one with
    keep_io_types: a float input Cast to float16, float16 weights and a float16 Constant, a
    weight stored as bfloat16 and Cast, a Cast back to float at the end."""
    x = rng.standard_normal((N, 3, 8, 8))
    w1, b1 = rand_w(16, 3, 3, 3).astype(np.float16), (rng.standard_normal(16) * 0.3).astype(np.float16)
    w2, b2 = rand_w(16, 16, 3, 3).astype(np.float16), (rng.standard_normal(16) * 0.3).astype(np.float16)
    gam, bet = (1 + 0.3 * rng.standard_normal(16)).astype(np.float16), (0.2 * rng.standard_normal(16)).astype(np.float16)
    mean, var = (0.3 * rng.standard_normal(16)).astype(np.float16), (0.5 + rng.random(16)).astype(np.float16)
    wf_bits, wf = bf16_bits(rand_w(5, 16))
    bf = (rng.standard_normal(5) * 0.3).astype(np.float16)
    W1, B1, W2, B2 = (a.astype(np.float64) for a in (w1, b1, w2, b2))

    def forward(r):  # r: each op's output rounded to float16 (ORT's float16 kernels), or kept
        h = r(conv(r(x), W1, B1, 1))
        h = r(np.maximum(h, 0))
        h = r(maxpool2(h))
        h = r(conv(h, W2, B2, 1))
        sc = gam.astype(np.float64) / np.sqrt(var.astype(np.float64) + 1e-5)
        h = r((h - mean.astype(np.float64).reshape(1, -1, 1, 1)) * sc.reshape(1, -1, 1, 1) + bet.astype(np.float64).reshape(1, -1, 1, 1))
        h = r(np.maximum(h, 0) * np.float64(np.float16(0.5)))
        h = r(h.mean(axis=(2, 3)))
        return softmax(r(h @ wf.astype(np.float64).T + bf.astype(np.float64)))

    g = G()
    h = g.node("Cast", ["x"], to=TensorProto.FLOAT16)
    h = g.node("Relu", [g.node("Conv", [h, g.const(w1), g.const(b1)], pads=[1, 1, 1, 1], kernel_shape=[3, 3])])
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = g.node("Conv", [h, g.const(w2), g.const(b2)], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    h = g.node("BatchNormalization", [h, g.const(gam), g.const(bet), g.const(mean), g.const(var)], epsilon=1e-5)
    half = g.node("Constant", [], value=numpy_helper.from_array(np.array(0.5, np.float16)))
    h = g.node("Mul", [g.node("Relu", [h]), half])
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])])
    g.k += 1
    g.inits.append(helper.make_tensor("wf_bf16", TensorProto.BFLOAT16, wf_bits.shape, wf_bits.tobytes(), raw=True))
    w = g.node("Cast", ["wf_bf16"], to=TensorProto.FLOAT16)
    h = g.node("Gemm", [h, w, g.const(bf)], transB=1)
    y = g.node("Cast", [g.node("Softmax", [h], axis=1)], to=TensorProto.FLOAT)
    g.save("half_cnn", (3, 8, 8), y, (5,))
    emit("half_cnn", x, forward(lambda a: a), forward(lambda a: a.astype(np.float16).astype(np.float64)))


def refused_softmax():
    g = G()
    p = (np.float32(0.05), 128, U8)
    h = g.node("QuantizeLinear", ["x"] + g.qp(p))
    h = g.node("QLinearSoftmax", [h] + g.qp(p) + g.qp((np.float32(1 / 256), 0, U8)), axis=1, opset=13,
               domain="com.microsoft")
    y = g.node("DequantizeLinear", [h] + g.qp((np.float32(1 / 256), 0, U8)))
    g.save("refused_softmax", (5,), y, (5,), ms=True)


os.makedirs(OUT, exist_ok=True)
qdq_cnn()
qop_cnn()
qgemm_mlp()
dynamic_mlp()
dynamic_conv()
half_cnn()
qdq_gelu_mlp()
refused_softmax()
