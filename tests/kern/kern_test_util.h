/* tests/kern/kern_test_util.h — helpers shared by the kern tests: random rows and comparisons. */
#ifndef PD_KERN_TEST_UTIL_H
#define PD_KERN_TEST_UTIL_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "ponder/kern.h"
#include "ponder/rng.h"

static inline void fill_normal(pd_rng *r, float *x, int64_t n, double sd) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(pd_rng_normal(r) * sd);
}

/* |a-b| <= atol + rtol*|b| for every element; prints the first failure. */
static inline int close_all(const float *a, const float *b, int64_t n, double atol, double rtol, const char *what) {
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i]))) {
            fprintf(stderr, "%s: element %lld: %.9g vs %.9g (diff %.3g)\n", what, (long long)i, a[i], b[i], d);
            return 0;
        }
    }
    return 1;
}

#endif
