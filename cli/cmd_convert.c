/* cli/cmd_convert.c — `ponder convert IN.bin OUT.gguf`: a llama2.c legacy checkpoint to a llama GGUF
 * (F32, llama.cpp tensor names), written atomically. */
#include "cli.h"
#include "outputs.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/llama2c.h"
#include <stdio.h>
#include <string.h>

static const char *VERB = "convert";

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder convert IN.bin OUT.gguf\n"
            "  IN.bin     llama2.c checkpoint in the legacy (version 0) format\n"
            "  OUT.gguf   GGUF file to write (llama architecture, F32 weights, no tokenizer)\n");
}

int pd_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
        else if (a[0] == '-' && a[1] != '\0') { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
        else if (!in) in = a;
        else if (!out) out = a;
        else { cli_error(VERB, "too many arguments (expected IN.bin OUT.gguf)"); return 2; }
    }
    if (!in || !out) { cli_error(VERB, "expected IN.bin OUT.gguf (see --help)"); return 2; }
    const cli_path op = {"OUT", out}, ip = {"IN", in};
    int pr = cli_check_paths(VERB, &op, 1, &ip, 1);
    if (pr) return pr;
    pd_gguf_writer *w = pd_gguf_writer_new();
    if (!w) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    pd_status st = pd_llama2c_to_gguf(in, w);
    if (st == PD_OK) st = pd_gguf_write(w, out);
    pd_gguf_writer_free(w);
    if (st != PD_OK) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    pd_llama2c_config c;
    if (pd_llama2c_read_config(in, &c) == PD_OK)
        printf("wrote %s: llama, dim %d, %d layers, %d/%d heads, ffn %d, vocab %d, context %d, %s output\n", out, c.dim,
               c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size, c.seq_len,
               c.shared_classifier ? "tied" : "separate");
    return 0;
}
