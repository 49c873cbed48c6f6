/* cli/cmd_steer.c — `ponder steer`: steering vectors by difference of means of the residual
 * stream between two text sets (ponder/steer.h), written as a llama.cpp control-vector GGUF (every
 * layer 1 … n_layer-1, or the --layers chosen), and `ponder steer --info FILE` to list one. The
 * vectors are applied with `--policy steer:file=FILE` in run, chat and eval. */
#include "cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/outfile.h"
#include "ponder/steer.h"
#include "ponder/threads.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *VERB = "steer";

static void help(FILE *f) {
    fprintf(f, "usage: ponder steer -m MODEL --positive A.txt --negative B.txt --out CV.gguf [flags]\n"
               "       ponder steer --info CV.gguf\n"
               "  Steering vectors by difference of means: for every layer l = 1 .. n_layer-1, the mean residual\n"
               "  (output of block l) over the positive texts minus that over the negative texts; each text is\n"
               "  averaged over its tokens first (no BOS), then the texts of a set are averaged. Written in\n"
               "  llama.cpp's control-vector layout (direction.<l>, F32; llama.cpp --control-vector reads it);\n"
               "  apply with `--policy steer:file=CV.gguf[,scale=S,layers=L,when=...]` in run, chat and eval.\n"
               "  -m, --model FILE     the model\n"
               "  --positive FILE      texts to steer towards, one per line (\\n and \\\\ decoded; blank lines skipped);\n"
               "                       a line starting with '{' is JSON: its \"text\", or a task item's \"reasoning\"\n"
               "  --negative FILE      texts to steer away from, same format\n"
               "  --out FILE           the control vector (written atomically)\n"
               "  --layers SPEC        layers written: all (default), L, A-B, or items joined by '|'\n"
               "  -t, --threads N\n"
               "  --info FILE          print a control vector's layers, size and norms\n");
}

/* Lines of a file, "\n" and "\\" decoded, blank ones skipped. NULL after printing the error. */
static char **read_texts(const char *flag, const char *path, int *n_out) {
    char *all = cli_read_text(VERB, flag, path);
    if (!all) return NULL;
    char **v = NULL;
    int n = 0, cap = 0;
    bool ok = true;
    int line = 0;
    for (char *p = all, *e; ok && *p; p = *e ? e + 1 : e) {
        e = p + strcspn(p, "\n");
        line++;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        if (len == strspn(p, " \t") || len == 0) continue;
        char *t = NULL;
        if (*p == '{') {   /* a JSONL line: its "text", else a task item's "reasoning" */
            cJSON *j = cJSON_ParseWithLength(p, len);
            cJSON *x = cJSON_GetObjectItemCaseSensitive(j, "text");
            if (!cJSON_IsString(x)) x = cJSON_GetObjectItemCaseSensitive(j, "reasoning");
            if (!cJSON_IsString(x) || !*x->valuestring) {
                cli_error(VERB, "%s %s: line %d: a JSON line needs a non-empty \"text\" (or a task item's \"reasoning\")", flag, path, line);
                cJSON_Delete(j);
                ok = false;
                break;
            }
            t = pd_strdup(x->valuestring);
            cJSON_Delete(j);
            if (!t) { cli_error(VERB, "out of memory"); ok = false; break; }
            goto add;
        }
        t = pd_malloc(len + 1);
        size_t k = 0;
        for (size_t i = 0; t && i < len; i++) {
            if (p[i] == '\\' && i + 1 < len && (p[i + 1] == 'n' || p[i + 1] == '\\')) { t[k++] = p[i + 1] == 'n' ? '\n' : '\\'; i++; }
            else t[k++] = p[i];
        }
        if (t) t[k] = 0;
    add:
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) { free(t); t = NULL; }
            else v = nv;
        }
        if (!t) { cli_error(VERB, "out of memory"); ok = false; break; }
        v[n++] = t;
    }
    free(all);
    if (ok && n == 0) { cli_error(VERB, "%s %s: no texts (one per line)", flag, path); ok = false; }
    if (!ok) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return NULL;
    }
    *n_out = n;
    return v;
}

