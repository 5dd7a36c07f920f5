/* loader.c — see loader.h. One buffer is enough: the trainer copies a batch into the
 * model's input before asking for the next, and the copy (~100 KB for the reference MLP)
 * is a few microseconds, while gathering scattered rows and augmenting them is what the
 * thread hides. Waiting is a short spin (the batch is usually ready), then a condition
 * variable, so an idle loader costs no CPU that training threads could use. */
#include "train/loader.h"
#include "data/dataset.h"

#include <sched.h>
#include <string.h>


void kn__augment_from_public(const kn_augment *pub, kn__augment *out) {
    kn__augment_defaults(out);
    out->shift = pub->shift;
    out->flip = pub->flip;
    out->rotate = pub->rotate;
    out->noise = pub->noise;
    out->erase = pub->erase;
    /* exactly 0 (a zeroed struct) means 1; anything else is kept for kn__augment_check */
    out->shift_p = pub->shift_p == 0 ? 1 : pub->shift_p;
    out->rotate_p = pub->rotate_p == 0 ? 1 : pub->rotate_p;
    out->noise_p = pub->noise_p == 0 ? 1 : pub->noise_p;
}

void kn__shard(int64_t b, int rank, int world, int64_t *start, int64_t *count) {
    if (world <= 1) {
        *start = 0;
        *count = b;
        return;
    }
    int64_t lo = b * rank / world, hi = b * (rank + 1) / world;
    *start = lo;
    *count = hi - lo;
}

void kn__loader_rows(const kn__loader *l, int64_t s, const int64_t **idx, int64_t *n) {
    int64_t b = (s + 1) * l->bs <= l->n_rows ? l->bs : l->n_rows - s * l->bs, start;
    kn__shard(b, l->rank, l->world, &start, n);
    *idx = l->perm + s * l->bs + start;
}

/* Gathers (and augments) step s into buf. */
static void prepare(kn__loader *l, int64_t s) {
    const int64_t *idx;
    int64_t n;
    kn__loader_rows(l, s, &idx, &n);
    size_t row = (size_t)l->features * sizeof(float);
    for (int64_t i = 0; i < n; i++) memcpy(l->buf + i * l->features, l->data->x + idx[i] * l->features, row);
    if (l->augmenting) /* keyed by dataset row: the same draws whatever the batch it lands in */
        kn__augment_batch(&l->aug, l->buf, n, l->h, l->w, l->c, l->seed, l->stream, idx, l->scratch);
}

