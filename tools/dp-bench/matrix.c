/* dp-bench matrix — the stream benchmark over archs x strategies x workers x rates.
 *
 * Every run is a child process — this executable's `stream` for libdataparallel, and
 * benchmarks/pytorch_baseline.py `stream` for PyTorch — so one run's peak RSS and CPU never
 * pollute the next, and a crash costs one cell, not the matrix. With both engines, they run
 * interleaved cell by cell, so load from other users of the machine hits both alike.
 * Results go to DIR/results.csv (one row per run), results.json (every summary field) and
 * results.md (tables), rewritten after every run so an interrupted matrix keeps what it measured;
 * each run's JSON, log and (with --jsonl) per-sample records go to DIR/cells/. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

extern char **environ;

#define MAX_LIST 16

enum { ENGINE_OURS = 0, ENGINE_PYTORCH = 1 };
static const char *const engine_names[] = {"libdataparallel", "pytorch"};

typedef struct matrix_opts {
    char *archs[MAX_LIST], *strategies[MAX_LIST];
    int n_archs, n_strategies;
    long workers[MAX_LIST];
    int n_workers;
    double rates[MAX_LIST];
    int n_rates;
    int engines[2], n_engines;
    long samples;      /* 0: rate x 10 s */
    long threads, max_batch, repeat;
    const char *data;  /* NULL: the stream tools' default (synthetic) */
    const char *weights_dir; /* DIR/<arch>.npz for every run of arch; NULL: seeded weights */
    const char *out;
    const char *baseline, *python;
    int jsonl;
    char *lists;       /* copies of the list arguments the names point into (argv stays intact
                          for the provenance) */
} matrix_opts;

/* One run (cell x engine) and what it produced. */
typedef struct run {
    int engine, repeat;
    const char *arch, *strategy;
    int workers;
    double rate;
    long samples;
    int exit_code;     /* -1: not run yet */
    double seconds;
    cJSON *summary;    /* the child's --json, NULL if it failed */
} run;

static void usage(FILE *f) {
    fprintf(f,
            "usage: dp-bench matrix [options]\n"
            "  --arch LIST          architectures (default resnet18,mobilenet_v2)\n"
            "  --strategies LIST    uniform,sharded,dynamic,weighted (default: all four)\n"
            "  --workers LIST       worker counts (default 1,2,4)\n"
            "  --rates LIST         constant arrival rates in samples/s (default 500)\n"
            "  --samples N          samples per run (default rate x 10 s)\n"
            "  --threads T          threads per worker (default 1)\n"
            "  --max-batch B        micro-batch limit passed to stream (default 1)\n"
            "  --data SPEC          cifar10:FILE, fashion-mnist:PATH or synthetic (default synthetic)\n"
            "  --weights-dir DIR    load DIR/<arch>.npz in every run of <arch>, both engines (e.g. the\n"
            "                       models benchmarks/train.py writes; default: seeded weights)\n"
            "  --engines LIST       libdataparallel,pytorch (default libdataparallel); with both, the\n"
            "                       engines alternate cell by cell\n"
            "  --baseline PATH      benchmarks/pytorch_baseline.py (default: found from $DP_SOURCE_DIR\n"
            "                       or next to the build directory)\n"
            "  --python PATH        interpreter for the baseline (default $DP_PYTHON3 or /usr/bin/python3)\n"
            "  --jsonl              keep per-sample JSONL of every run in DIR/cells/ (latency CDFs)\n"
            "  --repeat N           run the whole matrix N times (default 1); results.md shows medians\n"
            "  --out DIR            output directory (default results)\n"
            "  --help\n"
            "Writes DIR/results.csv, DIR/results.json, DIR/results.md and DIR/cells/*.{json,log}.\n");
}

