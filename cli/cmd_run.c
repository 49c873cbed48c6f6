/* cli/cmd_run.c — `ponder run`: one prompt → one reply, with the thinking shown (--show-thinking),
 * budgets (--think-budget, --answer-budget, --no-think), sampling flags, and a --json form
 * {thinking, answer, finish_reason, usage{prompt_tokens, thinking_tokens, answer_tokens}, timings}.
 * Also home of the flag set shared with `ponder chat` (gen_cli.h). */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/json.h"
#include "ponder/reason.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *VERB = "run";

void gen_cli_defaults(gen_cli *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->think_budget = -1;
    o->answer_budget = -1;
    o->kv_type = o->kv_type_v = PD_TYPE_F16;
    o->sp = pd_sampler_defaults();
    /* the sampling Qwen3 and DeepSeek-R1 recommend for thinking */
    o->sp.temperature = 0.6f;
    o->sp.top_p = 0.95f;
    o->sp.top_k = 20;
    o->adapter_scale = 1.0f;
}

void gen_cli_help(FILE *f) {
    fprintf(f,
            "  -m, --model FILE          GGUF model (or llama2.c .bin)\n"
            "  --adapter FILE            apply a LoRA/PiSSA/SoKA adapter (ponder finetune; default none)\n"
            "                            (llama.cpp's --lora FILE and --lora-scaled FILE SCALE work too)\n"
            "  --adapter-scale S         scale of the adapter's delta (default 1)\n"
            "  --system TEXT             system message (default none)\n"
            "  -n, --max-tokens N        most tokens to generate, thinking included (0: none; default -1: until the end)\n"
            "  --think-budget N          at most N thinking tokens, the closing marker and --budget-message included;\n"
            "                            thinking is closed early enough that both fit (0: no thinking, as --no-think)\n"
            "                            (default -1: no budget; llama.cpp's --reasoning-budget N is the same)\n"
            "  --answer-budget M         at most M answer tokens (default -1: no limit)\n"
            "  --budget-message TEXT     text injected (a paragraph of its own) before </think> when the thinking\n"
            "                            budget runs out (needs --think-budget N > 0)\n"
            "  --no-think                the family's way to turn thinking off (Qwen3: empty <think></think>)\n"
            "  --no-template             send the prompt as it is (special-token text parsed)\n"
            "  --template NAME           chat template family: chatml, qwen2, qwen3, llama3, phi3, phi4-mini,\n"
            "                            phi4, deepseek-r1, qwq, none (default: from the model's metadata)\n"
            "  --temp T                  temperature (default 0.6; 0 = greedy)\n"
            "  --top-k K                 (default 20; 0 = off)    --top-p P (default 0.95)    --min-p P (default 0)\n"
            "  --repeat-penalty R        (default 1 = off)   --repeat-last-n N (default 64, -1 = all)\n"
            "  --presence-penalty X      --frequency-penalty X   (default 0)\n"
            "  --seed N                  random seed (default: from the clock, printed with --json)\n"
            "  --stop TEXT               stop string (repeatable; default none; also -r, --reverse-prompt)\n"
            "  --policy NAME[:K=V,...]   reasoning control (s1, anytime, vote, ...; chainable; see `ponder policies`)\n"
            "  -t, --threads N           threads (default: physical cores)\n"
            "  -c, --ctx N               context size in tokens (default: the model's, at most 32768)\n"
            "  --kv-type T               KV cache type f16 (default), f32, q8_0, q4_0 (also --kv, for K and V)\n"
            "  -ctk T, -ctv T            K / V cache types apart (any pair of those four)\n"
            "  --kv-policy NAME[:K=V,..] KV eviction: streaming, h2o, tova, snapkv, rkv, lazy, rlkv (README \"KV cache\")\n"
            "  --kv-budget N|P%%          live KV rows per (layer, kv head): N rows or P%% of the positions\n"
            "  --flag=value works as well as --flag value\n");
}

