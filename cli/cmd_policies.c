/* cli/cmd_policies.c — `ponder policies` (the registry of reasoning-control methods with their
 * parameters and defaults) and the `--policy NAME[:key=value,…]` plumbing shared by run, chat and
 * eval: validation at parse time, per-sequence instances chained after the budget policy, and the
 * vote driver for `run`. */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/alloc.h"
#include "ponder/anytime.h"
#include "ponder/eval.h"
#include "ponder/plot.h"
#include <cjson/cJSON.h>
#include <math.h>
#include "ponder/extract.h"
#include "ponder/hybrid.h"
#include "ponder/reason.h"
#include "ponder/steer.h"
#include "ponder/task.h"
#include "ponder/vote.h"
#include <stdlib.h>
#include <string.h>

static const pd_task *cur_task;   /* eval: probes and votes read answers with the task's extractor */
void gen_cli_policy_task(const pd_task *t) { cur_task = t; }

/* <answer> tag, else the task's own extraction, else the generic AUTO chain. */
static char *cli_extract(void *ctx, const char *ans, size_t len) {
    (void)ctx;
    char *a = pd_extract_span(PD_EXTRACT_TAG, ans, len);
    if (a || !cur_task || !cur_task->extract) return a ? a : pd_extract_span(PD_EXTRACT_AUTO, ans, len);
    char *r = pd_strndup(ans, len);
    char *x = r ? cur_task->extract(r) : NULL;
    free(r);
    return x;
}

/* ---- the hub for run and eval ---- */

static pd_reason_hub *cli_hub;
static pd_model *cli_verifier;
static void free_hub(void) {
    pd_reason_hub_free(cli_hub);
    pd_model_free(cli_verifier);
    cli_hub = NULL;
    cli_verifier = NULL;
}
/* at exit, after the gen (its policies cancel their hub requests on release) */
static void cleanup_at_exit(void) {
    static bool done;
    if (!done) atexit(free_hub);
    done = true;
}

/* ---- steer: the main model's residual hook, attached once when a steer policy is given ---- */

static pd_steer *cli_steer;
static void free_steer(void) { pd_steer_free(cli_steer); cli_steer = NULL; }   /* at exit: the model is gone */

static bool is_steer(const char *spec) { return !strncmp(spec, "steer", 5) && (spec[5] == 0 || spec[5] == ':'); }
static bool is_hybrid(const char *spec) { return !strncmp(spec, "hybrid", 6) && (spec[6] == 0 || spec[6] == ':'); }

bool gen_cli_policy_model(const char *verb, const gen_cli *o, pd_model *m) {
    bool want = false;
    for (int i = 0; i < o->n_policy; i++) want |= is_steer(o->policy[i]) || is_hybrid(o->policy[i]);
    if (!want || cli_steer) return true;
    if (!(cli_steer = pd_steer_attach(m))) { cli_error(verb, "--policy steer: %s", pd_last_error()); return false; }
    atexit(free_steer);
    for (int i = 0; i < o->n_policy; i++) {   /* load and check every file now: errors before any work */
        pd_reason_spec *s;
        const pd_cvec *cv;
        if (!is_steer(o->policy[i]) || pd_reason_parse(o->policy[i], &s) != PD_OK) continue;
        const char *f = pd_reason_str(s, "file");
        pd_status st = *f ? pd_steer_file(cli_steer, f, &cv) : pd_fail(PD_ERR_ARG, "file=FILE is required");
        if (st == PD_OK) {
            uint8_t *mask = malloc((size_t)cv->n_layer);
            st = mask ? pd_steer_parse_layers(pd_reason_str(s, "layers"), cv->n_layer, mask) : PD_ERR_NOMEM;
            free(mask);
        }
        pd_reason_spec_free(s);
        if (st != PD_OK) { cli_error(verb, "--policy %s: %s", o->policy[i], pd_last_error()); return false; }
    }
    return true;
}