/* The hand-off: asked and ready are atomics; each side spins a little (the other side is
 * usually a few microseconds away) and then sleeps on cv, flagging it (sleeping, waiting)
 * so the other side knows to wake it. Flag and value are stored, then the other's read,
 * sequentially consistent (Dekker), so a wake-up is never lost. */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void wake(kn__loader *l) {
    pthread_mutex_lock(&l->mu);
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* Spins up to `spins` times (~40 ns each) while *x == v; true when it changed. */
static bool spin_while(int64_t *x, int64_t v, int spins) {
    for (int i = 0; i < spins; i++) {
        if (LOAD(*x) != v) return true;
        cpu_relax();
    }
    return LOAD(*x) != v;
}

static void *producer(void *arg) {
    kn__loader *l = arg;
    for (;;) {
        if (!spin_while(&l->asked, -1, 2000) && !LOAD(l->quit)) {
            pthread_mutex_lock(&l->mu);
            STORE(l->sleeping, 1);
            while (LOAD(l->asked) < 0 && !LOAD(l->quit)) pthread_cond_wait(&l->cv, &l->mu);
            STORE(l->sleeping, 0);
            pthread_mutex_unlock(&l->mu);
        }
        if (LOAD(l->quit)) break;
        STORE(l->busy, 1);
        int64_t s = __atomic_exchange_n(&l->asked, -1, __ATOMIC_SEQ_CST);
        if (s >= 0) {
            prepare(l, s);
            STORE(l->ready, s);
        }
        STORE(l->busy, 0);
        if (LOAD(l->waiting)) wake(l);
    }
    return NULL;
}

kn_status kn__loader_init(kn__loader *l, kn_ctx *ctx, const kn_dataset *data, int64_t n_rows, int64_t bs, int rank,
                          int world, const kn__augment *aug, uint64_t seed, bool threaded) {
    memset(l, 0, sizeof *l);
    l->ctx = ctx;
    l->data = data;
    l->features = data->features;
    l->n_rows = n_rows;
    l->bs = bs;
    l->steps = (n_rows + bs - 1) / bs;
    l->rank = rank;
    l->world = world < 1 ? 1 : world;
    l->seed = seed;
    l->asked = l->ready = -1;
    l->augmenting = aug && kn__augment_active(aug);
    if (l->augmenting) {
        if (data->sample_ndim != 3 && data->sample_ndim != 2)
            return kn__error(ctx, KN_ERR_INVALID_ARGUMENT,
                             "augment: the data are not images (sample shape of %d dimension%s); augmentation needs (height, width[, channels])",
                             data->sample_ndim, data->sample_ndim == 1 ? "" : "s");
        l->aug = *aug;
        l->h = (int)data->sample_shape[0];
        l->w = (int)data->sample_shape[1];
        l->c = data->sample_ndim == 3 ? (int)data->sample_shape[2] : 1;
        l->scratch = kn__alloc(ctx, (size_t)l->h * (size_t)l->w * (size_t)l->c * sizeof(float));
    }
    int64_t start, local;
    kn__shard(bs, 0, l->world, &start, &local);
    local += l->world > 1; /* shares differ by at most one */
    l->buf = kn__alloc(ctx, (size_t)local * (size_t)l->features * sizeof(float));
    if (!l->buf || (l->augmenting && !l->scratch)) {
        kn__loader_free(l);
        return kn__error(ctx, KN_ERR_OUT_OF_MEMORY, "loader: out of memory for a batch of %lld", (long long)bs);
    }
    if (threaded) {
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv, NULL);
        if (pthread_create(&l->thread, NULL, producer, l) != 0) { /* run inline instead */
            pthread_mutex_destroy(&l->mu);
            pthread_cond_destroy(&l->cv);
            kn__log(ctx, KN_LOG_WARN, "loader: cannot start a thread; preparing batches inline");
        } else {
            l->threaded = true;
        }
    }
    return KN_OK;
}

void kn__loader_free(kn__loader *l) {
    if (l->threaded) {
        STORE(l->quit, 1);
        wake(l);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        l->threaded = false;
    }
    kn__free(l->ctx, l->buf);
    kn__free(l->ctx, l->scratch);
    l->buf = l->scratch = NULL;
}

void kn__loader_prefetch(kn__loader *l, int64_t s) {
    if (s < 0 || s >= l->steps || !l->threaded) return;
    STORE(l->ready, -1);
    STORE(l->asked, s);
    if (LOAD(l->sleeping)) wake(l);
}

void kn__loader_epoch(kn__loader *l, const int64_t *perm, int epoch, int64_t first_step) {
    if (l->threaded) /* an unfinished request ends before the order changes (between epochs: rare) */
        while (LOAD(l->asked) >= 0 || LOAD(l->busy)) sched_yield();
    l->perm = perm;
    l->stream = kn__loader_augment_stream(epoch);
    STORE(l->ready, -1);
    kn__loader_prefetch(l, first_step);
}

const float *kn__loader_take(kn__loader *l, int64_t s) {
    if (!l->threaded) {
        prepare(l, s);
        return l->buf;
    }
    if (LOAD(l->ready) != s && LOAD(l->asked) != s && !LOAD(l->busy)) kn__loader_prefetch(l, s); /* never asked: a resume */
    for (int i = 0; i < 500 && LOAD(l->ready) != s; i++) cpu_relax(); /* usually ready, or nearly */
    if (LOAD(l->ready) == s) return l->buf;
    double t0 = kn__now();
    pthread_mutex_lock(&l->mu);
    STORE(l->waiting, 1);
    while (LOAD(l->ready) != s) pthread_cond_wait(&l->cv, &l->mu);
    STORE(l->waiting, 0);
    pthread_mutex_unlock(&l->mu);
    l->wait_seconds += kn__now() - t0;
    return l->buf;
}
