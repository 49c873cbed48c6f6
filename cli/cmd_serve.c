/* cli/cmd_serve.c — `ponder serve`: load a model (and adapter) and serve it over an OpenAI-compatible
 * HTTP API until SIGINT/SIGTERM (ponder/serve.h). The model, sampling and budget flags are the ones
 * `ponder run` has (gen_cli.h); they become the defaults of requests that do not say otherwise.
 * When it accepts connections it prints one line, "ponder serve: listening on http://HOST:PORT",
 * so a script started with --port 0 can read the port. */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/serve.h"
#include "ponder/threads.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *VERB = "serve";
static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

typedef struct {
    gen_cli g;
    pd_serve_params sp;
    double grace;
    const char *alias;
} serve_opts;

static serve_opts *opts_of(gen_cli *g) { return (serve_opts *)g; }   /* g is the first member */

static void help(FILE *f) {
    fprintf(f, "usage: ponder serve -m MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [--ctx N] [--api-key KEY]\n"
               "                    [--adapter FILE] [--policy SPEC] [flags]\n"
               "  --host ADDR               IPv4 address to bind (default 127.0.0.1: this machine only; 0.0.0.0: all)\n"
               "  --port N                  TCP port (default 8080; 0: any free port, printed when listening)\n"
               "  --parallel N              sequences decoded at once, n>1 choices included (default 4)\n"
               "  --queue N                 requests waiting for a slot before 429 (default 64)\n"
               "  --donors N                finished sequences kept for prompt-prefix reuse (default 2)\n"
               "  --timeout S               per request, waiting included: then 504 / an error event (default 600)\n"
               "  --grace S                 on SIGINT/SIGTERM, seconds in-flight requests get to finish (default 10)\n"
               "  --api-key KEY             require 'Authorization: Bearer KEY' on /v1/ (default: none)\n"
               "  --alias NAME              model id in /v1/models and requests (default: the file name without .gguf)\n"
               "The flags below are request defaults (a request's own fields win); -n is the default max_tokens.\n");
    gen_cli_help(f);
}

static int serve_flag(gen_cli *g, int argc, char **argv, int *i) {
    serve_opts *o = opts_of(g);
    const char *a = argv[*i], *v;
    long long n;
    double x;
    bool port = !strcmp(a, "--port"), par = !strcmp(a, "--parallel") || !strcmp(a, "-np"), q = !strcmp(a, "--queue");
    bool don = !strcmp(a, "--donors"), tmo = !strcmp(a, "--timeout"), gr = !strcmp(a, "--grace");
    if (!port && !par && !q && !don && !tmo && !gr && strcmp(a, "--host") && strcmp(a, "--api-key") && strcmp(a, "--alias"))
        return 0;
    if (!(v = cli_value(VERB, argc, argv, i))) return -1;
    if (!strcmp(a, "--host")) o->sp.host = v;
    else if (!strcmp(a, "--api-key")) {
        if (!*v) { cli_error(VERB, "--api-key: empty key"); return -1; }
        o->sp.api_key = v;
    } else if (!strcmp(a, "--alias")) {
        if (!*v) { cli_error(VERB, "--alias: empty name"); return -1; }
        o->alias = v;
    } else if (port || par || q || don) {
        long long lo = port || don ? 0 : 1, hi = port ? 65535 : par ? 256 : don ? 64 : 100000;
        if (!cli_int(VERB, a, v, lo, hi, &n)) return -1;
        if (port) o->sp.port = (int)n;
        else if (par) o->sp.engine.parallel = (int)n;
        else if (q) o->sp.engine.queue = (int)n;
        else o->sp.engine.donors = (int)n;
    } else {
        if (!cli_float(VERB, a, v, tmo ? 0.001 : 0, 1e6, &x)) return -1;
        if (tmo) o->sp.timeout_s = x;
        else o->grace = x;
    }
    return 1;
}

