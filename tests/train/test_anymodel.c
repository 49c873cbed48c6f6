/* tests/train/test_anymodel.c — training models ponder did not make: the SFT JSONL reader (TRL's
 * formats), training prompts that equal llama.cpp's tokens for the same chat turn, training-engine
 * logits of loaded fixture models against the inference forward, and a few SFT steps (full model
 * on tiny-qwen3, LoRA on the Q8_0 tiny-llama) that lower the loss and write files that load and give
 * the trainer's logits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "fixtures.h"
#include "ponder/adapter.h"
#include "ponder/alloc.h"
#include "ponder/data.h"
#include "ponder/gguf.h"
#include "ponder/model.h"
#include "ponder/sft.h"
#include "ponder/train.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX PD_FIXTURES "models/"

static char dir[96];
static const char *tmp(const char *name) {
    static char buf[4][192];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static pd_status parse(const char *line, pd_sft_example *e) { return pd_sft_parse_line(line, strlen(line), e); }

static void test_sft_parse(void **st) {
    (void)st;
    pd_sft_example e;
    /* messages with reasoning_content: the prompt is everything before the last (assistant) turn */
    assert_int_equal(parse("{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
                           "\"2+2?\"},{\"role\":\"assistant\",\"content\":\"4\",\"reasoning_content\":\"two and two\"}]}",
                           &e), PD_OK);
    assert_int_equal(e.kind, PD_SFT_CHAT);
    assert_int_equal(e.n_msgs, 2);
    assert_string_equal(e.msgs[0].role, "system");
    assert_string_equal(e.msgs[1].content, "2+2?");
    assert_string_equal(e.answer, "4");
    assert_string_equal(e.reasoning, "two and two");
    pd_sft_example_free(&e);
    /* <think> inside the content is split off, newlines around it trimmed */
    assert_int_equal(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":"
                           "\"<think>\\nsteps\\n</think>\\n\\nA\"}]}", &e), PD_OK);
    assert_string_equal(e.reasoning, "steps");
    assert_string_equal(e.answer, "A");
    pd_sft_example_free(&e);
    /* no thinking: reasoning NULL */
    assert_int_equal(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"A\"}]}",
                           &e), PD_OK);
    assert_null(e.reasoning);
    pd_sft_example_free(&e);
    /* plain prompt/completion */
    assert_int_equal(parse("{\"prompt\":\"The sky is\",\"completion\":\" blue.\"}", &e), PD_OK);
    assert_int_equal(e.kind, PD_SFT_TEXT);
    assert_string_equal(e.text_prompt, "The sky is");
    assert_string_equal(e.answer, " blue.");
    pd_sft_example_free(&e);
    /* conversational prompt/completion */
    assert_int_equal(parse("{\"prompt\":[{\"role\":\"user\",\"content\":\"hi\"}],\"completion\":[{\"role\":\"assistant\","
                           "\"content\":\"<think>x</think>yo\"}]}", &e), PD_OK);
    assert_int_equal(e.kind, PD_SFT_CHAT);
    assert_int_equal(e.n_msgs, 1);
    assert_string_equal(e.reasoning, "x");
    assert_string_equal(e.answer, "yo");
    pd_sft_example_free(&e);
    /* a ponder task item is not an SFT line */
    assert_int_equal(parse("{\"id\":\"a\",\"prompt\":\"p\",\"answer\":\"1\"}", &e), PD_OK);
    assert_int_equal(e.kind, PD_SFT_NONE);
    /* malformed lines: each error names what is wrong */
    static const struct { const char *line, *why; } bad[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", "needs a prompt and an assistant reply"},
        {"{\"messages\":[{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"q\"}]}", "last message"},
        {"{\"messages\":[{\"role\":\"tool\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}", "role 'tool'"},
        {"{\"messages\":[{\"role\":\"user\"},{\"role\":\"assistant\",\"content\":\"a\"}]}", "'content'"},
        {"{\"messages\":\"x\"}", "not an array"},
        {"{\"messages\":[],\"completion\":\"a\"}", "both"},
        {"{\"completion\":\"a\"}", "no 'prompt'"},
        {"{\"prompt\":\"p\",\"completion\":[{\"role\":\"assistant\",\"content\":\"a\"}]}", "both be strings"},
        {"{\"prompt\":[{\"role\":\"user\",\"content\":\"q\"}],\"completion\":[]}", "exactly one"},
        {"{\"prompt\":[],\"completion\":[{\"role\":\"assistant\",\"content\":\"a\"}]}", "no prompt message"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a</think>b\"}]}",
         "</think>"},
        {"{\"prompt\":\"p\",\"completion\":\"c\"} x", "text after"},
        {"{\"prompt\":", "not valid JSON"},
        {"[1,2]", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i].line, &e), PD_ERR_FORMAT);
        if (!strstr(pd_last_error(), bad[i].why)) fail_msg("line %zu: '%s' lacks '%s'", i, pd_last_error(), bad[i].why);
        assert_null(e.msgs);
        assert_null(e.answer);
    }
    assert_int_equal(pd_sft_parse_line("{\"a\":1}\0", 8, &e), PD_ERR_FORMAT); /* NUL byte */
}

