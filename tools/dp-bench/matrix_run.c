/* dp-bench matrix — the stream benchmark over archs x strategies x workers x rates x engines.
 *
 * Every run is a child process — this executable's `stream` for libdataparallel, a script's
 * `stream` for the other engines (mx_engines) — so one run's peak RSS and CPU never pollute the
 * next, and a crash costs one cell, not the matrix. With several engines, they run interleaved
 * cell by cell, so load from other users of the machine hits them alike. After every run the
 * results are rewritten (matrix_render.c), so an interrupted matrix keeps what it measured; each
 * run's JSON, log and (with --jsonl) per-sample records go to DIR/cells/. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "matrix.h"

extern char **environ;

/* A bound on runs, far beyond a day of cells, so that a typo in a list is caught before it starts. */
#define MAX_RUNS 100000

static const mx_engine engines[] = {
    {"libdataparallel", NULL, 0, NULL},
    {"pytorch", "benchmarks/pytorch_baseline.py", 1, NULL},
    /* Needs node and onnxruntime-node (scripts/deps --ort), which a machine may lack. */
    {"onnxruntime", "benchmarks/ort_baseline.py", 0, "available"},
};
#define NENGINES (sizeof engines / sizeof engines[0])

const char *const *dpb_engine_names(void) {
    static const char *names[NENGINES + 1];
    for (size_t i = 0; i < NENGINES; i++) names[i] = engines[i].name;
    return names;
}

static const char *const layouts[] = {"data-parallel", "pipeline", "hybrid", NULL};

const char *const *dpb_layout_names(void) { return layouts; }

/* Stages of W workers in a layout; 0: the layout does not apply to W (a pipeline of one worker is
 * data parallel; a hybrid needs 2 replicas of 2 stages at least). */
static int layout_stages(const char *layout, int W) {
    if (strcmp(layout, "pipeline") == 0) return W > 1 ? W : 0;
    if (strcmp(layout, "hybrid") == 0) return W >= 4 && W % 2 == 0 ? 2 : 0;
    return 1;
}

static const mx_engine *engine_named(const char *name) {
    for (size_t i = 0; i < NENGINES; i++)
        if (strcmp(engines[i].name, name) == 0) return &engines[i];
    return NULL; /* not reached: the flag only takes these names */
}

static int mkdir_p(const char *path) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* SCRIPT (a path relative to the source tree) under $DP_SOURCE_DIR, else <exe>/../../SCRIPT
 * (the usual build/bin/dp-bench inside the source tree), into path. 0 when it can be read. */
static int locate(const char *script, char path[PATH_MAX]) {
    const char *src = getenv("DP_SOURCE_DIR");
    if (src && *src && snprintf(path, PATH_MAX, "%s/%s", src, script) < PATH_MAX && access(path, R_OK) == 0) return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        if (snprintf(path, PATH_MAX, "%s/../../%s", dirname(exe), script) < PATH_MAX && access(path, R_OK) == 0)
            return 0;
    }
    return -1;
}

/* An engine's script: --baseline where it applies, else locate(). Static storage per engine;
 * NULL with a usage message when it cannot be read. */
static const char *find_script(const dpb_opts *o, const mx_engine *e) {
    static char paths[NENGINES][PATH_MAX];
    char *path = paths[e - engines];
    if (e->baseline_flag && o->baseline) {
        if (access(o->baseline, R_OK) == 0) return o->baseline;
        dpc_usage_error("--baseline: cannot read %s: %s", o->baseline, strerror(errno));
        return NULL;
    }
    if (locate(e->script, path) == 0) return path;
    dpc_usage_error("--engines %s: cannot find %s; set DP_SOURCE_DIR%s", e->name, e->script,
                    e->baseline_flag ? " or pass --baseline PATH" : "");
    return NULL;
}

static void run_name(const mx_run *r, char *buf, size_t cap) {
    int len = snprintf(buf, cap, "%s_%s_%s_w%d_r%g", r->engine->name, r->arch, r->strategy, r->workers, r->rate);
    if (r->stages > 1 && len > 0 && (size_t)len < cap)
        len += snprintf(buf + len, cap - (size_t)len, "_%s_s%d", r->layout, r->stages);
    if (r->repeat > 0 && len > 0 && (size_t)len < cap) snprintf(buf + len, cap - (size_t)len, "_%d", r->repeat + 1);
}

