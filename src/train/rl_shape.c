/* train/rl_shape.c — the quantities of the RL methods that change what is reinforced or how rewards
 * are shaped (ponder/rl_shape.h; training.md §4, §7a, §7b): NSR / PSR / W-REINFORCE advantages,
 * PreRL's learner row, the DSRL phase, SLPO's length bonus, the dual redundancy penalty (ERD, IRD) and
 * the reflection-marker count. Pure functions with no model in sight; rl.c calls them from its reward,
 * advantage and learner code. */
#include "ponder/rl_shape.h"
#include "ponder/rl.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void pd_rl_shape_cfg_default(pd_rl_shape_cfg *c) {
    memset(c, 0, sizeof *c);
    c->switch_step = 15;   /* §4.2: best in [10, 25]; the small-scale test's 15 */
    c->psr_weight = 0.1;
    c->slpo_alpha = 0.5;
    c->redundancy_mode = PD_RL_RED_DUAL;
}

static const struct {
    int algo;
    const char *name;
} shape_algos[] = {{PD_RL_NSR, "nsr"},           {PD_RL_PSR, "psr"},       {PD_RL_WREINFORCE, "w-reinforce"},
                   {PD_RL_PRERL, "prerl"},       {PD_RL_NSR_PRERL, "nsr-prerl"}, {PD_RL_DSRL, "dsrl"}};
enum { N_SHAPE_ALGOS = sizeof shape_algos / sizeof shape_algos[0] };

const char *pd_rl_shape_algo_name(int algo) {
    for (int i = 0; i < N_SHAPE_ALGOS; i++) if (shape_algos[i].algo == algo) return shape_algos[i].name;
    return NULL;
}

int pd_rl_shape_algo_from_name(const char *s) {
    for (int i = 0; i < N_SHAPE_ALGOS; i++) if (!strcmp(s, shape_algos[i].name)) return shape_algos[i].algo;
    if (!strcmp(s, "wreinforce") || !strcmp(s, "w_reinforce")) return PD_RL_WREINFORCE;
    return -1;
}

bool pd_rl_shape_uses_prerl(int algo) {
    return algo == PD_RL_PRERL || algo == PD_RL_NSR_PRERL || algo == PD_RL_DSRL;
}

pd_rl_sign pd_rl_shape_phase(int algo, const pd_rl_shape_cfg *c, int64_t step, bool *prerl) {
    *prerl = false;
    switch (algo) {
    case PD_RL_NSR: return PD_RL_SIGN_NSR;
    case PD_RL_PSR: return PD_RL_SIGN_PSR;
    case PD_RL_WREINFORCE: return PD_RL_SIGN_WREINFORCE;
    case PD_RL_PRERL: *prerl = true; return PD_RL_SIGN_BOTH;
    case PD_RL_NSR_PRERL: *prerl = true; return PD_RL_SIGN_NSR;
    case PD_RL_DSRL:
        if (step < c->switch_step) { *prerl = true; return PD_RL_SIGN_NSR; }
        return PD_RL_SIGN_NONE;
    default: return PD_RL_SIGN_NONE;
    }
}

void pd_rl_sign_advantages(pd_rl_sign sign, double lambda, const uint8_t *correct, int n, double *adv, uint8_t *loss) {
    for (int i = 0; i < n; i++) {
        bool c = correct[i] != 0;
        double a = 0;
        bool keep = true;
        switch (sign) {
        case PD_RL_SIGN_NSR: a = c ? 0 : -1; keep = !c; break;
        case PD_RL_SIGN_PSR: a = c ? 1 : 0; keep = c; break;
        case PD_RL_SIGN_WREINFORCE: a = c ? lambda : -1; break;
        case PD_RL_SIGN_BOTH: a = c ? 1 : -1; break;
        default: a = adv[i]; break;   /* none: the group advantage stays */
        }
        adv[i] = a;
        if (loss) loss[i] = keep;
    }
}

