/* cli/gen_cli.h — flags and set-up shared by `ponder run`, `chat` and `eval` (defined in cmd_run.c):
 * model, sampling, budgets, template choice, prompt rendering and tokenisation. */
#ifndef PONDER_GEN_CLI_H
#define PONDER_GEN_CLI_H
#include <stdbool.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "ponder/adapter.h"
#include "ponder/budget.h"
#include "ponder/chat.h"
#include "ponder/gen.h"
#include "ponder/kvpolicy.h"

enum { GEN_CLI_MAX_STOP = 16, GEN_CLI_MAX_POLICY = 8 };

typedef struct {
    const char *model, *prompt, *system, *template_name, *budget_message;
    int n_predict;                 /* 0: no new tokens; -1: until EOG or the context is full */
    bool n_predict_set;            /* -n given (eval's default is 1024) */
    int think_budget, answer_budget;
    int threads, n_ctx;
    pd_type kv_type, kv_type_v;    /* K and V cache types (-ctk / -ctv; --kv-type sets both) */
    const char *prompt_file;       /* -f FILE (the prompt read from a file; "-" = stdin) */
    bool show_thinking, hide_thinking, json, no_template, no_think;
    pd_sampler_params sp;
    bool seed_set;
    const char *stop[GEN_CLI_MAX_STOP];
    int n_stop;
    const char *policy[GEN_CLI_MAX_POLICY];   /* --policy specs (validated), cli/cmd_policies.c */
    int n_policy;
    const char *adapter;           /* --adapter FILE (LoRA/PiSSA/SoKA), NULL if none */
    float adapter_scale;           /* --adapter-scale (default 1) */
    bool adapter_scale_set;
    pd_kvp_spec kvp;               /* --kv-policy / --kv-budget (KV eviction) */
    bool kvp_set, kvb_set;
} gen_cli;

void gen_cli_defaults(gen_cli *o);
/* Try argv[*i] as a shared flag: 1 consumed (with its value), 0 not a shared flag, -1 bad value
 * (message printed). */
int gen_cli_flag(const char *verb, gen_cli *o, int argc, char **argv, int *i);
void gen_cli_help(FILE *f);
/* After parsing: refuse flags that would be accepted and then ignored (--system with --no-template,
 * --budget-message without a thinking budget, --adapter-scale without --adapter, ...), naming them;
 * --think-budget 0 becomes the family's no-think prompt. false after printing the error (usage). */
bool gen_cli_check(const char *verb, gen_cli *o);
/* The JSON fields every generating verb writes for one result: "finish_reason" (OpenAI: stop,
 * length; null after an error), "finish_detail" (eog, stop_string, max_tokens, answer_budget,
 * context, policy, error), "stop_string" when one matched, and "token_ids" (the generated and
 * injected ids, exact where the text fields hold U+FFFD for bytes that are not UTF-8). */
void gen_cli_json_finish(cJSON *j, const pd_gen_result *r);
/* Load -m MODEL and attach --adapter if given; NULL after printing the error. Free the adapter
 * (pd_adapter_free) after the model. */
pd_model *gen_cli_load(const char *verb, const gen_cli *o, pd_adapter **adapter);
/* --kv-policy: attach the eviction runtime to g's cache (once per process; freed at exit, after
 * the gen). gen_cli_seq_params then puts its policy first in every sequence's chain. false after
 * printing the error. Stats of the attached runtime: false when none is attached. */
bool gen_cli_kv_attach(const char *verb, const gen_cli *o, pd_gen *g);
bool gen_cli_kv_stats(pd_kvm_stats *st);
/* Template family for the model (override by --template; PD_CHAT_NONE with --no-template). */
pd_chat_family gen_cli_family(const char *verb, const gen_cli *o, const pd_model *m);
/* Render messages (or take the text as it is for PD_CHAT_NONE) and tokenise with special tokens parsed. */
int32_t *gen_cli_tokens(const char *verb, const pd_model *m, pd_chat_family fam, const pd_chat_msg *msgs, int n,
                        bool no_think, size_t *n_out);
