/* dp_tune_search: which configuration to probe next, at which rate, what to prune and which one
 * wins (docs/tune.md). Measures nothing: every figure comes from the probe and service functions,
 * and the budget is charged with the seconds they report, so a table can drive it in a test. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel/stats.h"
#include "tune_impl.h"
#include "util/sized.h"
#include "util/util.h"

/* A configuration is pruned by its bound only when even bound x this stays below the best
 * capacity: the service time is measured once, on a shared machine, and may be inflated. */
#define BOUND_SLACK 1.5
/* Share of the budget the coarse phase may use, and the coarse and fine phases together: the
 * rest is kept for the refinement and the confirming repeat. */
#define COARSE_SHARE 0.7
#define FINE_SHARE 0.9
#define CONFIRM_TRIES 5

DP_API void dp_tune_opts_init_sized(dp_tune_opts *opts, size_t size) {
    const dp_tune_opts d = {.size = sizeof d,
                            .slo_p99_ms = 10,
                            .budget_s = 120,
                            .confidence = 0.95,
                            .probe_seconds = 1.0,
                            .start_rate = 100,
                            .max_rate = 1e6,
                            .coarse_tolerance = 0.10,
                            .fine_tolerance = 0.02,
                            .refine = 3,
                            .confirm = 1,
                            .max_probes = 1000,
                            .shrink = 6};
    dpi_sized_init(opts, size, &d, sizeof d);
}

