"""Golden values for tests/test_masks.c: Keras's masks (an Embedding's mask_zero carried to
MultiHeadAttention and GlobalAveragePooling1D) computed by PyTorch in float64, as Keras 3
computes them: the attention mask is query_mask[:, :, None] & value_mask[:, None, :] (and the
causal lower triangle); masked scores are replaced by -1e9 before the softmax (keras.layers.
Softmax's where(mask, x, -1e9)), so a query step that sees no key gets uniform probabilities;
the masked mean is sum(x * mask) / sum(mask) over the steps. The parameter layout is kiln's
(Keras's), as in make_attention.py, whose mha() this extends with the mask.

Model M (x (3, 6) token indices, 0 padding: trailing, none, and scattered; 3 classes):
    embedding_0 (7 x 4, mask_zero), position_embedding_0, multi_head_attention_0 (2 heads,
    key_dim 2) of the sequence to itself, add (+ the positions' output), layer_normalization_0,
    global_average_pool1d (masked), dense_0 (3, softmax)
Model N (x (2, 5), leading padding; 2 classes): embedding_0 (6 x 3, mask_zero), conv1d_0 (4
    filters, kernel 1: the mask passes), multi_head_attention_0 (1 head, key_dim 3, causal)
    with the convolution as query and the embedding as value, global_average_pool1d, dense_0
Model R (x (3, 5), trailing, leading and scattered padding; 2 classes): embedding_0 (8 x 3,
    mask_zero), lstm_0 (4 units, return_sequences: the mask passes), gru_0 (3 units,
    go_backwards, the last state), dense_0 (2, softmax). Keras's masked steps: the state (h, c)
    carries over and the output is the previous one; go_backwards flips the mask with the
    sequence. The cells as make_rnn.py's (Keras's gate orders, a GRU's reset_after).

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_masks.py > tests/golden/masks.txt

Format (tests/golden.h): as make_attention.py's."""
import math

import torch

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double().requires_grad_()