/* Split a comma list of names into out (pointers into s, which is modified). */
static int parse_names(const char *opt, char *s, const char *const *allowed, int n_allowed, char **out, int *n) {
    int count = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int ok = allowed == NULL;
        for (int i = 0; i < n_allowed && !ok; i++) ok = strcmp(tok, allowed[i]) == 0;
        if (!ok) return dpc_usage_error("%s: unknown value '%s'", opt, tok), -1;
        if (count == MAX_LIST) return dpc_usage_error("%s: more than %d values", opt, MAX_LIST), -1;
        out[count++] = tok;
    }
    if (count == 0) return dpc_usage_error("%s: empty list", opt), -1;
    *n = count;
    return 0;
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

/* The PyTorch baseline script: $DP_SOURCE_DIR/benchmarks/..., else <exe>/../../benchmarks/...
 * (the usual build/bin/dp-bench inside the source tree). */
static const char *find_baseline(void) {
    static char path[PATH_MAX];
    const char *src = getenv("DP_SOURCE_DIR");
    if (src && *src) {
        snprintf(path, sizeof path, "%s/benchmarks/pytorch_baseline.py", src);
        if (access(path, R_OK) == 0) return path;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    snprintf(path, sizeof path, "%s/../../benchmarks/pytorch_baseline.py", dirname(exe));
    return access(path, R_OK) == 0 ? path : NULL;
}

static void run_name(const run *r, char *buf, size_t cap) {
    if (r->repeat > 0)
        snprintf(buf, cap, "%s_%s_%s_w%d_r%g_%d", engine_names[r->engine], r->arch, r->strategy, r->workers, r->rate,
                 r->repeat + 1);
    else
        snprintf(buf, cap, "%s_%s_%s_w%d_r%g", engine_names[r->engine], r->arch, r->strategy, r->workers, r->rate);
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

static int execute(const matrix_opts *o, run *r, const char *cells_dir) {
    char name[256], json[PATH_MAX], jsonl[PATH_MAX], log[PATH_MAX];
    char workers[32], threads[32], rate[64], samples[32], max_batch[32], weights[PATH_MAX];
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
    if (r->engine == ENGINE_OURS) {
        argv[n++] = "dp-bench";
    } else {
        argv[n++] = (char *)o->python;
        argv[n++] = (char *)o->baseline;
    }
    char *common[] = {"stream", "--arch", (char *)r->arch, "--strategy", (char *)r->strategy, "--workers", workers,
                      "--threads", threads, "--rate", rate, "--samples", samples, "--max-batch", max_batch,
                      "--json", json};
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) argv[n++] = common[i];
    if (o->data) {
        argv[n++] = "--data";
        argv[n++] = (char *)o->data;
    }
    if (o->weights_dir) {
        snprintf(weights, sizeof weights, "%s/%s.npz", o->weights_dir, r->arch);
        argv[n++] = "--weights";
        argv[n++] = weights;
    }
    if (o->jsonl) {
        argv[n++] = "--jsonl";
        argv[n++] = jsonl;
    }
    argv[n] = NULL;
    remove(json);
    int64_t t0 = dp_now_ns();
    /* Ours runs /proc/self/exe itself, not the path it was started from: that keeps working when
     * the binary is rebuilt (replaced) during a long matrix. */
    r->exit_code = spawn_wait(r->engine == ENGINE_OURS ? "/proc/self/exe" : argv[0], argv, log);
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

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static const char *const latency_keys[] = {"mean", "p50", "p90", "p99", "p999", "max"};
static const char *const count_keys[] = {"offered", "completed", "dropped", "failed"};
static const char *const rate_keys[] = {"rate_accuracy_pct", "throughput", "efficiency_pct"};
static const char *const tail_keys[] = {"cpu_pct", "rss_mb", "elapsed_s"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The column order is shared with benchmarks/pytorch_baseline.py (CSV_FIELDS). */
static void write_csv_header(FILE *f) {
    fputs("engine,arch,strategy,workers,threads,rate,samples", f);
    for (size_t i = 0; i < COUNT(count_keys); i++) fprintf(f, ",%s", count_keys[i]);
    for (size_t i = 0; i < COUNT(rate_keys); i++) fprintf(f, ",%s", rate_keys[i]);
    for (size_t i = 0; i < COUNT(latency_keys); i++) fprintf(f, ",latency_%s_ms", latency_keys[i]);
    for (size_t i = 0; i < COUNT(tail_keys); i++) fprintf(f, ",%s", tail_keys[i]);
    fputs(",accuracy_pct\n", f);
}

static void write_csv_row(FILE *f, const matrix_opts *o, const run *r) {
    const cJSON *s = r->summary, *lat = cJSON_GetObjectItemCaseSensitive(s, "latency_ms");
    fprintf(f, "%s,%s,%s,%d,%ld,%g,%ld", engine_names[r->engine], r->arch, r->strategy, r->workers, o->threads,
            r->rate, r->samples);
    for (size_t i = 0; i < COUNT(count_keys); i++) fprintf(f, ",%.0f", num(s, count_keys[i]));
    for (size_t i = 0; i < COUNT(rate_keys); i++) fprintf(f, ",%.6g", num(s, rate_keys[i]));
    for (size_t i = 0; i < COUNT(latency_keys); i++) fprintf(f, ",%.6g", num(lat, latency_keys[i]));
    for (size_t i = 0; i < COUNT(tail_keys); i++) fprintf(f, ",%.6g", num(s, tail_keys[i]));
    /* Empty, not 0, for unlabelled data: there is no accuracy to report. */
    if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "accuracy_pct"))) fprintf(f, ",%.6g", num(s, "accuracy_pct"));
    else fputc(',', f);
    fputc('\n', f);
}

