/* ponder/outfile.h — output files that are checked before the work starts, written with every
 * write checked (flush, fsync and close included), and never left half-written under their final
 * name: a regular file is written to "<path>.tmp" in the same folder and renamed over <path> on
 * commit (the temp file is removed on abort or failure); a special file (a terminal, a pipe,
 * /dev/null, /dev/full, /dev/stdout) is written in place. Every writer in ponder (GGUF, plots, logs,
 * records, reports) goes through here, and every verb's standard output through pd_out_close_stdout. */
#ifndef PONDER_OUTFILE_H
#define PONDER_OUTFILE_H
#include "ponder/error.h"
#include <stdbool.h>
#include <stdio.h>

/* Can `path` be written? Not a directory; a special file must be writable; for a regular (or new)
 * file its folder must exist and be writable. Error (PD_ERR_IO) like "--out: cannot create 'x/y.gguf':
 * folder 'x' does not exist" (what, e.g. "--out", may be NULL). Checks only: nothing is created. */
pd_status pd_out_check(const char *path, const char *what);

/* Do a and b name the same regular file? (same device and inode when both exist, else the same
 * normalised path.) For "a verb never writes over its own input". */
bool pd_out_same_file(const char *a, const char *b);

typedef struct pd_outfile pd_outfile;
/* Open `path` for writing (binary). NULL after pd_fail (PD_ERR_IO naming the path) when it cannot. */
pd_outfile *pd_out_open(const char *path);
FILE *pd_out_fp(pd_outfile *o);        /* the stream to write */
const char *pd_out_path(const pd_outfile *o);  /* the final path */
/* Finish: flush, check the stream's error flag, fsync, close, rename into place (and fsync the
 * folder). Frees o. On any failure the temp file is removed, the previous file at path is left
 * unchanged, and PD_ERR_IO names the path and the system's reason. o may be NULL (PD_ERR_ARG).
 * Test hook: with PD_TEST_KILL_IN_SAVE set in the environment the process kills itself (SIGKILL)
 * after the temp file is complete and before the rename, as a crash there would. */
pd_status pd_out_commit(pd_outfile *o);
/* Give up: close and remove the temp file (the previous file at path stays). NULL is fine. */
void pd_out_abort(pd_outfile *o);
/* Write the whole buffer to path through the above (open, write, commit). */
pd_status pd_out_write_all(const char *path, const void *data, size_t n);

/* Flush and close standard output, reporting a failed write (a full disk, /dev/full, a closed
 * pipe) as PD_ERR_IO "standard output: write failed: <why>". Call once, at the very end. */
pd_status pd_out_close_stdout(void);

#endif
