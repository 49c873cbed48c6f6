/* cli/cmd_inspect.c — `ponder inspect FILE`: a GGUF file's header, every metadata KV, the tensor table
 * (name, type, shape, bytes, offset) and totals; adapters (general.type = adapter) also get a summary
 * of their adapter.* keys. A llama2.c .bin checkpoint is shown as the GGUF it converts to. */
#include "cli.h"
#include "ponder/adapter.h"
#include "ponder/error.h"
#include "ponder/gguf.h"
#include "ponder/llama2c.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *VERB = "inspect";

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder inspect FILE [--no-tensors]\n"
            "  FILE           a GGUF file (model, checkpoint or adapter) or a llama2.c .bin checkpoint\n"
            "  --no-tensors   print only the header and metadata\n");
}

static const char *vtype_name(pd_gguf_vtype t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < sizeof n / sizeof n[0] ? n[t] : "?";
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static void print_adapter(const pd_gguf *g) {
    const char *s;
    size_t len;
    if (!pd_gguf_get_str(g, "general.type", &s, &len) || len != 7 || memcmp(s, "adapter", 7)) return;
    printf("\nadapter:\n");
    for (int64_t i = 0; i < pd_gguf_n_kv(g); i++) {
        const char *k = pd_gguf_key(g, i);
        if (strncmp(k, "adapter.", 8)) continue;
        char val[256];
        pd_gguf_kv_to_text(g, i, val, sizeof val);
        printf("  %-40s %s\n", k + 8, val);
    }
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const char *n = pd_gguf_tensor_at(g, i)->name;
        a += ends_with(n, ".lora_a");
        b += ends_with(n, ".lora_b");
    }
    if (a || b) printf("  %-40s %" PRId64 " lora_a, %" PRId64 " lora_b tensors\n", "(tensors)", a, b);
    pd_adapter *ad = pd_adapter_load(pd_gguf_path(g)); /* method, ranks, trainable parameters */
    if (ad) pd_adapter_print_summary(ad, stdout, "  ");
    else printf("  (not readable as a ponder adapter: %s)\n", pd_last_error());
    pd_adapter_free(ad);
}

int pd_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool tensors = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { help(stdout); return 0; }
        else if (!strcmp(a, "--no-tensors")) tensors = false;
        else if (a[0] == '-' && a[1] != '\0') { cli_error(VERB, "unknown flag '%s' (see --help)", a); return 2; }
        else if (path) { cli_error(VERB, "more than one FILE"); return 2; }
        else path = a;
    }
    if (!path) { cli_error(VERB, "missing FILE (see --help)"); return 2; }
    bool is_bin = ends_with(path, ".bin");
    pd_gguf *g = is_bin ? pd_llama2c_open(path) : pd_gguf_open(path);
    if (!g) { cli_error(VERB, "%s", pd_last_error()); return 1; }

    printf("file: %s%s\n", path, is_bin ? " (llama2.c checkpoint, shown as the GGUF it converts to)" : "");
    printf("GGUF version %" PRIu32 ", alignment %zu, %" PRId64 " metadata keys, %" PRId64 " tensors, %zu bytes%s\n",
           pd_gguf_version(g), pd_gguf_alignment(g), pd_gguf_n_kv(g), pd_gguf_n_tensors(g), pd_gguf_file_size(g),
           is_bin ? " as GGUF" : "");
    printf("\nmetadata:\n");
    size_t kw = 0;
    for (int64_t i = 0; i < pd_gguf_n_kv(g); i++) {
        size_t l = strlen(pd_gguf_key(g, i));
        if (l > kw) kw = l;
    }
    if (kw > 48) kw = 48;
    for (int64_t i = 0; i < pd_gguf_n_kv(g); i++) {
        char val[512];
        pd_gguf_kv_to_text(g, i, val, sizeof val);
        printf("  %-*s %-4s %s\n", (int)kw, pd_gguf_key(g, i), vtype_name(pd_gguf_kv_type(g, i)), val);
    }
    int64_t params = 0;
    uint64_t bytes = 0;
    size_t nw = 4;
    for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
        const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
        size_t l = strlen(t->name);
        if (l > nw) nw = l;
        params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        bytes += t->nbytes;
    }
    if (tensors && pd_gguf_n_tensors(g) > 0) {
        printf("\ntensors (offsets relative to the data section at byte %zu):\n  %-*s %-5s %-24s %12s %12s\n",
               pd_gguf_data_offset(g), (int)nw, "name", "type", "shape", "bytes", "offset");
        for (int64_t i = 0; i < pd_gguf_n_tensors(g); i++) {
            const pd_gguf_tensor *t = pd_gguf_tensor_at(g, i);
            char shape[96];
            int o = snprintf(shape, sizeof shape, "[");
            for (int d = 0; d < t->n_dims; d++)
                o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
            snprintf(shape + o, sizeof shape - (size_t)o, "]");
            printf("  %-*s %-5s %-24s %12zu %12" PRIu64 "\n", (int)nw, t->name, pd_type_name(t->type), shape, t->nbytes,
                   t->offset);
        }
    }
    printf("\ntotal: %" PRId64 " parameters, %" PRIu64 " bytes of tensor data (%.2f MiB)\n", params, bytes,
           (double)bytes / (1024.0 * 1024.0));
    print_adapter(g);
    pd_gguf_close(g);
    return 0;
}
