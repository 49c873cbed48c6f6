/* cli/cmd_logits.c — `ponder logits`: run the forward pass over given token ids and write the raw
 * logits (little-endian f32, positions × vocab; the last position only unless --all). */
#include "cli.h"
#include "outputs.h"
#include "ponder/outfile.h"
#include "ponder/model.h"
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/threads.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *VERB = "logits";

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder logits -m MODEL --tokens ID,ID,... [--all] [--kv f32|f16] [--threads N] --out FILE\n"
            "  -m, --model FILE   GGUF model or llama2.c .bin checkpoint\n"
            "  --tokens LIST      comma-separated token ids, fed as one sequence from position 0\n"
            "  --all              write the logits of every position (default: the last one only)\n"
            "  --kv TYPE          KV cache type: f32 (default), f16, q8_0, q4_0 (-ctk / -ctv: K / V apart)\n"
            "  --threads N        threads (default: physical cores)\n"
            "  --out FILE         output: raw little-endian float32, rows × n_vocab\n"
            "  --top K            also print the K most likely next tokens of each written row (default 0: none)\n"
            "                     (id, logit, and the token's text when the model has a vocabulary);\n"
            "                     --out is then optional\n"
            "  --adapter FILE     apply a LoRA/PiSSA/SoKA adapter (ponder finetune) through the linear hook\n"
            "  --adapter-scale S  scale of the adapter's delta (default 1)\n");
}

/* Parse "1,2,3" into a malloc'd array; prints the error and returns NULL on bad input. */
static int32_t *parse_ids(const char *s, int *n_out) {
    int cap = 16, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    const char *p = s;
    while (ids) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            cli_error(VERB, "--tokens: item %d ('%.*s') is not a token id", n + 1, (int)strcspn(p, ","), p);
            free(ids);
            return NULL;
        }
        if (n == cap) {
            int32_t *t = realloc(ids, sizeof(int32_t) * (size_t)(cap *= 2));
            if (!t) break;
            ids = t;
        }
        ids[n++] = (int32_t)v;
        if (!*end) break;
        p = end + 1;
    }
    if (!ids) cli_error(VERB, "out of memory");
    *n_out = n;
    return ids;
}

/* Token text for display: control bytes escaped, at most ~24 bytes. */
static void show_piece(const pd_model *m, int32_t id, char *buf, size_t cap) {
    size_t len = 0, o = 0;
    const char *p = m->tok ? pd_tok_piece(m->tok, id, &len) : NULL;
    if (!p) { snprintf(buf, cap, "-"); return; }
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 6 < cap && i < 24; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n') { buf[o++] = '\\'; buf[o++] = 'n'; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = 0;
}

static void print_top(const pd_model *m, const int32_t *ids, int n, bool all, const float *lg, int k) {
    const int V = m->cfg.n_vocab;
    int best[100];
    char a[96], b[96];
    for (int r = 0; r < (all ? n : 1); r++) {
        int pos = all ? r : n - 1;
        const float *x = lg + (size_t)r * V;
        int nb = 0;
        for (int j = 0; j < V; j++) {
            if (nb == k && x[j] <= x[best[k - 1]]) continue;
            int t = nb < k ? nb++ : k - 1;
            while (t > 0 && x[best[t - 1]] < x[j]) { best[t] = best[t - 1]; t--; }
            best[t] = j;
        }
        show_piece(m, ids[pos], a, sizeof a);
        printf("pos %d  %d %s ->", pos, ids[pos], a);
        for (int t = 0; t < nb; t++) {
            show_piece(m, best[t], b, sizeof b);
            printf("  %d %s (%.3f)", best[t], b, x[best[t]]);
        }
        printf("\n");
    }
}

