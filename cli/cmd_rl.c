/* cli/cmd_rl.c — `ponder rl`: reinforcement learning with verifiable rewards (GRPO, Dr. GRPO, DAPO,
 * RLOO) from a model on a task or a JSONL set (train/rl*.c does the work). The data, schedule, output
 * and evaluation flags are train's (cli/run_flags.c); --clip here is the PPO clip range (gradient
 * clipping is --grad-clip) and --batch is the learner's rows per forward/backward chunk. */
#include "cli.h"
#include "run_flags.h"
#include "ponder/error.h"
#include "ponder/extract.h"
#include "ponder/outfile.h"
#include "ponder/rl.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *V = "rl";

static void help(FILE *f) {
    pd_rl_opts d;
    pd_rl_opts_default(&d, PD_RL_GRPO);
    fprintf(f,
            "usage: ponder rl -m MODEL (--task T | --data FILE.jsonl) --out FILE.gguf [flags]\n"
            "       ponder rl --resume FILE.gguf.ckpt [--out FILE.gguf] [--steps N]\n"
            "algorithm:\n"
            "  --algo A              grpo | drgrpo | dapo | rloo (default grpo); sets the defaults below\n"
            "                        nsr | psr | w-reinforce: reinforce only wrong rollouts (A = -1) / only\n"
            "                        correct ones (A = +1) / both with correct at A = --psr-weight (token-mean)\n"
            "                        prerl | nsr-prerl: the same in the pre-train space (learner drops the prompt)\n"
            "                        dsrl: nsr-prerl for --switch-step S steps (default 15), then grpo\n"
            "  --switch-step S       dsrl's switch step\n"
            "  --psr-weight L        w-reinforce's weight on correct rollouts (default 0.1)\n"
            "  --group G             samples per prompt (default 8)\n"
            "  --prompts B           prompts per step (default 8)\n"
            "  --clip E[,E_HIGH]     PPO clip range [1-E, 1+E_HIGH] (default 0.2; dapo 0.2,0.28)\n"
            "  --kl BETA             k3 KL weight to the starting model (default 0)\n"
            "  --agg MODE            seq-mean-token-mean (grpo, rloo) | token-mean (dapo) | seq-sum-const (drgrpo)\n"
            "  --ppo-epochs N        passes over each rollout batch (default 1)\n"
            "  --minibatches K       optimizer steps per pass (default 1)\n"
            "  --sampler-old-logp    pi_old = the sampler's log-probs (default: the learner's forward before\n"
            "                        the first update, as verl; the two are compared every step: logp_maxdiff)\n"
            "  --dynamic-sampling / --no-dynamic-sampling   drop all-equal groups and draw more prompts\n"
            "                        (on for dapo); --max-draws N rounds at most (default 4)\n"
            "rollouts:\n"
            "  --max-tokens N        new tokens per response (default 256)\n"
            "  --temp X --top-p X    sampling (default 1, 1)\n"
            "  --think-budget N      close thinking after N tokens (budget policy; injected tokens carry no loss)\n"
            "  --answer-budget S     Elastic Reasoning: after the thinking (cut at --think-budget t or closed by\n"
            "                        the model) the solution gets S tokens of its own; rollout limit t + S\n"
            "                        (--max-tokens defaults to t + S)\n"
            "AnytimeReasoner / BRPO (--algo brpo; traces of at most --max-tokens thinking tokens):\n"
            "  --brpo-budgets S      cut each trace at S budgets j*max/S (default 4)\n"
            "  --brpo-summaries A    summaries sampled at each cut (default 4)\n"
            "  --brpo-summary-tokens N   tokens per summary (default 32)\n"
            "  --brpo-prior P        uniform | linear | base: the budgets' weights (default uniform)\n"
            "  --brpo-baseline B     brpo | v2only | v1only | none: the thinking baseline (default brpo)\n"
            "adapter (RL through LoRA / PiSSA / SoKA on a frozen base of any stored type):\n"
            "  --adapter M           lora | pissa | soka (default none: the full model); --out is then the\n"
            "                        adapter file (ponder run -m MODEL --adapter FILE), lr default 1e-5\n"
            "  --targets LIST        adapted matrices: q,k,v,o,gate,up,down or all (default q,v)\n"
            "  --rank R --alpha A    LoRA/PiSSA rank (default 8), LoRA alpha (default 2*rank)\n"
            "  --terms N             SoKA Kronecker terms (default: the rank rule)\n"
            "RLKV gates (inference.md §4; every weight frozen):\n"
            "  --rlkv-gates FILE.tsv learn one gate per layer and KV head with mixed attention\n"
            "                        a*full + (1-a)*local in the learner; FILE (L rows x H_kv columns, what\n"
            "                        --kv-policy rlkv:gates=FILE reads) replaces --out; lr default 0.01\n"
            "  --rlkv-sink S --rlkv-recent R   the local attention's window while training (default %d, %d)\n"
            "  --rlkv-beta B         L1 weight on mean |a| (default %g), scaled by exp(mean reward) - 1\n"
            "  --rlkv-tau T          ... and only when the batch's mean reward exceeds T (default %g)\n"
            "  --rlkv-rollouts M     mixed: sample the gated (mixed-attention) model, so rewards see the gates\n"
            "                        (default); original: sample the unmodified model (faster, through gen)\n"
            "rewards:\n"
            "  --format-reward W     + W when thinking is closed and an answer is extractable (default 0)\n"
            "  --correct-reward W    weight of the verifier's score (default 1)\n"
            "  --extract MODE        answer extractor: auto (the task's; JSONL: tag, boxed, gsm8k, answer-is,\n"
            "                        last-number) | gsm8k | boxed | tag | answer-is | last-number (default auto)\n"
            "  --partial-reward W    + W x the share of answer characters right, aligned from the right, for\n"
            "                        an extractable wrong answer (digit-level partial credit; default 0)\n"
            "  --overlong-buffer N   DAPO soft punishment over the last N tokens (default: dapo max/4, else 0)\n"
            "  --overlong-filter     truncated responses carry no loss\n"
            "  --memory-reward M     r | rplus: Memory-R (+ exploitation: closeness to the centroid of past correct\n"
            "                        reasoning on the nearest question) / Memory-R+ (+ exploration: distance from\n"
            "                        past wrong reasoning, once the failure memory holds --mem-explore-after\n"
            "                        questions); embeddings from a frozen copy of the starting model (default off)\n"
            "  --mem-k K --mem-window N --mem-explore-after N --mem-anneal X   nearest questions (1), normaliser\n"
            "                        window (100), failure questions before exploration (500), a_t rate (1)\n"
            "RLP (--algo rlp --data CORPUS.txt: a thought before each predicted token, reward = its\n"
            "information gain over an EMA teacher with no thought; defaults --temp 0.7 --max-tokens 32):\n"
            "  --rlp-ctx N           context tokens before the predicted token (default 64)\n"
            "  --rlp-tau X           EMA teacher decay (default 0.999)\n"
            "  --rlp-after TEXT      predict only the token right after TEXT (one token, e.g. '=')\n"
            "  --length-reward slpo  SLPO: + A x (Lmax - L)/(Lmax - Lmin) over each group's correct responses\n"
            "                        (none when under two are correct); --slpo-alpha A (default 0.5)\n"
            "  --redundancy-penalty W  scale a correct reward by (1-W) + W x q, q the redundancy score of\n"
            "                        'Reconsidering Overthinking' (default 0: off)\n"
            "  --redundancy-mode M   dual (0.5 (f(IRD) + 1 - ERD), default) | external (1 - ERD) | internal (f(IRD))\n"
            "data and schedule (as ponder train; the defaults of grpo):\n"
            "  --task T | --data FILE.jsonl   prompts with verifiable answers (one of them)\n"
            "  --difficulty D|LO-HI  task difficulty or a range (default %d-%d)\n"
            "  --steps N             (default %lld)\n"
            "  --lr X                (default %g)     --min-lr-frac X (default %g; 1 = constant)\n"
            "  --warmup N            (default %d)     --wd X (default %g)     --grad-clip X (default %g)\n"
            "  --seed N              (default %llu)   -t, --threads N (1..1024, default: physical cores)\n"
            "  --batch N             learner rows per forward/backward chunk (default %d)\n"
            "  --precision f32|bf16  the policy's matmuls in BF16 with F32 accumulation (as ponder train)\n"
            "output:\n"
            "  --out FILE.gguf       the trained model; the checkpoint (weights, optimizer, step, rollout rng)\n"
            "                        goes to FILE.gguf.ckpt\n"
            "  --ckpt-every N        also write the checkpoint every N steps (default 0: at the end)\n"
            "  --resume FILE.ckpt    continue a run (default none)\n"
            "  --log FILE.jsonl      one object per step and evaluation (default none)\n"
            "  --plot FILE.svg|png   reward, held-out accuracy and response length (default <out>.rl.svg; 'none')\n"
            "  --eval-every K --eval-n M   greedy held-out accuracy on M items every K steps and at the ends\n"
            "                        (default 0 and 0: none)\n"
            "  --max-new N           generation limit of that evaluation (default 256)\n"
            "  --quiet               no progress output\n",
            d.rl.gates.sink, d.rl.gates.recent, d.rl.gates.beta, d.rl.gates.tau,
            d.run.dlo, d.run.dhi, (long long)d.run.steps, d.run.opt.lr, d.run.opt.min_lr_frac, d.run.opt.warmup,
            d.run.opt.weight_decay, d.run.opt.clip, (unsigned long long)d.run.seed, d.run.B);
}

