/* tasks/sudoku.c — 4x4 and 9x9 sudoku with a unique solution. Difficulty = number of blanks:
 * 1-12 gives a 4x4 grid, 13-55 a 9x9 grid. A full grid is filled by randomised backtracking,
 * then cells are blanked in random order, keeping a blank only while a bitmask solver still
 * counts exactly one solution (it stops at 2). Trace: one line per placement by a fixed-order
 * solver, "r{row}c{col}={d} (naked single|hidden single|guess)", plus "backtrack" lines.
 * Answer: the N*N digits row by row. Verifier: full grid valid and consistent with the clues. */
#include "tasks_int.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SD_MAX 81

typedef struct { int n, b; } shape; /* side, box side */

static int box_of(shape s, int cell) { int r = cell / s.n, c = cell % s.n; return (r / s.b) * s.b + c / s.b; }

/* bitmask of digits (bit d-1) allowed at cell: scan its row, column and box */
static int cand(shape s, const int *g, int cell) {
    int used = 0, r = cell / s.n, c = cell % s.n, br = r / s.b * s.b, bc = c / s.b * s.b;
    for (int k = 0; k < s.n; k++) {
        int v = g[r * s.n + k] | 0, w = g[k * s.n + c], x = g[(br + k / s.b) * s.n + bc + k % s.b];
        if (v) used |= 1 << (v - 1);
        if (w) used |= 1 << (w - 1);
        if (x) used |= 1 << (x - 1);
    }
    return ((1 << s.n) - 1) & ~used;
}

static int popc(int x) { return __builtin_popcount((unsigned)x); }

/* count solutions up to `limit`, with row/column/box masks */
typedef struct { shape s; int g[SD_MAX], row[9], col[9], box[9]; } mgrid;

static int count_rec(mgrid *m, int limit) {
    int N = m->s.n * m->s.n, full = (1 << m->s.n) - 1, best = -1, bm = 0, bc = 99;
    for (int i = 0; i < N; i++) {
        if (m->g[i]) continue;
        int r = i / m->s.n, c = i % m->s.n, bx = box_of(m->s, i);
        int cm = full & ~(m->row[r] | m->col[c] | m->box[bx]), k = popc(cm);
        if (k == 0) return 0;
        if (k < bc) { bc = k; best = i; bm = cm; if (k == 1) break; }
    }
    if (best < 0) return 1;
    int r = best / m->s.n, c = best % m->s.n, bx = box_of(m->s, best), total = 0;
    for (int d = 1; d <= m->s.n && total < limit; d++) {
        int bit = 1 << (d - 1);
        if (!(bm & bit)) continue;
        m->g[best] = d; m->row[r] |= bit; m->col[c] |= bit; m->box[bx] |= bit;
        total += count_rec(m, limit - total);
        m->g[best] = 0; m->row[r] &= ~bit; m->col[c] &= ~bit; m->box[bx] &= ~bit;
    }
    return total;
}

static int count_sol(shape s, int *g, int limit) {
    mgrid m;
    memset(&m, 0, sizeof m);
    m.s = s;
    for (int i = 0; i < s.n * s.n; i++) {
        m.g[i] = g[i];
        if (!g[i]) continue;
        int bit = 1 << (g[i] - 1), r = i / s.n, c = i % s.n, bx = box_of(s, i);
        if ((m.row[r] | m.col[c] | m.box[bx]) & bit) return 0; /* clue conflict */
        m.row[r] |= bit; m.col[c] |= bit; m.box[bx] |= bit;
    }
    return count_rec(&m, limit);
}

static int fill(shape s, pd_rng *r, int *g, int cell) {
    if (cell == s.n * s.n) return 1;
    int m = cand(s, g, cell), ds[9], k = 0;
    for (int d = 1; d <= s.n; d++)
        if (m & (1 << (d - 1))) ds[k++] = d;
    tk_shuffle(r, ds, k);
    for (int i = 0; i < k; i++) {
        g[cell] = ds[i];
        if (fill(s, r, g, cell + 1)) return 1;
    }
    g[cell] = 0;
    return 0;
}

