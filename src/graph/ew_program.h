/* ew_program.h — a chain of elementwise ops fused into one loop (the fuse pass builds it,
 * backend/cpu/fused.c runs it): instructions over the node's inputs and earlier results,
 * evaluated block by block so intermediate values stay in registers of a few KB. */
#ifndef KN_EW_PROGRAM_H
#define KN_EW_PROGRAM_H

#include "graph.h"

#define KN_EW_MAX_INSTR 8
#define KN_EW_MAX_INPUTS 4 /* a program's inputs (nodes may have KN_MAX_SRC) */
/* Operands: 0 .. KN_MAX_SRC-1 are the node's inputs (src[i]), KN_EW_REG0 + i the result of
 * instruction i; -1 none. The last instruction's result is the node's output. */
#define KN_EW_REG0 16

typedef enum { KN_EW_COPY, KN_EW_ADD, KN_EW_SUB, KN_EW_MUL, KN_EW_SCALE, KN_EW_ACT, KN_EW_ACT_GRAD } kn_ew_opcode;

typedef struct {
    uint8_t op;        /* kn_ew_opcode */
    int8_t a, b;       /* operands (b: -1 for unary ops; ACT_GRAD: a = dy, b = v) */
    int8_t act;        /* kn_activation for ACT and ACT_GRAD */
    float f;           /* SCALE's factor; an activation's alpha */
} kn_ew_instr;

typedef struct {
    int n_inputs, n_instr;
    uint8_t bcast[KN_MAX_SRC];   /* (KN_EW_MAX_INPUTS used) kn_bcast of each input against the output */
    kn_ew_instr instr[KN_EW_MAX_INSTR];
    char label[64];              /* "add+mul+relu" */
} kn_ew_program;

#endif