DP_API const char *dp_tune_verdict_str(dp_tune_verdict v) {
    static const char *const names[] = {"measured", "below best", "pruned: service time above the SLO",
                                        "pruned: oversubscribed cores", "pruned: bound below best",
                                        "pruned: same as another", "unsupported here", "not reached (budget)",
                                        "fails at the start rate"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "unknown";
}

typedef struct search {
    dp_tune_opts o;             /* defaults resolved */
    dp_tune_probe_fn probe;
    dp_tune_service_fn service;
    void *user;
    dp_tune_result *r;
    int *order;                 /* candidates to measure, most promising first */
    int num_order, next;        /* next: how many of order the coarse phase has taken */
    double overhead_s;          /* mean of (probe seconds - samples / rate): set-up, warm-up */
    int counts[64];             /* 1..64: the default worker and thread lists */
} search;

static dp_status check_opts(const dp_tune_opts *o) {
    if (!(o->slo_p99_ms > 0)) return dpi_error(DP_ERR_INVALID_ARG, "tune: slo_p99_ms must be > 0");
    if (!(o->budget_s > 0)) return dpi_error(DP_ERR_INVALID_ARG, "tune: budget_s must be > 0");
    if (!(o->confidence >= 0.5 && o->confidence < 1))
        return dpi_error(DP_ERR_INVALID_ARG, "tune: confidence must be in [0.5, 1)");
    if (!(o->max_rate > 0) || !(o->start_rate > 0) || o->probe_seconds < 0 || o->min_samples < 0)
        return dpi_error(DP_ERR_INVALID_ARG, "tune: max_rate and start_rate must be > 0; probe_seconds, min_samples >= 0");
    if (!(o->coarse_tolerance > 0) || !(o->fine_tolerance > 0) || o->refine < 0 || o->max_probes < 1 || o->shrink < 0)
        return dpi_error(DP_ERR_INVALID_ARG, "tune: tolerances must be > 0, max_probes >= 1, refine and shrink >= 0");
    const struct { const char *name; int n; const void *v; } lists[] = {
        {"workers", o->num_workers, o->workers},          {"threads", o->num_threads, o->threads},
        {"max_batch", o->num_max_batch, o->max_batch},    {"max_delay_us", o->num_max_delay_us, o->max_delay_us},
        {"strategies", o->num_strategies, o->strategies}, {"precisions", o->num_precisions, o->precisions}};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (lists[i].n < 0 || (lists[i].n > 0 && !lists[i].v))
            return dpi_error(DP_ERR_INVALID_ARG, "tune: %s: %d values but no array", lists[i].name, lists[i].n);
    for (int i = 0; i < o->num_workers; i++)
        if (o->workers[i] < 1) return dpi_error(DP_ERR_INVALID_ARG, "tune: workers[%d] = %d, must be >= 1", i, o->workers[i]);
    for (int i = 0; i < o->num_threads; i++)
        if (o->threads[i] < 1) return dpi_error(DP_ERR_INVALID_ARG, "tune: threads[%d] = %d, must be >= 1", i, o->threads[i]);
    for (int i = 0; i < o->num_max_batch; i++)
        if (o->max_batch[i] < 1)
            return dpi_error(DP_ERR_INVALID_ARG, "tune: max_batch[%d] = %d, must be >= 1", i, o->max_batch[i]);
    for (int i = 0; i < o->num_max_delay_us; i++)
        if (o->max_delay_us[i] < 0)
            return dpi_error(DP_ERR_INVALID_ARG, "tune: max_delay_us[%d] = %lld, must be >= 0", i,
                             (long long)o->max_delay_us[i]);
    for (int i = 0; i < o->num_strategies; i++)
        if (!o->strategies[i]) return dpi_error(DP_ERR_INVALID_ARG, "tune: strategies[%d] is NULL", i);
    return DP_OK;
}

/* ---- the space ------------------------------------------------------------------------------ */

static dp_status add_candidate(dp_tune_result *r, const dp_tune_config *c, dp_tune_verdict v) {
    dp_tune_candidate *n = realloc(r->cands, (size_t)(r->num_cands + 1) * sizeof *n);
    if (!n) return dpi_error(DP_ERR_NOMEM, "tune: out of memory for the configurations");
    r->cands = n;
    n[r->num_cands++] = (dp_tune_candidate){.config = *c, .verdict = v};
    return DP_OK;
}

/* Every configuration, with those pruned before any measurement marked. */
static dp_status enumerate(search *s) {
    const dp_tune_opts *o = &s->o;
    dp_tune_result *r = s->r;
    for (int p = 0; p < o->num_precisions; p++)
        for (int st = 0; st < r->num_strategies; st++)
            for (int w = 0; w < o->num_workers; w++)
                for (int t = 0; t < o->num_threads; t++)
                    for (int b = 0; b < o->num_max_batch; b++)
                        for (int d = 0; d < o->num_max_delay_us; d++) {
                            dp_tune_config c = {o->workers[w], o->threads[t], o->max_batch[b], o->max_delay_us[d],
                                                r->strategies[st], o->precisions[p]};
                            dp_tune_verdict v = DP_TUNE_MEASURED;
                            if (c.workers * c.threads_per_worker > r->cores && !o->oversubscribe)
                                v = DP_TUNE_PRUNED_CORES;
                            else if ((c.workers == 1 && st > 0) || (c.max_batch == 1 && d > 0))
                                v = DP_TUNE_PRUNED_SAME; /* a lone worker gets everything; no batch to wait for */
                            dp_status e = add_candidate(r, &c, v);
                            if (e != DP_OK) return e;
                        }
    return DP_OK;
}

/* One service measurement per (max_batch, threads, precision), shared by the configurations
 * that differ only in workers, delay or strategy; prunes on the SLO and sets the bounds. Batches
 * are measured smallest first: once one exceeds the SLO, larger ones (slower still) are pruned
 * unmeasured. */
static void set_service(search *s, const dp_tune_config *k, dp_status e, double ms) {
    for (int j = 0; j < s->r->num_cands; j++) {
        dp_tune_candidate *o = &s->r->cands[j];
        if (o->verdict != DP_TUNE_MEASURED || o->config.threads_per_worker != k->threads_per_worker ||
            o->config.precision != k->precision || o->config.max_batch < k->max_batch ||
            (o->config.max_batch > k->max_batch && !(e == DP_OK && ms > s->o.slo_p99_ms)))
            continue;
        if (e == DP_ERR_UNSUPPORTED) {
            o->verdict = DP_TUNE_UNSUPPORTED;
        } else if (ms > s->o.slo_p99_ms) {
            o->verdict = DP_TUNE_PRUNED_SLO;
            o->service_ms = o->config.max_batch == k->max_batch ? ms : 0;
        } else {
            o->service_ms = ms;
            o->bound = o->config.workers * o->config.max_batch * 1000.0 / ms;
        }
    }
}

static dp_status measure_services(search *s) {
    dp_tune_result *r = s->r;
    if (!s->service) return DP_OK;
    for (;;) {
        int next = -1; /* the smallest batch still unmeasured */
        for (int i = 0; i < r->num_cands; i++) {
            const dp_tune_candidate *c = &r->cands[i];
            if (c->verdict == DP_TUNE_MEASURED && c->service_ms == 0 &&
                (next < 0 || c->config.max_batch < r->cands[next].config.max_batch))
                next = i;
        }
        if (next < 0) return DP_OK;
        const dp_tune_config k = r->cands[next].config;
        double ms = 0, secs = 0;
        dp_status e = s->service(k.max_batch, k.threads_per_worker, k.precision, &ms, &secs, s->user);
        r->used_s += secs > 0 ? secs : 0;
        if (e != DP_OK && e != DP_ERR_UNSUPPORTED) return e;
        if (e == DP_OK && !(ms > 0))
            return dpi_error(DP_ERR_INVALID_ARG, "tune: the service function gave %g ms (must be > 0)", ms);
        set_service(s, &k, e, ms);
    }
}

/* Measurable configurations by bound, highest first; ties keep the order of the lists (an
 * insertion sort: stable, and no comparator state shared between concurrent searches). */
static dp_status make_order(search *s) {
    dp_tune_result *r = s->r;
    s->order = malloc((size_t)(r->num_cands ? r->num_cands : 1) * sizeof *s->order);
    if (!s->order) return dpi_error(DP_ERR_NOMEM, "tune: out of memory");
    for (int i = 0; i < r->num_cands; i++) {
        if (r->cands[i].verdict != DP_TUNE_MEASURED) continue;
        int j = s->num_order++;
        for (; j > 0 && r->cands[s->order[j - 1]].bound < r->cands[i].bound; j--) s->order[j] = s->order[j - 1];
        s->order[j] = i;
    }
    return DP_OK;
}

/* ---- probes --------------------------------------------------------------------------------- */

static int64_t probe_samples(const search *s, double rate) {
    double n = ceil(rate * s->o.probe_seconds);
    return n > (double)s->o.min_samples ? (int64_t)n : s->o.min_samples;
}

/* 1 when a probe at rate still fits under `limit` seconds of the budget (and the probe count). */
static int affordable(search *s, double rate, double limit) {
    if (s->r->num_probes >= s->o.max_probes) return 0;
    double est = (double)probe_samples(s, rate) / rate + s->overhead_s;
    if (s->r->used_s + est <= limit) return 1;
    s->r->exhausted = 1;
    return 0;
}

static int planned(const search *s) {
    int rest = s->num_order - s->next; /* most of them take one probe: below the best */
    return s->r->num_probes + rest + s->o.refine * 2 + (s->o.confirm ? 1 : 0);
}

static dp_status run_probe(search *s, int c, dp_tune_phase ph, double rate, int *ok) {
    dp_tune_result *r = s->r;
    if (r->num_probes == r->cap_probes) {
        int cap = r->cap_probes ? 2 * r->cap_probes : 64;
        dp_tune_probe *n = realloc(r->probes, (size_t)cap * sizeof *n);
        if (!n) return dpi_error(DP_ERR_NOMEM, "tune: out of memory for the probes");
        r->probes = n;
        r->cap_probes = cap;
    }
    dp_tune_probe *p = &r->probes[r->num_probes];
    *p = (dp_tune_probe){.candidate = c, .phase = ph, .rate = rate, .samples = probe_samples(s, rate)};
    dp_status e = s->probe(&r->cands[c].config, rate, p->samples, &p->outcome, s->user);
    if (e != DP_OK) return e;
    r->num_probes++;
    double secs = p->outcome.seconds > 0 ? p->outcome.seconds : 0;
    r->used_s += secs;
    s->overhead_s += (fmax(0, secs - (double)p->samples / rate) - s->overhead_s) / r->num_probes;
    p->ok = p->outcome.p99_ms <= s->o.slo_p99_ms && p->outcome.dropped == 0 && p->outcome.failed == 0;
    *ok = p->ok;
    dpi_tune_sustained(r, c);
    if (s->o.on_probe)
        s->o.on_probe(p, &r->cands[c].config, r->num_probes, planned(s), r->used_s, s->o.budget_s,
                      s->o.on_probe_user);
    return DP_OK;
}

static int probed_at_or_below(const search *s, int c, double rate) {
    for (int i = 0; i < s->r->num_probes; i++)
        if (s->r->probes[i].candidate == c && s->r->probes[i].rate <= rate) return 1;
    return 0;
}

/* Candidate c's capacity (sustain.c's rule) to relative width tol. With `floor` > 0 (the best so
 * far) it is probed there first: failing, it cannot win. Then at the start rate, as `dp-bench
 * capacity` starts, so that both tools credit a configuration only with what it serves at low
 * rates too; then, as perf_analyzer's search, doubling (or jumping to `guess`) while probes pass,
 * halving at most `shrink` times while they fail, and bisecting: geometrically while the bracket
 * spans more than 2x (a guess from the bound may be far off), then arithmetically. */
static dp_status capacity(search *s, int c, dp_tune_phase ph, double floor, double guess, double tol, double limit) {
    dp_tune_candidate *k = &s->r->cands[c];
    const double start = s->r->start_rate, lowest = start / pow(2, s->o.shrink);
    int ok = 1;
    dp_status e;
    if (floor > 0 && !probed_at_or_below(s, c, INFINITY)) {
        if (!affordable(s, floor, limit)) return DP_OK;
        if ((e = run_probe(s, c, ph, floor, &ok)) != DP_OK) return e;
        if (!ok) k->verdict = DP_TUNE_BELOW_BEST;
    }
    if (ok && !probed_at_or_below(s, c, start)) {
        if (!affordable(s, start, limit)) return DP_OK;
        if ((e = run_probe(s, c, ph, start, &ok)) != DP_OK) return e;
        if (!ok && floor > 0) k->verdict = DP_TUNE_FAILS_START;
    }
    if (k->verdict != DP_TUNE_MEASURED) return DP_OK;
    for (;;) {
        double rate;
        if (k->capacity == 0) {
            rate = k->failed_rate / 2;
            if (rate < lowest) return DP_OK;
        } else if (k->failed_rate == 0) {
            rate = fmax(2 * k->capacity, fmin(guess, s->o.max_rate));
            if (rate > s->o.max_rate) return DP_OK;
        } else if (k->failed_rate > k->capacity * (1 + tol)) {
            rate = k->failed_rate > 2 * k->capacity ? sqrt(k->capacity * k->failed_rate)
                                                    : 0.5 * (k->capacity + k->failed_rate);
        } else {
            return DP_OK;
        }
        guess = 0;
        if (!affordable(s, rate, limit)) return DP_OK;
        if ((e = run_probe(s, c, ph, rate, &ok)) != DP_OK) return e;
    }
}

static int best_index(const search *s) {
    int best = -1;
    for (int i = 0; i < s->num_order; i++) {
        const dp_tune_candidate *c = &s->r->cands[s->order[i]];
        if (c->capacity > 0 && (best < 0 || c->capacity > s->r->cands[best].capacity)) best = s->order[i];
    }
    return best;
}

/* ---- phases --------------------------------------------------------------------------------- */

/* Every measurable configuration, most promising first: one probe just at the best capacity so far
 * rules most of them out; the bound rules out the rest without a probe. */
static dp_status coarse(search *s) {
    double limit = s->o.budget_s * (s->o.refine > 0 || s->o.confirm ? COARSE_SHARE : 1.0);
    for (; s->next < s->num_order; s->next++) {
        int c = s->order[s->next], b = best_index(s);
        dp_tune_candidate *k = &s->r->cands[c];
        double best = b >= 0 ? s->r->cands[b].capacity : 0;
        if (best > 0 && k->bound > 0 && k->bound * BOUND_SLACK < best) {
            k->verdict = DP_TUNE_PRUNED_BOUND;
            continue;
        }
        /* the first one climbs from the start rate to half its bound at once: its rate is unknown */
        double guess = best > 0 ? 0 : 0.5 * k->bound;
        dp_status e = capacity(s, c, DP_TUNE_COARSE, fmin(best, s->o.max_rate), guess, s->o.coarse_tolerance, limit);
        if (e != DP_OK) return e;
        if (s->r->exhausted || s->r->num_probes >= s->o.max_probes) break;
    }
    for (int i = s->next; i < s->num_order; i++) {
        dp_tune_candidate *k = &s->r->cands[s->order[i]];
        if (k->verdict == DP_TUNE_MEASURED && k->capacity == 0 && k->failed_rate == 0) k->verdict = DP_TUNE_NOT_REACHED;
    }
    return DP_OK;
}

/* The best few, bisected further. */
static dp_status fine(search *s) {
    double limit = s->o.budget_s * (s->o.confirm ? FINE_SHARE : 1.0);
    for (int round = 0; round < s->o.refine; round++) {
        /* the round-th best by capacity */
        int pick = -1;
        for (int i = 0; i < s->num_order; i++) {
            const dp_tune_candidate *c = &s->r->cands[s->order[i]];
            int rank = 0;
            if (c->capacity == 0) continue;
            for (int j = 0; j < s->num_order; j++) {
                const dp_tune_candidate *d = &s->r->cands[s->order[j]];
                rank += d->capacity > c->capacity || (d->capacity == c->capacity && j < i);
            }
            if (rank == round) pick = s->order[i];
        }
        if (pick < 0) break;
        dp_tune_candidate *k = &s->r->cands[pick];
        if (k->failed_rate == 0) continue; /* it passed up to max_rate: nothing to bisect */
        dp_status e = capacity(s, pick, DP_TUNE_FINE, 0, 0, s->o.fine_tolerance, limit);
        if (e != DP_OK) return e;
    }
    return DP_OK;
}

/* The best's probe repeated at its capacity; a failing repeat lowers that capacity, by the rule, to
 * the highest rate below it that passed (so the best may change), and the new best is repeated in
 * turn: the rate reported is always one a probe measured, twice when confirmed. */
static dp_status confirm(search *s) {
    for (int t = 0; t < CONFIRM_TRIES; t++) {
        int b = best_index(s), ok;
        if (b < 0) return DP_OK;
        dp_tune_candidate *k = &s->r->cands[b];
        if (!affordable(s, k->capacity, s->o.budget_s)) return DP_OK;
        dp_status e = run_probe(s, b, DP_TUNE_CONFIRM, k->capacity, &ok);
        if (e != DP_OK) return e;
        if (ok) {
            s->r->confirmed = 1;
            return DP_OK;
        }
    }
    return DP_OK;
}

/* ---- the call ------------------------------------------------------------------------------- */

static dp_status resolve(search *s, const dp_tune_opts *opts) {
    static const int batches[] = {1, 2, 4, 8, 16};
    static const int64_t delays[] = {0, 500, 2000};
    static const char *const strategies[] = {"dynamic"};
    static const dp_precision fp32[] = {DP_PRECISION_FP32};
    dp_tune_opts_init(&s->o);
    memcpy(&s->o, opts, opts->size < sizeof s->o ? opts->size : sizeof s->o);
    s->o.size = sizeof s->o;
    dp_tune_opts *o = &s->o;
    dp_status e = check_opts(o);
    if (e != DP_OK) return e;
    int cores = o->cores > 0 ? o->cores : dpi_num_cpus();
    if (cores > 64) cores = 64;
    for (int i = 0; i < 64; i++) s->counts[i] = i + 1;
    if (!o->num_workers) o->workers = s->counts, o->num_workers = cores;
    if (!o->num_threads) o->threads = s->counts, o->num_threads = cores;
    if (!o->num_max_batch) o->max_batch = batches, o->num_max_batch = 5;
    if (!o->num_max_delay_us) o->max_delay_us = delays, o->num_max_delay_us = 3;
    if (!o->num_strategies) o->strategies = strategies, o->num_strategies = 1;
    if (!o->num_precisions) o->precisions = fp32, o->num_precisions = 1;
    if (!o->min_samples) o->min_samples = dp_min_samples_for(0.99, o->confidence);
    dp_tune_result *r = s->r;
    r->best = -1;
    r->cores = cores;
    r->oversubscribe = o->oversubscribe;
    r->slo_p99_ms = o->slo_p99_ms;
    r->budget_s = o->budget_s;
    r->confidence = o->confidence;
    r->probe_seconds = o->probe_seconds;
    r->start_rate = fmin(o->start_rate, o->max_rate);
    r->min_samples = o->min_samples;
    r->strategies = calloc((size_t)o->num_strategies, sizeof *r->strategies);
    if (!r->strategies) return dpi_error(DP_ERR_NOMEM, "tune: out of memory");
    for (int i = 0; i < o->num_strategies; i++, r->num_strategies++)
        if (!(r->strategies[i] = dpi_strdup(o->strategies[i]))) return DP_ERR_NOMEM;
    return DP_OK;
}

DP_API dp_status dp_tune_search(const dp_tune_opts *opts, dp_tune_probe_fn probe, dp_tune_service_fn service,
                                void *user, dp_tune_result **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_tune_search: out is NULL");
    *out = NULL;
    if (!opts || !probe) return dpi_error(DP_ERR_INVALID_ARG, "dp_tune_search: opts and probe must not be NULL");
    search s = {.probe = probe, .service = service, .user = user, .r = calloc(1, sizeof(dp_tune_result))};
    if (!s.r) return dpi_error(DP_ERR_NOMEM, "tune: out of memory");
    dp_status e = resolve(&s, opts);
    if (e == DP_OK) e = enumerate(&s);
    if (e == DP_OK) e = measure_services(&s);
    if (e == DP_OK) e = make_order(&s);
    if (e == DP_OK) e = coarse(&s);
    if (e == DP_OK) e = fine(&s);
    if (e == DP_OK && s.o.confirm) e = confirm(&s);
    s.r->best = best_index(&s);
    free(s.order);
    if (e != DP_OK) {
        dp_tune_result_free(s.r);
        return e;
    }
    *out = s.r;
    return DP_OK;
}