pd_model *gen_cli_load(const char *verb, const gen_cli *o, pd_adapter **adapter) {
    *adapter = NULL;
    pd_model *m = pd_model_load(o->model);
    if (!m) { cli_error(verb, "%s", pd_last_error()); return NULL; }
    if (o->adapter && pd_model_attach_adapter(m, o->adapter, o->adapter_scale, adapter) != PD_OK) {
        cli_error(verb, "--adapter: %s", pd_last_error());
        pd_model_free(m);
        return NULL;
    }
    if (!gen_cli_policy_model(verb, o, m)) {   /* --policy steer: the residual hook */
        pd_model_free(m);
        pd_adapter_free(*adapter);
        *adapter = NULL;
        return NULL;
    }
    /* matmul weights into 8-row groups (model.h); an adapter reads the GGUF rows, so not with one */
    if (!*adapter && pd_model_repack(m) != PD_OK) {
        cli_error(verb, "%s", pd_last_error());
        pd_model_free(m);
        return NULL;
    }
    return m;
}

int gen_cli_flag(const char *verb, gen_cli *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char *v;
    long long n;
    double x;
#define VAL() do { if (!(v = cli_value(verb, argc, argv, i))) return -1; } while (0)
#define INT(lo, hi, dst) do { VAL(); if (!cli_int(verb, a, v, lo, hi, &n)) return -1; dst = (int)n; } while (0)
#define FLT(lo, hi, dst) do { VAL(); if (!cli_float(verb, a, v, lo, hi, &x)) return -1; dst = (float)x; } while (0)
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); o->model = v; }
    else if (!strcmp(a, "--adapter") || !strcmp(a, "--lora")) {
        VAL();
        if (o->adapter) { cli_error(verb, "%s: one adapter at most (already %s)", a, o->adapter); return -1; }
        o->adapter = v;
    } else if (!strcmp(a, "--lora-scaled")) { /* llama.cpp: --lora-scaled FILE SCALE */
        VAL();
        if (o->adapter) { cli_error(verb, "%s: one adapter at most (already %s)", a, o->adapter); return -1; }
        o->adapter = v;
        FLT(-1e3, 1e3, o->adapter_scale);
        o->adapter_scale_set = true;
    }
    else if (!strcmp(a, "--adapter-scale")) { FLT(-1e3, 1e3, o->adapter_scale); o->adapter_scale_set = true; }
    else if (!strcmp(a, "--system")) { VAL(); o->system = v; }
    else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
        VAL();
        if (!cli_max_tokens(verb, a, v, &o->n_predict)) return -1;
        o->n_predict_set = true;
    }
    else if (!strcmp(a, "--think-budget") || !strcmp(a, "--reasoning-budget")) INT(-1, 1 << 24, o->think_budget);
    else if (!strcmp(a, "--answer-budget")) INT(-1, 1 << 24, o->answer_budget);
    else if (!strcmp(a, "--budget-message")) { VAL(); o->budget_message = v; }
    else if (!strcmp(a, "--no-think")) o->no_think = true;
    else if (!strcmp(a, "--policy")) { VAL(); if (gen_cli_policy_flag(verb, o, v) < 0) return -1; }
    else if (!strcmp(a, "--no-template")) o->no_template = true;
    else if (!strcmp(a, "--template")) { VAL(); o->template_name = v; }
    else if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) FLT(0, 100, o->sp.temperature);
    else if (!strcmp(a, "--top-k")) INT(0, 1 << 24, o->sp.top_k);
    else if (!strcmp(a, "--top-p")) FLT(1e-6, 1, o->sp.top_p);
    else if (!strcmp(a, "--min-p")) FLT(0, 1, o->sp.min_p);
    else if (!strcmp(a, "--repeat-penalty")) FLT(1e-3, 100, o->sp.repeat_penalty);
    else if (!strcmp(a, "--repeat-last-n")) INT(-1, 1 << 24, o->sp.penalty_last_n);
    else if (!strcmp(a, "--presence-penalty")) FLT(-10, 10, o->sp.presence_penalty);
    else if (!strcmp(a, "--frequency-penalty")) FLT(-10, 10, o->sp.frequency_penalty);
    else if (!strcmp(a, "--seed")) {
        VAL();
        if (!cli_seed(verb, a, v, &o->sp.seed)) return -1;
        o->seed_set = true;
    } else if (!strcmp(a, "--stop") || !strcmp(a, "-r") || !strcmp(a, "--reverse-prompt")) {
        VAL();
        if (!*v) { cli_error(verb, "--stop: empty stop string"); return -1; }
        if (o->n_stop == GEN_CLI_MAX_STOP) { cli_error(verb, "--stop: at most %d stop strings", GEN_CLI_MAX_STOP); return -1; }
        o->stop[o->n_stop++] = v;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (!cli_threads(verb, a, v, &o->threads)) return -1; }
    else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) INT(16, 1 << 22, o->n_ctx);
    else if (cli_is_kv_type_flag(a)) {
        VAL();
        if (!cli_kv_type(verb, a, v, &o->kv_type, &o->kv_type_v)) return -1;
    } else if (!strcmp(a, "--kv-policy")) {
        VAL();
        if (!cli_kv_policy(verb, a, v, &o->kvp)) return -1;
        o->kvp_set = true;
    } else if (!strcmp(a, "--kv-budget")) {
        VAL();
        if (!cli_kv_budget(verb, a, v, &o->kvp)) return -1;
        o->kvb_set = true;
    } else return 0;
