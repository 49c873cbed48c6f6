/* cli/cmd_tokenize.c — `ponder tokenize -m M [--ids] [--file F | TEXT] [--add-bos] [--special]`:
 * tokenise text with the vocabulary of any GGUF file that has one (a vocab-only file is fine: only
 * the metadata is read, never the tensors). By default no BOS is added and the text of special
 * tokens is tokenised as plain text. Output: `id<TAB>piece` per token (newline, tab and carriage
 * return inside a piece written as \n, \t, \r), or with --ids the ids on one line. */
#include "cli.h"
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/tok.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *VERB = "tokenize";

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder tokenize -m MODEL [--ids] [--file F | TEXT] [--add-bos] [--special]\n"
            "  -m, --model M   GGUF file with a vocabulary (tokenizer.ggml.*); tensors are not needed\n"
            "  --file F        tokenise the bytes of file F ('-' = standard input) instead of TEXT\n"
            "  --ids           print only the ids, separated by single spaces, on one line\n"
            "  --add-bos       add the vocabulary's BOS token first\n"
            "  --special       text of control tokens (e.g. <|im_start|>, <|endoftext|>) becomes those tokens;\n"
            "                  added user-defined tokens (Qwen's <think>, </think>, <tool_call>) always do\n"
            "Default output: one line per token, `id<TAB>piece`.\n");
}

static char *read_stdin(size_t *len) {
    pd_buf b = {0};
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, stdin)) > 0)
        if (pd_buf_append(&b, tmp, n)) { pd_buf_free(&b); return NULL; }
    if (pd_buf_append(&b, "", 1)) { pd_buf_free(&b); return NULL; }
    *len = b.len - 1;
    return b.data;
}

int pd_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *text = NULL;
    bool ids_only = false, add_bos = false, special = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { if (!(model = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--file") || !strcmp(a, "-f")) { if (!(file = cli_value(VERB, argc, argv, &i))) return 2; }
        else if (!strcmp(a, "--ids")) ids_only = true;
        else if (!strcmp(a, "--add-bos")) add_bos = true;
        else if (!strcmp(a, "--special")) special = true;
        else if (a[0] == '-' && a[1] != '\0') { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
        else if (text) { cli_error(VERB, "more than one TEXT argument (quote the text)"); return 2; }
        else text = a;
    }
    if (!model) { cli_error(VERB, "missing -m MODEL"); return 2; }
    if (file && text) { cli_error(VERB, "give either --file F or TEXT, not both"); return 2; }
    if (!file && !text) { cli_error(VERB, "no text: give TEXT or --file F"); return 2; }

    char *data = NULL;
    size_t len = 0;
    if (file) {
        data = strcmp(file, "-") ? pd_read_file(file, &len) : read_stdin(&len);
        if (!data) { cli_error(VERB, "%s", pd_last_error()); return 1; }
    }
    pd_gguf *g = pd_gguf_open(model);
    if (!g) { cli_error(VERB, "%s", pd_last_error()); free(data); return 1; }
    pd_tokenizer *t = pd_tokenizer_from_gguf(g);
    if (!t) { cli_error(VERB, "%s", pd_last_error()); pd_gguf_close(g); free(data); return 1; }
    if (add_bos && pd_tok_bos(t) < 0) {
        cli_error(VERB, "--add-bos: %s has no BOS token", model);
        pd_tokenizer_free(t); pd_gguf_close(g); free(data);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    pd_status st = pd_tokenize(t, data ? data : text, data ? len : strlen(text), add_bos, special, &ids, &n);
    int rc = 0;
    if (st != PD_OK) {
        cli_error(VERB, "%s", pd_last_error());
        rc = 1;
    } else if (ids_only) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t pl;
            const char *p = pd_tok_piece(t, ids[i], &pl);
            printf("%d\t", (int)ids[i]);
            for (size_t k = 0; k < pl; k++) {
                char c = p[k];
                if (c == '\n') fputs("\\n", stdout);
                else if (c == '\t') fputs("\\t", stdout);
                else if (c == '\r') fputs("\\r", stdout);
                else putchar(c);
            }
            putchar('\n');
        }
    }
    if (fflush(stdout) != 0 && rc == 0) { cli_error(VERB, "writing the output failed"); rc = 1; }
    free(ids);
    pd_tokenizer_free(t);
    pd_gguf_close(g);
    free(data);
    return rc;
}
