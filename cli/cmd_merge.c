/* cli/cmd_merge.c — `ponder merge BASE ADAPTER OUT`: write base + adapter as one model file. */
#include "cli.h"
#include "outputs.h"
#include "ponder/adapter.h"
#include "ponder/error.h"
#include <stdio.h>
#include <string.h>

static const char *V = "merge";

int pd_cmd_merge(int argc, char **argv) {
    const char *pos[3];
    int np = 0;
    bool keep = false;
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: ponder merge BASE.gguf ADAPTER.gguf OUT.gguf [--keep-type] [--scale S]\n"
                   "  writes BASE with each adapted matrix replaced by W + s*delta (LoRA, PiSSA, SoKA)\n"
                   "  --keep-type   requantise merged matrices to the base's type (default: f32)\n"
                   "  --scale S     adapter scale s (default 1)\n");
            return 0;
        }
        if (!strcmp(argv[i], "--keep-type")) keep = true;
        else if (!strcmp(argv[i], "--scale")) {
            const char *v = cli_value(V, argc, argv, &i);
            if (!v || !cli_float(V, "--scale", v, -1e3, 1e3, &scale)) return 2;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error(V, "unknown flag '%s' (ponder merge --help)", argv[i]);
            return 2;
        } else if (np < 3) pos[np++] = argv[i];
        else { cli_error(V, "too many arguments ('%s'): expected BASE ADAPTER OUT", argv[i]); return 2; }
    }
    if (np != 3) { cli_error(V, "expected BASE.gguf ADAPTER.gguf OUT.gguf"); return 2; }
    const cli_path out = {"OUT", pos[2]}, ins[2] = {{"BASE", pos[0]}, {"ADAPTER", pos[1]}};
    int pr = cli_check_paths(V, &out, 1, ins, 2);
    if (pr) return pr;
    pd_adapter *a = pd_adapter_load(pos[1]);
    if (!a) { cli_error(V, "%s", pd_last_error()); return 1; }
    a->user_scale = (float)scale;
    pd_status st = pd_adapter_merge_file(pos[0], a, pos[2], keep);
    int rc = 0;
    if (st != PD_OK) { cli_error(V, "%s", pd_last_error()); rc = 1; }
    else printf("merged %s adapter (%d matrices) into %s -> %s\n", pd_adapter_method_name(a->method),
                pd_adapter_n_slots(a), pos[0], pos[2]);
    pd_adapter_free(a);
    return rc;
}
