#!/usr/bin/python3
# make_schedule_golden.py - generate tests/golden/schedules.txt, the learning rates
# PyTorch's schedulers (and, where PyTorch has no equivalent, Keras's formulas) give at
# each optimizer step, for kiln's test of its schedules (tests/test_schedule.c).
#
# Run:    /usr/bin/python3 tests/golden/make_schedule_golden.py
# Writes: schedules.txt next to this script.
# Made with torch 1.13.0a0 (Debian's python3-torch), CPU; no Keras or TensorFlow needed.
#
# File format: '#' lines are comments; every other line is one step of one run:
#   kind=NAME base=B [FIELD=VALUE ...] warmup=W total=N step=S rate=R
# where NAME is a kn_schedule_kind name, FIELD a struct kn_schedule field (decay_steps,
# decay_rate, staircase, alpha, t_mul, m_mul, end_learning_rate, power,
# max_learning_rate, pct_start, div_factor, final_div_factor); fields not given keep
# kn_schedule_default(kind). R is the rate optimizer step S (0-based) of a run of N steps
# used, printed with %.17g; B and the fields are Python reprs (they round-trip).
#
# How each rate is obtained. Where a torch scheduler exists, a real torch.optim.SGD
# optimizer is stepped with it and the rate recorded is param_groups[0]['lr'] at the
# moment optimizer.step() runs. Steps before warm-up ends are base * (s + 1) / W
# (kiln's rule, kiln.h), and the scheduler then runs its own N - W steps from its step 0.
#   step         torch StepLR(step_size=decay_steps, gamma=decay_rate).
#   exponential  Keras ExponentialDecay: base * rate^(s / decay_steps), floored when
#                staircase. That is torch ExponentialLR(gamma=rate) when decay_steps is 1,
#                and torch StepLR when staircase; otherwise torch has no scheduler for it
#                and the Keras formula is computed here (and checked against
#                ExponentialLR(gamma=rate ** (1 / decay_steps)) to 1e-12).
#   cosine       Keras CosineDecay (t_mul 0): torch CosineAnnealingLR(T_max=decay_steps,
#                eta_min=alpha * base) for s <= decay_steps; after that torch rises again
#                (it is a cosine of period 2 * T_max) while Keras stays at alpha * base:
#                those steps are Keras's formula (kiln follows Keras).
#                Keras CosineDecayRestarts (t_mul > 0): torch CosineAnnealingWarmRestarts
#                (T_0=decay_steps, T_mult=t_mul, eta_min=alpha * base) when t_mul is an
#                integer and m_mul is 1 (torch has no m_mul and only integer T_mult);
#                otherwise Keras's formula, checked against a plain walk over the periods.
#   polynomial   Keras PolynomialDecay (cycle=False): torch PolynomialLR(total_iters=
#                decay_steps, power) when end_learning_rate is 0 (torch always decays to
#                0); otherwise Keras's formula.
#   inverse_time Keras InverseTimeDecay: base / (1 + rate * s / decay_steps), the quotient
#                floored when staircase: Keras's formula, checked against torch LambdaLR with
#                the same factor.
#   piecewise_constant  Keras PiecewiseConstantDecay(boundaries, values): values[i] for the
#                first boundary s is at or below, values[-1] past the last; the formula (torch
#                has no scheduler of absolute rates), checked against a walk over the intervals.
#   multi_step   torch MultiStepLR(milestones=boundaries, gamma=decay_rate).
# Lists (boundaries, values) are written comma-joined: boundaries=5,12 values=0.1,0.05,0.01.
#   one_cycle    torch OneCycleLR(max_lr, total_steps=N - W, pct_start, anneal_strategy=
#                'cos', div_factor, final_div_factor, three_phase=False); max_lr is base
#                when max_learning_rate is 0 (kiln's convention).
# Where both a torch scheduler and a formula apply, they are checked against each other.
# Keras itself computes in float32 by default; all values here are float64.

import math
import os
import warnings

import torch

warnings.filterwarnings("ignore", category=UserWarning)

