"""PyTorch's peer of bench/group_norm_ops.c: F.group_norm on channels-last (N, C, H, W)
tensors (kiln's NHWC bytes), eps 1e-5, the same shapes; the forward alone under no_grad, and a
training pass (forward, loss = sum(y * r), backward to x, weight and bias), timed in
alternating blocks, the median block's microseconds a pass. THREADS sets torch's threads.
usage: THREADS=2 python3 bench/torch_group_norm.py [BLOCKS=11] [N,H,W,C,GROUPS ...]"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 11
shapes = sys.argv[2:] or ["32,28,28,64,8", "8,56,56,128,32", "1,128,128,64,32", "64,14,14,256,32"]

for arg in shapes:
    n, h, w, c, groups = (int(v) for v in arg.split(","))
    x = torch.randn(n, c, h, w).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    r = torch.randn(n, c, h, w).contiguous(memory_format=torch.channels_last)
    gamma, beta = torch.ones(c, requires_grad=True), torch.zeros(c, requires_grad=True)

    def forward():
        with torch.no_grad():
            F.group_norm(x, groups, gamma, beta, 1e-5)

    def train():
        x.grad = gamma.grad = beta.grad = None
        (F.group_norm(x, groups, gamma, beta, 1e-5) * r).sum().backward()

    t0 = time.perf_counter()
    train()
    per = max(1, min(1000, int(0.03 / (time.perf_counter() - t0 + 1e-9))))
    times = [[], []]
    for b in range(-1, blocks):
        for k, fn in enumerate((forward, train)):
            t0 = time.perf_counter()
            for _ in range(per):
                fn()
            if b >= 0:
                times[k].append((time.perf_counter() - t0) / per * 1e6)
    med = [sorted(t)[len(t) // 2] for t in times]
    print("RESULT " + json.dumps({"shape": arg, "threads": torch.get_num_threads(), "forward_us": round(med[0], 1),
                                  "train_us": round(med[1], 1)}))
    sys.stdout.flush()
