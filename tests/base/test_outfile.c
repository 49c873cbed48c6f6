/* tests/base/test_outfile.c — base/outfile.c: preflight of output paths, atomic commit (nothing under the
 * final name before it, the previous file kept on abort or failure, no temp file left), special files
 * written in place, a full device reported, same-file detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "ponder/outfile.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static const char *path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}
static bool exists(const char *p) { struct stat st; return stat(p, &st) == 0; }
static char *slurp(const char *p) {
    static char b[256];
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    size_t n = fread(b, 1, sizeof b - 1, f);
    fclose(f);
    b[n] = 0;
    return b;
}

static int setup(void **st) {
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/pd_test_outfile_%d", (int)getpid());
    return mkdir(dir, 0700);
}
static int teardown(void **st) {
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_check(void **st) {
    (void)st;
    assert_int_equal(pd_out_check(path("new.txt"), "--out"), PD_OK);
    assert_int_equal(pd_out_check(path("nope/x.txt"), "--out"), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "--out: cannot create"));
    assert_non_null(strstr(pd_last_error(), "does not exist"));
    assert_int_equal(pd_out_check(dir, "--log"), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "is a directory"));
    assert_int_equal(pd_out_check("/dev/null", NULL), PD_OK);
    assert_int_equal(pd_out_check("", "--out"), PD_ERR_ARG);
    assert_false(exists(path("new.txt"))); /* checking creates nothing */
}

static void test_commit_and_abort(void **st) {
    (void)st;
    const char *p = path("a.txt"), *tmp = path("a.txt.tmp");
    pd_outfile *o = pd_out_open(p);
    assert_non_null(o);
    assert_string_equal(pd_out_path(o), p);
    fputs("first", pd_out_fp(o));
    assert_false(exists(p)); /* nothing under the final name before the commit */
    assert_true(exists(tmp));
    assert_int_equal(pd_out_commit(o), PD_OK);
    assert_string_equal(slurp(p), "first");
    assert_false(exists(tmp));
    /* an aborted rewrite leaves the previous file and no temp file */
    o = pd_out_open(p);
    assert_non_null(o);
    fputs("second, half written", pd_out_fp(o));
    pd_out_abort(o);
    assert_string_equal(slurp(p), "first");
    assert_false(exists(tmp));
    pd_out_abort(NULL);
    assert_int_equal(pd_out_write_all(p, "third", 5), PD_OK);
    assert_string_equal(slurp(p), "third");
    assert_null(pd_out_open(path("nope/b.txt")));
    assert_non_null(strstr(pd_last_error(), "cannot create"));
}

static void test_special_files(void **st) {
    (void)st;
    /* a device is written in place: /dev/null stays a character device */
    assert_int_equal(pd_out_write_all("/dev/null", "x", 1), PD_OK);
    struct stat sb;
    assert_int_equal(stat("/dev/null", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
    if (stat("/dev/full", &sb) != 0 || !S_ISCHR(sb.st_mode)) { printf("  (no /dev/full: skipped)\n"); return; }
    /* a full device: the write (or flush) fails, reported with the path, the device left as it was */
    pd_outfile *o = pd_out_open("/dev/full");
    assert_non_null(o);
    fputs("no room", pd_out_fp(o));
    assert_int_equal(pd_out_commit(o), PD_ERR_IO);
    assert_non_null(strstr(pd_last_error(), "/dev/full: write failed"));
    assert_int_equal(stat("/dev/full", &sb), 0);
    assert_true(S_ISCHR(sb.st_mode));
}

static void test_same_file(void **st) {
    (void)st;
    char a[512];
    snprintf(a, sizeof a, "%s", path("s.txt"));
    assert_int_equal(pd_out_write_all(a, "s", 1), PD_OK);
    char alias[600];
    snprintf(alias, sizeof alias, "%s/./s.txt", dir);
    assert_true(pd_out_same_file(a, alias));          /* both exist: same inode */
    assert_true(pd_out_same_file(path("t.txt"), path("t.txt")));   /* neither exists: same path */
    snprintf(alias, sizeof alias, "%s/../%s/t.txt", dir, strrchr(dir, '/') + 1);
    assert_true(pd_out_same_file(path("t.txt"), alias));          /* folders resolved */
    assert_false(pd_out_same_file(a, path("t.txt")));
    assert_false(pd_out_same_file("/dev/null", "/dev/null"));     /* a device may be written twice */
    assert_false(pd_out_same_file(a, NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_commit_and_abort),
        cmocka_unit_test(test_special_files),
        cmocka_unit_test(test_same_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
