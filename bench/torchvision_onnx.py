# torchvision_onnx.py — the PyTorch side of bench/torchvision_onnx.sh: a torchvision model
# (random weights: the time does not depend on them) exported to ONNX, N distinct random
# images of SIZE x SIZE and PyTorch's outputs for them written as float32 raw files, and
# PyTorch's single-image predict timed the same way kiln's is (one call per image under
# torch.no_grad(), eager, a warm-up pass first; median and p99 microseconds).
# usage: THREADS=1 /usr/bin/python3 bench/torchvision_onnx.py MODEL SIZE N OUTDIR
import statistics, sys, time
import torch, torchvision
name, size, n, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(int(__import__("os").environ.get("THREADS", "1")))
torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None).eval()
x = torch.randn(n, 3, size, size)
with torch.no_grad():
    y = torch.cat([model(x[i:i + 1]) for i in range(n)])
torch.onnx.export(model, x[:1], f"{out}/{name}.onnx", input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13)
x.numpy().tofile(f"{out}/{name}_x.raw")
y.numpy().tofile(f"{out}/{name}_y.raw")
times = []
with torch.no_grad():
    for rep in range(2):
        for i in range(n):
            t0 = time.perf_counter()
            model(x[i:i + 1])
            if rep:
                times.append(time.perf_counter() - t0)
times.sort()
print(f"RESULT torch predict1 model={name} size={size} images={n} median_us={times[n // 2] * 1e6:.1f} "
      f"p99_us={times[int(n * 0.99)] * 1e6:.1f} outputs={y.shape[1]}")
