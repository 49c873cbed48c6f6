/* base/progress.c — terminal progress bar / plain progress lines with rate and ETA. */
#include "ponder/progress.h"
#include "ponder/timer.h"
#include <string.h>
#include <unistd.h>

void pd_progress_start(pd_progress *p, FILE *out, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    p->out = out;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "it");
    p->total = total;
    p->t0 = pd_time_now();
    p->last_draw = 0;
    p->plain_every_s = 10.0;
    p->is_tty = out && isatty(fileno(out));
}

static void fmt_time(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) { snprintf(buf, n, "--:--"); return; }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

static void draw(pd_progress *p, const char *extra, int final) {
    double now = pd_time_now(), el = now - p->t0;
    double rate = el > 0 ? (double)p->done / el : 0;
    double eta = (rate > 0 && p->total > 0) ? (double)(p->total - p->done) / rate : -1;
    char eb[32], tb[32];
    fmt_time(eb, sizeof eb, eta);
    fmt_time(tb, sizeof tb, el);
    if (p->is_tty) {
        int width = 30, fill = p->total > 0 ? (int)(width * (double)p->done / (double)p->total) : 0;
        if (fill > width) fill = width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(p->out, "\r\033[K%s [%s] %lld/%lld %.1f %s/s %s ETA %s%s%s", p->label, bar, (long long)p->done,
                (long long)p->total, rate, p->unit, tb, eb, extra ? "  " : "", extra ? extra : "");
        if (final) fputc('\n', p->out);
    } else {
        fprintf(p->out, "%s %lld/%lld (%.1f%%) %.1f %s/s elapsed %s ETA %s%s%s\n", p->label, (long long)p->done,
                (long long)p->total, p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 0.0, rate, p->unit, tb,
                eb, extra ? "  " : "", extra ? extra : "");
    }
    fflush(p->out);
    p->last_draw = now;
}

void pd_progress_update(pd_progress *p, int64_t done, const char *extra) {
    if (!p->out) return;
    p->done = done;
    double now = pd_time_now();
    double every = p->is_tty ? 0.1 : p->plain_every_s;
    if (now - p->last_draw >= every) draw(p, extra, 0);
}

void pd_progress_finish(pd_progress *p, const char *extra) {
    if (!p->out) return;
    draw(p, extra, 1);
}