def emit(name, t):
    print(name, " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist()))


def mha(p, q_in, v_in, k_in, Dk, q_mask, v_mask, causal=False):
    def proj(x, kern, bias):
        return torch.einsum("btf,fhd->bthd", x, kern) + bias
    q = proj(q_in, p["query/kernel"], p["query/bias"]) / math.sqrt(Dk)
    k = proj(k_in, p["key/kernel"], p["key/bias"])
    v = proj(v_in, p["value/kernel"], p["value/bias"])
    s = torch.einsum("bqhd,bkhd->bhqk", q, k)
    keep = q_mask[:, :, None] & v_mask[:, None, :]  # (N, Tq, Tk)
    if causal:
        Tq, Tk = s.shape[2], s.shape[3]
        keep = keep & torch.tril(torch.ones(Tq, Tk, dtype=torch.bool))
    s = torch.where(keep[:, None], s, torch.tensor(-1e9))
    a = torch.softmax(s, dim=-1)
    o = torch.einsum("bhqk,bkhd->bqhd", a, v)
    return torch.einsum("bqhd,hdf->bqf", o, p["attention_output/kernel"]) + p["attention_output/bias"]


def attention_params(name, Fq, Fv, Fk, H, Dk, Dv, Fo):
    p = {"query/kernel": rand(Fq, H, Dk, scale=0.6), "key/kernel": rand(Fk, H, Dk, scale=0.6),
         "value/kernel": rand(Fv, H, Dv, scale=0.6), "attention_output/kernel": rand(H, Dv, Fo, scale=0.6),
         "query/bias": rand(H, Dk, scale=0.3), "key/bias": rand(H, Dk, scale=0.3),
         "value/bias": rand(H, Dv, scale=0.3), "attention_output/bias": rand(Fo, scale=0.3)}
    order = ["query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
             "attention_output/kernel", "attention_output/bias"]
    return [(name + "/" + k, p[k]) for k in order], p


def layer_norm(x, gamma, beta, eps=1e-3):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * gamma + beta


def masked_mean(x, mask):
    m = mask.double()[:, :, None]
    return (x * m).sum(1) / m.sum(1)


def masked_recurrent(kind, x, mask, p, H, back=False):
    if back:
        return masked_recurrent(kind, torch.flip(x, [1]), torch.flip(mask, [1]), p, H)
    N, T, _ = x.shape
    b = p["bias"]
    bx, br = (b[0], b[1]) if kind == "gru" else (b, 0)
    h, c, out = torch.zeros(N, H), torch.zeros(N, H), []
    for t in range(T):
        z = x[:, t] @ p["kernel"] + bx
        r = h @ p["recurrent_kernel"] + br
        if kind == "lstm":
            zz = z + r
            i, f, g, o = (torch.sigmoid(zz[:, :H]), torch.sigmoid(zz[:, H:2 * H]), torch.tanh(zz[:, 2 * H:3 * H]),
                          torch.sigmoid(zz[:, 3 * H:]))
            c_new = f * c + i * g
            h_new = o * torch.tanh(c_new)
        else:  # gru, reset_after
            zg = torch.sigmoid(z[:, :H] + r[:, :H])
            rg = torch.sigmoid(z[:, H:2 * H] + r[:, H:2 * H])
            n = torch.tanh(z[:, 2 * H:] + rg * r[:, 2 * H:])
            h_new, c_new = zg * h + (1 - zg) * n, c
        keep = mask[:, t:t + 1]
        h = torch.where(keep, h_new, h)
        c = torch.where(keep, c_new, c)
        out.append(h)
    return torch.stack(out, 1), h


def rnn_params(name, kind, F, H):
    G = {"lstm": 4, "gru": 3}[kind]
    p = {"kernel": rand(F, G * H, scale=0.5), "recurrent_kernel": rand(H, G * H, scale=0.5),
         "bias": rand(2, G * H, scale=0.3) if kind == "gru" else rand(G * H, scale=0.3)}
    return [(name + "/" + k, p[k]) for k in ("kernel", "recurrent_kernel", "bias")], p


def finish(prefix, x, labels, params, logits_fn):
    probs = torch.softmax(logits_fn(), dim=-1)
    loss = torch.nn.functional.nll_loss(torch.log(probs), labels)
    loss.backward()
    emit(prefix + "x", x.double())
    emit(prefix + "labels", labels.double())
    for n, t in params:
        emit(prefix + n, t)
    emit(prefix + "y", probs)
    emit(prefix + "loss", loss.reshape(1))
    for n, t in params:
        emit(prefix + "grad:" + n, t.grad)


def model_m():
    x = torch.tensor([[3, 1, 4, 0, 0, 0], [2, 6, 5, 3, 1, 2], [0, 5, 0, 2, 6, 0]])
    labels = torch.tensor([0, 2, 1])
    T, F, H, Dk = 6, 4, 2, 2
    table = rand(7, F, scale=0.5)
    pos = rand(T, F, scale=0.5)
    att, p = attention_params("multi_head_attention_0", F, F, F, H, Dk, Dk, F)
    gamma, beta = rand(F, scale=0.5), rand(F, scale=0.3)
    kern, bias = rand(F, 3, scale=0.6), rand(3, scale=0.3)
    params = [("embedding_0/embeddings", table), ("position_embedding_0/embeddings", pos)] + att + [
        ("layer_normalization_0/gamma", gamma), ("layer_normalization_0/beta", beta),
        ("dense_0/kernel", kern), ("dense_0/bias", bias)]
    mask = x != 0

    def logits():
        h = table[x] + pos
        a = mha(p, h, h, h, Dk, mask, mask)
        return masked_mean(layer_norm(a + h, gamma, beta), mask) @ kern + bias
    finish("M:", x, labels, params, logits)


def model_n():
    x = torch.tensor([[0, 0, 4, 1, 5], [0, 3, 2, 2, 1]])
    labels = torch.tensor([1, 0])
    table = rand(6, 3, scale=0.5)
    ck, cb = rand(3, 4, scale=0.6), rand(4, scale=0.3)
    att, p = attention_params("multi_head_attention_0", 4, 3, 3, 1, 3, 3, 4)
    kern, bias = rand(4, 2, scale=0.6), rand(2, scale=0.3)
    params = [("embedding_0/embeddings", table), ("conv1d_0/kernel", ck), ("conv1d_0/bias", cb)] + att + [
        ("dense_0/kernel", kern), ("dense_0/bias", bias)]
    mask = x != 0

    def logits():
        e = table[x]
        c = e @ ck + cb
        a = mha(p, c, e, e, 3, mask, mask, causal=True)
        return masked_mean(a, mask) @ kern + bias
    finish("N:", x, labels, params, logits)


def model_r():
    x = torch.tensor([[2, 5, 1, 0, 0], [0, 0, 3, 7, 4], [6, 0, 2, 0, 1]])
    labels = torch.tensor([0, 1, 1])
    table = rand(8, 3, scale=0.5)
    lstm, pl = rnn_params("lstm_0", "lstm", 3, 4)
    gru, pg = rnn_params("gru_0", "gru", 4, 3)
    kern, bias = rand(3, 2, scale=0.6), rand(2, scale=0.3)
    params = [("embedding_0/embeddings", table)] + lstm + gru + [("dense_0/kernel", kern), ("dense_0/bias", bias)]
    mask = x != 0

    def logits():
        seq, _ = masked_recurrent("lstm", table[x], mask, pl, 4)
        _, last = masked_recurrent("gru", seq, mask, pg, 3, back=True)
        return last @ kern + bias
    finish("R:", x, labels, params, logits)


model_m()
model_n()
model_r()
