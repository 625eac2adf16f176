/* Shared helpers for the command-line tools (their flags: flags.h): messages, errors from the
 * library, JSON output and the "what machine, which command" provenance benchmarks print. */
#ifndef DP_TOOLS_CLI_H
#define DP_TOOLS_CLI_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "dataparallel.h"

/* Program name used in messages (set once from main). */
void dpc_set_prog(const char *prog);
const char *dpc_prog(void);

/* Print "PROG: what: DP_ERR_X: message" for a failed status; returns 1 (an exit code). */
int dpc_fail(dp_status s, const char *what);
/* Print "PROG: message" and a pointer to --help; return 2 (the exit status of bad usage). */
int dpc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* dp_model_load() with --calibration FILE read into mo->calibration (NULL: none) for the call.
 * Returns 0, or prints the error (naming the flag) and returns an exit code. */
int dpc_model_load(const char *arch, const char *weights, const char *calibration, dp_model_opts *mo, dp_model **out);

/* Write JSON to path ("-" = stdout). Returns 0 or prints an error and returns 1. */
int dpc_write_json(const char *path, const cJSON *json);

/* Add "machine" (CPU model, cores), "command" (argv joined), "library" (version, build info) and
 * "commit" (DP_GIT_COMMIT env or "unknown") to obj. */
void dpc_add_provenance(cJSON *obj, int argc, char **argv);
/* The CPU model name from /proc/cpuinfo (static storage). */
const char *dpc_cpu_model(void);

/* Read a whole text file; NULL on failure (message printed). */
char *dpc_read_file(const char *path);

#endif
