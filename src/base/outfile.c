/* base/outfile.c — checked, atomic output files and the checked close of standard output
 * (ponder/outfile.h): preflight of output paths, temp file + fsync + rename on commit, unlink on
 * abort, in-place writing for special files. */
#include "ponder/outfile.h"
#include "ponder/alloc.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pd_outfile {
    FILE *f;
    char *path, *tmp;           /* tmp NULL: written in place (special file) */
};

/* the folder holding path ("." for a bare name), malloc'd */
static char *folder_of(const char *path) {
    char *d = pd_strdup(path);
    if (!d) return NULL;
    char *slash = strrchr(d, '/');
    while (slash && slash > d && slash[1] == 0) { /* "dir/" names dir itself */
        *slash = 0;
        slash = strrchr(d, '/');
    }
    if (!slash) { free(d); return pd_strdup("."); }
    if (slash == d) slash[1] = 0; /* "/x" → "/" */
    else *slash = 0;
    return d;
}

#define WHAT(w) (w) ? (w) : "", (w) ? ": " : ""

pd_status pd_out_check(const char *path, const char *what) {
    if (!path || !*path) return pd_fail(PD_ERR_ARG, "%s%sempty output path", WHAT(what));
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return pd_fail(PD_ERR_IO, "%s%s'%s' is a directory, not a file", WHAT(what), path);
        if (!S_ISREG(st.st_mode)) {
            if (access(path, W_OK) != 0)
                return pd_fail(PD_ERR_IO, "%s%scannot write '%s': %s", WHAT(what), path, strerror(errno));
            return PD_OK;
        }
    } else if (errno != ENOENT) {
        return pd_fail(PD_ERR_IO, "%s%scannot create '%s': %s", WHAT(what), path, strerror(errno));
    } else if (path[strlen(path) - 1] == '/') {
        return pd_fail(PD_ERR_IO, "%s%s'%s' names a folder, not a file", WHAT(what), path);
    }
    char *dir = folder_of(path);
    if (!dir) return PD_ERR_NOMEM;
    pd_status s = PD_OK;
    if (stat(dir, &st) != 0)
        s = pd_fail(PD_ERR_IO, "%s%scannot create '%s': folder '%s' does not exist", WHAT(what), path, dir);
    else if (!S_ISDIR(st.st_mode))
        s = pd_fail(PD_ERR_IO, "%s%scannot create '%s': '%s' is not a folder", WHAT(what), path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        s = pd_fail(PD_ERR_IO, "%s%scannot create '%s': folder '%s' is not writable", WHAT(what), path, dir);
    free(dir);
    return s;
}

bool pd_out_same_file(const char *a, const char *b) {
    if (!a || !b) return false;
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) /* a device or a pipe may be written twice */
        return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* one does not exist yet: compare the paths with their folders resolved */
    char *da = folder_of(a), *db = folder_of(b);
    char *ra = da ? realpath(da, NULL) : NULL, *rb = db ? realpath(db, NULL) : NULL;
    const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
    ba = ba ? ba + 1 : a;
    bb = bb ? bb + 1 : b;
    bool same = ra && rb ? !strcmp(ra, rb) && !strcmp(ba, bb) : !strcmp(a, b);
    free(da); free(db); free(ra); free(rb);
    return same;
}

pd_outfile *pd_out_open(const char *path) {
    if (!path || !*path) { pd_fail(PD_ERR_ARG, "empty output path"); return NULL; }
    pd_outfile *o = pd_calloc(1, sizeof *o);
    if (!o || !(o->path = pd_strdup(path))) {
        free(o);
        pd_fail(PD_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    struct stat st;
    bool special = stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
    if (!special) {
        size_t l = strlen(path);
        if (!(o->tmp = pd_malloc(l + 5))) { free(o->path); free(o); pd_fail(PD_ERR_NOMEM, "%s: out of memory", path); return NULL; }
        memcpy(o->tmp, path, l);
        memcpy(o->tmp + l, ".tmp", 5);
    }
    const char *open_path = o->tmp ? o->tmp : path;
    o->f = fopen(open_path, "wb");
    if (!o->f) {
        pd_fail(PD_ERR_IO, "%s: cannot create: %s", open_path, strerror(errno));
        free(o->tmp); free(o->path); free(o);
        return NULL;
    }
    if (o->tmp) setvbuf(o->f, NULL, _IOFBF, 1 << 20);
    return o;
}

FILE *pd_out_fp(pd_outfile *o) { return o ? o->f : NULL; }
const char *pd_out_path(const pd_outfile *o) { return o ? o->path : NULL; }

static void out_free(pd_outfile *o) {
    free(o->tmp);
    free(o->path);
    free(o);
}

void pd_out_abort(pd_outfile *o) {
    if (!o) return;
    if (o->f) fclose(o->f);
    if (o->tmp) unlink(o->tmp);
    out_free(o);
}

static void fsync_folder(const char *path) {
    char *dir = folder_of(path);
    if (!dir) return;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) { (void)fsync(dfd); close(dfd); }
    free(dir);
}

/* Test hook: PD_TEST_KILL_IN_SAVE=N kills the process inside its N-th commit of a temp file (between
 * fsync and rename), so tests can make a kill land mid-save deterministically. */
static bool kill_in_save_now(void) {
    static int commits;
    const char *v = getenv("PD_TEST_KILL_IN_SAVE");
    if (!v) return false;
    long n = strtol(v, NULL, 10);
    return ++commits >= (n > 0 ? n : 1);
}

pd_status pd_out_commit(pd_outfile *o) {
    if (!o) return pd_fail(PD_ERR_ARG, "pd_out_commit: no file");
    int e = 0;
    errno = 0;
    if (fflush(o->f) != 0) e = errno ? errno : EIO;
    if (!e && ferror(o->f)) e = errno ? errno : EIO;
    /* fsync of a special file (a pipe, /dev/null) fails with EINVAL/EROFS: only files are synced */
    if (!e && o->tmp && fsync(fileno(o->f)) != 0) e = errno ? errno : EIO;
    if (fclose(o->f) != 0 && !e) e = errno ? errno : EIO;
    o->f = NULL;
    if (!e && o->tmp && kill_in_save_now()) raise(SIGKILL);
    if (!e && o->tmp && rename(o->tmp, o->path) != 0) e = errno ? errno : EIO;
    if (e) {
        pd_status st = pd_fail(PD_ERR_IO, "%s: write failed: %s%s", o->path, strerror(e),
                               o->tmp ? " (previous file left unchanged)" : "");
        if (o->tmp) unlink(o->tmp);
        out_free(o);
        return st;
    }
    if (o->tmp) fsync_folder(o->path);
    out_free(o);
    return PD_OK;
}

pd_status pd_out_write_all(const char *path, const void *data, size_t n) {
    pd_outfile *o = pd_out_open(path);
    if (!o) return PD_ERR_IO;
    if (n && fwrite(data, 1, n, o->f) != n) {
        int e = errno ? errno : EIO;
        pd_out_abort(o);
        return pd_fail(PD_ERR_IO, "%s: write failed: %s (previous file left unchanged)", path, strerror(e));
    }
    return pd_out_commit(o);
}

pd_status pd_out_close_stdout(void) {
    errno = 0;
    int e = 0;
    if (fflush(stdout) != 0) e = errno ? errno : EIO;
    if (!e && ferror(stdout)) e = errno ? errno : EIO;
    if (fclose(stdout) != 0 && !e && errno != EBADF) e = errno ? errno : EIO;
    if (e) return pd_fail(PD_ERR_IO, "standard output: write failed: %s", strerror(e));
    return PD_OK;
}