/* What the flags set, and what later checks need to know about which were given. */
typedef struct {
    pd_rl_algo algo;
    pd_rl_opts o;
    cli_run_args ra;
    bool overlong_given, lr_given, max_given;
    const char *adapter_flag;            /* an adapter setting given (needs --adapter) */
    const char *gates_path, *gates_flag; /* --rlkv-gates FILE; an --rlkv-* setting given */
    char *plot_alloc;
} rl_cli;

#define RL_NOT_MINE (-1) /* a flag parser's answer: the flag belongs to another group */

/* The flag parsers below share these: f is the flag, v its value, i the position in argv. */
#define IVAL(lo, hi) (!(v = cli_value(V, argc, argv, i)) || !cli_int(V, f, v, lo, hi, &iv))
#define FVAL(lo, hi) (!(v = cli_value(V, argc, argv, i)) || !cli_float(V, f, v, lo, hi, &dv))

/* --algo is read before the others: it picks the defaults that the other flags then change. */
static int rl_algo_arg(int argc, char **argv, pd_rl_algo *algo) {
    *algo = PD_RL_GRPO;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--algo")) {
            int a = pd_rl_algo_from_name(argv[i + 1]);
            if (a < 0) {
                cli_error(V, "--algo: expected grpo, drgrpo, dapo, rloo, nsr, psr, w-reinforce, prerl, nsr-prerl, "
                             "dsrl, brpo or rlp, got '%s'", argv[i + 1]);
                return 2;
            }
            *algo = (pd_rl_algo)a;
        }
    return 0;
}

