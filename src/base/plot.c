/* base/plot.c — the one chart renderer (ponder/plot.h): layout and ranges shared by two back ends,
 * SVG text and an RGB raster (anti-aliased lines by distance to the segment, filled bars, a 5x7
 * bitmap font) encoded as PNG with libpng. Used by train's loss curve and eval's report. */
#include "ponder/plot.h"
#include "ponder/outfile.h"
#include "ponder/alloc.h"
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PD_PLOT_MAX_PANELS 8
#define PD_PLOT_MAX_XTICKS 24

/* ---- layout and ranges, shared by both back ends ---- */

typedef struct {
    double px, py, pw, ph;              /* panel box */
    double left, right, top, bottom;    /* plot area */
    double xmin, xmax, ymin, ymax;      /* ymin/ymax in axis units (log10 with logy) */
    double slot;                        /* bar slot width in data units */
    int n_bars;                         /* bar series in the panel */
    double xticks[PD_PLOT_MAX_XTICKS];
    int n_xticks;
    double yticks[PD_PLOT_MAX_XTICKS];  /* axis units */
    int n_yticks;
} layout;

static double nice_up(double v) {
    if (v <= 0) return 1;
    double p = pow(10, floor(log10(v)));
    if (v <= p * (1 + 1e-12)) return p;
    if (v <= 2 * p * (1 + 1e-12)) return 2 * p;
    if (v <= 5 * p * (1 + 1e-12)) return 5 * p;
    return 10 * p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool point_ok(const pd_plot_panel *pn, double x, double y) {
    return isfinite(x) && isfinite(y) && (!pn->logy || y > 0);
}

static double axis_v(const pd_plot_panel *pn, double y) { return pn->logy ? log10(y) : y; }

static pd_status panel_layout(const pd_plot *p, int k, double W, double H, layout *L) {
    const pd_plot_panel *pn = &p->panels[k];
    memset(L, 0, sizeof *L);
    double band = p->title ? 30 : 0;
    L->pw = W / p->n_panels;
    L->px = L->pw * k;
    L->py = band;
    L->ph = H - band;
    L->left = L->px + 64;
    L->right = L->px + L->pw - 16;
    L->top = L->py + 28;
    L->bottom = L->py + L->ph - 44;
    if (L->right - L->left < 8 || L->bottom - L->top < 8)
        return pd_fail(PD_ERR_ARG, "plot: %gx%g pixels is too small for %d panel(s)", W, H, p->n_panels);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    size_t nx = 0;
    for (int s = 0; s < pn->n_series; s++) {
        const pd_plot_series *se = &pn->series[s];
        if (se->n && (!se->x || !se->y))
            return pd_fail(PD_ERR_ARG, "plot: panel %d series %d ('%s') has %zu points but no data", k, s,
                           se->name ? se->name : "", se->n);
        if (se->kind == PD_PLOT_BARS) L->n_bars++;
        nx += se->n;
        for (size_t i = 0; i < se->n; i++) {
            if (!point_ok(pn, se->x[i], se->y[i])) continue;
            double v = axis_v(pn, se->y[i]);
            if (se->x[i] < xlo) xlo = se->x[i];
            if (se->x[i] > xhi) xhi = se->x[i];
            if (v < ylo) ylo = v;
            if (v > yhi) yhi = v;
        }
    }
    /* distinct x values: bar slot width (smallest gap) and categorical ticks */
    double *xs = pd_malloc((nx ? nx : 1) * sizeof *xs);
    if (!xs) return pd_fail(PD_ERR_NOMEM, "plot: out of memory");
    size_t m = 0;
    for (int s = 0; s < pn->n_series; s++)
        for (size_t i = 0; i < pn->series[s].n; i++)
            if (point_ok(pn, pn->series[s].x[i], pn->series[s].y[i])) xs[m++] = pn->series[s].x[i];
    qsort(xs, m, sizeof *xs, cmp_double);
    size_t u = 0;
    for (size_t i = 0; i < m; i++)
        if (u == 0 || xs[i] != xs[u - 1]) xs[u++] = xs[i];
    L->slot = 1;
    if (u > 1) {
        L->slot = INFINITY;
        for (size_t i = 1; i < u; i++)
            if (xs[i] - xs[i - 1] < L->slot) L->slot = xs[i] - xs[i - 1];
    }
    bool padded = L->n_bars > 0 || pn->x_categorical;
    if (pn->xmin < pn->xmax) { L->xmin = pn->xmin; L->xmax = pn->xmax; }
    else if (!isfinite(xlo)) { L->xmin = 0; L->xmax = 1; }
    else {
        L->xmin = xlo; L->xmax = xhi;
        if (padded) { L->xmin -= L->slot / 2; L->xmax += L->slot / 2; }
        else if (L->xmax <= L->xmin) { L->xmin -= 0.5; L->xmax += 0.5; }
    }
    if (pn->x_categorical && u > 0 && u <= PD_PLOT_MAX_XTICKS) {
        for (size_t i = 0; i < u; i++)
            if (xs[i] >= L->xmin && xs[i] <= L->xmax) L->xticks[L->n_xticks++] = xs[i];
    } else {
        for (int i = 0; i <= 4; i++) L->xticks[L->n_xticks++] = L->xmin + (L->xmax - L->xmin) * i / 4;
    }
    free(xs);
    if (pn->ymin < pn->ymax) {
        if (pn->logy && pn->ymin <= 0)
            return pd_fail(PD_ERR_ARG, "plot: panel %d: a log axis needs ymin > 0 (got %g)", k, pn->ymin);
        L->ymin = axis_v(pn, pn->ymin); L->ymax = axis_v(pn, pn->ymax);
    } else if (!isfinite(ylo)) { L->ymin = 0; L->ymax = 1; }
    else if (pn->logy) {
        L->ymin = ylo; L->ymax = yhi;
        if (L->ymax <= L->ymin) { L->ymin -= 0.5; L->ymax += 0.5; }
    } else {
        L->ymin = ylo < 0 ? ylo : 0;
        L->ymax = yhi > 0 ? nice_up(yhi) : 0;
        if (L->ymax <= L->ymin) L->ymax = L->ymin + 1;
    }
    if (!isfinite(L->xmax - L->xmin) || !isfinite(L->ymax - L->ymin))
        return pd_fail(PD_ERR_RANGE, "plot: panel %d: the data span is too wide to draw (x %g..%g, y %g..%g)", k, L->xmin,
                       L->xmax, L->ymin, L->ymax);
    /* y ticks: on a log axis that holds two powers of ten, each power of ten (and 2x, 5x when
     * there are fewer than four powers); else five even steps */
    double d0 = ceil(L->ymin - 1e-9), d1 = floor(L->ymax + 1e-9);
    if (pn->logy && d1 > d0 && d1 - d0 < PD_PLOT_MAX_XTICKS / 3) {
        for (double d = floor(L->ymin); d <= d1; d++)
            for (int j = 0; j < 3; j++) {
                double v = d + (j == 0 ? 0 : j == 1 ? log10(2) : log10(5));
                if ((j == 0 || d1 - d0 < 3) && v >= L->ymin - 1e-9 && v <= L->ymax + 1e-9) L->yticks[L->n_yticks++] = v;
            }
    } else
        for (int i = 0; i <= 4; i++) L->yticks[L->n_yticks++] = L->ymin + (L->ymax - L->ymin) * i / 4;
    return PD_OK;
}

static double map_x(const layout *L, double x) { return L->left + (x - L->xmin) / (L->xmax - L->xmin) * (L->right - L->left); }
static double map_y(const layout *L, double v) { return L->bottom - (v - L->ymin) / (L->ymax - L->ymin) * (L->bottom - L->top); }

/* a bar of series number b (among the panel's bar series) at x: [x0, x1] in pixels */
static void bar_span(const layout *L, int b, double x, double *x0, double *x1) {
    double group = 0.7 * L->slot, bw = group / L->n_bars, a = x - group / 2 + bw * b;
    *x0 = map_x(L, a);
    *x1 = map_x(L, a + bw);
}

static void fmt_tick(char *s, size_t n, double v) {
    if (fabs(v) < 1e-12) v = 0;
    snprintf(s, n, "%.3g", v);
}

static double series_width(const pd_plot_series *se) {
    if (se->width > 0) return se->width;
    return se->kind == PD_PLOT_POINTS ? 4 : 2;
}

/* ---- back ends: the chart is drawn once (draw_chart) through these operations ---- */

typedef struct {
    void (*clip)(void *c, int panel, const layout *L);  /* L NULL: no clipping */
    void (*rule)(void *c, double x0, double y0, double x1, double y1, uint32_t color); /* 1 px, axis-aligned */
    void (*rect)(void *c, double x0, double y0, double x1, double y1, uint32_t color, const pd_plot_series *tip,
                 double tx, double ty);
    void (*line)(void *c, int phase, double x, double y, uint32_t color, double width); /* 0 begin, 1 point, 2 end */
    void (*dot)(void *c, double x, double y, double r, uint32_t color, const pd_plot_series *tip, double tx, double ty);
    void (*text)(void *c, double x, double y, int anchor, int size, bool vertical, const char *s); /* bottom at y */
} backend;

static void draw_chart(const pd_plot *p, double W, const layout *Ls, const backend *be, void *c) {
    be->clip(c, -1, NULL);
    if (p->title) be->text(c, W / 2, 23, 1, 16, false, p->title);
    for (int k = 0; k < p->n_panels; k++) {
        const pd_plot_panel *pn = &p->panels[k];
        const layout *L = &Ls[k];
        char t[64];
        for (int i = 0; i < L->n_yticks; i++) {
            double y = floor(map_y(L, L->yticks[i])) + 0.5;
            be->rule(c, L->left, y, L->right, y, 0xdddddd);
            fmt_tick(t, sizeof t, pn->logy ? pow(10, L->yticks[i]) : L->yticks[i]);
            be->text(c, L->left - 6, y + 4, 2, 11, false, t);
        }
        for (int i = 0; i < L->n_xticks; i++) {
            double x = floor(map_x(L, L->xticks[i])) + 0.5;
            be->rule(c, x, L->bottom, x, L->bottom + 4, 0x000000);
            fmt_tick(t, sizeof t, L->xticks[i]);
            be->text(c, x, L->bottom + 16, 1, 11, false, t);
        }
        if (pn->title) be->text(c, (L->left + L->right) / 2, L->top - 9, 1, 13, false, pn->title);
        if (pn->xlabel) be->text(c, (L->left + L->right) / 2, L->bottom + 34, 1, 12, false, pn->xlabel);
        if (pn->ylabel) be->text(c, L->px + 17, (L->top + L->bottom) / 2, 1, 12, true, pn->ylabel);
        /* data: bars and lines clipped to the plot area, dots on top and not clipped (a dot at the
         * edge of the range stays whole) */
        be->clip(c, k, L);
        int bar = 0;
        for (int s = 0; s < pn->n_series; s++) {
            const pd_plot_series *se = &pn->series[s];
            uint32_t col = se->color & 0xffffff;
            if (se->kind == PD_PLOT_BARS) {
                double base = map_y(L, pn->logy ? L->ymin : (0 > L->ymin ? 0 : L->ymin));
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) continue;
                    double x0, x1, y = map_y(L, axis_v(pn, se->y[i]));
                    bar_span(L, bar, se->x[i], &x0, &x1);
                    be->rect(c, x0, fmin(y, base), x1, fmax(y, base), col, se, se->x[i], se->y[i]);
                }
                bar++;
            } else if (se->kind == PD_PLOT_LINE) {
                bool open = false;
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) {
                        if (open) be->line(c, 2, 0, 0, col, 0);
                        open = false;
                        continue;
                    }
                    if (!open) be->line(c, 0, 0, 0, col, series_width(se));
                    be->line(c, 1, map_x(L, se->x[i]), map_y(L, axis_v(pn, se->y[i])), col, 0);
                    open = true;
                }
                if (open) be->line(c, 2, 0, 0, col, 0);
            }
        }
        be->clip(c, -1, NULL);
        for (int s = 0; s < pn->n_series; s++) {
            const pd_plot_series *se = &pn->series[s];
            double r = se->kind == PD_PLOT_POINTS ? series_width(se) : se->kind == PD_PLOT_LINE ? se->marker : 0;
            if (r <= 0) continue;
            for (size_t i = 0; i < se->n; i++) {
                if (!point_ok(pn, se->x[i], se->y[i])) continue;
                double x = map_x(L, se->x[i]), y = map_y(L, axis_v(pn, se->y[i]));
                if (x < L->left - 0.01 || x > L->right + 0.01 || y < L->top - 0.01 || y > L->bottom + 0.01) continue;
                be->dot(c, x, y, r, se->color & 0xffffff, se, se->x[i], se->y[i]);
            }
        }
        /* the frame, on the pixel row/column where the plot area starts and ends */
        double l = floor(L->left) + 0.5, r = ceil(L->right) - 0.5, tp = floor(L->top) + 0.5, bt = ceil(L->bottom) - 0.5;
        be->rule(c, l, tp, r, tp, 0x000000);
        be->rule(c, l, bt, r, bt, 0x000000);
        be->rule(c, l, tp, l, bt, 0x000000);
        be->rule(c, r, tp, r, bt, 0x000000);
        /* legend, top right inside the plot area */
        int n_leg = 0;
        size_t maxlen = 0;
        for (int s = 0; s < pn->n_series; s++)
            if (pn->series[s].name) { n_leg++; if (strlen(pn->series[s].name) > maxlen) maxlen = strlen(pn->series[s].name); }
        if (!n_leg) continue;
        double lw = 30 + 6.0 * (double)maxlen, lx = floor(L->right - 6 - lw), ly = floor(L->top + 6), lh = 6 + 14 * n_leg;
        be->rect(c, lx, ly, lx + lw, ly + lh, 0xbbbbbb, NULL, 0, 0);
        be->rect(c, lx + 1, ly + 1, lx + lw - 1, ly + lh - 1, 0xffffff, NULL, 0, 0);
        int row = 0;
        for (int s = 0; s < pn->n_series; s++) {
            const pd_plot_series *se = &pn->series[s];
            if (!se->name) continue;
            double y = ly + 10 + 14 * row++;
            uint32_t col = se->color & 0xffffff;
            if (se->kind == PD_PLOT_LINE) be->rect(c, lx + 4, y - 1, lx + 20, y + 1, col, NULL, 0, 0);
            else be->rect(c, lx + 8, y - 4, lx + 16, y + 4, col, NULL, 0, 0);
            be->text(c, lx + 24, y + 4, 0, 11, false, se->name);
        }
    }
}

