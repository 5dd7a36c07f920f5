# Peer for bench/conv_transpose_vs_torch.sh: models/conv_autoencoder.json in PyTorch — Conv2d
# 32 and 64 (3x3, stride 2, padding 1), ConvTranspose2d 32 and 1 (4x4, stride 2, padding 1:
# Keras's 'same' for that window, exactly), relu and a final sigmoid, trained to reproduce
# Fashion-MNIST's training images (MSELoss, Adam 1e-3, batch 128, shuffled each epoch). Keras's
# 'same' 3x3 stride-2 convolution pads (0, 1) where Conv2d's padding=1 pads (1, 1): the same
# sizes and work, one cell apart, which a timing does not see. Prints one line RESULT {json}:
# the median epoch's seconds (of EPOCHS) over NTRAIN images, and the last epoch's mean loss.
# usage: THREADS=2 NTRAIN=60000 /usr/bin/python3 bench/torch_conv_autoencoder.py EPOCHS
import gzip, json, os, statistics, struct, sys, time
import numpy as np, torch, torch.nn as nn

D = os.environ.get("FMNIST", "/usr/share/datasets/fashion-mnist")


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    assert magic == 2051
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, 28, 28)


epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
ntrain = int(os.environ.get("NTRAIN", "60000"))
threads = int(os.environ.get("THREADS", "2"))
torch.manual_seed(0)
torch.set_num_threads(threads)
x = torch.tensor(idx(f"{D}/train-images-idx3-ubyte.gz")[:ntrain], dtype=torch.float32) / 255
net = nn.Sequential(
    nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
    nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
    nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
    nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid())
assert net(x[:2]).shape == (2, 1, 28, 28)
opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)  # Keras's epsilon
loss_fn = nn.MSELoss()
times, loss_sum = [], 0.0
for epoch in range(epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(ntrain)
    loss_sum, batches = 0.0, 0
    for i in range(0, ntrain, 128):
        b = x[perm[i:i + 128]]
        opt.zero_grad()
        loss = loss_fn(net(b), b)
        loss.backward()
        opt.step()
        loss_sum += loss.item()
        batches += 1
    times.append(time.perf_counter() - t0)
print("RESULT " + json.dumps({"s_per_epoch": round(statistics.median(times), 3),
                              "final_loss": round(loss_sum / batches, 5), "threads": threads, "n": ntrain,
                              "params": sum(p.numel() for p in net.parameters())}))
