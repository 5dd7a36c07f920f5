"""ONNX models and golden outputs for tests/test_onnx.c: small PyTorch models with seeded
random weights (and batch-norm statistics), exported by torch.onnx.export to
tests/data/onnx/<case>.onnx, and PyTorch's outputs for fixed inputs. kiln imports each file
(kn_model_import_onnx) and must predict what PyTorch computed.

Cases:
  mlp       Flatten, Linear 64 -> 32, ReLU, Linear 32 -> 16, ReLU, Linear 16 -> 10, Softmax
            on (1, 8, 8) images (the reference MLP's shape, smaller)
  cnn       (3, 12, 10) images: Conv 8 3x3 pad 1, ReLU, MaxPool 2, Conv 16 3x3 stride 2 pad 1
            (pads Keras's 'same' does not give: kiln adds zero padding), ReLU, BatchNorm,
            depthwise Conv 3x3 pad 1 (groups 16), Conv 1x1 -> 8, ReLU6 (Clip), Dropout,
            Flatten (3 channels x 3 x 3: kiln reorders the next weights), Linear 72 -> 5
            (logits: kiln's loss then mse, its output the logits)
  acts      (6) features through Linear 8 layers with LeakyReLU 0.1, ELU, Hardswish, SiLU
            (exported as x * Sigmoid(x)), Tanh, Softplus, SELU, Hardsigmoid, then Linear
            8 -> 3, Sigmoid
  gap       (2, 9, 9) images: Conv 6 3x3 'same', ELU, AvgPool 2 (4x4), Conv 6 3x3 pad 1,
            BatchNorm, GlobalAveragePool, Flatten, Linear 6 -> 4, Softmax
  residual  (4) features: relu(Linear 4 -> 4 (x)) + x
  branches  (3, 8, 8) images: relu(Conv 8 3x3 (x)) and Conv 8 1x1 (x) concatenated on the
            channels, r = relu(Conv 16 3x3 (that) + that), g = sigmoid(Conv 16 1x1 (r)),
            MaxPool 2 of r * g - max(r, g), Flatten, Linear 256 -> 4
  nhwc      (5, 6, 3) images in (H, W, C) order, as tf2onnx exports Keras's models: x / 4 -
            0.5, Transpose to NCHW, Conv 4 3x3 pad 1, ReLU, Transpose back, Flatten (in (y,
            x, c) order: kiln's own), * 2, Linear 120 -> 3
  generator (4, 3, 5) images: ConvTranspose 3 3x3 stride 2 padding 1 output_padding 1,
            PReLU(3), nearest upsampling x2, a crop x[:, :, 1:-1, 2:], Conv 2 3x3, PReLU(),
            bilinear upsampling (1, 2), Flatten, Linear 512 -> 3
  resnet    (3, 20, 18) images: torchvision's ResNet stem (Conv 7x7 stride 2 padding 3, BN,
            ReLU, MaxPool 3x3 stride 2 padding 1) and a basic block with its identity add,
            global average pool, Linear 8 -> 5
  lstm_tokens, bigru, rnn_gru_state, bilstm_state, textcnn, step_dense, raw_conv1d
            sequence models (their classes below say what each holds): token ids through
            embeddings, LSTM, GRU and RNN layers (bidirectional too), 1-D convolutions
  gelu_mish (5) features: Linear, GELU, Linear, Mish, Linear (activations in several nodes)
  ln_pos, ln_pos17, deconv1d, shared_conv: a position table and LayerNorm (opsets 13, 17),
            ConvTranspose1d, a convolution read twice through Transposes (classes below)
  mha, encoder, cross_attention, transformer
            attention: nn.MultiheadAttention, TransformerEncoderLayer under a causal mask,
            cross-attention with kdim and vdim, an encoder layer feeding a decoder layer
            (classes below); attention_weights and odd_mask are refused (no goldens)
  group_norms, instance_seq
            GroupNorm (images, a whole sample, features) and InstanceNorm over images and
            sequences: kiln's group_normalization (classes below)
  depthwise_seq, grouped_seq
            Conv1d of groups C (depthwise) and of other group counts (classes below)
  hand_attention
            attention written by hand over values of the graph: kiln's attention layer
  normalize F.normalize over channels and features: unit_normalization (class below)

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_onnx.py > tests/golden/onnx.txt

Format (tests/golden.h): 'name v1 v2 ...'; per case '<case>.x' (the inputs, in PyTorch's
layout, N rows) and '<case>.y' (N rows of outputs), float32 values printed to 9 digits."""
import os
import torch
import torch.nn as nn