/* trimr:verifier=FILE: loaded once (the first spec that names one), added to the gen as model 1. */
static bool load_verifier(const char *verb, const gen_cli *o) {
    for (int i = 0; i < o->n_policy && !cli_verifier; i++) {
        const char *key = !strncmp(o->policy[i], "trimr:", 6) || !strncmp(o->policy[i], "vote:", 5) ? "verifier="
                          : !strncmp(o->policy[i], "spec-think", 10) ? "large=" : NULL;
        const char *vf = key ? strstr(o->policy[i], key) : NULL;
        if (!vf) continue;
        vf += strlen(key);
        if (!strncmp(vf, "self", 4) || !*vf || *vf == ',') continue;
        char *path = pd_strndup(vf, strcspn(vf, ","));
        if (!path) return false;
        cli_verifier = pd_model_load(path);
        if (cli_verifier && pd_model_repack(cli_verifier) != PD_OK) { pd_model_free(cli_verifier); cli_verifier = NULL; }
        if (!cli_verifier) cli_error(verb, "--policy %s: %s: %s", o->policy[i], path, pd_last_error());
        else cleanup_at_exit();
        free(path);
        if (!cli_verifier) return false;
    }
    return true;
}

static bool add_verifier(const char *verb, pd_gen *g) {
    if (!cli_verifier || pd_gen_model(g, 1)) return true;
    if (pd_gen_add_model(g, cli_verifier) == 1) return true;
    cli_error(verb, "--policy: adding the second model: %s", pd_last_error());
    return false;
}

static bool is_driver(const char *text) {
    pd_reason_spec *s;
    if (pd_reason_parse(text, &s) != PD_OK) return false;
    bool d = pd_reason_spec_is_driver(s);
    pd_reason_spec_free(s);
    return d;
}

int gen_cli_policy_flag(const char *verb, gen_cli *o, const char *v) {
    pd_reason_spec *s;
    if (pd_reason_parse(v, &s) != PD_OK) { cli_error(verb, "--policy: %s", pd_last_error()); return -1; }
    bool driver = pd_reason_spec_is_driver(s);
    bool hub = !strncmp(pd_reason_spec_method(s)->name, "trimr", 5) || !strcmp(pd_reason_spec_method(s)->name, "spec-think");
    bool no_file = !strcmp(pd_reason_spec_method(s)->name, "steer") && !*pd_reason_str(s, "file");
    bool no_hyb = !strcmp(pd_reason_spec_method(s)->name, "hybrid") && (!*pd_reason_str(s, "file") || !*pd_reason_str(s, "thinking"));
    pd_reason_spec_free(s);
    if (no_file) { cli_error(verb, "--policy %s: steer needs file=FILE (a control vector, `ponder steer`)", v); return -1; }
    if (no_hyb) { cli_error(verb, "--policy %s: hybrid needs thinking=MODEL.gguf and file=CV.gguf", v); return -1; }
    if (!strcmp(verb, "chat") && (driver || hub)) {
        cli_error(verb, "--policy %s: needs several sequences per turn; use it with run or eval", v);
        return -1;
    }
    if (o->n_policy == GEN_CLI_MAX_POLICY) { cli_error(verb, "--policy: at most %d policies", GEN_CLI_MAX_POLICY); return -1; }
    for (int i = 0; driver && i < o->n_policy; i++)
        if (is_driver(o->policy[i])) { cli_error(verb, "--policy: one driver at most (already %s)", o->policy[i]); return -1; }
    o->policy[o->n_policy++] = v;
    return 1;
}

