"""ONNX models with Resize to sizes that are not whole factors, and golden outputs, for
tests/test_onnx.c (kiln imports them as resizing layers):

  resize_torch   PyTorch's export of (2, 9, 7) images: Conv 3x3 -> 3, F.interpolate(size=(5,
                 11), mode="bilinear", align_corners=False), Tanh, F.interpolate(size=(4, 4),
                 bilinear), Flatten, Linear 48 -> 3. torch.onnx.export writes each Resize's
                 sizes as Shape -> Slice -> Concat (the batch and channels, then the size);
                 linear, half_pixel.
  resize_nearest built with onnx.helper (PyTorch 1.13 does not export "nearest-exact"),
                 (2, 8, 6) images: Resize scales (0.75, 1.5) nearest, half_pixel,
                 round_prefer_ceil; Resize scales (0.5, 1/3) linear, pytorch_half_pixel;
                 Resize scales (4/3, 4/3) nearest, tf_half_pixel_for_nn, floor; Flatten, Gemm
                 32 -> 3. Each is floor((o + 0.5) in / out) (nearest) or half-pixel linear with
                 the scale in / out, so its golden outputs are PyTorch's F.interpolate(size=...)
                 with mode="nearest-exact" and "bilinear".
  resize_refused_floor, resize_refused_one, resize_refused_scale: Resizes kiln refuses (no
                 outputs): nearest asymmetric floor by 0.5 (floor(o in / out), not kiln's
                 half-pixel nearest), pytorch_half_pixel linear to an output side of 1 (it reads
                 cell 0, kiln's half-pixel the middle), and a scale of 0.7 on 8 rows (5.6 rows:
                 ONNX's 1 / scale is not in / out).

Run with a Python that has torch and onnx (1.13 and 1.12 were used):
    /usr/bin/python3 tests/golden/make_onnx_resize.py > tests/golden/onnx_resize.txt

Format (tests/golden.h): '<case>.x' (N rows of the model's input, PyTorch's NCHW layout) and
'<case>.y' (N rows of outputs), float32 values printed to 9 digits."""
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

torch.manual_seed(11)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "onnx")
N = 4


def emit(name, x, y):
    for what, t in (("x", x), ("y", y)):
        print(f"{name}.{what} " + " ".join(f"{v:.9g}" for v in t.flatten().tolist()))


class TorchResize(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(48, 3)

    def forward(self, x):
        h = F.interpolate(self.conv(x), size=(5, 11), mode="bilinear", align_corners=False)
        h = F.interpolate(torch.tanh(h), size=(4, 4), mode="bilinear", align_corners=False)
        return self.fc(h.flatten(1))


def torch_case():
    net = TorchResize().eval()
    x = torch.randn(N, 2, 9, 7)
    with torch.no_grad():
        y = net(x)
    torch.onnx.export(net, x[:1], os.path.join(OUT, "resize_torch.onnx"), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
    emit("resize_torch", x, y)


def helper_case():
    x = torch.randn(N, 2, 8, 6)
    W = torch.randn(3, 32) * 0.3
    B = torch.randn(3) * 0.1
    h = F.interpolate(x, size=(6, 9), mode="nearest-exact")
    h = F.interpolate(h, size=(3, 3), mode="bilinear", align_corners=False)
    h = F.interpolate(h, size=(4, 4), mode="nearest-exact")
    y = h.flatten(1) @ W.T + B
    f32 = np.float32
    inits = [numpy_helper.from_array(np.array(v, dtype=f32), name) for name, v in (
        ("s1", [1, 1, 0.75, 1.5]), ("s2", [1, 1, 0.5, 1 / 3]), ("s3", [1, 1, 4 / 3, 4 / 3]))]
    inits += [numpy_helper.from_array(W.numpy().astype(f32), "W"), numpy_helper.from_array(B.numpy().astype(f32), "B")]
    nodes = [
        helper.make_node("Resize", ["x", "", "s1"], ["r1"], mode="nearest", coordinate_transformation_mode="half_pixel",
                         nearest_mode="round_prefer_ceil"),
        helper.make_node("Resize", ["r1", "", "s2"], ["r2"], mode="linear",
                         coordinate_transformation_mode="pytorch_half_pixel"),
        helper.make_node("Resize", ["r2", "", "s3"], ["r3"], mode="nearest",
                         coordinate_transformation_mode="tf_half_pixel_for_nn", nearest_mode="floor"),
        helper.make_node("Flatten", ["r3"], ["f"]),
        helper.make_node("Gemm", ["f", "W", "B"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "resize_nearest",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 2, 8, 6])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "resize_nearest.onnx"))
    emit("resize_nearest", x, y)


def refused(name, scales, **attrs):
    """(1, 1, 8, 6) -> Resize(scales) -> y, written as <name>.onnx (kiln refuses it)."""
    node = helper.make_node("Resize", ["x", "", "s"], ["y"], **attrs)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 1, 8, 6])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 1, "h", "w"])],
                              [numpy_helper.from_array(np.array(scales, dtype=np.float32), "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))


os.makedirs(OUT, exist_ok=True)
torch_case()
helper_case()
refused("resize_refused_floor", [1, 1, 0.5, 0.5], mode="nearest", coordinate_transformation_mode="asymmetric",
        nearest_mode="floor")
refused("resize_refused_one", [1, 1, 0.125, 0.5], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
refused("resize_refused_scale", [1, 1, 0.7, 0.5], mode="linear", coordinate_transformation_mode="half_pixel")
