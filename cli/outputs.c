/* cli/outputs.c — output paths checked before the work starts (see outputs.h). */
#include "outputs.h"
#include "cli.h"
#include "ponder/error.h"
#include "ponder/outfile.h"
#include <stddef.h>

int cli_check_paths(const char *V, const cli_path *outs, int n_out, const cli_path *ins, int n_in) {
    for (int i = 0; i < n_out; i++) {
        const cli_path *o = &outs[i];
        if (!o->path) continue;
        for (int k = 0; k < n_in; k++)
            if (ins[k].path && pd_out_same_file(o->path, ins[k].path)) {
                cli_error(V, "%s '%s' is the input %s: refusing to write over it (choose another name)", o->what,
                          o->path, ins[k].what);
                return 2;
            }
        for (int k = 0; k < i; k++)
            if (outs[k].path && pd_out_same_file(o->path, outs[k].path)) {
                cli_error(V, "%s and %s name the same file '%s'", outs[k].what, o->what, o->path);
                return 2;
            }
        if (pd_out_check(o->path, o->what) != PD_OK) {
            cli_error(V, "%s", pd_last_error());
            return 1;
        }
    }
    return 0;
}