/* ids of a fixture tokens file (first column) */
static int read_ids(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) ids[n++] = (int32_t)atoi(line);
    fclose(f);
    return n;
}

/* The training prompt of a chat example is the prompt `ponder run` builds (render with the model's
 * family, tokenise with BOS by the vocabulary and specials parsed) and equals llama.cpp's tokens of
 * the same turn (fixture tiny-qwen3.chat: the prompt plus "<think>\n"). */
static void test_prompt_ids_qwen3(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_tmodel *m = pd_tmodel_load(FIX "tiny-qwen3.gguf", 1, 64, NULL, NULL);
    assert_non_null(m);
    const pd_tchat *c = pd_tmodel_chat(m);
    assert_int_equal(c->family, PD_CHAT_QWEN3);
    int32_t ref[64];
    int nr = read_ids(FIX "tiny-qwen3.chat.tokens.txt", ref, 64);
    assert_int_equal(nr, 21);
    pd_sft_example e;
    const char *line = "{\"messages\":[{\"role\":\"user\",\"content\":\"Question: what is 12+35?\"},"
                       "{\"role\":\"assistant\",\"content\":\"<think>\\n12+35=47\\n</think>\\n\\n47\"}]}";
    assert_int_equal(pd_sft_parse_line(line, strlen(line), &e), PD_OK);
    pd_tex ex;
    int np = -1;
    assert_int_equal(pd_tex_from_sft(c, &e, &ex, &np), PD_OK);
    pd_sft_example_free(&e);
    assert_int_equal(np, nr - 2); /* llama.cpp's prompt ends with the model's "<think>" "\n" */
    for (int i = 0; i < nr; i++) assert_int_equal(ex.tok[i], ref[i]);
    for (int i = 0; i < ex.n; i++) assert_int_equal(ex.loss[i], i >= np);
    assert_int_equal(ex.tok[ex.n - 1], pd_tok_find(c->tok, "<|im_end|>")); /* loss through the end of turn */
    /* the same prompt as `ponder run -p` builds it: the inference model's template and tokenizer */
    pd_model *pm = pd_model_load(FIX "tiny-qwen3.gguf");
    assert_non_null(pm);
    const char *tmpl;
    size_t tl;
    assert_true(pd_gguf_get_str(pm->gguf, "tokenizer.chat_template", &tmpl, &tl));
    char *t = pd_strndup(tmpl, tl);
    pd_chat_msg u = {"user", "Question: what is 12+35?", NULL};
    char *text = pd_chat_render(pd_chat_detect(t), &u, 1, true, true);
    int32_t *ids;
    size_t n;
    assert_int_equal(pd_tokenize(pm->tok, text, strlen(text), pd_tok_add_bos_default(pm->tok), true, &ids, &n), PD_OK);
    assert_int_equal((int)n, np);
    assert_memory_equal(ids, ex.tok, n * sizeof(int32_t));
    int32_t *pids;
    int pn;
    assert_int_equal(pd_tex_prompt(c, "Question: what is 12+35?", &pids, &pn), PD_OK);
    assert_int_equal(pn, np);
    assert_memory_equal(pids, ex.tok, n * sizeof(int32_t));
    free(pids); free(ids); free(text); free(t);
    pd_tex_free(&ex);
    /* plain prompt/completion: no template, EOS appended; a prompt ending in a space that the
     * completion's first word takes (" blue" is one token) puts the loss from where they part */
    line = "{\"prompt\":\"The sky is \",\"completion\":\"blue.\"}";
    assert_int_equal(pd_sft_parse_line(line, strlen(line), &e), PD_OK);
    assert_int_equal(pd_tex_from_sft(c, &e, &ex, &np), PD_OK);
    pd_sft_example_free(&e);
    assert_int_equal(pd_tokenize(c->tok, "The sky is blue.", 16, c->add_bos, true, &ids, &n), PD_OK);
    assert_int_equal(ex.n, (int)n + 1);
    assert_memory_equal(ex.tok, ids, n * sizeof(int32_t));
    assert_int_equal(ex.tok[n], pd_tok_eos(c->tok));
    assert_int_equal(pd_tokenize(c->tok, "The sky is ", 11, c->add_bos, true, &pids, &n), PD_OK);
    assert_int_equal(np, (int)n - 1); /* "The", " sky", " is" shared; " " vs " blue" differ */
    for (int i = 0; i < ex.n; i++) assert_int_equal(ex.loss[i], i >= np);
    free(ids); free(pids);
    pd_tex_free(&ex);
    pd_model_free(pm);
    pd_tmodel_free(m);
}

