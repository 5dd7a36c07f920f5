# PyTorch's CPU mixed precision on the reference MLP (784-64-64-10, relu, Adam 1e-3,
# batch 32), for comparison with kiln's --precision bf16 (bench/precision.c): the same
# training loop in fp32 and under torch.autocast("cpu", dtype=torch.bfloat16) (PyTorch's
# CPU AMP: matmuls in bf16 through oneDNN, f32 master weights), timed in one process.
# usage: /usr/bin/python3 bench/torch_mlp_autocast.py [EPOCHS=2] [THREADS=2]
import contextlib, gzip, os, struct, sys, time
import numpy as np, torch, torch.nn as nn

D = os.environ.get("FMNIST", "/usr/share/datasets/fashion-mnist")

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        r, c = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, r * c)
    return np.frombuffer(data, np.uint8, offset=8)

xtr = torch.tensor(read_idx(f"{D}/train-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
ytr = torch.tensor(read_idx(f"{D}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
xte = torch.tensor(read_idx(f"{D}/t10k-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
yte = torch.tensor(read_idx(f"{D}/t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)

for precision in ("fp32", "bf16"):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    times = []
    for ep in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(xtr.shape[0])
        for i in range(0, xtr.shape[0], 32):
            b = perm[i:i + 32]
            opt.zero_grad()
            amp = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
            with amp:
                loss = lossf(model(xtr[b]), ytr[b])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"RESULT torch {torch.__version__} {precision} epochs={epochs} s_per_epoch={sorted(times)[len(times)//2]:.3f} "
          f"test_acc={acc:.4f}", flush=True)
