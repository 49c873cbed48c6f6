/* tasks/graph.c — shortest paths in undirected unweighted graphs. Half of the items are random
 * graphs (2d+4 nodes: a hidden s-t path of d edges plus random edges up to 1.3 per node, each
 * added only if it keeps dist(s, t) = d), half
 * are path-star graphs (a centre with 3 arms of length d; the target is the end of one arm, the
 * trap of next-token prediction). Node labels are shuffled. Difficulty = shortest distance d
 * (1-12). Trace: BFS layers, then the path read back through parents. Answer: nodes joined by
 * "-". The verifier checks the path starts and ends right, uses only given edges and has the
 * shortest length. */
#include "tasks_int.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GR_MAXD 12
#define GR_MAXN 64
#define GR_MAXE 160

typedef struct { int n, ne, ea[GR_MAXE], eb[GR_MAXE]; unsigned char adj[GR_MAXN][GR_MAXN]; } graph;

static void add_edge(graph *g, int a, int b) {
    if (a == b || g->adj[a][b] || g->ne >= GR_MAXE) return;
    g->adj[a][b] = g->adj[b][a] = 1;
    g->ea[g->ne] = a;
    g->eb[g->ne] = b;
    g->ne++;
}

/* BFS distances and parents (first discovered, neighbours in ascending label order). */
static void bfs(const graph *g, int s, int *dist, int *par) {
    int q[GR_MAXN], h = 0, t = 0;
    for (int i = 0; i < g->n; i++) dist[i] = -1, par[i] = -1;
    dist[s] = 0;
    q[t++] = s;
    while (h < t) {
        int u = q[h++];
        for (int v = 0; v < g->n; v++)
            if (g->adj[u][v] && dist[v] < 0) { dist[v] = dist[u] + 1; par[v] = u; q[t++] = v; }
    }
}

static pd_status gr_gen(pd_rng *r, int d, pd_task_item *out, pd_buf *key) {
    graph *g = pd_calloc(1, sizeof *g);
    if (!g) return PD_ERR_NOMEM;
    int star = (int)pd_rng_below(r, 2), s = 0, t = 0;
    int dist[GR_MAXN], par[GR_MAXN];
    for (int attempt = 0;; attempt++) {
        if (attempt > 10000) { free(g); return pd_fail(PD_ERR_RANGE, "graph: no instance at distance %d", d); }
        memset(g, 0, sizeof *g);
        int lab[GR_MAXN];
        if (star) {
            g->n = 1 + 3 * d;
            for (int i = 0; i < g->n; i++) lab[i] = i;
            tk_shuffle(r, lab, g->n);
            for (int arm = 0; arm < 3; arm++)
                for (int k = 0; k < d; k++) add_edge(g, lab[k == 0 ? 0 : 1 + arm * d + k - 1], lab[1 + arm * d + k]);
            s = lab[0];
            t = lab[1 + (int)pd_rng_below(r, 3) * d + d - 1];
        } else {
            /* a hidden path of length d, then extra edges that keep dist(s, t) == d */
            g->n = 2 * d + 4;
            for (int i = 0; i < g->n; i++) lab[i] = i;
            tk_shuffle(r, lab, g->n);
            for (int k = 0; k < d; k++) add_edge(g, lab[k], lab[k + 1]);
            s = lab[0];
            t = lab[d];
            int dt[GR_MAXN], pt[GR_MAXN];
            int m = g->n * 13 / 10;
            bfs(g, s, dist, par);
            bfs(g, t, dt, pt);
            for (int tries = 0; g->ne < m && tries < 40 * m; tries++) {
                int a = (int)pd_rng_below(r, (uint64_t)g->n), b = (int)pd_rng_below(r, (uint64_t)g->n);
                if (a == b || g->adj[a][b]) continue;
                int da = dist[a] < 0 ? GR_MAXN : dist[a], db = dist[b] < 0 ? GR_MAXN : dist[b];
                int ta = dt[a] < 0 ? GR_MAXN : dt[a], tb = dt[b] < 0 ? GR_MAXN : dt[b];
                if (da + 1 + tb < d || db + 1 + ta < d) continue;
                add_edge(g, a, b);
                bfs(g, s, dist, par);
                bfs(g, t, dt, pt);
            }
        }
        break;
    }
    /* shuffle edge order and orientation for the prompt */
    int ord[GR_MAXE];
    for (int i = 0; i < g->ne; i++) ord[i] = i;
    tk_shuffle(r, ord, g->ne);
    pd_buf pr = {0}, tr = {0}, an = {0}, meta = {0};
    pd_buf_printf(&pr, "Edges:");
    pd_buf_printf(&meta, "{\"kind\":\"%s\",\"n\":%d,\"s\":%d,\"t\":%d,\"dist\":%d,\"edges\":[", star ? "path-star" : "random",
                  g->n, s, t, d);
    for (int i = 0; i < g->ne; i++) {
        int a = g->ea[ord[i]], b = g->eb[ord[i]];
        if (pd_rng_below(r, 2)) { int x = a; a = b; b = x; }
        pd_buf_printf(&pr, " %d-%d", a, b);
        pd_buf_printf(&meta, i ? ",[%d,%d]" : "[%d,%d]", a, b);
    }
    pd_buf_printf(&meta, "]}");
    pd_buf_printf(&pr, ". Find a shortest path from %d to %d.", s, t);
    /* key: sorted canonical edges + s,t */
    int ke[GR_MAXE];
    for (int i = 0; i < g->ne; i++) {
        int a = g->ea[i], b = g->eb[i];
        ke[i] = a < b ? a * GR_MAXN + b : b * GR_MAXN + a;
    }
    for (int a = 1; a < g->ne; a++)
        for (int b = a; b > 0 && ke[b - 1] > ke[b]; b--) { int x = ke[b]; ke[b] = ke[b - 1]; ke[b - 1] = x; }
    for (int i = 0; i < g->ne; i++) pd_buf_printf(key, "%d,", ke[i]);
    pd_buf_printf(key, "%d>%d", s, t);
    /* trace: BFS layers until t */
    bfs(g, s, dist, par);
    for (int lv = 1; lv <= d; lv++) {
        pd_buf_printf(&tr, "level %d:", lv);
        for (int v = 0; v < g->n; v++)
            if (dist[v] == lv) pd_buf_printf(&tr, " %d", v);
        pd_buf_printf(&tr, "\n");
    }
    int path[GR_MAXN], np = 0;
    for (int v = t; v >= 0; v = par[v]) path[np++] = v;
    pd_buf_printf(&tr, "%d reached at level %d; back:", t, d);
    for (int i = 0; i + 1 < np; i++) pd_buf_printf(&tr, " %d from %d%s", path[i], path[i + 1], i + 2 < np ? "," : "");
    for (int i = np - 1; i >= 0; i--) pd_buf_printf(&an, i == np - 1 ? "%d" : "-%d", path[i]);
    pd_buf_printf(&tr, "\nso %s", an.data);
    out->prompt = tk_take(&pr);
    out->reasoning = tk_take(&tr);
    out->answer = tk_take(&an);
    out->meta = tk_take(&meta);
    free(g);
    return PD_OK;
}