#undef VAL
#undef INT
#undef FLT
    return 1;
}

pd_chat_family gen_cli_family(const char *verb, const gen_cli *o, const pd_model *m) {
    if (o->no_template) return PD_CHAT_NONE;
    if (o->template_name) return (pd_chat_family)pd_chat_family_from_name(o->template_name); /* checked by caller */
    const char *s;
    size_t len;
    if (!m->gguf || pd_gguf_find_key(m->gguf, "tokenizer.chat_template") < 0 ||
        !pd_gguf_get_str(m->gguf, "tokenizer.chat_template", &s, &len))
        return PD_CHAT_NONE;
    char *t = pd_strndup(s, len);
    pd_chat_family f = t ? pd_chat_detect(t) : PD_CHAT_NONE;
    if (t && f == PD_CHAT_NONE)
        fprintf(stderr, "ponder %s: the model's chat template is not a known family; sending the prompt as it is "
                        "(use --template NAME)\n", verb);
    free(t);
    return f;
}

int32_t *gen_cli_tokens(const char *verb, const pd_model *m, pd_chat_family fam, const pd_chat_msg *msgs, int n,
                        bool no_think, size_t *n_out) {
    char *text = pd_chat_render(fam, msgs, n, true, !no_think);
    if (!text) { cli_error(verb, "%s", pd_last_error()); return NULL; }
    int32_t *ids = NULL;
    if (pd_tokenize(m->tok, text, strlen(text), pd_tok_add_bos_default(m->tok), true, &ids, n_out) != PD_OK) {
        cli_error(verb, "tokenising the prompt: %s", pd_last_error());
        ids = NULL;
    } else if (*n_out == 0) {
        cli_error(verb, "the prompt is empty");
        free(ids);
        ids = NULL;
    }
    free(text);
    return ids;
}

/* --kv-policy's runtime (gen_cli_kv_attach); freed at exit, after every gen is gone */
static pd_kvm *cli_kvm;

bool gen_cli_seq_params(const char *verb, const gen_cli *o, const pd_model *m, pd_seq_params *p, pd_policy *pol) {
    *p = pd_seq_defaults();
    p->sampling = o->sp;
    p->max_tokens = o->n_predict;
    p->stop = o->stop;
    p->n_stop = o->n_stop;
    int tb = o->no_think ? 0 : o->think_budget;
    if (tb >= 0 || o->answer_budget >= 0) {
        pd_budget_params bp = pd_budget_defaults();
        bp.think_budget = tb;
        bp.answer_budget = o->answer_budget;
        bp.message = o->budget_message;
        if (pd_budget_policy(m->tok, &bp, pol) != PD_OK) { cli_error(verb, "%s", pd_last_error()); return false; }
        p->policies = pol;
        p->n_policies = 1;
    }
    if (!gen_cli_policies(verb, o, m, p, pol)) return false;
    if (!cli_kvm) return true;
    /* the eviction policy goes first: a chain skips the rest after an answer other than continue */
    pd_policy list[2] = {pd_kvm_policy(cli_kvm)};
    if (!list[0].ctx) { cli_error(verb, "%s", pd_last_error()); return false; }
    if (!p->n_policies) {
        *pol = list[0];
    } else {
        list[1] = *pol;
        if (pd_reason_chain(list, 2, pol) != PD_OK) {
            cli_error(verb, "%s", pd_last_error());
            list[0].release(list[0].ctx);
            return false;
        }
    }
    p->policies = pol;
    p->n_policies = 1;
    return true;
}

static void kvm_cleanup(void) {
    pd_kvm_free(cli_kvm);
    cli_kvm = NULL;
}

