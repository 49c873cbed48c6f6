/* cli/cmd_quantize.c — `ponder quantize IN OUT TYPE [--pure]`: llama-quantize's file types and
 * per-tensor mixes (pd_gguf_quantize_ftype; the rules are listed in src/fmt/quantize.c and
 * docs/quantize.md). IN may also be a llama2.c .bin checkpoint. */
#include "cli.h"
#include "outputs.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/llama2c.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *VERB = "quantize";

#define TYPES "Q4_K_M, Q4_K_S, Q5_K_M, Q5_K_S, Q3_K_S, Q3_K_M, Q3_K_L, Q2_K, Q2_K_S, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, " \
              "Q5_1, IQ4_NL, IQ4_XS, F16, BF16, F32 (Q3_K/Q4_K/Q5_K = their _M mix; any case)"

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder quantize IN OUT TYPE [--pure]\n"
            "  IN      GGUF model (or llama2.c .bin checkpoint)\n"
            "  OUT     GGUF file to write (not IN itself; written atomically)\n"
            "  TYPE    llama-quantize's file types: " TYPES "\n"
            "  --pure  every quantisable tensor gets TYPE's base type (no per-tensor mix)\n"
            "As llama-quantize without an importance matrix: 2-D weight matrices stored as F32/F16/BF16 get\n"
            "TYPE's base type, bumped per tensor by the mix (output and a tied token_embd Q6_K; attn_v and\n"
            "ffn_down Q6_K in some layers for Q4_K_M / Q5_K_M; Q3_K for Q2_K's attn_v / ffn_down / attn_output;\n"
            "...), then a fallback where rows are not a multiple of the type's block (Q4_K→Q5_0, Q5_K→Q5_1,\n"
            "Q6_K→Q8_0, Q2_K/Q3_K→Q4_0, IQ4_XS→IQ4_NL, then F16; a 32-weight type keeps the source type).\n"
            "The quantisers give llama-quantize's bytes.\n"
            "Norms, biases and 1-D tensors keep their type; metadata is copied; general.file_type = TYPE.\n"
            "Nothing to convert is an error and writes nothing; training checkpoints (.ckpt) and adapters are\n"
            "refused. The rules in full: docs/quantize.md.\n");
}

int pd_cmd_quantize(int argc, char **argv) {
    const char *args[3] = {NULL, NULL, NULL};
    int n = 0;
    bool pure = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
        else if (!strcmp(a, "--pure")) pure = true;
        else if (a[0] == '-' && a[1] != '\0') { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
        else if (n < 3) args[n++] = a;
        else { cli_error(VERB, "too many arguments (expected IN OUT TYPE)"); return 2; }
    }
    if (n < 3) { cli_error(VERB, "expected IN OUT TYPE (see --help)"); return 2; }
    pd_type base;
    int ftype = pd_gguf_ftype_from_name(args[2], &base);
    if (ftype < 0) {
        cli_error(VERB, "unknown or unsupported TYPE '%s' (" TYPES ")", args[2]);
        return 2;
    }
    const cli_path out = {"OUT", args[1]}, in = {"IN", args[0]};
    int pr = cli_check_paths(VERB, &out, 1, &in, 1);
    if (pr) return pr;
    size_t l = strlen(args[0]);
    pd_gguf *g = l > 4 && !strcmp(args[0] + l - 4, ".bin") ? pd_llama2c_open(args[0]) : pd_gguf_open(args[0]);
    if (!g) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    pd_quantize_stats st;
    pd_status rc = pd_gguf_quantize_ftype(g, args[1], ftype, pure, &st);
    pd_gguf_close(g);
    if (rc != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    /* per-type counts, e.g. "q4_K 12, q6_K 3" */
    char mix[512] = "";
    size_t o = 0;
    for (int t = 0; t < PD_TYPE_COUNT && o < sizeof mix; t++)
        if (st.n_to[t] > 0)
            o += (size_t)snprintf(mix + o, sizeof mix - o, "%s%s %" PRId64, o ? ", " : "", pd_type_name((pd_type)t),
                                  st.n_to[t]);
    printf("wrote %s (%s%s): %" PRId64 " tensors converted (%s; %" PRId64 " by fallback), %" PRId64
           " kept; %.2f MiB -> %.2f MiB\n",
           args[1], pd_gguf_ftype_name(ftype), pure ? ", pure" : "", st.n_converted, mix, st.n_fallback, st.n_kept,
           (double)st.bytes_in / 1048576.0, (double)st.bytes_out / 1048576.0);
    return 0;
}