/* Fixed-order logical solver with guessing; appends the trace. Returns 1 when solved. */
static int solve_trace(shape s, int *g, pd_buf *tr, int *lines) {
    int N = s.n * s.n;
    for (;;) {
        if (*lines > 2000) return 0;
        int placed = 0, empty = 0;
        for (int i = 0; i < N; i++) {
            if (g[i]) continue;
            empty++;
            int m = cand(s, g, i);
            if (m == 0) return 0;
            if (popc(m) == 1) {
                g[i] = __builtin_ctz((unsigned)m) + 1;
                pd_buf_printf(tr, "r%dc%d=%d (naked single)\n", i / s.n + 1, i % s.n + 1, g[i]);
                (*lines)++;
                placed = 1;
                break;
            }
        }
        if (!empty) return 1;
        if (placed) continue;
        /* hidden single: units in order rows, columns, boxes */
        for (int u = 0; u < 3 * s.n && !placed; u++) {
            int cells[9], k = 0;
            for (int i = 0; i < N; i++) {
                int in = u < s.n ? i / s.n == u : u < 2 * s.n ? i % s.n == u - s.n : box_of(s, i) == u - 2 * s.n;
                if (in) cells[k++] = i;
            }
            for (int d = 1; d <= s.n && !placed; d++) {
                int where = -1, cnt = 0, present = 0;
                for (int j = 0; j < k; j++) {
                    if (g[cells[j]] == d) present = 1;
                    else if (!g[cells[j]] && (cand(s, g, cells[j]) & (1 << (d - 1)))) { cnt++; where = cells[j]; }
                }
                if (!present && cnt == 1) {
                    g[where] = d;
                    pd_buf_printf(tr, "r%dc%d=%d (hidden single)\n", where / s.n + 1, where % s.n + 1, d);
                    (*lines)++;
                    placed = 1;
                }
            }
        }
        if (placed) continue;
        /* guess at the first cell with fewest candidates */
        int best = -1, bc = 99;
        for (int i = 0; i < N; i++)
            if (!g[i] && popc(cand(s, g, i)) < bc) { bc = popc(cand(s, g, i)); best = i; }
        int m = cand(s, g, best);
        int save[SD_MAX];
        memcpy(save, g, sizeof(int) * (size_t)N);
        for (int d = 1; d <= s.n; d++) {
            if (!(m & (1 << (d - 1)))) continue;
            g[best] = d;
            pd_buf_printf(tr, "r%dc%d=%d (guess)\n", best / s.n + 1, best % s.n + 1, d);
            (*lines)++;
            if (solve_trace(s, g, tr, lines)) return 1;
            memcpy(g, save, sizeof(int) * (size_t)N);
            pd_buf_printf(tr, "backtrack r%dc%d\n", best / s.n + 1, best % s.n + 1);
            (*lines)++;
        }
        return 0;
    }
}

static pd_status sd_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) {
    shape s = d <= 12 ? (shape){4, 2} : (shape){9, 3};
    int N = s.n * s.n;
    for (int attempt = 0; attempt < 1000; attempt++) {
        int sol[SD_MAX] = {0}, g[SD_MAX];
        fill(s, r, sol, 0);
        memcpy(g, sol, sizeof g);
        int order[SD_MAX];
        for (int i = 0; i < N; i++) order[i] = i;
        tk_shuffle(r, order, N);
        int blanks = 0;
        for (int i = 0; i < N && blanks < d; i++) {
            int c = order[i], keep = g[c];
            g[c] = 0;
            int tmp[SD_MAX];
            memcpy(tmp, g, sizeof tmp);
            if (count_sol(s, tmp, 2) == 1) blanks++;
            else g[c] = keep;
        }
        if (blanks < d) continue;
        pd_buf pr = {0}, tr = {0}, an = {0}, meta = {0};
        char puz[SD_MAX + 1];
        for (int i = 0; i < N; i++) puz[i] = g[i] ? (char)('0' + g[i]) : '.';
        puz[N] = 0;
        pd_buf_printf(key, "%s", puz);
        pd_buf_printf(&pr, "Solve this %dx%d sudoku (. = blank):", s.n, s.n);
        for (int row = 0; row < s.n; row++) pd_buf_printf(&pr, "\n%.*s", s.n, puz + row * s.n);
        int work[SD_MAX], lines = 0;
        memcpy(work, g, sizeof work);
        if (!solve_trace(s, work, &tr, &lines) || memcmp(work, sol, sizeof(int) * (size_t)N)) {
            pd_buf_free(&pr); pd_buf_free(&tr);
            continue;
        }
        for (int row = 0; row < s.n; row++) {
            if (row) pd_buf_printf(&an, " ");
            for (int c = 0; c < s.n; c++) pd_buf_printf(&an, "%d", sol[row * s.n + c]);
        }
        pd_buf_printf(&tr, "so %s", an.data);
        pd_buf_printf(&meta, "{\"size\":%d,\"puzzle\":\"%s\"}", s.n, puz);
        out->prompt = tk_take(&pr);
        out->reasoning = tk_take(&tr);
        out->answer = tk_take(&an);
        out->meta = tk_take(&meta);
        return PD_OK;
    }
    return pd_fail(PD_ERR_RANGE, "sudoku: could not reach %d blanks with a unique solution", d);
}