bool gen_cli_kv_attach(const char *verb, const gen_cli *o, pd_gen *g) {
    if (!o->kvp_set) return true;
    if (cli_kvm) { cli_error(verb, "--kv-policy: one generator per process"); return false; }
    if (!(cli_kvm = pd_kvm_new(g, &o->kvp))) { cli_error(verb, "--kv-policy: %s", pd_last_error()); return false; }
    atexit(kvm_cleanup);
    return true;
}

bool gen_cli_kv_stats(pd_kvm_stats *st) {
    if (!cli_kvm) return false;
    pd_kvm_get_stats(cli_kvm, st);
    return true;
}

bool gen_cli_check(const char *verb, gen_cli *o) {
    const char *bad = NULL;
    if (o->system && o->no_template) bad = "--system has no effect with --no-template (the prompt is sent as it is)";
    else if (o->template_name && o->no_template) bad = "--template and --no-template contradict each other";
    else if (o->adapter_scale_set && !o->adapter) bad = "--adapter-scale has no effect without --adapter FILE";
    else if (o->no_think && o->think_budget > 0) bad = "--no-think and --think-budget N > 0 contradict each other";
    else if (o->budget_message && (o->no_think || o->think_budget == 0))
        bad = "--budget-message has no effect without thinking (--no-think / --think-budget 0)";
    else if (o->budget_message && o->think_budget < 0)
        bad = "--budget-message has no effect without --think-budget N (it is injected when the budget runs out)";
    if (bad) { cli_error(verb, "%s", bad); return false; }
    if (!cli_kv_check(verb, o->kvp_set, o->kvb_set, &o->kvp)) return false;
    if (o->think_budget == 0) o->no_think = true;  /* the family's own no-think prompt */
    return true;
}

void gen_cli_json_finish(cJSON *j, const pd_gen_result *r) {
    const char *reason = pd_finish_reason(r);
    if (reason) cJSON_AddStringToObject(j, "finish_reason", reason);
    else cJSON_AddNullToObject(j, "finish_reason");
    cJSON_AddStringToObject(j, "finish_detail", pd_finish_detail(r));
    if (r->stop_string) cJSON_AddStringToObject(j, "stop_string", r->stop_string);
    cJSON *ids = cJSON_AddArrayToObject(j, "token_ids");
    for (int i = r->n_prompt; ids && i < r->n_tokens; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(r->tokens[i]));
}

const char *gen_cli_trim(const char *s, size_t len, size_t *out) {
    while (len && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) { s++; len--; }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
    *out = len;
    return s;
}

/* ---- streaming output ---- */
void gen_cli_stream(void *ctx, int seq, pd_phase ph, const char *t, size_t n) {
    gen_cli_out *o = ctx;
    if (o->one_seq && seq != o->seq) return;   /* a policy's probe or fork, not the reply */
    if (ph == PD_PHASE_THINKING) {
        if (!o->show_thinking) return;
        if (!o->in_thinking) { fputs(o->tty ? "\033[2m" : o->open, stdout); o->in_thinking = true; o->lead = true; }
    } else {
        if (o->progress && o->n_thinking > 0) { fputs("\r\033[K", stderr); o->progress = false; }
        if (o->in_thinking) { fputs(o->tty ? "\033[0m\n" : o->close, stdout); o->in_thinking = false; }
        if (!o->answered) o->lead = true;
        o->answered = true;
    }
    if (o->lead) { /* drop the whitespace a phase starts with ("<think>\n", "</think>\n\n") */
        while (n && (*t == '\n' || *t == ' ')) { t++; n--; }
        if (!n) return;
        o->lead = false;
    }
    fwrite(t, 1, n, stdout);
    fflush(stdout);
}

void gen_cli_token(void *ctx, int seq, const pd_sample *s, pd_phase ph) {
    (void)s;
    gen_cli_out *o = ctx;
    if (!o->progress || (o->one_seq && seq != o->seq)) return;
    if (ph == PD_PHASE_THINKING && ++o->n_thinking % 16 == 1) {
        fprintf(stderr, "\r[thinking: %d tokens]", o->n_thinking);
        fflush(stderr);
    }
}

void gen_cli_stream_end(gen_cli_out *o) {
    if (o->progress && o->n_thinking > 0) fprintf(stderr, "\r\033[K");
    if (o->in_thinking) fputs(o->tty ? "\033[0m\n" : o->close, stdout);
    o->in_thinking = false;
    fputc('\n', stdout);
    fflush(stdout);
}

