/* cli/bench_kv.h — `ponder bench --kv-policy P --kv-budget B`: decode speed and peak KV bytes at long
 * positions, full cache against the evicting one (cli/bench_kv.c). */
#ifndef PONDER_BENCH_KV_H
#define PONDER_BENCH_KV_H
#include <cjson/cJSON.h>
#include <stdbool.h>
#include "ponder/kvpolicy.h"

/* For every depth D: one greedy generation from a 16-token random prompt to position D + n_gen with
 * the full cache, one with the policy; decode tokens/s over the last n_gen tokens (positions D .. D +
 * n_gen), the cache's peak bytes over the whole run and the live rows per (layer, kv head) at the end.
 * Markdown table on stdout, or one object per row into arr (JSON). Returns the exit code. */
int cli_bench_kv(const char *path, const char *label, const pd_kvp_spec *spec, const int *depth, int n_depth,
                 int n_gen, int threads, pd_type kv_type, pd_type kv_type_v, cJSON *arr, bool jsonl);
/* `ponder bench --kv-plot RESULTS.jsonl --out CHART.png|svg`: lines {"policy", "budget_pct", "accuracy"
 * (0..1), "peak_kv_bytes"} → two panels (accuracy, peak KV) against the budget, one line per policy. */
int cli_bench_kv_plot(const char *in, const char *out);
#endif
