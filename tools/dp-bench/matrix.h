/* dp-bench matrix: the engines it can run, one run of a cell, and writing the results.
 * matrix_run.c runs the cells; matrix_render.c turns what they measured into CSV, JSON and
 * Markdown. */
#ifndef DP_BENCH_MATRIX_H
#define DP_BENCH_MATRIX_H

#include <cjson/cJSON.h>

#include "bench.h"

/* An engine runs one cell as a child process: this executable's `stream`, or a script's
 * `stream` with the same flags and JSON fields. A new engine is one row of mx_engines. */
typedef struct mx_engine {
    const char *name;
    const char *script;  /* under benchmarks/, run with --python; NULL: dp-bench itself */
    int baseline_flag;   /* --baseline PATH replaces the script */
    const char *probe;   /* the script's subcommand that exits 0 when the engine can run here and
                            otherwise prints why; the matrix then skips the engine. NULL: always */
} mx_engine;

/* One run (cell x engine x repeat) and what it produced. */
typedef struct mx_run {
    const mx_engine *engine;
    int repeat;
    const char *arch, *strategy;
    int workers;
    const char *layout;  /* data-parallel, pipeline, hybrid */
    int stages;          /* 1, workers, 2 */
    double rate;
    long samples;
    int exit_code;       /* -1: not run yet */
    double seconds;
    cJSON *summary;      /* the child's --json, NULL if it failed */
} mx_run;

/* One cell of the matrix (engine x arch x strategy x workers x rate x layout): its runs are one
 * per repeat. */
typedef struct mx_cell {
    const char *engine, *arch, *strategy;
    double rate;
    int workers;
    const char *layout;
} mx_cell;

/* Every cell of the plan, in the order the runs of one repeat take (layouts and engines
 * innermost), into f(cell, user). */
void mx_each_cell(const dpb_opts *o, void (*f)(const mx_cell *, void *), void *user);

/* Rewrite DIR/results.{csv,json,md} from the first n runs; argv is the command as typed.
 * Returns 0, or 1 with a message printed. */
int mx_write_results(const dpb_opts *o, const mx_run *runs, int n, int argc, char **argv);

/* A number of a JSON object (0 when absent). */
double mx_num(const cJSON *obj, const char *key);

#endif