/* flags of run that mean nothing to a server */
static bool refuse_flags(const serve_opts *o) {
    const gen_cli *g = &o->g;
    const char *bad = g->system ? "--system (clients send their system message)"
                    : g->no_template ? "--no-template (use /v1/completions for raw text)"
                    : g->seed_set ? "--seed (clients send a seed per request)"
                    : g->n_stop ? "--stop (clients send their stop strings)"
                    : NULL;
    if (bad) cli_error(VERB, "%s has no effect with serve", bad);
    return bad != NULL;
}

/* the model id: --alias, else the file's base name without .gguf / .bin */
static void model_id(const serve_opts *o, char *out, size_t cap) {
    if (o->alias) { snprintf(out, cap, "%s", o->alias); return; }
    const char *b = strrchr(o->g.model, '/');
    b = b ? b + 1 : o->g.model;
    snprintf(out, cap, "%s", b);
    size_t n = strlen(out);
    if (n > 5 && !strcmp(out + n - 5, ".gguf")) out[n - 5] = 0;
    else if (n > 4 && !strcmp(out + n - 4, ".bin")) out[n - 4] = 0;
}

static int serve_main(serve_opts *o) {
    if (o->g.threads) pd_threads_set(o->g.threads);
    pd_adapter *adapter = NULL;
    pd_model *m = gen_cli_load(VERB, &o->g, &adapter);
    if (!m) return CLI_RUNTIME;
    char id[256];
    model_id(o, id, sizeof id);
    pd_serve_params *p = &o->sp;
    p->model_id = id;
    p->sp = o->g.sp;
    p->think_budget = o->g.no_think ? 0 : o->g.think_budget;
    p->answer_budget = o->g.answer_budget;
    p->max_tokens = o->g.n_predict;
    p->budget_message = o->g.budget_message;
    p->policies = o->g.policy;
    p->n_policies = o->g.n_policy;
    p->engine.n_ctx = o->g.n_ctx;
    p->engine.kv_type = o->g.kv_type;
    p->engine.kv_type_v_set = true;
    p->engine.kv_type_v = o->g.kv_type_v;
    p->engine.kv_evict = o->g.kvp_set;
    p->engine.kv_policy = o->g.kvp;
    if (o->g.template_name || o->g.no_template) { p->family = gen_cli_family(VERB, &o->g, m); p->have_family = true; }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pd_serve *s = pd_serve_start(m, p);
    if (!s) {
        cli_error(VERB, "%s", pd_last_error());
        pd_model_free(m);
        pd_adapter_free(adapter);
        return CLI_RUNTIME;
    }
    fprintf(stderr, "ponder serve: model '%s' (%s), %d parallel, queue %d, API key %s\n", id, o->g.model, p->engine.parallel,
            p->engine.queue, p->api_key ? "required" : "not required");
    printf("ponder serve: listening on http://%s:%d\n", p->host, pd_serve_port(s));
    fflush(stdout);
    while (!got_signal) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "ponder serve: %s: finishing in-flight requests (up to %g s), then stopping\n",
            got_signal == SIGINT ? "SIGINT" : "SIGTERM", o->grace);
    pd_serve_stop(s, o->grace);
    pd_model_free(m);
    pd_adapter_free(adapter);
    fprintf(stderr, "ponder serve: stopped\n");
    return CLI_OK;
}

int pd_cmd_serve(int argc, char **argv) {
    serve_opts o;
    memset(&o, 0, sizeof o);
    gen_cli_defaults(&o.g);
    o.sp = pd_serve_defaults();
    o.grace = 10;
    int r = gen_cli_parse(VERB, &o.g, argc, argv, help, serve_flag);
    if (r) return r < 0 ? 0 : r;
    if (refuse_flags(&o)) return CLI_USAGE;
    if (!pd_serve_available()) {
        cli_error(VERB, "this build has no HTTP server (libmicrohttpd was not found at configure time)");
        return CLI_RUNTIME;
    }
    return serve_main(&o);
}
