"""tests/data/tokens.csv: a toy sentiment task over token indices, for kiln's Embedding layer
(models/embedding_tokens.json, tests/cli_commands.sh, the README). 800 "reviews" of 6 to 20
tokens from a vocabulary of 60, padded with 0 to 20 columns w0..w19: tokens 1-5 are
"positive words", 6-10 "negative words", 11-59 neutral; each review holds 0 to 3 of each
kind (never as many of both) and is labelled by which kind it holds more of. Synthetic: no
real text. Plain Python (no numpy), seeded, so the file is the same on every run:
    python3 tests/data/make_tokens.py > tests/data/tokens.csv"""
import random

rng = random.Random(2026)
T = 20
print(",".join("w%d" % i for i in range(T)) + ",label")
for _ in range(800):
    p, q = 0, 0
    while p == q:
        p, q = rng.randint(0, 3), rng.randint(0, 3)
    length = rng.randint(max(6, p + q), T)
    words = [rng.randint(11, 59) for _ in range(length - p - q)]
    words += [rng.randint(1, 5) for _ in range(p)] + [rng.randint(6, 10) for _ in range(q)]
    rng.shuffle(words)
    words += [0] * (T - length)
    print(",".join(str(w) for w in words) + "," + ("positive" if p > q else "negative"))