/* worst |a - b| / max|b| over rows of V */
static double rel_diff(const float *a, const float *b, int rows, int V) {
    double worst = 0;
    for (int r = 0; r < rows; r++) {
        double mx = 0, d = 0;
        for (int v = 0; v < V; v++) {
            mx = fmax(mx, fabs(b[(size_t)r * V + v]));
            d = fmax(d, fabs((double)a[(size_t)r * V + v] - b[(size_t)r * V + v]));
        }
        worst = fmax(worst, d / (mx > 0 ? mx : 1));
    }
    return worst;
}

/* trainer forward of tokens (one row) vs pd_model_forward of pm (with its adapter hook, if any) */
static double trainer_vs_inference(pd_tmodel *m, const pd_model *pm, const int32_t *tok, int n) {
    pd_tbatch b = {1, n, tok, NULL, NULL};
    pd_tmodel_forward(m, &b, NULL);
    int V = pd_tmodel_cfg(m)->n_vocab;
    assert_int_equal(pm->cfg.n_vocab, V);
    float *lg = pd_malloc(sizeof(float) * (size_t)n * V);
    pd_kv *kv = pd_kv_new(&pm->cfg, 1, n, PD_TYPE_F32);
    assert_non_null(kv);
    pd_batch bb = {n, tok, NULL, NULL, NULL};
    assert_int_equal(pd_model_forward(pm, kv, &bb, lg), PD_OK);
    double d = rel_diff(pd_tmodel_logits(m), lg, n, V);
    pd_kv_free(kv);
    free(lg);
    return d;
}

/* The training engine on loaded real-vocabulary models computes the inference path's logits: to
 * 1e-4 of each row's largest logit where the inference matmuls are F32 (tiny-llama; tiny-qwen2 and
 * tiny-qwen3 as the trainer writes them back, all F32, which also checks the written metadata), and
 * to 2e-3 on files with F16 matrices, whose inference matmuls round the activations to F16 as
 * llama.cpp does (the fixtures README expects ~1e-3 from that). */
