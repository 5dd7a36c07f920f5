/* spec_write.c — a model back into its JSON description (the same vocabulary spec.c
 * reads), written complete: input_shape, every layer's units and options, loss and
 * optimizer with all hyperparameters, so a saved model rebuilds exactly. cJSON allocates
 * with malloc (outside the context's allocator hook, like OpenBLAS); never in a training step. */
#include "nn/model.h"
#include "classic/model.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

/* The shortest decimal that reads back as the same float (0.9f as 0.9, not 0.899999976). */
static double shortest(float f) {
    char buf[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

/* An initializer as Keras writes it: its name, or Constant's object with the value. */
static void add_initializer(cJSON *layer, const char *key, kn_init kind, float value) {
    if (kind != KN_INIT_CONSTANT) {
        cJSON_AddStringToObject(layer, key, kn_init_name(kind));
        return;
    }
    cJSON *init = cJSON_AddObjectToObject(layer, key);
    if (!init) return;
    cJSON_AddStringToObject(init, "class_name", "Constant");
    cJSON *config = cJSON_AddObjectToObject(init, "config");
    if (config) cJSON_AddNumberToObject(config, "value", shortest(value));
}

/* A sequence window's size as Keras writes it: a list of one, [n]. */
static void add_single(cJSON *layer, const char *key, int n) {
    cJSON *a = cJSON_AddArrayToObject(layer, key);
    if (a) cJSON_AddItemToArray(a, cJSON_CreateNumber(n));
}

/* The options a convolution shares with dense, as dense writes them. */
static void add_dense_options(cJSON *L, kn_activation activation, bool no_bias, kn_init kernel_init, kn_init bias_init,
                              float init_value, float l2, float alpha) {
    cJSON_AddStringToObject(L, "activation", kn_activation_name(activation));
    cJSON_AddBoolToObject(L, "use_bias", !no_bias);
    add_initializer(L, "kernel_initializer", kernel_init, init_value);
    add_initializer(L, "bias_initializer", bias_init, init_value);
    if (l2 > 0) {
        cJSON *r = cJSON_AddObjectToObject(L, "kernel_regularizer");
        if (r) cJSON_AddNumberToObject(r, "l2", shortest(l2));
    }
    if (alpha > 0) cJSON_AddNumberToObject(L, "alpha", shortest(alpha));
}

/* A window's two sizes as Keras writes them: [h, w]. */
/* A [lower, upper] pair of floats, each the shortest decimal that reads back to it. */
static void add_float_pair(cJSON *layer, const char *key, const float *f) {
    cJSON *a = cJSON_AddArrayToObject(layer, key);
    if (!a) return;
    cJSON_AddItemToArray(a, cJSON_CreateNumber(shortest(f[0])));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(shortest(f[1])));
}

/* A random augmentation layer's options, Keras's keys (factors always as [lower, upper]). */
static void add_random_image(cJSON *L, const kn_random_image_opts *o) {
    static const char *const fills[] = {"reflect", "wrap", "constant", "nearest"};
    if (o->kind == KN_RANDOM_FLIP) {
        cJSON_AddStringToObject(L, "mode", o->horizontal && o->vertical ? "horizontal_and_vertical"
                                           : o->horizontal              ? "horizontal"
                                                                        : "vertical");
    } else if (o->kind == KN_RANDOM_TRANSLATION || o->kind == KN_RANDOM_ZOOM) {
        add_float_pair(L, "height_factor", o->factor);
        if (o->kind == KN_RANDOM_ZOOM && o->width_same) cJSON_AddNullToObject(L, "width_factor");
        else add_float_pair(L, "width_factor", o->width_factor);
    } else {
        add_float_pair(L, "factor", o->factor);
    }
    if (o->kind == KN_RANDOM_CONTRAST || o->kind == KN_RANDOM_BRIGHTNESS) {
        add_float_pair(L, "value_range", o->value_range);
    } else if (o->kind != KN_RANDOM_FLIP) {
        cJSON_AddStringToObject(L, "fill_mode", (unsigned)o->fill_mode <= KN_FILL_NEAREST ? fills[o->fill_mode] : "reflect");
        cJSON_AddStringToObject(L, "interpolation", o->interpolation == KN_INTERP_NEAREST ? "nearest" : "bilinear");
        cJSON_AddNumberToObject(L, "fill_value", shortest(o->fill_value));
    }
    if (o->seeded) cJSON_AddNumberToObject(L, "seed", o->seed);
    else cJSON_AddNullToObject(L, "seed");
}

static void add_pair(cJSON *layer, const char *key, int h, int w) {
    cJSON *a = cJSON_AddArrayToObject(layer, key);
    if (!a) return;
    cJSON_AddItemToArray(a, cJSON_CreateNumber(h));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(w));
}

