/* eval/report.c — an SVG chart of an eval run, written by hand: accuracy per difficulty as a
 * line (left panel) and mean thinking / answer tokens per difficulty as grouped bars (right). */
#include "ponder/eval.h"
#include "ponder/alloc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int d; double acc, think, answer; size_t n; } bucket;

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* a "nice" axis maximum: 1, 2 or 5 times a power of ten, at least v */
static double nice_max(double v) {
    if (v <= 0) return 1;
    double p = pow(10, floor(log10(v)));
    for (int i = 0; i < 3; i++) {
        double m = (i == 0 ? 1 : i == 1 ? 2 : 5) * p;
        if (m >= v) return m;
    }
    return 10 * p;
}

pd_status pd_eval_svg(const pd_eval_record *r, size_t n, const char *title, const char *path) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strcmp(dot, ".svg"))
        return pd_fail(PD_ERR_UNSUPPORTED, "%s: only .svg reports are written (got '%s')", path ? path : "(null)",
                       dot ? dot : "no extension");
    bucket *b = pd_calloc(n ? n : 1, sizeof *b);
    if (!b) return PD_ERR_NOMEM;
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
    double tmax = 0;
    for (size_t i = 0; i < nb; i++) {
        b[i].acc /= (double)b[i].n;
        b[i].think /= (double)b[i].n;
        b[i].answer /= (double)b[i].n;
        if (b[i].think > tmax) tmax = b[i].think;
        if (b[i].answer > tmax) tmax = b[i].answer;
    }
    tmax = nice_max(tmax);
    FILE *f = fopen(path, "w");
    if (!f) { free(b); return pd_fail(PD_ERR_IO, "%s: cannot open for writing", path); }
    const int W = 900, H = 380, pw = 360, ph = 250, top = 60;
    const int lx = 70, rx = 520;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n<text x=\"%d\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">",
            W, H, W / 2);
    xml_text(f, title ? title : "ponder eval");
    fprintf(f, "</text>\n");
    /* panels: axes, grid, labels */
    for (int p = 0; p < 2; p++) {
        int x0 = p ? rx : lx;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x0 + pw / 2, top - 10,
                p ? "mean tokens per difficulty" : "accuracy per difficulty");
        for (int t = 0; t <= 4; t++) {
            double y = top + ph - ph * t / 4.0;
            fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, y, x0 + pw, y);
            if (p) fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", x0 - 6, y + 4, tmax * t / 4.0);
            else fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", x0 - 6, y + 4, t / 4.0);
        }
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, top + ph, x0 + pw, top + ph);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", x0, top, x0, top + ph);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">difficulty</text>\n", x0 + pw / 2, top + ph + 36);
    }
    double slot = nb ? (double)pw / (double)nb : pw;
    /* accuracy line */
    fprintf(f, "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
    for (size_t i = 0; i < nb; i++) fprintf(f, "%s%.1f,%.1f", i ? " " : "", lx + slot * ((double)i + 0.5), top + ph - ph * b[i].acc);
    fprintf(f, "\"/>\n");
    for (size_t i = 0; i < nb; i++) {
        double x = lx + slot * ((double)i + 0.5), y = top + ph - ph * b[i].acc;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f77b4\"><title>difficulty %d: accuracy %.3f (%zu samples)</title></circle>\n",
                x, y, b[i].d, b[i].acc, b[i].n);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, top + ph + 16, b[i].d);
    }
    /* token bars */
    for (size_t i = 0; i < nb; i++) {
        double bw = slot * 0.35, x = rx + slot * (double)i + slot * 0.15;
        double h1 = ph * b[i].think / tmax, h2 = ph * b[i].answer / tmax;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#ff7f0e\"><title>difficulty %d: %.1f thinking tokens</title></rect>\n",
                x, top + ph - h1, bw, h1, b[i].d, b[i].think);
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2ca02c\"><title>difficulty %d: %.1f answer tokens</title></rect>\n",
                x + bw, top + ph - h2, bw, h2, b[i].d, b[i].answer);
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", rx + slot * ((double)i + 0.5), top + ph + 16, b[i].d);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#ff7f0e\"/><text x=\"%d\" y=\"%d\">thinking</text>\n",
            rx + pw - 150, top - 4 + ph + 40, rx + pw - 136, top + 5 + ph + 40);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"#2ca02c\"/><text x=\"%d\" y=\"%d\">answer</text>\n",
            rx + pw - 70, top - 4 + ph + 40, rx + pw - 56, top + 5 + ph + 40);
    fprintf(f, "</svg>\n");
    free(b);
    if (fclose(f) != 0) return pd_fail(PD_ERR_IO, "%s: write failed", path);
    return PD_OK;
}