bool gen_cli_policies(const char *verb, const gen_cli *o, const pd_model *m, pd_seq_params *p, pd_policy *pol) {
    pd_policy list[GEN_CLI_MAX_POLICY + 1];
    int n = 0;
    if (p->n_policies) list[n++] = *pol;
    pd_reason_env env = {.tok = m->tok, .extract = cli_extract, .equiv = pd_answer_equiv, .question = o->prompt,
                         .think_budget = o->think_budget, .steer = cli_steer};
    for (int i = 0; i < o->n_policy; i++) {
        if (strncmp(o->policy[i], "trimr", 5)) continue;
        if (!cli_hub) {
            if (!(cli_hub = pd_reason_hub_new())) { cli_error(verb, "out of memory"); return false; }
            cleanup_at_exit();
        }
        env.hub = cli_hub;
    }
    if (!load_verifier(verb, o)) return false;
    if (cli_verifier) env.model2 = 1;   /* the gen's second model (add_verifier) */
    for (int i = 0; i < o->n_policy; i++) {
        pd_reason_spec *s;
        pd_status st = pd_reason_parse(o->policy[i], &s);
        if (st == PD_OK && pd_reason_spec_is_driver(s)) { pd_reason_spec_free(s); continue; }
        if (st == PD_OK) st = pd_reason_make(s, &env, &list[n]);
        pd_reason_spec_free(s);
        if (st != PD_OK) {
            cli_error(verb, "--policy %s: %s", o->policy[i], pd_last_error());
            for (int k = 0; k < n; k++)
                if (list[k].release) list[k].release(list[k].ctx);
            p->n_policies = 0;
            return false;
        }
        n++;
    }
    if (n <= p->n_policies) return true;   /* nothing added */
    if (pd_reason_chain(list, n, pol) != PD_OK) { cli_error(verb, "%s", pd_last_error()); p->n_policies = 0; return false; }
    p->policies = pol;
    p->n_policies = 1;
    return true;
}

static pd_reason_spec *driver_spec(const gen_cli *o) {
    for (int i = 0; i < o->n_policy; i++) {
        pd_reason_spec *s;
        if (pd_reason_parse(o->policy[i], &s) != PD_OK) continue;
        if (pd_reason_spec_is_driver(s)) return s;
        pd_reason_spec_free(s);
    }
    return NULL;
}

bool gen_cli_policy_has_driver(const gen_cli *o) {
    pd_reason_spec *s = driver_spec(o);
    bool d = s != NULL;
    pd_reason_spec_free(s);
    return d;
}

int gen_cli_policy_slots(const gen_cli *o) {
    pd_reason_spec *s = driver_spec(o);
    int n = !s ? 1 : pd_reason_spec_method(s)->kind == PD_REASON_DRIVER ? pd_reason_int(s, "n") + 1 : pd_reason_int(s, "votes") + 1;
    pd_reason_spec_free(s);
    return n + gen_cli_policy_extra_slots(o, n);   /* trimr probes of every sample */
}

typedef struct { const char *verb; const gen_cli *o; const pd_model *m; } vctx;

static bool vote_params(void *c, int i, pd_seq_params *p, pd_policy *pol, bool *has) {
    vctx *v = c;
    if (!gen_cli_seq_params(v->verb, v->o, v->m, p, pol)) return false;
    *has = p->n_policies > 0;
    p->policies = NULL;
    p->n_policies = 0;
    p->sampling.seed = pd_rng_derive(v->o->sp.seed, (uint64_t)i);
    return true;
}

/* anytime:votes=A (ponder/anytime.h): the thinking sequence uses the seed, short answer j the seed derive(seed, j). */
static bool any_params(void *c, int j, pd_seq_params *p, pd_policy *pol, bool *has) {
    vctx *v = c;
    if (!gen_cli_seq_params(v->verb, v->o, v->m, p, pol)) return false;
    *has = p->n_policies > 0;
    p->policies = NULL;
    p->n_policies = 0;
    p->sampling.seed = j < 0 ? v->o->sp.seed : pd_rng_derive(v->o->sp.seed, (uint64_t)j);
    return true;
}

/* Show the driver's result sequence (the winner) afterwards, as if it had streamed. */
static void show_result(pd_gen *g, int seq, gen_cli_out *os) {
    const pd_gen_result *w = pd_gen_get_result(g, seq);
    if (!os || !w) return;
    if (w->thinking_len) gen_cli_stream(os, seq, PD_PHASE_THINKING, w->thinking, w->thinking_len);
    if (w->answer_len) gen_cli_stream(os, seq, PD_PHASE_ANSWER, w->answer, w->answer_len);
}

