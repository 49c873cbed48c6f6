/* tests/base/test_base.c — base layer: rng determinism and distribution, checked arithmetic,
 * buffers, error messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "ponder/alloc.h"
#include "ponder/error.h"
#include "ponder/rng.h"

static void test_rng_deterministic(void **st) {
    (void)st;
    pd_rng a, b;
    pd_rng_seed(&a, 42);
    pd_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_int_equal(pd_rng_u64(&a), pd_rng_u64(&b));
    /* Fixed first output of xoshiro256** seeded by splitmix64(0): computed by hand from the
     * published reference algorithm; guards against silent changes to every seeded stream. */
    pd_rng_seed(&a, 0);
    uint64_t x = 0, s[4];
    for (int i = 0; i < 4; i++) {
        uint64_t z = (x += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        s[i] = z ^ (z >> 31);
    }
    uint64_t r = s[1] * 5;
    r = ((r << 7) | (r >> 57)) * 9;
    assert_int_equal(pd_rng_u64(&a), r);
}

static void test_rng_stats(void **st) {
    (void)st;
    pd_rng r;
    pd_rng_seed(&r, 7);
    double sum = 0, sq = 0;
    int n = 200000, counts[10] = {0};
    for (int i = 0; i < n; i++) {
        double z = pd_rng_normal(&r);
        sum += z;
        sq += z * z;
        counts[pd_rng_below(&r, 10)]++;
    }
    assert_true(fabs(sum / n) < 0.01);
    assert_true(fabs(sq / n - 1.0) < 0.02);
    for (int i = 0; i < 10; i++) assert_true(abs(counts[i] - n / 10) < 800);
    for (int i = 0; i < 1000; i++) {
        int64_t v = pd_rng_range(&r, -3, 3);
        assert_true(v >= -3 && v <= 3);
    }
}

static void test_checked_math(void **st) {
    (void)st;
    size_t out;
    assert_true(pd_mul_ok(1000, 1000, &out));
    assert_int_equal(out, 1000000);
    assert_false(pd_mul_ok(SIZE_MAX / 2, 3, &out));
    assert_false(pd_add_ok(SIZE_MAX, 1, &out));
    assert_null(pd_calloc(SIZE_MAX / 2, 3));
    assert_non_null(strstr(pd_last_error(), "overflow"));
}

static void test_buf_and_errors(void **st) {
    (void)st;
    pd_buf b = {0};
    for (int i = 0; i < 1000; i++) assert_int_equal(pd_buf_printf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 2000);
    assert_memory_equal(b.data, "0,1,2,", 6);
    pd_buf_free(&b);
    assert_int_equal(pd_fail(PD_ERR_FORMAT, "key %s at offset %d", "x", 12), PD_ERR_FORMAT);
    pd_fail_ctx(PD_ERR_FORMAT, "file.gguf");
    assert_string_equal(pd_last_error(), "file.gguf: key x at offset 12");
    assert_null(pd_read_file("/nonexistent/zzz", NULL));
    assert_non_null(strstr(pd_last_error(), "/nonexistent/zzz"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_rng_stats),
        cmocka_unit_test(test_checked_math),
        cmocka_unit_test(test_buf_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