/* ---- SVG ---- */

typedef struct { pd_buf *b; int clip; bool first; } svgc;

static void svg_esc(pd_buf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') pd_buf_printf(b, "&lt;");
        else if (*s == '>') pd_buf_printf(b, "&gt;");
        else if (*s == '&') pd_buf_printf(b, "&amp;");
        else if (*s == '"') pd_buf_printf(b, "&quot;");
        else pd_buf_append(b, s, 1);
    }
}

static void svg_clipattr(svgc *v) {
    if (v->clip >= 0) pd_buf_printf(v->b, " clip-path=\"url(#pd_clip%d)\"", v->clip);
}

static void svg_tip(pd_buf *b, const pd_plot_series *se, double x, double y) {
    pd_buf_printf(b, "<title>");
    svg_esc(b, se->name ? se->name : "");
    pd_buf_printf(b, ": x %g, y %g</title>", x, y);
}

static void svg_clip(void *c, int panel, const layout *L) {
    svgc *v = c;
    v->clip = L ? panel : -1;
    if (L)
        pd_buf_printf(v->b, "<clipPath id=\"pd_clip%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath>\n",
                      panel, L->left, L->top, L->right - L->left, L->bottom - L->top);
}

static void svg_rule(void *c, double x0, double y0, double x1, double y1, uint32_t color) {
    svgc *v = c;
    pd_buf_printf(v->b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#%06x\"/>\n", x0, y0, x1, y1,
                  (unsigned)color);
}