static int anytime_votes(const char *verb, vctx *c, pd_reason_spec *s, pd_gen *g, const int32_t *ids, int n, gen_cli_out *os,
                         pd_vote_result *vr) {
    pd_anytime_params ap = {.think = pd_reason_int(s, "think"), .answer = pd_reason_int(s, "answer"),
                            .votes = pd_reason_int(s, "votes"), .mode = PD_VOTE_MAJORITY, .seq_params = any_params,
                            .extract = cli_extract, .equiv = pd_answer_equiv, .step = gen_cli_policy_step, .ctx = c};
    pd_reason_spec_free(s);
    pd_gen_set_stream(g, NULL, NULL);   /* several answers at once: show only the result, afterwards */
    pd_vote_result r;
    bool cut = false;
    if (pd_anytime_run(g, ids, n, &ap, &r, &cut) != PD_OK || r.seq < 0) {
        cli_error(verb, "--policy anytime: %s", pd_last_error());
        pd_vote_result_free(&r);
        return -1;
    }
    show_result(g, r.seq, os);
    if (strcmp(verb, "eval") && cut)
        fprintf(stderr, "ponder %s: anytime: thinking cut at %ld tokens; %d short answers voted: %s (%d votes)\n", verb,
                r.thinking_tokens, r.n_samples, r.answer ? r.answer : "(none)", r.votes);
    else if (strcmp(verb, "eval"))
        fprintf(stderr, "ponder %s: anytime: the model closed its thinking within the budget (%ld tokens); no vote\n", verb,
                r.thinking_tokens);
    if (vr) *vr = r;
    else pd_vote_result_free(&r);
    return r.seq;
}

/* --policy hybrid (ponder/hybrid.h): the tokens come from pd_hybrid_run; the gen then writes them
 * (each sampling step masked to the next one) so streaming, phases and results are the usual ones. */
static pd_model *cli_thinker;
static void free_thinker(void) { pd_model_free(cli_thinker); cli_thinker = NULL; }
typedef struct { const int32_t *t; int n, at; } force_t;
static void force_logits(void *ctx, const pd_seq_state *s, float *logits) {
    force_t *f = ctx;
    (void)s;
    if (f->at >= f->n) return;
    for (int v = 0; v < s->n_vocab; v++)
        if (v != f->t[f->at]) logits[v] = -INFINITY;
    f->at++;
}

static int hybrid_generate(const char *verb, pd_reason_spec *vs, pd_gen *g, const int32_t *ids, int n, pd_seq_params *sp) {
    const char *tf = pd_reason_str(vs, "thinking"), *cf = pd_reason_str(vs, "file");
    float coefs[PD_HYBRID_MAX_COEFS];
    int n_coefs = 0;
    const pd_cvec *cv = NULL;
    uint8_t *mask = NULL;
    pd_hybrid_result r = {0};
    int id = -1;
    pd_status st = !*tf || !*cf ? pd_fail(PD_ERR_ARG, "thinking=MODEL.gguf and file=CV.gguf are required") : PD_OK;
    if (st == PD_OK && !cli_steer) st = pd_fail(PD_ERR_ARG, "no steering hook on the base model");
    if (st == PD_OK && !cli_thinker) {
        if (!(cli_thinker = pd_model_load(tf))) st = pd_fail_ctx(PD_ERR_IO, "thinking=%s", tf);
        else if ((st = pd_model_repack(cli_thinker)) != PD_OK) { pd_model_free(cli_thinker); cli_thinker = NULL; }
        else atexit(free_thinker);
    }
    if (st == PD_OK) st = pd_hybrid_parse_coefs(pd_reason_str(vs, "coefs"), coefs, PD_HYBRID_MAX_COEFS, &n_coefs);
    if (st == PD_OK) st = pd_steer_file(cli_steer, cf, &cv);
    if (st == PD_OK && !(mask = malloc((size_t)cv->n_layer))) st = pd_fail(PD_ERR_NOMEM, "layer mask");
    if (st == PD_OK) st = pd_steer_parse_layers(pd_reason_str(vs, "layers"), cv->n_layer, mask);
    int room = pd_gen_n_ctx(g) - n - 1;
    pd_hybrid_params hp = {.cv = cv, .layers = mask, .coefs = coefs, .n_coefs = n_coefs,
                           .max_tokens = sp->max_tokens < 0 || sp->max_tokens > room ? (room > 0 ? room : 0) : sp->max_tokens,
                           .stop_at_eog = !sp->ignore_eog};
    if (st == PD_OK) st = pd_hybrid_run(cli_steer, cli_thinker, ids, n, &hp, &r);
    free(mask);
    if (st != PD_OK) {
        cli_error(verb, "--policy hybrid: %s", pd_last_error());
        pd_hybrid_result_free(&r);
        return -1;
    }
    force_t f = {r.tokens + r.n_prompt, r.n_generated, 0};
    pd_policy pol = {.name = "hybrid", .ctx = &f, .on_logits = force_logits};
    pd_seq_params p = *sp;
    p.policies = &pol;
    p.n_policies = 1;
    p.max_tokens = r.n_generated;
    if ((id = pd_gen_add(g, ids, n, &p)) < 0) cli_error(verb, "%s", pd_last_error());
    while (id >= 0 && pd_gen_n_active(g))
        if (pd_gen_step(g) != PD_OK) { cli_error(verb, "%s", pd_last_error()); id = -1; }
    if (id >= 0 && strcmp(verb, "eval"))
        fprintf(stderr, "ponder %s: hybrid: %d tokens, steering applied at %d (%.1f%%), %d changed from the base's choice\n",
                verb, r.n_generated, r.n_disagree, r.n_generated ? 100.0 * r.n_disagree / r.n_generated : 0.0, r.n_changed);
    pd_hybrid_result_free(&r);
    return id;
}

