"""Golden values for tests/test_attention.c: Keras's MultiHeadAttention (and a learned
position embedding added to a sequence) computed by PyTorch in float64, in kiln's (Keras's)
parameter layout: query/kernel (F, H, Dk), query/bias (H, Dk), key/... over the key's
channels, value/kernel (F, H, Dv), attention_output/kernel (H, Dv, Fo), attention_output/bias
(Fo). The layer is written out here as Keras computes it (queries scaled by 1/sqrt(Dk),
softmax over the key steps, the causal mask a lower triangle), and model A's attention is
also checked against torch.nn.MultiheadAttention with the weights moved to its layout
(in_proj_weight rows: the query, key and value kernels flattened to (F, H*Dk) and
transposed; out_proj.weight: the output kernel flattened to (H*Dv, Fo), transposed), which
pins the mapping a user importing PyTorch or Keras weights relies on.

Model A (x (3, 5, 4), 3 classes), a sequence attending to itself:
    position_embedding_0, multi_head_attention_0 (2 heads, key_dim 2), layer_normalization_0,
    global_average_pool1d, dense_0 (3, softmax)
Model B (x (2, 6, 3), 2 classes), functional: query, value and key three different inputs,
value_dim != key_dim, another output size, the causal mask:
    proj = conv1d_0 (4 filters, kernel 1) of the input; keyp = conv1d_1 (2 filters, kernel 1)
    multi_head_attention_0 (3 heads, key_dim 2, value_dim 3, output_shape 5, causal)
        over (query proj, value input, key keyp); global_max_pool1d; dense_0 (2, softmax)
Model C (x (2, 5, 4), 2 classes), a residual block without biases:
    multi_head_attention_0 (1 head, key_dim 3, use_bias false, causal) of the input,
    add (+ input), layer_normalization_0, flatten, dense_0 (2, softmax)

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_attention.py > tests/golden/attention.txt

Format (tests/golden.h): per model (prefix "A:" ...): x, labels, each parameter by its kiln
name, y (softmax output), loss (mean sparse categorical cross-entropy) and grad:<parameter>;
float32 inputs computed in float64, printed to 9 digits."""
import math

import torch

torch.manual_seed(5)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double().requires_grad_()


def emit(name, t):
    print(name, " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist()))


def mha(p, q_in, v_in, k_in, H, Dk, causal=False):
    """Keras's MultiHeadAttention: einsum projections, scaled queries, masked softmax."""
    def proj(x, kern, bias):
        y = torch.einsum("btf,fhd->bthd", x, kern)
        return y if bias is None else y + bias
    q = proj(q_in, p["query/kernel"], p.get("query/bias")) / math.sqrt(Dk)
    k = proj(k_in, p["key/kernel"], p.get("key/bias"))
    v = proj(v_in, p["value/kernel"], p.get("value/bias"))
    s = torch.einsum("bqhd,bkhd->bhqk", q, k)
    if causal:
        Tq, Tk = s.shape[2], s.shape[3]
        keep = torch.tril(torch.ones(Tq, Tk, dtype=torch.bool))
        s = s.masked_fill(~keep, float("-inf"))
    a = torch.softmax(s, dim=-1)
    o = torch.einsum("bhqk,bkhd->bqhd", a, v)
    y = torch.einsum("bqhd,hdf->bqf", o, p["attention_output/kernel"])
    b = p.get("attention_output/bias")
    return y if b is None else y + b


def torch_mha_reference(p, x, H):
    """The same self-attention through torch.nn.MultiheadAttention (F == H*Dk == H*Dv == Fo)."""
    F = x.shape[2]
    mod = torch.nn.MultiheadAttention(F, H, batch_first=True)
    with torch.no_grad():
        flat = lambda w: w.detach().reshape(w.shape[0], -1).t()
        mod.in_proj_weight.copy_(torch.cat([flat(p["query/kernel"]), flat(p["key/kernel"]), flat(p["value/kernel"])]))
        mod.in_proj_bias.copy_(torch.cat([p[n].detach().reshape(-1) for n in ("query/bias", "key/bias", "value/bias")]))
        mod.out_proj.weight.copy_(p["attention_output/kernel"].detach().reshape(-1, F).t())
        mod.out_proj.bias.copy_(p["attention_output/bias"].detach())
    y, _ = mod(x, x, x, need_weights=False)
    return y


def attention_params(name, Fq, Fv, Fk, H, Dk, Dv, Fo, bias=True):
    p = {"query/kernel": rand(Fq, H, Dk, scale=0.6), "key/kernel": rand(Fk, H, Dk, scale=0.6),
         "value/kernel": rand(Fv, H, Dv, scale=0.6), "attention_output/kernel": rand(H, Dv, Fo, scale=0.6)}
    if bias:
        p.update({"query/bias": rand(H, Dk, scale=0.3), "key/bias": rand(H, Dk, scale=0.3),
                  "value/bias": rand(H, Dv, scale=0.3), "attention_output/bias": rand(Fo, scale=0.3)})
    order = ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
             "attention_output/kernel", "attention_output/bias"]
    return [(name + "/" + k, p[k]) for k in order if k in p], p