/* The policy-gradient loss, the rollouts and the rewards. */
static int rl_core_flag(rl_cli *c, int argc, char **argv, int *i) {
    pd_rl_opts *o = &c->o;
    const char *f = argv[*i], *v;
    long long iv;
    double dv;
    if (!strcmp(f, "--clip")) {
        /* the PPO clip range, not the gradient norm (that is --grad-clip here) */
        double lo, hi;
        char tail;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if (sscanf(v, "%lf,%lf%c", &lo, &hi, &tail) == 2 && lo > 0 && lo < 1 && hi > 0 && hi <= 10) {
            o->rl.eps_low = lo; o->rl.eps_high = hi;
        } else if (sscanf(v, "%lf%c", &lo, &tail) == 1 && lo > 0 && lo < 1) {
            o->rl.eps_low = o->rl.eps_high = lo;
        } else { cli_error(V, "--clip: expected E or E_LOW,E_HIGH with 0 < E < 1, got '%s'", v); return 2; }
    }
    else if (!strcmp(f, "--grad-clip")) { if (FVAL(0, 1e6)) return 2; o->run.opt.clip = (float)dv; }
    else if (!strcmp(f, "-m") || !strcmp(f, "--model")) { if (!(o->model = cli_value(V, argc, argv, i))) return 2; }
    else if (!strcmp(f, "--algo")) (*i)++;   /* read by rl_algo_arg */
    else if (!strcmp(f, "--group")) { if (IVAL(2, 4096)) return 2; o->rl.G = (int)iv; }
    else if (!strcmp(f, "--prompts")) { if (IVAL(1, 65536)) return 2; o->rl.B = (int)iv; }
    else if (!strcmp(f, "--kl")) { if (FVAL(0, 100)) return 2; o->rl.beta = dv; }
    else if (!strcmp(f, "--agg")) {
        int a;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if ((a = pd_rl_agg_from_name(v)) < 0) {
            cli_error(V, "--agg: expected seq-mean-token-mean, token-mean or seq-sum-const, got '%s'", v);
            return 2;
        }
        o->rl.agg = (pd_rl_agg)a;
    }
    else if (!strcmp(f, "--ppo-epochs")) { if (IVAL(1, 64)) return 2; o->rl.ppo_epochs = (int)iv; }
    else if (!strcmp(f, "--minibatches")) { if (IVAL(1, 4096)) return 2; o->rl.minibatches = (int)iv; }
    else if (!strcmp(f, "--dynamic-sampling")) o->rl.dynamic_sampling = true;
    else if (!strcmp(f, "--no-dynamic-sampling")) o->rl.dynamic_sampling = false;
    else if (!strcmp(f, "--max-draws")) { if (IVAL(1, 1000)) return 2; o->rl.max_draws = (int)iv; }
    else if (!strcmp(f, "--max-tokens") || !strcmp(f, "-n")) {
        int n; /* the shared -n parser; a rollout needs a positive limit */
        if (!(v = cli_value(V, argc, argv, i)) || !cli_max_tokens(V, f, v, &n)) return 2;
        if (n <= 0) { cli_error(V, "%s: rollouts need a limit of at least 1 token, got %d", f, n); return 2; }
        o->rl.max_tokens = n;
        c->max_given = true;
    }
    else if (!strcmp(f, "--temp")) { if (FVAL(0, 100)) return 2; o->rl.temperature = (float)dv; }
    else if (!strcmp(f, "--top-p")) { if (FVAL(1e-6, 1)) return 2; o->rl.top_p = (float)dv; }  /* run's range */
    else if (!strcmp(f, "--think-budget") || !strcmp(f, "--reasoning-budget")) {
        if (IVAL(-1, CLI_MAX_TOKENS_MAX)) return 2;  /* run's range */
        o->rl.think_budget = (int)iv;
    }
    else if (!strcmp(f, "--format-reward")) { if (FVAL(-100, 100)) return 2; o->rl.w_format = dv; }
    else if (!strcmp(f, "--extract")) {
        int m;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if ((m = pd_extract_mode_parse(v)) < 0) {
            cli_error(V, "--extract: unknown extractor '%s' (auto, gsm8k, boxed, tag, answer-is, last-number)", v);
            return 2;
        }
        o->rl.extract = m;
    }
    else if (!strcmp(f, "--partial-reward")) { if (FVAL(-100, 100)) return 2; o->rl.w_partial = dv; }
    else if (!strcmp(f, "--correct-reward")) { if (FVAL(-100, 100)) return 2; o->rl.w_correct = dv; }
    else if (!strcmp(f, "--overlong-buffer")) {
        if (IVAL(0, 1 << 20)) return 2;
        o->rl.overlong_buffer = (int)iv;
        c->overlong_given = true;
    }
    else if (!strcmp(f, "--overlong-filter")) o->rl.overlong_filter = true;
    else if (!strcmp(f, "--sampler-old-logp")) o->rl.sampler_old_logp = true;
    else return RL_NOT_MINE;
    return 0;
}