static void svg_rect(void *c, double x0, double y0, double x1, double y1, uint32_t color, const pd_plot_series *tip,
                     double tx, double ty) {
    svgc *v = c;
    pd_buf_printf(v->b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#%06x\"", x0, y0, x1 - x0, y1 - y0,
                  (unsigned)color);
    svg_clipattr(v);
    if (!tip) { pd_buf_printf(v->b, "/>\n"); return; }
    pd_buf_printf(v->b, ">");
    svg_tip(v->b, tip, tx, ty);
    pd_buf_printf(v->b, "</rect>\n");
}

static void svg_line(void *c, int phase, double x, double y, uint32_t color, double width) {
    svgc *v = c;
    if (phase == 0) {
        pd_buf_printf(v->b, "<polyline fill=\"none\" stroke=\"#%06x\" stroke-width=\"%g\" stroke-linejoin=\"round\"",
                      (unsigned)color, width);
        svg_clipattr(v);
        pd_buf_printf(v->b, " points=\"");
        v->first = true;
    } else if (phase == 1) {
        pd_buf_printf(v->b, "%s%.2f,%.2f", v->first ? "" : " ", x, y);
        v->first = false;
    } else pd_buf_printf(v->b, "\"/>\n");
}

static void svg_dot(void *c, double x, double y, double r, uint32_t color, const pd_plot_series *tip, double tx, double ty) {
    svgc *v = c;
    pd_buf_printf(v->b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%g\" fill=\"#%06x\">", x, y, r, (unsigned)color);
    svg_tip(v->b, tip, tx, ty);
    pd_buf_printf(v->b, "</circle>\n");
}

