/* cli/bench_compare.h — running a user's llama-bench on the same file for `ponder bench --compare`
 * (cli/bench_compare.c). */
#ifndef PD_CLI_BENCH_COMPARE_H
#define PD_CLI_BENCH_COMPARE_H
#include <cjson/cJSON.h>

/* Run `bin -m model -p PP -n TG -t TH -r reps -ctk K -ctv V -o json` and return its parsed
 * result array (caller frees with cJSON_Delete), or NULL with pd_last_error set. */
cJSON *cli_llama_bench_run(const char *bin, const char *model, const int *pp, int n_pp, const int *tg, int n_tg,
                           const int *th, int n_th, int reps, const char *k_type,
                           const char *v_type);
/* llama-bench's mean tokens/s for one test (n_prompt, n_gen, threads), or -1 when absent. */
double cli_llama_bench_ts(const cJSON *arr, int n_prompt, int n_gen, int threads);

#endif