static void test_logits_match(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    static const struct { const char *name; bool f32; } cases[] = {
        {"tiny-llama", true}, {"tiny-qwen2", true}, {"tiny-qwen3", true},
        {"tiny-llama-f16", false}, {"tiny-qwen2", false}, {"tiny-qwen3", false}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char p[256], tp[256];
        snprintf(p, sizeof p, FIX "%s.gguf", cases[k].name);
        snprintf(tp, sizeof tp, FIX "%s.tokens.txt", cases[k].name);
        int32_t tok[64];
        int n = read_ids(tp, tok, 64);
        pd_tmodel *m = pd_tmodel_load(p, 1, n, NULL, NULL);
        assert_non_null(m);
        const char *ip = p;
        if (cases[k].f32 && strcmp(cases[k].name, "tiny-llama")) {
            pd_tckpt_info info = {.step = 0, .config_json = NULL, .with_optimizer = false};
            assert_int_equal(pd_tmodel_save(m, tmp("f32.gguf"), &info), PD_OK);
            ip = tmp("f32.gguf");
        }
        pd_model *pm = pd_model_load(ip);
        assert_non_null(pm);
        double d = trainer_vs_inference(m, pm, tok, n);
        printf("%s (%s): trainer vs inference logits, worst relative difference %.2e\n", cases[k].name,
               cases[k].f32 ? "F32" : "as stored, F16 matrices", d);
        assert_true(d <= (cases[k].f32 ? 1e-4 : 2e-3));
        pd_model_free(pm);
        pd_tmodel_free(m);
    }
    /* full training refuses K-quant weights with a pointer to adapters; the frozen loader takes them */
    assert_null(pd_tmodel_load(FIX "tiny-llama256-q4_k.gguf", 1, 8, NULL, NULL));
    assert_non_null(strstr(pd_last_error(), "adapter"));
    pd_tmodel *fz = pd_tmodel_load_frozen(FIX "tiny-llama256-q4_k.gguf", 1, 8);
    assert_non_null(fz);
    pd_tmodel_free(fz);
    /* phi3 (fused matrices, partial rotary) cannot be trained: a clear error */
    assert_null(pd_tmodel_load(FIX "tiny-phi3.gguf", 1, 8, NULL, NULL));
    assert_non_null(strstr(pd_last_error(), "tiny-phi3.gguf"));
}

/* Llama-3.1-style rope: frequency divisors (rope_freqs.weight), linear scaling and attn_factor, added
 * to tiny-llama: the trainer builds the inference path's rope table (the logits match, and differ
 * clearly from the plain model's), and writes the factors and keys back so the saved model matches. */
static void test_rope_extras(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    pd_gguf *g = pd_gguf_open(FIX "tiny-llama.gguf");
    assert_non_null(g);
    pd_gguf_writer *w = pd_gguf_writer_new();
    assert_int_equal(pd_gguf_copy_kvs(w, g, NULL), PD_OK);
    assert_int_equal(pd_gguf_set_str(w, "llama.rope.scaling.type", "linear"), PD_OK);
    assert_int_equal(pd_gguf_set_f32(w, "llama.rope.scaling.factor", 2.0f), PD_OK);
    assert_int_equal(pd_gguf_set_f32(w, "llama.rope.scaling.attn_factor", 1.1f), PD_OK);
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        assert_int_equal(pd_gguf_add_tensor_ref(w, t->name, t->type, t->n_dims, t->ne, t->data), PD_OK);
    }
    const float f[8] = {1, 1.5f, 2, 3, 4, 6, 8, 12};
    int64_t ne[1] = {8};
    assert_int_equal(pd_gguf_add_tensor(w, "rope_freqs.weight", PD_TYPE_F32, 1, ne, f), PD_OK);
    assert_int_equal(pd_gguf_write(w, tmp("rope.gguf")), PD_OK);
    pd_gguf_writer_free(w);
    pd_gguf_close(g);

    int32_t tok[64];
    int n = read_ids(FIX "tiny-llama.tokens.txt", tok, 64);
    pd_tmodel *m = pd_tmodel_load(tmp("rope.gguf"), 1, n, NULL, NULL);
    assert_non_null(m);
    pd_model *pm = pd_model_load(tmp("rope.gguf")), *plain = pd_model_load(FIX "tiny-llama.gguf");
    assert_non_null(pm);
    assert_non_null(plain);
    double d = trainer_vs_inference(m, pm, tok, n), dp = trainer_vs_inference(m, plain, tok, n);
    printf("rope factors + linear scaling + attn_factor: trainer vs inference %.2e (vs the plain model %.2e)\n", d, dp);
    assert_true(d <= 1e-4);
    assert_true(dp > 100 * d + 1e-4);
    pd_tckpt_info info = {.step = 0, .config_json = NULL, .with_optimizer = false};
    assert_int_equal(pd_tmodel_save(m, tmp("rope2.gguf"), &info), PD_OK);
    pd_model *back = pd_model_load(tmp("rope2.gguf"));
    assert_non_null(back);
    assert_true(trainer_vs_inference(m, back, tok, n) <= 1e-4);
    pd_model_free(back);
    pd_model_free(plain);
    pd_model_free(pm);
    pd_tmodel_free(m);
}