static void svg_textop(void *c, double x, double y, int anchor, int size, bool vertical, const char *s) {
    svgc *v = c;
    pd_buf_printf(v->b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%d\"", x, y,
                  anchor == 0 ? "start" : anchor == 1 ? "middle" : "end", size);
    if (vertical) pd_buf_printf(v->b, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
    pd_buf_printf(v->b, ">");
    svg_esc(v->b, s);
    pd_buf_printf(v->b, "</text>\n");
}

static const backend SVG_BACKEND = {svg_clip, svg_rule, svg_rect, svg_line, svg_dot, svg_textop};

static pd_status render_svg(const pd_plot *p, double W, double H, const layout *Ls, pd_buf *b) {
    pd_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                     "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                  W, H, W, H);
    svgc v = {.b = b, .clip = -1};
    draw_chart(p, W, Ls, &SVG_BACKEND, &v);
    pd_buf_printf(b, "</svg>\n");
    return b->data ? PD_OK : pd_fail(PD_ERR_NOMEM, "plot: out of memory for the SVG");
}

/* ---- raster ---- */

typedef struct {
    uint8_t *px;
    int w, h;
    int cx0, cy0, cx1, cy1;            /* clip: [cx0,cx1) x [cy0,cy1) */
    bool have;                         /* polyline state: previous point */
    double qx, qy, lw;
    uint32_t lc;
} canvas;

static void blend(canvas *cv, int x, int y, uint32_t c, double a) {
    if (x < cv->cx0 || y < cv->cy0 || x >= cv->cx1 || y >= cv->cy1 || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *q = cv->px + ((size_t)y * (size_t)cv->w + (size_t)x) * 3;
    for (int i = 0; i < 3; i++) {
        double s = (double)((c >> (16 - 8 * i)) & 0xff);
        q[i] = (uint8_t)lround(q[i] + (s - q[i]) * a);
    }
}

/* a pixel coordinate as int, clamped well outside any image (data far outside a fixed range) */
static int pix(double v) {
    if (!(v > -1e6)) return -1000000;
    if (v > 1e6) return 1000000;
    return (int)v;
}

/* fill the pixels whose centres lie in [x0,x1) x [y0,y1) */
static void fill_rect(canvas *cv, double x0, double y0, double x1, double y1, uint32_t c) {
    int a = pix(ceil(x0 - 0.5)), bx = pix(ceil(x1 - 0.5)), t = pix(ceil(y0 - 0.5)), by = pix(ceil(y1 - 0.5));
    if (a < cv->cx0) a = cv->cx0;
    if (t < cv->cy0) t = cv->cy0;
    if (bx > cv->cx1) bx = cv->cx1;
    if (by > cv->cy1) by = cv->cy1;
    for (int y = t; y < by; y++)
        for (int x = a; x < bx; x++) blend(cv, x, y, c, 1);
}

/* a segment of width w, anti-aliased: coverage falls off linearly over one pixel at its edge */
static void seg(canvas *cv, double x0, double y0, double x1, double y1, double w, uint32_t c) {
    double hw = w / 2, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    int xa = pix(floor(fmin(x0, x1) - hw - 1)), xb = pix(ceil(fmax(x0, x1) + hw + 1));
    int ya = pix(floor(fmin(y0, y1) - hw - 1)), yb = pix(ceil(fmax(y0, y1) + hw + 1));
    if (xa < cv->cx0) xa = cv->cx0;
    if (ya < cv->cy0) ya = cv->cy0;
    if (xb > cv->cx1) xb = cv->cx1;
    if (yb > cv->cy1) yb = cv->cy1;
    for (int y = ya; y < yb; y++)
        for (int x = xa; x < xb; x++) {
            double px = x + 0.5 - x0, py = y + 0.5 - y0, t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = px - t * dx, ey = py - t * dy;
            blend(cv, x, y, c, hw + 0.5 - sqrt(ex * ex + ey * ey));
        }
}

/* 5x7 font: rows top to bottom, bit 4 = leftmost column. Lower case has its own glyphs; g j p q y
 * hang below the line (drawn 2 rows lower, j 1 row: its dot keeps it at 7 rows). */
static const char FONT_CH[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,:;-+()/%=_<>#!?'\"[]*&|";
static const uint8_t FONT[][7] = {
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
    /* A-Z */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E},
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C},
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10},
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11},
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C},
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F},
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11},
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10},
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11},
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04},
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11},
    {0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F},
    /* a-z */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E},
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F},
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08},
    {0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C},
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, {0x1E, 0x11, 0x11, 0x11, 0x1E, 0x10, 0x10},
    {0x0F, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x01}, {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06},
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04},
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11},
    {0x11, 0x11, 0x11, 0x11, 0x0F, 0x01, 0x0E}, {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F},
    /* . , : ; - + ( ) / % = _ < > # ! ? ' " [ ] * & | */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08},
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08},
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00},
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08},
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03},
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F},
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08},
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04},
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00},
    {0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00}, {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E},
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}, {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00},
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04},
};
_Static_assert(sizeof FONT / sizeof FONT[0] == sizeof FONT_CH - 1, "one glyph per character");
static const uint8_t GLYPH_UNKNOWN[7] = {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};

