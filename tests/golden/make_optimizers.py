"""Every optimizer's update rule against PyTorch's, for tests/test_optimizers.c.

A parameter vector p of 7 floats and the loss sum(c_t * p^2) / 2, whose gradient is c_t * p
(c_t changes every step, so the rules see gradients of both signs and sizes): 6 steps of
each optimizer configuration, p after every step, in double precision.

kiln follows Keras's rules. Where PyTorch's differ only in where epsilon goes (RMSprop and
Adagrad add it outside the square root, Keras inside), the cases use epsilon 0, where the two
agree (Adamax too: PyTorch takes max(b2 u, |g| + eps)). Keras's SGD momentum (v = mu v - lr g; p += v) equals PyTorch's at a constant rate.
Clipping: kiln's clipnorm scales every gradient by max_norm / global norm, as PyTorch's
clip_grad_norm_ (Keras's global_clipnorm); clipvalue clamps each element (clip_grad_value_).
Nadam: PyTorch's NAdam, whose schedule 0.96^(t * momentum_decay) is Keras 3's 0.96^t at
momentum_decay 1 (the second case); with foreach=True, since torch 1.13's single-tensor NAdam
multiplies u_t into the product twice for the first moment's factor (fixed in PyTorch 2.0,
pytorch/pytorch#92699; the foreach form was right). The default dtype is double so that NAdam's
state 'mu_product' (a tensor of the default dtype) is double too, as kiln's.
Weight decay: Keras 3's is decoupled for every optimizer (w -= lr * wd * w before the rule),
PyTorch's only in AdamW (its other optimizers' weight_decay adds wd * w to the gradient):
the "_wd" cases take PyTorch's rule without weight_decay and scale p by 1 - lr * wd between
the gradient and the rule, which is Keras 3's definition.
Lion: torch 1.13 has none; the Lion class below is Keras 3's rule (keras/src/optimizers/lion.py:
p -= lr * sign(b1 * m + (1 - b1) * g), then m = b2 * m + (1 - b2) * g), in double; the script
checks that no interpolation comes within 1e-6 of 0, where float and double signs could part.
Ftrl: PyTorch has none; the Ftrl class below is Keras 3's rule (keras/src/optimizers/ftrl.py),
in double; the script checks that no linear term comes within 1e-6 of +-l1, where float and
double could clip differently.
RAdam: PyTorch's, 12 steps (the "long" cases), since it is momentum SGD until rho_t > 5 (the
first 5 steps at beta_2 0.999) and rectified after; c6 ... c11 continue c0 ... c5's formula.
Run with Debian's torch: /usr/bin/python3 tests/golden/make_optimizers.py > tests/golden/optimizers.txt
"""
import torch

torch.set_default_dtype(torch.float64)

STEPS = 6
LONG_STEPS = 12  # the cases in LONG
P0 = [0.8, -1.3, 0.25, 2.1, -0.6, 1.05, -0.02]
C = [[0.5 + 0.9 * ((t * 3 + i * 5) % 7) / 7.0 - (0.7 if (t + i) % 4 == 0 else 0.0) for i in range(7)]
     for t in range(LONG_STEPS)]


class Lion(torch.optim.Optimizer):
    """Keras 3's Lion, in double."""

    def __init__(self, params, lr, beta_1=0.9, beta_2=0.99):
        super().__init__(params, dict(lr=lr, beta_1=beta_1, beta_2=beta_2))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["beta_1"], group["beta_2"]
            for p in group["params"]:
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                c = b1 * m + (1 - b1) * p.grad
                assert float(c.abs().min()) > 1e-6, "an interpolation near 0: choose other values"
                p.sub_(group["lr"] * torch.sign(c))
                m.mul_(b2).add_((1 - b2) * p.grad)


class Ftrl(torch.optim.Optimizer):
    """Keras 3's Ftrl, in double."""

    def __init__(self, params, lr, lr_power=-0.5, initial_accumulator_value=0.1, l1=0.0, l2=0.0, l2_shrinkage=0.0,
                 beta=0.0):
        super().__init__(params, dict(lr=lr, lr_power=lr_power, acc0=initial_accumulator_value, l1=l1, l2=l2,
                                      shrink=l2_shrinkage, beta=beta))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, p_, l1 = group["lr"], -group["lr_power"], group["l1"]
            l2 = group["l2"] + group["beta"] / (2.0 * lr)
            for p in group["params"]:
                st = self.state[p]
                n = st.setdefault("n", torch.full_like(p, group["acc0"]))
                z = st.setdefault("z", torch.zeros_like(p))
                g = p.grad
                gs = g + 2 * group["shrink"] * p
                n_new = n + g * g
                z.add_(gs - (n_new ** p_ - n ** p_) / lr * p)
                if l1 > 0:
                    assert float((z.abs() - l1).abs().min()) > 1e-6, "a linear term near +-l1: choose other values"
                quadratic = n_new ** p_ / lr + 2 * l2
                p.copy_((z.clamp(-l1, l1) - z) / quadratic)
                n.copy_(n_new)


