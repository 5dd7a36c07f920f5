"""Activations and their gradients from PyTorch, for tests/test_activations.c.

For each activation kiln has beyond softmax (Keras 3's selu, softplus, softsign, silu,
hard_sigmoid, hard_silu, relu6, mish, exponential) and the older ones, the value and the
derivative at fixed inputs from -8 to 8 (saturated regions and the kinks' neighbourhoods
included, never a kink itself), in double precision.
Run with Debian's torch: /usr/bin/python3 tests/golden/make_activations.py > tests/golden/activations.txt
"""
import torch
import torch.nn.functional as F

xs = [-8.0, -5.5, -3.5, -2.9, -1.7, -1.0, -0.6, -0.25, -0.01, 0.01, 0.3, 0.8, 1.3, 2.2, 2.9,
      3.4, 4.75, 5.9, 6.2, 8.0]
acts = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),   # Keras's default slope
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "gelu": F.gelu,                                  # exact (erf)
    "selu": F.selu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "silu": F.silu,
    "hard_sigmoid": F.hardsigmoid,                   # relu6(x + 3) / 6, Keras 3's
    "hard_silu": F.hardswish,
    "relu6": F.relu6,
    "mish": F.mish,
    "exponential": torch.exp,
}
print("x " + " ".join("%.17g" % v for v in xs))
for name, f in acts.items():
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    y = f(x)
    y.sum().backward()
    print(name + " " + " ".join("%.17g" % v for v in y.detach().tolist()))
    print(name + "_grad " + " ".join("%.17g" % v for v in x.grad.tolist()))