int pd_cmd_logits(int argc, char **argv) {
    const char *model = NULL, *tokens = NULL, *out = NULL;
    pd_type kv_type = PD_TYPE_F32, kv_type_v = PD_TYPE_F32;
    bool all = false;
    long long top = 0;
    int threads = 0;
    const char *adapter_path = NULL;
    double adapter_scale = 1.0;
    pd_adapter *adapter = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(model = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--tokens")) { if (!(tokens = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) { if (!(out = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (cli_is_kv_type_flag(a)) {
            const char *v = cli_value(VERB, argc, argv, &i);
            if (!v || !cli_kv_type(VERB, a, v, &kv_type, &kv_type_v)) return 2;
        }
        else if (!strcmp(a, "--all")) all = true;
        else if (!strcmp(a, "--adapter")) { if (!(adapter_path = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--adapter-scale")) {
            const char *v = cli_value(VERB, argc, argv, &i);
            if (!v || !cli_float(VERB, a, v, -1e3, 1e3, &adapter_scale)) return 2;
        }
        else if (!strcmp(a, "--top")) {
            const char *v = cli_value(VERB, argc, argv, &i);
            if (!v || !cli_int(VERB, a, v, 1, 100, &top)) return 2;
        }
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            const char *v = cli_value(VERB, argc, argv, &i);
            if (!v || !cli_threads(VERB, a, v, &threads)) return 2;
        } else {
            cli_error(VERB, "unknown flag '%s' (see ponder logits --help)", a);
            return 2;
        }
    }
    if (!model) { cli_error(VERB, "-m MODEL is required"); return 2; }
    if (adapter_scale != 1.0 && !adapter_path) { cli_error(VERB, "--adapter-scale: it scales --adapter; give --adapter too"); return 2; }
    if (!tokens) { cli_error(VERB, "--tokens is required"); return 2; }
    if (!out && !top) { cli_error(VERB, "--out FILE (or --top K) is required"); return 2; }
    const cli_path op = {"--out", out}, ins[2] = {{"-m", model}, {"--adapter", adapter_path}};
    int pr = cli_check_paths(VERB, &op, 1, ins, 2); /* before loading anything */
    if (pr) return pr;
    int n = 0;
    int32_t *ids = parse_ids(tokens, &n);
    if (!ids) return 2;
    if (threads > 0) pd_threads_set(threads);

    int rc = 1;
    pd_kv *kv = NULL;
    float *lg = NULL;
    pd_model *m = pd_model_load(model);
    if (!m) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    if (adapter_path && pd_model_attach_adapter(m, adapter_path, (float)adapter_scale, &adapter) != PD_OK) {
        cli_error(VERB, "--adapter: %s", pd_last_error());
        goto done;
    }
    if (!adapter && pd_model_repack(m) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    for (int i = 0; i < n; i++) {
        if (ids[i] >= m->cfg.n_vocab) {
            cli_error(VERB, "--tokens: id %d (item %d) is outside the vocabulary [0, %d)", ids[i], i + 1, m->cfg.n_vocab);
            rc = 2;
            goto done;
        }
    }
    pd_kv_params kp = {.type = kv_type, .v_type_set = true, .v_type = kv_type_v};
    kv = pd_kv_new_ex(&m->cfg, 1, n, &kp);
    size_t rows = all ? (size_t)n : 1;
    lg = kv ? pd_malloc(sizeof(float) * rows * (size_t)m->cfg.n_vocab) : NULL;
    if (!kv || !lg || pd_model_eval(m, kv, 0, ids, n, all, lg) != PD_OK) {
        cli_error(VERB, "%s", pd_last_error());
        goto done;
    }
    if (top) print_top(m, ids, n, all, lg, (int)top);
    if (!out) { rc = 0; goto done; }
    /* little-endian on every platform ponder builds on (x86-64, arm64); base/outfile.c: atomic, checked */
    if (pd_out_write_all(out, lg, sizeof(float) * (size_t)m->cfg.n_vocab * rows) != PD_OK) {
        cli_error(VERB, "%s", pd_last_error());
        goto done;
    }
    rc = 0;
done:
    free(lg);
    pd_kv_free(kv);
    pd_model_free(m);
    pd_adapter_free(adapter);
    free(ids);
    return rc;
}
