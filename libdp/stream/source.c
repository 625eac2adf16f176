/* dp_source: samples from a data set at a rate policy. Every intended arrival time is computed
 * from t0 and the sample's id (constant), a running sum kept in double ns (poisson) or the trace,
 * never by adding to the previous wake-up time, so a late wake-up does not delay later samples. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/source.h"
#include "trace.h"
#include "util/sized.h"
#include "util/util.h"

/* A sleeping dp_source_next() looks at the stop flag at least this often. */
#define SLICE_NS 5000000

struct dp_source {
    dp_dataset *ds;
    dp_rate_policy policy;
    double rate;
    int64_t count;
    uint64_t seed;
    int64_t spin_ns;
    int64_t *trace_ns;       /* offsets from the first arrival */
    /* run state */
    int started;
    int64_t t0;
    int64_t next_id;
    double poisson_ns;       /* offset of sample next_id from t0 (poisson) */
    uint64_t rng;
    atomic_int stop;
};

DP_API void dp_source_opts_init_sized(dp_source_opts *opts, size_t size) {
    const dp_source_opts d = {.size = sizeof d,
                              .policy = DP_RATE_CONSTANT,
                              .rate = 500,
                              .samples = 0,
                              .seed = 1,
                              .trace_path = NULL,
                              .spin_ns = 50000};
    dpi_sized_init(opts, size, &d, sizeof d);
}

DP_API dp_status dp_source_create(dp_dataset *ds, const dp_source_opts *opts, dp_source **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: out is NULL");
    *out = NULL;
    if (!ds) return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: data set is NULL");
    dp_source_opts o;
    dp_source_opts_init(&o);
    dp_status st = dpi_sized_take(&o, sizeof o, opts, sizeof o, "dp_source_create: opts", "dp_source_opts_init");
    if (st != DP_OK) return st;
    int paced = o.policy == DP_RATE_CONSTANT || o.policy == DP_RATE_POISSON;
    if (o.policy < DP_RATE_UNLIMITED || o.policy > DP_RATE_TRACE)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: unknown rate policy %d", (int)o.policy);
    if (paced && !(o.rate > 0 && isfinite(o.rate)))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: rate is %g, expected a finite number > 0", o.rate);
    if (o.samples < 0)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: samples is %lld, expected >= 0",
                         (long long)o.samples);
    if (o.spin_ns < 0 || o.spin_ns > 1000000000)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: spin_ns is %lld, expected 0..1e9",
                         (long long)o.spin_ns);
    if (o.policy == DP_RATE_TRACE && !o.trace_path)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: the trace policy needs trace_path");
    int64_t ds_count = dp_dataset_count(ds);
    if (ds_count == 0) return dpi_error(DP_ERR_INVALID_ARG, "dp_source_create: the data set has no samples");

    dp_source *src = calloc(1, sizeof *src);
    if (!src) return dpi_error(DP_ERR_NOMEM, "out of memory for a source");
    src->ds = ds;
    src->policy = o.policy;
    src->rate = paced ? o.rate : 0;
    src->seed = o.seed;
    src->spin_ns = o.spin_ns;
    src->count = o.samples > 0 ? o.samples : ds_count;
    atomic_init(&src->stop, 0);
    if (o.policy == DP_RATE_TRACE) {
        int64_t n;
        st = dpi_trace_read(o.trace_path, &src->trace_ns, &n);
        if (st == DP_OK && o.samples > n)
            st = dpi_error(DP_ERR_INVALID_ARG, "%s: %lld samples requested but the trace has %lld arrivals",
                           o.trace_path, (long long)o.samples, (long long)n);
        if (st != DP_OK) {
            dp_source_free(src);
            return st;
        }
        src->count = o.samples > 0 ? o.samples : n;
        if (src->count > 1 && src->trace_ns[src->count - 1] > 0)
            src->rate = (double)(src->count - 1) / (src->trace_ns[src->count - 1] * 1e-9);
    }
    *out = src;
    return DP_OK;
}

DP_API void dp_source_free(dp_source *src) {
    if (!src) return;
    free(src->trace_ns);
    free(src);
}

