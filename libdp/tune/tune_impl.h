/* The result of a tuning search, shared by the search (search.c), the rule of what a
 * configuration sustains (sustain.c), its JSON (result.c) and the runner-backed probes
 * (measure.c, probe.c). */
#ifndef DP_TUNE_TUNE_IMPL_H
#define DP_TUNE_TUNE_IMPL_H

#include "dataparallel/tune.h"

struct dp_tune_result {
    dp_tune_candidate *cands;
    int num_cands;
    dp_tune_probe *probes;
    int num_probes, cap_probes;
    int best;                   /* index into cands, -1: none met the SLO */
    int confirmed;
    double used_s;
    int exhausted;
    /* the settings the search ran with (defaults resolved), for the JSON */
    double slo_p99_ms, budget_s, confidence, probe_seconds, start_rate;
    int64_t min_samples;
    int cores, oversubscribe;
    char **strategies;          /* owned copies; configs point into them */
    int num_strategies;
};

/* A source of `samples` samples of ds at `rate` under `policy` (probe.c). */
dp_status dpi_tune_source(dp_dataset *ds, dp_rate_policy policy, double rate, int64_t samples, dp_source **out);

/* Candidate c's capacity and failed_rate from its probes so far, by the rule of sustain.c. */
void dpi_tune_sustained(dp_tune_result *r, int c);

#endif