static const uint8_t *glyph(char ch, int *drop) {
    *drop = ch == 'j' ? 1 : (ch == 'g' || ch == 'p' || ch == 'q' || ch == 'y') ? 2 : 0;
    if (ch == ' ') return NULL;
    const char *q = ch ? strchr(FONT_CH, ch) : NULL;
    return q ? FONT[q - FONT_CH] : GLYPH_UNKNOWN;
}

/* text with the bottom of its 7-row cells at y; anchor 0 start, 1 middle, 2 end; vertical: turned
 * 90 degrees anticlockwise around (x, y), reading bottom to top */
static void draw_text(canvas *cv, double x, double y, int anchor, int scale, bool vertical, const char *s, uint32_t c) {
    if (!s) return;
    double w = s[0] ? (6.0 * (double)strlen(s) - 1) * scale : 0, off = anchor == 1 ? -w / 2 : anchor == 2 ? -w : 0;
    int ox = pix(floor(x + 0.5)), oy = pix(floor(y + 0.5)), base = pix(floor(off + 0.5));
    for (size_t i = 0; s[i]; i++) {
        int drop;
        const uint8_t *g = glyph(s[i], &drop);
        if (!g) continue;
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++) {
                if (!(g[r] >> (4 - col) & 1)) continue;
                for (int sy = 0; sy < scale; sy++)
                    for (int sx = 0; sx < scale; sx++) {
                        int u = base + (int)(6 * i + (size_t)col) * scale + sx, v = (r + drop - 7) * scale + sy;
                        if (vertical) blend(cv, ox + v, oy - u, c, 1);
                        else blend(cv, ox + u, oy + v, c, 1);
                    }
            }
    }
}

