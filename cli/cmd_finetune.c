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

/* pd_finetune_opts_default and what `ponder finetune` changes (help() prints these) */
static void defaults(pd_finetune_opts *o) {
    pd_finetune_opts_default(o);
    o->run.eval_n = 100;
    o->run.opt.lr = 1e-3f;
}

static void help(FILE *f) {
    pd_finetune_opts d;
    defaults(&d);
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
            "  (--flag=value works as well as --flag value)\n");
    cli_run_help(f, &d.run,
                 "JSONL task items or SFT examples (messages or prompt/completion); training\n"
                 "                        text uses the base's tokenizer and chat template (--steps 0: write the fresh adapter)",
                 "adapter file (LoRA/PiSSA load in llama.cpp); FILE.gguf.ckpt adds the\n"
                 "                        optimizer state for --resume");
}

/* An adapter flag the chosen method does not use is an error naming it (given[] in the order of
 * adapter_flags: --adapter --targets --rank --alpha --terms --rank-rule --tau --r-max --soka-shape
 * --soka-init --calib --svd). */
static int method_flags_unused(const pd_finetune_opts *o, const char *const given[12]) {
    const char *name = pd_adapter_method_name(o->method), *bad = NULL, *why = NULL;
    if (o->method != PD_ADAPTER_SOKA) {
        for (int k = 4; k <= 10 && !bad; k++) bad = given[k];
        why = "SoKA only";
    }
    if (!bad && o->method != PD_ADAPTER_LORA && given[3]) { bad = given[3]; why = "LoRA only: PiSSA and SoKA use scale 1"; }
    if (!bad && o->method == PD_ADAPTER_LORA && given[11]) { bad = given[11]; why = "LoRA starts from random factors, no SVD"; }
    if (!bad && o->method == PD_ADAPTER_SOKA && given[2]) { bad = given[2]; why = "SoKA's rank is --terms K, or adaptive up to --r-max"; }
    if (!bad && o->method == PD_ADAPTER_SOKA && given[4]) {
        for (int k = 5; k <= 7 && !bad; k++) bad = given[k];
        why = "an adaptive-rank setting, and --terms fixes the rank";
    }
    if (!bad && given[10] && !o->soka_init_update) { bad = given[10]; why = "only with --soka-init update"; }
    if (!bad) return 0;
    cli_error(V, "%s: not used by --adapter %s (%s); leave it out", bad, name, why);
    return 2;
}

int pd_cmd_finetune(int argc, char **argv) {
    pd_finetune_opts o;
    defaults(&o);
    cli_run_args ra = {.o = &o.run, .steps_min = 0};
    const char *given[12] = {NULL}; /* the adapter flags given, in adapter_flags' order */
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v;
        long long iv;
        double dv;
#define IVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_int(V, f, v, lo, hi, &iv))
#define FVAL(lo, hi) (!(v = cli_value(V, argc, argv, &i)) || !cli_float(V, f, v, lo, hi, &dv))
        int sr = cli_run_flag(V, argc, argv, &i, &ra);
        if (sr != 1) { if (sr) return sr; continue; }
        static const char *const adapter_flags[] = {"--adapter", "--targets", "--rank", "--alpha", "--terms",
                                                    "--rank-rule", "--tau", "--r-max", "--soka-shape", "--soka-init",
                                                    "--calib", "--svd"};
        for (size_t k = 0; k < sizeof adapter_flags / sizeof adapter_flags[0]; k++)
            if (!strcmp(f, adapter_flags[k])) {
                cli_run_fixed(&ra, f); /* a checkpoint fixes the adapter */
                given[k] = f;
            }
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
    if (method_flags_unused(&o, given)) return 2;
    pd_run_opts *r = &o.run;
    if (!r->resume && !o.base) { cli_error(V, "-m BASE.gguf is required"); return 2; }
    ra.extra_in[0] = (cli_path){"-m", o.base};
    int rc = cli_run_finish(V, &ra, r->steps > 0, r->steps > 0 || r->resume);
    if (rc) { cli_run_args_free(&ra); return rc; }
    r->progress = ra.quiet ? NULL : stderr;
    pd_finetune_result res;
    pd_status st = pd_finetune_run(&o, &res);
    if (st != PD_OK) {
        cli_error(V, "%s", pd_last_error());
        rc = 1;
    } else if (res.steps_done == 0) {
        printf("wrote the initial %s adapter (%lld trainable parameters) to %s\n", pd_adapter_method_name(o.method),
               (long long)res.n_params, r->out);
    } else {
        printf("fine-tuned %lld adapter parameters for %lld steps in %.1f s (%.0f tokens/s)\n", (long long)res.n_params,
               (long long)res.steps_done, res.seconds, res.tokens_per_s);
        printf("held-out loss %.4f -> %.4f, final train loss %.4f", res.initial_heldout_loss, res.heldout_loss,
               res.final_loss);
        if (res.eval.n)
            printf(", greedy accuracy %.1f%% (%d/%d)", 100 * res.eval.accuracy, res.eval.correct, res.eval.n);
        printf("\nwrote %s (+ .ckpt)", r->out);
        if (r->plot_path) printf(" and %s", r->plot_path);
        printf("\n");
    }
    cli_run_args_free(&ra);
    return rc;
}
