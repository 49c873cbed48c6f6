/* base/plot.c — the one chart renderer (ponder/plot.h): layout and ranges shared by two back ends,
 * SVG text and an RGB raster (anti-aliased lines by distance to the segment, filled bars, a 5x7
 * bitmap font) encoded as PNG with libpng. Used by train's loss curve and eval's report. */
#include "ponder/plot.h"
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

/* ---- SVG ---- */

static void svg_text(pd_buf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') pd_buf_printf(b, "&lt;");
        else if (*s == '>') pd_buf_printf(b, "&gt;");
        else if (*s == '&') pd_buf_printf(b, "&amp;");
        else if (*s == '"') pd_buf_printf(b, "&quot;");
        else pd_buf_append(b, s, 1);
    }
}

static void svg_label(pd_buf *b, double x, double y, const char *anchor, int size, const char *extra, const char *s) {
    pd_buf_printf(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%d\"%s>", x, y, anchor, size, extra);
    svg_text(b, s);
    pd_buf_printf(b, "</text>\n");
}

static void svg_tip(pd_buf *b, const pd_plot_series *se, double x, double y) {
    pd_buf_printf(b, "<title>");
    svg_text(b, se->name ? se->name : "");
    pd_buf_printf(b, ": x %g, y %g</title>", x, y);
}

static pd_status render_svg(const pd_plot *p, double W, double H, pd_buf *b) {
    pd_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
                     "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                  W, H, W, H);
    if (p->title) svg_label(b, W / 2, 21, "middle", 16, "", p->title);
    for (int k = 0; k < p->n_panels; k++) {
        const pd_plot_panel *pn = &p->panels[k];
        layout L;
        pd_status st = panel_layout(p, k, W, H, &L);
        if (st != PD_OK) return st;
        char t[64];
        pd_buf_printf(b, "<clipPath id=\"pd_clip%d\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/></clipPath>\n", k,
                      L.left, L.top, L.right - L.left, L.bottom - L.top);
        for (int i = 0; i <= 4; i++) {
            double v = L.ymin + (L.ymax - L.ymin) * i / 4, y = map_y(&L, v);
            pd_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n", L.left, y, L.right, y);
            fmt_tick(t, sizeof t, pn->logy ? pow(10, v) : v);
            svg_label(b, L.left - 6, y + 4, "end", 11, "", t);
        }
        for (int i = 0; i < L.n_xticks; i++) {
            double x = map_x(&L, L.xticks[i]);
            pd_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"black\"/>\n", x, L.bottom, x, L.bottom + 4);
            fmt_tick(t, sizeof t, L.xticks[i]);
            svg_label(b, x, L.bottom + 16, "middle", 11, "", t);
        }
        pd_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"black\"/>\n", L.left,
                      L.top, L.right - L.left, L.bottom - L.top);
        if (pn->title) svg_label(b, (L.left + L.right) / 2, L.top - 9, "middle", 13, "", pn->title);
        if (pn->xlabel) svg_label(b, (L.left + L.right) / 2, L.bottom + 34, "middle", 12, "", pn->xlabel);
        if (pn->ylabel) {
            char rot[96];
            double x = L.px + 14, y = (L.top + L.bottom) / 2;
            snprintf(rot, sizeof rot, " transform=\"rotate(-90 %.2f %.2f)\"", x, y);
            svg_label(b, x, y, "middle", 12, rot, pn->ylabel);
        }
        int bar = 0;
        for (int s = 0; s < pn->n_series; s++) {
            const pd_plot_series *se = &pn->series[s];
            unsigned c = se->color & 0xffffff;
            double w = series_width(se);
            if (se->kind == PD_PLOT_BARS) {
                double base = map_y(&L, pn->logy ? L.ymin : (0 > L.ymin ? 0 : L.ymin));
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) continue;
                    double x0, x1, y = map_y(&L, axis_v(pn, se->y[i]));
                    bar_span(&L, bar, se->x[i], &x0, &x1);
                    double ya = y < base ? y : base, yb = y < base ? base : y;
                    pd_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#%06x\" clip-path=\"url(#pd_clip%d)\">",
                                  x0, ya, x1 - x0, yb - ya, c, k);
                    svg_tip(b, se, se->x[i], se->y[i]);
                    pd_buf_printf(b, "</rect>\n");
                }
                bar++;
                continue;
            }
            if (se->kind == PD_PLOT_LINE) {
                bool open = false;
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) {
                        if (open) pd_buf_printf(b, "\"/>\n");
                        open = false;
                        continue;
                    }
                    if (!open)
                        pd_buf_printf(b, "<polyline fill=\"none\" stroke=\"#%06x\" stroke-width=\"%g\" stroke-linejoin=\"round\" "
                                         "clip-path=\"url(#pd_clip%d)\" points=\"", c, w, k);
                    pd_buf_printf(b, "%s%.2f,%.2f", open ? " " : "", map_x(&L, se->x[i]), map_y(&L, axis_v(pn, se->y[i])));
                    open = true;
                }
                if (open) pd_buf_printf(b, "\"/>\n");
            }
            double r = se->kind == PD_PLOT_POINTS ? w : se->marker;
            if (r > 0)
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) continue;
                    pd_buf_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%g\" fill=\"#%06x\" clip-path=\"url(#pd_clip%d)\">",
                                  map_x(&L, se->x[i]), map_y(&L, axis_v(pn, se->y[i])), r, c, k);
                    svg_tip(b, se, se->x[i], se->y[i]);
                    pd_buf_printf(b, "</circle>\n");
                }
        }
        /* legend, top right inside the plot area */
        int n_leg = 0;
        size_t maxlen = 0;
        for (int s = 0; s < pn->n_series; s++)
            if (pn->series[s].name) { n_leg++; if (strlen(pn->series[s].name) > maxlen) maxlen = strlen(pn->series[s].name); }
        if (n_leg) {
            double lw = 30 + 6.0 * (double)maxlen, lx = L.right - 6 - lw, ly = L.top + 6;
            pd_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%d\" fill=\"white\" stroke=\"#bbbbbb\"/>\n", lx, ly,
                          lw, 6 + 14 * n_leg);
            int row = 0;
            for (int s = 0; s < pn->n_series; s++) {
                const pd_plot_series *se = &pn->series[s];
                if (!se->name) continue;
                double y = ly + 10 + 14 * row++;
                unsigned c = se->color & 0xffffff;
                if (se->kind == PD_PLOT_LINE)
                    pd_buf_printf(b, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#%06x\" stroke-width=\"2\"/>\n",
                                  lx + 4, y, lx + 20, y, c);
                else
                    pd_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"8\" height=\"8\" fill=\"#%06x\"/>\n", lx + 8, y - 4, c);
                svg_label(b, lx + 24, y + 4, "start", 11, "", se->name);
            }
        }
    }
    pd_buf_printf(b, "</svg>\n");
    return b->data ? PD_OK : pd_fail(PD_ERR_NOMEM, "plot: out of memory for the SVG");
}

