# Peer for bench/depthwise_vs_torch.sh's per-op figure: PyTorch's depthwise convolution
# (Conv2d with groups = C, 3x3, padding 1, no bias) on the shapes bench/depthwise_ops.c
# times, its three parts one by one: the forward (F.conv2d), the input gradient and the
# weight gradient (aten.convolution_backward with one output asked for each), in NCHW
# (contiguous) and in channels_last, each in alternating blocks and credited with the median
# block; the faster layout is PyTorch's figure. Keras's 'same' with stride 2 on an even size
# pads (0, 1) where padding=1 pads (1, 1): the same output size and work. Prints one line
# RESULT {json} a shape. CLOCK=thread with THREADS=1: the thread's CPU time instead of the wall
# clock (as bench/depthwise_ops.c; one intra-op thread runs in the caller's).
# usage: THREADS=2 BLOCKS=15 [CLOCK=thread] /usr/bin/python3 bench/torch_depthwise_ops.py [N,H,W,C,STRIDE ...]
import json, os, statistics, sys, time
import torch
import torch.nn.functional as F

DEFAULT = ["32,28,28,32,1", "128,28,28,16,1", "128,28,28,32,2", "128,14,14,64,1", "128,14,14,64,2",
           "16,56,56,128,1"]
threads = int(os.environ.get("THREADS", "2"))
blocks = int(os.environ.get("BLOCKS", "15"))
clock = time.thread_time if os.environ.get("CLOCK") == "thread" and threads == 1 else time.perf_counter
torch.set_num_threads(threads)
torch.manual_seed(0)
conv_bw = torch.ops.aten.convolution_backward


def timed(fn):
    """Microseconds a call: the median of `blocks` blocks of about 20 ms (one warm-up block)."""
    t0 = clock()
    fn()
    per = max(1, min(2000, int(0.02 / (clock() - t0 + 1e-9))))
    times = []
    for b in range(blocks + 1):
        t0 = clock()
        for _ in range(per):
            fn()
        if b:
            times.append((clock() - t0) / per * 1e6)
    return statistics.median(times)


def ops(n, h, w, c, s, layout):
    x = torch.randn(n, c, h, w).to(memory_format=layout)
    k = (torch.randn(c, 1, 3, 3) * 0.3).to(memory_format=layout)
    y = F.conv2d(x, k, None, s, 1, 1, c)
    dy = torch.randn_like(y).to(memory_format=layout)
    args = (dy, x, k, None, [s, s], [1, 1], [1, 1], False, [0, 0], c)
    with torch.no_grad():
        return {"forward": lambda: F.conv2d(x, k, None, s, 1, 1, c),
                "grad_input": lambda: conv_bw(*args, [True, False, False]),
                "grad_kernel": lambda: conv_bw(*args, [False, True, False])}


for arg in sys.argv[1:] or DEFAULT:
    n, h, w, c, s = map(int, arg.split(","))
    layouts = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
    fns = {name: ops(n, h, w, c, s, fmt) for name, fmt in layouts.items()}
    res = {"shape": arg, "threads": threads, "clock": "thread" if clock is time.thread_time else "wall"}
    with torch.no_grad():
        for op in ("forward", "grad_input", "grad_kernel"):
            for name in layouts:  # both layouts, one after the other, for each op
                res[f"{op}_{name}_us"] = round(timed(fns[name][op]), 1)
            best = min(layouts, key=lambda name: res[f"{op}_{name}_us"])
            res[f"{op}_us"], res[f"{op}_layout"] = res[f"{op}_{best}_us"], best
    print("RESULT " + json.dumps(res), flush=True)
