/* Fault SPECs: comma-separated parts, at=TIME and worker=K and exactly one of slowdown=F,
 * stall=TIME, fail=N, stop; TIME is a number with the unit s or ms. */
#include "inject.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char why[320];

static const char *bad(const char *part, size_t len, const char *what) {
    snprintf(why, sizeof why, "'%.*s' %s", (int)(len > 64 ? 64 : len), part, what);
    return why;
}

/* A finite number at the start of [v, end); *rest: what follows it (a unit, or end). */
static int number(const char *v, const char *end, double *out, const char **rest) {
    char *e;
    *out = strtod(v, &e);
    *rest = e;
    return e != v && e <= end && isfinite(*out);
}

static int duration(const char *v, const char *end, double *s) {
    const char *rest;
    if (!number(v, end, s, &rest) || *s < 0) return 0;
    size_t n = (size_t)(end - rest);
    if (n == 2 && strncmp(rest, "ms", 2) == 0) {
        *s *= 1e-3;
        return 1;
    }
    return n == 1 && *rest == 's';
}

static int whole(const char *v, const char *end, double lo, double hi, double *x) {
    const char *rest;
    return number(v, end, x, &rest) && rest == end && *x == floor(*x) && *x >= lo && *x <= hi;
}

const char *dpb_fault_parse(const char *spec, dpb_fault *f) {
    int have_at = 0, have_worker = 0;
    *f = (dpb_fault){0};
    for (const char *p = spec; *p;) {
        const char *end = strchr(p, ',');
        if (!end) end = p + strlen(p);
        size_t len = (size_t)(end - p);
        const char *eq = memchr(p, '=', len);
        const char *v = eq ? eq + 1 : end;
        size_t klen = (size_t)((eq ? eq : end) - p);
        double x;
        int kind = 0;
        if (klen == 2 && strncmp(p, "at", 2) == 0) {
            if (have_at++) return bad(p, len, "repeats at=");
            if (!duration(v, end, &f->at_s)) return bad(p, len, "is not at=TIME (e.g. at=2s, at=500ms)");
        } else if (klen == 6 && strncmp(p, "worker", 6) == 0) {
            if (have_worker++) return bad(p, len, "repeats worker=");
            if (!whole(v, end, 0, DP_MAX_WORKERS - 1, &x)) return bad(p, len, "is not worker=K (a worker index)");
            f->worker = (int)x;
        } else if (klen == 8 && strncmp(p, "slowdown", 8) == 0) {
            const char *rest;
            kind = DP_FAULT_SLOWDOWN;
            if (!number(v, end, &x, &rest) || rest != end || x < 1 || x > 1e6)
                return bad(p, len, "is not slowdown=F (a factor from 1 to 1e6)");
        } else if (klen == 5 && strncmp(p, "stall", 5) == 0) {
            kind = DP_FAULT_STALL;
            if (!duration(v, end, &x) || x <= 0 || x > 3600)
                return bad(p, len, "is not stall=TIME (more than 0, at most 3600s; e.g. stall=500ms)");
        } else if (klen == 4 && strncmp(p, "fail", 4) == 0) {
            kind = DP_FAULT_FAIL;
            if (!whole(v, end, 1, 1e12, &x)) return bad(p, len, "is not fail=N (N micro-batches, N >= 1)");
        } else if (len == 4 && strncmp(p, "stop", 4) == 0) {
            kind = DP_FAULT_STOP;
            x = 0;
        } else if (klen == 4 && strncmp(p, "stop", 4) == 0) {
            return bad(p, len, "takes no value (stop)");
        } else {
            return bad(p, len, "is not a part of a fault (at=, worker=, slowdown=, stall=, fail=, stop)");
        }
        if (kind) {
            if (f->kind) return bad(p, len, "is a second fault (one of slowdown=, stall=, fail=, stop per --inject)");
            f->kind = (dp_fault_kind)kind;
            f->value = x;
        }
        p = *end ? end + 1 : end;
    }
    if (!have_at) return "at=TIME is missing";
    if (!have_worker) return "worker=K is missing";
    if (!f->kind) return "slowdown=F, stall=TIME, fail=N or stop is missing";
    return NULL;
}

const char *dpb_fault_check(const char *spec) {
    static char msg[400];
    dpb_fault f;
    const char *w = dpb_fault_parse(spec, &f);
    if (!w) return NULL;
    snprintf(msg, sizeof msg, "a fault: %s", w);
    return msg;
}

void dpb_fault_print(const dp_fault_report *f) {
    printf("  event at %.3f s, worker %d, ", f->at_s, f->worker);
    if (f->kind == DP_FAULT_SLOWDOWN)
        printf("slowdown x%g: ", f->value);
    else if (f->kind == DP_FAULT_STALL)
        printf("stall %g s: ", f->value);
    else if (f->kind == DP_FAULT_STOP)
        printf("stop: ");
    else
        printf("fail %g micro-batches: ", f->value);
    if (f->applied_s < 0)
        printf("never applied (the run ended first)\n");
    else if (f->kind == DP_FAULT_STOP)
        printf("left at %.3f s, %lld samples re-routed, %lld failed\n", f->applied_s, (long long)f->rerouted,
               (long long)f->failed);
    else
        printf("applied at %.3f s, %lld samples failed\n", f->applied_s, (long long)f->failed);
    if (!isfinite(f->window_end_s)) return;
    printf("    until %.3f s: %lld completed", f->window_end_s, (long long)f->window_completed);
    if (isfinite(f->p99_after_ms)) printf(", p99 %.2f ms", f->p99_after_ms);
    if (f->recovery_s == -1)
        printf(", throughput not back within 5 %% of the rate");
    else if (isfinite(f->recovery_s))
        printf(", throughput back within 5 %% of the rate after %.2f s", f->recovery_s);
    if (f->straggler_s >= 0)
        printf(", flagged a straggler at %.2f s", f->straggler_s);
    else if (f->straggler_s == -1)
        printf(", never flagged a straggler");
    if (isfinite(f->weight_before)) {
        printf(", weight %.2f -> %.2f", f->weight_before, f->weight_after);
        if (f->weights_moved_s >= 0) printf(" (moved at %.2f s)", f->weights_moved_s);
    }
    printf("\n");
}