static void free_texts(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static double norm_of(const float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    return sqrt(s);
}

static int info(const char *path) {
    pd_cvec *c = pd_cvec_load(path);
    if (!c) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    int n = 0;
    for (int l = 1; l < c->n_layer; l++) n += c->has[l];
    printf("%s: control vector, model_hint '%s', n_embd %d, %d directions\n", path, c->hint, c->n_embd, n);
    for (int l = 1; l < c->n_layer; l++)
        if (c->has[l]) printf("  direction.%-4d norm %.6g\n", l, norm_of(c->dir + (size_t)l * (size_t)c->n_embd, c->n_embd));
    pd_cvec_free(c);
    if (fflush(stdout) != 0 || ferror(stdout)) { cli_error(VERB, "writing the output failed"); return 1; }
    return 0;
}

int pd_cmd_steer(int argc, char **argv) {
    const char *model = NULL, *posf = NULL, *negf = NULL, *out = NULL, *layers = "all", *inf = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return 0; }
        if (!(v = cli_value(VERB, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--positive")) posf = v;
        else if (!strcmp(a, "--negative")) negf = v;
        else if (!strcmp(a, "--out") || !strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--layers")) layers = v;
        else if (!strcmp(a, "--info")) inf = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_threads(VERB, a, v, &threads)) return 2; }
        else { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
    }
    if (inf) {
        if (model || posf || negf || out) { cli_error(VERB, "--info FILE takes no other flag"); return 2; }
        return info(inf);
    }
    if (!model || !posf || !negf || !out) { cli_error(VERB, "-m MODEL, --positive FILE, --negative FILE and --out FILE are required"); return 2; }
    if (pd_out_check(out, "--out") != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    if (threads > 0) pd_threads_set(threads);
    int np = 0, nn = 0;
    char **pos = read_texts("--positive", posf, &np);
    char **neg = pos ? read_texts("--negative", negf, &nn) : NULL;
    if (!pos || !neg) { if (pos) free_texts(pos, np); return 1; }
    int rc = 1;
    pd_cvec *c = NULL;
    uint8_t *mask = NULL;
    pd_model *m = pd_model_load(model);
    if (!m || pd_model_repack(m) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }   /* model.h */
    if (m->cfg.n_layer < 2) { cli_error(VERB, "%s: %d layer; control vectors start at layer 1", model, m->cfg.n_layer); goto done; }
    mask = pd_malloc((size_t)m->cfg.n_layer);
    if (!mask) { cli_error(VERB, "out of memory"); goto done; }
    if (pd_steer_parse_layers(layers, m->cfg.n_layer, mask) != PD_OK) { cli_error(VERB, "--layers: %s", pd_last_error()); rc = 2; goto done; }
    if (pd_cvec_mean_diff(m, (const char *const *)pos, np, (const char *const *)neg, nn, &c) != PD_OK) {
        cli_error(VERB, "%s", pd_last_error());
        goto done;
    }
    for (int l = 0; l < c->n_layer; l++) c->has[l] = mask[l];
    if (pd_cvec_save(c, out) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    printf("%d positive and %d negative texts; direction norms by layer:", np, nn);
    for (int l = 1; l < c->n_layer; l++)
        if (c->has[l]) printf(" %d:%.4g", l, norm_of(c->dir + (size_t)l * (size_t)c->n_embd, c->n_embd));
    printf("\nwrote %s\n", out);
    rc = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) { cli_error(VERB, "writing the output failed"); rc = 1; }
done:
    free(mask);
    pd_cvec_free(c);
    pd_model_free(m);
    free_texts(pos, np);
    free_texts(neg, nn);
    return rc;
}
