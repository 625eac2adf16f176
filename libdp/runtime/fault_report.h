/* What followed each injected event (fault_report.c; docs/runner.md, "What followed"): the
 * metrics thread feeds it every drained record and every interval row, and at the run's end it
 * fills each dp_fault_report's window p99, recovery time, straggler flag and weight movement. */
#ifndef DP_RUNTIME_FAULT_REPORT_H
#define DP_RUNTIME_FAULT_REPORT_H

#include <stdint.h>

#include "dataparallel/runner.h"

struct dp_runner;
typedef struct dpi_fault_track dpi_fault_track;

/* One interval row of the series: cumulative counters at t_s seconds after the run's start. */
typedef struct dpi_series_row {
    double t_s;
    int64_t completed, offered;
} dpi_series_row;

/* Recovery after an event at event_s, from rows[0..n) (ascending t_s; row i closes the interval
 * (rows[i-1].t_s, rows[i].t_s]). Only whole intervals in [event_s, horizon_s] count. An interval
 * is good when its completion rate is within tol (0.05) of the offered rate: target_rate when > 0,
 * else the interval's own offered rate. Returns 0 when every counted interval is good, else the
 * start of the last run of good intervals (they stay good until the horizon) minus event_s;
 * -1 when the last counted interval is bad (never back); NaN when no interval counts. */
double dpi_recovery_s(const dpi_series_row *rows, int n, double target_rate, double event_s, double horizon_s,
                      double tol);

/* Whether worker k is a straggler: service[k] above factor x the median of service[j] over the
 * other workers j with ran[j] > 0 and stage[j] == stage[k] (scratch: W doubles). 0 when k did not
 * run or has no peer. */
int dpi_is_straggler(const double *service, const int64_t *ran, const int *stage, int W, int k, double factor,
                     double *scratch);

/* Metrics thread. NULL with no events or out of memory (then the reports stay unfilled: NaN). */
dpi_fault_track *dpi_fault_track_new(struct dp_runner *r);
void dpi_fault_track_free(dpi_fault_track *t);
/* A record the metrics thread drained (completed ones count in the windows). */
void dpi_fault_track_record(dpi_fault_track *t, const dp_result *res);
/* An interval row at now_ns with the run's cumulative completed and offered counts. */
void dpi_fault_track_interval(dpi_fault_track *t, int64_t now_ns, int64_t completed, int64_t offered);
/* After the last row: fill the runner's reports. */
void dpi_fault_track_finish(dpi_fault_track *t, int64_t now_ns);

#endif