/* Spawn path with argv, stdout+stderr to log_path; wait; return its exit code (or 128+signal, or
 * -2 when it could not be started). */
static int spawn_wait(const char *path, char *const argv[], const char *log_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int err = posix_spawn(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        fprintf(stderr, "%s: cannot start %s: %s\n", dpc_prog(), argv[0], strerror(err));
        return -2;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -2;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int execute(const dpb_opts *o, const char *const *scripts, mx_run *r, const char *cells_dir) {
    char name[256], json[PATH_MAX], jsonl[PATH_MAX], log[PATH_MAX];
    char workers[32], threads[32], rate[64], samples[32], max_batch[32], weights[PATH_MAX], stages[32];
    run_name(r, name, sizeof name);
    if (snprintf(json, sizeof json, "%s/%s.json", cells_dir, name) >= (int)sizeof json ||
        snprintf(jsonl, sizeof jsonl, "%s/%s.jsonl", cells_dir, name) >= (int)sizeof jsonl ||
        snprintf(log, sizeof log, "%s/%s.log", cells_dir, name) >= (int)sizeof log) {
        fprintf(stderr, "%s: output path too long: %s\n", dpc_prog(), cells_dir);
        return r->exit_code = -2;
    }
    snprintf(workers, sizeof workers, "%d", r->workers);
    snprintf(threads, sizeof threads, "%ld", o->threads);
    snprintf(rate, sizeof rate, "%.17g", r->rate);
    snprintf(samples, sizeof samples, "%ld", r->samples);
    snprintf(max_batch, sizeof max_batch, "%ld", o->max_batch);
    char *argv[40];
    int n = 0;
    const char *script = scripts[r->engine - engines];
    if (script) {
        argv[n++] = (char *)o->python;
        argv[n++] = (char *)script;
    } else {
        argv[n++] = "dp-bench";
    }
    char *common[] = {"stream",  "--arch",  (char *)r->arch, "--strategy", (char *)r->strategy, "--workers",
                      workers,   "--threads", threads,      "--rate",      rate,                 "--samples",
                      samples,   "--max-batch", max_batch,  "--data",      (char *)o->data,      "--json",
                      json};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) argv[n++] = common[i];
    if (o->weights_dir) {
        snprintf(weights, sizeof weights, "%s/%s.npz", o->weights_dir, r->arch);
        argv[n++] = "--weights";
        argv[n++] = weights;
    }
    if (o->keep_jsonl) {
        argv[n++] = "--jsonl";
        argv[n++] = jsonl;
    }
    if (r->stages > 1) {
        snprintf(stages, sizeof stages, "%d", r->stages);
        argv[n++] = "--stages";
        argv[n++] = stages;
    }
    argv[n] = NULL;
    remove(json);
    int64_t t0 = dp_now_ns();
    /* Ours runs /proc/self/exe itself, not the path it was started from: that keeps working when
     * the binary is rebuilt (replaced) during a long matrix. */
    r->exit_code = spawn_wait(script ? argv[0] : "/proc/self/exe", argv, log);
    r->seconds = (double)(dp_now_ns() - t0) / 1e9;
    if (r->exit_code != 0) return r->exit_code;
    char *text = dpc_read_file(json);
    r->summary = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!r->summary) {
        fprintf(stderr, "%s: %s: no valid JSON in %s (see %s)\n", dpc_prog(), name, json, log);
        r->exit_code = -3;
    }
    return r->exit_code;
}

static void fmt_duration(double s, char *buf, size_t cap) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

/* Progress bar and ETA on stderr: redrawn in place on a terminal, one line per run otherwise.
 * The ETA weights the remaining runs by their source time (samples / rate) plus the measured
 * mean start-up cost, which tracks the matrix better than a plain mean when cells differ. */
static void progress(const mx_run *runs, int n, int done, double elapsed, int tty) {
    double work_done = 0, work_left = 0;
    for (int i = 0; i < n; i++) {
        double w = (double)runs[i].samples / runs[i].rate + 2.0; /* ~2 s to start a worker pool */
        if (i < done) work_done += w;
        else work_left += w;
    }
    double eta = done > 0 && work_done > 0 ? elapsed / work_done * work_left : work_left;
    char el[32], et[32], bar[31];
    fmt_duration(elapsed, el, sizeof el);
    fmt_duration(eta, et, sizeof et);
    int fill = n ? (int)(30.0 * done / n) : 30;
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    const mx_run *next = done < n ? &runs[done] : NULL;
    fprintf(stderr, "%s[%s] %d/%d runs  %s elapsed  ETA %s", tty ? "\r\033[K" : "", bar, done, n, el, et);
    if (next)
        fprintf(stderr, "  next: %s %s %s W=%d @%g/s", next->engine->name, next->arch, next->strategy, next->workers,
                next->rate);
    fputs(tty ? "" : "\n", stderr);
    fflush(stderr);
}

