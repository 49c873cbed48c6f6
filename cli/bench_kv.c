/* cli/bench_kv.c — the KV-eviction benchmark behind `ponder bench --kv-policy`: what eviction buys
 * at long positions. Each run goes through pd_gen (the path run/eval use, policy rounds included),
 * greedy with end-of-generation ignored, so the full and the evicting run do the same number of
 * steps; a token callback stamps the time of every sampled token. */
#include "bench_kv.h"
#include "cli.h"
#include "ponder/error.h"
#include "ponder/gen.h"
#include "ponder/plot.h"
#include "ponder/rng.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BKV_PROMPT = 16, BKV_RNG_STREAM = 0x6b76u /* "kv": the prompt's tokens */ };

typedef struct { double *t; int n, cap; } stamps;

static void stamp(void *ctx, int seq, const pd_sample *s, pd_phase ph) {
    (void)seq; (void)s; (void)ph;
    stamps *st = ctx;
    if (st->n < st->cap) st->t[st->n] = pd_time_now();
    st->n++;
}

typedef struct { double tps; size_t peak; double live; int steps; } bkv_result;

static pd_status one(const pd_model *m, const pd_kvp_spec *spec, int depth, int n_gen, pd_type kv_type, pd_type kv_type_v,
               bkv_result *res) {
    int total = depth + n_gen;
    pd_gen_params gp = pd_gen_defaults();
    gp.n_seq_max = 1;
    gp.n_ctx = total + 1;
    gp.kv_type = kv_type;
    gp.kv_type_v_set = true;
    gp.kv_type_v = kv_type_v;
    gp.n_batch = 256;
    pd_gen *g = pd_gen_new(m, &gp);
    if (!g) return pd_fail_ctx(PD_ERR_NOMEM, "bench kv: generator for %d positions", total);
    pd_kvm *km = spec ? pd_kvm_new(g, spec) : NULL;
    stamps st = {calloc((size_t)total + 1, sizeof(double)), 0, total + 1};
    pd_status rc = (spec && !km) || !st.t ? PD_ERR_ARG : PD_OK;
    if (rc == PD_OK) {
        pd_gen_set_token_callback(g, stamp, &st);
        int32_t prompt[BKV_PROMPT];
        pd_rng r;
        pd_rng_seed(&r, pd_rng_derive(BKV_RNG_STREAM, (uint64_t)depth));
        for (int i = 0; i < BKV_PROMPT; i++) prompt[i] = (int32_t)pd_rng_below(&r, (uint64_t)m->cfg.n_vocab);
        pd_policy pol = km ? pd_kvm_policy(km) : (pd_policy){0};
        pd_seq_params p = pd_seq_defaults();
        p.sampling.temperature = 0;
        p.ignore_eog = true;
        p.max_tokens = total - BKV_PROMPT;
        if (km) { p.policies = &pol; p.n_policies = 1; }
        int id = pd_gen_add(g, prompt, BKV_PROMPT, &p);
        if (id < 0) rc = PD_ERR_ARG;
        if (rc == PD_OK) rc = pd_gen_run(g);
        if (rc == PD_OK) {
            int last = st.n < st.cap ? st.n - 1 : st.cap - 1, first = last - n_gen;
            if (first < 0) first = 0;
            double dt = st.t[last] - st.t[first];
            res->tps = dt > 0 ? (last - first) / dt : 0;
            res->steps = st.n;
            pd_kv *kv = pd_gen_kv(g, 0);
            res->peak = pd_kv_peak_bytes(kv);
            double live = 0;
            for (int l = 0; l < m->cfg.n_layer; l++)
                for (int h = 0; h < m->cfg.n_head_kv; h++) live += pd_kv_n_live(kv, id, l, h);
            res->live = live / ((double)m->cfg.n_layer * m->cfg.n_head_kv);
        }
    }
    free(st.t);
    pd_gen_free(g);
    pd_kvm_free(km);
    return rc;
}

static void budget_text(const pd_kvp_spec *s, char *buf, size_t n) {
    if (s->budget_rows > 0) snprintf(buf, n, "%d", s->budget_rows);
    else if (s->budget_frac > 0) snprintf(buf, n, "%g%%", s->budget_frac * 100);
    else snprintf(buf, n, "-");
}

