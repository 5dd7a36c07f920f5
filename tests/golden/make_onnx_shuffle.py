"""ShuffleNet ONNX models and golden outputs for tests/test_onnx_shuffle.c: a small ShuffleNet-v2
network in plain torch (torchvision's ShuffleNetV2 in miniature, seeded random weights and
batch-norm statistics), exported by torch.onnx.export (opset 13) to
tests/data/onnx/shufflenet.onnx, one written with onnx.helper, and the outputs for fixed
inputs. kiln imports each file (kn_model_import_onnx) and must predict what PyTorch computed.

Cases:
  shufflenet  (3, 16, 16) images: Conv 8 3x3 stride 2 padding 1, BN, ReLU, MaxPool 3 stride 2
              padding 1 (the stem); a unit of stride 2 (branch 1: depthwise 3x3 stride 2, BN,
              Conv 1x1, BN, ReLU; branch 2: Conv 1x1, BN, ReLU, depthwise 3x3 stride 2, BN,
              Conv 1x1, BN, ReLU; concatenated) and two of stride 1 (x.chunk(2, dim=1): two
              Slices of the channels, their bounds computed from x's shape; and torch.split
              by constant sizes: one Split; branch 2 on the second half, concatenated with the first), each ending
              in the channel shuffle of 2 groups: torchvision's (sizes from x.size(), so the
              Reshapes' shapes are computed: Shape, Gather, Div, Concat) in the first two units,
              the third's with constant shapes (-1, 2, 8, 2, 2); Conv 1x1 32, BN, ReLU, mean over
              H and W, Linear 32 -> 5. Exported with a dynamic batch.
  shuffle_g3  built with onnx.helper: (12, 2, 3) images, Reshape to (0, 3, 4, 2, 3) (constant:
              3 groups of 4), Transpose (0, 2, 1, 3, 4), Reshape to (0, -1, 2, 3), a Slice of
              channels 2 .. 10 (runs of 2), Relu, Flatten, Gemm 48 -> 3; numpy computes the
              outputs (G != C / G, so a shuffle read the wrong way round shows)
  shuffle_refused_perm    a 5-D view transposed by (0, 1, 2, 4, 3): refused naming the Transpose
  shuffle_refused_groups  a view of 6 channels as (0, 4, -1, 2, 2): refused naming the Reshape

Run with a Python that has torch and onnx (1.13 and 1.12 were used):
    /usr/bin/python3 tests/golden/make_onnx_shuffle.py > tests/golden/onnx_shuffle.txt

Format (tests/golden.h): '<case>.x' (N rows of the input in PyTorch's NCHW layout) and
'<case>.y' (N rows of outputs), float32 values printed to 9 digits."""
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import helper, numpy_helper

torch.manual_seed(23)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "onnx")
N = 3


def channel_shuffle(x, groups):
    """torchvision's: sizes read from x, so the exported Reshapes compute their shapes."""
    batch, channels, height, width = x.size()
    x = x.view(batch, groups, channels // groups, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batch, -1, height, width)


def conv_bn(cin, cout, k, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + [nn.ReLU()] if relu else layers


class Unit(nn.Module):
    """ShuffleNet v2's inverted residual: split (stride 1, by chunk or split) or both branches
    over x (stride 2), concatenated, then the channel shuffle of 2 groups."""

    def __init__(self, cin, cout, stride, split="chunk", fixed=None):
        super().__init__()
        self.stride, self.split, self.fixed = stride, split, fixed
        self.half = half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(*conv_bn(cin, cin, 3, stride, groups=cin, relu=False), *conv_bn(cin, half, 1))
        self.branch2 = nn.Sequential(*conv_bn(cin if stride > 1 else half, half, 1),
                                     *conv_bn(half, half, 3, stride, groups=half, relu=False), *conv_bn(half, half, 1))

    def forward(self, x):
        if self.stride > 1:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        else:
            x1, x2 = x.chunk(2, dim=1) if self.split == "chunk" else torch.split(x, [self.half] * 2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        if self.fixed:  # (constant shapes: the batch -1, the rest Python ints)
            c, h, w = self.fixed
            return out.reshape(-1, 2, c // 2, h, w).transpose(1, 2).reshape(-1, c, h, w)
        return channel_shuffle(out, 2)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 8, 3, 2), nn.MaxPool2d(3, 2, 1))
        self.units = nn.Sequential(Unit(8, 16, 2), Unit(16, 16, 1, "chunk"), Unit(16, 16, 1, "split", (16, 2, 2)))
        self.head = nn.Sequential(*conv_bn(16, 32, 1))
        self.fc = nn.Linear(32, 5)

    def forward(self, x):
        return self.fc(self.head(self.units(self.stem(x))).mean([2, 3]))


def randomize(net):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.copy_(torch.randn_like(m.weight) * (1.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn_like(m.bias) * 0.3)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
                m.running_mean.copy_(0.3 * torch.randn_like(m.running_mean))
                m.running_var.copy_(0.5 + torch.rand_like(m.running_var))
    return net.eval()


def emit(name, x, y):
    for what, t in (("x", x), ("y", y)):
        print(f"{name}.{what} " + " ".join(f"{v:.9g}" for v in np.asarray(t, dtype=np.float32).flatten().tolist()))


def save(name, nodes, shape, outs, inits):
    """nodes (input "x" of (batch, *shape), output "y" of (batch, outs)) as <name>.onnx, opset 13."""
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", *shape])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", outs])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))