torch.manual_seed(5)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "onnx")
N = 4


def randomize(net):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d)):
                m.weight.copy_(torch.randn_like(m.weight) * (1.0 / m.weight[0].numel()) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn_like(m.bias) * 0.3)
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
                m.running_mean.copy_(0.3 * torch.randn_like(m.running_mean))
                m.running_var.copy_(0.5 + torch.rand_like(m.running_var))
    return net.eval()


def randomize_seq(net):
    """randomize() and the recurrent layers' weights (scaled down: their states stay unsaturated)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN)):
                for p in m.parameters():
                    p.copy_(torch.randn_like(p) * 0.4)
    return randomize(net)


def case(name, net, shape, tokens=0):
    """net (randomized) exported to <name>.onnx, and its inputs and outputs printed: N random
    rows of shape, or of token ids below `tokens`."""
    net = randomize_seq(net)
    x = torch.randint(0, tokens, (N, *shape)) if tokens else torch.randn(N, *shape)
    with torch.no_grad():
        y = net(x)
    torch.onnx.export(net, x[:1], os.path.join(OUT, name + ".onnx"), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
    for what, t in (("x", x), ("y", y)):
        print(f"{name}.{what} " + " ".join(f"{v:.9g}" for v in t.flatten().tolist()))


os.makedirs(OUT, exist_ok=True)
case("mlp", nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10),
                          nn.Softmax(dim=1)), (1, 8, 8))
case("cnn", nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.BatchNorm2d(16),
                          nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.Conv2d(16, 8, 1), nn.ReLU6(), nn.Dropout(0.3),
                          nn.Flatten(), nn.Linear(72, 5)), (3, 12, 10))
case("acts", nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.1), nn.Linear(8, 8), nn.ELU(), nn.Linear(8, 8), nn.Hardswish(),
                           nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Softplus(),
                           nn.Linear(8, 8), nn.SELU(), nn.Linear(8, 8), nn.Hardsigmoid(), nn.Linear(8, 3), nn.Sigmoid()),
     (6,))
case("gap", nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.ELU(), nn.AvgPool2d(2), nn.Conv2d(6, 6, 3, padding=1),
                          nn.BatchNorm2d(6), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4), nn.Softmax(dim=1)),
     (2, 9, 9))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.relu(self.fc(x)) + x


class Branches(nn.Module):
    """Two branches concatenated on the channels, a residual add, a sigmoid gate, and
    x * g - max(x, g): kiln's concatenate, add, multiply, maximum and subtract layers."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(3, 8, 1)
        self.c, self.d = nn.Conv2d(16, 16, 3, padding=1), nn.Conv2d(16, 16, 1)
        self.fc = nn.Linear(16 * 4 * 4, 4)

    def forward(self, x):
        cat = torch.cat([torch.relu(self.a(x)), self.b(x)], 1)
        r = torch.relu(self.c(cat) + cat)
        g = torch.sigmoid(self.d(r))
        y = nn.functional.max_pool2d(r * g - torch.maximum(r, g), 2)
        return self.fc(torch.flatten(y, 1))