/* Sequence params with the budget policy if any budget or --no-think is set (*pol is filled and
 * owned by the gen once added). */
bool gen_cli_seq_params(const char *verb, const gen_cli *o, const pd_model *m, pd_seq_params *p, pd_policy *pol);
/* Streaming printer for pd_gen_set_stream: thinking (unless hidden) dimmed on a terminal, else
 * between `open`/`close` texts; the whitespace each phase starts with is dropped. */
typedef struct {
    bool show_thinking, tty;
    const char *open, *close;    /* non-terminal markers around the thinking */
    bool in_thinking, answered, lead;
    bool progress;               /* hidden thinking: count its tokens on stderr (a terminal) */
    int n_thinking;
    bool one_seq; int seq;       /* print only sequence `seq` (not the probes/forks policies add) */
} gen_cli_out;
void gen_cli_stream(void *ctx, int seq, pd_phase ph, const char *t, size_t n);
/* pd_gen_set_token_callback partner of gen_cli_stream (the hidden-thinking counter). */
void gen_cli_token(void *ctx, int seq, const pd_sample *s, pd_phase ph);
/* End the output of one reply (close an open thinking block, newline). */
void gen_cli_stream_end(gen_cli_out *o);
/* Parse argv[1..]: shared flags, then `extra` for the verb's own (returns 1 consumed, 0 unknown,
 * -1 bad). Returns -1 after printing --help (exit 0), 2 on a usage error, 0 to go on. */
int gen_cli_parse(const char *verb, gen_cli *o, int argc, char **argv, void (*help)(FILE *),
                  int (*extra)(gen_cli *o, int argc, char **argv, int *i));
/* Trim surrounding whitespace: returns the start, *len the trimmed length. */
const char *gen_cli_trim(const char *s, size_t len, size_t *out_len);

/* --policy (cli/cmd_policies.c): validate and keep a spec (1, or -1 after printing why); chain the
 * per-sequence policies after the budget one in gen_cli_seq_params; sequence slots one prompt needs
 * (the vote driver's samples); the task whose extractor probes and votes use (eval). */
int gen_cli_policy_flag(const char *verb, gen_cli *o, const char *v);
/* After loading the model: attach the steering hook when a steer policy is given (its files are
 * loaded and checked now); false after printing why. */
bool gen_cli_policy_model(const char *verb, const gen_cli *o, pd_model *m);
bool gen_cli_policies(const char *verb, const gen_cli *o, const pd_model *m, pd_seq_params *p, pd_policy *pol);
int gen_cli_policy_slots(const gen_cli *o);
/* true when a driver (vote) is among the --policy specs */
bool gen_cli_policy_has_driver(const gen_cli *o);
struct pd_task;
void gen_cli_policy_task(const struct pd_task *t);
/* Add the prompt and generate to the end: one sequence, or the vote driver's n samples (the winner
 * replayed into os, if any). Takes ownership of *pol. Returns the final sequence id, or -1 after
 * printing the error. vr (optional) receives the vote (zeroed without one; free it). */
struct pd_vote_result;
int gen_cli_generate(const char *verb, const gen_cli *o, const pd_model *m, pd_gen *g, const int32_t *ids, int n,
                     pd_seq_params *sp, pd_policy *pol, gen_cli_out *os, struct pd_vote_result *vr);
/* eval: the hub's step and slots (trimr, trimr-probe need spare sequences: `parallel` + 1 more),
 * the task's extractor for probes, the verifier model added to g; false after printing why (vote
 * is refused in eval). */
int gen_cli_policy_extra_slots(const gen_cli *o, int parallel);
pd_status gen_cli_policy_step(void *ctx, pd_gen *g);
struct pd_eval_params;
bool gen_cli_policy_eval(const char *verb, const gen_cli *o, struct pd_eval_params *ep, const char *task, int parallel,
                         pd_gen *g);

#endif