/* A frozen base keeps its Q8_0 block matrices in their stored type (no f32 copy, no gradient) and
 * computes exactly what the engine computes on their dequantised f32 copies: the same logits and the
 * same gradients for everything that is not frozen, bit for bit; a thawed matrix gets its gradient. */
static void test_frozen_base(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *base = FIX "tiny-llama-q8_0.gguf";
    int32_t tok[64], tgt[64];
    int n = read_ids(FIX "tiny-llama-q8_0.tokens.txt", tok, 64);
    for (int i = 0; i < n; i++) tgt[i] = i + 1 < n ? tok[i + 1] : -1;
    pd_tmodel *full = pd_tmodel_load(base, 1, n, NULL, NULL), *fz = pd_tmodel_load_frozen(base, 1, n);
    assert_non_null(full);
    assert_non_null(fz);
    assert_null(pd_tmodel_adam_m(fz)); /* no optimizer state for a frozen base */
    pd_tbatch b = {1, n, tok, tgt, NULL};
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) assert_int_equal(pd_tmodel_thaw(fz, "blk.1.attn_v.weight"), PD_OK);
        pd_tmodel *ms[2] = {full, fz};
        double loss[2];
        for (int k = 0; k < 2; k++) {
            pd_tmodel_zero_grad(ms[k]);
            int64_t nt;
            loss[k] = pd_tmodel_forward(ms[k], &b, &nt);
            pd_tmodel_backward(ms[k], &b, 1.0f / (float)nt);
        }
        assert_true(loss[0] == loss[1]);
        size_t V = (size_t)pd_tmodel_cfg(full)->n_vocab;
        assert_memory_equal(pd_tmodel_logits(full), pd_tmodel_logits(fz), sizeof(float) * (size_t)n * V);
        int nt_;
        pd_ttensor *tt = pd_tcfg_tensors(pd_tmodel_cfg(full), &nt_);
        int frozen = 0;
        for (int i = 0; i < nt_; i++) {
            const float *g0 = pd_tmodel_grads(full) + tt[i].offset, *g1 = pd_tmodel_grads(fz) + tt[i].offset;
            bool is_q8 = strstr(tt[i].name, "ffn_down") == NULL && tt[i].kind != PD_TP_TOK_EMBD && tt[i].n_dims == 2;
            bool thawed = pass == 1 && !strcmp(tt[i].name, "blk.1.attn_v.weight");
            if (is_q8 && !thawed) { /* frozen: no gradient at all */
                frozen++;
                for (size_t j = 0; j < tt[i].n; j++) assert_true(g1[j] == 0.0f);
            } else {
                assert_memory_equal(g0, g1, sizeof(float) * tt[i].n);
            }
        }
        assert_int_equal(frozen, pass == 0 ? 12 : 11); /* q, k, v, o, gate, up in 2 layers */
        free(tt);
    }
    pd_tmodel_free(fz);
    pd_tmodel_free(full);
}

/* its own buffer, not one of tmp()'s four rotating ones: a later tmp() call must not rename the data
 * under a run (it once turned the Q4_K run's data into merged.gguf, a binary file read as text) */
