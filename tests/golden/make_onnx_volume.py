"""3-D ONNX models and golden outputs for tests/test_onnx_volume.c: small PyTorch networks over
volumes (N, C, D, H, W) with seeded random weights (and batch-norm statistics), exported by
torch.onnx.export (opset 13) to tests/data/onnx/volume_<case>.onnx, and PyTorch's outputs for
fixed inputs. kiln imports each file as its volume layers (kn_model_import_onnx) and must
predict what PyTorch computed.

Cases:
  volume_cnn      (2, 6, 8, 7) volumes: Conv3d 4 3x3x3 padding 1 (Keras's 'same'), ReLU,
                  BatchNorm3d (not folded: the ReLU is between), MaxPool3d 2, Conv3d 6 3x3x3
                  stride 2 (valid), AdaptiveAvgPool3d(1) (GlobalAveragePool), Flatten, Linear
                  6 -> 3, Softmax
  volume_up       (3, 3, 4, 5) volumes: Conv3d 4 (2, 3, 2) padding 1 (pads Keras's 'same' does
                  not give: kiln adds zero_padding3d before a 'valid' conv3d), ReLU, Upsample
                  nearest x2 (Resize asymmetric floor), a crop x[:, :, 1:, :-1, 2:] (Slice),
                  MaxPool3d 3 stride 2 padding 1 (over values of no sign: zero_padding3d, then
                  'valid'), AvgPool3d 2 stride (1, 2, 2) padding 1 (PyTorch writes a Pad of
                  zeros, then AveragePool: zero_padding3d, average_pool3d), Tanh, Flatten (4
                  channels: kiln reorders the next weights from (c, d, y, x) to (d, y, x, c)),
                  Linear 180 -> 5
  volume_ndhwc    built with onnx.helper (opset 13), (4, 5, 6, 2) volumes in (N, D, H, W, C) order
                  as tf2onnx writes Keras's: Transpose to (N, C, D, H, W), Conv 3 (3, 3, 2)
                  auto_pad SAME_UPPER strides (1, 2, 1), Relu, AveragePool 2 pads (1, 0, 1, 0, 1,
                  1) count_include_pad 1, Transpose back, Slice of D and W (axes 1, 3), Pad of
                  (N, D, H, W, C) with negative pads (a crop) beside positive ones, Flatten (kiln's
                  order: no reordering), Gemm 72 -> 3; PyTorch computes the outputs
  volume_upsample built with onnx.helper (opset 9): (2, 2, 3, 2) volumes, Upsample nearest by
                  (2, 1, 3), ReduceMax over D, H, W (keepdims 0), Gemm 2 -> 3
  volume_deconv   (2, 2, 3, 2) volumes: ConvTranspose3d 3 3x3x3 stride 2 padding 1
                  output_padding 1 (conv3d_transpose 'valid' then a cropping3d of the pads),
                  ReLU, ConvTranspose3d 2 (2, 3, 2) stride (1, 2, 1) dilation (2, 1, 1),
                  Flatten, Linear 780 -> 3 (written last, so the cases above keep their draws)
  volume_refused_grouped    a Conv3d of groups 2 (kiln's conv3d has groups 1): no outputs
  volume_refused_trilinear  Upsample trilinear (kiln's up_sampling3d is nearest): no outputs

Run with a Python that has torch and onnx (1.13 and 1.12 were used):
    /usr/bin/python3 tests/golden/make_onnx_volume.py > tests/golden/onnx_volume.txt

Format (tests/golden.h): '<case>.x' (N rows of the input in PyTorch's NCDHW layout) and
'<case>.y' (N rows of outputs), float32 values printed to 9 digits."""
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import helper, numpy_helper

torch.manual_seed(17)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "onnx")
N = 3


def randomize(net):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv3d)):
                m.weight.copy_(torch.randn_like(m.weight) * (1.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn_like(m.bias) * 0.3)
            if isinstance(m, nn.BatchNorm3d):
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
                m.running_mean.copy_(0.3 * torch.randn_like(m.running_mean))
                m.running_var.copy_(0.5 + torch.rand_like(m.running_var))
    return net.eval()


def export(name, net, shape):
    torch.onnx.export(net, torch.randn(1, *shape), os.path.join(OUT, name + ".onnx"), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)


def emit(name, x, y):
    for what, t in (("x", x), ("y", y)):
        print(f"{name}.{what} " + " ".join(f"{v:.9g}" for v in t.flatten().tolist()))


def save(name, nodes, shape, outs, inits, opset):
    """nodes (input "x" of (batch, *shape), output "y" of (batch, outs)) as <name>.onnx."""
    inits = [numpy_helper.from_array(v.numpy().astype(np.float32) if isinstance(v, torch.Tensor) else v, k)
             for k, v in inits.items()]
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", *shape])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", outs])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset >= 13 else 4
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))


