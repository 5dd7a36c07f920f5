/* text.c — see text.h. */
#include "data/text.h"

#include <string.h>

static bool word_byte(unsigned char c) { return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void kn__text_tokens(const char *s, char *buf, void (*fn)(void *arg, const char *token), void *arg) {
    size_t n = strlen(s);
    for (size_t i = 0; i <= n; i++) buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
    for (size_t i = 0; i < n;) {
        if (!word_byte((unsigned char)buf[i])) {
            i++;
            continue;
        }
        size_t j = i, chars = 0;
        for (; j < n && word_byte((unsigned char)buf[j]); j++) chars += ((unsigned char)buf[j] & 0xC0) != 0x80;
        if (chars >= 2) {
            char keep = buf[j];
            buf[j] = '\0';
            fn(arg, buf + i);
            buf[j] = keep;
        }
        i = j;
    }
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

int64_t kn__terms_index(kn_ctx *ctx, kn__terms *t, const char *term, bool add) {
    if (add && 2 * (t->n + 1) > t->cap) { /* grow and rehash */
        int64_t cap = t->cap ? 2 * t->cap : 256;
        int64_t *slot = kn__calloc(ctx, (size_t)cap, sizeof *slot);
        if (!slot) return -2;
        for (int64_t i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                int64_t h = (int64_t)(fnv1a(t->text[t->slot[i] - 1]) & (uint64_t)(cap - 1));
                while (slot[h]) h = (h + 1) & (cap - 1);
                slot[h] = t->slot[i];
            }
        kn__free(ctx, t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    if (!t->cap) return -1;
    int64_t h = (int64_t)(fnv1a(term) & (uint64_t)(t->cap - 1));
    for (; t->slot[h]; h = (h + 1) & (t->cap - 1))
        if (strcmp(t->text[t->slot[h] - 1], term) == 0) return t->slot[h] - 1;
    if (!add) return -1;
    if (t->n == t->alloc) {
        int64_t alloc = t->alloc ? 2 * t->alloc : 256;
        char **text = kn__alloc(ctx, (size_t)alloc * sizeof *text);
        if (!text) return -2;
        if (t->n) memcpy(text, t->text, (size_t)t->n * sizeof *text);
        kn__free(ctx, t->text);
        t->text = text;
        t->alloc = alloc;
    }
    if (!(t->text[t->n] = kn__strdup(ctx, term))) return -2;
    t->slot[h] = ++t->n;
    return t->n - 1;
}

void kn__terms_free(kn_ctx *ctx, kn__terms *t) {
    for (int64_t i = 0; i < t->n; i++) kn__free(ctx, t->text[i]);
    kn__free(ctx, t->text);
    kn__free(ctx, t->slot);
    memset(t, 0, sizeof *t);
}
