/* passes.h — the graph optimizer: passes that rewrite a built graph (forward, loss,
 * backward and optimizer update together) before the planner lays out its memory. Each
 * pass is one file; passes.c runs them in order and holds the helpers they share.
 *
 * Rules every pass keeps:
 *  - node order stays topological (a node reads only earlier nodes): new nodes are
 *    inserted before their first reader;
 *  - outputs keep their identity: a rewrite changes a node in place rather than replacing
 *    it when others may hold it (kept tensors, parameter gradients, the model's handles);
 *  - a node may read another only if every run mode that runs the reader runs the writer
 *    (kn__phase_covers);
 *  - nodes a rewrite leaves unused are removed by that rewrite (DCE removes what was dead
 *    to begin with). */
#ifndef KN_PASSES_H
#define KN_PASSES_H

#include "graph/graph.h"

/* The passes, in the order compile runs them. */
kn_status kn__pass_dce(kn_graph *g);
kn_status kn__pass_fold(kn_graph *g);
kn_status kn__pass_cse(kn_graph *g);
kn_status kn__pass_simplify(kn_graph *g);
kn_status kn__pass_fuse(kn_graph *g);
kn_status kn__pass_inplace(kn_graph *g);

/* Runs the passes g->passes selects, recording node counts after each. */
kn_status kn__run_passes(kn_graph *g);

/* ---- helpers (passes.c) */

/* Nodes a pass must never remove: the caller's (kept) tensors, parameter gradients,
 * optimizer updates, inputs and parameters. */
bool kn__is_output(const kn_tensor *t);
/* Sets every node's n_uses: how many source slots read it (a node reading x twice counts 2). */
void kn__count_uses(kn_graph *g);
/* Points every reader of old at new (n_uses moved). */
void kn__replace_uses(kn_graph *g, kn_tensor *old, kn_tensor *repl);
/* Marks t dead and, recursively, its sources that no longer have readers (n_uses updated). */
void kn__kill(kn_graph *g, kn_tensor *t);
/* Gives t new sources (NULL for none), keeping n_uses right: old sources left unread die. */
void kn__rewire(kn_graph *g, kn_tensor *t, kn_tensor *a, kn_tensor *b, kn_tensor *c, kn_tensor *d);
/* Drops dead nodes from the list (kept for freeing) and renumbers ids; false when out of memory. */
bool kn__sweep(kn_graph *g);
/* Moves t (just built, so last in the list) to just before `before`, renumbering ids. */
void kn__move_before(kn_graph *g, kn_tensor *t, kn_tensor *before);
/* True for a CONST leaf every element of which is v. */
bool kn__is_const_value(const kn_tensor *t, float v);
/* True for ops that compute out[i] from inputs at i only (+ broadcast): may fuse into a loop. */
bool kn__is_elementwise(const kn_tensor *t);

#endif
