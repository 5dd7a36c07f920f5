"""onnx_eval.py — runs an ONNX model with numpy, independently of kiln's C code, to check
what `kiln export` writes (tests/cli_commands.sh): onnx.checker (with shape inference) must
accept the file, and this interpreter's outputs for the given inputs must match kiln's.

It knows the ops kiln exports: Gemm, MatMul (batched, numpy's broadcasting, as ONNX's),
Conv (1-D and 2-D; groups, pads, strides, dilations), RNN, LSTM, GRU (linear_before_reset),
Gather, Cast, ReduceMean/Max/Sum/Prod/SumSquare/L2 (keepdims), ConvTranspose, Resize (scales or sizes;
nearest asymmetric floor or half-pixel round_prefer_ceil, linear half-pixel), Slice, Tile, PRelu, MaxPool, AveragePool
(count_include_pad 0), GlobalAveragePool, GlobalMaxPool, BatchNormalization, Flatten,
Reshape (0 copies the input's dimension), Transpose, Pad (constant), Identity, Add, Sub,
Mul, Div (broadcasting), Sum, Mean, Max, Concat, Shape, Relu, Sigmoid, Tanh, Softmax (opset 13's:
over one axis), LeakyRelu, Elu, Selu, Softplus, Softsign, HardSigmoid, Clip, Exp, Erf,
Sqrt, IsNaN, Where (a CSV preprocessing's imputing), Greater, Equal, Abs, Pow, ArgMax, OneHot, TopK, and ai.onnx.ml's
TreeEnsembleRegressor (classical models). Computed in float64.

usage: /usr/bin/python3 tests/onnx_eval.py MODEL.onnx INPUTS.txt > OUTPUTS.txt
  INPUTS.txt: one sample a line, its values in the model input's order (kiln's);
  OUTPUTS.txt: one line of outputs a sample. Exit 77 when the onnx package is missing."""
import functools
import math
import sys

import numpy as np

try:
    import onnx
    from onnx import numpy_helper
except ImportError:
    print("onnx_eval.py: the onnx package is missing (apt-get install python3-onnx)", file=sys.stderr)
    sys.exit(77)


def attrs(node):
    values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    def text(v):
        return v.decode() if isinstance(v, bytes) else v
    return {k: [text(x) for x in v] if isinstance(v, list) else text(v) for k, v in values.items()}