int gen_cli_parse(const char *verb, gen_cli *o, int argc, char **argv, void (*help)(FILE *),
                  int (*extra)(gen_cli *o, int argc, char **argv, int *i)) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { help(stdout); return -1; }
        int r = gen_cli_flag(verb, o, argc, argv, &i);
        if (r == 0) r = extra(o, argc, argv, &i);
        if (r < 0) return 2;
        if (r == 0) { cli_error(verb, "unknown flag '%s' (see --help)", a); return 2; }
    }
    if (!o->model) { cli_error(verb, "-m MODEL is required"); return 2; }
    if (!gen_cli_check(verb, o)) return 2;
    if (!o->seed_set) o->sp.seed = (uint64_t)(pd_time_now() * 1e6);
    return 0;
}

static void help(FILE *f) {
    fprintf(f, "usage: ponder run -m MODEL (-p PROMPT | -p - | -f FILE) [flags]\n"
               "  -p, --prompt TEXT         the user message (or raw text with --no-template); '-' reads stdin\n"
               "  -f, --file FILE           read the prompt from FILE\n"
               "  --show-thinking           print the thinking (dimmed on a terminal) before the answer\n"
               "  --json                    print one JSON object: thinking, answer, finish_reason, usage, timings\n");
    gen_cli_help(f);
}

/* The --json object (one document, formatted); false after printing why it could not be written. */
static bool print_json(const gen_cli *o, const pd_model *m, pd_chat_family fam, const pd_gen_result *r, double t_load) {
    size_t tl, al;
    const char *th = gen_cli_trim(r->thinking, r->thinking_len, &tl);
    const char *an = gen_cli_trim(r->answer, r->answer_len, &al);
    cJSON *j = cJSON_CreateObject();
    char *ts = pd_strndup(th, tl), *as = pd_strndup(an, al);
    cJSON_AddStringToObject(j, "model", m->cfg.name[0] ? m->cfg.name : o->model);
    cJSON_AddStringToObject(j, "template", pd_chat_format_of(fam)->name);
    cJSON_AddStringToObject(j, "thinking", ts ? ts : "");
    cJSON_AddStringToObject(j, "answer", as ? as : "");
    gen_cli_json_finish(j, r);
    pd_json_add_u64(j, "seed", o->sp.seed);
    cJSON *u = cJSON_AddObjectToObject(j, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "thinking_tokens", r->n_thinking);
    cJSON_AddNumberToObject(u, "answer_tokens", r->n_answer);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_thinking + r->n_answer);
    cJSON *t = cJSON_AddObjectToObject(j, "timings");
    int n_gen = r->n_tokens - r->n_prompt;
    cJSON_AddNumberToObject(t, "load_s", t_load);
    cJSON_AddNumberToObject(t, "prefill_s", r->t_prefill);
    cJSON_AddNumberToObject(t, "decode_s", r->t_decode);
    cJSON_AddNumberToObject(t, "prefill_tokens_per_s", r->t_prefill > 0 ? r->n_prompt / r->t_prefill : 0);
    cJSON_AddNumberToObject(t, "decode_tokens_per_s", r->t_decode > 0 && n_gen > 1 ? (n_gen - 1) / r->t_decode : 0);
    cJSON *kvj = cJSON_AddObjectToObject(j, "kv");
    char kvn[32];
    cJSON_AddStringToObject(kvj, "type", cli_kv_type_name(o->kv_type, o->kv_type_v, kvn, sizeof kvn));
    cJSON_AddStringToObject(kvj, "k_type", pd_type_name(o->kv_type));
    cJSON_AddStringToObject(kvj, "v_type", pd_type_name(o->kv_type_v));
    cJSON_AddNumberToObject(kvj, "peak_bytes", (double)r->kv_peak_bytes);
    pd_kvm_stats ks;
    if (gen_cli_kv_stats(&ks)) {
        cJSON *kj = cJSON_AddObjectToObject(j, "kv_eviction");
        cJSON_AddStringToObject(kj, "policy", pd_kvp_name(o->kvp.kind));
        cJSON_AddNumberToObject(kj, "rows_evicted", (double)ks.evictions);
        cJSON_AddNumberToObject(kj, "rounds", (double)ks.rounds);
        cJSON_AddNumberToObject(kj, "peak_kv_bytes", (double)ks.peak_bytes);
    }
    char *s = pd_json_print(j, true);
    bool ok = s && ts && as;
    if (!ok) cli_error(VERB, "%s", pd_last_error());
    else if (fputs(s, stdout) < 0 || fputc('\n', stdout) < 0) { cli_error(VERB, "writing the output failed (standard output)"); ok = false; }
    free(s); free(ts); free(as);
    cJSON_Delete(j);
    return ok;
}

