/* The tuning search driven by a table instead of runs: on a small space it finds the best that
 * probing every configuration finds; each pruning rule marks what it should and nothing pruned is
 * probed; service times are measured once per (batch, threads, precision); the budget cuts the
 * search short with a result; the best is confirmed by a repeat; a configuration that fails at low
 * rates is credited with nothing, as the capacity search credits it; every capacity is a rate
 * that passed with every lower probe passing; bad options are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataparallel.h"
#include "test.h"

#define SLO 10.0

typedef struct world {
    int service_calls;
    int unsupported_bf16;
    int fail_first_confirm;     /* the first probe that repeats a passing (configuration, rate) fails */
    double passed[256];         /* true capacity x rate of the passing probes, to recognise a repeat */
    int num_passed;
    const dp_tune_config *idle_fails; /* this one fails below idle_below/s (as a worker whose idle */
    double idle_below;                /* threads are descheduled on busy cores), passes above */
} world;

/* One full micro-batch: longer with the batch, shorter with threads (10.4 ms at 16 x 1 thread). */
static double service_ms(int batch, int threads) { return (0.8 + 0.6 * batch) / (threads == 1 ? 1.0 : 1.6); }

/* The true capacity: a fraction (from a hash of the configuration) of what the service time
 * allows, so it never exceeds the bound the search prunes with. */
static double true_capacity(const dp_tune_config *c) {
    unsigned h = (unsigned)c->workers * 7919u + (unsigned)c->threads_per_worker * 104729u +
                 (unsigned)c->max_batch * 1299709u + (unsigned)c->max_delay_us * 15485863u +
                 (unsigned)(c->strategy[0] == 'd') * 32452843u + (unsigned)c->precision * 49979687u;
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    double eff = 0.30 + 0.65 * (double)(h % 1000) / 1000.0;
    return eff * c->workers * c->max_batch * 1000.0 / service_ms(c->max_batch, c->threads_per_worker);
}

static int same(const dp_tune_config *a, const dp_tune_config *b) {
    return a->workers == b->workers && a->threads_per_worker == b->threads_per_worker &&
           a->max_batch == b->max_batch && a->max_delay_us == b->max_delay_us && a->precision == b->precision &&
           strcmp(a->strategy, b->strategy) == 0;
}

static dp_status fake_probe(const dp_tune_config *cfg, double rate, int64_t samples, dp_tune_outcome *out,
                            void *user) {
    world *w = user;
    int ok = rate <= true_capacity(cfg) && !(w->idle_fails && same(cfg, w->idle_fails) && rate < w->idle_below);
    double key = true_capacity(cfg) * rate;
    for (int i = 0; w->fail_first_confirm && ok && i < w->num_passed; i++)
        if (w->passed[i] == key) w->fail_first_confirm = ok = 0;
    if (ok && w->num_passed < 256) w->passed[w->num_passed++] = key;
    *out = (dp_tune_outcome){.p99_ms = ok ? SLO / 2 : SLO * 2, .throughput = ok ? rate : 0.9 * rate,
                             .seconds = (double)samples / rate + 0.1};
    return DP_OK;
}

static dp_status fake_service(int batch, int threads, dp_precision p, double *ms, double *seconds, void *user) {
    world *w = user;
    w->service_calls++;
    *seconds = 0.05;
    if (p == DP_PRECISION_BF16 && w->unsupported_bf16) return DP_ERR_UNSUPPORTED;
    *ms = service_ms(batch, threads) * (p == DP_PRECISION_BF16 ? 0.6 : 1.0);
    return DP_OK;
}

static const int workers[] = {1, 2}, threads[] = {1, 2}, batches[] = {1, 4, 16};
static const int64_t delays[] = {0, 1000};
static const char *const strategies[] = {"uniform", "dynamic"};

static void space(dp_tune_opts *o) {
    dp_tune_opts_init(o);
    o->slo_p99_ms = SLO;
    o->budget_s = 1e6;
    o->cores = 2;
    o->workers = workers, o->num_workers = 2;
    o->threads = threads, o->num_threads = 2;
    o->max_batch = batches, o->num_max_batch = 3;
    o->max_delay_us = delays, o->num_max_delay_us = 2;
    o->strategies = strategies, o->num_strategies = 2;
}

/* The rule both tools share: a capacity is a rate a probe of the configuration passed at, every
 * probe of it at a lower rate passed, and one of those was at or below the start rate. */