/* The settings of single methods: memory reward, RLP, elastic budgets, BRPO, length shaping. */
static int rl_method_flag(rl_cli *c, int argc, char **argv, int *i) {
    pd_rl_opts *o = &c->o;
    const char *f = argv[*i], *v;
    long long iv;
    double dv;
    if (!strcmp(f, "--memory-reward")) {   /* rl_memory.h */
        int m;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if ((m = pd_rl_mem_mode_from_name(v)) < 0) {
            cli_error(V, "--memory-reward: expected r, rplus or off, got '%s'", v);
            return 2;
        }
        o->rl.mem.mode = m;
    }
    else if (!strcmp(f, "--mem-k")) { if (IVAL(1, 1000)) return 2; o->rl.mem.k = (int)iv; }
    else if (!strcmp(f, "--mem-window")) { if (IVAL(1, 1000000)) return 2; o->rl.mem.window = (int)iv; }
    else if (!strcmp(f, "--mem-explore-after")) { if (IVAL(0, 1 << 30)) return 2; o->rl.mem.explore_after = (int)iv; }
    else if (!strcmp(f, "--mem-anneal")) { if (FVAL(1e-6, 1)) return 2; o->rl.mem.anneal = dv; }
    else if (!strcmp(f, "--rlp-ctx")) { if (IVAL(1, 1 << 20)) return 2; o->rl.rlp.ctx = (int)iv; }   /* rlp.h */
    else if (!strcmp(f, "--rlp-tau")) { if (FVAL(0, 0.999999)) return 2; o->rl.rlp.tau = dv; }
    else if (!strcmp(f, "--rlp-after")) { if (!(o->rl.rlp.after = cli_value(V, argc, argv, i))) return 2; }
    else if (!strcmp(f, "--answer-budget")) {   /* rl_elastic.h */
        if (IVAL(0, CLI_MAX_TOKENS_MAX)) return 2;
        o->rl.elastic.answer_budget = (int)iv;
    }
    else if (!strcmp(f, "--brpo-budgets")) { if (IVAL(1, PD_BRPO_MAX_S)) return 2; o->rl.brpo.S = (int)iv; }
    else if (!strcmp(f, "--brpo-summaries")) { if (IVAL(2, 256)) return 2; o->rl.brpo.A = (int)iv; }
    else if (!strcmp(f, "--brpo-summary-tokens")) { if (IVAL(1, 4096)) return 2; o->rl.brpo.summary_tokens = (int)iv; }
    else if (!strcmp(f, "--brpo-prior") || !strcmp(f, "--brpo-baseline")) {
        bool pri = !strcmp(f, "--brpo-prior");
        int m;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if ((m = pri ? pd_brpo_prior_from_name(v) : pd_brpo_baseline_from_name(v)) < 0) {
            cli_error(V, "%s: expected %s, got '%s'", f, pri ? "uniform, linear or base" : "brpo, v2only, v1only or none", v);
            return 2;
        }
        if (pri) o->rl.brpo.prior = (pd_brpo_prior)m;
        else o->rl.brpo.baseline = (pd_brpo_baseline)m;
    }
    else if (!strcmp(f, "--switch-step")) { if (IVAL(0, 1 << 30)) return 2; o->rl.shape.switch_step = (int)iv; }
    else if (!strcmp(f, "--psr-weight")) { if (FVAL(0, 100)) return 2; o->rl.shape.psr_weight = dv; }
    else if (!strcmp(f, "--slpo-alpha")) { if (FVAL(0, 100)) return 2; o->rl.shape.slpo_alpha = dv; }
    else if (!strcmp(f, "--redundancy-penalty")) { if (FVAL(0, 1)) return 2; o->rl.shape.redundancy = dv; }
    else if (!strcmp(f, "--length-reward") || !strcmp(f, "--redundancy-mode")) {
        bool len = !strcmp(f, "--length-reward");
        const char *const names[] = {"dual", "external", "internal"};
        int m = -1;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if (len) m = !strcmp(v, "slpo") ? PD_RL_LEN_SLPO : !strcmp(v, "none") ? PD_RL_LEN_NONE : -1;
        else for (int k = 0; k < 3; k++) if (!strcmp(v, names[k])) m = k;
        if (m < 0) {
            cli_error(V, "%s: expected %s, got '%s'", f, len ? "slpo or none" : "dual, external or internal", v);
            return 2;
        }
        *(len ? &o->rl.shape.length_reward : &o->rl.shape.redundancy_mode) = m;
    }
    else return RL_NOT_MINE;
    return 0;
}