static void report_run(const mx_run *r, int tty) {
    if (tty) fputs("\r\033[K", stderr);
    if (!r->summary) {
        fprintf(stderr, "  %-15s %-17s %-9s W=%d %g/s: FAILED (exit %d, see cells/*.log)\n", r->engine->name, r->arch,
                r->strategy, r->workers, r->rate, r->exit_code);
        return;
    }
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(r->summary, "latency_ms");
    fprintf(stderr, "  %-15s %-17s %-9s W=%d S=%d %g/s: %8.1f samples/s (%5.1f%%)  p50 %8.2f ms  p99 %8.2f ms  [%.0f s]\n",
            r->engine->name, r->arch, r->strategy, r->workers, r->stages, r->rate, mx_num(r->summary, "throughput"),
            mx_num(r->summary, "efficiency_pct"), mx_num(lat, "p50"), mx_num(lat, "p99"), r->seconds);
}

typedef struct plan_ctx {
    const dpb_opts *o;
    mx_run *runs;
    int n, repeat;
} plan_ctx;

static void add_run(const mx_cell *c, void *user) {
    plan_ctx *p = user;
    const mx_engine *eng = engine_named(c->engine);
    int S = layout_stages(c->layout, c->workers);
    if (S == 0 || (S > 1 && eng->script)) return;
    p->runs[p->n++] = (mx_run){.engine = eng,
                               .repeat = p->repeat,
                               .arch = c->arch,
                               .strategy = c->strategy,
                               .workers = c->workers,
                               .layout = c->layout,
                               .stages = S,
                               .rate = c->rate,
                               .samples = p->o->samples > 0 ? p->o->samples : (long)(c->rate * 10 + 0.5),
                               .exit_code = -1};
}

/* Every run in order: repeats outermost, so that a slow spell of the machine hits one repeat of
 * every cell rather than every repeat of one cell; layouts and engines innermost, so all see the
 * same moment. Only libdataparallel runs layouts other than data-parallel, and only where the
 * layout applies to the worker count. *n: how many runs (at most the product of the lists). */
static mx_run *plan(const dpb_opts *o, int cap, int *n) {
    plan_ctx p = {.o = o, .runs = calloc((size_t)cap, sizeof(mx_run))};
    if (!p.runs) return NULL;
    for (p.repeat = 0; p.repeat < o->repeat; p.repeat++) mx_each_cell(o, add_run, &p);
    *n = p.n;
    return p.runs;
}

/* Drop the requested engines whose probe says they cannot run here, each with one line saying
 * why: a missing optional peer shortens the matrix instead of failing every one of its runs. */
static void skip_unavailable(dpb_opts *o, const char *const *scripts, const char *cells_dir) {
    int kept = 0;
    for (int e = 0; e < o->engines.n; e++) {
        const mx_engine *eng = engine_named(o->engines.v[e]);
        if (eng->probe) {
            char log[PATH_MAX];
            char *const argv[] = {(char *)o->python, (char *)scripts[eng - engines], (char *)eng->probe, NULL};
            if (snprintf(log, sizeof log, "%s/%s_%s.log", cells_dir, eng->name, eng->probe) >= (int)sizeof log ||
                spawn_wait(o->python, argv, log) != 0) {
                char *why = dpc_read_file(log);
                size_t len = why ? strcspn(why, "\n") : 0;
                fprintf(stderr, "%s: engine %s skipped: %.*s\n", dpc_prog(), eng->name, (int)len, why ? why : "");
                free(why);
                continue;
            }
        }
        o->engines.v[kept++] = o->engines.v[e];
    }
    o->engines.n = kept;
}

/* --report: the plots, then the page, each a script of benchmarks/ run on the output directory. */
static const char *const report_steps[] = {"benchmarks/plot.py", "benchmarks/report.py"};
#define NREPORT (sizeof report_steps / sizeof report_steps[0])