/* The last block of consecutive lines made only of digits and separators (" |/,"), joined by
 * spaces; a trailing "so"/"answer:" label on the first line is allowed. */
static int grid_line(const char *b, const char *e) {
    int digits = 0;
    for (const char *p = b; p < e; p++) {
        if (isdigit((unsigned char)*p)) digits++;
        else if (!strchr(" \t\r|/,", *p)) return 0;
    }
    return digits > 0;
}

static char *sd_extract(const char *region) {
    const char *end = region + strlen(region), *blk_b = NULL, *blk_e = NULL;
    pd_buf out = {0};
    const char *p = end;
    while (p > region) {
        const char *le = p;
        const char *lb = le;
        while (lb > region && lb[-1] != '\n') lb--;
        const char *q = lb;
        while (q < le && isspace((unsigned char)*q)) q++;
        int empty = q == le;
        if (!empty) {
            const char *c = memchr(lb, ':', (size_t)(le - lb));
            const char *body = c ? c + 1 : lb;
            if (grid_line(body, le)) { blk_b = body; if (!blk_e) blk_e = le; if (c) break; }
            else if (blk_e) break;
        }
        p = lb > region ? lb - 1 : region;
        if (lb == region) break;
    }
    if (!blk_b) return NULL;
    for (const char *c = blk_b; c < blk_e; c++) {
        char ch = *c == '\n' ? ' ' : *c;
        if (ch == ':' ) continue;
        pd_buf_append(&out, &ch, 1);
    }
    char *r = tk_take(&out);
    if (!r) return NULL;
    /* strip a label left on the first line of a multi-line block */
    char *res = NULL;
    const char *st = r;
    while (*st && !isdigit((unsigned char)*st)) st++;
    res = pd_strdup(st);
    free(r);
    return res;
}

static void sd_check(const pd_task_item *it, const char *ans, pd_verdict *v) {
    cJSON *m = it->meta ? cJSON_Parse(it->meta) : NULL;
    const cJSON *js = m ? cJSON_GetObjectItemCaseSensitive(m, "size") : NULL, *jp = m ? cJSON_GetObjectItemCaseSensitive(m, "puzzle") : NULL;
    if (!cJSON_IsNumber(js) || !cJSON_IsString(jp) || (js->valuedouble != 4 && js->valuedouble != 9) ||
        strlen(jp->valuestring) != (size_t)(js->valuedouble * js->valuedouble)) {
        cJSON_Delete(m);
        tk_verdict(v, 0.0, "item has no sudoku meta", ans);
        return;
    }
    shape s = js->valuedouble == 4 ? (shape){4, 2} : (shape){9, 3};
    int N = s.n * s.n, g[SD_MAX], k = 0;
    char puz[SD_MAX + 1];
    snprintf(puz, sizeof puz, "%s", jp->valuestring);
    cJSON_Delete(m);
    for (const char *p = ans; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (k >= N) { tk_verdict(v, 0.0, "too many digits", ans); return; }
            g[k++] = *p - '0';
        } else if (!strchr(" \n\t|/,", *p)) { tk_verdict(v, 0.0, "bad characters", ans); return; }
    }
    if (k != N) { tk_verdict(v, 0.0, "wrong number of digits", ans); return; }
    for (int i = 0; i < N; i++) {
        if (g[i] < 1 || g[i] > s.n) { tk_verdict(v, 0.0, "digit out of range", ans); return; }
        if (puz[i] != '.' && puz[i] - '0' != g[i]) { tk_verdict(v, 0.0, "changes a clue", ans); return; }
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (g[i] == g[j] && (i / s.n == j / s.n || i % s.n == j % s.n || box_of(s, i) == box_of(s, j))) {
                tk_verdict(v, 0.0, "violates a constraint", ans);
                return;
            }
    tk_verdict(v, 1.0, "correct", ans);
}

const pd_task pd_task_sudoku = {"sudoku", "4x4 or 9x9 sudoku with a unique solution",
                                "number of blanks (1-12: 4x4, 13-55: 9x9)", 1, 55, 6, sd_gen, sd_extract, sd_check};
