/* eval/report.c — the chart of an eval run, drawn through ponder/plot.h (SVG or PNG by the path's
 * extension): accuracy per difficulty as a line (left panel) and mean thinking / answer tokens per
 * difficulty as grouped bars (right panel). */
#include "ponder/eval.h"
#include "ponder/alloc.h"
#include "ponder/plot.h"
#include <stdlib.h>

typedef struct { int d; double acc, think, answer; size_t n; } bucket;

pd_status pd_eval_svg(const pd_eval_record *r, size_t n, const char *title, const char *path) {
    bucket *b = pd_calloc(n ? n : 1, sizeof *b);
    double *col = pd_calloc(4 * (n ? n : 1), sizeof *col);
    if (!b || !col) { free(b); free(col); return pd_fail(PD_ERR_NOMEM, "%s: out of memory for the report", path ? path : "report"); }
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nb && b[k].d != r[i].difficulty) k++;
        if (k == nb) { b[nb].d = r[i].difficulty; nb++; }
        b[k].acc += r[i].correct;
        b[k].think += r[i].n_thinking;
        b[k].answer += r[i].n_answer;
        b[k].n++;
    }
    for (size_t i = 1; i < nb; i++)
        for (size_t j = i; j > 0 && b[j - 1].d > b[j].d; j--) { bucket t = b[j]; b[j] = b[j - 1]; b[j - 1] = t; }
    double *xs = col, *acc = col + nb, *think = col + 2 * nb, *ans = col + 3 * nb;
    for (size_t i = 0; i < nb; i++) {
        xs[i] = b[i].d;
        acc[i] = b[i].acc / (double)b[i].n;
        think[i] = b[i].think / (double)b[i].n;
        ans[i] = b[i].answer / (double)b[i].n;
    }
    pd_plot_series left = {.name = "accuracy", .kind = PD_PLOT_LINE, .color = 0x1f77b4, .width = 2, .marker = 4,
                           .x = xs, .y = acc, .n = nb};
    pd_plot_series right[2] = {
        {.name = "thinking tokens", .kind = PD_PLOT_BARS, .color = 0xff7f0e, .x = xs, .y = think, .n = nb},
        {.name = "answer tokens", .kind = PD_PLOT_BARS, .color = 0x2ca02c, .x = xs, .y = ans, .n = nb},
    };
    pd_plot_panel pn[2] = {
        {.title = "accuracy per difficulty", .xlabel = "difficulty", .ylabel = "accuracy", .x_categorical = true,
         .ymin = 0, .ymax = 1, .series = &left, .n_series = 1},
        {.title = "mean tokens per difficulty", .xlabel = "difficulty", .ylabel = "tokens", .x_categorical = true,
         .series = right, .n_series = 2},
    };
    pd_plot p = {.title = title ? title : "ponder eval", .width = 900, .height = 380, .panels = pn, .n_panels = 2};
    pd_status st = pd_plot_write(&p, path);
    free(b);
    free(col);
    return st;
}