int gen_cli_generate(const char *verb, const gen_cli *o, const pd_model *m, pd_gen *g, const int32_t *ids, int n,
                     pd_seq_params *sp, pd_policy *pol, gen_cli_out *os, pd_vote_result *vr) {
    pd_reason_spec *vs = driver_spec(o);
    if (vr) memset(vr, 0, sizeof *vr);
    if (!add_verifier(verb, g)) {
        if (sp->n_policies && pol->release) pol->release(pol->ctx);
        pd_reason_spec_free(vs);
        return -1;
    }
    if (!vs) {
        int id = pd_gen_add(g, ids, n, sp);
        if (id < 0) {
            cli_error(verb, "%s", pd_last_error());
            if (sp->n_policies && pol->release) pol->release(pol->ctx);
            return -1;
        }
        if (os) { os->one_seq = true; os->seq = id; }   /* trimr's probes are sequences of their own */
        while (pd_gen_n_active(g))
            if (gen_cli_policy_step(NULL, g) != PD_OK) { cli_error(verb, "%s", pd_last_error()); return -1; }
        if (cli_steer && !strcmp(verb, "run"))
            fprintf(stderr, "ponder %s: steer: %ld positions steered\n", verb, pd_steer_total_rows(cli_steer));
        if (cli_hub) {
            long pt, vt, rq;
            pd_reason_hub_cost(cli_hub, &pt, &vt, &rq);
            fprintf(stderr, "ponder %s: trimr: %ld judgements, %ld probe tokens, %ld verifier prompt tokens\n", verb, rq, pt, vt);
        }
        return id;
    }
    if (sp->n_policies && pol->release) pol->release(pol->ctx);   /* every sample makes its own */
    if (!strcmp(pd_reason_spec_method(vs)->name, "hybrid")) {
        int id = hybrid_generate(verb, vs, g, ids, n, sp);
        pd_reason_spec_free(vs);
        return id;
    }
    vctx c = {verb, o, m};
    if (pd_reason_spec_method(vs)->kind != PD_REASON_DRIVER) return anytime_votes(verb, &c, vs, g, ids, n, os, vr);
    pd_vote_params vp = {.n = pd_reason_int(vs, "n"), .mode = (pd_vote_mode)pd_vote_mode_parse(pd_reason_str(vs, "mode")),
                         .adaptive = pd_reason_int(vs, "adaptive") != 0, .seq_params = vote_params, .extract = cli_extract,
                         .equiv = pd_answer_equiv, .step = gen_cli_policy_step, .ctx = &c};
    bool self = !strcmp(pd_reason_str(vs, "verifier"), "self");
    pd_reason_spec_free(vs);
    if (vp.mode == PD_VOTE_VERIFIER) {   /* a verifier model's yes/no judgement of each answer, through the hub */
        if (!cli_verifier && !self) {
            cli_error(verb, "--policy vote:mode=verifier needs verifier=FILE (a model of the same vocabulary) or verifier=self");
            return -1;
        }
        if (!cli_hub) {
            if (!(cli_hub = pd_reason_hub_new())) { cli_error(verb, "out of memory"); return -1; }
            cleanup_at_exit();
        }
        vp.hub = cli_hub;
        vp.verifier_model = cli_verifier ? 1 : 0;
        vp.tok = m->tok;
        vp.question = o->prompt;
    }
    pd_gen_set_stream(g, NULL, NULL);   /* n samples at once: show only the winner, afterwards */
    pd_vote_result r;
    if (pd_vote_run(g, ids, n, &vp, &r) != PD_OK || r.seq < 0) {
        cli_error(verb, "--policy vote: %s", r.seq < 0 ? "no sample finished" : pd_last_error());
        pd_vote_result_free(&r);
        return -1;
    }
    show_result(g, r.seq, os);
    if (strcmp(verb, "eval"))   /* eval writes the vote into each record instead */
        fprintf(stderr, "ponder %s: vote (%s): answer %s (%d votes; %d samples finished, %d stopped early; %ld thinking tokens in all)\n",
                verb, pd_vote_mode_name(vp.mode), r.answer ? r.answer : "(none)", r.votes, r.n_finished, r.n_stopped,
                r.thinking_tokens);
    if (vr) *vr = r;
    else pd_vote_result_free(&r);
    return r.seq;
}

