# torchvision_onnx.py — the PyTorch side of bench/torchvision_onnx.sh: a torchvision model
# (random weights: the time does not depend on them), or a text model of token ids
# (text_lstm, text_gru, text_bigru, textcnn, text_transformer: below), exported to ONNX; N distinct random
# inputs (SIZE x SIZE images, or SIZE token ids) and PyTorch's outputs for them written as
# float32 raw files (ids as floats, as kiln takes them); and PyTorch's single-input predict
# timed the same way kiln's is (one call per input under torch.no_grad(), eager, a warm-up
# pass first; median and p99 microseconds).
# usage: THREADS=1 /usr/bin/python3 bench/torchvision_onnx.py MODEL SIZE N OUTDIR
import statistics, sys, time
import torch
import torch.nn as nn
name, size, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(int(__import__("os").environ.get("THREADS", "1")))
torch.manual_seed(0)
VOCAB, EMB, UNITS = 5000, 64, 128


class TextRnn(nn.Module):
    """Embedding 5000x64, an LSTM or GRU of 128 (bidirectional: 2 x 64), its final state(s),
    Linear to 2 classes, softmax: a sentiment classifier's shape."""

    def __init__(self, cell, bidirectional=False):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, EMB)
        self.rnn = cell(EMB, UNITS // (2 if bidirectional else 1), batch_first=True, bidirectional=bidirectional)
        self.bi = bidirectional
        self.fc = nn.Linear(UNITS, 2)

    def forward(self, x):
        _, h = self.rnn(self.emb(x))
        h = h[0] if isinstance(h, tuple) else h
        h = torch.cat((h[0], h[1]), 1) if self.bi else h[-1]
        return torch.softmax(self.fc(h), 1)


class TextCnn(nn.Module):
    """Embedding 5000x64, Conv1d 128 k5 'same' ReLU, max over the steps, Linear to 2, softmax."""

    def __init__(self):
        super().__init__()
        self.emb, self.conv, self.fc = nn.Embedding(VOCAB, EMB), nn.Conv1d(EMB, UNITS, 5, padding=2), nn.Linear(UNITS, 2)

    def forward(self, x):
        h = torch.relu(self.conv(self.emb(x).permute(0, 2, 1)))
        return torch.softmax(self.fc(torch.max(h, dim=2)[0]), 1)


class TextTransformer(nn.Module):
    """Embedding 5000x64 plus a learned position table, two nn.TransformerEncoderLayers (4
    heads, feed-forward 128, batch first), mean over the steps, Linear to 2, softmax."""

    def __init__(self, steps):
        super().__init__()
        self.emb, self.fc = nn.Embedding(VOCAB, EMB), nn.Linear(EMB, 2)
        self.pos = nn.Parameter(0.1 * torch.randn(1, steps, EMB))
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(EMB, 4, 128, batch_first=True), 2)

    def forward(self, x):
        return torch.softmax(self.fc(self.enc(self.emb(x) + self.pos).mean(1)), 1)


text = {"text_lstm": lambda: TextRnn(nn.LSTM), "text_gru": lambda: TextRnn(nn.GRU),
        "text_bigru": lambda: TextRnn(nn.GRU, True), "textcnn": TextCnn,
        "text_transformer": lambda: TextTransformer(size)}
if name in text:
    model = text[name]().eval()
    x = torch.randint(0, VOCAB, (n, size))
    shape = (1, 1, size)  # kiln's input: SIZE ids
else:
    import torchvision
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(n, 3, size, size)
    shape = (3, size, size)
with torch.no_grad():
    y = torch.cat([model(x[i:i + 1]) for i in range(n)])
torch.onnx.export(model, x[:1], f"{out}/{name}.onnx", input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13)
x.float().numpy().tofile(f"{out}/{name}_x.raw")
y.numpy().tofile(f"{out}/{name}_y.raw")
times = []
with torch.no_grad():
    for rep in range(2):
        for i in range(n):
            t0 = time.perf_counter()
            model(x[i:i + 1])
            if rep:
                times.append(time.perf_counter() - t0)
times.sort()
print(f"RESULT torch predict1 model={name} size={size} images={n} median_us={times[n // 2] * 1e6:.1f} "
      f"p99_us={times[int(n * 0.99)] * 1e6:.1f} outputs={y.shape[1]} shape={shape[0]},{shape[1]},{shape[2]}")