static cJSON *results_json(const matrix_opts *o, const run *runs, int n, int argc, char **argv) {
    cJSON *root = cJSON_CreateObject();
    dpc_add_provenance(root, argc, argv);
    cJSON *cells = cJSON_AddArrayToObject(root, "cells");
    for (int i = 0; i < n; i++) {
        const run *r = &runs[i];
        if (r->exit_code == -1) continue;
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "engine", engine_names[r->engine]);
        cJSON_AddStringToObject(c, "arch", r->arch);
        cJSON_AddStringToObject(c, "strategy", r->strategy);
        cJSON_AddNumberToObject(c, "workers", r->workers);
        cJSON_AddNumberToObject(c, "threads", (double)o->threads);
        cJSON_AddNumberToObject(c, "rate", r->rate);
        cJSON_AddNumberToObject(c, "samples", (double)r->samples);
        cJSON_AddNumberToObject(c, "repeat", r->repeat + 1);
        cJSON_AddBoolToObject(c, "ok", r->summary != NULL);
        cJSON_AddNumberToObject(c, "exit_code", r->exit_code);
        cJSON_AddNumberToObject(c, "run_seconds", r->seconds);
        if (r->summary) cJSON_AddItemReferenceToObject(c, "summary", r->summary);
        cJSON_AddItemToArray(cells, c);
    }
    return root;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double get_throughput(const cJSON *s) { return num(s, "throughput"); }
static double get_efficiency(const cJSON *s) { return num(s, "efficiency_pct"); }
static double get_p99(const cJSON *s) { return num(cJSON_GetObjectItemCaseSensitive(s, "latency_ms"), "p99"); }
/* Process CPU per completed sample: on a shared, loaded machine the steadiest measure of cost. */
static double get_cpu_ms(const cJSON *s) {
    double done = num(s, "completed");
    return done > 0 ? num(s, "cpu_pct") * 10.0 * num(s, "elapsed_s") / done : 0.0;
}

/* Median of get(summary) over the finished runs of (engine, arch, rate, strategy, workers), one
 * per repeat. Returns the number of runs (0: none, *out untouched). */