static const char *write_sft(void) {
    static char p[192];
    snprintf(p, sizeof p, "%s/sft.jsonl", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 20; i++) {
        if (i % 3 == 0)
            fprintf(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"What is %d+%d?\"},{\"role\":\"assistant\","
                       "\"content\":\"%d\",\"reasoning_content\":\"%d plus %d is %d.\"}]}\n", i, i, 2 * i, i, i, 2 * i);
        else if (i % 3 == 1)
            fprintf(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"Double %d.\"},{\"role\":\"assistant\","
                       "\"content\":\"<think>\\nTwice %d.\\n</think>\\n\\n%d\"}]}\n", i, i, 2 * i);
        else
            fprintf(f, "{\"prompt\":[{\"role\":\"user\",\"content\":\"%d times two?\"}],\"completion\":[{\"role\":"
                       "\"assistant\",\"content\":\"%d\"}]}\n", i, 2 * i);
    }
    fclose(f);
    return p;
}

static void run_defaults(pd_run_opts *r, const char *data, const char *out, double *curve) {
    r->data_path = data;
    r->out = out;
    r->B = 2;
    r->T = 48;
    r->steps = 10;
    r->opt.lr = 3e-3f;
    r->opt.warmup = 0;
    r->eval_n = 0;
    r->eval_batches = 1;
    r->plot_path = NULL;
    r->loss_curve = curve;
    r->threads = 1;
}

/* Full SFT of tiny-qwen3 on chat JSONL: the loss falls; the written model keeps the vocabulary and
 * template (its prompt ids are the trainer's) and the inference path gives the trainer's logits. */
