#!/usr/bin/python3
# make_mlp_golden.py - generate tests/golden/mlp_adam.txt, PyTorch reference
# values for kiln's golden test of the reference MLP 784-64-64-10
# (Dense 64 relu, Dense 64 relu, Dense 10, softmax; sparse categorical
# cross-entropy, mean over the batch; Adam lr=1e-3, betas=(0.9, 0.999),
# eps=1e-7, 3 steps on one batch of 32).
#
# Run:    /usr/bin/python3 tests/golden/make_mlp_golden.py [--check]
# Writes: mlp_adam.txt next to this script.
# Made with torch 1.13.0a0 (Debian's python3-torch), numpy 1.24.2, on CPU,
# float32, torch.manual_seed(1234).
#
# File format: a sequence of records, each two lines:
#   NAME COUNT
#   v1 v2 ... vCOUNT          (floats as %.9g, ints as ints, single spaces)
# Records, in order: x (32*784), y (32), init/<param> x6, loss0, grad/<param>
# x6 (gradients at step 0), loss1, loss2, final/<param> x6, probs0 (32*10).
# <param> is dense_{0,1,2}/{kernel,bias}; kernels are in kiln's (in, out)
# layout (Keras layout, = nn.Linear weight.T), all arrays row-major.
#
# --check re-reads the written file and verifies, in numpy only, the forward
# pass (loss0, probs0), the step-0 gradients and the 3 Adam steps (loss1,
# loss2, final params) against what the file says.

import math
import os
import sys

import numpy as np
import torch

B, SIZES = 32, [784, 64, 64, 10]
LR, BETAS, EPS, STEPS = 1e-3, (0.9, 0.999), 1e-7, 3
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "mlp_adam.txt")
NAMES = [f"dense_{i}/{k}" for i in range(3) for k in ("kernel", "bias")]


def forward(x, params):
    h = x
    for i in range(3):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < 2:
            h = torch.relu(h)
    return h


def generate():
    torch.manual_seed(1234)
    torch.set_num_threads(1)  # deterministic reduction order on CPU
    x = torch.rand(B, SIZES[0])
    y = torch.randint(0, SIZES[-1], (B,))
    assert len(torch.unique(y)) >= 5, "labels not varied enough"

    params = []
    for i in range(3):
        fan_in, fan_out = SIZES[i], SIZES[i + 1]
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        # kernel directly in kiln's (in, out) layout; x @ kernel == x @ weight.T
        k = torch.empty(fan_in, fan_out).uniform_(-limit, limit)
        b = torch.empty(fan_out).uniform_(-0.1, 0.1)
        params += [k.requires_grad_(), b.requires_grad_()]

    records = [("x", x), ("y", y)]
    records += [("init/" + n, p.detach().clone()) for n, p in zip(NAMES, params)]

    opt = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=0)
    losses, grads, probs0 = [], None, None
    for s in range(STEPS):
        opt.zero_grad()
        logits = forward(x, params)
        loss = torch.nn.functional.cross_entropy(logits, y)  # mean
        loss.backward()
        losses.append(loss.detach().clone())
        if s == 0:
            probs0 = torch.softmax(logits.detach(), dim=1)
            grads = [p.grad.detach().clone() for p in params]
        opt.step()

    records.append(("loss0", losses[0]))
    records += [("grad/" + n, g) for n, g in zip(NAMES, grads)]
    records += [("loss1", losses[1]), ("loss2", losses[2])]
    records += [("final/" + n, p.detach().clone()) for n, p in zip(NAMES, params)]
    records.append(("probs0", probs0))

    with open(OUT, "w") as f:
        for name, t in records:
            a = t.numpy().reshape(-1)
            if a.dtype.kind in "iu":
                vals = " ".join(str(int(v)) for v in a)
            else:
                assert a.dtype == np.float32
                vals = " ".join("%.9g" % float(v) for v in a)
            f.write(f"{name} {a.size}\n{vals}\n")

    maxg = max(float(g.abs().max()) for g in grads)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes), torch {torch.__version__}")
    print(f"loss0 {float(losses[0]):.9g}  loss1 {float(losses[1]):.9g}  "
          f"loss2 {float(losses[2]):.9g}  max|grad| {maxg:.9g}")


def read_golden(path):
    recs = {}
    with open(path) as f:
        lines = f.read().split("\n")
    for i in range(0, len(lines) - 1, 2):
        name, count = lines[i].split(" ")
        toks = lines[i + 1].split(" ") if int(count) else []
        assert len(toks) == int(count), name
        recs[name] = np.array([float(t) for t in toks], dtype=np.float64)
    return recs


def check():
    r = read_golden(OUT)
    x = r["x"].reshape(B, SIZES[0])
    y = r["y"].astype(np.int64)
    shapes = []
    for i in range(3):
        shapes += [(SIZES[i], SIZES[i + 1]), (SIZES[i + 1],)]
    p = [r["init/" + n].reshape(s) for n, s in zip(NAMES, shapes)]

    def fwd_bwd(p):  # float64 numpy forward + backward
        z1 = x @ p[0] + p[1]; h1 = np.maximum(z1, 0)
        z2 = h1 @ p[2] + p[3]; h2 = np.maximum(z2, 0)
        z3 = h2 @ p[4] + p[5]
        z = z3 - z3.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(probs[np.arange(B), y]))
        d3 = probs.copy(); d3[np.arange(B), y] -= 1; d3 /= B
        d2 = (d3 @ p[4].T) * (z2 > 0)
        d1 = (d2 @ p[2].T) * (z1 > 0)
        g = [x.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]
        return loss, probs, g

    worst = {}

    def cmp(what, got, want):
        e = float(np.max(np.abs(np.asarray(got) - np.asarray(want).reshape(np.shape(got)))))
        worst[what] = max(worst.get(what, 0.0), e)

    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    for s in range(STEPS):
        loss, probs, g = fwd_bwd(p)
        cmp(f"loss{s}", loss, r[f"loss{s}"][0])
        if s == 0:
            cmp("probs0", probs, r["probs0"])
            for n, gi in zip(NAMES, g):
                cmp("grad", gi, r["grad/" + n])
        t = s + 1
        for i in range(6):  # torch.optim.Adam formulation
            m[i] = BETAS[0] * m[i] + (1 - BETAS[0]) * g[i]
            v[i] = BETAS[1] * v[i] + (1 - BETAS[1]) * g[i] ** 2
            mhat = m[i] / (1 - BETAS[0] ** t)
            vhat = v[i] / (1 - BETAS[1] ** t)
            p[i] = p[i] - LR * mhat / (np.sqrt(vhat) + EPS)
    for n, pi in zip(NAMES, p):
        cmp("final", pi, r["final/" + n])

    tol = {"loss0": 1e-6, "loss1": 1e-6, "loss2": 1e-6, "probs0": 1e-6,
           "grad": 1e-6, "final": 1e-5}
    ok = True
    for k, e in worst.items():
        good = e <= tol[k]
        ok &= good
        print(f"check {k:7s} max abs err {e:.3g} (tol {tol[k]:g}) {'ok' if good else 'FAIL'}")
    print("check", "passed" if ok else "FAILED")
    return ok


if __name__ == "__main__":
    generate()
    if "--check" in sys.argv[1:]:
        sys.exit(0 if check() else 1)
