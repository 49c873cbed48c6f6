/* cli/cmd_finetune.c — `ponder finetune`: adapt a frozen base model with LoRA, PiSSA or SoKA on a
 * task or data file (train/peft.c does the work); same data, progress, evaluation, checkpoint and
 * resume behaviour as `ponder train`. */
#include "cli.h"
#include "run_flags.h"
#include "ponder/adapter.h"
#include "ponder/error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *V = "finetune";

static void help(FILE *f) {
    fprintf(f,
            "usage: ponder finetune -m BASE.gguf --adapter lora|pissa|soka (--task T | --data FILE) --out A.gguf [flags]\n"
            "       ponder finetune --resume A.gguf.ckpt [-m BASE.gguf] [--out A.gguf] [--steps N]\n"
            "adapter:\n"
            "  --adapter M           lora | pissa | soka (default lora)\n"
            "  --targets LIST        matrices to adapt: q,k,v,o,gate,up,down or all (default q,v)\n"
            "  --rank N              LoRA/PiSSA rank (default 8)\n"
            "  --alpha X             LoRA alpha (default 2*rank; PiSSA/SoKA use scale 1)\n"
            "  --terms K             SoKA: fixed number of Kronecker terms (default: adaptive)\n"
            "  --rank-rule R         SoKA adaptive rank: energy | elbow | both (default both)\n"
            "  --tau X               SoKA energy threshold (default 0.90)\n"
            "  --r-max N             SoKA largest adaptive rank (default 8)\n"
            "  --soka-shape M1xN1    SoKA first factor shape (default: near-square from the layer dims)\n"
            "  --soka-init W         weight: KPSVD of W (default); update: KPSVD of the estimated update\n"
            "                        -sum of weight gradients over --calib N training batches (default 8)\n"
            "  --svd M               auto | lapack | jacobi (default auto)\n"
            "data and optimisation (as ponder train):\n"
            "  --task T --difficulty D|LO-HI --data FILE\n"
            "  --batch B --seq T --accum N --steps N (0: write the fresh adapter) --lr X (default 1e-3)\n"
            "  --min-lr-frac X --warmup N --wd X (default 0) --clip X --seed N --threads N\n"
            "output:\n"
            "  --out FILE.gguf       adapter file (LoRA/PiSSA load in llama.cpp); FILE.gguf.ckpt adds the\n"
            "                        optimizer state for --resume\n"
            "  --ckpt-every N --log FILE.jsonl --plot FILE.svg|png|none --eval-every N --eval-n N\n"
            "  --eval-difficulty D --max-new N --quiet\n");
}

int pd_cmd_finetune(int argc, char **argv) {
    pd_finetune_opts o;
    pd_finetune_opts_default(&o);
    o.eval_n = 100;
    o.opt.lr = 1e-3f;
    bool quiet = false, plot_none = false, steps_given = false;
    char *plot_alloc = NULL;
    const cli_run_flags rf = CLI_RUN_FLAGS(&o, 0, &steps_given, &plot_none, &quiet);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        long long iv;
        double dv;
#define IVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_int(V, f, v, lo, hi, &iv))
#define FVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_float(V, f, v, lo, hi, &dv))
        int sr = cli_run_flag(V, argc, argv, &i, &rf);
        if (sr != 1) { if (sr) return sr; continue; }
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) { help(stdout); return 0; }
        else if (!strcmp(f, "-m") || !strcmp(f, "--model")) { if (!(o.base = cli_value(V, argc, argv, &i))) return 2; }
        else if (!strcmp(f, "--adapter")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            int m = pd_adapter_method_from_name(v);
            if (m < 0) { cli_error(V, "--adapter: unknown method '%s' (lora, pissa, soka)", v); return 2; }
            o.method = (pd_adapter_method)m;
        }
        else if (!strcmp(f, "--targets")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            if (pd_adapter_parse_targets(v, &o.targets) != PD_OK) { cli_error(V, "--targets: %s", pd_last_error()); return 2; }
        }
        else if (!strcmp(f, "--rank")) { if (IVAL(1, 65536)) return 2; o.rank = (int)iv; }
        else if (!strcmp(f, "--alpha")) { if (FVAL(1e-6, 1e6)) return 2; o.alpha = (float)dv; }
        else if (!strcmp(f, "--terms")) { if (IVAL(1, 65536)) return 2; o.soka.terms = (int)iv; }
        else if (!strcmp(f, "--rank-rule")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            int r = pd_rank_rule_from_name(v);
            if (r < 0) { cli_error(V, "--rank-rule: unknown rule '%s' (energy, elbow, both)", v); return 2; }
            o.soka.rule = (pd_rank_rule)r;
        }
        else if (!strcmp(f, "--tau")) { if (FVAL(1e-6, 1)) return 2; o.soka.tau = dv; }
        else if (!strcmp(f, "--r-max")) { if (IVAL(1, 65536)) return 2; o.soka.r_max = (int)iv; }
        else if (!strcmp(f, "--soka-shape")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            long long a, b;
            char tail;
            if (sscanf(v, "%lldx%lld%c", &a, &b, &tail) != 2 || a <= 0 || b <= 0) {
                cli_error(V, "--soka-shape: expected M1xN1 (e.g. 16x32), got '%s'", v);
                return 2;
            }
            o.soka.m1 = a;
            o.soka.n1 = b;
        }
        else if (!strcmp(f, "--soka-init")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            if (!strcmp(v, "weight")) o.soka_init_update = false;
            else if (!strcmp(v, "update")) o.soka_init_update = true;
            else { cli_error(V, "--soka-init: expected weight or update, got '%s'", v); return 2; }
        }
        else if (!strcmp(f, "--calib")) { if (IVAL(1, 1 << 20)) return 2; o.calib_batches = (int)iv; }
        else if (!strcmp(f, "--svd")) {
            if (!(v = cli_value(V, argc, argv, &i))) return 2;
            if (!strcmp(v, "auto")) o.svd = PD_SVD_AUTO;
            else if (!strcmp(v, "lapack")) o.svd = PD_SVD_LAPACK;
            else if (!strcmp(v, "jacobi")) o.svd = PD_SVD_JACOBI;
            else { cli_error(V, "--svd: unknown method '%s' (auto, lapack, jacobi)", v); return 2; }
        }
        else { cli_error(V, "unknown flag '%s' (ponder finetune --help)", f); return 2; }