static void test_sft_full_qwen3(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *data = write_sft();
    pd_train_opts o;
    pd_train_opts_default(&o);
    double curve[10] = {0};
    run_defaults(&o.run, data, tmp("q3.gguf"), curve);
    o.init = FIX "tiny-qwen3.gguf";
    pd_train_result res;
    if (pd_train_run(&o, &res) != PD_OK) fail_msg("%s", pd_last_error());
    printf("tiny-qwen3 full SFT: loss %.4f -> %.4f\n", curve[0], (curve[8] + curve[9]) / 2);
    assert_true((curve[8] + curve[9]) / 2 < curve[0] - 0.05);
    pd_tmodel *m = pd_tmodel_load(tmp("q3.gguf"), 1, 48, NULL, NULL);
    assert_non_null(m);
    pd_model *pm = pd_model_load(tmp("q3.gguf"));
    assert_non_null(pm);
    pd_tchat a = pd_tchat_of_model(pm);
    assert_int_equal(a.family, PD_CHAT_QWEN3);
    assert_int_equal(pd_tok_n_vocab(pm->tok), 151936);
    int32_t *ids;
    int n;
    assert_int_equal(pd_tex_prompt(&a, "What is 3+3?", &ids, &n), PD_OK);
    pd_model *orig = pd_model_load(FIX "tiny-qwen3.gguf");
    pd_tchat b = pd_tchat_of_model(orig);
    int32_t *ids2;
    int n2;
    assert_int_equal(pd_tex_prompt(&b, "What is 3+3?", &ids2, &n2), PD_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(ids, ids2, sizeof(int32_t) * (size_t)n);
    double d = trainer_vs_inference(m, pm, ids, n);
    printf("trained tiny-qwen3: trainer vs inference logits %.2e\n", d);
    assert_true(d <= 1e-4);
    free(ids); free(ids2);
    pd_model_free(orig);
    pd_model_free(pm);
    pd_tmodel_free(m);
}

/* LoRA on the Q8_0 tiny-llama (no chat template: raw prompts, EOS appended): the loss falls; the
 * adapter loads on the base for inference and matches the trainer's forward of base + adapter
 * (merged into an F32 file the trainer loads) as closely as the base alone does (the inference path
 * rounds activations to Q8_0 blocks for Q8_0 matmuls, the trainer stays in F32). */
static void test_lora_q8(void **st) {
    (void)st;
    PD_NEED_FIXTURES();
    const char *data = write_sft();
    const char *base = FIX "tiny-llama-q8_0.gguf";
    pd_finetune_opts o;
    pd_finetune_opts_default(&o);
    double curve[10] = {0};
    run_defaults(&o.run, data, tmp("lora.gguf"), curve);
    o.run.opt.lr = 1e-2f;
    o.base = base;
    o.rank = 4;
    o.targets = (1u << PD_AT_COUNT) - 1;
    pd_finetune_result res;
    if (pd_finetune_run(&o, &res) != PD_OK) fail_msg("%s", pd_last_error());
    printf("tiny-llama-q8_0 LoRA: loss %.4f -> %.4f, held-out %.4f -> %.4f\n", curve[0], (curve[8] + curve[9]) / 2,
           res.initial_heldout_loss, res.heldout_loss);
    assert_true((curve[8] + curve[9]) / 2 < curve[0] - 0.05);
    assert_true(res.heldout_loss < res.initial_heldout_loss);

    pd_model *pm = pd_model_load(base);
    assert_non_null(pm);
    pd_tchat c = pd_tchat_of_model(pm);
    int32_t *ids;
    int n;
    assert_int_equal(pd_tex_prompt(&c, "What is 3+3?", &ids, &n), PD_OK);
    pd_tmodel *mb = pd_tmodel_load(base, 1, n, NULL, NULL);
    assert_non_null(mb);
    double d0 = trainer_vs_inference(mb, pm, ids, n); /* base alone */
    pd_adapter *a = NULL;
    assert_int_equal(pd_model_attach_adapter(pm, tmp("lora.gguf"), 1.0f, &a), PD_OK);
    pd_adapter *ad = pd_adapter_load(tmp("lora.gguf"));
    assert_non_null(ad);
    assert_int_equal(pd_adapter_merge_file(base, ad, tmp("merged.gguf"), false), PD_OK);
    pd_tmodel *mm = pd_tmodel_load(tmp("merged.gguf"), 1, n, NULL, NULL);
    assert_non_null(mm);
    double d1 = trainer_vs_inference(mm, pm, ids, n);
    /* the adapter changed the logits by far more than that difference */
    pd_tbatch tb = {1, n, ids, NULL, NULL};
    pd_tmodel_forward(mb, &tb, NULL);
    float *l0 = pd_malloc(sizeof(float) * (size_t)n * pm->cfg.n_vocab);
    memcpy(l0, pd_tmodel_logits(mb), sizeof(float) * (size_t)n * pm->cfg.n_vocab);
    pd_tmodel_forward(mm, &tb, NULL);
    double moved = rel_diff(pd_tmodel_logits(mm), l0, n, pm->cfg.n_vocab);
    printf("LoRA on Q8_0: trainer vs inference %.2e (base alone %.2e); the adapter moved the logits by %.2e\n", d1, d0,
           moved);
    assert_true(d1 <= 2 * d0 + 1e-5);
    assert_true(moved > 20 * d1);
    free(l0); free(ids);
    pd_tmodel_free(mm);
    pd_tmodel_free(mb);
    pd_adapter_free(ad);
    pd_model_free(pm);
    pd_adapter_free(a);

    /* a K-quant base (Q4_K/Q6_K, frozen in its stored type) fine-tunes the same way */
    double c4[10] = {0};
    run_defaults(&o.run, data, tmp("lora4.gguf"), c4);
    o.run.opt.lr = 1e-2f;
    o.base = FIX "tiny-llama256-q4_k.gguf";
    if (pd_finetune_run(&o, &res) != PD_OK) fail_msg("%s", pd_last_error());
    printf("tiny-llama256-q4_k LoRA: loss %.4f -> %.4f, held-out %.4f -> %.4f\n", c4[0], (c4[8] + c4[9]) / 2,
           res.initial_heldout_loss, res.heldout_loss);
    assert_true((c4[8] + c4[9]) / 2 < c4[0] - 0.05);
    assert_true(res.heldout_loss < res.initial_heldout_loss - 0.05);
}

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/ponder_test_anymodel_%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sft_parse),
        cmocka_unit_test(test_prompt_ids_qwen3),
        cmocka_unit_test(test_logits_match),
        cmocka_unit_test(test_rope_extras),
        cmocka_unit_test(test_frozen_base),
        cmocka_unit_test(test_sft_full_qwen3),
        cmocka_unit_test(test_lora_q8),
    };
    return pd_run_tests(tests, setup, teardown);
}