class Nhwc(nn.Module):
    """A Keras-style model as tf2onnx exports one: an (N, H, W, C) input transposed to NCHW
    for the convolution and back before the flatten, and scaling by constants."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(5 * 6 * 4, 3)

    def forward(self, x):
        h = torch.relu(self.conv((x / 4.0 - 0.5).permute(0, 3, 1, 2)))
        return self.fc(torch.flatten(h.permute(0, 2, 3, 1), 1) * 2.0)


class Generator(nn.Module):
    """A decoder's layers: ConvTranspose (stride 2, padding 1, output_padding 1), PReLU per
    channel and shared, nearest and bilinear upsampling, a crop by slicing."""

    def __init__(self):
        super().__init__()
        self.up1 = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.act1 = nn.PReLU(3)
        self.conv = nn.Conv2d(3, 2, 3)
        self.act2 = nn.PReLU()
        self.fc = nn.Linear(2 * 8 * 32, 3)

    def forward(self, x):
        h = nn.functional.interpolate(self.act1(self.up1(x)), scale_factor=2, mode="nearest")
        h = self.act2(self.conv(h[:, :, 1:-1, 2:]))
        h = nn.functional.interpolate(h, scale_factor=(1, 2), mode="bilinear", align_corners=False)
        return self.fc(torch.flatten(h, 1))


class ResNetStem(nn.Module):
    """torchvision's ResNet stem and a basic block, smaller: Conv 7x7 stride 2 padding 3, BN,
    ReLU, MaxPool 3x3 stride 2 padding 1 (pads no 'same' gives: zeros pad a relu's output as
    -inf would), then conv-BN-relu-conv-BN + identity, relu, global average pool, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv3, self.bn3 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        y = self.bn3(self.conv3(torch.relu(self.bn2(self.conv2(x)))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(y + x), 1), 1))


class TwoOutputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 2)

    def forward(self, x):
        return self.a(x), self.b(x)


class Abs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(torch.abs(x))


case("residual", Residual(), (4,))
case("branches", Branches(), (3, 8, 8))
case("nhwc", Nhwc(), (5, 6, 3))
case("generator", Generator(), (4, 3, 5))
case("resnet", ResNetStem(), (3, 20, 18))

# Graphs kiln refuses (tests/test_onnx.c checks the messages): two outputs, and an op kiln
# does not import.
for name, net in (("two_outputs", TwoOutputs()), ("abs", Abs())):
    torch.onnx.export(net.eval(), torch.randn(1, 4), os.path.join(OUT, name + ".onnx"), input_names=["x"],
                      output_names=["y", "z"][:2 if name == "two_outputs" else 1], opset_version=13)


# Sequence models (onnx_import_seq.c): token ids through embeddings, recurrent layers,
# 1-D convolutions. Their inputs: ids (N, L) as integers, or floats (N, L, C) / (N, C, L).
class LstmTokens(nn.Module):
    """Embedding 30x8, an LSTM 16 returning its sequence into another LSTM 12, the last
    step (y[:, -1]: kiln's return_sequences false), Linear 12 -> 4, Softmax."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8)
        self.a, self.b = nn.LSTM(8, 16, batch_first=True), nn.LSTM(16, 12, batch_first=True)
        self.fc = nn.Linear(12, 4)

    def forward(self, x):
        y, _ = self.a(self.emb(x))
        y, _ = self.b(y)
        return torch.softmax(self.fc(y[:, -1, :]), 1)


class BiGru(nn.Module):
    """A bidirectional GRU 10 over (N, 7, 6): its output at the last step (the forward's
    last, the backward's first: a cropping1d of kiln's sequence), Linear 20 -> 3."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(6, 10, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(20, 3)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.fc(y[:, -1, :])


class RnnGruState(nn.Module):
    """A ReLU RNN 9 returning its sequence, a GRU 7's final state h_n[-1], Linear 7 -> 2."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(5, 9, batch_first=True, nonlinearity="relu")
        self.gru = nn.GRU(9, 7, batch_first=True)
        self.fc = nn.Linear(7, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        _, h = self.gru(y)
        return self.fc(h[-1])


class BiLstmState(nn.Module):
    """A bidirectional LSTM 8's two final states concatenated (torch.cat((h[0], h[1]), 1),
    Keras's Bidirectional without sequences), Linear 16 -> 3, Sigmoid."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 8, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return torch.sigmoid(self.fc(torch.cat((h[0], h[1]), 1)))


