/* loss_params.h — a loss node's settings besides its kind and from_logits, as the graph
 * stores them (KN_OP_LOSS / KN_OP_LOSS_GRAD: fparam[0] ls, fparam[1] gamma, fparam[2] alpha,
 * fparam[3] huber's delta (0: 1), iparam[2] balance) and as the backends' kernels take them. Plain C: the CUDA launchers'
 * header (cuda/launch.h) includes it as well. */
#ifndef KN_LOSS_PARAMS_H
#define KN_LOSS_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"

/* Keras's BinaryFocalCrossentropy / CategoricalFocalCrossentropy defaults (Lin et al. 2018) */
#define KN_FOCAL_GAMMA_DEFAULT 2.0f
#define KN_FOCAL_ALPHA_DEFAULT 0.25f
/* Keras's Huber and PyTorch's HuberLoss default */
#define KN_HUBER_DELTA_DEFAULT 1.0f

typedef struct kn_loss_params {
    float ls;        /* label smoothing, the cross-entropies (focal ones too); 0: none */
    float gamma;     /* the focal losses' focusing exponent, >= 0 */
    float alpha;     /* the focal losses' weight: categorical's factor; binary's for class 1 (1 - alpha
                      * for class 0) when balance is set */
    int32_t balance; /* binary focal: Keras's apply_class_balancing */
    float delta;     /* huber: where the square turns linear (> 0) */
} kn_loss_params;

/* the losses that take label smoothing and from_logits, and the two focal ones */
static inline bool kn__loss_is_focal(int kind) {
    return kind == KN_LOSS_BINARY_FOCAL_CROSSENTROPY || kind == KN_LOSS_CATEGORICAL_FOCAL_CROSSENTROPY;
}
static inline bool kn__loss_is_cross_entropy(int kind) {
    return kind == KN_LOSS_BINARY_CROSSENTROPY || kind == KN_LOSS_CATEGORICAL_CROSSENTROPY ||
           kind == KN_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY || kn__loss_is_focal(kind);
}

#endif
