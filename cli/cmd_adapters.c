/* cli/cmd_adapters.c — `ponder adapters count` (trainable-parameter counts of LoRA / PiSSA / SoKA for
 * published model shapes, from dimensions alone) and `ponder adapters info FILE` (method, ranks and
 * parameter count of an adapter file). */
#include "cli.h"
#include "ponder/adapter.h"
#include "ponder/error.h"
#include <stdio.h>
#include <string.h>

static const char *V = "adapters";

static void usage(FILE *f) {
    fprintf(f,
            "usage: ponder adapters count --shape NAME|all --adapter lora|pissa|soka [--rank N] [--terms K]\n"
            "                             [--targets q,v,...|all]\n"
            "       ponder adapters info ADAPTER.gguf\n"
            "       ponder adapters shapes\n\n"
            "count: trainable parameters from the model's dimensions alone.\n"
            "  --shape     llama2-7b, qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-7b, qwen3-0.6b, or all\n"
            "  --adapter   lora | pissa: r·(d_in + d_out) per matrix; soka: K·(m1·n1 + m2·n2) with\n"
            "              near-square factors (m1·m2 = d_out, n1·n2 = d_in)\n"
            "  --rank N    LoRA/PiSSA rank (default 8)\n"
            "  --terms K   SoKA Kronecker terms per matrix (default 2; SoKA's adaptive rank needs the weights:\n"
            "              use `ponder adapters info` on an initialised adapter for the real count)\n"
            "  --targets   matrices to adapt (default q,v)\n");
}

static void fmt_count(int64_t n, char *buf, size_t cap) {
    if (n >= 1000000) snprintf(buf, cap, "%.2fM", (double)n / 1e6);
    else if (n >= 1000) snprintf(buf, cap, "%.1fK", (double)n / 1e3);
    else snprintf(buf, cap, "%lld", (long long)n);
}

static int64_t count_shape(const pd_model_shape *s, pd_adapter_method m, int r, unsigned targets, bool verbose) {
    int64_t total = 0;
    if (verbose) {
        printf("shape %s: %d layers, hidden %d, heads %d (kv %d), head_dim %d, ffn %d\n", s->name, s->n_layer,
               s->n_embd, s->n_head, s->n_head_kv, s->head_dim, s->n_ff);
        printf("%-6s %7s %7s %-22s %12s %8s %14s\n", "matrix", "d_in", "d_out", "factors", "per matrix", "layers",
               "total");
    }
    for (int t = 0; t < PD_AT_COUNT; t++) {
        if (!(targets & (1u << t))) continue;
        int64_t din, dout;
        pd_model_shape_dims(s, t, &din, &dout);
        int64_t per = pd_adapter_count_matrix(m, din, dout, r);
        total += per * s->n_layer;
        if (!verbose) continue;
        char fac[64];
        if (m == PD_ADAPTER_SOKA) {
            int64_t m1, m2, n1, n2;
            pd_kron_factor_dim(dout, &m1, &m2);
            pd_kron_factor_dim(din, &n1, &n2);
            snprintf(fac, sizeof fac, "%lldx%lld (x) %lldx%lld", (long long)m1, (long long)n1, (long long)m2,
                     (long long)n2);
        } else {
            snprintf(fac, sizeof fac, "A %dx%lld, B %lldx%d", r, (long long)din, (long long)dout, r);
        }
        printf("%-6s %7lld %7lld %-22s %12lld %8d %14lld\n", pd_adapter_target_name(t), (long long)din,
               (long long)dout, fac, (long long)per, s->n_layer, (long long)(per * s->n_layer));
    }
    return total;
}