class TextCnn(nn.Module):
    """Embedding 40x6 permuted to (N, C, L), Conv1d 8 k3 pad 1, ReLU, MaxPool1d 2, Conv1d 8
    k3 dilation 2 (valid), BatchNorm1d (folded by the export), ReLU, max over the steps,
    Linear 8 -> 3."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 6)
        self.c1, self.c2 = nn.Conv1d(6, 8, 3, padding=1), nn.Conv1d(8, 8, 3, dilation=2)
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        h = nn.functional.max_pool1d(torch.relu(self.c1(self.emb(x).permute(0, 2, 1))), 2)
        h = torch.relu(self.bn(self.c2(h)))
        return self.fc(torch.max(h, dim=2)[0])


class StepDense(nn.Module):
    """A Linear 4 -> 6 at every step of (N, 5, 4) (kiln's time_distributed), Tanh, the
    mean over the steps, Linear 6 -> 2."""

    def __init__(self):
        super().__init__()
        self.step, self.fc = nn.Linear(4, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(torch.tanh(self.step(x)).mean(dim=1))


class RawConv1d(nn.Module):
    """(N, 3, 10) read channels first: Conv1d 4 k3 stride 2 pad 1 (Keras's 'same' pads (0, 1)
    here: kiln adds a zero_padding1d), ReLU, AvgPool1d 2, Flatten of (C, L) (kiln reorders
    the next weights), Linear 8 -> 2."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv1d(3, 4, 3, stride=2, padding=1), nn.Linear(8, 2)

    def forward(self, x):
        h = nn.functional.avg_pool1d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(h, 1))


case("lstm_tokens", LstmTokens(), (9,), tokens=30)
case("bigru", BiGru(), (7, 6))
case("rnn_gru_state", RnnGruState(), (6, 5))
case("bilstm_state", BiLstmState(), (5, 4))
case("textcnn", TextCnn(), (12,), tokens=40)
case("step_dense", StepDense(), (5, 4))
case("raw_conv1d", RawConv1d(), (3, 10))


class GeluMish(nn.Module):
    """GELU and Mish, which PyTorch's export spells in nodes (0.5 x (1 + erf(x / sqrt 2)),
    x tanh(softplus(x))): Linear 5 -> 8, GELU, Linear 8 -> 8, Mish, Linear 8 -> 3."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 8), nn.Mish(), nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)


class LstmBoth(nn.Module):
    """Reads an LSTM's sequence and its final state both: kiln's layer gives one (refused)."""

    def __init__(self):
        super().__init__()
        self.rnn, self.fc = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 2)

    def forward(self, x):
        y, (h, _) = self.rnn(x)
        return self.fc(y[:, -1] + h[-1])


case("gelu_mish", GeluMish(), (5,))
torch.onnx.export(LstmBoth().eval(), torch.randn(1, 6, 3), os.path.join(OUT, "lstm_both.onnx"), input_names=["x"],
                  output_names=["y"], opset_version=13)


class LnPos(nn.Module):
    """A learned (6, 4) table added to (N, 6, 4) (kiln's position_embedding), LayerNorm(4),
    a per-step Linear 4 -> 5, ReLU, the mean over the steps, LayerNorm(5) (without affine
    parameters at opset 13), Linear 5 -> 2. Exported at opset 13 (LayerNorm spelled in
    nodes) and 17 (LayerNormalization; torch 1.13 writes an invalid node for one without
    affine parameters, so that one has them)."""

    def __init__(self, affine):
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, 6, 4) * 0.5)
        self.ln1, self.step = nn.LayerNorm(4), nn.Linear(4, 5)
        self.ln2, self.fc = nn.LayerNorm(5, elementwise_affine=affine), nn.Linear(5, 2)
        with torch.no_grad():
            self.ln1.weight.copy_(1 + 0.3 * torch.randn(4))
            self.ln1.bias.copy_(0.2 * torch.randn(4))

    def forward(self, x):
        h = torch.relu(self.step(self.ln1(x + self.pos)))
        return self.fc(self.ln2(h.mean(dim=1)))


case("ln_pos", LnPos(False), (6, 4))
ln = randomize(LnPos(True))
x17 = torch.randn(N, 6, 4)
with torch.no_grad():
    y17 = ln(x17)
torch.onnx.export(ln, x17[:1], os.path.join(OUT, "ln_pos17.onnx"), input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17)
for what, t in (("x", x17), ("y", y17)):
    print(f"ln_pos17.{what} " + " ".join(f"{v:.9g}" for v in t.flatten().tolist()))


class Deconv1d(nn.Module):
    """(N, 3, 5) channels first: ConvTranspose1d 4 k3 stride 2 padding 1 output_padding 1
    (kiln's conv1d_transpose 'valid' and a cropping1d), ReLU, Flatten of (C, L), Linear 40 -> 2."""

    def __init__(self):
        super().__init__()
        self.up, self.fc = nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1), nn.Linear(40, 2)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.up(x)), 1))