/* An adapter to train instead of the whole model, and RLKV's gates (rl_gates.h). */
static int rl_adapter_gates_flag(rl_cli *c, int argc, char **argv, int *i) {
    pd_rl_opts *o = &c->o;
    const char *f = argv[*i], *v;
    long long iv;
    double dv;
    if (!strcmp(f, "--adapter")) {
        int m;
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if ((m = pd_adapter_method_from_name(v)) < 0) {
            cli_error(V, "--adapter: unknown method '%s' (lora, pissa, soka)", v);
            return 2;
        }
        o->adapter = true;
        o->adapter_spec.method = (pd_adapter_method)m;
        cli_run_fixed(&c->ra, f);
        return 0;
    }
    if (!strcmp(f, "--targets") || !strcmp(f, "--rank") || !strcmp(f, "--alpha") || !strcmp(f, "--terms")) {
        if (!strcmp(f, "--targets")) {
            if (!(v = cli_value(V, argc, argv, i))) return 2;
            if (pd_adapter_parse_targets(v, &o->adapter_spec.targets) != PD_OK) {
                cli_error(V, "--targets: %s", pd_last_error());
                return 2;
            }
        }
        else if (!strcmp(f, "--rank")) { if (IVAL(1, 65536)) return 2; o->adapter_spec.rank = (int)iv; }
        else if (!strcmp(f, "--alpha")) { if (FVAL(1e-6, 1e6)) return 2; o->adapter_spec.alpha = (float)dv; }
        else { if (IVAL(1, 65536)) return 2; o->adapter_spec.soka.terms = (int)iv; }
        c->adapter_flag = f;
        cli_run_fixed(&c->ra, f);
        return 0;
    }
    if (!strcmp(f, "--rlkv-gates")) {
        if (!(c->gates_path = cli_value(V, argc, argv, i))) return 2;
        o->rl.gates.on = true;
        return 0;
    }
    if (!strcmp(f, "--rlkv-sink")) { if (IVAL(0, 1 << 20)) return 2; o->rl.gates.sink = (int)iv; }
    else if (!strcmp(f, "--rlkv-recent")) { if (IVAL(0, 1 << 20)) return 2; o->rl.gates.recent = (int)iv; }
    else if (!strcmp(f, "--rlkv-beta")) { if (FVAL(0, 100)) return 2; o->rl.gates.beta = dv; }
    else if (!strcmp(f, "--rlkv-tau")) { if (FVAL(-100, 100)) return 2; o->rl.gates.tau = dv; }
    else if (!strcmp(f, "--rlkv-rollouts")) {
        if (!(v = cli_value(V, argc, argv, i))) return 2;
        if (strcmp(v, "mixed") && strcmp(v, "original")) {
            cli_error(V, "--rlkv-rollouts: expected mixed or original, got '%s'", v);
            return 2;
        }
        o->rl.gates.mixed_rollouts = !strcmp(v, "mixed");
    }
    else return RL_NOT_MINE;
    c->gates_flag = f;
    return 0;
}