/* ---- raster ---- */

typedef struct { uint8_t *px; int w, h; int cx0, cy0, cx1, cy1; /* clip [cx0,cx1) x [cy0,cy1) */ } canvas;

static void blend(canvas *cv, int x, int y, uint32_t c, double a) {
    if (x < cv->cx0 || y < cv->cy0 || x >= cv->cx1 || y >= cv->cy1 || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *q = cv->px + ((size_t)y * (size_t)cv->w + (size_t)x) * 3;
    for (int i = 0; i < 3; i++) {
        double s = (double)((c >> (16 - 8 * i)) & 0xff);
        q[i] = (uint8_t)lround(q[i] + (s - q[i]) * a);
    }
}

static void clip_all(canvas *cv) { cv->cx0 = 0; cv->cy0 = 0; cv->cx1 = cv->w; cv->cy1 = cv->h; }

static void clip_to(canvas *cv, const layout *L) {
    cv->cx0 = (int)floor(L->left);
    cv->cy0 = (int)floor(L->top);
    cv->cx1 = (int)ceil(L->right);
    cv->cy1 = (int)ceil(L->bottom);
}

/* fill the pixels whose centres lie in [x0,x1) x [y0,y1) */
static void fill_rect(canvas *cv, double x0, double y0, double x1, double y1, uint32_t c) {
    int a = (int)ceil(x0 - 0.5), bx = (int)ceil(x1 - 0.5), t = (int)ceil(y0 - 0.5), by = (int)ceil(y1 - 0.5);
    for (int y = t; y < by; y++)
        for (int x = a; x < bx; x++) blend(cv, x, y, c, 1);
}

/* a segment of width w, anti-aliased: coverage falls off linearly over one pixel at the edge */
static void seg(canvas *cv, double x0, double y0, double x1, double y1, double w, uint32_t c) {
    double hw = w / 2, dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    int xa = (int)floor(fmin(x0, x1) - hw - 1), xb = (int)ceil(fmax(x0, x1) + hw + 1);
    int ya = (int)floor(fmin(y0, y1) - hw - 1), yb = (int)ceil(fmax(y0, y1) + hw + 1);
    if (xa < cv->cx0) xa = cv->cx0;
    if (ya < cv->cy0) ya = cv->cy0;
    if (xb > cv->cx1) xb = cv->cx1;
    if (yb > cv->cy1) yb = cv->cy1;
    for (int y = ya; y < yb; y++)
        for (int x = xa; x < xb; x++) {
            double px = x + 0.5 - x0, py = y + 0.5 - y0, t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            if (t < 0) t = 0;
            if (t > 1) t = 1;
            double ex = px - t * dx, ey = py - t * dy, d = sqrt(ex * ex + ey * ey);
            double a = hw + 0.5 - d;
            if (a > 0) blend(cv, x, y, c, a);
        }
}

static void disc(canvas *cv, double cx, double cy, double r, uint32_t c) {
    for (int y = (int)floor(cy - r - 1); y <= (int)ceil(cy + r + 1); y++)
        for (int x = (int)floor(cx - r - 1); x <= (int)ceil(cx + r + 1); x++) {
            double ex = x + 0.5 - cx, ey = y + 0.5 - cy;
            blend(cv, x, y, c, r + 0.5 - sqrt(ex * ex + ey * ey));
        }
}

/* 5x7 font: rows top to bottom, bit 4 = leftmost column. Lower case has its own glyphs. */
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
    {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11},
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C},
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E},
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11},
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10},
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10},
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06},
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04},
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11},
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F},
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