def ndhwc_case():
    x = torch.randn(N, 4, 5, 6, 2)
    W, B = torch.randn(3, 2, 3, 3, 2) * 0.3, torch.randn(3) * 0.3
    W2, B2 = torch.randn(3, 72) * 0.15, torch.randn(3) * 0.3
    h = torch.relu(F.conv3d(F.pad(x.permute(0, 4, 1, 2, 3), (0, 1, 1, 1, 1, 1)), W, B, stride=(1, 2, 1)))
    h = F.avg_pool3d(F.pad(h, (1, 1, 0, 1, 1, 0)), 2, 1)  # (the pads' zeros counted)
    h = h.permute(0, 2, 3, 4, 1)[:, 1:, :, 2:-1, :]
    h = F.pad(h, (0, 0, 0, -1, -1, 0, 1, 0))  # D +1 in front, H -1 in front, W -1 at the end
    y = h.flatten(1) @ W2.T + B2
    i64 = lambda v: np.array(v, dtype=np.int64)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t0"], perm=[0, 4, 1, 2, 3]),
        helper.make_node("Conv", ["t0", "W", "B"], ["c"], auto_pad="SAME_UPPER", strides=[1, 2, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("AveragePool", ["r"], ["a"], kernel_shape=[2, 2, 2], pads=[1, 0, 1, 0, 1, 1], count_include_pad=1),
        helper.make_node("Transpose", ["a"], ["t1"], perm=[0, 2, 3, 4, 1]),
        helper.make_node("Slice", ["t1", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Pad", ["s", "pads"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "W2", "B2"], ["y"], transB=1),
    ]
    save("volume_ndhwc", nodes, (4, 5, 6, 2), 3, {"W": W, "B": B, "W2": W2, "B2": B2, "starts": i64([1, 2]),
         "ends": i64([100, -1]), "axes": i64([1, 3]), "pads": i64([0, 1, -1, 0, 0, 0, 0, 0, -1, 0])}, 13)
    emit("volume_ndhwc", x, y)


def upsample_case():
    x = torch.randn(N, 2, 2, 3, 2)
    W, B = torch.randn(3, 2), torch.randn(3) * 0.3
    y = x.repeat_interleave(2, dim=2).repeat_interleave(3, dim=4).amax(dim=(2, 3, 4)) @ W.T + B
    nodes = [
        helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest"),
        helper.make_node("ReduceMax", ["u"], ["m"], axes=[2, 3, 4], keepdims=0),
        helper.make_node("Gemm", ["m", "W", "B"], ["y"], transB=1),
    ]
    save("volume_upsample", nodes, (2, 2, 3, 2), 3,
         {"W": W, "B": B, "scales": np.array([1, 1, 2, 1, 3], dtype=np.float32)}, 9)
    emit("volume_upsample", x, y)


def case(name, net, shape):
    """net (randomized) exported to <name>.onnx, and N random rows of shape with its outputs printed."""
    net = randomize(net)
    x = torch.randn(N, *shape)
    with torch.no_grad():
        y = net(x)
    export(name, net, shape)
    emit(name, x, y)


class Crop(nn.Module):
    def forward(self, x):
        return x[:, :, 1:, :-1, 2:]


os.makedirs(OUT, exist_ok=True)
case("volume_cnn", nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.ReLU(), nn.BatchNorm3d(4), nn.MaxPool3d(2),
                                 nn.Conv3d(4, 6, 3, stride=2), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(6, 3),
                                 nn.Softmax(dim=1)), (2, 6, 8, 7))
# (3, 3, 4, 5) -> conv (4, 4, 4, 6) -> up (8, 8, 12) -> crop (7, 7, 10) -> max 3 s2 p1 (4, 4, 5)
# -> avg 2 s(1, 2, 2) p1 (5, 3, 3): 4 x 45 = 180 features
case("volume_up", nn.Sequential(nn.Conv3d(3, 4, (2, 3, 2), padding=1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
                                Crop(), nn.MaxPool3d(3, stride=2, padding=1), nn.AvgPool3d(2, stride=(1, 2, 2), padding=1),
                                nn.Tanh(), nn.Flatten(), nn.Linear(180, 5)), (3, 3, 4, 5))
ndhwc_case()
upsample_case()
export("volume_refused_grouped", randomize(nn.Sequential(nn.Conv3d(4, 4, 3, groups=2), nn.Flatten())), (4, 3, 3, 3))
export("volume_refused_trilinear",
       randomize(nn.Sequential(nn.Conv3d(2, 2, 1), nn.Upsample(scale_factor=2, mode="trilinear"), nn.Flatten())),
       (2, 2, 2, 2))
# (2, 2, 3, 2) -> ConvTranspose3d 3 k3 s2 p1 op1 (4, 6, 4) -> ReLU -> ConvTranspose3d 2 (2, 3, 2)
# s (1, 2, 1) dilation (2, 1, 1) (6, 13, 5): 2 x 390 = 780 features (last: the cases above keep
# their random draws)
case("volume_deconv", nn.Sequential(nn.ConvTranspose3d(2, 3, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                                    nn.ConvTranspose3d(3, 2, (2, 3, 2), stride=(1, 2, 1), dilation=(2, 1, 1)),
                                    nn.Flatten(), nn.Linear(780, 3)), (2, 2, 3, 2))