#undef IVAL
#undef FVAL

/* --rlkv-gates FILE.tsv: the gates file is the run's output, and gates start from a model. */
static int rl_gates_check(rl_cli *c) {
    pd_rl_opts *o = &c->o;
    if (c->gates_flag && !c->gates_path) { cli_error(V, "%s: needs --rlkv-gates FILE.tsv", c->gates_flag); return 2; }
    if (!c->gates_path) return 0;
    if (o->run.out) { cli_error(V, "--rlkv-gates: FILE.tsv is the output; leave out --out"); return 2; }
    if (o->run.resume || o->adapter) {
        cli_error(V, "--rlkv-gates: gates start from a model (-m): no %s", o->run.resume ? "--resume" : "--adapter");
        return 2;
    }
    if (c->algo == PD_RL_RLP || c->algo == PD_RL_BRPO) {
        cli_error(V, "--rlkv-gates: needs a group algorithm (not --algo %s)", pd_rl_algo_name(c->algo));
        return 2;
    }
    if (o->rl.gates.sink + o->rl.gates.recent < 1) {
        cli_error(V, "--rlkv-sink/--rlkv-recent: the local window must show at least one key (sink + recent >= 1)");
        return 2;
    }
    if (pd_out_check(c->gates_path, "--rlkv-gates") != PD_OK) {   /* before any work, named as given */
        cli_error(V, "%s", pd_last_error());
        return 1;
    }
    o->run.out = c->gates_path;
    if (!c->lr_given) o->run.opt.lr = 0.01f;   /* inference.md §4: AdamW lr 0.01 on the gates */
    return 0;
}