def as_2d(x, a, w=None):
    """A 1-D window over (N, C, L) as a 2-D one over (N, C, 1, L)."""
    b = dict(a)
    for k, one in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        if k in b:
            b[k] = [one] + list(b[k])
    if "pads" in b:
        b["pads"] = [0, b["pads"][0], 0, b["pads"][1]]
    if "output_padding" in b:
        b["output_padding"] = [0] + list(b["output_padding"])
    return x[:, :, None, :], b, (w[:, :, None, :] if w is not None else None)


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def recurrent(op, x, W, R, B, a):
    """RNN, LSTM and GRU (ONNX's definitions, no peepholes, default activations or Relu)."""
    T, N, _ = x.shape
    H = a["hidden_size"]
    dirs = W.shape[0]
    direction = a.get("direction", "forward")
    acts = a.get("activations", None)
    Y = np.zeros((T, dirs, N, H))
    Yh = np.zeros((dirs, N, H))
    for d in range(dirs):
        rev = direction == "reverse" or (direction == "bidirectional" and d == 1)
        Wb, Rb = (B[d][:B.shape[1] // 2], B[d][B.shape[1] // 2:]) if B is not None else (0, 0)
        h = np.zeros((N, H))
        c = np.zeros((N, H))
        for step in range(T):
            t = T - 1 - step if rev else step
            xw = x[t] @ W[d].T + Wb
            if op == "LSTM":
                g = xw + h @ R[d].T + Rb
                i, o, f, cc = (g[:, k * H:(k + 1) * H] for k in range(4))
                c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
                h = sigmoid(o) * np.tanh(c)
            elif op == "GRU":
                rh = h @ R[d].T
                z = sigmoid(xw[:, :H] + rh[:, :H] + Rb[:H] if B is not None else xw[:, :H] + rh[:, :H])
                r = sigmoid(xw[:, H:2 * H] + rh[:, H:2 * H] + (Rb[H:2 * H] if B is not None else 0))
                assert a.get("linear_before_reset", 0) == 1
                hh = np.tanh(xw[:, 2 * H:] + r * (rh[:, 2 * H:] + (Rb[2 * H:] if B is not None else 0)))
                h = (1 - z) * hh + z * h
            else:
                v = xw + h @ R[d].T + Rb
                h = np.maximum(v, 0) if acts and acts[d] == "Relu" else np.tanh(v)
            Y[t, d] = h
        Yh[d] = h
    return Y, Yh


def conv(x, w, b, a):
    if x.ndim == 3:
        x2, a2, w2 = as_2d(x, a, w)
        return conv(x2, w2, b, a2)[:, :, 0, :]
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    group = a.get("group", 1)
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (x.shape[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (x.shape[3] - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, f, oh, ow))
    fg = f // group
    for g in range(group):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                y[:, g * fg:(g + 1) * fg] += np.einsum("nchw,fc->nfhw", patch, w[g * fg:(g + 1) * fg, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def conv_transpose(x, w, b, a):
    if x.ndim == 3:
        x2, a2, w2 = as_2d(x, a, w)
        return conv_transpose(x2, w2, b, a2)[:, :, 0, :]
    n, c, h, wd = x.shape
    _, f, kh, kw = w.shape
    sh, sw = a.get("strides", [1, 1])
    dh, dw = a.get("dilations", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    oph, opw = a.get("output_padding", [0, 0])
    fh, fw = (h - 1) * sh + (kh - 1) * dh + 1 + oph, (wd - 1) * sw + (kw - 1) * dw + 1 + opw
    y = np.zeros((n, f, fh, fw))
    for i in range(kh):
        for j in range(kw):
            contrib = np.einsum("nchw,cf->nfhw", x, w[:, :, i, j])
            y[:, :, i * dh:i * dh + (h - 1) * sh + 1:sh, j * dw:j * dw + (wd - 1) * sw + 1:sw] += contrib
    y = y[:, :, pt:fh - pb, pl:fw - pr]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y


def resize(x, scales, a, sizes=None):
    """Resize by scales, or to sizes (then the scale of an axis is out / in)."""
    out = x
    for axis in range(x.ndim):
        n_in = out.shape[axis]
        if sizes is not None and len(sizes):
            n_out = int(sizes[axis])
            s = n_out / n_in
        else:
            s = scales[axis]
            n_out = int(math.floor(n_in * s))
        if n_out == n_in and s == 1:
            continue
        o = np.arange(n_out)
        ct = a.get("coordinate_transformation_mode", "half_pixel")
        if a.get("mode", "nearest") == "nearest":
            nm = a.get("nearest_mode", "round_prefer_floor")
            if ct == "asymmetric" and nm == "floor":
                idx = np.floor(o / s)
            else:  # half-pixel rounding half up: floor((o + 0.5) / s)
                assert ct == "half_pixel" and nm == "round_prefer_ceil"
                idx = np.floor((o + 0.5) / s - 0.5 + 0.5)
            idx = np.clip(idx.astype(int), 0, n_in - 1)
            out = np.take(out, idx, axis=axis)
        else:
            assert ct == "half_pixel"
            src = np.clip((o + 0.5) / s - 0.5, 0, n_in - 1)
            i0 = np.floor(src).astype(int)
            i1 = np.minimum(i0 + 1, n_in - 1)
            l1 = src - i0
            shape = [1] * out.ndim
            shape[axis] = n_out
            l1 = l1.reshape(shape)
            out = np.take(out, i0, axis=axis) * (1 - l1) + np.take(out, i1, axis=axis) * l1
    return out


def pool(x, a, kind):
    if x.ndim == 3:
        x2, a2, _ = as_2d(x, a)
        return pool(x2, a2, kind)[:, :, 0, :]
    kh, kw = a["kernel_shape"]
    sh, sw = a.get("strides", [1, 1])
    pt, pl, pb, pr = a.get("pads", [0, 0, 0, 0])
    fill = -np.inf if kind == "max" else np.nan
    x = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)
    oh = (x.shape[2] - kh) // sh + 1
    ow = (x.shape[3] - kw) // sw + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else np.nanmean(win, axis=(2, 3))
    return y


def tree_ensemble(x, a):
    """ai.onnx.ml TreeEnsembleRegressor (BRANCH_LEQ and LEAF nodes; SUM or AVERAGE)."""
    node = {(t, n): k for k, (t, n) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"]))}
    leaf = {}
    for t, n, c, w in zip(a["target_treeids"], a["target_nodeids"], a["target_ids"], a["target_weights"]):
        leaf.setdefault((t, n), []).append((c, w))
    trees = sorted(set(a["nodes_treeids"]))
    y = np.zeros((x.shape[0], a["n_targets"]))
    for r in range(x.shape[0]):
        for t in trees:
            n = 0
            while a["nodes_modes"][node[(t, n)]] != "LEAF":
                k = node[(t, n)]
                assert a["nodes_modes"][k] == "BRANCH_LEQ", a["nodes_modes"][k]
                v = x[r, a["nodes_featureids"][k]]
                n = a["nodes_truenodeids"][k] if v <= a["nodes_values"][k] else a["nodes_falsenodeids"][k]
            for c, w in leaf.get((t, n), []):
                y[r, c] += w
    if a.get("aggregate_function", "SUM") == "AVERAGE":
        y /= len(trees)
    return y + np.array(a.get("base_values", [0.0] * a["n_targets"]))


def run(model, x):
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) if t.data_type == 1 else numpy_helper.to_array(t)
           for t in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for nd in model.graph.node:
        a = attrs(nd)
        i = [env[n] if n else None for n in nd.input]
        op = nd.op_type
        if op == "Gemm":
            A = i[0].T if a.get("transA", 0) else i[0]
            B = i[1].T if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * A @ B + (a.get("beta", 1.0) * i[2] if len(i) > 2 and i[2] is not None else 0)
        elif op == "MatMul": y = i[0] @ i[1]
        elif op == "Conv": y = conv(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "ConvTranspose": y = conv_transpose(i[0], i[1], i[2] if len(i) > 2 else None, a)
        elif op == "Resize": y = resize(i[0], i[2], a, i[3] if len(i) > 3 else None)
        elif op == "Tile": y = np.tile(i[0], tuple(int(r) for r in i[1]))
        elif op == "Slice":
            sl = [slice(None)] * i[0].ndim
            for st, en, ax in zip(i[1], i[2], i[3]):
                sl[int(ax)] = slice(int(st), int(en))
            y = i[0][tuple(sl)]
        elif op == "PRelu": y = np.where(i[0] > 0, i[0], i[1] * i[0])
        elif op in ("LSTM", "GRU", "RNN"):
            Y, Yh = recurrent(op, i[0], i[1], i[2], i[3] if len(i) > 3 else None, a)
            env[nd.output[0]] = Y
            y = Yh
            if len(nd.output) > 1:
                env[nd.output[1]] = Yh
            continue
        elif op == "TopK":  # the smallest (or largest) k along axis, ties in index order
            axis, k = a.get("axis", -1), int(np.asarray(i[1]).reshape(-1)[0])
            order = np.argsort(i[0] if a.get("largest", 1) == 0 else -i[0], axis=axis, kind="stable")
            idx = np.take(order, np.arange(k), axis=axis)
            env[nd.output[0]] = np.take_along_axis(i[0], idx, axis=axis)
            env[nd.output[1]] = idx
            continue
        elif op == "Gather": y = np.take(i[0], i[1].astype(np.int64), axis=a.get("axis", 0))
        elif op == "Cast": y = np.floor(i[0]).astype(np.int64) if a["to"] == 7 else i[0].astype(np.float64)
        elif op in ("ReduceMean", "ReduceMax", "ReduceSum", "ReduceProd", "ReduceSumSquare", "ReduceL2"):
            axes = tuple(int(v) for v in (a["axes"] if "axes" in a else i[1]))
            fn = {"ReduceMean": np.mean, "ReduceMax": np.max, "ReduceSum": np.sum, "ReduceProd": np.prod,
                  "ReduceSumSquare": lambda v, **k: np.sum(v * v, **k),
                  "ReduceL2": lambda v, **k: np.sqrt(np.sum(v * v, **k))}[op]
            y = fn(i[0], axis=axes, keepdims=bool(a.get("keepdims", 1)))
        elif op == "MaxPool": y = pool(i[0], a, "max")
        elif op == "AveragePool": y = pool(i[0], a, "avg")
        elif op == "GlobalAveragePool": y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "GlobalMaxPool": y = i[0].max(axis=(2, 3), keepdims=True)
        elif op == "BatchNormalization":
            shape = (1, -1) + (1,) * (i[0].ndim - 2)
            y = (i[0] - i[3].reshape(shape)) / np.sqrt(i[4].reshape(shape) + a.get("epsilon", 1e-5)) * \
                i[1].reshape(shape) + i[2].reshape(shape)
        elif op == "InstanceNormalization":  # each (sample, channel) over its positions
            axes = tuple(range(2, i[0].ndim))
            m = i[0].mean(axis=axes, keepdims=True)
            v = ((i[0] - m) ** 2).mean(axis=axes, keepdims=True)
            per = (1, -1) + (1,) * (i[0].ndim - 2)
            y = (i[0] - m) / np.sqrt(v + a.get("epsilon", 1e-5)) * i[1].reshape(per) + i[2].reshape(per)
        elif op == "Flatten": y = i[0].reshape(i[0].shape[0], -1)
        elif op == "Reshape":
            shape = [i[0].shape[k] if v == 0 else int(v) for k, v in enumerate(i[1])]
            y = i[0].reshape(shape)
        elif op == "Transpose": y = np.transpose(i[0], a["perm"])
        elif op == "Pad":
            p = [int(v) for v in i[1]]
            half = len(p) // 2
            y = np.pad(i[0], [(p[k], p[k + half]) for k in range(half)])
        elif op == "Identity": y = i[0]
        elif op in ("Add", "Sum"): y = sum(i)
        elif op == "Sub": y = i[0] - i[1]
        elif op == "Mul": y = i[0] * i[1]
        elif op == "Div": y = i[0] / i[1]
        elif op == "Mean": y = sum(i) / len(i)
        elif op == "Max": y = functools.reduce(np.maximum, i)  # (broadcasting, as ONNX's)
        elif op == "Min": y = functools.reduce(np.minimum, i)
        elif op == "Concat": y = np.concatenate(i, axis=a["axis"])
        elif op == "Shape": y = np.array(i[0].shape, dtype=np.int64)
        elif op == "Relu": y = np.maximum(i[0], 0)
        elif op == "Sigmoid": y = 1 / (1 + np.exp(-i[0]))
        elif op == "Tanh": y = np.tanh(i[0])
        elif op == "Softmax":
            z = np.exp(i[0] - i[0].max(axis=a.get("axis", -1), keepdims=True))
            y = z / z.sum(axis=a.get("axis", -1), keepdims=True)
        elif op == "LeakyRelu": y = np.where(i[0] > 0, i[0], a.get("alpha", 0.01) * i[0])
        elif op == "Elu": y = np.where(i[0] > 0, i[0], a.get("alpha", 1.0) * np.expm1(i[0]))
        elif op == "Selu":
            al, ga = a.get("alpha", 1.6732632423543772), a.get("gamma", 1.0507009873554805)
            y = ga * np.where(i[0] > 0, i[0], al * np.expm1(i[0]))
        elif op == "Softplus": y = np.logaddexp(0, i[0])
        elif op == "Softsign": y = i[0] / (1 + np.abs(i[0]))
        elif op == "HardSigmoid": y = np.clip(a.get("alpha", 0.2) * i[0] + a.get("beta", 0.5), 0, 1)
        elif op == "Clip": y = np.clip(i[0], i[1] if len(i) > 1 else -np.inf, i[2] if len(i) > 2 else np.inf)
        elif op == "Exp": y = np.exp(i[0])
        elif op == "IsNaN": y = np.isnan(i[0])
        elif op == "TreeEnsembleRegressor": y = tree_ensemble(i[0], a)
        elif op == "Greater": y = i[0] > i[1]
        elif op == "Equal": y = i[0] == i[1]
        elif op == "Abs": y = np.abs(i[0])
        elif op == "Pow": y = np.power(i[0], i[1])
        elif op == "ArgMax":
            y = np.argmax(i[0], axis=a.get("axis", 0))
            if a.get("keepdims", 1): y = np.expand_dims(y, a.get("axis", 0))
        elif op == "OneHot":
            depth, (off, on) = int(np.asarray(i[1]).reshape(-1)[0]), i[2]
            y = np.where(np.arange(depth) == i[0][..., None], on, off)
        elif op == "Where": y = np.where(i[0], i[1], i[2])
        elif op == "Sqrt": y = np.sqrt(i[0])
        elif op == "Erf": y = np.vectorize(math.erf)(i[0])
        else:
            raise SystemExit(f"onnx_eval.py: op {op} not known here")
        env[nd.output[0]] = y
    return env[model.graph.output[0].name]


def main():
    model = onnx.load(sys.argv[1])
    onnx.checker.check_model(model, full_check=True)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    rows = [[float(v) for v in line.split()] for line in open(sys.argv[2]) if line.strip()]
    x = np.array(rows, dtype=np.float64).reshape([len(rows)] + dims)
    y = run(model, x).reshape(len(rows), -1)
    for r in y:
        print(" ".join(f"{v:.9g}" for v in r))


main()
