# torch_predict_latency.py — PyTorch's single-sample predict latency for the reference MLP,
# measured as INTERFACE.md says and as bench/predict_latency.c measures kiln: a model
# trained for one pass over 10k images, then one call per sample over N distinct test
# images under torch.no_grad(), input scaling (u8 -> [0, 1]) and softmax included; median
# and p99. MODEL=cnn: the CNN of ../shared/bench/torch_cnn.py (models/cnn.json) instead,
# trained on 2,000 images at batch 128 (as predict_latency.c with models/cnn.json).
# DEVICE=cuda (bench/gpu/run.sh): on the GPU, host in and host out as kiln measures it (the
# sample copied in, the probabilities copied back, which synchronizes), eagerly and, as
# torch_gpu_baseline.py's infer1_graph but with the copies, replaying a captured CUDA graph
# between a pinned input and output.
# usage: THREADS=1 [MODEL=mlp|cnn] [DEVICE=cpu|cuda] [EXPORT=FILE.onnx] /usr/bin/python3 bench/torch_predict_latency.py [N]
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

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
threads = int(os.environ.get("THREADS", "1"))
torch.set_num_threads(threads); torch.manual_seed(0)
xtr = torch.tensor(idx(f"{D}/train-images-idx3-ubyte.gz")[:10000], dtype=torch.float32) / 255
ytr = torch.tensor(idx(f"{D}/train-labels-idx1-ubyte.gz")[:10000], dtype=torch.long)
raw = torch.tensor(idx(f"{D}/t10k-images-idx3-ubyte.gz")[:n].copy())
cnn = os.environ.get("MODEL", "mlp") == "cnn"
if cnn:
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(), nn.Linear(64 * 12 * 12, 128), nn.ReLU(),
                          nn.Dropout(0.5), nn.Linear(128, 10))
    n_fit, bs = 2000, 128
else:
    model = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    n_fit, bs = 10000, 32
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
for i in range(0, n_fit, bs):
    opt.zero_grad(); nn.functional.cross_entropy(model(xtr[i:i+bs]), ytr[i:i+bs]).backward(); opt.step()
model.eval()
dev = os.environ.get("DEVICE", "cpu")
name = "cnn" if cnn else "mlp"
def report(how, times):
    times.sort()
    print(f"RESULT torch predict1 device={dev}{how} model={name} samples={n} threads={threads} "
          f"median_us={times[n//2]*1e6:.2f} p99_us={times[int(n*0.99)]*1e6:.2f}", flush=True)
times = []
model = model.to(dev)
with torch.no_grad():
    for rep in range(2):
        for i in range(n):
            t0 = time.perf_counter()
            x = (raw[i:i+1].to(dev).float() / 255)
            p = torch.softmax(model(x), 1).cpu()
            t = time.perf_counter() - t0
            if rep == 1: times.append(t)
report("", times)
if dev == "cuda":  # the whole forward as one CUDA graph, copies in and out around its replay
    pin_in, pin_out = torch.empty((1, raw.shape[1]), dtype=torch.uint8).pin_memory(), torch.empty((1, 10)).pin_memory()
    static_in = torch.zeros((1, raw.shape[1]), dtype=torch.uint8, device=dev)
    with torch.no_grad():
        s = torch.cuda.Stream(); s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3): torch.softmax(model(static_in.float() / 255), 1)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g): static_out = torch.softmax(model(static_in.float() / 255), 1)
        times = []
        for rep in range(2):
            for i in range(n):
                t0 = time.perf_counter()
                pin_in.copy_(raw[i:i+1]); static_in.copy_(pin_in, non_blocking=True)
                g.replay()
                pin_out.copy_(static_out, non_blocking=True); torch.cuda.current_stream().synchronize()
                p = pin_out.clone()
                t = time.perf_counter() - t0
                if rep == 1: times.append(t)
    report("_graph", times)
# EXPORT=FILE.onnx (bench/onnx_vs_torch.sh): the trained model with its softmax, exported for
# kiln import, and its accuracy on the N images (kiln's predictions from the file must agree).
if os.environ.get("EXPORT"):
    full = nn.Sequential(model.cpu(), nn.Softmax(dim=1)).eval()
    # (torch 1.13 cannot export Unflatten: the CNN goes without it, its input (N, 1, 28, 28),
    # the same 784 values a sample)
    body = nn.Sequential(*list(model.cpu())[1:], nn.Softmax(dim=1)).eval() if cnn else full
    torch.onnx.export(body, xtr[:1].reshape(1, 1, 28, 28) if cnn else xtr[:1], os.environ["EXPORT"], input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
    yte = torch.tensor(idx(f"{D}/t10k-labels-idx1-ubyte.gz")[:n].astype(np.int64))
    with torch.no_grad():
        acc = (full(raw.float() / 255).argmax(1) == yte).float().mean().item()
    print(f"RESULT torch export model={name} file={os.environ['EXPORT']} accuracy_on_them={acc:.4f}", flush=True)