/* The checks that need all flags, and the defaults that depend on several of them. */
static int rl_finish(rl_cli *c) {
    pd_rl_opts *o = &c->o;
    int rc;
    if (!o->model && !o->run.resume) { cli_error(V, "-m MODEL is required (or --resume)"); return 2; }
    if (c->adapter_flag && !o->adapter && !o->run.resume) {
        cli_error(V, "%s: an adapter setting needs --adapter lora|pissa|soka", c->adapter_flag);
        return 2;
    }
    if (o->adapter && !c->lr_given) o->run.opt.lr = 1e-5f;   /* training.md §3.4: 1e-5 for adapters */
    if ((rc = rl_gates_check(c))) return rc;
    if (c->algo == PD_RL_RLP && !o->run.resume && (!o->run.data_path || strstr(o->run.data_path, ".jsonl"))) {
        cli_error(V, "--algo rlp: needs --data CORPUS.txt (a plain-text corpus)");
        return 2;
    }
    if (c->algo != PD_RL_RLP && o->run.data_path && !strstr(o->run.data_path, ".jsonl")) {
        cli_error(V, "--data: RL needs a JSONL set of {\"id\", \"prompt\", \"answer\"} items, got '%s'", o->run.data_path);
        return 2;
    }
    if ((rc = cli_run_finish(V, &c->ra, true, false))) return rc;
    if (o->rl.minibatches > o->rl.B * o->rl.G) {
        cli_error(V, "--minibatches %d exceeds the %d sequences of a step", o->rl.minibatches, o->rl.B * o->rl.G);
        return 2;
    }
    if (!c->ra.plot_none && !o->run.plot_path) {
        size_t l = strlen(o->run.out) + 16;
        if (!(c->plot_alloc = malloc(l))) return 1;
        snprintf(c->plot_alloc, l, "%s.rl.svg", o->run.out);
        o->run.plot_path = c->plot_alloc;
    }
    /* Elastic: the rollout limit holds the thinking and the answer budgets unless given (rl_elastic.h) */
    if (o->rl.elastic.answer_budget >= 0 && o->rl.think_budget >= 1 && !c->max_given)
        o->rl.max_tokens = o->rl.think_budget + o->rl.elastic.answer_budget;
    if (!o->run.resume && (pd_rl_elastic_check(o->rl.think_budget, o->rl.elastic.answer_budget, o->rl.max_tokens) != PD_OK ||
                           (c->algo == PD_RL_BRPO && pd_rl_brpo_check(&o->rl.brpo, o->rl.max_tokens) != PD_OK))) {
        cli_error(V, "%s", pd_last_error());
        return 2;
    }
    if (c->algo == PD_RL_DAPO && !c->overlong_given) o->rl.overlong_buffer = o->rl.max_tokens / 4;
    o->run.progress = c->ra.quiet ? NULL : stderr;
    return 0;
}

/* The summary, printed once the files it names exist. */
static void rl_report(const pd_rl_opts *o, const pd_rl_result *res) {
    printf("rl (%s): at step %lld after %.1f s; last step reward %.3f, sample accuracy %.1f%%, mean length %.1f\n",
           pd_rl_algo_name(res->algo), (long long)res->steps_done, res->seconds, res->last.reward_mean,
           100 * res->last.accuracy, res->last.len_mean);
    if (!isnan(res->final_acc)) {
        printf("held-out greedy accuracy");
        if (!isnan(res->first_acc)) printf(" %.1f%% ->", 100 * res->first_acc);
        printf(" %.1f%%\n", 100 * res->final_acc);
    }
    if (o->rl.gates.on)
        printf("wrote %s (RLKV gates: mean %.3f, %.0f%% below 0.5)", o->run.out, res->last.gates_mean,
               100 * res->last.gates_low);
    else printf("wrote %s (checkpoint %s.ckpt)", o->run.out, o->run.out);
    if (o->run.plot_path) printf(" and %s", o->run.plot_path);
    printf("\n");
}

int pd_cmd_rl(int argc, char **argv) {
    rl_cli c = {0};
    int rc = rl_algo_arg(argc, argv, &c.algo);
    if (rc) return rc;
    pd_rl_opts_default(&c.o, c.algo);
    c.ra = (cli_run_args){.o = &c.o.run, .steps_min = 1};
    for (int i = 1; i < argc && !rc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--help") || !strcmp(f, "-h")) { help(stdout); return 0; }
        if (!strcmp(f, "--lr")) c.lr_given = true;   /* then parsed as train's */
        if ((rc = rl_core_flag(&c, argc, argv, &i)) != RL_NOT_MINE) continue;
        if ((rc = rl_method_flag(&c, argc, argv, &i)) != RL_NOT_MINE) continue;
        if ((rc = rl_adapter_gates_flag(&c, argc, argv, &i)) != RL_NOT_MINE) continue;
        rc = cli_run_flag(V, argc, argv, &i, &c.ra);
        if (rc == 1) { cli_error(V, "unknown flag '%s' (ponder rl --help)", f); rc = 2; }
    }
    if (!rc) rc = rl_finish(&c);
    if (!rc) {
        pd_rl_result res;
        pd_status st = pd_rl_run(&c.o, &res);
        if (st == PD_OK) rl_report(&c.o, &res);
        else {
            cli_error(V, "%s", pd_last_error());
            rc = st == PD_ERR_ARG ? 2 : 1;
        }
    }
    cli_run_args_free(&c.ra);
    free(c.plot_alloc);
    return rc;
}
