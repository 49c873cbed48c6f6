/* fuzz/fuzz_train_config.c — `ponder train --config FILE --dry-run` on an arbitrary config file: the
 * line splitter (flags with or without "--", '#' comments, "flag=value"), every flag parser of train
 * and of the shared run flags (cli/run_flags.c, cli/args.c), and the checks made before a run starts
 * (cli_run_finish, output paths). Properties: the verb answers 0 (help, or the settings), 1 or 2
 * (usage error) and never anything else; a usage error prints nothing on stdout; an accepted config
 * prints one JSON object (valid UTF-8, parsed by cJSON) whose run settings are in range (steps and
 * batch >= 1, difficulty lo <= hi). A dry run writes nothing (outputs are only checked).
 * Sanitizer reports go to the original stderr; the verb's own messages are discarded.
 * fuzz-cli: cmd_train.c args.c run_flags.c outputs.c */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ponder/error.h"
#include "ponder/log.h"
#include "fuzz_util.h"

int pd_cmd_train(int argc, char **argv);
/* the sanitizers' runtime (absent from the plain replay build, hence weak) */
extern void __sanitizer_set_report_fd(void *fd) __attribute__((weak));

static int saved_err = -1, devnull = -1;
static FILE *capture;

static void setup(void) {
    saved_err = dup(2);
    devnull = open("/dev/null", O_WRONLY);
    capture = tmpfile();
    MUST(saved_err >= 0 && devnull >= 0 && capture != NULL);
    if (__sanitizer_set_report_fd) __sanitizer_set_report_fd((void *)(intptr_t)saved_err);
    pd_log_set_level(PD_LOG_QUIET);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (saved_err < 0) setup();
    char path[96];
    if (fuzz_temp_file(path, sizeof path, "traincfg", data, size) != 0) return 0;
    char *argv[] = {"train", "--config", path, "--dry-run", "--quiet", NULL};
    /* stdout into the capture file, stderr away, for the time of the call */
    fflush(stdout);
    int saved_out = dup(1);
    MUST(saved_out >= 0);
    MUST(ftruncate(fileno(capture), 0) == 0);
    rewind(capture);
    dup2(fileno(capture), 1);
    dup2(devnull, 2);
    pd_clear_error();
    int rc = pd_cmd_train(5, argv);
    fflush(stdout);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    unlink(path);
    MUST(rc == 0 || rc == 1 || rc == 2);
    long n = lseek(fileno(capture), 0, SEEK_END);
    MUST(n >= 0);
    if (rc == 2) MUST(n == 0);
    if (rc != 0 || n == 0) return 0;
    char *out = malloc((size_t)n + 1);
    MUST(out != NULL);
    MUST(pread(fileno(capture), out, (size_t)n, 0) == n);
    out[n] = 0;
    if (!strncmp(out, "usage: ponder train", 19)) { /* --help in the file */
        free(out);
        return 0;
    }
    MUST(utf8_valid(out, (size_t)n));
    cJSON *j = cJSON_Parse(out);
    MUST(j != NULL && cJSON_IsObject(j));
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(j, "run");
    MUST(cJSON_IsObject(run));
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(run, "steps");
    const cJSON *batch = cJSON_GetObjectItemCaseSensitive(run, "batch");
    const cJSON *dlo = cJSON_GetObjectItemCaseSensitive(run, "dlo");
    const cJSON *dhi = cJSON_GetObjectItemCaseSensitive(run, "dhi");
    MUST(cJSON_IsNumber(steps) && cJSON_IsNumber(batch) && cJSON_IsNumber(dlo) && cJSON_IsNumber(dhi));
    MUST(batch->valuedouble >= 1 && dlo->valuedouble <= dhi->valuedouble);
    /* a resumed run may keep the checkpoint's schedule (steps 0) */
    const cJSON *resume = cJSON_GetObjectItemCaseSensitive(run, "resume");
    MUST(steps->valuedouble >= 1 || cJSON_IsString(resume));
    cJSON_Delete(j);
    free(out);
    return 0;
}
