/* onnx_proto.h — the part of an ONNX file (onnx.proto3's ModelProto, protobuf wire format)
 * the importer reads (onnx_import.c): the graph's nodes in order, its initializers (as f32,
 * or as int64 for integer tensors such as Reshape's shape and a quantized model's int8 weights), its inputs and outputs with
 * their shapes, and the default domain's opset version. Everything else in the file is
 * skipped. Names and attributes are copied, so nothing points into the file's bytes.
 *
 * Field numbers (onnx.proto): ModelProto ir_version 1, producer_name 2, graph 7,
 * opset_import 8, metadata_props 14 (key 1, value 2); GraphProto node 1, initializer 5,
 * input 11, output 12; NodeProto input 1, output 2, name 3, op_type 4, attribute 5, domain 7; AttributeProto name 1, f 2, i 3, s 4,
 * t 5, floats 7, ints 8, strings 9, type 20; TensorProto dims 1, data_type 2, float_data 4,
 * int32_data 5, int64_data 7, name 8, raw_data 9, double_data 10, data_location 14;
 * ValueInfoProto name 1, type 2 -> TypeProto tensor_type 1 -> elem_type 1, shape 2 ->
 * TensorShapeProto dim 1 -> dim_value 1, dim_param 2. */
#ifndef KILN_IO_ONNX_PROTO_H
#define KILN_IO_ONNX_PROTO_H

#include "core/core.h"

enum { KN__ONNX_MAX_DIMS = 8, KN__ONNX_NAME = 256 };

/* TensorProto.DataType values the importer reads */
enum { KN__ONNX_FLOAT = 1, KN__ONNX_UINT8 = 2, KN__ONNX_INT8 = 3, KN__ONNX_UINT16 = 4, KN__ONNX_INT16 = 5, KN__ONNX_INT32 = 6,
       KN__ONNX_INT64 = 7, KN__ONNX_FLOAT16 = 10, KN__ONNX_DOUBLE = 11, KN__ONNX_BFLOAT16 = 16 };

typedef struct kn__onnx_tensor {
    char name[KN__ONNX_NAME];
    int64_t dims[KN__ONNX_MAX_DIMS];
    int ndim;
    int data_type;
    int64_t numel;
    float *f;   /* FLOAT, DOUBLE, FLOAT16 and BFLOAT16 tensors (numel values, widened to f32), else NULL */
    int64_t *i; /* integer tensors (INT8 ... INT64; numel values), else NULL */
} kn__onnx_tensor;

typedef enum { KN__ONNX_ATTR_NONE, KN__ONNX_ATTR_FLOAT, KN__ONNX_ATTR_INT, KN__ONNX_ATTR_STRING, KN__ONNX_ATTR_TENSOR,
               KN__ONNX_ATTR_FLOATS, KN__ONNX_ATTR_INTS, KN__ONNX_ATTR_STRINGS, KN__ONNX_ATTR_OTHER } kn__onnx_attr_kind;

typedef struct {
    char name[64];
    kn__onnx_attr_kind kind;
    float f;
    int64_t i;
    char s[64];             /* a string attribute (auto_pad's SAME_UPPER), cut at 63 bytes; STRINGS: n of
                               them joined by ',' (when they fit, else the kind is OTHER) */
    kn__onnx_tensor *t;     /* a tensor attribute (Constant's value) */
    float *floats;
    int64_t *ints;
    int n;                  /* floats', ints' or strings' count */
} kn__onnx_attr;

typedef struct {
    char op[64], name[KN__ONNX_NAME], domain[64];
    char (*inputs)[KN__ONNX_NAME]; /* "" for an input left out */
    char (*outputs)[KN__ONNX_NAME];
    int n_inputs, n_outputs;
    kn__onnx_attr *attrs;
    int n_attrs;
} kn__onnx_node;

typedef struct {
    char name[KN__ONNX_NAME];
    int elem_type;
    int64_t dims[KN__ONNX_MAX_DIMS]; /* -1: a named or unknown dimension (the batch) */
    int ndim;                        /* -1: no shape given */
} kn__onnx_value;

typedef struct {
    int64_t ir_version, opset; /* opset: the default domain's, 0 when the file names none */
    char producer[64];
    char *labels; /* metadata_props' "kiln.labels" (a JSON list of class names kiln export wrote), or NULL */
    bool raw_inputs; /* metadata_props has "kiln.inputs": the graph begins with a kiln model's CSV preprocessing */
    kn__onnx_node *nodes;
    int n_nodes;
    kn__onnx_tensor *inits;
    int n_inits;
    kn__onnx_value *inputs, *outputs;
    int n_inputs, n_outputs;
} kn__onnx_model;

/* Parses n bytes of an ONNX model into *m (zeroed first; kn__onnx_free it whatever the
 * status). KN_ERR_FORMAT naming `what` and the part at fault for bytes that are not one;
 * KN_ERR_UNSUPPORTED for what kiln does not read (weights in external files, tensors of
 * other element types). */
kn_status kn__onnx_parse(kn_ctx *ctx, const char *what, const uint8_t *buf, size_t n, kn__onnx_model *m);
void kn__onnx_free(kn__onnx_model *m);
void kn__onnx_node_free(kn__onnx_node *node); /* what one node holds (not the node itself) */

/* The node's attribute `name`, or NULL. */
const kn__onnx_attr *kn__onnx_attr_get(const kn__onnx_node *node, const char *name);

#endif
