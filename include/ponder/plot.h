/* ponder/plot.h — small charts (line, point and grouped-bar series on one or more side-by-side
 * panels) written as SVG text or as a PNG rasterised by ponder itself (lines with anti-aliasing,
 * filled bars, axes, ticks, a built-in 5x7 bitmap font), encoded with libpng.
 *
 * Layout (pixels, origin top-left, the same for SVG and PNG): a figure title takes a band of 30 px
 * at the top when present. The rest is split into n_panels equal columns; in a panel whose box is
 * (px, py, pw, ph) the plot area runs from x = px + 64 to px + pw - 16 and from y = py + 28 to
 * py + ph - 44. A data point (x, y) maps to
 *     X = left + (x - xmin) / (xmax - xmin) * (right - left)
 *     Y = bottom - (v - ymin) / (ymax - ymin) * (bottom - top),  v = log10(y) with logy, else y.
 * Ranges: fixed when xmin < xmax (resp. ymin < ymax) is given, else from the finite data; a linear
 * auto y range always contains 0 and its top is rounded up to 1, 2 or 5 times a power of ten; a log
 * y range spans the positive data (points <= 0 are skipped). Panels with bars or categorical x get
 * half a bar slot of padding on each side of the auto x range. */
#ifndef PONDER_PLOT_H
#define PONDER_PLOT_H

#include "ponder/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { PD_PLOT_LINE, PD_PLOT_POINTS, PD_PLOT_BARS } pd_plot_kind;

typedef struct {
    const char *name;      /* legend entry and SVG tooltip prefix; NULL: not in the legend */
    pd_plot_kind kind;
    uint32_t color;        /* 0xRRGGBB */
    double width;          /* line width (LINE, default 2) or dot radius (POINTS, default 4) */
    double marker;         /* LINE only: radius of a dot drawn at each point, 0 = none */
    const double *x, *y;   /* n points; non-finite ones are skipped (a line is broken there) */
    size_t n;
} pd_plot_series;

typedef struct {
    const char *title, *xlabel, *ylabel; /* any may be NULL */
    bool logy;
    bool x_categorical;    /* x ticks at the distinct x values of the data, padded range */
    double xmin, xmax, ymin, ymax; /* fixed range when min < max (ymin/ymax in data units, also with logy) */
    const pd_plot_series *series;
    int n_series;
} pd_plot_panel;

typedef struct {
    const char *title;     /* NULL: no title band */
    int width, height;     /* 0: 720x420 for one panel, 450 per panel wide for more */
    const pd_plot_panel *panels;
    int n_panels;          /* 1..8 */
} pd_plot;

/* Write the chart to path; the format follows the extension (.svg or .png, any case). Any other
 * extension is PD_ERR_UNSUPPORTED naming the path. Written to path.tmp and renamed into place, so
 * an error never leaves a partial file at path. */
pd_status pd_plot_write(const pd_plot *p, const char *path);

#endif