DP_API dp_dataset *dp_source_dataset(const dp_source *src) { return src ? src->ds : NULL; }
DP_API int64_t dp_source_count(const dp_source *src) { return src ? src->count : 0; }
DP_API double dp_source_target_rate(const dp_source *src) { return src ? src->rate : 0; }

DP_API dp_status dp_source_start(dp_source *src, int64_t start_ns) {
    if (!src) return dpi_error(DP_ERR_INVALID_ARG, "dp_source_start: source is NULL");
    src->t0 = start_ns > 0 ? start_ns : dpi_now_ns();
    src->next_id = 0;
    src->poisson_ns = 0;
    src->rng = src->seed;
    src->started = 1;
    atomic_store(&src->stop, 0);
    return DP_OK;
}

/* An offset in ns from a double (>= 0), saturated: a tiny rate or a long Poisson run puts a
 * deadline beyond int64 ns, and it must then lie in the far future (the source sleeps until
 * interrupted), not wrap into the past or be undefined. NaN saturates too. */
static int64_t offset_ns(double ns) { return ns < 9.2e18 ? llround(ns) : INT64_MAX; }

/* t0 + off saturated at INT64_MAX, for the same reason (t0 > 0, off >= 0; start_ns may be any
 * positive time). */
static int64_t deadline_at(int64_t t0, int64_t off) { return off > INT64_MAX - t0 ? INT64_MAX : t0 + off; }

/* The next sample without advancing; DP_ERR_CLOSED after the last one. */
static dp_status peek(dp_source *src, dp_sample_ref *out) {
    if (!src->started) dp_source_start(src, 0);
    int64_t id = src->next_id;
    if (id >= src->count)
        return dpi_error(DP_ERR_CLOSED, "source: all %lld samples have been emitted", (long long)src->count);
    out->sample_id = id;
    out->index = id % dp_dataset_count(src->ds);
    switch (src->policy) {
    case DP_RATE_CONSTANT:
        out->intended_ns = deadline_at(src->t0, offset_ns((double)id * 1e9 / src->rate));
        break;
    case DP_RATE_POISSON:
        out->intended_ns = deadline_at(src->t0, offset_ns(src->poisson_ns));
        break;
    case DP_RATE_TRACE:
        out->intended_ns = deadline_at(src->t0, src->trace_ns[id]);
        break;
    default:
        out->intended_ns = dpi_now_ns(); /* unlimited: it arrives when it is asked for */
        break;
    }
    return DP_OK;
}

DP_API dp_status dp_source_peek(dp_source *src, dp_sample_ref *out) {
    if (!src || !out) return dpi_error(DP_ERR_INVALID_ARG, "dp_source_peek: NULL argument");
    return peek(src, out);
}

static dp_status cancelled(void) { return dpi_error(DP_ERR_CANCELLED, "source: stopped"); }

DP_API dp_status dp_source_next(dp_source *src, dp_sample_ref *out) {
    if (!src || !out) return dpi_error(DP_ERR_INVALID_ARG, "dp_source_next: NULL argument");
    if (atomic_load_explicit(&src->stop, memory_order_relaxed)) return cancelled();
    dp_status st = peek(src, out);
    if (st != DP_OK) return st;
    if (src->policy != DP_RATE_UNLIMITED) {
        /* Sleep in slices so an interrupt is seen within SLICE_NS, then sleep and spin to the deadline. */
        int64_t deadline = out->intended_ns;
        for (;;) {
            if (atomic_load_explicit(&src->stop, memory_order_relaxed)) return cancelled();
            int64_t now = dpi_now_ns();
            /* deadline >= t0 > 0 and now > 0: the difference cannot overflow. */
            if (deadline - now <= SLICE_NS + src->spin_ns) break;
            dpi_sleep_until_ns(now + SLICE_NS, 0);
        }
        dpi_sleep_until_ns(deadline, src->spin_ns);
    }
    if (src->policy == DP_RATE_POISSON) {
        /* Exponential gap with mean 1/rate; 1 - u is in (0, 1], so the log is finite. */
        src->poisson_ns += -log1p(-dpi_rand_unit(&src->rng)) * 1e9 / src->rate;
    }
    src->next_id++;
    return DP_OK;
}

DP_API void dp_source_interrupt(dp_source *src) {
    if (src) atomic_store_explicit(&src->stop, 1, memory_order_relaxed);
}
