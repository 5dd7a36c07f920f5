/* text.h — the words of a text column as scikit-learn's TfidfVectorizer finds them (its
 * defaults: lowercase, token_pattern (?u)\b\w\w+\b), for the CSV preprocessing's text=
 * columns (preprocess.c): tokens are runs of at least two word characters, a word character
 * being an ASCII letter, digit or '_', or any non-ASCII character (UTF-8), counted as one
 * character however many bytes it takes. ASCII letters are lowercased; other characters are
 * kept as they are. Where scikit-learn differs: it lowercases every script, and counts
 * non-ASCII punctuation (curly quotes, dashes) as separators. */
#ifndef KN_DATA_TEXT_H
#define KN_DATA_TEXT_H

#include "core/core.h"

/* Calls fn(arg, token) for each token of s in order; token is NUL-terminated and lowercased,
 * in buf, which must hold strlen(s) + 1 bytes (it is overwritten). */
void kn__text_tokens(const char *s, char *buf, void (*fn)(void *arg, const char *token), void *arg);

/* Terms numbered in the order they are first added: open addressing over FNV-1a hashes. */
typedef struct kn__terms {
    int64_t n, cap, alloc;
    int64_t *slot;  /* (cap) index + 1, 0 empty */
    char **text;    /* (alloc) index -> term (owned) */
} kn__terms;

/* The index of term, adding it when new (add) or -1 when absent (!add); -2 when out of memory. */
int64_t kn__terms_index(kn_ctx *ctx, kn__terms *t, const char *term, bool add);
void kn__terms_free(kn_ctx *ctx, kn__terms *t);

#endif