static int write_report(const dpb_opts *o, char scripts[NREPORT][PATH_MAX]) {
    for (size_t i = 0; i < NREPORT; i++) {
        char log[PATH_MAX];
        char *const argv[] = {(char *)o->python, scripts[i], (char *)o->out, NULL};
        if (snprintf(log, sizeof log, "%s/%s.log", o->out, strrchr(report_steps[i], '/') + 1) >= (int)sizeof log ||
            spawn_wait(o->python, argv, log) != 0) {
            fprintf(stderr, "%s: --report: %s failed (see %s)\n", dpc_prog(), report_steps[i], log);
            return -1;
        }
    }
    fprintf(stderr, "%s: wrote %s/index.html and %s/plots/\n", dpc_prog(), o->out, o->out);
    return 0;
}

int dpb_matrix(const dpc_command *cmd, int argc, char **argv) {
    dpb_opts o;
    int rc = dpb_parse(cmd, argc, argv, &o);
    if (rc != DPC_CONTINUE) return rc;
    const char *scripts[NENGINES] = {0};
    for (int e = 0; e < o.engines.n; e++) {
        const mx_engine *eng = engine_named(o.engines.v[e]);
        if (eng->script && !(scripts[eng - engines] = find_script(&o, eng))) return DPC_EXIT_USAGE;
    }
    char report_scripts[NREPORT][PATH_MAX];
    for (size_t i = 0; o.report && i < NREPORT; i++)
        if (locate(report_steps[i], report_scripts[i]) != 0)
            return dpc_usage_error("--report: cannot find %s; set DP_SOURCE_DIR", report_steps[i]);
    for (int a = 0; o.weights_dir && a < o.archs.n; a++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.npz", o.weights_dir, o.archs.v[a]);
        if (access(path, R_OK) != 0) return dpc_usage_error("--weights-dir: cannot read %s: %s", path, strerror(errno));
    }
    char cells_dir[PATH_MAX];
    if (snprintf(cells_dir, sizeof cells_dir, "%s/cells", o.out) >= (int)sizeof cells_dir || mkdir_p(cells_dir) != 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", dpc_prog(), cells_dir, strerror(errno));
        return DPC_EXIT_FAILED;
    }
    skip_unavailable(&o, scripts, cells_dir);
    double total = (double)o.repeat * o.archs.n * o.strategies.n * o.workers_list.n * o.rates.n * o.engines.n *
                   o.layouts.n;
    if (total > MAX_RUNS) return dpc_usage_error("the matrix has %.0f runs; at most %d", total, MAX_RUNS);
    int n = 0;
    mx_run *runs = plan(&o, (int)total, &n);
    if (!runs) return dpc_fail(DP_ERR_NOMEM, "matrix");
    if (n == 0) {
        free(runs);
        return dpc_usage_error("--layouts: none applies to --workers (pipeline needs 2 or more, hybrid an even 4 or more)");
    }
    int tty = isatty(2);
    fprintf(stderr, "%s: %d runs (%ld repeats x %d archs x %d rates x %d worker counts x %d strategies x %d layouts x %d "
                    "engines, where they apply) -> %s/\n",
            dpc_prog(), n, o.repeat, o.archs.n, o.rates.n, o.workers_list.n, o.strategies.n, o.layouts.n, o.engines.n,
            o.out);
    /* The command as typed, for the provenance of results.json / results.md. */
    char *typed[argc + 1];
    typed[0] = "dp-bench";
    for (int i = 0; i < argc; i++) typed[i + 1] = argv[i];
    int64_t t0 = dp_now_ns();
    int failures = 0;
    for (int i = 0; i < n; i++) {
        progress(runs, n, i, (double)(dp_now_ns() - t0) / 1e9, tty);
        if (execute(&o, scripts, &runs[i], cells_dir) != 0) failures++;
        report_run(&runs[i], tty);
        rc = mx_write_results(&o, runs, i + 1, argc + 1, typed);
    }
    progress(runs, n, n, (double)(dp_now_ns() - t0) / 1e9, tty);
    if (tty) fputc('\n', stderr);
    fprintf(stderr, "%s: wrote %s/results.csv, results.json, results.md (%d of %d runs succeeded)\n", dpc_prog(),
            o.out, n - failures, n);
    for (int i = 0; i < n; i++) cJSON_Delete(runs[i].summary);
    free(runs);
    if (o.report && write_report(&o, report_scripts) != 0) rc = DPC_EXIT_FAILED;
    return rc || failures ? DPC_EXIT_FAILED : DPC_EXIT_OK;
}
