/* tests/fixtures.h — the one skip mechanism for C tests that read the shared fixtures
 * (PD_SHARED_DIR "/fixtures/", a CMake cache variable; default ../shared next to the checkout,
 * or $PD_SHARED_DIR at configure time). A user's clone has no fixtures: such cases are SKIPPED,
 * never failed, and the executable exits 77 (CTest's SKIP_RETURN_CODE) when nothing failed but
 * something was skipped, so `ctest` reports the test as skipped with the reason in its output.
 *
 *   #include "fixtures.h"                  (after <cmocka.h>)
 *   static void test_x(void **st) { PD_NEED_FIXTURES(); ... PD_FIXTURES "models/tiny-llama.gguf" ... }
 *   int main(void) { ...; return pd_run_tests(tests, setup, teardown); }
 *
 * PD_NEED_FIXTURES() may sit in a helper the test calls (it jumps out of the running case); a group
 * setup must not fail when the fixtures are missing (leave its state NULL, the cases skip). */
#ifndef PD_TESTS_FIXTURES_H
#define PD_TESTS_FIXTURES_H

#include <stdio.h>
#include <unistd.h>

#define PD_FIXTURES PD_SHARED_DIR "/fixtures/"
#define PD_SKIP_RC 77

static int pd_fixture_skips_;

/* true when the fixtures directory can be read */
static inline int pd_have_fixtures(void) { return access(PD_FIXTURES, R_OK | X_OK) == 0; }

/* Skip the running cmocka case, saying why, when the fixtures are missing. */
#define PD_NEED_FIXTURES()                                                                          \
    do {                                                                                            \
        if (!pd_have_fixtures()) {                                                                  \
            pd_fixture_skips_++;                                                                    \
            printf("SKIPPED: needs the shared fixtures, not found at %s "                           \
                   "(configure with -DPD_SHARED_DIR=DIR or PD_SHARED_DIR=DIR cmake ...)\n",         \
                   PD_FIXTURES);                                                                    \
            skip();                                                                                 \
        }                                                                                           \
    } while (0)

/* cmocka's result, or PD_SKIP_RC when no case failed and at least one was skipped for fixtures. */
static inline int pd_fixture_result_(int failed, size_t n) {
    if (failed || !pd_fixture_skips_) return failed;
    printf("SKIPPED: %d of %zu cases need the shared fixtures (%s missing); the other %zu passed\n",
           pd_fixture_skips_, n, PD_FIXTURES, n - (size_t)pd_fixture_skips_);
    return PD_SKIP_RC;
}
#define pd_run_tests(tests, setup, teardown)                                                        \
    pd_fixture_result_(cmocka_run_group_tests(tests, setup, teardown), sizeof(tests) / sizeof((tests)[0]))

#endif
