/* cli/outputs.h — checking a verb's output paths before it starts any work: each can be written
 * (base/outfile.c pd_out_check), no two are the same file, and none is one of the verb's inputs
 * (a verb never writes over what it reads). */
#ifndef PONDER_CLI_OUTPUTS_H
#define PONDER_CLI_OUTPUTS_H

/* a path and what names it in messages ("--out", "OUT", "-m", "the checkpoint"); NULL path: skipped */
typedef struct { const char *what, *path; } cli_path;

/* 0 when every output is writable, distinct from the others and from every input; else prints one
 * line and returns 2 (an output is an input or another output: a usage error) or 1 (cannot be
 * written). */
int cli_check_paths(const char *verb, const cli_path *outs, int n_out, const cli_path *ins, int n_in);

#endif