static void check_sustained(const dp_tune_result *r, double start_rate) {
    const dp_tune_probe *p = dp_tune_probes(r);
    for (int i = 0; i < dp_tune_num_candidates(r); i++) {
        double cap = dp_tune_candidates(r)[i].capacity;
        int at = 0, low = 0;
        for (int j = 0; j < dp_tune_num_probes(r); j++) {
            if (p[j].candidate != i || p[j].rate > cap) continue;
            CHECK_MSG(p[j].ok, "configuration %d credited with %g/s failed at %g/s", i, cap, p[j].rate);
            at |= p[j].rate == cap;
            low |= p[j].rate <= start_rate;
        }
        if (cap > 0) CHECK_MSG(at && low, "configuration %d: %g/s probed %d, start rate probed %d", i, cap, at, low);
    }
}

/* One capacity search over cfg alone, as dp-bench capacity runs it. */
static double capacity_of(const dp_tune_config *cfg, world *w, int *probes) {
    dp_tune_opts one;
    space(&one);
    one.workers = &cfg->workers, one.num_workers = 1;
    one.threads = &cfg->threads_per_worker, one.num_threads = 1;
    one.max_batch = &cfg->max_batch, one.num_max_batch = 1;
    one.max_delay_us = &cfg->max_delay_us, one.num_max_delay_us = 1;
    one.strategies = &cfg->strategy, one.num_strategies = 1;
    one.coarse_tolerance = 0.02;
    one.refine = 0;
    one.confirm = 0;
    one.shrink = 10;
    dp_tune_result *e = NULL;
    CHECK_OK(dp_tune_search(&one, fake_probe, NULL, w, &e));
    check_sustained(e, one.start_rate);
    double cap = dp_tune_best(e, NULL, NULL);
    if (probes) *probes += dp_tune_num_probes(e);
    dp_tune_result_free(e);
    return cap;
}

/* The capacity search alone on every configuration the full search did not rule out as
 * equivalent or infeasible, then the best of those. */
static void matches_exhaustive(void) {
    dp_tune_opts o;
    space(&o);
    world w = {0};
    dp_tune_result *r = NULL;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    if (!r) return;
    dp_tune_config best;
    int confirmed = 0;
    double cap = dp_tune_best(r, &best, &confirmed);
    CHECK(cap > 0 && confirmed);
    check_sustained(r, o.start_rate);

    double top = 0, second = 0, top_cap = 0;
    int top_i = -1;
    int exhaustive_probes = 0;
    const dp_tune_candidate *c = dp_tune_candidates(r);
    for (int i = 0; i < dp_tune_num_candidates(r); i++) {
        dp_tune_verdict v = c[i].verdict;
        if (v == DP_TUNE_PRUNED_CORES || v == DP_TUNE_PRUNED_SAME || v == DP_TUNE_PRUNED_SLO) continue;
        double v_cap = capacity_of(&c[i].config, &w, &exhaustive_probes);
        if (v_cap > top) {
            second = top;
            top = v_cap, top_i = i, top_cap = true_capacity(&c[i].config);
        } else if (v_cap > second) {
            second = v_cap;
        }
    }
    /* The table separates the best from the rest by more than the coarse tolerance (else "same
     * best" would be a matter of probe tolerance, not of the search). */
    CHECK_MSG(top > second * 1.15 && top_i >= 0, "table: best %g, second %g", top, second);
    const dp_tune_config top_cfg = c[top_i < 0 ? 0 : top_i].config;
    CHECK_MSG(same(&best, &top_cfg), "tune found %dx%d b%d d%lld %s, exhaustive %dx%d b%d d%lld %s", best.workers,
              best.threads_per_worker, best.max_batch, (long long)best.max_delay_us, best.strategy, top_cfg.workers,
              top_cfg.threads_per_worker, top_cfg.max_batch, (long long)top_cfg.max_delay_us, top_cfg.strategy);
    CHECK_MSG(cap <= top_cap && cap >= top_cap / 1.02 / 1.10, "capacity %g, true %g", cap, top_cap);
    CHECK_MSG(dp_tune_num_probes(r) < exhaustive_probes, "tune %d probes, exhaustive %d", dp_tune_num_probes(r),
              exhaustive_probes);
    dp_tune_result_free(r);
}