cases = {
    # name: (factory, clip_norm, clip_value)
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.1), 0, 0),
    "sgd_momentum": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 0, 0),
    "sgd_nesterov": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True), 0, 0),
    "adam": (lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7), 0, 0),
    "adamw": (lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7, weight_decay=0.05), 0, 0),
    "rmsprop": (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0), 0, 0),
    "rmsprop_momentum": (lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0, momentum=0.5), 0, 0),
    "adagrad": (lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0), 0, 0),
    # PyTorch's Adamax adds epsilon inside the max, Keras's to the denominator: epsilon 0
    "adamax": (lambda p: torch.optim.Adamax(p, lr=0.01, betas=(0.9, 0.999), eps=0.0), 0, 0),
    # Adadelta: PyTorch's rule is Keras's, epsilon included
    "adadelta": (lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.95, eps=1e-6), 0, 0),
    "nadam": (lambda p: torch.optim.NAdam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7, momentum_decay=0.004,
                                          foreach=True), 0, 0),
    "nadam_keras3": (lambda p: torch.optim.NAdam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7, momentum_decay=1.0,
                                                 foreach=True), 0, 0),
    "adam_clipnorm": (lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7), 1.0, 0),
    "sgd_clipvalue": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 0, 0.5),
    "lion": (lambda p: Lion(p, lr=0.01), 0, 0),
    "lion_betas": (lambda p: Lion(p, lr=0.02, beta_1=0.5, beta_2=0.9), 0, 0),
    "radam": (lambda p: torch.optim.RAdam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8), 0, 0),
    "radam_b2": (lambda p: torch.optim.RAdam(p, lr=0.05, betas=(0.8, 0.9), eps=1e-6), 0, 0),
    "adam_amsgrad": (lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-7, amsgrad=True), 0, 0),
    "adamw_amsgrad": (lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.9), eps=1e-7, weight_decay=0.05,
                                                  amsgrad=True), 0, 0),
    "ftrl": (lambda p: Ftrl(p, lr=0.1), 0, 0),
    "ftrl_l1l2": (lambda p: Ftrl(p, lr=0.2, lr_power=-0.7, initial_accumulator_value=0.3, l1=0.05, l2=0.1,
                                 l2_shrinkage=0.02, beta=0.5), 0, 0),
}
LONG = {"radam", "radam_b2", "radam_wd"}
# name: (the case it adds decay to, weight_decay)
decayed = {
    "sgd_wd": ("sgd", 0.3),
    "sgd_nesterov_wd": ("sgd_nesterov", 0.3),
    "adam_wd": ("adam", 0.05),
    "rmsprop_momentum_wd": ("rmsprop_momentum", 2.0),
    "adagrad_wd": ("adagrad", 0.3),
    "adamax_wd": ("adamax", 2.0),
    "adadelta_wd": ("adadelta", 0.03),
    "nadam_keras3_wd": ("nadam_keras3", 2.0),
    "lion_wd": ("lion", 1.0),
    "radam_wd": ("radam", 0.5),
    "ftrl_wd": ("ftrl", 0.5),
}
LR = {"sgd": 0.1, "sgd_nesterov": 0.1, "adam": 0.01, "rmsprop_momentum": 0.01, "adagrad": 0.1, "adamax": 0.01,
      "adadelta": 1.0, "nadam_keras3": 0.01, "lion": 0.01, "radam": 0.01,
      "ftrl": 0.1}
print("steps %d" % STEPS)
print("p0 " + " ".join("%.17g" % v for v in P0))
for t in range(LONG_STEPS):
    print("c%d " % t + " ".join("%.17g" % v for v in C[t]))
runs = [(name, make, clip_norm, clip_value, 0.0) for name, (make, clip_norm, clip_value) in cases.items()]
runs += [(name, cases[base][0], cases[base][1], cases[base][2], LR[base] * wd) for name, (base, wd) in decayed.items()]
for name, make, clip_norm, clip_value, lr_wd in runs:
    p = torch.tensor(P0, dtype=torch.float64, requires_grad=True)
    opt = make([p])
    for t in range(LONG_STEPS if name in LONG else STEPS):
        opt.zero_grad()
        loss = (torch.tensor(C[t], dtype=torch.float64) * p * p).sum() / 2
        loss.backward()
        if clip_norm:
            torch.nn.utils.clip_grad_norm_([p], clip_norm)
        if clip_value:
            torch.nn.utils.clip_grad_value_([p], clip_value)
        if lr_wd:  # after the gradient (taken at the undecayed p), before the rule
            with torch.no_grad():
                p.mul_(1 - lr_wd)
        opt.step()
        print("%s_%d " % (name, t) + " ".join("%.17g" % v for v in p.detach().tolist()))
