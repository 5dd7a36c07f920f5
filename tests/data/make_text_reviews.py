"""tests/data/text_reviews.csv: short synthetic product reviews as free text, for kiln's
sequence= columns (token ids for an Embedding layer: models/embedding_text.json,
tests/cli_commands.sh, the README). 600 reviews of one or two sentences built from templates
over a few products, parts, neutral filler and sentiment phrases; labelled positive or
negative by the phrases they hold (some hold one of each, labelled by the more numerous kind,
never tied), with mixed case, punctuation and a few empty reviews (missing text). Synthetic:
no real customer text. Plain Python, seeded, so the file is the same on every run:
    python3 tests/data/make_text_reviews.py > tests/data/text_reviews.csv"""
import random

rng = random.Random(7)
products = ["phone", "laptop", "headset", "kettle", "camera", "blender", "speaker", "watch", "router", "charger"]
parts = ["battery", "screen", "sound", "lid", "strap", "cable", "button", "lens", "motor", "case"]
good = ["works great", "is excellent", "is really good", "exceeded my expectations", "is fantastic",
        "is well made", "is so reliable", "was worth every penny", "is perfect", "feels solid"]
bad = ["stopped working", "is terrible", "broke quickly", "is really poor", "was a waste of money",
       "feels cheap", "is so unreliable", "keeps failing", "is awful", "arrived damaged"]
filler = ["I bought it last month", "we use it every day", "delivery took a week", "it came in a big box",
          "my brother has the same one", "the manual is short", "I got the black one", "it was on sale",
          "setup took ten minutes", "I use it at work"]
openers = ["", "Honestly, ", "Well... ", "So far ", "After two weeks, "]

print("review,label")
for i in range(600):
    if i % 97 == 13:  # a few missing reviews: all padding ids
        print(',"%s"' % rng.choice(["positive", "negative"]))
        continue
    p, q = 0, 0
    while p == q:
        p, q = rng.randint(0, 2), rng.randint(0, 2)
    clauses = ["the %s %s" % (rng.choice(parts + products), rng.choice(good)) for _ in range(p)]
    clauses += ["the %s %s" % (rng.choice(parts + products), rng.choice(bad)) for _ in range(q)]
    clauses += [rng.choice(filler) for _ in range(rng.randint(0, 2))]
    rng.shuffle(clauses)
    text = rng.choice(openers) + ", ".join(clauses) + rng.choice([".", "!", "", " :)", "..."])
    if rng.random() < 0.2:
        text = text.upper()
    print('"%s",%s' % (text.replace('"', '""'), "positive" if p > q else "negative"))