static int run_main(gen_cli *o) {
    if (o->threads) pd_threads_set(o->threads);
    double t0 = pd_time_now();
    pd_adapter *adapter = NULL;
    pd_model *m = gen_cli_load(VERB, o, &adapter);
    if (!m) return 1;
    double t_load = pd_time_now() - t0;
    int rc = 1;
    int32_t *ids = NULL;
    pd_gen *g = NULL;
    if (!m->tok) { cli_error(VERB, "%s: the model has no vocabulary (tokenizer.ggml.*), so text cannot be generated", o->model); goto done; }
    if (o->template_name && pd_chat_family_from_name(o->template_name) < 0) {
        cli_error(VERB, "--template: unknown family '%s'", o->template_name);
        rc = 2;
        goto done;
    }
    pd_chat_family fam = gen_cli_family(VERB, o, m);
    pd_chat_msg msgs[2];
    int nm = 0;
    if (o->system && fam != PD_CHAT_NONE) msgs[nm++] = (pd_chat_msg){"system", o->system, NULL};
    msgs[nm++] = (pd_chat_msg){"user", o->prompt, NULL};
    size_t n_ids;
    if (!(ids = gen_cli_tokens(VERB, m, fam, msgs, nm, o->no_think, &n_ids))) goto done;
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = o->n_ctx;
    gp.kv_type = o->kv_type;
    gp.kv_type_v_set = true;
    gp.kv_type_v = o->kv_type_v;
    gp.n_seq_max = gen_cli_policy_slots(o);
    if (!(g = pd_gen_new(m, &gp))) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    if (!gen_cli_kv_attach(VERB, o, g)) goto done;
    gen_cli_out os = {.show_thinking = o->show_thinking, .tty = isatty(1), .open = "<think>\n", .close = "\n</think>\n"};
    os.progress = !o->show_thinking && !o->json && isatty(2);
    if (!o->json) pd_gen_set_stream(g, gen_cli_stream, &os);
    if (os.progress) pd_gen_set_token_callback(g, gen_cli_token, &os);
    pd_seq_params sp;
    pd_policy pol;
    if (!gen_cli_seq_params(VERB, o, m, &sp, &pol)) goto done;
    int id = gen_cli_generate(VERB, o, m, g, ids, (int)n_ids, &sp, &pol, o->json ? NULL : &os, NULL);
    if (id < 0) goto done;
    const pd_gen_result *r = pd_gen_get_result(g, id);
    if (r->finish == PD_FINISH_ERROR) { cli_error(VERB, "%s", r->error); goto done; }
    if (o->json) {
        if (!print_json(o, m, fam, r, t_load)) goto done;
    } else {
        gen_cli_stream_end(&os);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) { cli_error(VERB, "writing the output failed (standard output)"); goto done; }
    rc = 0;
done:
    pd_gen_free(g);
    free(ids);
    pd_model_free(m);
    pd_adapter_free(adapter);
    return rc;
}

static int run_flag(gen_cli *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) return (o->prompt = cli_value(VERB, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "-f") || !strcmp(a, "--file")) return (o->prompt_file = cli_value(VERB, argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--show-thinking")) { o->show_thinking = true; return 1; }
    if (!strcmp(a, "--json")) { o->json = true; return 1; }
    return 0;
}

int pd_cmd_run(int argc, char **argv) {
    gen_cli o;
    gen_cli_defaults(&o);
    int r = gen_cli_parse(VERB, &o, argc, argv, help, run_flag);
    if (r) return r < 0 ? 0 : r;
    if (!o.prompt && !o.prompt_file) { cli_error(VERB, "-p PROMPT (or -p - for stdin, or -f FILE) is required"); return 2; }
    if (o.show_thinking && o.json) { cli_error(VERB, "--show-thinking has no effect with --json (the JSON has the thinking)"); return 2; }
    bool usage;
    char *prompt = cli_prompt_text(VERB, o.prompt, o.prompt_file, &usage);
    if (!prompt) return usage ? 2 : 1;
    o.prompt = prompt;
    r = run_main(&o);
    free(prompt);
    return r;
}
