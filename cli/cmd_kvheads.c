/* cli/cmd_kvheads.c — `ponder kvheads`: the per-(layer, kv head) gate file RLKV's head-wise allocation
 * reads (--kv-policy rlkv:gates=FILE). Gates come from an offline attention score on teacher-forced
 * reference traces of a task (pd_kvp_head_scores: attention mass outside sink + recent), not from RL
 * (inference.md §4 trains them with GRPO through a mixed attention; not built yet). Output: one row
 * per layer, one tab-separated column per kv head, as the RLKV release's adapter_weights.tsv. */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/kvpolicy.h"
#include "ponder/outfile.h"
#include "ponder/rng.h"
#include "ponder/task.h"
#include "ponder/threads.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *VERB = "kvheads";
enum { KVH_RNG_STREAM = 0x6b7668u /* "kvh": which items are drawn */ };

static void help(FILE *f) {
    fprintf(f, "usage: ponder kvheads -m MODEL --task T --out GATES.tsv [flags]\n"
               "  per-(layer, kv head) gate scores for --kv-policy rlkv:gates=GATES.tsv: the attention mass each\n"
               "  head sends outside the first --sink and last --recent rows, on teacher-forced reference traces\n"
               "  of the task (prompt rendered as `ponder run` does + the item's <think> trace and answer)\n"
               "  -m, --model FILE   the model\n"
               "  --task T           task whose reference traces are scored (see `ponder tasks list`)\n"
               "  --difficulty D     (default: the task's default)\n"
               "  --n N              items (default 20)\n"
               "  --sink S --recent R  the local window of a compressed head (default 16, 64)\n"
               "  --seed N           which items (default 1; train split)\n"
               "  -t, --threads N\n"
               "  --out FILE         the TSV (written atomically)\n");
}

int pd_cmd_kvheads(int argc, char **argv) {
    const char *model = NULL, *task = NULL, *out = NULL;
    long long n = 20, sink = 16, recent = 64, diff = -1, x;
    uint64_t seed = 1;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
        if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--task")) task = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--n")) { if (!cli_int(VERB, a, v, 1, 100000, &n)) return 2; }
        else if (!strcmp(a, "--sink")) { if (!cli_int(VERB, a, v, 0, 1 << 20, &sink)) return 2; }
        else if (!strcmp(a, "--recent")) { if (!cli_int(VERB, a, v, 1, 1 << 20, &recent)) return 2; }
        else if (!strcmp(a, "--difficulty")) { if (!cli_int(VERB, a, v, 0, CLI_DIFFICULTY_MAX, &x)) return 2; diff = x; }
        else if (!strcmp(a, "--seed")) { if (!cli_seed(VERB, a, v, &seed)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_threads(VERB, a, v, &threads)) return 2; }
        else { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
    }
    if (!model || !task || !out) { cli_error(VERB, "-m MODEL, --task T and --out FILE are required"); return 2; }
    const pd_task *t = pd_task_find(task);
    if (!t) { cli_error(VERB, "--task: %s", pd_last_error()); return 2; }
    if (diff < 0) diff = t->ddefault;
    if (!cli_difficulty_check(VERB, "--difficulty", task, (int)diff, (int)diff)) return 2;
    if (pd_out_check(out, "--out") != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    if (threads) pd_threads_set(threads);
    gen_cli o;
    gen_cli_defaults(&o);
    o.model = model;
    pd_adapter *ad = NULL;
    pd_model *m = gen_cli_load(VERB, &o, &ad);
    if (!m) return 1;
    int rc = 1, L = m->cfg.n_layer, H = m->cfg.n_head_kv;
    int32_t **seqs = pd_calloc((size_t)n, sizeof *seqs);
    int *lens = pd_calloc((size_t)n, sizeof *lens);
    float *scores = pd_malloc((size_t)L * H * sizeof(float));
    pd_outfile *of = NULL;
    if (!seqs || !lens || !scores) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    if (!m->tok) { cli_error(VERB, "%s: the model has no vocabulary", model); goto done; }
    pd_chat_family fam = gen_cli_family(VERB, &o, m);
    for (long long i = 0; i < n; i++) {
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(seed ^ KVH_RNG_STREAM, (uint64_t)i));
        pd_task_item it;
        if (pd_task_gen(t, &r, (int)diff, PD_SPLIT_TRAIN, &it) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
        pd_chat_msg msg = {"user", it.prompt, NULL};
        size_t np = 0, nc = 0;
        int32_t *p = gen_cli_tokens(VERB, m, fam, &msg, 1, false, &np), *c = NULL;
        char *comp = p ? pd_task_completion(&it) : NULL;
        pd_task_item_free(&it);
        if (!comp || pd_tokenize(m->tok, comp, strlen(comp), false, true, &c, &nc) != PD_OK) {
            if (p) cli_error(VERB, "tokenising the reference trace: %s", pd_last_error());
            free(p); free(comp);
            goto done;
        }
        free(comp);
        seqs[i] = pd_malloc((np + nc) * sizeof(int32_t));
        if (!seqs[i]) { free(p); free(c); cli_error(VERB, "%s", pd_last_error()); goto done; }
        memcpy(seqs[i], p, np * sizeof(int32_t));
        memcpy(seqs[i] + np, c, nc * sizeof(int32_t));
        lens[i] = (int)(np + nc);
        free(p); free(c);
    }
    if (pd_kvp_head_scores(m, (const int32_t *const *)seqs, lens, (int)n, (int)sink, (int)recent, scores) != PD_OK) {
        cli_error(VERB, "%s", pd_last_error());
        goto done;
    }
    if (!(of = pd_out_open(out))) { cli_error(VERB, "--out: %s", pd_last_error()); goto done; }
    FILE *f = pd_out_fp(of);
    fprintf(f, "# ponder kvheads: %s, task %s difficulty %lld, %lld items, sink %lld recent %lld\n", model, task, diff, n, sink,
            recent);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) fprintf(f, "%.6f%c", scores[l * H + h], h == H - 1 ? '\n' : '\t');
    if (pd_out_commit(of) != PD_OK) { of = NULL; cli_error(VERB, "--out: %s", pd_last_error()); goto done; }
    of = NULL;
    printf("wrote %s (%d layers x %d kv heads)\n", out, L, H);
    rc = 0;
done:
    if (of) pd_out_abort(of);
    for (long long i = 0; seqs && i < n; i++) free(seqs[i]);
    free(seqs); free(lens); free(scores);
    pd_model_free(m);
    pd_adapter_free(ad);
    return rc;
}