static void help(FILE *f) {
    fprintf(f, "usage: ponder policies                       list the methods, parameters and defaults\n"
               "       ponder policies pareto FILE.jsonl [--plot OUT.svg|png] [--baseline NAME]\n"
               "`--policy NAME[:key=value,...]` selects a method in run, chat and eval (chainable:\n"
               "--policy s1:wait=2 --policy anytime:think=256). Values: \\n and \\t are decoded; a value cannot\n"
               "contain ','. pareto reads lines {\"method\", \"accuracy\", \"thinking\"[, \"wall_s\"]} (one per\n"
               "method: accuracy in [0,1], mean thinking tokens per item, wall seconds per item), prints them by\n"
               "thinking with the Pareto frontier marked and the best saving against the method \"none\" (or\n"
               "--baseline NAME) at no more than 1 point of accuracy lost, and plots accuracy against thinking\n"
               "tokens. Optional keys \"delta_lo\", \"delta_hi\" (a 95%% interval of the paired accuracy difference\n"
               "to the baseline, in points) and \"delta\" (that difference, when the items differ from the\n"
               "baseline's) are printed beside each row and with the verdict.\n");
}

typedef struct { char *name; double acc, think, wall, d, dlo, dhi; bool front; } pt_t;

static int cmp_think(const void *a, const void *b) {
    const pt_t *x = a, *y = b;
    return x->think < y->think ? -1 : x->think > y->think ? 1 : 0;
}