case("deconv1d", Deconv1d(), (3, 5))


class SharedConv(nn.Module):
    """A convolution's output read twice, once through Transposes: relu(h in NHWC) back in NCHW
    plus h itself. The relu must not fold into the convolution (the Add reads h without it)."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(2, 3, 3, padding=1), nn.Linear(3 * 6 * 6, 2)

    def forward(self, x):
        h = self.conv(x)
        z = torch.relu(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) + h
        return self.fc(torch.flatten(z, 1))


case("shared_conv", SharedConv(), (2, 6, 6))


def randomize_attention(net):
    """randomize() and attention's packed or separate projections (PyTorch starts their biases at 0)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.MultiheadAttention):
                for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
                    w = getattr(m, name)
                    if w is not None:
                        w.copy_(torch.randn_like(w) * (1.0 / w.shape[1]) ** 0.5)
                if m.in_proj_bias is not None:
                    m.in_proj_bias.copy_(torch.randn_like(m.in_proj_bias) * 0.3)
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
    return randomize(net)


class Mha(nn.Module):
    """(N, 5, 4): Linear 4 -> 12 per step, nn.MultiheadAttention(12, 3 heads, batch_first)
    self-attention (its packed in_proj sliced in three by shape arithmetic), mean over the
    steps, Linear 12 -> 3."""

    def __init__(self):
        super().__init__()
        self.emb, self.att, self.fc = nn.Linear(4, 12), nn.MultiheadAttention(12, 3, batch_first=True), nn.Linear(12, 3)

    def forward(self, x):
        h = self.emb(x)
        a, _ = self.att(h, h, h)
        return self.fc(a.mean(1))


class Encoder(nn.Module):
    """(N, 6, 4): Linear 4 -> 8, then nn.TransformerEncoderLayer(8, 2 heads, 16, (L, N, C)
    order) under a causal mask (a buffer of -inf above the diagonal), mean, Linear 8 -> 2."""

    def __init__(self):
        super().__init__()
        self.emb, self.fc = nn.Linear(4, 8), nn.Linear(8, 2)
        self.enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1)
        self.register_buffer("mask", torch.triu(torch.full((6, 6), float("-inf")), diagonal=1))

    def forward(self, x):
        h = self.emb(x).transpose(0, 1)
        return self.fc(self.enc(h, src_mask=self.mask).mean(0))


class CrossAttention(nn.Module):
    """(N, 5, 4): queries from the first 3 steps (Linear 4 -> 8), keys and values from all 5
    (Linear 4 -> 6): nn.MultiheadAttention(8, 2 heads, kdim = vdim = 6, batch_first), its
    separate projections; flattened, Linear 24 -> 2."""

    def __init__(self):
        super().__init__()
        self.q, self.kv, self.fc = nn.Linear(4, 8), nn.Linear(4, 6), nn.Linear(24, 2)
        self.att = nn.MultiheadAttention(8, 2, kdim=6, vdim=6, batch_first=True)

    def forward(self, x):
        q, kv = self.q(x[:, :3]), self.kv(x)
        a, _ = self.att(q, kv, kv, need_weights=False)
        return self.fc(torch.flatten(a, 1))


for name, net, shape in (("mha", Mha(), (5, 4)), ("encoder", Encoder(), (6, 4)), ("cross_attention", CrossAttention(), (5, 4))):
    case(name, randomize_attention(net), shape)


class Transformer(nn.Module):
    """(N, 5, 4): Linear 4 -> 8, nn.TransformerEncoderLayer (norm first, GELU) as the memory
    of an nn.TransformerDecoderLayer over the same steps: its cross-attention cuts the packed
    projection in two (query; key and value) by shape arithmetic; mean, Linear 8 -> 2."""

    def __init__(self):
        super().__init__()
        self.emb, self.fc = nn.Linear(4, 8), nn.Linear(8, 2)
        self.enc = nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True, batch_first=True)
        self.dec = nn.TransformerDecoderLayer(8, 2, 12, batch_first=True)

    def forward(self, x):
        h = self.emb(x)
        return self.fc(self.dec(h, self.enc(h)).mean(1))