static void pruning_rules(void) {
    dp_tune_opts o;
    space(&o);
    world w = {0};
    dp_tune_result *r = NULL;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    if (!r) return;
    /* once per (batch, threads) among configurations not pruned before measuring */
    CHECK_MSG(w.service_calls == 6, "%d service measurements", w.service_calls);
    const dp_tune_candidate *c = dp_tune_candidates(r);
    int n = dp_tune_num_candidates(r), counts[16] = {0};
    CHECK(n == 2 * 2 * 3 * 2 * 2);
    int *probed = calloc((size_t)n, sizeof *probed);
    for (int i = 0; probed && i < dp_tune_num_probes(r); i++) probed[dp_tune_probes(r)[i].candidate] = 1;
    for (int i = 0; i < n; i++) {
        const dp_tune_config *k = &c[i].config;
        dp_tune_verdict v = c[i].verdict;
        counts[v]++;
        if (k->workers * k->threads_per_worker > 2) CHECK(v == DP_TUNE_PRUNED_CORES);
        else if ((k->workers == 1 && strcmp(k->strategy, "uniform") != 0) || (k->max_batch == 1 && k->max_delay_us))
            CHECK(v == DP_TUNE_PRUNED_SAME);
        else if (service_ms(k->max_batch, k->threads_per_worker) > SLO)
            CHECK(v == DP_TUNE_PRUNED_SLO);
        else
            CHECK(v == DP_TUNE_MEASURED || v == DP_TUNE_BELOW_BEST || v == DP_TUNE_PRUNED_BOUND);
        if (v == DP_TUNE_PRUNED_BOUND) CHECK(c[i].bound * 1.5 < dp_tune_best(r, NULL, NULL));
        if (v != DP_TUNE_MEASURED && v != DP_TUNE_BELOW_BEST) CHECK_MSG(probed && !probed[i], "pruned %d was probed", i);
        if (v == DP_TUNE_BELOW_BEST) CHECK(c[i].capacity == 0 && c[i].failed_rate > 0);
    }
    CHECK(counts[DP_TUNE_PRUNED_CORES] > 0 && counts[DP_TUNE_PRUNED_SAME] > 0 && counts[DP_TUNE_PRUNED_SLO] > 0);
    CHECK(counts[DP_TUNE_PRUNED_BOUND] > 0 && counts[DP_TUNE_BELOW_BEST] > 0);
    free(probed);
    dp_tune_result_free(r);

    /* a batch above one already over the SLO is pruned without measuring it */
    const int more[] = {1, 4, 16, 32};
    o.max_batch = more, o.num_max_batch = 4;
    w.service_calls = 0;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    CHECK_MSG(w.service_calls == 7, "%d service measurements", w.service_calls);
    for (int i = 0; r && i < dp_tune_num_candidates(r); i++) {
        const dp_tune_candidate *k = &dp_tune_candidates(r)[i];
        if (k->config.max_batch == 32 && k->config.threads_per_worker == 1 && k->verdict != DP_TUNE_PRUNED_SAME &&
            k->verdict != DP_TUNE_PRUNED_CORES)
            CHECK(k->verdict == DP_TUNE_PRUNED_SLO && k->service_ms == 0);
    }
    dp_tune_result_free(r);
    o.max_batch = batches, o.num_max_batch = 3;

    /* oversubscribing allowed: 2 x 2 is searched too */
    o.oversubscribe = 1;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    for (int i = 0; r && i < dp_tune_num_candidates(r); i++)
        CHECK(dp_tune_candidates(r)[i].verdict != DP_TUNE_PRUNED_CORES);
    dp_tune_result_free(r);
}

static void precisions(void) {
    dp_tune_opts o;
    space(&o);
    const dp_precision ps[] = {DP_PRECISION_FP32, DP_PRECISION_BF16};
    o.precisions = ps, o.num_precisions = 2;
    world w = {.unsupported_bf16 = 1};
    dp_tune_result *r = NULL;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    int unsupported = 0;
    for (int i = 0; r && i < dp_tune_num_candidates(r); i++) {
        const dp_tune_candidate *c = &dp_tune_candidates(r)[i];
        if (c->config.precision == DP_PRECISION_BF16 && c->verdict != DP_TUNE_PRUNED_CORES &&
            c->verdict != DP_TUNE_PRUNED_SAME)
            unsupported += c->verdict == DP_TUNE_UNSUPPORTED;
    }
    CHECK(unsupported > 0);
    dp_tune_config best;
    CHECK(dp_tune_best(r, &best, NULL) > 0 && best.precision == DP_PRECISION_FP32);
    dp_tune_result_free(r);
    /* where bf16 runs, its shorter service time wins */
    w.unsupported_bf16 = 0;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    CHECK(dp_tune_best(r, &best, NULL) > 0 && best.precision == DP_PRECISION_BF16);
    dp_tune_result_free(r);
}

