/* The summary of a run (summary.c) and its JSON (summary_json.c). Field definitions:
 * docs/metrics.md. */
#ifndef DP_RUNTIME_SUMMARY_H
#define DP_RUNTIME_SUMMARY_H

#include "dataparallel/runner.h"

struct cJSON;
struct dp_runner;

/* The summary of the run that just ended (workers joined). per_worker points into the runner. */
void dpi_summary_compute(struct dp_runner *r, dp_summary *S);
/* An empty summary of `workers` workers (MPI server ranks). */
void dpi_summary_empty(struct dp_runner *r, dp_summary *S);
/* Check a caller's summary before a run (DP_ERR_INVALID_ARG naming fn) and clear it. */
dp_status dpi_summary_check(dp_summary *summary, const char *fn);
/* Give the caller the fields its summary has room for (out->size); out may be NULL. */
void dpi_summary_copy_out(dp_summary *out, const dp_summary *full);
/* The straggler rule: mine above factor x the median of peers[0..n) (the other workers of its
 * stage that ran; sorted in place). 0 with no peer. */
int dpi_straggler_rule(double mine, double *peers, int n, double factor);
/* Add the summary's fields to the JSON object o (the names of docs/metrics.md). */
void dpi_summary_json_fill(struct cJSON *o, const dp_summary *s);

#endif