static int read_points(const char *in, pt_t **out, int *n_out) {
    FILE *f = fopen(in, "r");
    if (!f) { cli_error("policies", "%s: cannot open", in); return 1; }
    pt_t *pt = NULL;
    int n = 0, cap = 0, rc = 0, line_no = 0;
    char line[4096];
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line_no++;
        if (line[strspn(line, " \t\r\n")] == 0) continue;
        cJSON *j = cJSON_Parse(line);
        cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "method") : NULL;
        cJSON *a = j ? cJSON_GetObjectItemCaseSensitive(j, "accuracy") : NULL;
        cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "thinking") : NULL;
        cJSON *w = j ? cJSON_GetObjectItemCaseSensitive(j, "wall_s") : NULL;
        cJSON *dd = j ? cJSON_GetObjectItemCaseSensitive(j, "delta") : NULL;
        cJSON *lo = j ? cJSON_GetObjectItemCaseSensitive(j, "delta_lo") : NULL;
        cJSON *hi = j ? cJSON_GetObjectItemCaseSensitive(j, "delta_hi") : NULL;
        if (!cJSON_IsString(m) || !cJSON_IsNumber(a) || !cJSON_IsNumber(t)) {
            cli_error("policies", "%s:%d: expected {\"method\": text, \"accuracy\": number, \"thinking\": number}", in, line_no);
            rc = 1;
        } else if (n == cap) {
            cap = cap ? 2 * cap : 16;
            pt_t *np = realloc(pt, (size_t)cap * sizeof *np);
            if (!np) { cli_error("policies", "out of memory"); rc = 1; }
            else pt = np;
        }
        if (rc == 0) {
            bool iv = cJSON_IsNumber(lo) && cJSON_IsNumber(hi);
            pt[n] = (pt_t){pd_strdup(m->valuestring), a->valuedouble, t->valuedouble, cJSON_IsNumber(w) ? w->valuedouble : NAN,
                           cJSON_IsNumber(dd) ? dd->valuedouble : NAN, iv ? lo->valuedouble : NAN, iv ? hi->valuedouble : NAN,
                           false};
            n++;
        }
        cJSON_Delete(j);
    }
    fclose(f);
    if (rc == 0 && n == 0) { cli_error("policies", "%s: no records", in); rc = 1; }
    *out = pt;
    *n_out = n;
    return rc;
}

static int plot_points(const char *in, const pt_t *pt, int n, const char *path) {
    pd_plot_series *se = pd_calloc((size_t)n + 1, sizeof *se);
    double *fx = pd_malloc((size_t)n * sizeof(double)), *fy = pd_malloc((size_t)n * sizeof(double));
    static const uint32_t pal[] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f,
                                   0xbcbd22, 0x17becf};
    int rc = 1, nf = 0;
    if (se && fx && fy) {
        for (int i = 0; i < n; i++) {
            se[i] = (pd_plot_series){pt[i].name, PD_PLOT_POINTS, pal[i % 10], 5, 0, &pt[i].think, &pt[i].acc, 1};
            if (pt[i].front) { fx[nf] = pt[i].think; fy[nf] = pt[i].acc; nf++; }
        }
        se[n] = (pd_plot_series){"Pareto frontier", PD_PLOT_LINE, 0x333333, 1.5, 0, fx, fy, (size_t)nf};
        pd_plot_panel pan = {.title = "accuracy vs mean thinking tokens", .xlabel = "mean thinking tokens per item",
                             .ylabel = "accuracy", .ymin = 0, .ymax = 1, .series = se, .n_series = n + 1};
        pd_plot pl = {.title = in, .panels = &pan, .n_panels = 1};
        if (pd_plot_write(&pl, path) != PD_OK) cli_error("policies", "%s", pd_last_error());
        else { printf("wrote %s\n", path); rc = 0; }
    }
    free(se); free(fx); free(fy);
    return rc;
}

