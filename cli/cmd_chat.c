/* cli/cmd_chat.c — `ponder chat`: interactive multi-turn chat. Each turn renders the whole history
 * with the model's template (earlier thinking dropped as the family's template does), reuses the KV
 * of the token prefix it shares with the previous turn (pd_gen_add_reusing), streams the thinking
 * dimmed (or hides it with --hide-thinking) and then the answer.
 * Commands (as Ollama's): /bye quits (also /exit, /quit, end of input), /clear clears the history
 * (also /reset), /help or /? lists them; other /words are reported, never sent to the model ("//"
 * sends a line that starts with "/"). When the history no longer fits the context, the oldest turns
 * are dropped (the system prompt stays), with a note on stderr, and the chat goes on. */
#include "cli.h"
#include "gen_cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/threads.h"
#include "ponder/timer.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *VERB = "chat";

static void help(FILE *f) {
    fprintf(f, "usage: ponder chat -m MODEL [flags]   (type a message; /help lists the commands)\n"
               "  --hide-thinking           do not print the thinking (default: shown, dimmed on a terminal)\n");
    gen_cli_help(f);
    fprintf(f, "commands: /bye quits, /clear clears the history, /help lists the commands\n"
               "when the history outgrows the context (-c), the oldest turns are dropped (the system prompt stays)\n");
}

static void chat_commands(void) {
    puts("commands:\n"
         "  /bye, /exit, /quit   end the chat (so does end of input)\n"
         "  /clear, /reset       forget the conversation so far (the system prompt stays)\n"
         "  /help, /?            this list\n"
         "  //text               send a message that starts with '/'");
    fflush(stdout);
}

typedef struct { char *role, *content; } hmsg;

/* drop hist[0..k) (whole turns), shifting the rest down */
static void drop_front(hmsg *hist, int *n_hist, int k) {
    for (int i = 0; i < k; i++) { free(hist[i].role); free(hist[i].content); }
    if (*n_hist > k) memmove(hist, hist + k, (size_t)(*n_hist - k) * sizeof *hist);
    *n_hist -= k;
}

/* tokens of system + hist[0..n) rendered for a reply (NULL after printing an error) */
static int32_t *render(const gen_cli *o, const pd_model *m, pd_chat_family fam, const hmsg *hist, int n_hist,
                       size_t *n_ids) {
    int nm = n_hist + (o->system && fam != PD_CHAT_NONE);
    pd_chat_msg *msgs = pd_calloc((size_t)nm, sizeof *msgs);
    if (!msgs) { cli_error(VERB, "%s", pd_last_error()); return NULL; }
    int j = 0;
    if (o->system && fam != PD_CHAT_NONE) msgs[j++] = (pd_chat_msg){"system", o->system, NULL};
    for (int i = 0; i < n_hist; i++) msgs[j++] = (pd_chat_msg){hist[i].role, hist[i].content, NULL};
    int32_t *ids = gen_cli_tokens(VERB, m, fam, msgs, nm, o->no_think, n_ids);
    free(msgs);
    return ids;
}