cJSON *kn__model_to_cjson(const kn_model *m) {
    if (m->classic) return kn__classic_to_cjson(m);
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "type", "sequential");
    cJSON *shape = cJSON_AddArrayToObject(root, "input_shape");
    for (int i = 0; shape && i < m->input_ndim; i++)
        cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)m->input_shape[i]));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    /* a sequential model's description stays as it was; another names every layer and
     * lists the inputs of each that does not take the previous layer */
    bool connected = !kn__model_is_sequential(m);
    for (int i = 0; layers && i < m->n_layers; i++) {
        const kn__layer *K = &m->layers[i];
        cJSON *L = cJSON_CreateObject();
        if (!L) break;
        cJSON_AddStringToObject(L, "type", kn__layer_type(K));
        if (connected) cJSON_AddStringToObject(L, "name", K->name);
        if (connected && (K->n_inputs != 1 || K->inputs[0] != i - 1)) {
            const char *names[KN__MAX_INPUTS];
            for (int k = 0; k < K->n_inputs; k++) names[k] = K->inputs[k] >= 0 ? m->layers[K->inputs[k]].name : "input";
            if (K->n_inputs == 1) cJSON_AddStringToObject(L, "inputs", names[0]);
            else cJSON_AddItemToObject(L, "inputs", cJSON_CreateStringArray(names, K->n_inputs));
        }
        if (K->kind == KN__LAYER_DENSE) {
            const kn_dense_opts *o = &K->u.dense;
            cJSON *D = L;
            if (K->per_step) { /* {"type": "time_distributed", "layer": {"type": "dense", ...}} */
                D = cJSON_AddObjectToObject(L, "layer");
                if (!D) D = L;
                else cJSON_AddStringToObject(D, "type", "dense");
            }
            cJSON_AddNumberToObject(D, "units", (double)o->units);
            add_dense_options(D, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_CONV2D) {
            const kn_conv2d_opts *o = &K->u.conv;
            cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            add_pair(L, "kernel_size", o->kernel_h, o->kernel_w);
            add_pair(L, "strides", o->stride_h, o->stride_w);
            cJSON_AddStringToObject(L, "padding", o->same ? "same" : "valid");
            add_pair(L, "dilation_rate", o->dilation_h, o->dilation_w);
            if (o->groups > 1) cJSON_AddNumberToObject(L, "groups", o->groups);
            add_dense_options(L, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_CONV_TRANSPOSE) {
            const kn_conv2d_transpose_opts *o = &K->u.conv_transpose;
            cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            add_pair(L, "kernel_size", o->kernel_h, o->kernel_w);
            add_pair(L, "strides", o->stride_h, o->stride_w);
            cJSON_AddStringToObject(L, "padding", o->same ? "same" : "valid");
            if (o->has_output_padding) add_pair(L, "output_padding", o->output_padding_h, o->output_padding_w);
            else cJSON_AddNullToObject(L, "output_padding");
            add_pair(L, "dilation_rate", o->dilation_h, o->dilation_w);
            add_dense_options(L, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_CONV1D_TRANSPOSE) { /* (the 2-D options' width: a 1 x K window) */
            const kn_conv2d_transpose_opts *o = &K->u.conv_transpose;
            cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            add_single(L, "kernel_size", o->kernel_w);
            add_single(L, "strides", o->stride_w);
            cJSON_AddStringToObject(L, "padding", o->same ? "same" : "valid");
            if (o->has_output_padding) add_single(L, "output_padding", o->output_padding_w);
            else cJSON_AddNullToObject(L, "output_padding");
            add_single(L, "dilation_rate", o->dilation_w);
            add_dense_options(L, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_CONV1D) {
            const kn_conv1d_opts *o = &K->u.conv1d;
            static const char *const pads[] = {"valid", "same", "causal"};
            cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            add_single(L, "kernel_size", o->kernel_size);
            add_single(L, "strides", o->stride);
            cJSON_AddStringToObject(L, "padding", pads[o->padding]);
            add_single(L, "dilation_rate", o->dilation);
            if (o->groups > 1) cJSON_AddNumberToObject(L, "groups", o->groups);
            add_dense_options(L, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_CONV3D) {
            const kn_conv3d_opts *o = &K->u.conv3d;
            cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            cJSON_AddItemToObject(L, "kernel_size", cJSON_CreateIntArray(o->kernel, 3));
            cJSON_AddItemToObject(L, "strides", cJSON_CreateIntArray(o->strides, 3));
            cJSON_AddStringToObject(L, "padding", o->same ? "same" : "valid");
            cJSON_AddItemToObject(L, "dilation_rate", cJSON_CreateIntArray(o->dilation, 3));
            add_dense_options(L, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_CONV3D_TRANSPOSE) {
            const kn_conv3d_transpose_opts *o = &K->u.conv3d_transpose;
            cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            cJSON_AddItemToObject(L, "kernel_size", cJSON_CreateIntArray(o->kernel, 3));
            cJSON_AddItemToObject(L, "strides", cJSON_CreateIntArray(o->strides, 3));
            cJSON_AddStringToObject(L, "padding", o->same ? "same" : "valid");
            if (o->has_output_padding) cJSON_AddItemToObject(L, "output_padding", cJSON_CreateIntArray(o->output_padding, 3));
            cJSON_AddItemToObject(L, "dilation_rate", cJSON_CreateIntArray(o->dilation, 3));
            add_dense_options(L, o->activation, o->no_bias, o->kernel_init, o->bias_init, o->init_value, o->l2, o->alpha);
        } else if (K->kind == KN__LAYER_POOL3D) {
            cJSON_AddItemToObject(L, "pool_size", cJSON_CreateIntArray(K->u.pool3d.pool, 3));
            cJSON_AddItemToObject(L, "strides", cJSON_CreateIntArray(K->u.pool3d.strides, 3));
            cJSON_AddStringToObject(L, "padding", K->u.pool3d.same ? "same" : "valid");
        } else if (K->kind == KN__LAYER_PAD3D) { /* [[front, back], [top, bottom], [left, right]] */
            cJSON *a = cJSON_AddArrayToObject(L, K->u.pad3d.crop ? "cropping" : "padding");
            for (int k = 0; a && k < 3; k++) cJSON_AddItemToArray(a, cJSON_CreateIntArray(K->u.pad3d.amount + 2 * k, 2));
        } else if (K->kind == KN__LAYER_UPSAMPLE3D) {
            cJSON_AddItemToObject(L, "size", cJSON_CreateIntArray(K->u.upsample3d, 3));
        } else if (K->kind == KN__LAYER_MAX_POOL2D || K->kind == KN__LAYER_AVG_POOL2D) {
            const kn__pool_opts *p = &K->u.pool;
            add_pair(L, "pool_size", p->pool_h, p->pool_w);
            add_pair(L, "strides", p->stride_h, p->stride_w);
            cJSON_AddStringToObject(L, "padding", p->same ? "same" : "valid");
        } else if (K->kind == KN__LAYER_MAX_POOL1D || K->kind == KN__LAYER_AVG_POOL1D) {
            const kn__pool_opts *p = &K->u.pool;
            add_single(L, "pool_size", p->pool_w);
            add_single(L, "strides", p->stride_w);
            cJSON_AddStringToObject(L, "padding", p->same ? "same" : "valid");
        } else if (K->kind == KN__LAYER_RNN) {
            const kn_rnn_opts *o = &K->u.rnn;
            static const char *const cells[] = {"simple_rnn", "lstm", "gru"}, *const merges[] = {"", "concat", "sum", "mul", "ave"};
            cJSON *outer = L;
            if (o->bidirectional) { /* {"type": "bidirectional", "merge_mode": ..., "layer": {the layer}} */
                cJSON_AddStringToObject(outer, "merge_mode", merges[o->bidirectional]);
                L = cJSON_AddObjectToObject(outer, "layer");
                if (!L) L = outer;
                else cJSON_AddStringToObject(L, "type", cells[o->cell]);
            }
            cJSON_AddNumberToObject(L, "units", (double)o->units);
            cJSON_AddStringToObject(L, "activation", kn_activation_name(o->activation));
            if (o->cell != KN_RNN_SIMPLE)
                cJSON_AddStringToObject(L, "recurrent_activation", kn_activation_name(o->recurrent_activation));
            cJSON_AddBoolToObject(L, "use_bias", !o->no_bias);
            add_initializer(L, "kernel_initializer", o->kernel_init, o->init_value);
            add_initializer(L, "recurrent_initializer", o->recurrent_init, o->init_value);
            add_initializer(L, "bias_initializer", o->bias_init, o->init_value);
            if (o->cell == KN_RNN_LSTM) cJSON_AddBoolToObject(L, "unit_forget_bias", o->unit_forget_bias);
            if (o->l2 > 0) {
                cJSON *r = cJSON_AddObjectToObject(L, "kernel_regularizer");
                if (r) cJSON_AddNumberToObject(r, "l2", shortest(o->l2));
            }
            cJSON_AddBoolToObject(L, "return_sequences", o->return_sequences);
            if (o->go_backwards) cJSON_AddBoolToObject(L, "go_backwards", true);
            if (o->dropout > 0) cJSON_AddNumberToObject(L, "dropout", shortest(o->dropout));
            if (o->recurrent_dropout > 0) cJSON_AddNumberToObject(L, "recurrent_dropout", shortest(o->recurrent_dropout));
            L = outer;
        } else if (K->kind == KN__LAYER_RESHAPE) {
            cJSON *t = cJSON_AddArrayToObject(L, "target_shape");
            for (int d = 0; t && d < K->ndim; d++) cJSON_AddItemToArray(t, cJSON_CreateNumber((double)K->shape[d]));
        } else if (K->kind == KN__LAYER_REPEAT_VECTOR) {
            cJSON_AddNumberToObject(L, "n", K->u.repeat);
        } else if (K->kind == KN__LAYER_PERMUTE) {
            cJSON *t = cJSON_AddArrayToObject(L, "dims");
            for (int d = 0; t && d < K->ndim; d++) cJSON_AddItemToArray(t, cJSON_CreateNumber(K->u.permute[d] + 1));
        } else if (K->kind == KN__LAYER_ACTIVATION) {
            cJSON_AddStringToObject(L, "activation", kn_activation_name(K->u.activation.act));
            if (K->u.activation.alpha > 0) cJSON_AddNumberToObject(L, "alpha", shortest(K->u.activation.alpha));
        } else if (K->kind == KN__LAYER_DROPOUT) {
            cJSON_AddNumberToObject(L, K->u.dropout.noise == 1 ? "stddev" : "rate", shortest(K->u.dropout.rate));
        } else if (K->kind == KN__LAYER_BATCH_NORM) {
            cJSON_AddNumberToObject(L, "momentum", shortest(K->u.bn.momentum));
            cJSON_AddNumberToObject(L, "epsilon", shortest(K->u.bn.epsilon));
        } else if (K->kind == KN__LAYER_LAYER_NORM || K->kind == KN__LAYER_GROUP_NORM) {
            if (K->kind == KN__LAYER_GROUP_NORM) cJSON_AddNumberToObject(L, "groups", K->u.ln.groups);
            cJSON_AddNumberToObject(L, "epsilon", shortest(K->u.ln.epsilon));
            cJSON_AddBoolToObject(L, "center", K->u.ln.center);
            cJSON_AddBoolToObject(L, "scale", K->u.ln.scale);
        } else if (K->kind == KN__LAYER_ATTENTION) {
            const kn_attention_opts *o = &K->u.attention;
            cJSON_AddNumberToObject(L, "num_heads", o->num_heads);
            cJSON_AddNumberToObject(L, "key_dim", (double)o->key_dim);
            cJSON_AddNumberToObject(L, "value_dim", (double)o->value_dim);
            cJSON_AddNumberToObject(L, "output_shape", (double)K->shape[1]);
            cJSON_AddBoolToObject(L, "use_bias", !o->no_bias);
            add_initializer(L, "kernel_initializer", o->kernel_init, o->init_value);
            add_initializer(L, "bias_initializer", o->bias_init, o->init_value);
            if (o->l2 > 0) {
                cJSON *r = cJSON_AddObjectToObject(L, "kernel_regularizer");
                if (r) cJSON_AddNumberToObject(r, "l2", shortest(o->l2));
            }
            cJSON_AddBoolToObject(L, "use_causal_mask", o->causal);
            if (o->dropout > 0) cJSON_AddNumberToObject(L, "dropout", shortest(o->dropout));
        } else if (K->kind == KN__LAYER_DOT) {
            cJSON_AddNumberToObject(L, "axes", -1);
            cJSON_AddBoolToObject(L, "normalize", K->u.dot_normalize);
        } else if (K->kind == KN__LAYER_MASKING) {
            cJSON_AddNumberToObject(L, "mask_value", shortest(K->u.mask_value));
        } else if (K->kind == KN__LAYER_DOT_ATTENTION) {
            cJSON_AddBoolToObject(L, "use_scale", K->u.dot_attention.use_scale);
            cJSON_AddStringToObject(L, "score_mode", "dot");
            cJSON_AddBoolToObject(L, "use_causal_mask", K->u.dot_attention.causal);
            if (K->u.dot_attention.dropout > 0) cJSON_AddNumberToObject(L, "dropout", shortest(K->u.dot_attention.dropout));
        } else if (K->kind == KN__LAYER_POSITION_EMBEDDING) {
            add_initializer(L, "initializer", K->u.position_init, 0);
        } else if (K->kind == KN__LAYER_DEPTHWISE || K->kind == KN__LAYER_DEPTHWISE1D) {
            const kn_depthwise_opts *o = &K->u.depthwise;
            bool seq = K->kind == KN__LAYER_DEPTHWISE1D; /* (the window's width alone) */
            if (o->filters) cJSON_AddNumberToObject(L, "filters", (double)o->filters);
            if (seq) add_single(L, "kernel_size", o->kernel_w);
            else add_pair(L, "kernel_size", o->kernel_h, o->kernel_w);
            if (seq) add_single(L, "strides", o->stride_w);
            else add_pair(L, "strides", o->stride_h, o->stride_w);
            cJSON_AddStringToObject(L, "padding", o->same ? "same" : "valid");
            if (seq) add_single(L, "dilation_rate", o->dilation_w);
            else add_pair(L, "dilation_rate", o->dilation_h, o->dilation_w);
            cJSON_AddNumberToObject(L, "depth_multiplier", o->depth_multiplier);
            cJSON_AddStringToObject(L, "activation", kn_activation_name(o->activation));
            cJSON_AddBoolToObject(L, "use_bias", !o->no_bias);
            add_initializer(L, "depthwise_initializer", o->depthwise_init, o->init_value);
            if (o->filters) add_initializer(L, "pointwise_initializer", o->pointwise_init, o->init_value);
            add_initializer(L, "bias_initializer", o->bias_init, o->init_value);
            float l2[2] = {o->l2, o->pointwise_l2};
            static const char *const regs[2] = {"depthwise_regularizer", "pointwise_regularizer"};
            for (int j = 0; j < 2; j++) {
                if (!(l2[j] > 0)) continue;
                cJSON *r = cJSON_AddObjectToObject(L, regs[j]);
                if (r) cJSON_AddNumberToObject(r, "l2", shortest(l2[j]));
            }
            if (o->alpha > 0) cJSON_AddNumberToObject(L, "alpha", shortest(o->alpha));
        } else if (K->kind == KN__LAYER_PAD) { /* Keras's get_config: [l, r], or [[t, b], [l, r]] */
            const char *key = K->u.pad.crop ? "cropping" : "padding";
            if (K->ndim == 2) {
                add_pair(L, key, K->u.pad.left, K->u.pad.right);
            } else {
                cJSON *a = cJSON_AddArrayToObject(L, key);
                cJSON *rows = cJSON_CreateArray(), *cols = cJSON_CreateArray();
                if (rows) {
                    cJSON_AddItemToArray(rows, cJSON_CreateNumber(K->u.pad.top));
                    cJSON_AddItemToArray(rows, cJSON_CreateNumber(K->u.pad.bottom));
                }
                if (cols) {
                    cJSON_AddItemToArray(cols, cJSON_CreateNumber(K->u.pad.left));
                    cJSON_AddItemToArray(cols, cJSON_CreateNumber(K->u.pad.right));
                }
                if (a) {
                    cJSON_AddItemToArray(a, rows);
                    cJSON_AddItemToArray(a, cols);
                } else {
                    cJSON_Delete(rows);
                    cJSON_Delete(cols);
                }
            }
        } else if (K->kind == KN__LAYER_UPSAMPLE) {
            if (K->ndim == 2) {
                cJSON_AddNumberToObject(L, "size", K->u.upsample.size_w);
            } else {
                add_pair(L, "size", K->u.upsample.size_h, K->u.upsample.size_w);
                cJSON_AddStringToObject(L, "interpolation",
                                        K->u.upsample.interpolation == KN_INTERP_BILINEAR ? "bilinear" : "nearest");
            }
        } else if (K->kind == KN__LAYER_RESIZE) {
            cJSON_AddNumberToObject(L, "height", K->u.resizing.height);
            cJSON_AddNumberToObject(L, "width", K->u.resizing.width);
            cJSON_AddStringToObject(L, "interpolation",
                                    K->u.resizing.interpolation == KN_INTERP_BILINEAR ? "bilinear" : "nearest");
        } else if (K->kind == KN__LAYER_RANDOM_IMAGE) {
            add_random_image(L, &K->u.random_image);
        } else if (K->kind == KN__LAYER_RESCALING) {
            cJSON_AddNumberToObject(L, "scale", shortest(K->u.rescaling.scale));
            cJSON_AddNumberToObject(L, "offset", shortest(K->u.rescaling.offset));
        } else if (K->kind == KN__LAYER_PRELU) {
            add_initializer(L, "alpha_initializer", K->u.prelu.alpha_init, K->u.prelu.init_value);
            if (K->u.prelu.per_channel) { /* every axis but the channels */
                cJSON *axes = cJSON_AddArrayToObject(L, "shared_axes");
                for (int d = 1; axes && d < K->ndim; d++) cJSON_AddItemToArray(axes, cJSON_CreateNumber(d));
            }
        } else if (K->kind == KN__LAYER_EMBEDDING) {
            const kn_embedding_opts *o = &K->u.embedding;
            cJSON_AddNumberToObject(L, "input_dim", (double)o->input_dim);
            cJSON_AddNumberToObject(L, "output_dim", (double)o->output_dim);
            add_initializer(L, "embeddings_initializer", o->embeddings_init, o->init_value);
            if (o->mask_zero) cJSON_AddBoolToObject(L, "mask_zero", true);
            if (o->l2 > 0) {
                cJSON *r = cJSON_AddObjectToObject(L, "embeddings_regularizer");
                if (r) cJSON_AddNumberToObject(r, "l2", shortest(o->l2));
            }
        }
        cJSON_AddItemToArray(layers, L);
    }
    if (m->compiled) {
        const kn_compile_opts *c = &m->copts;
        const kn_optimizer *o = &c->optimizer;
        cJSON_AddStringToObject(root, "loss", kn_loss_name(c->loss));
        if (c->from_logits) cJSON_AddBoolToObject(root, "from_logits", true);
        if (c->label_smoothing > 0) cJSON_AddNumberToObject(root, "label_smoothing", shortest(c->label_smoothing));
        if (c->huber_delta > 0) cJSON_AddNumberToObject(root, "huber_delta", shortest(c->huber_delta));
        if (kn__loss_is_focal(c->loss)) { /* written out, the defaults resolved: the file says what trained */
            cJSON_AddNumberToObject(root, "focal_gamma", shortest(c->focal_gamma > 0 ? c->focal_gamma : KN_FOCAL_GAMMA_DEFAULT));
            cJSON_AddNumberToObject(root, "focal_alpha", shortest(c->focal_alpha > 0 ? c->focal_alpha : KN_FOCAL_ALPHA_DEFAULT));
            if (c->apply_class_balancing) cJSON_AddBoolToObject(root, "apply_class_balancing", true);
        }
        /* precision when not the default, so fp32 models' descriptions stay as they were */
        if (c->precision != KN_PRECISION_FP32) cJSON_AddStringToObject(root, "precision", kn_precision_name(c->precision));
        if (c->precision == KN_PRECISION_FP16 && (c->loss_scale_initial > 0 || c->loss_scale_growth_interval > 0)) {
            cJSON *ls = cJSON_AddObjectToObject(root, "loss_scale");
            if (ls && c->loss_scale_initial > 0) cJSON_AddNumberToObject(ls, "initial_scale", c->loss_scale_initial);
            if (ls && c->loss_scale_growth_interval > 0)
                cJSON_AddNumberToObject(ls, "dynamic_growth_steps", c->loss_scale_growth_interval);
        }
        cJSON *opt = cJSON_AddObjectToObject(root, "optimizer");
        if (opt) {
            cJSON_AddStringToObject(opt, "type", kn_optimizer_name(o->kind));
            cJSON_AddNumberToObject(opt, "learning_rate", shortest(o->learning_rate));
            cJSON_AddNumberToObject(opt, "beta_1", shortest(o->beta_1));
            cJSON_AddNumberToObject(opt, "beta_2", shortest(o->beta_2));
            cJSON_AddNumberToObject(opt, "epsilon", shortest(o->epsilon));
            cJSON_AddNumberToObject(opt, "momentum", shortest(o->momentum));
            cJSON_AddBoolToObject(opt, "nesterov", o->nesterov);
            cJSON_AddNumberToObject(opt, "rho", shortest(o->rho));
            cJSON_AddNumberToObject(opt, "weight_decay", shortest(o->weight_decay));
            cJSON_AddNumberToObject(opt, "initial_accumulator_value", shortest(o->initial_accumulator));
            /* (Nadam's alone: the other optimizers' descriptions stay as they were) */
            if (o->kind == KN_OPT_NADAM) cJSON_AddNumberToObject(opt, "momentum_decay", shortest(o->momentum_decay));
            if (o->amsgrad) cJSON_AddBoolToObject(opt, "amsgrad", true);
            if (o->kind == KN_OPT_FTRL) { /* (Ftrl's alone, as Nadam's) */
                cJSON_AddNumberToObject(opt, "learning_rate_power", shortest(o->lr_power));
                cJSON_AddNumberToObject(opt, "l1_regularization_strength", shortest(o->l1));
                cJSON_AddNumberToObject(opt, "l2_regularization_strength", shortest(o->l2));
                cJSON_AddNumberToObject(opt, "l2_shrinkage_regularization_strength", shortest(o->l2_shrinkage));
                cJSON_AddNumberToObject(opt, "beta", shortest(o->ftrl_beta));
            }
            if (o->clip_norm > 0) cJSON_AddNumberToObject(opt, "clipnorm", shortest(o->clip_norm));
            if (o->clip_value > 0) cJSON_AddNumberToObject(opt, "clipvalue", shortest(o->clip_value));
        }
    }
    return root;
}

kn_status kn_model_to_json(const kn_model *m, char **out) {
    if (!m || !out) return KN_ERR_INVALID_ARGUMENT;
    *out = NULL;
    cJSON *root = kn__model_to_cjson(m);
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!text) return kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory writing its description");
    *out = kn__strdup(m->ctx, text);
    cJSON_free(text);
    return *out ? KN_OK : kn__error(m->ctx, KN_ERR_OUT_OF_MEMORY, "model: out of memory writing its description");
}