/* The last run of numbers joined by "-", ",", ">" or spaces (on one line), as the path. */
static char *gr_extract(const char *region) {
    const char *e = region + strlen(region);
    while (e > region && !isdigit((unsigned char)e[-1])) e--;
    if (e == region) return NULL;
    const char *b = e;
    while (b > region && (isdigit((unsigned char)b[-1]) || strchr(" -,>", b[-1]))) b--;
    while (b < e && !isdigit((unsigned char)*b)) b++;
    return pd_strndup(b, (size_t)(e - b));
}

static void gr_check(const pd_task_item *it, const char *ans, pd_verdict *v) {
    cJSON *m = it->meta ? cJSON_Parse(it->meta) : NULL;
    const cJSON *jn = m ? cJSON_GetObjectItemCaseSensitive(m, "n") : NULL, *js = m ? cJSON_GetObjectItemCaseSensitive(m, "s") : NULL,
                *jt = m ? cJSON_GetObjectItemCaseSensitive(m, "t") : NULL, *je = m ? cJSON_GetObjectItemCaseSensitive(m, "edges") : NULL;
    if (!cJSON_IsNumber(jn) || !cJSON_IsNumber(js) || !cJSON_IsNumber(jt) || !cJSON_IsArray(je) || jn->valuedouble < 1 ||
        jn->valuedouble > GR_MAXN || !(fabs(js->valuedouble) <= GR_MAXN) || !(fabs(jt->valuedouble) <= GR_MAXN)) {
        cJSON_Delete(m);
        tk_verdict(v, 0.0, "item has no graph meta", ans);
        return;
    }
    graph *g = pd_calloc(1, sizeof *g);
    if (!g) { cJSON_Delete(m); tk_verdict(v, 0.0, "out of memory", ans); return; }
    g->n = (int)jn->valuedouble;
    int s = (int)js->valuedouble, t = (int)jt->valuedouble;
    const cJSON *e;
    cJSON_ArrayForEach(e, je) {
        const cJSON *a = cJSON_GetArrayItem(e, 0), *b = cJSON_GetArrayItem(e, 1);
        if (cJSON_IsNumber(a) && cJSON_IsNumber(b) && a->valuedouble >= 0 && a->valuedouble < g->n && b->valuedouble >= 0 &&
            b->valuedouble < g->n)
            add_edge(g, (int)a->valuedouble, (int)b->valuedouble);
    }
    cJSON_Delete(m);
    const char *reason = "correct";
    double score = 1.0;
    int path[GR_MAXN * 2], np = 0, bad = 0;
    for (const char *p = ans; *p;) {
        if (isdigit((unsigned char)*p)) {
            long x = 0;
            while (isdigit((unsigned char)*p)) { if (x < 100000) x = x * 10 + (*p - '0'); p++; }
            if (np >= GR_MAXN * 2 || x >= g->n) { bad = 1; break; }
            path[np++] = (int)x;
        } else if (strchr(" -,>", *p)) p++;
        else { bad = 1; break; }
    }
    int dist[GR_MAXN], par[GR_MAXN];
    if (s >= 0 && s < g->n) bfs(g, s, dist, par);
    if (bad || np == 0 || s < 0 || s >= g->n || t < 0 || t >= g->n) { score = 0; reason = "not a path"; }
    else if (path[0] != s || path[np - 1] != t) { score = 0; reason = "wrong endpoints"; }
    else {
        for (int i = 0; i + 1 < np; i++)
            if (!g->adj[path[i]][path[i + 1]]) { score = 0; reason = "uses a missing edge"; break; }
        if (score > 0 && np - 1 != dist[t]) { score = 0; reason = "not shortest"; }
    }
    free(g);
    tk_verdict(v, score, reason, ans);
}

const pd_task pd_task_graph = {"graph", "shortest path in a random or path-star graph",
                               "shortest distance in edges (1-12)", 1, GR_MAXD, 3, gr_gen, gr_extract, gr_check};