int cli_bench_kv(const char *path, const char *label, const pd_kvp_spec *spec, const int *depth, int n_depth, int n_gen,
                 int threads, pd_type kv_type, pd_type kv_type_v, cJSON *arr, bool jsonl) {
    const char *VERB = "bench";
    if (threads > 0) pd_threads_set(threads);
    pd_model *m = pd_model_load(path);
    if (!m) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    if (pd_model_repack(m) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); pd_model_free(m); return 1; }
    const char *name = label ? label : m->cfg.name[0] ? m->cfg.name : path;
    bool md = !arr && !jsonl;
    if (md) {
        printf("| %-24s | %-10s | %7s | %7s | %12s | %14s | %10s |\n", "model", "kv policy", "budget", "depth", "decode t/s",
               "peak KV MiB", "live rows");
        printf("| ------------------------ | ---------- | ------: | ------: | -----------: | -------------: | ---------: |\n");
    }
    int rc = 0;
    for (int d = 0; d < n_depth && !rc; d++)
        for (int pass = 0; pass < 2 && !rc; pass++) {
            const pd_kvp_spec *s = pass ? spec : NULL;
            bkv_result r = {0};
            if (one(m, s, depth[d], n_gen, kv_type, kv_type_v, &r) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); rc = 1; break; }
            char b[32];
            if (s) budget_text(s, b, sizeof b);
            else snprintf(b, sizeof b, "-");
            const char *pn = s ? pd_kvp_name(s->kind) : "full";
            if (md) {
                printf("| %-24.24s | %-10s | %7s | %7d | %12.1f | %14.2f | %10.1f |\n", name, pn, b, depth[d], r.tps,
                       r.peak / 1048576.0, r.live);
                fflush(stdout);
            } else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", name);
                cJSON_AddStringToObject(o, "kv_policy", pn);
                cJSON_AddStringToObject(o, "kv_budget", b);
                char kvn[32];
                cJSON_AddStringToObject(o, "kv_type", cli_kv_type_name(kv_type, kv_type_v, kvn, sizeof kvn));
                cJSON_AddStringToObject(o, "k_type", pd_type_name(kv_type));
                cJSON_AddStringToObject(o, "v_type", pd_type_name(kv_type_v));
                cJSON_AddNumberToObject(o, "depth", depth[d]);
                cJSON_AddNumberToObject(o, "n_gen", n_gen);
                cJSON_AddNumberToObject(o, "decode_tokens_per_s", r.tps);
                cJSON_AddNumberToObject(o, "peak_kv_bytes", (double)r.peak);
                cJSON_AddNumberToObject(o, "live_rows_per_head", r.live);
                cJSON_AddNumberToObject(o, "threads", pd_threads_get());
                if (arr) cJSON_AddItemToArray(arr, o);
                else {
                    char *t = cJSON_PrintUnformatted(o);
                    if (t) puts(t);
                    free(t);
                    cJSON_Delete(o);
                }
            }
        }
    pd_model_free(m);
    return rc;
}

/* ---- the experiment's chart: accuracy and peak KV against the budget, one line per policy ---- */

enum { PLOT_MAX_POL = 12, PLOT_MAX_PTS = 16 };

