"""Golden values for tests/test_rnn.c: recurrent layers (Keras's SimpleRNN, LSTM, GRU with
reset_after) computed by PyTorch, in kiln's (Keras's) parameter layout: kernel (F, G*H),
recurrent_kernel (H, G*H), bias (G*H), a GRU's (2, G*H) (input bias, recurrent bias); gates
in Keras's order (LSTM i, f, c, o; GRU z, r, h). Each cell is written out here as Keras
defines it, and checked against torch.nn.LSTM / torch.nn.GRU / torch.nn.RNN with the weights
moved to PyTorch's layout (PyTorch's GRU orders its gates r, z, n), so the file also pins
the layout mapping a user importing PyTorch or Keras weights relies on.

Model A (x (4, 5, 3), 3 classes):
    lstm_0  (4 units, return_sequences)      tanh / sigmoid
    gru_0   (3 units, return_sequences)      tanh / sigmoid
    simple_rnn_0 (3 units)                   tanh
    dense_0 (3, softmax)
Model B (x (4, 6, 2), 2 classes), other activations and no bias on the LSTM:
    gru_0   (5 units, return_sequences)      softsign / hard_sigmoid
    lstm_0  (3 units, use_bias false)        relu / sigmoid
    dense_0 (2, softmax)
Model C (x (3, 5, 3), 2 classes), Keras's Bidirectional and go_backwards:
    bidirectional_0 (lstm 3, return_sequences, merge concat)   checked against nn.LSTM(bidirectional=True)
    bidirectional_1 (gru 2, return_sequences, merge ave)
    lstm_0 (2 units, go_backwards)           the state after the first time step
    dense_0 (2, softmax)
Model D (x (4, 4, 2), 2 classes): bidirectional_0 (gru 3, merge sum: the forward's last
output plus the backward's final state, its output at time 0), dense_0 (2, softmax)

Run with a Python that has torch (1.13 was used):
    /usr/bin/python3 tests/golden/make_rnn.py > tests/golden/rnn.txt

Format (tests/golden.h): per model (prefix "A:" or "B:"): x, labels, each parameter by its
kiln name, y (softmax output), loss (mean sparse categorical cross-entropy) and
grad:<parameter>; float32 inputs computed in float64, printed to 9 digits."""
import torch

torch.manual_seed(11)
torch.set_default_dtype(torch.float64)


def rand(*shape, scale=1.0):  # float32 values, so kiln reads exactly what torch used
    return (torch.randn(*shape) * scale).float().double()


def emit(name, t):
    print(name, " ".join("%.9g" % v for v in t.detach().reshape(-1).tolist()))


ACTS = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "softsign": lambda x: x / (1 + x.abs()),
    "hard_sigmoid": lambda x: torch.clamp(x + 3, 0, 6) / 6,  # Keras 3's
}


def cell_step(kind, xw, r, h, c, H, act, ract):
    a, ra = ACTS[act], ACTS[ract]
    if kind == "simple_rnn":
        return a(xw + r), None
    if kind == "lstm":
        z = xw + r
        i, f, g, o = ra(z[:, :H]), ra(z[:, H:2 * H]), a(z[:, 2 * H:3 * H]), ra(z[:, 3 * H:])
        c = f * c + i * g
        return o * a(c), c
    z = ra(xw[:, :H] + r[:, :H])
    rg = ra(xw[:, H:2 * H] + r[:, H:2 * H])
    n = a(xw[:, 2 * H:] + rg * r[:, 2 * H:])
    return z * h + (1 - z) * n, None


def recurrent(kind, x, p, H, act="tanh", ract="sigmoid", seq=False, back=False):
    """Keras's layer; back: go_backwards (the sequence returned in time order, as
    Bidirectional flips its backward half back)."""
    if back:
        y = recurrent(kind, torch.flip(x, [1]), p, H, act, ract, seq)
        return torch.flip(y, [1]) if seq else y
    N, T, _ = x.shape
    b = p.get("bias")
    bx = None if b is None else (b[0] if kind == "gru" else b)
    br = b[1] if (b is not None and kind == "gru") else None
    h = torch.zeros(N, H)
    c = torch.zeros(N, H)
    out = []
    for t in range(T):
        xw = x[:, t] @ p["kernel"] + (0 if bx is None else bx)
        r = h @ p["recurrent_kernel"] + (0 if br is None else br)
        h, c2 = cell_step(kind, xw, r, h, c, H, act, ract)
        if c2 is not None:
            c = c2
        out.append(h)
    return torch.stack(out, 1) if seq else h


def torch_reference(kind, x, p, H, seq):
    """The same layer through torch.nn (default activations only)."""
    F = x.shape[2]
    G = {"simple_rnn": 1, "lstm": 4, "gru": 3}[kind]
    mod = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        F, H, batch_first=True, bias=True)
    perm = torch.arange(G * H)
    if kind == "gru":  # Keras z, r, h -> PyTorch r, z, n
        perm = torch.cat([torch.arange(H, 2 * H), torch.arange(0, H), torch.arange(2 * H, 3 * H)])
    with torch.no_grad():
        mod.weight_ih_l0.copy_(p["kernel"].detach().t()[perm])
        mod.weight_hh_l0.copy_(p["recurrent_kernel"].detach().t()[perm])
        b = p.get("bias")
        zeros = torch.zeros(G * H)
        if kind == "gru":
            mod.bias_ih_l0.copy_(b[0].detach()[perm])
            mod.bias_hh_l0.copy_(b[1].detach()[perm])
        else:
            mod.bias_ih_l0.copy_(zeros if b is None else b.detach()[perm])
            mod.bias_hh_l0.copy_(zeros)
    y, _ = mod(x)
    return y if seq else y[:, -1]