static void ras_clip(void *c, int panel, const layout *L) {
    canvas *cv = c;
    (void)panel;
    cv->cx0 = L ? (int)floor(L->left) : 0;
    cv->cy0 = L ? (int)floor(L->top) : 0;
    cv->cx1 = L ? (int)ceil(L->right) : cv->w;
    cv->cy1 = L ? (int)ceil(L->bottom) : cv->h;
}

static void ras_rule(void *c, double x0, double y0, double x1, double y1, uint32_t color) {
    fill_rect(c, fmin(x0, x1) - 0.5, fmin(y0, y1) - 0.5, fmax(x0, x1) + 0.5, fmax(y0, y1) + 0.5, color);
}

static void ras_rect(void *c, double x0, double y0, double x1, double y1, uint32_t color, const pd_plot_series *tip,
                     double tx, double ty) {
    (void)tip; (void)tx; (void)ty;
    fill_rect(c, x0, y0, x1, y1, color);
}

static void ras_line(void *c, int phase, double x, double y, uint32_t color, double width) {
    canvas *cv = c;
    if (phase == 0) { cv->have = false; cv->lc = color; cv->lw = width; return; }
    if (phase == 2) { cv->have = false; return; }
    if (cv->have) seg(cv, cv->qx, cv->qy, x, y, cv->lw, cv->lc);
    else seg(cv, x, y, x, y, cv->lw, cv->lc); /* a lone point stays visible */
    cv->qx = x; cv->qy = y; cv->have = true;
}

