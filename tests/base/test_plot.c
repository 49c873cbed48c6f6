/* tests/base/test_plot.c — ponder/plot.h: SVG coordinates against a hand-computed layout, a PNG
 * decoded back with libpng (size, a line pixel, a bar pixel, the frame, background), format errors
 * that name the path and leave no file behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/plot.h"

static char dir[64];

static const char *tmp(const char *name) {
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static char *slurp(const char *path) {
    size_t n;
    char *s = pd_read_file(path, &n);
    assert_non_null(s);
    return s;
}

/* 400x300, no title: plot area x 64..384, y 28..256 (ponder/plot.h layout). */
static void test_svg_coordinates(void **st) {
    (void)st;
    double x1[3] = {0, 5, 10}, y1[3] = {0, 2, 4};                 /* fixed range 0..10 x 0..4 */
    pd_plot_series s1 = {.name = "a<b", .kind = PD_PLOT_LINE, .color = 0x123456, .x = x1, .y = y1, .n = 3};
    double x2[4] = {1, 2, 3, 4}, y2[4] = {3, 7, NAN, 5};          /* auto: x 1..4, y 0..nice(7)=10 */
    pd_plot_series s2 = {.name = "auto", .kind = PD_PLOT_LINE, .color = 0xabcdef, .x = x2, .y = y2, .n = 4};
    double x3[2] = {1, 2}, y3[2] = {1, 100};                      /* log: 0..2 decades */
    pd_plot_series s3 = {.kind = PD_PLOT_POINTS, .color = 0x00ff00, .width = 3, .x = x3, .y = y3, .n = 2};
    pd_plot_panel pn[3] = {
        {.title = "fixed", .xmin = 0, .xmax = 10, .ymin = 0, .ymax = 4, .series = &s1, .n_series = 1},
        {.series = &s2, .n_series = 1},
        {.logy = true, .series = &s3, .n_series = 1},
    };
    const char *path = tmp("a.svg");
    for (int k = 0; k < 3; k++) {
        pd_plot p = {.width = 400, .height = 300, .panels = &pn[k], .n_panels = 1};
        assert_int_equal(pd_plot_write(&p, path), PD_OK);
        char *svg = slurp(path);
        assert_memory_equal(svg, "<svg ", 5);
        assert_non_null(strstr(svg, "</svg>"));
        if (k == 0) {
            /* X = 64 + x/10*320, Y = 256 - y/4*228 */
            assert_non_null(strstr(svg, "stroke=\"#123456\""));
            assert_non_null(strstr(svg, "points=\"64.00,256.00 224.00,142.00 384.00,28.00\""));
            assert_non_null(strstr(svg, ">a&lt;b</text>"));
            assert_non_null(strstr(svg, ">fixed</text>"));
        } else if (k == 1) {
            /* X = 64 + (x-1)/3*320; Y = 256 - y/10*228; the NaN breaks the line in two */
            assert_non_null(strstr(svg, "points=\"64.00,187.60 170.67,96.40\""));
            assert_non_null(strstr(svg, "points=\"384.00,142.00\""));
            assert_non_null(strstr(svg, ">10</text>")); /* top tick of the rounded-up range */
        } else {
            /* log10 y in 0..2: Y = 256 - v/2*228 */
            assert_non_null(strstr(svg, "<circle cx=\"64.00\" cy=\"256.00\" r=\"3\""));
            assert_non_null(strstr(svg, "<circle cx=\"384.00\" cy=\"28.00\" r=\"3\""));
            assert_non_null(strstr(svg, ">100</text>"));
            assert_non_null(strstr(svg, ">10</text>"));
        }
        free(svg);
    }
    assert_false(exists(tmp("a.svg.tmp")));
    remove(path);
}

static uint8_t *read_png(const char *path, int *w, int *h) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(px);
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    *w = (int)img.width;
    *h = (int)img.height;
    return px;
}

static uint32_t pixel(const uint8_t *px, int w, int x, int y) {
    const uint8_t *q = px + ((size_t)y * (size_t)w + (size_t)x) * 3;
    return (uint32_t)q[0] << 16 | (uint32_t)q[1] << 8 | q[2];
}

