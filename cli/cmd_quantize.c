/* cli/cmd_quantize.c — `ponder quantize IN OUT TYPE`: convert a model's F32/F16/BF16 weight matrices to
 * TYPE (pd_gguf_quantize); norms, biases, 1-D tensors and matrices whose rows do not fit the block size
 * keep their type. IN may also be a llama2.c .bin checkpoint. */
#include "cli.h"
#include "outputs.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/llama2c.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *VERB = "quantize";

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder quantize IN OUT TYPE\n"
            "  IN     GGUF model (or llama2.c .bin checkpoint)\n"
            "  OUT    GGUF file to write (not IN itself; written atomically)\n"
            "  TYPE   q8_0, q4_0, q4_K, q6_K, f16, bf16 or f32\n"
            "Every 2-D weight matrix stored as F32/F16/BF16 (token_embd and output included) becomes TYPE;\n"
            "norms, biases, 1-D tensors and matrices whose row length is not a multiple of TYPE's block\n"
            "size keep their type. Metadata is copied; general.file_type is set for TYPE.\n"
            "Nothing to convert (already TYPE, or no matrix fits the block) is an error and writes nothing;\n"
            "training checkpoints (.ckpt) and adapters are refused.\n");
}

int pd_cmd_quantize(int argc, char **argv) {
    const char *args[3] = {NULL, NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
        else if (a[0] == '-' && a[1] != '\0') { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
        else if (n < 3) args[n++] = a;
        else { cli_error(VERB, "too many arguments (expected IN OUT TYPE)"); return 2; }
    }
    if (n < 3) { cli_error(VERB, "expected IN OUT TYPE (see --help)"); return 2; }
    int t = pd_type_from_name(args[2]);
    if (t < 0 || pd_gguf_ftype_of((pd_type)t) < 0) {
        cli_error(VERB, "unknown or unsupported TYPE '%s' (q8_0, q4_0, q4_K, q6_K, f16, bf16, f32)", args[2]);
        return 2;
    }
    const cli_path out = {"OUT", args[1]}, in = {"IN", args[0]};
    int pr = cli_check_paths(VERB, &out, 1, &in, 1);
    if (pr) return pr;
    size_t l = strlen(args[0]);
    pd_gguf *g = l > 4 && !strcmp(args[0] + l - 4, ".bin") ? pd_llama2c_open(args[0]) : pd_gguf_open(args[0]);
    if (!g) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    pd_quantize_stats st;
    pd_status rc = pd_gguf_quantize(g, args[1], (pd_type)t, &st);
    pd_gguf_close(g);
    if (rc != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    printf("wrote %s: %" PRId64 " tensors converted to %s, %" PRId64 " kept; %.2f MiB -> %.2f MiB\n", args[1],
           st.n_converted, pd_type_name((pd_type)t), st.n_kept, (double)st.bytes_in / 1048576.0,
           (double)st.bytes_out / 1048576.0);
    return 0;
}
