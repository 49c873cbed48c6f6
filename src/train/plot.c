/* train/plot.c — the loss curve at the end of a run, drawn through ponder/plot.h (SVG or PNG by the
 * path's extension): training loss per step (faint), its running mean over ~1% of the run (solid),
 * held-out loss at each evaluation (dots); a log y axis when the losses span more than two decades. */
#include "ponder/train.h"
#include "ponder/alloc.h"
#include "ponder/plot.h"
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

pd_status pd_train_plot_svg(const char *path, const double *loss, int64_t x0, int64_t n, const double *eval_x,
                            const double *eval_y, int n_eval) {
    if (n <= 0) return pd_fail(PD_ERR_ARG, "%s: no steps to plot", path);
    if (n_eval < 0 || (n_eval > 0 && (!eval_x || !eval_y))) return pd_fail(PD_ERR_ARG, "%s: bad eval points", path);
    double ymin = INFINITY, ymax = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(loss[i])) { if (loss[i] < ymin) ymin = loss[i]; if (loss[i] > ymax) ymax = loss[i]; }
    for (int i = 0; i < n_eval; i++)
        if (isfinite(eval_y[i])) { if (eval_y[i] < ymin) ymin = eval_y[i]; if (eval_y[i] > ymax) ymax = eval_y[i]; }
    /* losses that span more than two decades (a model that learns its task) get a log axis */
    bool logy = isfinite(ymin) && ymin > 0 && ymax / ymin > 100;
    double *xs = pd_malloc((size_t)n * sizeof *xs), *mean = pd_malloc((size_t)n * sizeof *mean);
    if (!xs || !mean) { free(xs); free(mean); return pd_fail(PD_ERR_NOMEM, "%s: out of memory for the plot", path); }
    int64_t win = n / 100 > 1 ? n / 100 : 1, cnt = 0;
    double run = 0;
    for (int64_t i = 0; i < n; i++) {
        xs[i] = (double)(x0 + i + 1);
        if (isfinite(loss[i])) { run += loss[i]; cnt++; }
        if (i >= win && isfinite(loss[i - win])) { run -= loss[i - win]; cnt--; }
        mean[i] = cnt > 0 ? run / (double)cnt : NAN;
    }
    pd_plot_series s[3] = {
        {.name = NULL, .kind = PD_PLOT_LINE, .color = 0x9ecae1, .width = 1, .x = xs, .y = loss, .n = (size_t)n},
        {.name = "train loss (running mean)", .kind = PD_PLOT_LINE, .color = 0x08519c, .width = 2, .x = xs, .y = mean, .n = (size_t)n},
        {.name = "held-out loss", .kind = PD_PLOT_POINTS, .color = 0xe6550d, .width = 4, .x = eval_x, .y = eval_y,
         .n = (size_t)n_eval},
    };
    double xa = (double)x0 + 1, xb = (double)(x0 + n);
    if (xb <= xa) xb = xa + 1;
    pd_plot_panel pn = {.xlabel = "step", .ylabel = "loss", .logy = logy, .xmin = xa, .xmax = xb,
                        .series = s, .n_series = n_eval > 0 ? 3 : 2};
    pd_plot p = {.title = logy ? "ponder train: loss per step (log scale)" : "ponder train: loss per step",
                 .panels = &pn, .n_panels = 1};
    pd_status st = pd_plot_write(&p, path);
    free(xs);
    free(mean);
    return st;
}