static void test_png(void **st) {
    (void)st;
    /* plot area x 64..384, y 28..256; range x 0..10, y 0..4 */
    double lx[2] = {0, 10}, ly[2] = {2, 2};   /* horizontal line at Y = 256 - 2/4*228 = 142 */
    double bx[2] = {2, 8}, by[2] = {3, 1};    /* slot 2 → bar 1.4 wide: x=8 spans X 297.6..342.4, y=1 → Y 199..256 */
    pd_plot_series s[2] = {
        {.kind = PD_PLOT_BARS, .color = 0x00a000, .x = bx, .y = by, .n = 2},
        {.kind = PD_PLOT_LINE, .color = 0xff0000, .width = 3, .x = lx, .y = ly, .n = 2},
    };
    pd_plot_panel pn = {.xlabel = "step", .ylabel = "loss", .xmin = 0, .xmax = 10, .ymin = 0, .ymax = 4, .series = s, .n_series = 2};
    pd_plot p = {.width = 400, .height = 300, .panels = &pn, .n_panels = 1};
    const char *path = tmp("b.PNG");
    assert_int_equal(pd_plot_write(&p, path), PD_OK);
    int w, h;
    uint8_t *px = read_png(path, &w, &h);
    assert_int_equal(w, 400);
    assert_int_equal(h, 300);
    assert_int_equal(pixel(px, w, 150, 141), 0xff0000); /* rows 141 and 142 straddle Y = 142 */
    assert_int_equal(pixel(px, w, 150, 142), 0xff0000);
    assert_int_equal(pixel(px, w, 320, 230), 0x00a000); /* inside the x=8 bar */
    assert_int_equal(pixel(px, w, 320, 190), 0xffffff); /* above it, between grid lines */
    assert_int_equal(pixel(px, w, 64, 100), 0x000000);  /* the frame's left edge */
    assert_int_equal(pixel(px, w, 3, 3), 0xffffff);     /* background corner */
    assert_int_equal(pixel(px, w, 320, 142), 0xff0000); /* the line above the x=8 bar (bar top at 199) */
    free(px);
    assert_false(exists(tmp("b.PNG.tmp")));
    remove(path);
}

static void test_errors(void **st) {
    (void)st;
    double x[1] = {1}, y[1] = {1};
    pd_plot_series s = {.kind = PD_PLOT_LINE, .x = x, .y = y, .n = 1};
    pd_plot_panel pn = {.series = &s, .n_series = 1};
    pd_plot p = {.panels = &pn, .n_panels = 1};
    const char *bad[3] = {tmp("c.jpg"), tmp("nosuffix"), tmp("d.svg.d/plot")};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pd_plot_write(&p, bad[i]), PD_ERR_UNSUPPORTED);
        assert_non_null(strstr(pd_last_error(), bad[i]));
        assert_false(exists(bad[i]));
    }
    /* an unwritable place: IO error naming it, nothing left behind */
    const char *nowhere = tmp("no/such/dir/e.png");
    assert_int_equal(pd_plot_write(&p, nowhere), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "no/such/dir/e.png"));
    /* malformed descriptions */
    pd_plot_series s0 = {.kind = PD_PLOT_LINE, .n = 3};
    pd_plot_panel p0 = {.series = &s0, .n_series = 1};
    pd_plot q = {.panels = &p0, .n_panels = 1};
    assert_int_equal(pd_plot_write(&q, tmp("f.svg")), PD_ERR_ARG);
    assert_false(exists(tmp("f.svg")));
    assert_false(exists(tmp("f.svg.tmp")));
    q.n_panels = 0;
    assert_int_equal(pd_plot_write(&q, tmp("f.png")), PD_ERR_ARG);
    pd_plot_panel lg = {.logy = true, .ymin = -1, .ymax = 10, .series = &s, .n_series = 1};
    pd_plot r = {.panels = &lg, .n_panels = 1};
    assert_int_equal(pd_plot_write(&r, tmp("g.png")), PD_ERR_ARG);
    assert_false(exists(tmp("g.png")));
    assert_false(exists(tmp("g.png.tmp")));
    /* data far outside a fixed range is clipped, not a crash; a span that overflows is an error */
    double hx[3] = {0, 1, 2}, hy[3] = {0.5, 1e308, -1e308};
    pd_plot_series hs[3] = {{.kind = PD_PLOT_LINE, .marker = 2, .x = hx, .y = hy, .n = 3},
                            {.kind = PD_PLOT_BARS, .x = hx, .y = hy, .n = 3},
                            {.kind = PD_PLOT_POINTS, .x = hx, .y = hy, .n = 3}};
    pd_plot_panel hp = {.xmin = 0, .xmax = 2, .ymin = 0, .ymax = 1, .series = hs, .n_series = 3};
    pd_plot h = {.panels = &hp, .n_panels = 1};
    assert_int_equal(pd_plot_write(&h, tmp("h.png")), PD_OK);
    assert_int_equal(pd_plot_write(&h, tmp("h.svg")), PD_OK);
    remove(tmp("h.png"));
    remove(tmp("h.svg"));
    hp.ymin = hp.ymax = 0;
    assert_int_equal(pd_plot_write(&h, tmp("i.png")), PD_ERR_RANGE);
    assert_non_null(strstr(pd_last_error(), "i.png"));
    assert_false(exists(tmp("i.png")));
}

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/pd_plot_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    return rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_svg_coordinates),
        cmocka_unit_test(test_png),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