def layer_params(name, kind, F, H, bias=True):
    G = {"simple_rnn": 1, "lstm": 4, "gru": 3}[kind]
    p = {"kernel": rand(F, G * H, scale=0.5), "recurrent_kernel": rand(H, G * H, scale=0.5)}
    if bias:
        p["bias"] = rand(2, G * H, scale=0.3) if kind == "gru" else rand(G * H, scale=0.3)
    for k in p:
        p[k].requires_grad_()
    return {name + "/" + k: v for k, v in p.items()}, p


def bidirectional_reference(x, pf, pb, H):
    """An LSTM's both directions through torch.nn.LSTM(bidirectional=True): the sequence."""
    mod = torch.nn.LSTM(x.shape[2], H, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, p in (("", pf), ("_reverse", pb)):
            getattr(mod, "weight_ih_l0" + suffix).copy_(p["kernel"].detach().t())
            getattr(mod, "weight_hh_l0" + suffix).copy_(p["recurrent_kernel"].detach().t())
            getattr(mod, "bias_ih_l0" + suffix).copy_(p["bias"].detach())
            getattr(mod, "bias_hh_l0" + suffix).zero_()
    y, _ = mod(x)
    return y


def run(prefix, x, labels, layers, dense_in, classes):
    params = {}
    h = x
    for name, kind, H, opts in layers:
        if "merge" in opts:  # bidirectional: forward_<kind> and backward_<kind>
            fwd, pf = layer_params(name + "/forward_" + kind, kind, h.shape[2], H)
            bwd, pb = layer_params(name + "/backward_" + kind, kind, h.shape[2], H)
            params.update(fwd)
            params.update(bwd)
            seq = opts.get("seq", False)
            a = recurrent(kind, h, pf, H, seq=seq)
            b = recurrent(kind, h, pb, H, seq=seq, back=True)
            if kind == "lstm" and seq:
                ref = bidirectional_reference(h.detach(), pf, pb, H)
                assert (ref - torch.cat([a, b], -1)).abs().max() < 1e-12
            h = {"concat": lambda: torch.cat([a, b], -1), "sum": lambda: a + b, "mul": lambda: a * b,
                 "ave": lambda: (a + b) / 2}[opts["merge"]]()
            continue
        full, p = layer_params(name, kind, h.shape[2], H, opts.get("bias", True))
        params.update(full)
        out = recurrent(kind, h, p, H, opts.get("act", "tanh"), opts.get("ract", "sigmoid"), opts.get("seq", False),
                        opts.get("back", False))
        if "act" not in opts and "ract" not in opts and opts.get("bias", True) and not opts.get("back"):
            ref = torch_reference(kind, h.detach(), p, H, opts.get("seq", False))
            assert (ref - out).abs().max() < 1e-12, (name, (ref - out).abs().max())
        h = out
    params["dense_0/kernel"] = rand(dense_in, classes, scale=0.6).requires_grad_()
    params["dense_0/bias"] = rand(classes, scale=0.3).requires_grad_()
    logits = h @ params["dense_0/kernel"] + params["dense_0/bias"]
    y = torch.softmax(logits, 1)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    emit(prefix + "x", x)
    emit(prefix + "labels", labels.double())
    for k, v in params.items():
        emit(prefix + k, v)
    emit(prefix + "y", y)
    emit(prefix + "loss", loss.reshape(1))
    for k, v in params.items():
        emit(prefix + "grad:" + k, v.grad)


run("A:", rand(4, 5, 3), torch.tensor([0, 2, 1, 2]),
    [("lstm_0", "lstm", 4, {"seq": True}), ("gru_0", "gru", 3, {"seq": True}), ("simple_rnn_0", "simple_rnn", 3, {})],
    3, 3)
run("B:", rand(4, 6, 2), torch.tensor([1, 0, 0, 1]),
    [("gru_0", "gru", 5, {"seq": True, "act": "softsign", "ract": "hard_sigmoid"}),
     ("lstm_0", "lstm", 3, {"act": "relu", "bias": False})],
    3, 2)
run("C:", rand(3, 5, 3), torch.tensor([1, 0, 1]),
    [("bidirectional_0", "lstm", 3, {"seq": True, "merge": "concat"}),
     ("bidirectional_1", "gru", 2, {"seq": True, "merge": "ave"}),
     ("lstm_0", "lstm", 2, {"back": True})],
    2, 2)
run("D:", rand(4, 4, 2, scale=1.5), torch.tensor([1, 0, 0, 1]),
    [("bidirectional_0", "gru", 3, {"merge": "sum"})],
    3, 2)