DEFAULTS = {
    "constant": {},
    "step": {"decay_steps": 0, "decay_rate": 0.1},
    "exponential": {"decay_steps": 0, "decay_rate": 0.96, "staircase": 0},
    "cosine": {"decay_steps": 0, "alpha": 0.0, "t_mul": 0.0, "m_mul": 1.0},
    "polynomial": {"decay_steps": 0, "end_learning_rate": 1e-4, "power": 1.0},
    "one_cycle": {"max_learning_rate": 0.0, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
    "inverse_time": {"decay_steps": 0, "decay_rate": 0.5, "staircase": 0},
    "piecewise_constant": {"boundaries": [], "values": []},
    "multi_step": {"boundaries": [], "decay_rate": 0.1},
}


def torch_rates(base, make_scheduler, n):
    """The lr each of n SGD steps used, with the scheduler stepped after each."""
    w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=base)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(n):
        rates.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        (w * 1.0).sum().backward()
        opt.step()
        sched.step()
    return rates


def close(a, b, tol=1e-12):
    return abs(a - b) <= tol * max(abs(a), abs(b)) + 1e-300


def check_all(name, got, want, tol=1e-12):
    for s, (a, b) in enumerate(zip(got, want)):
        assert close(a, b, tol), f"{name}: step {s}: {a!r} vs {b!r}"


# Keras formulas, transcribed from keras/src/optimizers/schedules/learning_rate_schedule.py.
def keras_exponential(base, s, decay_steps, rate, staircase):
    p = s / decay_steps
    if staircase:
        p = math.floor(p)
    return base * math.pow(rate, p)


def keras_cosine(base, s, decay_steps, alpha):
    p = min(s, decay_steps) / decay_steps
    cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * p))
    return base * ((1 - alpha) * cosine_decayed + alpha)


def keras_cosine_restarts(base, s, first, t_mul, m_mul, alpha):
    fraction = s / first
    if t_mul == 1.0:
        i_restart = math.floor(fraction)
        fraction -= i_restart
    else:
        i_restart = math.floor(math.log(1.0 - fraction * (1.0 - t_mul)) / math.log(t_mul))
        sum_r = (1.0 - t_mul ** i_restart) / (1.0 - t_mul)
        fraction = (fraction - sum_r) / t_mul ** i_restart
    m_fac = m_mul ** i_restart
    cosine_decayed = 0.5 * m_fac * (1.0 + math.cos(math.pi * fraction))
    return base * ((1 - alpha) * cosine_decayed + alpha)


def walk_cosine_restarts(base, s, first, t_mul, m_mul, alpha):
    """The same schedule by walking period after period (no logs): the check on the above."""
    start, length, i = 0.0, float(first), 0
    while s >= start + length:
        start += length
        length *= t_mul
        i += 1
    cosine_decayed = 0.5 * m_mul ** i * (1.0 + math.cos(math.pi * (s - start) / length))
    return base * ((1 - alpha) * cosine_decayed + alpha)


def keras_polynomial(base, s, decay_steps, end, power):
    p = min(s, decay_steps) / decay_steps
    return (base - end) * math.pow(1 - p, power) + end


def keras_inverse_time(base, s, decay_steps, rate, staircase):
    p = s / decay_steps
    if staircase:
        p = math.floor(p)
    return base / (1 + rate * p)


def keras_piecewise(s, boundaries, values):
    # pred_fn_pairs: x <= b[0] -> v[0]; b[i-1] < x <= b[i] -> v[i]; x > b[-1] -> v[-1]
    if s <= boundaries[0]:
        return values[0]
    if s > boundaries[-1]:
        return values[-1]
    for low, high, v in zip(boundaries[:-1], boundaries[1:], values[1:-1]):
        if low < s <= high:
            return v
    raise AssertionError("no interval")


def walk_piecewise(s, boundaries, values):
    i = 0
    while i < len(boundaries) and s > boundaries[i]:
        i += 1
    return values[i]


