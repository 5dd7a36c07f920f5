"""Golden values for tests/test_embedding.c: Keras's Embedding (an nn.Embedding lookup)
in two small classifiers, computed by PyTorch:

    gap:  embedding(11, 4) over 6 tokens -> global_average_pool1d -> dense 3 softmax
    flat: embedding(11, 4) over 6 tokens -> flatten (24)           -> dense 3 softmax

on one batch of 5 sequences whose tokens repeat within a row and across rows (row 3 is one
token six times), include 0 and 10 (the first and last rows of the table) and leave some
rows unused (their gradient must be zero). For each model: the softmax output, the mean
sparse categorical cross-entropy and the gradient of every parameter before any step,
then the losses of steps 2 and 3 and the parameters after 3 steps of Adam (lr 0.05, betas
0.9/0.999, eps 1e-7 added to sqrt(v_hat) as torch.optim.Adam does, which is kiln's Adam).
kiln's dense kernel is (in, out) (nn.Linear's weight transposed); the table is
(input_dim, output_dim), as nn.Embedding's weight.

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_embedding.py > tests/golden/embedding.txt

Format (tests/golden.h): lines 'name v1 v2 ...', name '<model>.<what>': x (5, 6) token
indices, labels, each parameter by its kiln name (embedding_0/embeddings, dense_0/kernel,
dense_0/bias), y (5, 3), loss0, grad:<parameter>, loss1, loss2, final:<parameter>. float32
inputs, computed in float64, printed to 9 digits."""
import torch

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)
V, D, T, N, C = 11, 4, 6, 5, 3


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double()


def emit(name, t):
    print(name, " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist()))


x = torch.tensor([[1, 4, 4, 0, 7, 1],
                  [10, 2, 4, 4, 9, 0],
                  [3, 3, 8, 1, 10, 4],
                  [5, 5, 5, 5, 5, 5],
                  [0, 10, 2, 7, 4, 4]])
labels = torch.tensor([0, 2, 1, 2, 1])
assert set(range(V)) - set(x.reshape(-1).tolist()) == {6}  # row 6 unused: a zero gradient


def model(name, features):
    table = rand(V, D, scale=0.5).requires_grad_()
    kernel = rand(features, C, scale=0.6).requires_grad_()
    bias = rand(C, scale=0.2).requires_grad_()
    params = [("embedding_0/embeddings", table), ("dense_0/kernel", kernel), ("dense_0/bias", bias)]

    def forward():
        e = torch.nn.functional.embedding(x, table)  # (N, T, D)
        h = e.mean(dim=1) if name == "gap" else e.reshape(N, T * D)
        return h @ kernel + bias

    emit(name + ".x", x.double())
    emit(name + ".labels", labels.double())
    for pname, p in params:
        emit(name + "." + pname, p)
    logits = forward()
    emit(name + ".y", torch.softmax(logits, dim=1))
    opt = torch.optim.Adam([p for _, p in params], lr=0.05, betas=(0.9, 0.999), eps=1e-7)
    for step in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(), labels)
        loss.backward()
        emit("%s.loss%d" % (name, step), loss.reshape(1))
        if step == 0:
            for pname, p in params:
                emit(name + ".grad:" + pname, p.grad)
        opt.step()
    for pname, p in params:
        emit(name + ".final:" + pname, p)


model("gap", D)
model("flat", T * D)