static int median_of(const run *runs, int n, int engine, const char *arch, double rate, const char *strategy,
                     int workers, double (*get)(const cJSON *), double *out) {
    double v[n > 0 ? n : 1];
    int m = 0;
    for (int i = 0; i < n; i++) {
        const run *r = &runs[i];
        if (r->summary && r->engine == engine && r->rate == rate && r->workers == workers &&
            strcmp(r->arch, arch) == 0 && strcmp(r->strategy, strategy) == 0)
            v[m++] = get(r->summary);
    }
    if (m == 0) return 0;
    qsort(v, (size_t)m, sizeof v[0], cmp_double);
    *out = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    return m;
}

/* Both engines side by side (medians over repeats): the comparison a reader looks for first. */
static void write_md_side_by_side(FILE *f, const matrix_opts *o, const run *runs, int n, const char *arch,
                                  double rate) {
    static double (*const cols[])(const cJSON *) = {get_throughput, get_p99, get_efficiency, get_cpu_ms};
    static const char *const fmt[] = {" %.1f |", " %.2f |", " %.1f |", " %.2f |"};
    if (o->repeat > 1) fprintf(f, "Medians of %ld repeats.\n\n", o->repeat);
    fprintf(f, "| strategy | workers | libdataparallel samples/s | p99 ms | efficiency %% | CPU ms/sample | "
               "PyTorch samples/s | p99 ms | efficiency %% | CPU ms/sample | throughput ratio |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int s = 0; s < o->n_strategies; s++) {
        for (int w = 0; w < o->n_workers; w++) {
            double thr[2] = {0, 0}, v;
            int have[2];
            fprintf(f, "| %s | %ld |", o->strategies[s], o->workers[w]);
            for (int e = 0; e < 2; e++) {
                have[e] = median_of(runs, n, e, arch, rate, o->strategies[s], (int)o->workers[w], get_throughput,
                                    &thr[e]);
                for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
                    if (have[e] && median_of(runs, n, e, arch, rate, o->strategies[s], (int)o->workers[w], cols[c], &v))
                        fprintf(f, fmt[c], v);
                    else
                        fputs(" – |", f);
                }
            }
            if (have[0] && have[1] && thr[1] > 0)
                fprintf(f, " %.2fx |\n", thr[0] / thr[1]);
            else
                fputs(" – |\n", f);
        }
    }
    fputc('\n', f);
}

static void write_md(FILE *f, const matrix_opts *o, const run *runs, int n, int argc, char **argv) {
    fprintf(f, "# Benchmark matrix\n\n");
    fprintf(f, "Machine: %s, %ld cores. Library %s. Commit %s.\n\nCommand:\n\n```\n", dpc_cpu_model(),
            sysconf(_SC_NPROCESSORS_ONLN), dp_version_string(),
            getenv("DP_GIT_COMMIT") && *getenv("DP_GIT_COMMIT") ? getenv("DP_GIT_COMMIT") : "unknown");
    for (int i = 0; i < argc; i++) fprintf(f, "%s%s", i ? " " : "", argv[i]);
    fprintf(f, "\n```\n\nEvery run is one `stream` process (%ld thread(s) per worker, data %s, weights %s). "
               "Latency counts from each sample's intended arrival time; efficiency = throughput / target rate; "
               "top-1 = accuracy_pct over the labelled completed samples.\n",
            o->threads, o->data ? o->data : "synthetic", o->weights_dir ? o->weights_dir : "seeded");
    for (int a = 0; a < o->n_archs; a++) {
        for (int q = 0; q < o->n_rates; q++) {
            fprintf(f, "\n## %s at %g samples/s\n\n", o->archs[a], o->rates[q]);
            if (o->n_engines == 2) write_md_side_by_side(f, o, runs, n, o->archs[a], o->rates[q]);
            fprintf(f, "| strategy | workers | engine | throughput (samples/s) | efficiency %% | p50 ms | p99 ms | "
                       "max ms | dropped | CPU %% | RSS MB | top-1 %% |\n"
                       "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (int i = 0; i < n; i++) {
                const run *r = &runs[i];
                if (r->exit_code == -1 || strcmp(r->arch, o->archs[a]) != 0 || r->rate != o->rates[q]) continue;
                if (!r->summary) {
                    fprintf(f, "| %s | %d | %s | failed (exit %d) | | | | | | | | |\n", r->strategy, r->workers,
                            engine_names[r->engine], r->exit_code);
                    continue;
                }
                const cJSON *s = r->summary, *lat = cJSON_GetObjectItemCaseSensitive(s, "latency_ms");
                fprintf(f, "| %s | %d | %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.0f | %.0f | %.0f |", r->strategy,
                        r->workers, engine_names[r->engine], num(s, "throughput"), num(s, "efficiency_pct"),
                        num(lat, "p50"), num(lat, "p99"), num(lat, "max"), num(s, "dropped"), num(s, "cpu_pct"),
                        num(s, "rss_mb"));
                if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(s, "accuracy_pct")))
                    fprintf(f, " %.2f |\n", num(s, "accuracy_pct"));
                else
                    fputs(" – |\n", f);
            }
        }
    }
}