def schedule_rates(kind, base, f, n):
    """Rates of the n steps of the schedule proper (warm-up excluded); f: its fields."""
    ds = f.get("decay_steps", 0)
    if kind == "constant":
        return torch_rates(base, lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1.0), n)
    if kind == "step":
        return torch_rates(base, lambda o: torch.optim.lr_scheduler.StepLR(o, ds, gamma=f["decay_rate"]), n)
    if kind == "exponential":
        formula = [keras_exponential(base, s, ds, f["decay_rate"], f["staircase"]) for s in range(n)]
        if f["staircase"]:
            rates = torch_rates(base, lambda o: torch.optim.lr_scheduler.StepLR(o, ds, gamma=f["decay_rate"]), n)
        elif ds == 1:
            rates = torch_rates(base, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=f["decay_rate"]), n)
        else:
            gamma = f["decay_rate"] ** (1.0 / ds)
            check_all("exponential vs ExponentialLR", formula,
                      torch_rates(base, lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=gamma), n), 1e-12)
            return formula
        check_all("exponential", rates, formula)
        return rates
    if kind == "cosine" and f["t_mul"] == 0:
        ds = ds or n
        alpha = f["alpha"]
        formula = [keras_cosine(base, s, ds, alpha) for s in range(n)]
        rates = torch_rates(base, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=ds, eta_min=alpha * base), n)
        check_all("cosine", rates[:ds + 1], formula[:ds + 1])
        return rates[:ds + 1] + formula[ds + 1:]  # torch would rise again after T_max
    if kind == "cosine":
        ds = ds or n
        t_mul, m_mul, alpha = f["t_mul"], f["m_mul"], f["alpha"]
        if t_mul == int(t_mul) and m_mul == 1.0:
            rates = torch_rates(base, lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
                o, T_0=ds, T_mult=int(t_mul), eta_min=alpha * base), n)
            check_all("cosine restarts", rates, [walk_cosine_restarts(base, s, ds, t_mul, m_mul, alpha) for s in range(n)])
            for s in range(n):  # where Keras's own formula slips at a boundary (kiln follows torch)
                k = keras_cosine_restarts(base, s, ds, t_mul, m_mul, alpha)
                if not close(k, rates[s], 1e-9):
                    NOTES.append(f"cosine restarts first={ds} t_mul={t_mul!r} step {s}: Keras's formula "
                                 f"gives {k!r}, torch {rates[s]!r} (restart); kiln follows torch")
            return rates
        formula = [keras_cosine_restarts(base, s, ds, t_mul, m_mul, alpha) for s in range(n)]
        check_all("cosine restarts (Keras)", formula, [walk_cosine_restarts(base, s, ds, t_mul, m_mul, alpha) for s in range(n)])
        return formula
    if kind == "polynomial":
        ds = ds or n
        formula = [keras_polynomial(base, s, ds, f["end_learning_rate"], f["power"]) for s in range(n)]
        if f["end_learning_rate"] != 0:
            return formula
        rates = torch_rates(base, lambda o: torch.optim.lr_scheduler.PolynomialLR(
            o, total_iters=ds, power=f["power"]), n)
        check_all("polynomial", rates, formula)
        return rates
    if kind == "one_cycle":
        max_lr = f["max_learning_rate"] if f["max_learning_rate"] > 0 else base
        return torch_rates(base, lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=max_lr, total_steps=n, pct_start=f["pct_start"], anneal_strategy="cos",
            cycle_momentum=False, div_factor=f["div_factor"], final_div_factor=f["final_div_factor"],
            three_phase=False), n)
    if kind == "inverse_time":
        ds = ds or 1
        formula = [keras_inverse_time(base, s, ds, f["decay_rate"], f["staircase"]) for s in range(n)]
        check_all("inverse_time vs LambdaLR", formula, torch_rates(base, lambda o: torch.optim.lr_scheduler.LambdaLR(
            o, lambda s: 1.0 / (1 + f["decay_rate"] * ((s // ds) if f["staircase"] else s / ds))), n))
        return formula
    if kind == "piecewise_constant":
        formula = [keras_piecewise(s, f["boundaries"], f["values"]) for s in range(n)]
        check_all("piecewise_constant", formula, [walk_piecewise(s, f["boundaries"], f["values"]) for s in range(n)])
        return formula
    if kind == "multi_step":
        return torch_rates(base, lambda o: torch.optim.lr_scheduler.MultiStepLR(
            o, milestones=f["boundaries"], gamma=f["decay_rate"]), n)
    raise ValueError(kind)


def field_text(v):
    return ",".join(repr(x) for x in v) if isinstance(v, list) else repr(v)


# (kind, base, fields that differ from the defaults, warm-up steps, total steps)
RUNS = [
    ("constant", 0.05, {}, 0, 8),
    ("constant", 0.05, {}, 3, 8),
    ("step", 0.1, {"decay_steps": 7, "decay_rate": 0.5}, 0, 30),
    ("step", 0.1, {"decay_steps": 3}, 5, 20),
    ("exponential", 0.1, {"decay_steps": 1}, 0, 30),
    ("exponential", 0.1, {"decay_steps": 10, "decay_rate": 0.5, "staircase": 1}, 0, 35),
    ("exponential", 0.1, {"decay_steps": 10, "decay_rate": 0.5}, 4, 35),
    ("cosine", 0.1, {"decay_steps": 30}, 0, 40),
    ("cosine", 0.1, {"decay_steps": 20, "alpha": 0.01}, 5, 35),
    ("cosine", 0.1, {"alpha": 0.1}, 6, 40),  # decay_steps 0: the 34 steps after warm-up
    ("cosine", 0.1, {"decay_steps": 5, "t_mul": 2.0}, 0, 80),
    ("cosine", 0.1, {"decay_steps": 1, "t_mul": 3.0, "alpha": 0.05}, 0, 125),  # step 121: Keras slips
    ("cosine", 0.1, {"decay_steps": 4, "t_mul": 1.0}, 3, 25),
    ("cosine", 0.1, {"decay_steps": 4, "t_mul": 1.5, "m_mul": 0.5, "alpha": 0.1}, 0, 50),
    ("cosine", 0.1, {"decay_steps": 6, "t_mul": 2.0, "m_mul": 0.8}, 2, 50),
    ("polynomial", 0.1, {"decay_steps": 25, "end_learning_rate": 0.0}, 0, 30),
    ("polynomial", 0.1, {"decay_steps": 25, "end_learning_rate": 0.0, "power": 2.0}, 0, 30),
    ("polynomial", 0.1, {}, 5, 30),  # decay_steps 0: the 25 steps after warm-up, to 1e-4
    ("polynomial", 0.2, {"decay_steps": 20, "end_learning_rate": 0.01, "power": 0.5}, 0, 25),
    ("one_cycle", 0.5, {"max_learning_rate": 0.1}, 0, 40),
    ("one_cycle", 0.5, {"max_learning_rate": 0.3, "pct_start": 0.25, "div_factor": 10.0,
                        "final_div_factor": 100.0}, 0, 37),
    ("one_cycle", 0.05, {}, 0, 20),  # max_learning_rate 0: the base is the maximum
    ("one_cycle", 0.05, {"max_learning_rate": 0.1}, 5, 35),
    ("inverse_time", 0.1, {"decay_steps": 1}, 0, 20),
    ("inverse_time", 0.1, {"decay_steps": 5, "decay_rate": 2.0}, 0, 30),
    ("inverse_time", 0.1, {"decay_steps": 4, "decay_rate": 0.7, "staircase": 1}, 3, 30),
    ("inverse_time", 0.2, {}, 2, 15),  # decay_steps 0: one step, rate 0.5
    ("piecewise_constant", 0.5, {"boundaries": [5, 12], "values": [0.1, 0.05, 0.01]}, 0, 20),
    ("piecewise_constant", 0.5, {"boundaries": [0, 1, 7], "values": [1.0, 0.5, 0.25, 0.125]}, 0, 12),
    ("piecewise_constant", 0.1, {"boundaries": [4], "values": [0.3, 0.03]}, 3, 12),
    ("multi_step", 0.1, {"boundaries": [5, 12, 13]}, 0, 20),
    ("multi_step", 0.2, {"boundaries": [0, 3], "decay_rate": 0.5}, 0, 10),
    ("multi_step", 0.1, {"boundaries": [6], "decay_rate": 0.3}, 4, 16),
]

NOTES = []


def main():
    lines = [
        "# Learning-rate schedules: PyTorch 1.13 schedulers / Keras formulas, float64.",
        "# Generated by make_schedule_golden.py (read it for where each value comes from).",
    ]
    for kind, base, fields, warmup, total in RUNS:
        f = dict(DEFAULTS[kind])
        f.update(fields)
        proper = schedule_rates(kind, base, f, total - warmup)
        rates = [base * (s + 1) / warmup for s in range(warmup)] + proper
        # The warm-up rule is torch's LinearLR(start_factor=1/W, end_factor=1, total_iters=W-1).
        if warmup >= 2:
            check_all("warm-up", rates[:warmup], torch_rates(base, lambda o: torch.optim.lr_scheduler.LinearLR(
                o, start_factor=1.0 / warmup, end_factor=1.0, total_iters=warmup - 1), warmup))
        head = f"kind={kind} base={base!r}" + "".join(f" {k}={field_text(v)}" for k, v in fields.items())
        for s, r in enumerate(rates):
            lines.append(f"{head} warmup={warmup} total={total} step={s} rate={r:.17g}")
    for note in NOTES:
        lines.insert(2, "# note: " + note)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schedules.txt")
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")
    for note in NOTES:
        print("note:", note)
    print(f"wrote {len(lines)} lines to {path}")


if __name__ == "__main__":
    main()