case("transformer", randomize_attention(Transformer()), (5, 4))


class AttentionWeights(nn.Module):
    """Refused: attention whose averaged weights are read (need_weights=True, used)."""

    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x):
        a, w = self.att(x, x, x)
        return a.mean(1) + w.mean(1)[:, :1]


class OddMask(nn.Module):
    """Refused: attention under a constant mask that is not the causal one."""

    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(4, 2, batch_first=True)
        mask = torch.zeros(4, 4)
        mask[0, 2] = -5.0
        self.register_buffer("mask", mask)

    def forward(self, x):
        return self.att(x, x, x, attn_mask=self.mask, need_weights=False)[0].mean(1)


for name, net in (("attention_weights", AttentionWeights()), ("odd_mask", OddMask())):
    torch.onnx.export(net.eval(), torch.randn(1, 4, 4), os.path.join(OUT, name + ".onnx"), input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)


class CeilPools(nn.Module):
    """(3, 12, 10) images: Conv 4 3x3, ReLU, MaxPool 3 stride 2 ceil_mode (its last window
    over the edge: zero padding kiln adds after the relu), a signed Conv, AvgPool 2 stride 2
    ceil_mode (the overhang not counted: kiln's 'same'), MaxPool 2 stride 2 ceil_mode of signed
    values ('same'), torch.cat of one tensor, the mean over height and width (ReduceMean,
    torchvision's x.mean([2, 3])), Linear 4 -> 3."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.fc = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1), nn.Linear(4, 3)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.c1(x)), 3, 2, ceil_mode=True)
        h = nn.functional.avg_pool2d(self.c2(h), 2, 2, ceil_mode=True)
        h = torch.cat([nn.functional.max_pool2d(h, 2, 2, ceil_mode=True)], 1)
        return self.fc(h.mean([2, 3]))


class WideConcat(nn.Module):
    """(2, 6, 6) images: ten 1x1 convolutions concatenated on the channels (a Concat of ten
    inputs, as DenseNet's: kiln chains concatenate layers of at most 8), ReLU, global max
    (ReduceMax over height and width), Linear 20 -> 3."""

    def __init__(self):
        super().__init__()
        self.convs, self.fc = nn.ModuleList([nn.Conv2d(2, 2, 1) for _ in range(10)]), nn.Linear(20, 3)

    def forward(self, x):
        h = torch.relu(torch.cat([c(x) for c in self.convs], 1))
        return self.fc(torch.amax(h, dim=(2, 3)))


case("ceil_pools", CeilPools(), (3, 12, 10))
case("wide_concat", WideConcat(), (2, 6, 6))


class SqueezeExcite(nn.Module):
    """(3, 8, 8) images: Conv 8 3x3 pad 1, SiLU, squeeze-and-excitation as EfficientNet's
    (AdaptiveAvgPool 1, Conv 1x1 8 -> 2, SiLU, Conv 1x1 2 -> 8, Sigmoid, times the image: a Mul
    of (N, 8, H, W) by (N, 8, 1, 1)), then MobileNetV3's gate (Hardsigmoid) over a depthwise
    Conv, the mean over height and width, Linear 8 -> 3."""

    def __init__(self):
        super().__init__()
        self.c1, self.dw, self.fc = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Linear(8, 3)
        self.se1 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 2, 1), nn.SiLU(), nn.Conv2d(2, 8, 1), nn.Sigmoid())
        self.se2 = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 8, 1), nn.Hardsigmoid())

    def forward(self, x):
        h = nn.functional.silu(self.c1(x))
        h = h * self.se1(h)
        h = self.dw(h)
        h = self.se2(h) * h
        return self.fc(h.mean([2, 3]))


case("squeeze_excite", SqueezeExcite(), (3, 8, 8))


class Grouped(nn.Module):
    """(4, 7, 6) images: Conv 8 3x3 groups 2 pad 1, ReLU, Conv 8 3x3 stride 2 groups 4 (ResNeXt's
    grouped convolutions: kiln's conv2d groups), ReLU, Flatten, Linear 48 -> 3."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.Conv2d(8, 8, 3, stride=2, groups=4)
        self.fc = nn.Linear(8 * 3 * 2, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.c2(torch.relu(self.c1(x)))), 1))