static int cmd_count(int argc, char **argv) {
    const char *shape = NULL, *method_s = NULL, *targets_s = "q,v";
    long long rank = 8, terms = 2;
    bool rank_set = false, terms_set = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--shape")) { if (!(shape = cli_value(V, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--adapter")) { if (!(method_s = cli_value(V, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--targets")) { if (!(targets_s = cli_value(V, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--rank")) {
            const char *v = cli_value(V, argc, argv, &i);
            if (!v || !cli_int(V, "--rank", v, 1, 65536, &rank)) return 2;
            rank_set = true;
        } else if (!strcmp(a, "--terms")) {
            const char *v = cli_value(V, argc, argv, &i);
            if (!v || !cli_int(V, "--terms", v, 1, 65536, &terms)) return 2;
            terms_set = true;
        } else {
            cli_error(V, "count: unknown flag '%s' (see ponder adapters --help)", a);
            return 2;
        }
    }
    if (!shape) { cli_error(V, "count: --shape is required (%s)", "llama2-7b, qwen2.5-0.5b, ..., or all"); return 2; }
    if (!method_s) { cli_error(V, "count: --adapter lora|pissa|soka is required"); return 2; }
    int m = pd_adapter_method_from_name(method_s);
    if (m < 0) { cli_error(V, "count: --adapter: unknown method '%s' (lora, pissa, soka)", method_s); return 2; }
    if (m == PD_ADAPTER_SOKA && rank_set) { cli_error(V, "count: SoKA takes --terms, not --rank"); return 2; }
    if (m != PD_ADAPTER_SOKA && terms_set) { cli_error(V, "count: --terms is for SoKA; LoRA/PiSSA take --rank"); return 2; }
    unsigned targets;
    if (pd_adapter_parse_targets(targets_s, &targets) != PD_OK) { cli_error(V, "count: %s", pd_last_error()); return 2; }
    int r = (int)(m == PD_ADAPTER_SOKA ? terms : rank);
    char tg[64];
    pd_adapter_targets_str(targets, tg, sizeof tg);
    if (!strcmp(shape, "all")) {
        printf("%-14s %-6s %-12s %-26s %14s\n", "shape", "method", m == PD_ADAPTER_SOKA ? "terms" : "rank", "targets",
               "trainable");
        for (int i = 0; pd_model_shape_at(i); i++) {
            int64_t tot = count_shape(pd_model_shape_at(i), (pd_adapter_method)m, r, targets, false);
            char c[32];
            fmt_count(tot, c, sizeof c);
            printf("%-14s %-6s %-12d %-26s %14lld (%s)\n", pd_model_shape_at(i)->name, method_s, r, tg,
                   (long long)tot, c);
        }
        return 0;
    }
    const pd_model_shape *s = pd_model_shape_find(shape);
    if (!s) {
        cli_error(V, "count: unknown shape '%s' (see ponder adapters shapes)", shape);
        return 2;
    }
    printf("adapter %s, %s %d, targets %s\n", pd_adapter_method_name((pd_adapter_method)m),
           m == PD_ADAPTER_SOKA ? "terms" : "rank", r, tg);
    int64_t tot = count_shape(s, (pd_adapter_method)m, r, targets, true);
    char c[32];
    fmt_count(tot, c, sizeof c);
    printf("total trainable parameters: %lld (%s)\n", (long long)tot, c);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) { usage(stdout); return 0; }
        cli_error(V, "info: expected one adapter file");
        return 2;
    }
    pd_adapter *a = pd_adapter_load(argv[1]);
    if (!a) { cli_error(V, "%s", pd_last_error()); return 1; }
    printf("file:       %s\n", argv[1]);
    pd_adapter_print_summary(a, stdout, "");
    pd_adapter_free(a);
    return 0;
}

int pd_cmd_adapters(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "count")) return cmd_count(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "shapes")) {
        printf("%-14s %7s %7s %6s %4s %9s %6s\n", "shape", "layers", "hidden", "heads", "kv", "head_dim", "ffn");
        for (int i = 0; pd_model_shape_at(i); i++) {
            const pd_model_shape *s = pd_model_shape_at(i);
            printf("%-14s %7d %7d %6d %4d %9d %6d\n", s->name, s->n_layer, s->n_embd, s->n_head, s->n_head_kv,
                   s->head_dim, s->n_ff);
        }
        return 0;
    }
    cli_error(V, "unknown subcommand '%s' (count, info, shapes)", argv[1]);
    return 2;
}