#undef IVAL
#undef FVAL
    }
    char *out_alloc = NULL;
    if (o.resume) {
        if (!o.out) { /* A.gguf.ckpt → A.gguf */
            size_t l = strlen(o.resume);
            out_alloc = malloc(l + 1);
            if (!out_alloc) return 1;
            memcpy(out_alloc, o.resume, l + 1);
            if (l > 5 && !strcmp(out_alloc + l - 5, ".ckpt")) out_alloc[l - 5] = 0;
            o.out = out_alloc;
        }
        if (!steps_given) o.steps = 0; /* keep the checkpoint's step count */
    } else {
        int r = 0;
        if (!o.base) { cli_error(V, "-m BASE.gguf is required"); r = 2; }
        else if (!o.out) { cli_error(V, "--out FILE.gguf is required"); r = 2; }
        else if (!o.task && !o.data_path && o.steps > 0) { cli_error(V, "give --task T or --data FILE"); r = 2; }
        else if (o.task && o.data_path) { cli_error(V, "--task and --data exclude each other"); r = 2; }
        if (r) return r;
    }
    if (!plot_none && !o.plot_path && (o.steps > 0 || o.resume)) {
        size_t l = strlen(o.out) + 16;
        plot_alloc = malloc(l);
        if (plot_alloc) { snprintf(plot_alloc, l, "%s.loss.svg", o.out); o.plot_path = plot_alloc; }
    }
    o.progress = quiet ? NULL : stderr;
    pd_finetune_result res;
    pd_status st = pd_finetune_run(&o, &res);
    int rc = 0;
    if (st != PD_OK) {
        cli_error(V, "%s", pd_last_error());
        rc = 1;
    } else if (res.steps_done == 0) {
        printf("wrote the initial %s adapter (%lld trainable parameters) to %s\n", pd_adapter_method_name(o.method),
               (long long)res.n_params, o.out);
    } else {
        printf("fine-tuned %lld adapter parameters for %lld steps in %.1f s (%.0f tokens/s)\n", (long long)res.n_params,
               (long long)res.steps_done, res.seconds, res.tokens_per_s);
        printf("held-out loss %.4f -> %.4f, final train loss %.4f", res.initial_heldout_loss, res.heldout_loss,
               res.final_loss);
        if (res.eval.n)
            printf(", greedy accuracy %.1f%% (%d/%d)", 100 * res.eval.accuracy, res.eval.correct, res.eval.n);
        printf("\nwrote %s (+ .ckpt)", o.out);
        if (o.plot_path) printf(" and %s", o.plot_path);
        printf("\n");
    }
    free(plot_alloc);
    free(out_alloc);
    return rc;
}