static void budget_and_confirm(void) {
    dp_tune_opts o;
    space(&o);
    o.budget_s = 3; /* a few probes of 368 samples at hundreds per second */
    world w = {0};
    dp_tune_result *r = NULL;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    int exhausted = 0;
    double used = dp_tune_seconds(r, &exhausted);
    CHECK_MSG(used <= 3 && exhausted, "used %g of 3 s", used);
    int not_reached = 0;
    for (int i = 0; r && i < dp_tune_num_candidates(r); i++)
        not_reached += dp_tune_candidates(r)[i].verdict == DP_TUNE_NOT_REACHED;
    CHECK(not_reached > 0);
    dp_tune_result_free(r);

    /* the first repeat fails: the best is lowered and repeated again */
    space(&o);
    w = (world){.fail_first_confirm = 1};
    o.refine = 0;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    int confirms = 0, confirmed = 0;
    for (int i = 0; r && i < dp_tune_num_probes(r); i++) confirms += dp_tune_probes(r)[i].phase == DP_TUNE_CONFIRM;
    double cap = dp_tune_best(r, NULL, &confirmed);
    CHECK_MSG(confirms >= 2 && confirmed && cap > 0, "%d confirming probes, confirmed %d", confirms, confirmed);
    const dp_tune_probe *last = &dp_tune_probes(r)[dp_tune_num_probes(r) - 1];
    CHECK(last->phase == DP_TUNE_CONFIRM && last->ok && last->rate == cap);
    check_sustained(r, o.start_rate);
    size_t need = dp_tune_result_to_json(r, NULL, 0);
    char *text = malloc(need + 1);
    CHECK(need > 0 && text && dp_tune_result_to_json(r, text, need + 1) == need);
    CHECK(text && strstr(text, "\"best\":{") && strstr(text, "\"verdict\":\"pruned: oversubscribed cores\""));
    CHECK_MSG(text && strstr(text, "\"start_rate\":"), "no start_rate in %s", text ? text : "(null)");
    free(text);
    dp_tune_result_free(r);
}

/* The best of the table made to fail at low rates (passing well above the start rate): the
 * capacity search credits it with nothing, so tune must not report it at its high rate. */
static void fails_at_low_rates(void) {
    dp_tune_opts o;
    space(&o);
    world w = {0};
    dp_tune_result *r = NULL;
    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    dp_tune_config sick;
    double cap = dp_tune_best(r, &sick, NULL);
    char name[32]; /* sick.strategy points into r */
    snprintf(name, sizeof name, "%s", cap > 0 ? sick.strategy : "");
    sick.strategy = name;
    dp_tune_result_free(r);
    w = (world){.idle_fails = &sick, .idle_below = cap / 4};
    CHECK_MSG(cap / 4 > o.start_rate, "table: best %g/s too close to the start rate", cap);
    CHECK_MSG(capacity_of(&sick, &w, NULL) == 0, "capacity search credits %g/s", capacity_of(&sick, &w, NULL));

    CHECK_OK(dp_tune_search(&o, fake_probe, fake_service, &w, &r));
    dp_tune_config best;
    int confirmed = 0;
    double now = dp_tune_best(r, &best, &confirmed);
    CHECK_MSG(now > 0 && confirmed && !same(&best, &sick), "tune reports %g/s, the sick one %s", now,
              same(&best, &sick) ? "again" : "not");
    CHECK_MSG(now <= capacity_of(&best, &w, NULL) * 1.10, "tune %g/s, capacity search %g/s", now, capacity_of(&best, &w, NULL));
    for (int i = 0; r && i < dp_tune_num_candidates(r); i++) {
        const dp_tune_candidate *c = &dp_tune_candidates(r)[i];
        if (same(&c->config, &sick))
            CHECK_MSG(c->capacity == 0 && (c->verdict == DP_TUNE_FAILS_START || c->verdict == DP_TUNE_MEASURED),
                      "sick configuration: %g/s, %s", c->capacity, dp_tune_verdict_str(c->verdict));
    }
    check_sustained(r, o.start_rate);
    dp_tune_result_free(r);
}

static void bad_options(void) {
    dp_tune_opts o;
    space(&o);
    dp_tune_result *r = (dp_tune_result *)&o;
    world w = {0};
    o.slo_p99_ms = 0;
    CHECK_STATUS(dp_tune_search(&o, fake_probe, NULL, &w, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("slo_p99_ms");
    CHECK(r == NULL);
    space(&o);
    const int zero[] = {0};
    o.workers = zero;
    o.num_workers = 1;
    CHECK_STATUS(dp_tune_search(&o, fake_probe, NULL, &w, &r), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("workers[0]");
    space(&o);
    CHECK_STATUS(dp_tune_search(&o, NULL, NULL, &w, &r), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_tune(NULL, NULL, NULL, NULL, &o, &r), DP_ERR_INVALID_ARG);
    dp_tune_result_free(NULL);
    CHECK(dp_tune_best(NULL, NULL, NULL) == 0);
    dp_tune_outcome out;
    CHECK_STATUS(dp_tune_probe_runner(NULL, NULL, &out), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dp_tune_probe_runner");
    CHECK_STATUS(dp_tune_warm_up(NULL, NULL, NULL), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("dp_tune_warm_up");
}

int main(void) {
    matches_exhaustive();
    pruning_rules();
    precisions();
    budget_and_confirm();
    fails_at_low_rates();
    bad_options();
    TEST_MAIN_END();
}
