"""The PyTorch peer of test_attention.c's digits case: the same transformer block (a per-step
linear embedding, a learned position table, nn.MultiheadAttention with 4 heads of 8, residual +
LayerNorm(eps 1e-3), a 64-unit feed-forward, residual + LayerNorm, the mean over the steps, a
softmax), digits read as 8 steps of 8 pixels in [0, 1], the first 1437 rows trained (Adam 0.003,
batch 32, 20 epochs), the other 360 held out. Run from the source root:
    /usr/bin/python3 tests/golden/torch_digits_transformer.py
Measured 2026-11-29 (PyTorch 1.13): seeds 0-2 held-out accuracy 0.919, 0.919, 0.917."""
import csv, sys, torch, numpy as np
rows = list(csv.reader(open('tests/data/digits.csv')))
hdr, rows = rows[0], rows[1:]
X = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float32)
y = np.array([int(float(r[-1])) for r in rows])
X = X / 16.0
Xtr, ytr, Xte, yte = X[:1437], y[:1437], X[1437:], y[1437:]
class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = torch.nn.Linear(8, 32); s.pos = torch.nn.Parameter(torch.empty(8, 32)); torch.nn.init.xavier_uniform_(s.pos)
        s.att = torch.nn.MultiheadAttention(32, 4, batch_first=True)
        s.ln1 = torch.nn.LayerNorm(32, eps=1e-3); s.ff1 = torch.nn.Linear(32, 64); s.ff2 = torch.nn.Linear(64, 32)
        s.ln2 = torch.nn.LayerNorm(32, eps=1e-3); s.out = torch.nn.Linear(32, 10)
    def forward(s, x):
        h = s.emb(x.view(-1, 8, 8)) + s.pos
        a, _ = s.att(h, h, h, need_weights=False)
        h = s.ln1(h + a)
        h = s.ln2(h + s.ff2(torch.relu(s.ff1(h))))
        return s.out(h.mean(1))
for seed in range(3):
    torch.manual_seed(seed)
    m = Block(); opt = torch.optim.Adam(m.parameters(), lr=0.003, eps=1e-7)
    xt, yt = torch.tensor(Xtr), torch.tensor(ytr)
    for ep in range(20):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            idx = perm[i:i+32]
            loss = torch.nn.functional.cross_entropy(m(xt[idx]), yt[idx])
            opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        acc = (m(torch.tensor(Xte)).argmax(1).numpy() == yte).mean()
    print("seed", seed, "test accuracy %.3f" % acc)