int cli_bench_kv_plot(const char *in, const char *out) {
    const char *VERB = "bench";
    char *text = cli_read_text(VERB, "--kv-plot", in);
    if (!text) return 1;
    char names[PLOT_MAX_POL][32];
    double bx[PLOT_MAX_POL][PLOT_MAX_PTS], acc[PLOT_MAX_POL][PLOT_MAX_PTS], mem[PLOT_MAX_POL][PLOT_MAX_PTS];
    double lac[PLOT_MAX_POL][PLOT_MAX_PTS];
    bool have_lines = true;
    size_t np[PLOT_MAX_POL] = {0};
    int npol = 0, line = 0, rc = 0;
    for (char *s = text, *e; s && *s && !rc; s = e ? e + 1 : NULL) {
        e = strchr(s, '\n');
        if (e) *e = 0;
        line++;
        if (!*s) continue;
        cJSON *j = cJSON_Parse(s);
        const cJSON *p = cJSON_GetObjectItem(j, "policy"), *b = cJSON_GetObjectItem(j, "budget_pct"),
                    *a = cJSON_GetObjectItem(j, "accuracy"), *k = cJSON_GetObjectItem(j, "peak_kv_bytes"),
                    *la = cJSON_GetObjectItem(j, "line_accuracy");
        if (!j || !cJSON_IsString(p) || !cJSON_IsNumber(b) || !cJSON_IsNumber(a) || !cJSON_IsNumber(k)) {
            cli_error(VERB, "--kv-plot %s:%d: expected {\"policy\", \"budget_pct\", \"accuracy\", \"peak_kv_bytes\"}", in, line);
            rc = 1;
        } else {
            int i = 0;
            while (i < npol && strcmp(names[i], p->valuestring)) i++;
            if (i == npol && npol < PLOT_MAX_POL) snprintf(names[npol++], sizeof names[0], "%s", p->valuestring);
            if (i < npol && np[i] < PLOT_MAX_PTS) {
                bx[i][np[i]] = b->valuedouble;
                acc[i][np[i]] = 100 * a->valuedouble;
                mem[i][np[i]] = k->valuedouble / 1024.0;
                if (cJSON_IsNumber(la)) lac[i][np[i]] = 100 * la->valuedouble;
                else have_lines = false;
                np[i]++;
            }
        }
        cJSON_Delete(j);
    }
    free(text);
    if (rc) return rc;
    if (!npol) { cli_error(VERB, "--kv-plot %s: no results", in); return 1; }
    static const uint32_t colors[PLOT_MAX_POL] = {0x000000, 0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                                  0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf, 0x444444};
    pd_plot_series sa[PLOT_MAX_POL], sm[PLOT_MAX_POL], sl[PLOT_MAX_POL];
    for (int i = 0; i < npol; i++) {
        /* points in budget order */
        for (size_t u = 1; u < np[i]; u++)
            for (size_t v = u; v > 0 && bx[i][v - 1] > bx[i][v]; v--) {
                double t;
                t = bx[i][v]; bx[i][v] = bx[i][v - 1]; bx[i][v - 1] = t;
                t = acc[i][v]; acc[i][v] = acc[i][v - 1]; acc[i][v - 1] = t;
                t = mem[i][v]; mem[i][v] = mem[i][v - 1]; mem[i][v - 1] = t;
                t = lac[i][v]; lac[i][v] = lac[i][v - 1]; lac[i][v - 1] = t;
            }
        sa[i] = (pd_plot_series){.name = names[i], .kind = PD_PLOT_LINE, .color = colors[i], .marker = 3,
                                 .x = bx[i], .y = acc[i], .n = np[i]};
        sm[i] = sa[i];
        sm[i].y = mem[i];
        sm[i].name = NULL;
        sl[i] = sm[i];
        sl[i].y = lac[i];
    }
    pd_plot_panel panels[3] = {
        {.title = "held-out accuracy", .xlabel = "KV budget (% of positions)", .ylabel = "accuracy %", .ymin = 0,
         .ymax = 100, .x_categorical = true, .series = sa, .n_series = npol},
        {.title = "trace lines as the reference", .xlabel = "KV budget (% of positions)", .ylabel = "lines %", .ymin = 0,
         .ymax = 100, .x_categorical = true, .series = sl, .n_series = npol},
        {.title = "peak KV bytes per sequence", .xlabel = "KV budget (% of positions)", .ylabel = "KiB",
         .x_categorical = true, .series = sm, .n_series = npol},
    };
    if (!have_lines) panels[1] = panels[2];
    pd_plot pl = {.title = "KV eviction: accuracy and memory against the budget", .width = have_lines ? 1350 : 1000,
                  .height = 460, .panels = panels, .n_panels = have_lines ? 3 : 2};
    if (pd_plot_write(&pl, out) != PD_OK) { cli_error(VERB, "--kv-plot: %s", pd_last_error()); return 1; }
    printf("wrote %s\n", out);
    return 0;
}
