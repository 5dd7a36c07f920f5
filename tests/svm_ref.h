/* svm_ref.h — what test_svm.c and test_svr.c share: a fitted kernel SVM's kernel between two
 * rows, in double, as the reference the model's own float kernel values are checked against. */
#ifndef KN_TEST_SVM_REF_H
#define KN_TEST_SVM_REF_H

#include <math.h>

#include "classic/svm.h"

static double kernel_d(const kn__svm *m, const float *a, const float *b) {
    double dot = 0, dist = 0;
    for (int64_t j = 0; j < m->d; j++) {
        dot += (double)a[j] * b[j];
        dist += ((double)a[j] - b[j]) * ((double)a[j] - b[j]);
    }
    switch (m->kernel) {
    case KN_SVM_KERNEL_POLY: return pow(m->gamma * dot + m->coef0, m->degree);
    case KN_SVM_KERNEL_RBF: return exp(-m->gamma * dist);
    case KN_SVM_KERNEL_SIGMOID: return tanh(m->gamma * dot + m->coef0);
    default: return dot;
    }
}

#endif
