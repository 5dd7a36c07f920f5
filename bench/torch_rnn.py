# Peer for bench/rnn_vs_torch.sh: Fashion-MNIST read a row at a time (28 steps of 28
# pixels) by one recurrent layer (CELL=lstm|gru|simple_rnn, UNITS=64) and dense 10, or by
# CELL=transformer's encoder block (models/transformer_fashion.json's, class Transformer), Adam
# 1e-3, cross-entropy, batch 32 — models/lstm_fashion.json's model in PyTorch (nn.LSTM /
# nn.GRU / nn.RNN, batch_first). Prints one line RESULT {json}: the median epoch's seconds
# (of EPOCHS), test accuracy, and single-image predict latency (host in, host out).
# usage: THREADS=2 CELL=lstm /usr/bin/python3 bench/torch_rnn.py EPOCHS
import gzip, struct, sys, time, os, json
import numpy as np, torch, torch.nn as nn

D = os.environ.get("FMNIST", "/usr/share/datasets/fashion-mnist")
CELL = os.environ.get("CELL", "lstm")
UNITS = int(os.environ.get("UNITS", "64"))


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


xtr = torch.tensor(idx(f"{D}/train-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
ytr = torch.tensor(idx(f"{D}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
xte = torch.tensor(idx(f"{D}/t10k-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
yte = torch.tensor(idx(f"{D}/t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
bs = 32
torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("THREADS", "2")))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "simple_rnn": nn.RNN}[CELL](28, UNITS, batch_first=True)
        self.out = nn.Linear(UNITS, 10)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y[:, -1])


class Transformer(nn.Module):
    """models/transformer_fashion.json: a per-step linear embedding (kiln's conv1d of kernel 1)
    to 64, a learned position table, nn.MultiheadAttention (4 heads of 16), residual +
    LayerNorm(eps 1e-6), a 128-unit relu feed-forward back to 64, residual + LayerNorm, the
    mean over the 28 steps, dense 10."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(28, 64)
        self.pos = nn.Parameter(torch.empty(28, 64))
        nn.init.xavier_uniform_(self.pos)
        self.att = nn.MultiheadAttention(64, 4, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(64, eps=1e-6), nn.LayerNorm(64, eps=1e-6)
        self.ff1, self.ff2 = nn.Linear(64, 128), nn.Linear(128, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        h = self.embed(x) + self.pos
        a, _ = self.att(h, h, h, need_weights=False)
        h = self.norm1(h + a)
        h = self.norm2(h + self.ff2(torch.relu(self.ff1(h))))
        return self.out(h.mean(1))


m = Transformer() if CELL == "transformer" else Net()
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
lf = nn.CrossEntropyLoss()
times = []
n = xtr.shape[0]
for ep in range(epochs):
    t = time.perf_counter()
    perm = torch.randperm(n)
    for i in range(0, n, bs):
        j = perm[i:i + bs]
        opt.zero_grad(set_to_none=True)
        l = lf(m(xtr[j]), ytr[j])
        l.backward()
        opt.step()
    times.append(time.perf_counter() - t)
m.eval()
with torch.no_grad():
    acc = sum((m(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, 10000, 1000)) / 10000
    lat = []
    for k in range(1200):  # distinct samples, host in and host out (a numpy array each way)
        a = xte[k % 10000].numpy()
        t = time.perf_counter()
        p = torch.softmax(m(torch.from_numpy(a).reshape(1, 28, 28)), 1).numpy()
        lat.append(time.perf_counter() - t)
    lat = float(np.median(lat[200:])) * 1e6
print("RESULT " + json.dumps({"torch": torch.__version__, "cell": CELL, "units": UNITS, "epochs": epochs,
                              "s_per_epoch": round(float(np.median(times)), 3), "test_acc": acc,
                              "predict_us": round(lat, 1)}), flush=True)
