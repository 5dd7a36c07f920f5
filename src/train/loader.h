/* loader.h — the batches of a training epoch: the rows of each step in the epoch's shuffled
 * order (this rank's share of them under data parallelism), gathered into one buffer and
 * augmented, on a background thread one step ahead of training, or inline.
 *
 *   kn__loader_init(&l, ...)            once per fit (allocates; starts the thread)
 *   kn__loader_epoch(&l, perm, ep, s0)  each epoch: the order, and the first step wanted
 *   x = kn__loader_take(&l, s, ...)     step s's rows (waits for the thread if need be)
 *   kn__loader_prefetch(&l, s + 1)      after x is copied: the thread prepares the next
 *   kn__loader_free(&l)
 *
 * What a step's batch holds depends only on (seed, epoch, step): never on the thread, so
 * training stays deterministic and a checkpoint resumes bit-identically. */
#ifndef KN_TRAIN_LOADER_H
#define KN_TRAIN_LOADER_H

#include "core/core.h"
#include "data/augment.h"

#include <pthread.h>

typedef struct kn__loader {
    kn_ctx *ctx;
    const kn_dataset *data;
    int64_t features;
    int64_t n_rows, bs, steps;  /* training rows (the first n_rows of data), global batch */
    int rank, world;            /* this process's share of each global batch */
    const int64_t *perm;        /* (n_rows) the epoch's order */
    bool augmenting;
    kn__augment aug;
    int h, w, c;                /* image geometry for augmentation */
    uint64_t seed, stream;      /* augmentation draws: stream per epoch */
    float *buf;                 /* (local batch, features): the prepared batch */
    float *scratch;             /* (h * w * c) augmentation scratch */

    bool threaded;
    pthread_t thread;
    pthread_mutex_t mu;         /* only for sleeping and waking: the hand-off is atomics */
    pthread_cond_t cv;
    int64_t asked;              /* atomic: step the thread is to prepare, -1: none */
    int64_t ready;              /* atomic: step in buf, -1: none */
    int busy, quit;             /* atomic: preparing; told to end */
    int sleeping, waiting;      /* atomic: the thread / the trainer is blocked on cv */
    double wait_seconds;        /* time take() waited for the thread (profiling) */
} kn__loader;

/* The stream of epoch `epoch`'s augmentation draws (above the shuffle's and split's):
 * every sample's draws are kn__augment_draw_one(aug, h, w, seed, this, dataset row). */
static inline uint64_t kn__loader_augment_stream(int epoch) { return ((uint64_t)1 << 20) + (uint64_t)epoch; }

/* The public kn_augment (kiln.h) as kn__augment: probabilities of 0 for shift, rotate and
 * noise mean 1; erasing takes torchvision's defaults. */
void kn__augment_from_public(const kn_augment *pub, kn__augment *out);

/* Rows [*start, *start + *count) of a global batch of b rows that rank `rank` of `world`
 * takes: contiguous, sizes differing by at most one. */
void kn__shard(int64_t b, int rank, int world, int64_t *start, int64_t *count);

/* aug: NULL or inactive for none (it must have passed kn__augment_check). With augmentation
 * the data must be images (a sample shape (h, w, c)). threaded: a background thread. */
kn_status kn__loader_init(kn__loader *l, kn_ctx *ctx, const kn_dataset *data, int64_t n_rows, int64_t bs, int rank,
                          int world, const kn__augment *aug, uint64_t seed, bool threaded);
void kn__loader_free(kn__loader *l);
/* Starts an epoch over perm (n_rows), preparing first_step in the background. */
void kn__loader_epoch(kn__loader *l, const int64_t *perm, int epoch, int64_t first_step);
/* The rows of step s (this rank's share): *idx (into data) and *n. */
void kn__loader_rows(const kn__loader *l, int64_t s, const int64_t **idx, int64_t *n);
/* Step s's batch, (n, features), valid until the next prefetch. */
const float *kn__loader_take(kn__loader *l, int64_t s);
/* Asks for step s (ignored past the epoch's last step) once the caller is done with the buffer. */
void kn__loader_prefetch(kn__loader *l, int64_t s);

#endif
