/* cli/bench_serve.c — `ponder bench serve`: a load client for OpenAI-compatible servers (libcurl multi
 * interface, one thread). N clients stream chat completions at once until a fixed number of requests
 * is done (bounded, self-stopping, with an overall time limit), and it reports aggregate generated
 * tokens/s and p50/p99 time to first token and request latency. With -m MODEL it starts `ponder serve`
 * in-process on a free port; with --url it measures any server (llama-server, vLLM, another ponder).
 * Any failed request (HTTP status, an error event, no [DONE]) is counted and makes the exit status 1. */
#include "cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/json.h"
#include "ponder/serve.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char *VERB = "bench serve";

#ifndef PD_HAVE_CURL
int pd_bench_serve(int argc, char **argv) {
    (void)argc; (void)argv;
    cli_error(VERB, "this build has no load client (libcurl was not found at configure time)");
    return CLI_RUNTIME;
}
#else
#include <curl/curl.h>

typedef struct {
    const char *model, *url, *prompt, *api_key, *model_id;
    int clients, requests, max_tokens, parallel, threads, n_ctx;
    double timeout, temperature;
    bool json;
} bs_opts;

typedef struct {
    CURL *h;
    struct curl_slist *hdr;
    char *buf; size_t len, cap, used;   /* SSE bytes received, parsed up to `used` */
    double t0, t_first;
    long tokens, reasoning;
    bool done, error;
    char *body;
} bs_req;

static void help(FILE *f) {
    fprintf(f, "usage: ponder bench serve (-m MODEL | --url http://HOST:PORT) [flags]\n"
               "  -m, --model FILE     start `ponder serve` on this model in-process (127.0.0.1, a free port)\n"
               "  --url URL            measure a running server instead (its /v1/chat/completions)\n"
               "  -c, --clients N      concurrent streaming clients (default 64)\n"
               "  --requests N         requests in all (default 2 x clients); the run stops when they are done\n"
               "  -n, --max-tokens N   max_tokens of each request (default 64)\n"
               "  -p, --prompt TEXT    the user message (default \"Write a short story about a robot.\")\n"
               "  --temp T             temperature of the requests (default 0.6)\n"
               "  --timeout S          give up after S seconds in all (default 600; unfinished requests are errors)\n"
               "  --api-key KEY        sent as 'Authorization: Bearer KEY'\n"
               "  --model-id NAME      the request's \"model\" field (default: none)\n"
               "  --parallel N         with -m: the server's --parallel (default: clients)\n"
               "  --ctx N              with -m: context per sequence (default: 2048)\n"
               "  -t, --threads N      with -m: threads (default: physical cores)\n"
               "  --json               one JSON object instead of the text summary\n");
}

/* Parse the complete SSE events received so far. */
static void sse_scan(bs_req *r) {
    for (;;) {
        char *start = r->buf + r->used, *end = r->len > r->used ? strstr(start, "\n\n") : NULL;
        if (!end) return;
        r->used = (size_t)(end + 2 - r->buf);
        if (strncmp(start, "data: ", 6)) continue;
        start += 6;
        if (!strncmp(start, "[DONE]", 6)) { r->done = true; continue; }
        cJSON *j = cJSON_ParseWithLength(start, (size_t)(end - start));
        if (!j) { r->error = true; continue; }
        if (cJSON_GetObjectItem(j, "error")) r->error = true;
        const cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        const cJSON *d = ch ? cJSON_GetObjectItem(ch, "delta") : NULL;
        const cJSON *c = d ? cJSON_GetObjectItem(d, "content") : NULL, *rc = d ? cJSON_GetObjectItem(d, "reasoning_content") : NULL;
        if (!r->t_first && ((cJSON_IsString(c) && c->valuestring[0]) || (cJSON_IsString(rc) && rc->valuestring[0])))
            r->t_first = pd_time_now();
        const cJSON *u = cJSON_GetObjectItem(j, "usage");
        if (cJSON_IsObject(u)) {
            const cJSON *ct = cJSON_GetObjectItem(u, "completion_tokens");
            const cJSON *rt = cJSON_GetObjectItem(cJSON_GetObjectItem(u, "completion_tokens_details"), "reasoning_tokens");
            if (cJSON_IsNumber(ct)) r->tokens = (long)ct->valuedouble;
            if (cJSON_IsNumber(rt)) r->reasoning = (long)rt->valuedouble;
        }
        cJSON_Delete(j);
    }
}

static size_t on_data(char *p, size_t sz, size_t n, void *ctx) {
    bs_req *r = ctx;
    size_t k = sz * n;
    if (r->len + k + 1 > r->cap) {
        size_t cap = (r->len + k + 1) * 2;
        char *b = pd_realloc(r->buf, cap);
        if (!b) return 0;
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, p, k);
    r->len += k;
    r->buf[r->len] = 0;
    sse_scan(r);
    return k;
}

