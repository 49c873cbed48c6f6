/* cli/main.c — `ponder <verb> ...`: the verb table. Each verb is implemented in cli/cmd_<verb>.c. */
#include "cli.h"
#include <stdio.h>
#include <string.h>

typedef int (*cmd_fn)(int argc, char **argv);
/* Weak so the table can list a verb before its file lands; a missing verb says so. */
#define VERB(name) extern int pd_cmd_##name(int argc, char **argv) __attribute__((weak));
VERB(inspect) VERB(tokenize) VERB(logits) VERB(quantize) VERB(run) VERB(chat) VERB(bench) VERB(tasks)
VERB(eval) VERB(train) VERB(finetune) VERB(merge) VERB(adapters) VERB(serve) VERB(convert)
#undef VERB

static const struct { const char *name; cmd_fn fn; const char *help; } verbs[] = {
#define V(name, help) {#name, pd_cmd_##name, help}
    V(inspect, "show a GGUF file's metadata and tensor table (models, checkpoints, adapters)"),
    V(tokenize, "tokenise text with a model's vocabulary"),
    V(logits, "compute raw logits for given token ids"),
    V(quantize, "convert a model's weights to another type (q8_0, q4_0, ...)"),
    V(convert, "convert a llama2.c .bin checkpoint to GGUF"),
    V(run, "generate a reply, with thinking budgets and sampling controls"),
    V(chat, "interactive multi-turn chat"),
    V(bench, "measure prefill/decode speed (and train, gemm)"),
    V(tasks, "list, generate and score verifiable reasoning tasks"),
    V(eval, "evaluate a model on a task set"),
    V(train, "pretrain or SFT a model from scratch"),
    V(finetune, "fine-tune with an adapter (lora, pissa, soka)"),
    V(merge, "merge an adapter into its base model"),
    V(adapters, "adapter parameter counts for real model shapes"),
    V(serve, "OpenAI-compatible HTTP server"),
#undef V
};

static void usage(FILE *f) {
    fprintf(f, "usage: ponder <verb> [flags]   (ponder <verb> --help for a verb's flags)\n\nverbs:\n");
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (verbs[i].fn) fprintf(f, "  %-10s %s\n", verbs[i].name, verbs[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
        if (strcmp(argv[1], verbs[i].name)) continue;
        if (!verbs[i].fn) {
            fprintf(stderr, "ponder: '%s' is not available in this build\n", argv[1]);
            return 2;
        }
        return verbs[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "ponder: unknown verb '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