static int chat_main(gen_cli *o) {
    if (o->threads) pd_threads_set(o->threads);
    pd_adapter *adapter = NULL;
    pd_model *m = gen_cli_load(VERB, o, &adapter);
    if (!m) return 1;
    int rc = 1;
    pd_gen *g = NULL;
    hmsg *hist = NULL;
    int n_hist = 0, cap_hist = 0;
    char *line = NULL;
    size_t line_cap = 0;
    int seq = -1;
    if (!m->tok) { cli_error(VERB, "%s: the model has no vocabulary", o->model); goto done; }
    if (o->template_name && pd_chat_family_from_name(o->template_name) < 0) {
        cli_error(VERB, "--template: unknown family '%s'", o->template_name);
        rc = 2;
        goto done;
    }
    pd_chat_family fam = gen_cli_family(VERB, o, m);
    pd_gen_params gp = pd_gen_defaults();
    gp.n_ctx = o->n_ctx;
    gp.kv_type = o->kv_type;
    gp.kv_type_v_set = true;
    gp.kv_type_v = o->kv_type_v;
    gp.n_seq_max = 2;  /* this turn and the previous one, whose KV it reuses */
    if (!(g = pd_gen_new(m, &gp))) { cli_error(VERB, "%s", pd_last_error()); goto done; }
    if (!gen_cli_kv_attach(VERB, o, g)) goto done;
    const int n_ctx = pd_gen_n_ctx(g);
    /* room kept for the reply when the history is trimmed: -n if set, else a quarter of the context */
    const size_t reserve = (size_t)(o->n_predict > 0 && o->n_predict < n_ctx / 2 ? o->n_predict : n_ctx / 4);
    const gen_cli_out out0 = {.show_thinking = !o->hide_thinking, .tty = isatty(1), .open = "[thinking] ",
                              .close = "\n[answer] "};
    gen_cli_out out = out0;
    out.progress = o->hide_thinking && isatty(2);
    pd_gen_set_stream(g, gen_cli_stream, &out);
    if (out.progress) pd_gen_set_token_callback(g, gen_cli_token, &out);
    bool prompt_tty = isatty(0);
    for (;;) {
        if (prompt_tty) { fputs("> ", stdout); fflush(stdout); }
        ssize_t k = getline(&line, &line_cap, stdin);
        if (k < 0) break;
        while (k && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = 0;
        if (!k) continue;
        const char *text = line;
        if (line[0] == '/' && line[1] == '/') text = line + 1;  /* "//..." sends "/..." */
        else if (line[0] == '/') {
            if (!strcmp(line, "/bye") || !strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
            if (!strcmp(line, "/clear") || !strcmp(line, "/reset")) {
                drop_front(hist, &n_hist, n_hist);
                puts("(history cleared)");
                fflush(stdout);
            } else if (!strcmp(line, "/help") || !strcmp(line, "/?")) {
                chat_commands();
            } else {
                fprintf(stderr, "ponder chat: unknown command '%s' (/help lists them; '//' sends a line starting with '/')\n", line);
            }
            continue;
        }
        if (n_hist + 2 > cap_hist) {
            cap_hist = cap_hist ? 2 * cap_hist : 16;
            hmsg *h = pd_realloc(hist, (size_t)cap_hist * sizeof *h);
            if (!h) { cli_error(VERB, "%s", pd_last_error()); goto done; }
            hist = h;
        }
        hist[n_hist].role = pd_strdup("user");
        hist[n_hist].content = pd_strdup(text);
        if (!hist[n_hist].role || !hist[n_hist].content) { n_hist++; cli_error(VERB, "%s", pd_last_error()); goto done; }
        n_hist++;
        /* render system + history; while it leaves too little room for the reply, drop the oldest
         * turn (a user message and its reply), keeping the system prompt and this message */
        size_t n_ids;
        int32_t *ids = render(o, m, fam, hist, n_hist, &n_ids);
        if (!ids) goto done;
        int dropped = 0;
        size_t before = n_ids;
        while (n_hist > 1 && n_ids + reserve > (size_t)n_ctx) {
            free(ids);
            drop_front(hist, &n_hist, n_hist >= 3 ? 2 : 1);
            dropped++;
            if (!(ids = render(o, m, fam, hist, n_hist, &n_ids))) goto done;
        }
        if (dropped)
            fprintf(stderr, "ponder chat: the conversation (%zu tokens, plus %zu kept for the reply) outgrew the context (%d); "
                            "dropped the oldest %d turn%s (%zu tokens now)\n", before, reserve, n_ctx, dropped,
                    dropped == 1 ? "" : "s", n_ids);
        if (n_ids >= (size_t)n_ctx) {
            fprintf(stderr, "ponder chat: this message is %zu tokens, more than the context holds (%d; see -c); not sent\n",
                    n_ids, n_ctx);
            free(ids);
            drop_front(hist, &n_hist, n_hist); /* only this message is left */
            continue;
        }
        pd_seq_params sp;
        pd_policy pol;
        if (!gen_cli_seq_params(VERB, o, m, &sp, &pol)) { free(ids); goto done; }
        /* the previous turn's KV serves the common prefix; then it is dropped */
        int prev = seq;
        seq = prev >= 0 ? pd_gen_add_reusing(g, prev, ids, (int)n_ids, &sp) : pd_gen_add(g, ids, (int)n_ids, &sp);
        if (prev >= 0) pd_gen_remove(g, prev);
        if (seq < 0) {
            cli_error(VERB, "%s", pd_last_error());
            if (sp.n_policies) pol.release(pol.ctx);
            free(ids);
            goto done;
        }
        free(ids);
        out = out0;
        out.progress = o->hide_thinking && isatty(2);
        if (pd_gen_run(g) != PD_OK) { cli_error(VERB, "%s", pd_last_error()); goto done; }
        const pd_gen_result *r = pd_gen_get_result(g, seq);
        if (r->finish == PD_FINISH_ERROR) { cli_error(VERB, "%s", r->error); goto done; }
        gen_cli_stream_end(&out);
        size_t al;
        const char *an = gen_cli_trim(r->answer, r->answer_len, &al);
        hist[n_hist].role = pd_strdup("assistant");
        hist[n_hist].content = pd_strndup(an, al);
        n_hist++;
    }
    rc = 0;
done:
    for (int i = 0; i < n_hist; i++) { free(hist[i].role); free(hist[i].content); }
    free(hist);
    free(line);
    pd_gen_free(g);
    pd_model_free(m);
    pd_adapter_free(adapter);
    return rc;
}

static int chat_flag(gen_cli *o, int argc, char **argv, int *i) {
    (void)argc;
    if (!strcmp(argv[*i], "--hide-thinking")) { o->hide_thinking = true; return 1; }
    return 0;
}

int pd_cmd_chat(int argc, char **argv) {
    gen_cli o;
    gen_cli_defaults(&o);
    int r = gen_cli_parse(VERB, &o, argc, argv, help, chat_flag);
    if (r) return r < 0 ? 0 : r;
    return chat_main(&o);
}
