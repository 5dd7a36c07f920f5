# torch_int8.py — PyTorch's side of bench/int8_vs_torch.sh: the reference MLP (784-64-64-10,
# relu, softmax, Adam, batch 32) trained EPOCHS epochs on the 60,000 Fashion-MNIST images,
# then served in f32 and as torch.ao.quantization.quantize_dynamic's int8 copy (every Linear
# layer: int8 weights per tensor, activations quantized per batch at run time), each
# measured as bench/int8_predict.c measures kiln: accuracy on the 10,000 test images,
# single-sample predict latency over N distinct test images (u8 pixels scaled to [0, 1] and
# the softmax inside the timed region, under torch.no_grad(); median and p99), and the time
# to predict the whole test set in batches of BATCH (median of 3 passes after a warm-up pass).
# MODEL=cnn: the CNN of ../shared/bench/torch_cnn.py (models/cnn.json, batch 128) instead;
# quantize_dynamic quantizes its Linear layers only (PyTorch has no dynamic convolution).
# N_FIT=K trains on the first K images only.
# usage: THREADS=1 [MODEL=mlp|cnn] [N_FIT=60000] [QENGINE=onednn|qnnpack|fbgemm|x86] /usr/bin/python3 bench/torch_int8.py [EPOCHS=2] [N=2000] [BATCH=1000]
import gzip, os, struct, sys, time
import numpy as np, torch, torch.nn as nn

D = os.environ.get("FMNIST", "/usr/share/datasets/fashion-mnist")
def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        r, c = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, r * c)
    return np.frombuffer(data, np.uint8, offset=8)

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
threads = int(os.environ.get("THREADS", "1"))
torch.set_num_threads(threads); torch.manual_seed(0)
engines = torch.backends.quantized.supported_engines
want = os.environ.get("QENGINE")
engine = want if want else next((e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines), None)
if engine is None or engine not in engines:
    sys.exit(f"torch_int8: quantized engine {engine} not in {engines}")
torch.backends.quantized.engine = engine
xtr = torch.tensor(idx(f"{D}/train-images-idx3-ubyte.gz"), dtype=torch.float32) / 255
ytr = torch.tensor(idx(f"{D}/train-labels-idx1-ubyte.gz"), dtype=torch.long)
raw = torch.tensor(idx(f"{D}/t10k-images-idx3-ubyte.gz").copy())
yte = torch.tensor(idx(f"{D}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
cnn = os.environ.get("MODEL", "mlp") == "cnn"
if cnn:
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
                          nn.Dropout(0.5), nn.Linear(128, 10))
else:
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
bs = 128 if cnn else 32
n_fit = min(int(os.environ.get("N_FIT", "60000")), len(xtr))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for e in range(epochs):
    perm = torch.randperm(n_fit)
    for i in range(0, n_fit, bs):
        b = perm[i:i+bs]
        opt.zero_grad(); nn.functional.cross_entropy(model(xtr[b]), ytr[b]).backward(); opt.step()
model.eval()
quant = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
xte = raw.float() / 255
n = min(n, len(raw))
for name, m in (("f32", model), ("int8", quant)):
    with torch.no_grad():
        acc = torch.cat([torch.softmax(m(xte[i:i+batch]), 1).argmax(1) for i in range(0, len(xte), batch)]).eq(yte).float().mean().item()
        times = []
        for rep in range(2):  # the first pass warms caches and branch predictors
            for i in range(n):
                t0 = time.perf_counter()
                p = torch.softmax(m(raw[i:i+1].float() / 255), 1)
                t = time.perf_counter() - t0
                if rep == 1: times.append(t)
        times.sort()
        passes = []
        for rep in range(4):
            t0 = time.perf_counter()
            for i in range(0, len(xte), batch):
                p = torch.softmax(m(xte[i:i+batch]), 1)
            if rep: passes.append(time.perf_counter() - t0)
        passes.sort()
    print(f"RESULT torch {name} engine={engine} model={'cnn' if cnn else 'mlp'} epochs={epochs} threads={threads} accuracy={acc:.4f} "
          f"predict1_median_us={times[n//2]*1e6:.2f} predict1_p99_us={times[int(n*0.99)]*1e6:.2f} "
          f"testset_batch{batch}_ms={passes[1]*1e3:.3f}", flush=True)