def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * gamma + beta


def finish(prefix, x, labels, params, logits_fn):
    probs = torch.softmax(logits_fn(), dim=-1)
    loss = torch.nn.functional.nll_loss(torch.log(probs), labels)
    loss.backward()
    emit(prefix + "x", x)
    emit(prefix + "labels", labels.double())
    for n, t in params:
        emit(prefix + n, t)
    emit(prefix + "y", probs)
    emit(prefix + "loss", loss.reshape(1))
    for n, t in params:
        emit(prefix + "grad:" + n, t.grad)


def model_a():
    N, T, F, H, Dk = 3, 5, 4, 2, 2
    x = (torch.randn(N, T, F)).float().double()
    labels = torch.tensor([0, 2, 1])
    pos = rand(T, F, scale=0.5)
    att, p = attention_params("multi_head_attention_0", F, F, F, H, Dk, Dk, F)
    gamma, beta = rand(F, scale=0.5), rand(F, scale=0.3)
    kern, bias = rand(F, 3, scale=0.6), rand(3, scale=0.3)
    params = [("position_embedding_0/embeddings", pos)] + att + [
        ("layer_normalization_0/gamma", gamma), ("layer_normalization_0/beta", beta),
        ("dense_0/kernel", kern), ("dense_0/bias", bias)]
    h = x + pos
    ours = mha(p, h, h, h, H, Dk)
    ref = torch_mha_reference(p, h, H)
    assert (ours - ref).abs().max() < 1e-12, "Keras layout does not match torch.nn.MultiheadAttention"

    def logits():
        a = mha(p, x + pos, x + pos, x + pos, H, Dk)
        return layer_norm(a, gamma, beta).mean(1) @ kern + bias
    finish("A:", x, labels, params, logits)


def model_b():
    N, T, F = 2, 6, 3
    H, Dk, Dv, Fo = 3, 2, 3, 5
    x = (torch.randn(N, T, F)).float().double()
    labels = torch.tensor([1, 0])
    c0k, c0b = rand(F, 4, scale=0.6), rand(4, scale=0.3)
    c1k, c1b = rand(F, 2, scale=0.6), rand(2, scale=0.3)
    att, p = attention_params("multi_head_attention_0", 4, F, 2, H, Dk, Dv, Fo)
    kern, bias = rand(Fo, 2, scale=0.6), rand(2, scale=0.3)
    params = [("conv1d_0/kernel", c0k), ("conv1d_0/bias", c0b), ("conv1d_1/kernel", c1k), ("conv1d_1/bias", c1b)] + att + [
        ("dense_0/kernel", kern), ("dense_0/bias", bias)]

    def logits():
        proj = x @ c0k + c0b
        keyp = x @ c1k + c1b
        a = mha(p, proj, x, keyp, H, Dk, causal=True)
        return a.max(1).values @ kern + bias
    finish("B:", x, labels, params, logits)


def model_c():
    N, T, F, H, Dk = 2, 5, 4, 1, 3
    x = (torch.randn(N, T, F)).float().double()
    labels = torch.tensor([0, 1])
    att, p = attention_params("multi_head_attention_0", F, F, F, H, Dk, Dk, F, bias=False)
    gamma, beta = rand(F, scale=0.5), rand(F, scale=0.3)
    kern, bias = rand(T * F, 2, scale=0.6), rand(2, scale=0.3)
    params = att + [("layer_normalization_0/gamma", gamma), ("layer_normalization_0/beta", beta),
                    ("dense_0/kernel", kern), ("dense_0/bias", bias)]

    def logits():
        a = mha(p, x, x, x, H, Dk, causal=True)
        return layer_norm(a + x, gamma, beta).reshape(N, -1) @ kern + bias
    finish("C:", x, labels, params, logits)


model_a()
model_b()
model_c()