static bool req_start(CURLM *mh, bs_req *r, const bs_opts *o, int i) {
    memset(r, 0, sizeof *r);
    cJSON *b = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(b, "messages"), *m = cJSON_CreateObject();
    if (o->model_id) cJSON_AddStringToObject(b, "model", o->model_id);
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", o->prompt);
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(b, "max_tokens", o->max_tokens);
    cJSON_AddNumberToObject(b, "temperature", o->temperature);
    cJSON_AddNumberToObject(b, "seed", i);
    cJSON_AddBoolToObject(b, "stream", true);
    cJSON_AddBoolToObject(cJSON_AddObjectToObject(b, "stream_options"), "include_usage", true);
    r->body = pd_json_print(b, false);
    cJSON_Delete(b);
    char url[600], auth[300];
    snprintf(url, sizeof url, "%s/v1/chat/completions", o->url);
    if (!r->body || !(r->h = curl_easy_init())) return false;
    r->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (o->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
        r->hdr = curl_slist_append(r->hdr, auth);
    }
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->h, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
    r->t0 = pd_time_now();
    return curl_multi_add_handle(mh, r->h) == CURLM_OK;
}

static void req_end(CURLM *mh, bs_req *r) {
    if (r->h) { curl_multi_remove_handle(mh, r->h); curl_easy_cleanup(r->h); }
    curl_slist_free_all(r->hdr);
    free(r->buf);
    free(r->body);
    r->h = NULL; r->hdr = NULL; r->buf = NULL; r->body = NULL;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double pct(double *v, int n, double p) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    int k = (int)(p * (n - 1) + 0.5);
    return v[k];
}

typedef struct { int ok, errors; long tokens, reasoning; double wall; double *ttft, *lat; } bs_result;

/* Run the load; false only when curl cannot start. */
static bool run_load(const bs_opts *o, bs_result *res) {
    CURLM *mh = curl_multi_init();
    bs_req *reqs = pd_calloc((size_t)o->clients, sizeof *reqs);
    res->ttft = pd_calloc((size_t)o->requests, sizeof(double));
    res->lat = pd_calloc((size_t)o->requests, sizeof(double));
    if (!mh || !reqs || !res->ttft || !res->lat) { free(reqs); if (mh) curl_multi_cleanup(mh); return false; }
    int started = 0, running = 0, inflight = 0;
    double t0 = pd_time_now();
    for (int i = 0; i < o->clients && started < o->requests; i++, started++)
        if (req_start(mh, &reqs[i], o, started)) inflight++;
        else { res->errors++; req_end(mh, &reqs[i]); }
    for (;;) {
        curl_multi_perform(mh, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(mh, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            bs_req *r;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            double now = pd_time_now();
            if (msg->data.result != CURLE_OK || code != 200 || r->error || !r->done || !r->t_first) res->errors++;
            else {
                res->ttft[res->ok] = r->t_first - r->t0;
                res->lat[res->ok] = now - r->t0;
                res->ok++;
                res->tokens += r->tokens;
                res->reasoning += r->reasoning;
            }
            req_end(mh, r);
            inflight--;
            if (started < o->requests && now - t0 < o->timeout) {
                started++;
                if (req_start(mh, r, o, started - 1)) inflight++;
                else { res->errors++; req_end(mh, r); }
            }
        }
        if (!inflight) break;
        if (pd_time_now() - t0 > o->timeout) break;
        curl_multi_poll(mh, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < o->clients; i++)
        if (reqs[i].h) { res->errors++; req_end(mh, &reqs[i]); }
    res->errors += o->requests - started;   /* never started: the time ran out */
    res->wall = pd_time_now() - t0;
    free(reqs);
    curl_multi_cleanup(mh);
    return true;
}

static void report(const bs_opts *o, bs_result *r) {
    double tps = r->wall > 0 ? (double)r->tokens / r->wall : 0;
    double t50 = pct(r->ttft, r->ok, 0.5), t99 = pct(r->ttft, r->ok, 0.99);
    double l50 = pct(r->lat, r->ok, 0.5), l99 = pct(r->lat, r->ok, 0.99);
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "url", o->url);
        cJSON_AddNumberToObject(j, "clients", o->clients);
        cJSON_AddNumberToObject(j, "requests", o->requests);
        cJSON_AddNumberToObject(j, "max_tokens", o->max_tokens);
        cJSON_AddNumberToObject(j, "ok", r->ok);
        cJSON_AddNumberToObject(j, "errors", r->errors);
        cJSON_AddNumberToObject(j, "wall_s", r->wall);
        cJSON_AddNumberToObject(j, "completion_tokens", (double)r->tokens);
        cJSON_AddNumberToObject(j, "reasoning_tokens", (double)r->reasoning);
        cJSON_AddNumberToObject(j, "tokens_per_s", tps);
        cJSON_AddNumberToObject(j, "ttft_p50_s", t50);
        cJSON_AddNumberToObject(j, "ttft_p99_s", t99);
        cJSON_AddNumberToObject(j, "latency_p50_s", l50);
        cJSON_AddNumberToObject(j, "latency_p99_s", l99);
        char *s = pd_json_print(j, true);
        cJSON_Delete(j);
        if (s) puts(s);
        free(s);
        return;
    }
    printf("ponder bench serve: %d clients, %d requests of max_tokens %d, %s\n", o->clients, o->requests, o->max_tokens, o->url);
    printf("requests:            %d ok, %d errors, %.2f s wall\n", r->ok, r->errors, r->wall);
    printf("generated tokens:    %ld (%ld thinking), %.1f tokens/s aggregate\n", r->tokens, r->reasoning, tps);
    printf("time to first token: p50 %.3f s, p99 %.3f s\n", t50, t99);
    printf("request latency:     p50 %.3f s, p99 %.3f s\n", l50, l99);
}

