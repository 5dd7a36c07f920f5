# Peer for bench/conv_direct.sh: PyTorch's forward of one convolution layer,
# relu(F.conv2d(x, w, b, stride, padding=K//2)), on the shapes bench/conv_layer.c times
# (N,H,W,C,F,K,STRIDE; odd K, so padding K//2 gives Keras 'same''s output size), in NCHW and
# in channels_last, alternating blocks of about 20 ms, each credited with its median block;
# the faster layout is PyTorch's figure. Prints one line RESULT {json} a shape.
# usage: THREADS=1 BLOCKS=15 /usr/bin/python3 bench/torch_conv_layer.py N,H,W,C,F,K,STRIDE ...
import json, os, statistics, sys, time
import torch
import torch.nn.functional as F

threads = int(os.environ.get("THREADS", "1"))
blocks = int(os.environ.get("BLOCKS", "15"))
torch.set_num_threads(threads)
torch.manual_seed(0)


def per_block(fn):
    t0 = time.perf_counter()
    fn()
    return max(1, min(5000, int(0.02 / (time.perf_counter() - t0 + 1e-9))))


for arg in sys.argv[1:]:
    n, h, w, c, f, k, s = map(int, arg.split(","))
    fns, per, times = {}, {}, {}
    for name, fmt in {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}.items():
        x = torch.randn(n, c, h, w).to(memory_format=fmt)
        wt = (torch.randn(f, c, k, k) * 0.2).to(memory_format=fmt)
        b = torch.randn(f) * 0.1
        fns[name] = lambda x=x, wt=wt, b=b: F.relu(F.conv2d(x, wt, b, s, k // 2))
        times[name] = []
    with torch.no_grad():
        for name, fn in fns.items():
            per[name] = per_block(fn)
        for blk in range(blocks + 1):  # block 0 warms up
            for name, fn in fns.items():
                t0 = time.perf_counter()
                for _ in range(per[name]):
                    fn()
                if blk:
                    times[name].append((time.perf_counter() - t0) / per[name] * 1e6)
    res = {"shape": arg, "threads": threads}
    for name in fns:
        res[f"forward_{name}_us"] = round(statistics.median(times[name]), 1)
    res["forward_us"] = min(res["forward_nchw_us"], res["forward_channels_last_us"])
    print("RESULT " + json.dumps(res), flush=True)
