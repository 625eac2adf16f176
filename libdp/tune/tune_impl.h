/* The result of a tuning search, shared by the search (search.c), its JSON (tune_json.c) and the
 * runner-backed probes (measure.c). */
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

/* Candidate c's capacity and failed_rate from its probes so far, by the rule of sustain.c. */
void dpi_tune_sustained(dp_tune_result *r, int c);

#endif