case("grouped", Grouped(), (4, 7, 6))


class TinyVit(nn.Module):
    """torchvision's VisionTransformer in small, (3, 8, 8) images: Conv 8 4x4 stride 4 (4
    patches), reshape to (N, 8, 4) and permute to (N, 4, 8), a class token expanded over the
    batch and concatenated before the patches, a learned (5, 8) position table, one encoder
    block (LayerNorm, nn.MultiheadAttention 2 heads, residual, LayerNorm, Linear 8 -> 16, GELU,
    Linear 16 -> 8, residual), LayerNorm, the class token's step x[:, 0], Linear 8 -> 3."""

    def __init__(self):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, 8, 4, stride=4)
        self.class_token = nn.Parameter(0.5 * torch.randn(1, 1, 8))
        self.pos_embedding = nn.Parameter(0.3 * torch.randn(1, 5, 8))
        self.ln_1, self.ln_2, self.ln = nn.LayerNorm(8), nn.LayerNorm(8), nn.LayerNorm(8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, 8, 4).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
        h = self.ln_1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.ln_2(x))
        return self.head(self.ln(x)[:, 0])


case("tiny_vit", randomize_attention(TinyVit()), (3, 8, 8))


class ConvNextish(nn.Module):
    """torchvision's ConvNeXt in small, (3, 8, 8) images: a 2x2 stride-2 stem and LayerNorm2d
    (permute, LayerNorm, permute), a block (depthwise Conv 8 7x7 pad 3, permute to (N, H, W, C),
    LayerNorm, Linear 8 -> 32 over the channels, GELU, Linear 32 -> 8, a layer scale (a Mul by
    (8,): folded into the Linear), permute back, residual), global average pool, LayerNorm2d
    over (N, 8, 1, 1), Flatten, Linear 8 -> 3."""

    def __init__(self):
        super().__init__()
        self.stem, self.ln0 = nn.Conv2d(3, 8, 2, stride=2), nn.LayerNorm(8)
        self.dw, self.ln1 = nn.Conv2d(8, 8, 7, padding=3, groups=8), nn.LayerNorm(8)
        self.fc1, self.fc2 = nn.Linear(8, 32), nn.Linear(32, 8)
        self.gamma = nn.Parameter(0.5 + torch.rand(8))
        self.ln2, self.head = nn.LayerNorm(8), nn.Linear(8, 3)

    def forward(self, x):
        x = self.ln0(self.stem(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        h = self.ln1(self.dw(x).permute(0, 2, 3, 1))
        h = self.gamma * self.fc2(nn.functional.gelu(self.fc1(h)))
        x = x + h.permute(0, 3, 1, 2)
        p = nn.functional.adaptive_avg_pool2d(x, 1)
        p = self.ln2(p.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.head(torch.flatten(p, 1))


case("convnextish", randomize_attention(ConvNextish()), (3, 8, 8))


def randomize_norms(net):
    """randomize() and the group and instance norms' affine parameters (PyTorch starts them at
    ones and zeros)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d)) and m.weight is not None:
                m.weight.copy_(1 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
    return randomize(net)


class GroupNorms(nn.Module):
    """(3, 8, 8) images: Conv 8 3x3 pad 1, GroupNorm(2, 8), ReLU, InstanceNorm2d(8, affine),
    Conv 4 3x3 stride 2, GroupNorm(1, 4) (a whole sample), SiLU, Flatten, Linear 36 -> 3
    (PyTorch spells GroupNorm Reshape, InstanceNormalization, Reshape, Mul, Add at opset 13;
    torch 1.13 cannot export one over 2-D features)."""

    def __init__(self):
        super().__init__()
        self.c1, self.g1, self.i1 = nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.InstanceNorm2d(8, affine=True)
        self.c2, self.g2 = nn.Conv2d(8, 4, 3, stride=2), nn.GroupNorm(1, 4)
        self.fc = nn.Linear(36, 3)

    def forward(self, x):
        x = self.i1(torch.relu(self.g1(self.c1(x))))
        x = nn.functional.silu(self.g2(self.c2(x)))
        return self.fc(torch.flatten(x, 1))


case("group_norms", randomize_norms(GroupNorms()), (3, 8, 8))


class InstanceSeq(nn.Module):
    """(3, 10) sequences (N, C, L): Conv1d 6 3, InstanceNorm1d(6, affine), ReLU, Conv1d 4 3,
    GroupNorm(2, 4), Flatten, Linear 24 -> 2."""

    def __init__(self):
        super().__init__()
        self.c1, self.i1 = nn.Conv1d(3, 6, 3), nn.InstanceNorm1d(6, affine=True)
        self.c2, self.g2, self.fc = nn.Conv1d(6, 4, 3), nn.GroupNorm(2, 4), nn.Linear(24, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.g2(self.c2(torch.relu(self.i1(self.c1(x))))), 1))


case("instance_seq", randomize_norms(InstanceSeq()), (3, 10))


class DepthwiseSeq(nn.Module):
    """(4, 11) sequences (N, C, L): a depthwise Conv1d 4 -> 8 (groups 4, k 3, padding 1), ReLU,
    a pointwise Conv1d 8 -> 6 (k 1) (a separable 1-D convolution), a depthwise Conv1d 6 -> 6
    (groups 6, k 3, stride 2, dilation 2), Flatten, Linear 24 -> 2: depthwise_conv1d layers."""

    def __init__(self):
        super().__init__()
        self.dw1, self.pw = nn.Conv1d(4, 8, 3, padding=1, groups=4), nn.Conv1d(8, 6, 1)
        self.dw2, self.fc = nn.Conv1d(6, 6, 3, stride=2, dilation=2, groups=6), nn.Linear(24, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.dw2(self.pw(torch.relu(self.dw1(x)))), 1))


case("depthwise_seq", DepthwiseSeq(), (4, 11))


class GroupedSeq(nn.Module):
    """(4, 9) sequences (N, C, L): Conv1d 4 -> 6 (groups 2, k 3), ReLU, Conv1d 6 -> 6 (groups 3,
    k 2, stride 2), Flatten, Linear 18 -> 2: conv1d layers with groups."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv1d(4, 6, 3, groups=2), nn.Conv1d(6, 6, 2, stride=2, groups=3)
        self.fc = nn.Linear(18, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.c2(torch.relu(self.c1(x))), 1))


case("grouped_seq", GroupedSeq(), (4, 9))


class HandAttention(nn.Module):
    """(6, 4) sequences: attention written by hand (no nn.MultiheadAttention): q, k, v =
    Linear 4 -> 4, 4 -> 4, 4 -> 3 of the steps, softmax(q k^T / 2 + a causal mask) v, then that
    attending to itself unscaled, Flatten, Linear 18 -> 2: time_distributed dense layers and
    kiln's attention layers (Keras's Attention)."""

    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.fc = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 3), nn.Linear(18, 2)
        self.register_buffer("causal", torch.triu(torch.full((6, 6), -1e9), diagonal=1))

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        a = torch.softmax(q @ k.transpose(1, 2) / 2.0 + self.causal, dim=-1) @ v
        a = torch.softmax(a @ a.transpose(1, 2), dim=-1) @ a
        return self.fc(torch.flatten(a, 1))


case("hand_attention", HandAttention(), (6, 4))


class Normalize(nn.Module):
    """(3, 6, 6) images: Conv 4 3x3, F.normalize over the channels, ReLU, Flatten, Linear 64 -> 8,
    F.normalize over the features (an embedding on the unit sphere), Linear 8 -> 2:
    unit_normalization layers (PyTorch writes ReduceL2, Clip, Expand, Div)."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc1, self.fc2 = nn.Conv2d(3, 4, 3), nn.Linear(64, 8), nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(nn.functional.normalize(self.conv(x), dim=1))
        return self.fc2(nn.functional.normalize(self.fc1(torch.flatten(x, 1)), dim=1))


case("normalize", Normalize(), (3, 6, 6))