static const uint8_t *glyph(char ch) {
    if (ch == ' ') return NULL;
    const char *q = ch ? strchr(FONT_CH, ch) : NULL;
    return q ? FONT[q - FONT_CH] : GLYPH_UNKNOWN;
}

static double text_w(const char *s, int scale) { return s && *s ? (6.0 * (double)strlen(s) - 1) * scale : 0; }

/* text with its baseline-ish bottom at y (glyph cells are 7 rows high); anchor: 0 start, 1 middle, 2 end.
 * vertical: rotated 90 degrees anticlockwise around (x, y), reading bottom to top. */
static void draw_text(canvas *cv, double x, double y, int anchor, int scale, bool vertical, const char *s, uint32_t c) {
    if (!s) return;
    double w = text_w(s, scale), off = anchor == 1 ? -w / 2 : anchor == 2 ? -w : 0;
    int ox = (int)lround(x), oy = (int)lround(y), base = (int)lround(off);
    for (size_t i = 0; s[i]; i++) {
        const uint8_t *g = glyph(s[i]);
        if (!g) continue;
        for (int r = 0; r < 7; r++)
            for (int col = 0; col < 5; col++) {
                if (!(g[r] >> (4 - col) & 1)) continue;
                for (int sy = 0; sy < scale; sy++)
                    for (int sx = 0; sx < scale; sx++) {
                        int u = base + (int)(6 * i + (size_t)col) * scale + sx, v = (r - 7) * scale + sy; /* text space */
                        if (vertical) blend(cv, ox + v, oy - u, c, 1);
                        else blend(cv, ox + u, oy + v, c, 1);
                    }
            }
    }
}

