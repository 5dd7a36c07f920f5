/* status.c — names and descriptions of kn_status codes, generated from KN_STATUS_LIST, and
 * the dtype table. */
#include "core.h"

const char *kn_status_name(kn_status status) {
    switch (status) {
#define KN_NAME_(name, text) case name: return #name;
        KN_STATUS_LIST(KN_NAME_)
#undef KN_NAME_
    default: return "KN_STATUS_UNKNOWN";
    }
}

const char *kn_status_text(kn_status status) {
    switch (status) {
#define KN_TEXT_(name, text) case name: return text;
        KN_STATUS_LIST(KN_TEXT_)
#undef KN_TEXT_
    default: return "unknown status";
    }
}

static const struct { const char *name; size_t size; } dtype_table[] = {
    [KN_F32] = {"F32", 4}, [KN_F16] = {"F16", 2}, [KN_BF16] = {"BF16", 2},
    [KN_I32] = {"I32", 4}, [KN_U8] = {"U8", 1}, [KN_I8] = {"I8", 1},
};
_Static_assert(sizeof dtype_table / sizeof dtype_table[0] == KN_DTYPE_COUNT,
               "dtype table out of step with kn_dtype");

size_t kn_dtype_size(kn_dtype dtype) {
    return (unsigned)dtype < KN_DTYPE_COUNT ? dtype_table[dtype].size : 0;
}

const char *kn_dtype_name(kn_dtype dtype) {
    return (unsigned)dtype < KN_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}