int pd_rl_slpo(double *reward, const uint8_t *correct, const int *len, int n_groups, int G, double alpha,
               double *bonus) {
    int got = 0;
    for (int g = 0; g < n_groups; g++) {
        int lo = 0, hi = 0, nc = 0;
        for (int i = g * G; i < (g + 1) * G; i++) {
            if (bonus) bonus[i] = 0;
            if (!correct[i]) continue;
            if (!nc || len[i] < lo) lo = len[i];
            if (!nc || len[i] > hi) hi = len[i];
            nc++;
        }
        if (nc < 2 || hi == lo) continue;   /* one correct, all equal lengths, none: no distortion */
        for (int i = g * G; i < (g + 1) * G; i++) {
            if (!correct[i]) continue;
            double b = alpha * (double)(hi - len[i]) / (double)(hi - lo);
            reward[i] += b;
            if (bonus) bonus[i] = b;
            got += b != 0;
        }
    }
    return got;
}

int pd_rl_prerl_row(int32_t bos, const int32_t *tok, int n, int n_prompt, int32_t *out, int *n_prompt_out) {
    int k = 0;
    if (bos >= 0) out[k++] = bos;
    *n_prompt_out = k;
    for (int i = n_prompt; i < n; i++) out[k++] = tok[i];
    return k;
}

/* ---- redundancy (§7b) ---- */

static bool wordch(char c) { return isalnum((unsigned char)c) != 0; }

double pd_rl_erd(const char *think, size_t len, const char *answer, size_t *fcs_len) {
    if (fcs_len) *fcs_len = len;
    while (answer && isspace((unsigned char)*answer)) answer++;
    size_t la = answer ? strlen(answer) : 0;
    while (la && isspace((unsigned char)answer[la - 1])) la--;
    if (!len || !la || la > len) return 0;
    for (size_t i = 0; i + la <= len; i++) {
        if (memcmp(think + i, answer, la)) continue;
        /* "12" inside "123" or "x12" is not the answer */
        if (wordch(answer[0]) && i > 0 && wordch(think[i - 1])) continue;
        if (wordch(answer[la - 1]) && i + la < len && wordch(think[i + la])) continue;
        size_t end = i + la;
        if (fcs_len) *fcs_len = end;
        return (double)(len - end) / (double)len;
    }
    return 0;
}

enum { EMB_DIM = 512 };

/* hashed character-trigram counts of text[a, b), lower-cased, whitespace runs as one space */
static void embed(const char *t, size_t a, size_t b, double *v) {
    memset(v, 0, sizeof(double) * EMB_DIM);
    unsigned char w[3] = {0};
    int have = 0;
    bool space = false;
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)t[i];
        if (isspace(c)) { if (space || !have) continue; c = ' '; space = true; }
        else { space = false; c = (unsigned char)tolower(c); }
        w[0] = w[1]; w[1] = w[2]; w[2] = c;
        if (++have < 3) continue;
        uint32_t h = 2166136261u;
        for (int k = 0; k < 3; k++) { h ^= w[k]; h *= 16777619u; }
        v[h % EMB_DIM] += 1;
    }
    double s = 0;
    for (int j = 0; j < EMB_DIM; j++) s += v[j] * v[j];
    if (s > 0) { s = 1 / sqrt(s); for (int j = 0; j < EMB_DIM; j++) v[j] *= s; }
}

double pd_rl_ird(const char *text, size_t len) {
    /* sentences: runs ended by . ! ? followed by whitespace or the end, or by a newline; empty ones dropped */
    size_t cap = len / 2 + 2, n = 0;
    size_t *sa = malloc(sizeof(size_t) * cap), *sb = malloc(sizeof(size_t) * cap);
    double *u = malloc(sizeof(double) * EMB_DIM), *v = malloc(sizeof(double) * EMB_DIM);
    double ird = 0;
    if (!sa || !sb || !u || !v) goto done;
    size_t s0 = 0;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len || text[i] == '\n' ||
                   ((text[i] == '.' || text[i] == '!' || text[i] == '?') && (i + 1 == len || isspace((unsigned char)text[i + 1])));
        if (!end) continue;
        size_t e = i < len ? i + 1 : i;
        bool blank = true;
        for (size_t k = s0; k < e && blank; k++) blank = isspace((unsigned char)text[k]) || text[k] == '\n';
        if (!blank && n < cap) { sa[n] = s0; sb[n] = e; n++; }
        s0 = e;
    }
    if (n < 2) goto done;
    size_t w = n / 10 > 1 ? n / 10 : 1, stride = n / 20 > 1 ? n / 20 : 1;
    double sum = 0;
    int pairs = 0;
    for (size_t a = 0; a + w <= n; a += stride) {
        size_t b = a + stride;
        if (b + w > n) break;
        embed(text, sa[a], sb[a + w - 1], u);
        embed(text, sa[b], sb[b + w - 1], v);
        double c = 0;
        for (int j = 0; j < EMB_DIM; j++) c += u[j] * v[j];
        sum += c < 0 ? 0 : c > 1 ? 1 : c;
        pairs++;
    }
    ird = pairs ? sum / pairs : 0;
