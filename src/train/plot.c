/* train/plot.c — the loss curve at the end of a run, as a small standalone SVG (no dependency):
 * training loss per step (faint), its running mean over ~1% of the run (solid), held-out loss at
 * each evaluation (dots), axes with five ticks each. Written to path.tmp, then renamed. */
#include "ponder/train.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

pd_status pd_train_plot_svg(const char *path, const double *loss, int64_t x0, int64_t n, const double *eval_x,
                            const double *eval_y, int n_eval) {
    if (n <= 0) return pd_fail(PD_ERR_ARG, "%s: no steps to plot", path);
    const double W = 720, H = 420, L = 70, R = 20, T = 30, Bm = 50;
    double ymin = INFINITY, ymax = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (isfinite(loss[i])) { if (loss[i] < ymin) ymin = loss[i]; if (loss[i] > ymax) ymax = loss[i]; }
    for (int i = 0; i < n_eval; i++)
        if (isfinite(eval_y[i])) { if (eval_y[i] < ymin) ymin = eval_y[i]; if (eval_y[i] > ymax) ymax = eval_y[i]; }
    if (!isfinite(ymin)) { ymin = 0; ymax = 1; }
    /* losses that span more than two decades (a model that learns its task) get a log axis */
    bool logy = ymin > 0 && ymax / ymin > 100;
    if (logy) { ymin = log10(ymin); ymax = log10(ymax); }
    else if (ymin > 0) ymin = 0;
    if (ymax <= ymin) ymax = ymin + 1;
    double xa = (double)x0 + 1, xb = (double)(x0 + n);
    if (xb <= xa) xb = xa + 1;
#define PX(x) (L + ((x) - xa) / (xb - xa) * (W - L - R))
#define PYV(v) (T + (ymax - (v)) / (ymax - ymin) * (H - T - Bm))
#define PY(y) PYV(logy ? log10(y) : (y))
    pd_buf b = {0};
    pd_buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                  W, H);
    pd_buf_printf(&b, "<text x=\"%.0f\" y=\"18\" text-anchor=\"middle\">ponder train: loss per step%s</text>\n", W / 2,
                  logy ? " (log scale)" : "");
    for (int i = 0; i <= 4; i++) {
        double y = ymin + (ymax - ymin) * i / 4, x = xa + (xb - xa) * i / 4;
        pd_buf_printf(&b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, PYV(y), W - R, PYV(y));
        pd_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 6, PYV(y) + 4,
                      logy ? pow(10, y) : y);
        pd_buf_printf(&b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.0f</text>\n", PX(x), H - Bm + 18, x);
    }
    pd_buf_printf(&b, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">step</text>\n", (L + W - R) / 2, H - 12);
    pd_buf_printf(&b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n", L, T,
                  W - L - R, H - T - Bm);
    pd_buf_printf(&b, "<polyline fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\" points=\"");
    for (int64_t i = 0; i < n; i++)
        if (isfinite(loss[i]) && (!logy || loss[i] > 0)) pd_buf_printf(&b, "%.1f,%.1f ", PX((double)(x0 + i + 1)), PY(loss[i]));
    pd_buf_printf(&b, "\"/>\n<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"");
    int64_t win = n / 100 > 1 ? n / 100 : 1;
    double run = 0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isfinite(loss[i])) { run += loss[i]; cnt++; }
        if (i >= win && isfinite(loss[i - win])) { run -= loss[i - win]; cnt--; }
        if (cnt > 0 && (!logy || run / cnt > 0)) pd_buf_printf(&b, "%.1f,%.1f ", PX((double)(x0 + i + 1)), PY(run / cnt));
    }
    pd_buf_printf(&b, "\"/>\n");
    for (int i = 0; i < n_eval; i++)
        if (isfinite(eval_y[i]) && (!logy || eval_y[i] > 0) && eval_x[i] >= xa && eval_x[i] <= xb)
            pd_buf_printf(&b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#e6550d\"/>\n", PX(eval_x[i]), PY(eval_y[i]));
    pd_buf_printf(&b, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#08519c\">train loss (running mean)</text>\n", W - R - 250, T + 16);
    pd_buf_printf(&b, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#e6550d\">held-out loss</text>\n", W - R - 250, T + 32);
    pd_buf_printf(&b, "</svg>\n");
#undef PX
#undef PY
    if (!b.data) return pd_fail(PD_ERR_NOMEM, "%s: out of memory for the plot", path);
    pd_buf tmp = {0};
    pd_buf_printf(&tmp, "%s.tmp", path);
    FILE *f = tmp.data ? fopen(tmp.data, "wb") : NULL;
    pd_status st = PD_OK;
    if (!f || fwrite(b.data, 1, b.len, f) != b.len) st = pd_fail(PD_ERR_IO, "%s: cannot write the plot", path);
    if (f && fclose(f) != 0 && st == PD_OK) st = pd_fail(PD_ERR_IO, "%s: cannot write the plot", path);
    if (st == PD_OK && rename(tmp.data, path) != 0) st = pd_fail(PD_ERR_IO, "%s: cannot rename the plot into place", path);
    pd_buf_free(&tmp);
    pd_buf_free(&b);
    return st;
}