def shuffle_nodes(view, perm, back):
    """Reshape x to `view`, Transpose by perm, Reshape to `back`: nodes and their constants."""
    nodes = [helper.make_node("Reshape", ["x", "view"], ["v"], name="view"),
             helper.make_node("Transpose", ["v"], ["t"], perm=perm, name="shuffle"),
             helper.make_node("Reshape", ["t", "back"], ["s"], name="back")]
    return nodes, {"view": np.array(view, dtype=np.int64), "back": np.array(back, dtype=np.int64)}


def g3_case():
    x = np.random.RandomState(3).randn(N, 12, 2, 3).astype(np.float32)
    W, B = (np.random.RandomState(4).randn(3, 48) * 0.2).astype(np.float32), np.float32([0.1, -0.2, 0.3])
    # input channel g * 4 + k goes to k * 3 + g
    s = x.reshape(N, 3, 4, 2, 3).transpose(0, 2, 1, 3, 4).reshape(N, 12, 2, 3)[:, 2:10]
    y = np.maximum(s, 0).reshape(N, -1).astype(np.float64) @ W.T.astype(np.float64) + B
    nodes, inits = shuffle_nodes([0, 3, 4, 2, 3], [0, 2, 1, 3, 4], [0, -1, 2, 3])
    nodes += [helper.make_node("Slice", ["s", "starts", "ends", "axes"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
              helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("Gemm", ["f", "W", "B"], ["y"], transB=1)]
    inits.update({"starts": np.array([2], dtype=np.int64), "ends": np.array([10], dtype=np.int64),
                  "axes": np.array([1], dtype=np.int64), "W": W, "B": B})
    save("shuffle_g3", nodes, (12, 2, 3), 3, inits)
    emit("shuffle_g3", x, y)


def refused(name, c, view, perm):
    """A malformed shuffle of (c, 2, 2) images, then Flatten and Gemm to 2 outputs (no goldens)."""
    nodes, inits = shuffle_nodes(view, perm, [0, c, 2, 2])
    nodes += [helper.make_node("Flatten", ["s"], ["f"]), helper.make_node("Gemm", ["f", "W"], ["y"], transB=1)]
    inits["W"] = np.ones((2, 4 * c), dtype=np.float32)
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", c, 2, 2])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 2])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.save(model, os.path.join(OUT, name + ".onnx"))  # (groups: not a valid model; the checker is not asked)


os.makedirs(OUT, exist_ok=True)
net = randomize(ShuffleNet())
x = torch.randn(N, 3, 16, 16)
with torch.no_grad():
    y = net(x)
torch.onnx.export(net, torch.randn(1, 3, 16, 16), os.path.join(OUT, "shufflenet.onnx"), input_names=["x"],
                  output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
emit("shufflenet", x, y)
g3_case()
refused("shuffle_refused_perm", 8, [0, 2, 4, 2, 2], [0, 1, 2, 4, 3])
refused("shuffle_refused_groups", 6, [0, 4, -1, 2, 2], [0, 2, 1, 3, 4])
