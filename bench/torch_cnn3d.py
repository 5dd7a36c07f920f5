# Peer for bench/conv3d_vs_torch.sh: bench/cnn3d_step.c's network in PyTorch CPU: volumes
# (1, 16, 32, 32) (kiln's (16, 32, 32, 1)), Conv3d 16 3x3x3 padding 1, ReLU, MaxPool3d 2,
# Conv3d 32 3x3x3 padding 1, ReLU, MaxPool3d 2, AdaptiveAvgPool3d 1, Linear 10; cross-entropy
# of the logits, Adam 1e-3 (eps 1e-7); the same synthetic data and label formula, 4 batches
# cycled. LAYOUT=channels_last (default: torch.channels_last_3d, oneDNN's fast form) or
# ncdhw. Milliseconds a training step and a forward pass (torch.no_grad, softmax included),
# the median of BLOCKS blocks of STEPS after a warm-up block; prints RESULT {json}.
# usage: THREADS=2 /usr/bin/python3 bench/torch_cnn3d.py [BLOCKS=7] [STEPS=5] [BATCH=8]
import json, math, os, statistics, sys, time
import numpy as np, torch, torch.nn as nn

blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 7
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
threads = int(os.environ.get("THREADS", "2"))
layout = torch.channels_last_3d if os.environ.get("LAYOUT", "channels_last") == "channels_last" else torch.contiguous_format
torch.set_num_threads(threads)
torch.manual_seed(1)
D, H, W, B = 16, 32, 32, 4
n = B * batch
i = np.arange(n * D * H * W, dtype=np.float64)
x = torch.tensor(np.sin(0.001 * i * (i % 7 + 1)).astype(np.float32)).reshape(n, D, H, W, 1).permute(0, 4, 1, 2, 3)
x = x.contiguous(memory_format=layout)
y = torch.tensor(np.arange(n) % 10, dtype=torch.long)
net = nn.Sequential(nn.Conv3d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2), nn.Conv3d(16, 32, 3, padding=1),
                    nn.ReLU(), nn.MaxPool3d(2), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(32, 10))
for mod in net.modules():
    if isinstance(mod, (nn.Conv3d, nn.Linear)):
        nn.init.xavier_uniform_(mod.weight)
        nn.init.zeros_(mod.bias)
net = net.to(memory_format=layout)
opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
loss_fn = nn.CrossEntropyLoss()
train, fwd = [], []
for b in range(-1, blocks):
    t0 = time.perf_counter()
    for s in range(steps):
        k = s % B
        opt.zero_grad()
        loss = loss_fn(net(x[k * batch:(k + 1) * batch]), y[k * batch:(k + 1) * batch])
        loss.backward()
        opt.step()
    t1 = time.perf_counter()
    with torch.no_grad():
        for s in range(steps):
            k = s % B
            torch.softmax(net(x[k * batch:(k + 1) * batch]), 1)
    t2 = time.perf_counter()
    if b >= 0:
        train.append((t1 - t0) * 1e3 / steps)
        fwd.append((t2 - t1) * 1e3 / steps)
print("RESULT " + json.dumps({"threads": threads, "batch": batch, "train_ms": round(statistics.median(train), 2),
                              "forward_ms": round(statistics.median(fwd), 2), "loss": round(loss.item(), 4),
                              "layout": os.environ.get("LAYOUT", "channels_last")}))