static int pareto(int argc, char **argv) {
    const char *in = NULL, *plot = NULL, *bname = "none";
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--plot")) { if (!(plot = cli_value("policies", argc, argv, &i))) return 2; }
        else if (!strcmp(argv[i], "--baseline")) { if (!(bname = cli_value("policies", argc, argv, &i))) return 2; }
        else if (!in && argv[i][0] != '-') in = argv[i];
        else { cli_error("policies", "pareto: unknown argument '%s'", argv[i]); return 2; }
    }
    if (!in) { cli_error("policies", "pareto: FILE.jsonl is required"); return 2; }
    pt_t *pt = NULL;
    int n = 0;
    int rc = read_points(in, &pt, &n);
    if (rc == 0) {
        qsort(pt, (size_t)n, sizeof *pt, cmp_think);
        for (int i = 0; i < n; i++) {
            pt[i].front = true;
            for (int k = 0; k < n; k++)
                if (k != i && pt[k].acc >= pt[i].acc && pt[k].think <= pt[i].think &&
                    (pt[k].acc > pt[i].acc || pt[k].think < pt[i].think))
                    pt[i].front = false;
        }
        const pt_t *base = NULL;
        bool any_iv = false;
        for (int i = 0; i < n; i++) {
            if (!strcmp(pt[i].name, bname)) base = &pt[i];
            if (!isnan(pt[i].dlo)) any_iv = true;
        }
        printf("%-28s %9s %10s %9s  %-6s%s\n", "method", "accuracy", "thinking", "wall_s", "pareto",
               any_iv ? "  paired difference to the baseline, points [95% interval]" : "");
        for (int i = 0; i < n; i++) {
            printf("%-28s %9.4f %10.1f %9.3f  %-6s", pt[i].name, pt[i].acc, pt[i].think, pt[i].wall, pt[i].front ? "*" : "");
            if (!isnan(pt[i].dlo))   /* "delta" when given (paired over a subset of items), else the difference of accuracies */
                printf("  %+.1f [%+.1f, %+.1f]", !isnan(pt[i].d) ? pt[i].d : 100.0 * (pt[i].acc - (base ? base->acc : 0)), pt[i].dlo,
                       pt[i].dhi);
            printf("\n");
        }
        if (!base && strcmp(bname, "none")) { cli_error("policies", "pareto: no method named '%s' in %s", bname, in); rc = 2; }
        if (base && base->think > 0) {
            const pt_t *best = NULL;
            for (int i = 0; i < n; i++)
                if (&pt[i] != base && pt[i].acc >= base->acc - 0.01 && pt[i].think < base->think &&
                    (!best || pt[i].think < best->think))
                    best = &pt[i];
            if (best) {
                printf("best within 1 point of \"%s\": %s, %.1f%% fewer thinking tokens (accuracy %.4f vs %.4f)", bname, best->name,
                       100.0 * (1.0 - best->think / base->think), best->acc, base->acc);
                if (!isnan(best->dlo)) printf("; paired difference 95%% interval [%+.1f, %+.1f] points", best->dlo, best->dhi);
                printf("\n");
            } else {
                printf("no method uses fewer thinking tokens than \"%s\" within 1 point of its accuracy (%.4f)\n", bname, base->acc);
            }
        }
        if (plot && rc == 0) rc = plot_points(in, pt, n, plot);
    }
    for (int i = 0; i < n; i++) free(pt[i].name);
    free(pt);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) { cli_error("policies", "writing the output failed"); rc = 1; }
    return rc;
}

int pd_cmd_policies(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "pareto")) return pareto(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { help(stdout); return 0; }
        cli_error("policies", "unknown argument '%s' (see --help)", argv[i]);
        return 2;
    }
    pd_reason_print(stdout);
    if (fflush(stdout) != 0 || ferror(stdout)) { cli_error("policies", "writing the output failed"); return 1; }
    return 0;
}

pd_status gen_cli_policy_step(void *ctx, pd_gen *g) {
    (void)ctx;
    return cli_hub ? pd_reason_hub_step(cli_hub, g) : pd_gen_step(g);
}

int gen_cli_policy_extra_slots(const gen_cli *o, int parallel) {
    for (int i = 0; i < o->n_policy; i++)
        if (!strncmp(o->policy[i], "trimr", 5)) return parallel + 1;   /* probes briefly take two slots */
    return 0;
}

bool gen_cli_policy_eval(const char *verb, const gen_cli *o, pd_eval_params *ep, const char *task, int parallel, pd_gen *g) {
    gen_cli_policy_task(task ? pd_task_find(task) : NULL);
    if (!load_verifier(verb, o) || !add_verifier(verb, g)) return false;
    if (gen_cli_policy_has_driver(o)) {
        /* the vote (ep->add, cli/cmd_eval.c) runs one item at a time with its n samples forked at once */
        ep->step = gen_cli_policy_step;
        ep->max_active = 1;
    } else if (gen_cli_policy_extra_slots(o, parallel)) {
        ep->step = gen_cli_policy_step;
        ep->max_active = parallel;
    }
    return true;
}