static pd_status render_rgb(const pd_plot *p, int W, int H, uint8_t *px) {
    canvas cv = {.px = px, .w = W, .h = H};
    memset(px, 0xff, (size_t)W * (size_t)H * 3);
    clip_all(&cv);
    if (p->title) draw_text(&cv, W / 2.0, 23, 1, 2, false, p->title, 0x000000);
    for (int k = 0; k < p->n_panels; k++) {
        const pd_plot_panel *pn = &p->panels[k];
        layout L;
        pd_status st = panel_layout(p, k, W, H, &L);
        if (st != PD_OK) return st;
        char t[64];
        int l = (int)floor(L.left), r = (int)ceil(L.right) - 1, tp = (int)floor(L.top), bt = (int)ceil(L.bottom) - 1;
        for (int i = 0; i <= 4; i++) {
            double v = L.ymin + (L.ymax - L.ymin) * i / 4, y = map_y(&L, v);
            fill_rect(&cv, L.left, floor(y), L.right, floor(y) + 1, 0xdddddd);
            fmt_tick(t, sizeof t, pn->logy ? pow(10, v) : v);
            draw_text(&cv, L.left - 6, y + 4, 2, 1, false, t, 0x000000);
        }
        for (int i = 0; i < L.n_xticks; i++) {
            double x = floor(map_x(&L, L.xticks[i]));
            fill_rect(&cv, x, L.bottom, x + 1, L.bottom + 4, 0x000000);
            fmt_tick(t, sizeof t, L.xticks[i]);
            draw_text(&cv, x, L.bottom + 16, 1, 1, false, t, 0x000000);
        }
        if (pn->title) draw_text(&cv, (L.left + L.right) / 2, L.top - 9, 1, 1, false, pn->title, 0x000000);
        if (pn->xlabel) draw_text(&cv, (L.left + L.right) / 2, L.bottom + 34, 1, 1, false, pn->xlabel, 0x000000);
        if (pn->ylabel) draw_text(&cv, L.px + 17, (L.top + L.bottom) / 2, 1, 1, true, pn->ylabel, 0x000000);
        clip_to(&cv, &L);
        int bar = 0;
        for (int s = 0; s < pn->n_series; s++) {
            const pd_plot_series *se = &pn->series[s];
            uint32_t c = se->color & 0xffffff;
            double w = series_width(se);
            if (se->kind == PD_PLOT_BARS) {
                double base = map_y(&L, pn->logy ? L.ymin : (0 > L.ymin ? 0 : L.ymin));
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) continue;
                    double x0, x1, y = map_y(&L, axis_v(pn, se->y[i]));
                    bar_span(&L, bar, se->x[i], &x0, &x1);
                    fill_rect(&cv, x0, fmin(y, base), x1, fmax(y, base), c);
                }
                bar++;
                continue;
            }
            if (se->kind == PD_PLOT_LINE) {
                bool have = false;
                double qx = 0, qy = 0;
                for (size_t i = 0; i < se->n; i++) {
                    if (!point_ok(pn, se->x[i], se->y[i])) { have = false; continue; }
                    double x = map_x(&L, se->x[i]), y = map_y(&L, axis_v(pn, se->y[i]));
                    if (have) seg(&cv, qx, qy, x, y, w, c);
                    qx = x; qy = y; have = true;
                }
            }
            double rad = se->kind == PD_PLOT_POINTS ? w : se->marker;
            if (rad > 0)
                for (size_t i = 0; i < se->n; i++)
                    if (point_ok(pn, se->x[i], se->y[i]))
                        disc(&cv, map_x(&L, se->x[i]), map_y(&L, axis_v(pn, se->y[i])), rad, c);
        }
        clip_all(&cv);
        /* frame on top of the data */
        fill_rect(&cv, l, tp, r + 1, tp + 1, 0x000000);
        fill_rect(&cv, l, bt, r + 1, bt + 1, 0x000000);
        fill_rect(&cv, l, tp, l + 1, bt + 1, 0x000000);
        fill_rect(&cv, r, tp, r + 1, bt + 1, 0x000000);
        int n_leg = 0;
        size_t maxlen = 0;
        for (int s = 0; s < pn->n_series; s++)
            if (pn->series[s].name) { n_leg++; if (strlen(pn->series[s].name) > maxlen) maxlen = strlen(pn->series[s].name); }
        if (n_leg) {
            double lw = 30 + 6.0 * (double)maxlen, lx = floor(L.right - 6 - lw), ly = floor(L.top + 6), lh = 6 + 14 * n_leg;
            fill_rect(&cv, lx, ly, lx + lw, ly + lh, 0xbbbbbb);
            fill_rect(&cv, lx + 1, ly + 1, lx + lw - 1, ly + lh - 1, 0xffffff);
            int row = 0;
            for (int s = 0; s < pn->n_series; s++) {
                const pd_plot_series *se = &pn->series[s];
                if (!se->name) continue;
                double y = ly + 10 + 14 * row++;
                uint32_t c = se->color & 0xffffff;
                if (se->kind == PD_PLOT_LINE) fill_rect(&cv, lx + 4, y - 1, lx + 20, y + 1, c);
                else fill_rect(&cv, lx + 8, y - 4, lx + 16, y + 4, c);
                draw_text(&cv, lx + 24, y + 4, 0, 1, false, se->name, 0x000000);
            }
        }
    }
    return PD_OK;
}

static pd_status write_png(const char *tmp, const char *path, const uint8_t *px, int W, int H) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)W;
    img.height = (png_uint_32)H;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, tmp, 0, px, W * 3, NULL)) {
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
    pd_buf tmp = {0};
    if (pd_buf_printf(&tmp, "%s.tmp", path) != 0) return pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
    pd_status st = PD_OK;
    if (svg) {
        pd_buf b = {0};
        st = render_svg(p, W, H, &b);
        if (st == PD_OK) {
            FILE *f = fopen(tmp.data, "wb");
            if (!f) st = pd_fail(PD_ERR_IO, "%s: cannot open for writing", tmp.data);
            else {
                if (fwrite(b.data, 1, b.len, f) != b.len) st = pd_fail(PD_ERR_IO, "%s: write failed", tmp.data);
                if (fclose(f) != 0 && st == PD_OK) st = pd_fail(PD_ERR_IO, "%s: write failed", tmp.data);
            }
        }
        pd_buf_free(&b);
    } else {
        uint8_t *px = pd_malloc((size_t)W * (size_t)H * 3);
        if (!px) st = pd_fail(PD_ERR_NOMEM, "%s: out of memory for a %dx%d image", path, W, H);
        if (st == PD_OK) st = render_rgb(p, W, H, px);
        if (st == PD_OK) st = write_png(tmp.data, path, px, W, H);
        free(px);
    }
    if (st == PD_OK && rename(tmp.data, path) != 0) st = pd_fail(PD_ERR_IO, "%s: cannot rename the plot into place", path);
    if (st != PD_OK) remove(tmp.data);
    pd_buf_free(&tmp);
    return st;
}
