"""scikit-learn 1.2.1 TfidfVectorizer values for tests/test_text_features.c (Debian's
python3-sklearn):
/usr/bin/python3 tests/golden/make_text.py > tests/golden/text.txt

Fitted on the review column of every row of tests/data/reviews.csv (the empty cell is an
empty document, as kiln reads a missing text), with TfidfVectorizer's defaults (lowercase,
token_pattern (?u)\\b\\w\\w+\\b, smooth idf, l2 norm) and max_features None or 8 (which
keeps the 8 terms most frequent over the corpus: every term seen 4 times or more, so no tie
falls at the limit; scikit-learn orders terms of equal count by numpy's unstable argsort,
kiln alphabetically); then applied to QUERIES, which the C test writes to a CSV of its own.

Format: one record a line. For max_features K (tag "all" or "top8"): <tag>_terms as a line of
the terms separated by spaces (none holds a space), <tag>_shape (queries, terms) and <tag>_x
(queries x terms, row-major, %.17g)."""
import csv
import os

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

HERE = os.path.dirname(os.path.abspath(__file__))
QUERIES = [
    "GREAT battery, great SCREEN",
    "completely unknown words here",
    "",
    "caf\u00e9 na\u00efve espresso, the battery",
    "The the THE battery battery great",
]

with open(os.path.join(HERE, "..", "data", "reviews.csv"), newline="", encoding="utf-8") as f:
    texts = [r[0] for r in list(csv.reader(f))[1:]]

for tag, k in (("all", None), ("top8", 8)):
    v = TfidfVectorizer(max_features=k).fit(texts)
    x = v.transform(QUERIES).toarray()
    print(tag + "_terms " + " ".join(v.get_feature_names_out()))
    print(tag + "_shape %d %d" % x.shape)
    print(tag + "_x " + " ".join("%.17g" % t for t in np.ravel(x)))
