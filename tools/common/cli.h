/* Shared helpers for the command-line tools: argument parsing with clear messages, errors from
 * the library, JSON output and the "what machine, which command" header benchmarks print. */
#ifndef DP_TOOLS_CLI_H
#define DP_TOOLS_CLI_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "dataparallel.h"

/* Each parser prints "PROG: --opt: ..." to stderr and returns -1 on a bad value, 0 on success. */
int dpc_parse_int(const char *opt, const char *s, long min, long max, long *out);
int dpc_parse_double(const char *opt, const char *s, double min, double max, double *out);
/* Comma-separated lists; *n gets the count (at most cap). */
int dpc_parse_int_list(const char *opt, const char *s, long min, long max, long *out, int cap, int *n);
int dpc_parse_double_list(const char *opt, const char *s, double min, double max, double *out, int cap, int *n);
int dpc_parse_precision(const char *s, dp_precision *out);
int dpc_parse_backend(const char *s, dp_model_backend *out);

/* Program name used in messages (set once from main). */
void dpc_set_prog(const char *prog);
const char *dpc_prog(void);

/* Print "PROG: what: DP_ERR_X: message" for a failed status; returns 1 (an exit code). */
int dpc_fail(dp_status s, const char *what);
/* Print "PROG: message" and return 2 (usage error exit code). */
int dpc_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write JSON to path ("-" = stdout). Returns 0 or prints an error and returns 1. */
int dpc_write_json(const char *path, const cJSON *json);

/* Add "machine" (CPU model, cores), "command" (argv joined), "library" (version, build info) and
 * "commit" (DP_GIT_COMMIT env or "unknown") to obj. */
void dpc_add_provenance(cJSON *obj, int argc, char **argv);
/* The CPU model name from /proc/cpuinfo (static storage). */
const char *dpc_cpu_model(void);

/* Read/write a whole text file; NULL / -1 on failure (message printed). */
char *dpc_read_file(const char *path);

#endif
