/* kv/kv_int.h — internals shared by the kv/ layer's files: the common "protected + forced + best by
 * a comparator" selection every policy reduces to, and each policy's select function. Not public. */
#ifndef PONDER_KV_INT_H
#define PONDER_KV_INT_H
#include "ponder/kvpolicy.h"

/* a before b in keep order: < 0 when row a is the better one to keep */
typedef int (*kvp_cmp)(const void *ctx, int32_t a, int32_t b);

/* Keep every protected row, every row with forced[i] (counted against the budget), then the best
 * unprotected rows by cmp until `budget` unprotected rows are kept (forced ones first; if there are
 * more forced rows than the budget, all forced rows are kept). keep: ascending; returns the count
 * or -1 (out of memory). cmp may be NULL when nothing is ranked (forced covers the choice). */
int kvp_choose(const pd_kvp_rows *r, int budget, const uint8_t *forced, kvp_cmp cmp, const void *ctx, int32_t *keep);
/* Rows not protected. */
int kvp_unprotected_count(const pd_kvp_rows *r);
/* Mark the last `k` unprotected rows in forced. */
void kvp_force_recent(const pd_kvp_rows *r, int k, uint8_t *forced);
/* Mark the first `k` rows (live order) that are not protected in forced. */
void kvp_force_first(const pd_kvp_rows *r, int k, uint8_t *forced);
/* out[i] = max of in[j] over live rows j in [i - k/2, i + k/2] (k odd; k <= 1: a copy). */
void kvp_maxpool(const float *in, int n, int k, float *out);

int kvp_select_streaming(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);
int kvp_select_h2o(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);
int kvp_select_tova(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);
int kvp_select_snapkv(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);
int kvp_select_rkv(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);
int kvp_select_lazy(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);
int kvp_select_rlkv(const pd_kvp_spec *s, const pd_kvp_rows *r, int budget, int32_t *keep);

#endif