static int parse(bs_opts *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return -1; }
        if (!strcmp(a, "--json")) { o->json = true; continue; }
        if (!(v = cli_value(VERB, argc, argv, &i))) return CLI_USAGE;
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--url")) o->url = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--api-key")) o->api_key = v;
        else if (!strcmp(a, "--model-id")) o->model_id = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (!cli_threads(VERB, a, v, &o->threads)) return CLI_USAGE; }
        else if (!strcmp(a, "--temp") || !strcmp(a, "--timeout")) {
            if (!cli_float(VERB, a, v, a[3] == 'e' ? 0 : 0.001, a[3] == 'e' ? 2 : 1e6, &x)) return CLI_USAGE;
            if (a[3] == 'e') o->temperature = x; else o->timeout = x;
        } else {
            int *dst = !strcmp(a, "-c") || !strcmp(a, "--clients") ? &o->clients : !strcmp(a, "--requests") ? &o->requests
                     : !strcmp(a, "-n") || !strcmp(a, "--max-tokens") ? &o->max_tokens : !strcmp(a, "--parallel") ? &o->parallel
                     : !strcmp(a, "--ctx") ? &o->n_ctx : NULL;
            if (!dst) { cli_error(VERB, "unknown flag '%s' (see --help)", a); return CLI_USAGE; }
            if (!cli_int(VERB, a, v, dst == &o->n_ctx ? 16 : 1, dst == &o->requests ? 1000000 : dst == &o->n_ctx ? 1 << 22 : 4096, &n))
                return CLI_USAGE;
            *dst = (int)n;
        }
    }
    if (!o->model == !o->url) { cli_error(VERB, "give one of -m MODEL (an in-process server) or --url URL"); return CLI_USAGE; }
    if (o->url && (o->parallel || o->threads || o->n_ctx)) {
        cli_error(VERB, "--parallel, --ctx and -t set up the in-process server: they go with -m, not --url");
        return CLI_USAGE;
    }
    if (!o->requests) o->requests = 2 * o->clients;
    return 0;
}

int pd_bench_serve(int argc, char **argv) {
    bs_opts o = {.clients = 64, .max_tokens = 64, .timeout = 600, .temperature = 0.6,
                 .prompt = "Write a short story about a robot."};
    int rc = parse(&o, argc, argv);
    if (rc) return rc < 0 ? CLI_OK : rc;
    pd_model *m = NULL;
    pd_serve *s = NULL;
    char url[64];
    if (o.model) {
        if (!pd_serve_available()) { cli_error(VERB, "this build has no HTTP server (libmicrohttpd)"); return CLI_RUNTIME; }
        if (o.threads) pd_threads_set(o.threads);
        if (!(m = pd_model_load(o.model))) { cli_error(VERB, "%s", pd_last_error()); return CLI_RUNTIME; }
        if (pd_model_repack(m) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); pd_model_free(m); return CLI_RUNTIME; }
        pd_serve_params p = pd_serve_defaults();
        p.port = 0;
        p.model_id = "bench";
        p.engine.parallel = o.parallel ? o.parallel : o.clients;
        p.engine.queue = o.clients > 64 ? o.clients : 64;
        p.engine.n_ctx = o.n_ctx ? o.n_ctx : 2048;
        if (!(s = pd_serve_start(m, &p))) { cli_error(VERB, "%s", pd_last_error()); pd_model_free(m); return CLI_RUNTIME; }
        snprintf(url, sizeof url, "http://127.0.0.1:%d", pd_serve_port(s));
        o.url = url;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bs_result r = {0};
    bool ok = run_load(&o, &r);
    curl_global_cleanup();
    if (s) pd_serve_stop(s, 0);
    pd_model_free(m);
    if (!ok) { cli_error(VERB, "cannot start the HTTP client (libcurl)"); free(r.ttft); free(r.lat); return CLI_RUNTIME; }
    report(&o, &r);
    free(r.ttft);
    free(r.lat);
    if (r.errors) { cli_error(VERB, "%d of %d requests failed", r.errors, o.requests); return CLI_RUNTIME; }
    return CLI_OK;
}
#endif
