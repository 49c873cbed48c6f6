/* cli/cmd_policies.c — `ponder policies` (the registry of reasoning-control methods with their
 * parameters and defaults) and the `--policy NAME[:key=value,…]` plumbing shared by run, chat and
 * eval: validation at parse time, per-sequence instances chained after the budget policy, and the
 * vote driver for `run`. */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/alloc.h"
#include "ponder/eval.h"
#include "ponder/extract.h"
#include "ponder/reason.h"
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

/* trimr:verifier=FILE: loaded once (the first spec that names one), added to the gen as model 1. */
static bool load_verifier(const char *verb, const gen_cli *o) {
    for (int i = 0; i < o->n_policy && !cli_verifier; i++) {
        if (strncmp(o->policy[i], "trimr:", 6)) continue;
        const char *vf = strstr(o->policy[i], "verifier=");
        if (!vf || !strncmp(vf + 9, "self", 4)) continue;
        char *path = pd_strndup(vf + 9, strcspn(vf + 9, ","));
        if (!path) return false;
        cli_verifier = pd_model_load(path);
        if (!cli_verifier) cli_error(verb, "--policy trimr: verifier %s: %s", path, pd_last_error());
        else cleanup_at_exit();
        free(path);
        if (!cli_verifier) return false;
    }
    return true;
}

static bool add_verifier(const char *verb, pd_gen *g) {
    if (!cli_verifier || pd_gen_model(g, 1)) return true;
    if (pd_gen_add_model(g, cli_verifier) == 1) return true;
    cli_error(verb, "--policy trimr: verifier: %s", pd_last_error());
    return false;
}

static bool is_driver(const char *text) {
    pd_reason_spec *s;
    if (pd_reason_parse(text, &s) != PD_OK) return false;
    bool d = pd_reason_spec_method(s)->kind == PD_REASON_DRIVER;
    pd_reason_spec_free(s);
    return d;
}

int gen_cli_policy_flag(const char *verb, gen_cli *o, const char *v) {
    pd_reason_spec *s;
    if (pd_reason_parse(v, &s) != PD_OK) { cli_error(verb, "--policy: %s", pd_last_error()); return -1; }
    bool driver = pd_reason_spec_method(s)->kind == PD_REASON_DRIVER;
    bool hub = !strncmp(pd_reason_spec_method(s)->name, "trimr", 5);
    pd_reason_spec_free(s);
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
                         .think_budget = o->think_budget};
    for (int i = 0; i < o->n_policy; i++) {
        if (strncmp(o->policy[i], "trimr", 5)) continue;
        if (!cli_hub) {
            if (!(cli_hub = pd_reason_hub_new())) { cli_error(verb, "out of memory"); return false; }
            cleanup_at_exit();
        }
        env.hub = cli_hub;
    }
    if (!load_verifier(verb, o)) return false;
    if (cli_verifier) env.verifier_model = 1;   /* the gen's second model (add_verifier) */
    for (int i = 0; i < o->n_policy; i++) {
        pd_reason_spec *s;
        pd_status st = pd_reason_parse(o->policy[i], &s);
        if (st == PD_OK && pd_reason_spec_method(s)->kind == PD_REASON_DRIVER) { pd_reason_spec_free(s); continue; }
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
        if (pd_reason_spec_method(s)->kind == PD_REASON_DRIVER) return s;
        pd_reason_spec_free(s);
    }
    return NULL;
}

int gen_cli_policy_slots(const gen_cli *o) {
    pd_reason_spec *s = driver_spec(o);
    int n = s ? pd_reason_int(s, "n") + 1 : 1;
    pd_reason_spec_free(s);
    return n;
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
        while (pd_gen_n_active(g))
            if (gen_cli_policy_step(NULL, g) != PD_OK) { cli_error(verb, "%s", pd_last_error()); return -1; }
        if (cli_hub) {
            long pt, vt, rq;
            pd_reason_hub_cost(cli_hub, &pt, &vt, &rq);
            fprintf(stderr, "ponder %s: trimr: %ld judgements, %ld probe tokens, %ld verifier prompt tokens\n", verb, rq, pt, vt);
        }
        return id;
    }
    if (sp->n_policies && pol->release) pol->release(pol->ctx);   /* every sample makes its own */
    vctx c = {verb, o, m};
    pd_vote_params vp = {.n = pd_reason_int(vs, "n"), .mode = (pd_vote_mode)pd_vote_mode_parse(pd_reason_str(vs, "mode")),
                         .adaptive = pd_reason_int(vs, "adaptive") != 0, .seq_params = vote_params, .extract = cli_extract,
                         .equiv = pd_answer_equiv, .ctx = &c};
    pd_reason_spec_free(vs);
    if (vp.mode == PD_VOTE_VERIFIER) {
        cli_error(verb, "--policy vote:mode=verifier needs a task checker (ponder eval); use majority or logprob");
        return -1;
    }
    pd_gen_set_stream(g, NULL, NULL);   /* n samples at once: show only the winner, afterwards */
    pd_vote_result r;
    if (pd_vote_run(g, ids, n, &vp, &r) != PD_OK || r.seq < 0) {
        cli_error(verb, "--policy vote: %s", r.seq < 0 ? "no sample finished" : pd_last_error());
        pd_vote_result_free(&r);
        return -1;
    }
    const pd_gen_result *w = pd_gen_get_result(g, r.seq);
    if (os) {
        if (w->thinking_len) gen_cli_stream(os, r.seq, PD_PHASE_THINKING, w->thinking, w->thinking_len);
        if (w->answer_len) gen_cli_stream(os, r.seq, PD_PHASE_ANSWER, w->answer, w->answer_len);
    }
    fprintf(stderr, "ponder %s: vote (%s): answer %s (%d votes; %d samples finished, %d stopped early; %ld thinking tokens in all)\n",
            verb, pd_vote_mode_name(vp.mode), r.answer ? r.answer : "(none)", r.votes, r.n_finished, r.n_stopped,
            r.thinking_tokens);
    if (vr) *vr = r;
    else pd_vote_result_free(&r);
    return r.seq;
}

static void help(FILE *f) {
    fprintf(f, "usage: ponder policies\n"
               "Lists the reasoning-control methods `--policy NAME[:key=value,...]` selects in run, chat and eval\n"
               "(chainable: --policy s1:wait=2 --policy anytime:think=256), with parameters and defaults.\n"
               "Values: \\n and \\t are decoded; a value cannot contain ','.\n");
}

int pd_cmd_policies(int argc, char **argv) {
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
    if (gen_cli_policy_slots(o) > 1) {
        cli_error(verb, "--policy vote runs several samples per item: use `ponder run --policy vote` per prompt, or eval "
                        "--samples N (its summary reports maj@N)");
        return false;
    }
    gen_cli_policy_task(task ? pd_task_find(task) : NULL);
    if (!load_verifier(verb, o) || !add_verifier(verb, g)) return false;
    if (gen_cli_policy_extra_slots(o, parallel)) {
        ep->step = gen_cli_policy_step;
        ep->max_active = parallel;
    }
    return true;
}