done:
    free(sa); free(sb); free(u); free(v);
    return ird;
}

static double logistic_g(double x) { return 1 / (1 + exp(-20 * (1 - x - 0.3))); }

double pd_rl_ird_score(double ird) {
    double g0 = logistic_g(0), g1 = logistic_g(1);
    return (logistic_g(ird) - g1) / (g0 - g1);
}

double pd_rl_redundancy(int mode, const char *text, const char *answer, double *erd, double *ird) {
    if (erd) *erd = NAN;
    if (ird) *ird = NAN;
    const char *close = strstr(text, "</think>");
    if (!close || strstr(close + 8, "</think>")) return 0;   /* format: exactly one </think> */
    const char *t = text;
    while (isspace((unsigned char)*t)) t++;
    if (!strncmp(t, "<think>", 7)) t += 7;
    if (t > close) t = close;
    size_t len = (size_t)(close - t), fcs;
    double e = pd_rl_erd(t, len, answer, &fcs), i = pd_rl_ird(t, fcs);
    if (erd) *erd = e;
    if (ird) *ird = i;
    double fi = pd_rl_ird_score(i);
    if (mode == PD_RL_RED_EXTERNAL) return 1 - e;
    if (mode == PD_RL_RED_INTERNAL) return fi;
    return 0.5 * (fi + (1 - e));
}

/* hesitation / verification keywords (the SBT-style list of §7c; proposed) */
static const char *const markers[] = {   /* no entry inside another (a phrase would count twice) */
    "wait", "hmm", "check", "verify", "recheck", "alternatively", "redo", "on second thought",
    "hold on", "actually", "however", "to be sure", "make sure", "reconsider", "mistake", "again", "confirm",
    "same result", "instead", "oops", "rethink", "recalculate", "recompute"};

int pd_rl_reflect_markers(const char *text) {
    int n = 0;
    for (const char *p = text; *p; p++) {
        if (p > text && wordch(p[-1])) continue;   /* at a word start */
        for (size_t k = 0; k < sizeof markers / sizeof markers[0]; k++) {
            size_t l = strlen(markers[k]);
            if (strncasecmp(p, markers[k], l)) continue;
            if (wordch(p[l])) continue;   /* whole words */
            n++;
            break;
        }
    }
    return n;
}

double pd_rl_shape_reward(const pd_rl_shape_cfg *c, const char *text, const char *answer, bool correct,
                          double w_correct, double reward, pd_rl_shape_seq *q) {
    q->erd = q->ird = NAN;
    q->slpo_bonus = 0;
    q->markers = pd_rl_reflect_markers(text);
    if (c->redundancy > 0 && correct) {
        double s = pd_rl_redundancy(c->redundancy_mode, text, answer, &q->erd, &q->ird);
        reward -= w_correct * c->redundancy * (1 - s);
    }
    return reward;
}

static void num(FILE *f, const char *k, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.6g", k, v);
    else fprintf(f, ",\"%s\":null", k);
}

void pd_rl_shape_log(FILE *f, const pd_rl_shape_stats *s) {
    fprintf(f, ",\"shape_phase\":%d,\"prerl\":%s", s->phase, s->prerl ? "true" : "false");
    num(f, "neg_frac", s->neg_frac); num(f, "pos_frac", s->pos_frac); num(f, "slpo_bonus", s->slpo_bonus);
    num(f, "redundancy_erd", s->erd); num(f, "redundancy_ird", s->ird); num(f, "reflect_markers", s->markers);
}
