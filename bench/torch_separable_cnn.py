# Peer for bench/depthwise_vs_torch.sh: models/separable_cnn.json in PyTorch. Conv2d 16 (3x3,
# padding 1), then four separable blocks, each a depthwise Conv2d(C, C, 3, groups=C,
# bias=False) and a pointwise Conv2d(C, F, 1) (Keras's SeparableConv2D: one bias, after the
# pointwise product): 32, 64 stride 2, 64, 128 stride 2, each followed by relu; global
# average pool; Linear(128, 10). Keras's initializers (glorot_uniform kernels, whose fans
# PyTorch's xavier_uniform_ computes the same for these shapes, zero biases) and Adam's
# epsilon 1e-7, so both sides train the same model; batch 128, shuffled each epoch. Keras's
# 'same' stride-2 3x3 pads (0, 1) where padding=1 pads (1, 1): the same sizes and work.
# LAYOUT=channels_last (default; PyTorch's fast form for depthwise convolutions on the CPU,
# oneDNN's) or nchw. Prints RESULT {json}: the median epoch's seconds (of EPOCHS) over NTRAIN
# images, the last epoch's mean loss, the test accuracy on the 10,000 test images, and the
# single-image predict latency as INTERFACE.md measures it (the trained model, one call per
# distinct test image over LATENCY_N images under torch.no_grad(), scaling and softmax
# included, a warm-up pass first; median and p99 microseconds).
# usage: THREADS=2 NTRAIN=60000 SEED=0 /usr/bin/python3 bench/torch_separable_cnn.py EPOCHS
import gzip, json, os, statistics, struct, sys, time
import numpy as np, torch, torch.nn as nn

D = os.environ.get("FMNIST", "/usr/share/datasets/fashion-mnist")


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


def separable(c, f, stride):
    return [nn.Conv2d(c, c, 3, stride=stride, padding=1, groups=c, bias=False), nn.Conv2d(c, f, 1), nn.ReLU()]


epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
ntrain = int(os.environ.get("NTRAIN", "60000"))
threads = int(os.environ.get("THREADS", "2"))
latency_n = int(os.environ.get("LATENCY_N", "1000"))
layout = torch.channels_last if os.environ.get("LAYOUT", "channels_last") == "channels_last" else torch.contiguous_format
torch.manual_seed(int(os.environ.get("SEED", "0")))
torch.set_num_threads(threads)
x = torch.tensor(idx(f"{D}/train-images-idx3-ubyte.gz")[:ntrain], dtype=torch.float32) / 255
y = torch.tensor(idx(f"{D}/train-labels-idx1-ubyte.gz")[:ntrain], dtype=torch.long)
test_raw = torch.tensor(idx(f"{D}/t10k-images-idx3-ubyte.gz").copy())
test_y = torch.tensor(idx(f"{D}/t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), *separable(16, 32, 1), *separable(32, 64, 2),
                    *separable(64, 64, 1), *separable(64, 128, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                    nn.Linear(128, 10))
for mod in net.modules():
    if isinstance(mod, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(mod.weight)
        if mod.bias is not None:
            nn.init.zeros_(mod.bias)
net = net.to(memory_format=layout)
assert net(x[:2].contiguous(memory_format=layout)).shape == (2, 10)
opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
times, loss_sum, batches = [], 0.0, 0
for epoch in range(epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(ntrain)
    loss_sum, batches = 0.0, 0
    for i in range(0, ntrain, 128):
        j = perm[i:i + 128]
        opt.zero_grad()
        loss = loss_fn(net(x[j].contiguous(memory_format=layout)), y[j])
        loss.backward()
        opt.step()
        loss_sum += loss.item()
        batches += 1
    times.append(time.perf_counter() - t0)
net.eval()
with torch.no_grad():
    correct = 0
    for i in range(0, len(test_y), 500):
        xb = (test_raw[i:i + 500].float() / 255).contiguous(memory_format=layout)
        correct += (net(xb).argmax(1) == test_y[i:i + 500]).sum().item()
    lat = []
    for rep in range(2):  # the first pass warms up
        for i in range(latency_n):
            t0 = time.perf_counter()
            p = torch.softmax(net((test_raw[i:i + 1].float() / 255).contiguous(memory_format=layout)), 1)
            t = time.perf_counter() - t0
            if rep:
                lat.append(t)
lat.sort()
print("RESULT " + json.dumps({"s_per_epoch": round(statistics.median(times), 3),
                              "final_loss": round(loss_sum / batches, 5), "test_accuracy": correct / len(test_y),
                              "predict_median_us": round(lat[latency_n // 2] * 1e6, 1),
                              "predict_p99_us": round(lat[int(latency_n * 0.99)] * 1e6, 1),
                              "threads": threads, "n": ntrain, "layout": os.environ.get("LAYOUT", "channels_last"),
                              "params": sum(p.numel() for p in net.parameters())}))