static void ras_dot(void *c, double x, double y, double r, uint32_t color, const pd_plot_series *tip, double tx, double ty) {
    (void)tip; (void)tx; (void)ty;
    seg(c, x, y, x, y, 2 * r, color); /* a zero-length segment is a disc */
}

static void ras_text(void *c, double x, double y, int anchor, int size, bool vertical, const char *s) {
    draw_text(c, x, y, anchor, size >= 16 ? 2 : 1, vertical, s, 0x000000);
}

static const backend RASTER_BACKEND = {ras_clip, ras_rule, ras_rect, ras_line, ras_dot, ras_text};

static void render_rgb(const pd_plot *p, int W, int H, const layout *Ls, uint8_t *px) {
    canvas cv = {.px = px, .w = W, .h = H};
    memset(px, 0xff, (size_t)W * (size_t)H * 3);
    draw_chart(p, W, Ls, &RASTER_BACKEND, &cv);
}

static pd_status write_png(FILE *f, const char *path, const uint8_t *px, int W, int H) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)W;
    img.height = (png_uint_32)H;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_stdio(&img, f, 0, px, W * 3, NULL)) {
        pd_status st = pd_fail(PD_ERR_IO, "%s: cannot write the PNG (%s)", path, img.message);
        png_image_free(&img);
        return st;
    }
    return PD_OK;
}

/* ---- entry point ---- */

pd_status pd_plot_write(const pd_plot *p, const char *path) {
    if (!path) return pd_fail(PD_ERR_ARG, "plot: no output path");
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && slash && dot < slash) dot = NULL;
    bool svg = dot && !strcasecmp(dot, ".svg"), png = dot && !strcasecmp(dot, ".png");
    if (!svg && !png)
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: unsupported plot format '%s' (use .svg or .png)", path, dot ? dot : "no extension");
    if (!p || p->n_panels < 1 || p->n_panels > PD_PLOT_MAX_PANELS || !p->panels)
        return pd_fail(PD_ERR_ARG, "%s: a plot needs 1..%d panels (got %d)", path, PD_PLOT_MAX_PANELS, p ? p->n_panels : 0);
    for (int k = 0; k < p->n_panels; k++)
        if (p->panels[k].n_series < 0 || (p->panels[k].n_series > 0 && !p->panels[k].series))
            return pd_fail(PD_ERR_ARG, "%s: panel %d has no series array", path, k);
    int W = p->width > 0 ? p->width : p->n_panels == 1 ? 720 : 450 * p->n_panels;
    int H = p->height > 0 ? p->height : 420;
    if (W > 16384 || H > 16384) return pd_fail(PD_ERR_ARG, "%s: plot size %dx%d is too large (16384 at most)", path, W, H);
    layout Ls[PD_PLOT_MAX_PANELS];
    for (int k = 0; k < p->n_panels; k++) {
        pd_status st = panel_layout(p, k, W, H, &Ls[k]);
        if (st != PD_OK) return pd_fail_ctx(st, "%s", path);
    }
    /* base/outfile.c: written to "<path>.tmp", every write checked, renamed into place on success */
    pd_status st = PD_OK;
    pd_buf b = {0};
    uint8_t *px = NULL;
    if (svg) st = render_svg(p, W, H, Ls, &b);
    else if (!(px = pd_malloc((size_t)W * (size_t)H * 3))) st = pd_fail(PD_ERR_NOMEM, "%s: out of memory for a %dx%d image", path, W, H);
    else render_rgb(p, W, H, Ls, px);
    if (st == PD_OK) {
        pd_outfile *o = pd_out_open(path);
        if (!o) st = PD_ERR_IO;
        else if (svg && fwrite(b.data, 1, b.len, pd_out_fp(o)) != b.len) {
            pd_out_abort(o);
            st = pd_fail(PD_ERR_IO, "%s: write failed", path);
        } else if (!svg && (st = write_png(pd_out_fp(o), path, px, W, H)) != PD_OK) {
            pd_out_abort(o);
        } else {
            st = pd_out_commit(o);
        }
    }
    pd_buf_free(&b);
    free(px);
    return st;
}