/* Rewrite results.{csv,json,md} from every run so far. */
static int write_results(const matrix_opts *o, const run *runs, int n, int argc, char **argv) {
    char path[PATH_MAX];
    int rc = 0;
    snprintf(path, sizeof path, "%s/results.csv", o->out);
    FILE *f = fopen(path, "w");
    if (f) {
        write_csv_header(f);
        for (int i = 0; i < n; i++)
            if (runs[i].summary) write_csv_row(f, o, &runs[i]);
        rc |= fclose(f) != 0;
    } else {
        rc = 1;
    }
    snprintf(path, sizeof path, "%s/results.md", o->out);
    f = fopen(path, "w");
    if (f) {
        write_md(f, o, runs, n, argc, argv);
        rc |= fclose(f) != 0;
    } else {
        rc = 1;
    }
    if (rc) fprintf(stderr, "%s: cannot write results in %s: %s\n", dpc_prog(), o->out, strerror(errno));
    cJSON *root = results_json(o, runs, n, argc, argv);
    snprintf(path, sizeof path, "%s/results.json", o->out);
    rc |= root ? dpc_write_json(path, root) : 1;
    cJSON_Delete(root);
    return rc;
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
static void progress(const run *runs, int n, int done, double elapsed, int tty) {
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
    const run *next = done < n ? &runs[done] : NULL;
    fprintf(stderr, "%s[%s] %d/%d runs  %s elapsed  ETA %s", tty ? "\r\033[K" : "", bar, done, n, el, et);
    if (next)
        fprintf(stderr, "  next: %s %s %s W=%d @%g/s", engine_names[next->engine], next->arch, next->strategy,
                next->workers, next->rate);
    fputs(tty ? "" : "\n", stderr);
    fflush(stderr);
}

static void report_run(const run *r, int tty) {
    if (tty) fputs("\r\033[K", stderr);
    if (!r->summary) {
        fprintf(stderr, "  %-15s %-17s %-9s W=%d %g/s: FAILED (exit %d, see cells/*.log)\n", engine_names[r->engine],
                r->arch, r->strategy, r->workers, r->rate, r->exit_code);
        return;
    }
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(r->summary, "latency_ms");
    fprintf(stderr, "  %-15s %-17s %-9s W=%d %g/s: %8.1f samples/s (%5.1f%%)  p50 %8.2f ms  p99 %8.2f ms  [%.0f s]\n",
            engine_names[r->engine], r->arch, r->strategy, r->workers, r->rate, num(r->summary, "throughput"),
            num(r->summary, "efficiency_pct"), num(lat, "p50"), num(lat, "p99"), r->seconds);
}

static int parse_args(int argc, char **argv, matrix_opts *o) {
    static const char *const archs[] = {"resnet18", "mobilenet_v2", "resnet18_cifar", "mobilenetv2_cifar"};
    static const char *const strategies[] = {"uniform", "sharded", "dynamic", "weighted"};
    static const struct option longopts[] = {
        {"arch", required_argument, 0, 'a'},    {"strategies", required_argument, 0, 's'},
        {"workers", required_argument, 0, 'w'}, {"rates", required_argument, 0, 'r'},
        {"samples", required_argument, 0, 'n'}, {"threads", required_argument, 0, 't'},
        {"max-batch", required_argument, 0, 'b'}, {"data", required_argument, 0, 'd'},
        {"engines", required_argument, 0, 'e'}, {"baseline", required_argument, 0, 'B'},
        {"python", required_argument, 0, 'P'}, {"jsonl", no_argument, 0, 'j'},
        {"out", required_argument, 0, 'o'},     {"repeat", required_argument, 0, 'R'},
        {"weights-dir", required_argument, 0, 'W'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *py = getenv("DP_PYTHON3");
    *o = (matrix_opts){.threads = 1, .max_batch = 1, .repeat = 1, .out = "results", .python = py && *py ? py : "/usr/bin/python3"};
    const char *engines = NULL, *arch_list = "resnet18,mobilenet_v2", *strategy_list = "uniform,sharded,dynamic,weighted";
    const char *workers = "1,2,4", *rates = "500";
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': arch_list = optarg; break;
        case 's': strategy_list = optarg; break;
        case 'w': workers = optarg; break;
        case 'r': rates = optarg; break;
        case 'n': if (dpc_parse_int("--samples", optarg, 1, 1000000000L, &o->samples)) return 2; break;
        case 't': if (dpc_parse_int("--threads", optarg, 1, 1024, &o->threads)) return 2; break;
        case 'b': if (dpc_parse_int("--max-batch", optarg, 1, 4096, &o->max_batch)) return 2; break;
        case 'd': o->data = optarg; break;
        case 'W': o->weights_dir = optarg; break;
        case 'e': engines = optarg; break;
        case 'B': o->baseline = optarg; break;
        case 'P': o->python = optarg; break;
        case 'j': o->jsonl = 1; break;
        case 'o': o->out = optarg; break;
        case 'R': if (dpc_parse_int("--repeat", optarg, 1, 100, &o->repeat)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: return dpc_usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return dpc_usage_error("unexpected argument '%s'", argv[optind]);
    /* One buffer holding "archs\0strategies\0engines\0", split in place by parse_names. */
    size_t la = strlen(arch_list) + 1, ls = strlen(strategy_list) + 1, le = engines ? strlen(engines) + 1 : 1;
    if (!(o->lists = malloc(la + ls + le))) return dpc_fail(DP_ERR_NOMEM, "matrix");
    char *arch_copy = memcpy(o->lists, arch_list, la), *strategy_copy = memcpy(o->lists + la, strategy_list, ls);
    char *engine_copy = engines ? memcpy(o->lists + la + ls, engines, le) : NULL;
    if (parse_names("--arch", arch_copy, archs, 4, o->archs, &o->n_archs) ||
        parse_names("--strategies", strategy_copy, strategies, 4, o->strategies, &o->n_strategies))
        return 2;
    if (dpc_parse_int_list("--workers", workers, 1, 1024, o->workers, MAX_LIST, &o->n_workers) ||
        dpc_parse_double_list("--rates", rates, 1e-3, 1e9, o->rates, MAX_LIST, &o->n_rates))
        return 2;
    for (int a = 0; o->weights_dir && a < o->n_archs; a++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s.npz", o->weights_dir, o->archs[a]);
        if (access(path, R_OK) != 0) return dpc_usage_error("--weights-dir: cannot read %s: %s", path, strerror(errno));
    }
    char *names[MAX_LIST];
    int n_names = 1;
    names[0] = (char *)engine_names[ENGINE_OURS];
    if (engine_copy && parse_names("--engines", engine_copy, engine_names, 2, names, &n_names)) return 2;
    for (int i = 0; i < n_names; i++) {
        int e = strcmp(names[i], engine_names[ENGINE_PYTORCH]) == 0 ? ENGINE_PYTORCH : ENGINE_OURS;
        int dup = 0;
        for (int k = 0; k < o->n_engines; k++) dup |= o->engines[k] == e;
        if (!dup) o->engines[o->n_engines++] = e;
    }
    for (int k = 0; k < o->n_engines; k++) {
        if (o->engines[k] != ENGINE_PYTORCH) continue;
        if (o->baseline && access(o->baseline, R_OK) != 0)
            return dpc_usage_error("--baseline: cannot read %s: %s", o->baseline, strerror(errno));
        if (!o->baseline && !(o->baseline = find_baseline()))
            return dpc_usage_error("--engines pytorch: cannot find benchmarks/pytorch_baseline.py; "
                                   "set DP_SOURCE_DIR or pass --baseline PATH");
    }
    return -1; /* parsed, go on */
}

int dpb_matrix(int argc, char **argv) {
    matrix_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc >= 0) {
        free(o.lists);
        return rc;
    }

    char cells_dir[PATH_MAX];
    if (snprintf(cells_dir, sizeof cells_dir, "%s/cells", o.out) >= (int)sizeof cells_dir || mkdir_p(cells_dir) != 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", dpc_prog(), cells_dir, strerror(errno));
        return 1;
    }
    int n = (int)o.repeat * o.n_archs * o.n_strategies * o.n_workers * o.n_rates * o.n_engines, k = 0;
    run *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) return dpc_fail(DP_ERR_NOMEM, "matrix");
    /* Repeats outermost, so that a slow spell of the machine hits one repeat of every cell rather
     * than every repeat of one cell; engines innermost, so both see the same moment. */
    for (int rep = 0; rep < o.repeat; rep++)
        for (int a = 0; a < o.n_archs; a++)
            for (int q = 0; q < o.n_rates; q++)
                for (int w = 0; w < o.n_workers; w++)
                    for (int s = 0; s < o.n_strategies; s++)
                        for (int e = 0; e < o.n_engines; e++)
                            runs[k++] = (run){.engine = o.engines[e],
                                              .repeat = rep,
                                              .arch = o.archs[a],
                                              .strategy = o.strategies[s],
                                              .workers = (int)o.workers[w],
                                              .rate = o.rates[q],
                                              .samples = o.samples ? o.samples : (long)(o.rates[q] * 10 + 0.5),
                                              .exit_code = -1};
    int tty = isatty(2);
    fprintf(stderr, "%s: %d runs (%ld repeats x %d archs x %d rates x %d worker counts x %d strategies x %d engines) -> %s/\n",
            dpc_prog(), n, o.repeat, o.n_archs, o.n_rates, o.n_workers, o.n_strategies, o.n_engines, o.out);
    /* The command as typed, for the provenance of results.json / results.md. */
    char *cmd[argc + 1];
    cmd[0] = "dp-bench";
    for (int i = 0; i < argc; i++) cmd[i + 1] = argv[i];
    int64_t t0 = dp_now_ns();
    int failures = 0;
    for (int i = 0; i < n; i++) {
        progress(runs, n, i, (double)(dp_now_ns() - t0) / 1e9, tty);
        if (execute(&o, &runs[i], cells_dir) != 0) failures++;
        report_run(&runs[i], tty);
        rc = write_results(&o, runs, i + 1, argc + 1, cmd);
    }
    progress(runs, n, n, (double)(dp_now_ns() - t0) / 1e9, tty);
    if (tty) fputc('\n', stderr);
    fprintf(stderr, "%s: wrote %s/results.csv, results.json, results.md (%d of %d runs succeeded)\n", dpc_prog(),
            o.out, n - failures, n);
    for (int i = 0; i < n; i++) cJSON_Delete(runs[i].summary);
    free(runs);
    free(o.lists);
    return rc || failures ? 1 : 0;
}
