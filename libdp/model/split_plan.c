/* The split planner: cuts over a unit cost table minimising the slowest stage (docs/pipeline.md).
 * Exact dynamic programming over the legal cuts, O(S n^2) for S stages and n units (n < 100
 * here), and a greedy variant to compare with. */
#include <math.h>
#include <stdlib.h>

#include "dataparallel/split.h"
#include "util/sized.h"
#include "util/util.h"

DP_API void dp_split_opts_init_sized(dp_split_opts *opts, size_t size) {
    const dp_split_opts d = {.size = sizeof d, .stages = 2, .batch = 1, .method = DP_SPLIT_OPTIMAL};
    dpi_sized_init(opts, size, &d, sizeof d);
}

typedef struct plan {
    const dp_unit_info *u;
    int n;
    const dp_split_opts *o;
    double *prefix; /* prefix[b] = ms of units [0, b) */
} plan;

/* Time of stage s running units [a, b) and sending its output on (not the last stage). */
static double stage_ms(const plan *p, int s, int a, int b) {
    double t = (p->prefix[b] - p->prefix[a]) / (p->o->speeds ? p->o->speeds[s] : 1.0);
    if (b < p->n && p->o->link_bytes_per_s > 0)
        t += 1e3 * ((double)p->u[b - 1].out_bytes * p->o->batch / p->o->link_bytes_per_s + p->o->link_latency_s);
    return t;
}

/* best[s][b]: the smallest slowest-stage time of stages 0..s covering units [0, b); from[s][b]
 * the start of stage s in it. Each stage gets at least one unit. */
static dp_status optimal(const plan *p, int *cuts) {
    int S = p->o->stages, n = p->n;
    double *best = malloc(sizeof *best * (size_t)S * (n + 1));
    int *from = malloc(sizeof *from * (size_t)S * (n + 1));
    if (!best || !from) {
        free(best);
        free(from);
        return dpi_error(DP_ERR_NOMEM, "dp_split_plan: out of memory");
    }
#define AT(a, s, b) (a)[(size_t)(s) * (n + 1) + (b)]
    for (int b = 1; b <= n; b++) AT(best, 0, b) = stage_ms(p, 0, 0, b);
    for (int s = 1; s < S; s++)
        for (int b = s + 1; b <= n; b++) {
            AT(best, s, b) = -1;
            for (int a = s; a < b; a++) {
                double t = stage_ms(p, s, a, b), prev = AT(best, s - 1, a);
                if (prev > t) t = prev;
                if (AT(best, s, b) < 0 || t < AT(best, s, b)) AT(best, s, b) = t, AT(from, s, b) = a;
            }
        }
    for (int s = S - 1, b = n; s > 0; s--) b = cuts[s - 1] = AT(from, s, b);
#undef AT
    free(best);
    free(from);
    return DP_OK;
}

/* Stage s ends where the running total comes closest to its share of the whole, leaving one
 * unit at least for each later stage. */
static void greedy(const plan *p, int *cuts) {
    int S = p->o->stages, n = p->n;
    double speed_total = 0, speed_done = 0;
    for (int s = 0; s < S; s++) speed_total += p->o->speeds ? p->o->speeds[s] : 1.0;
    for (int s = 0, a = 0; s + 1 < S; s++) {
        speed_done += p->o->speeds ? p->o->speeds[s] : 1.0;
        double target = p->prefix[n] * speed_done / speed_total;
        int b = a + 1;
        while (b + 1 <= n - (S - 1 - s) && fabs(p->prefix[b + 1] - target) <= fabs(p->prefix[b] - target)) b++;
        cuts[s] = a = b;
    }
}

DP_API dp_status dp_split_plan(const dp_unit_info *units, int n, const dp_split_opts *opts, int *cuts,
                               double *stage_times) {
    dp_split_opts o;
    dp_split_opts_init(&o);
    dp_status s = dpi_sized_take(&o, sizeof o, opts, sizeof o, "dp_split_plan: opts", "dp_split_opts_init");
    if (s) return s;
    if (!units || (o.stages > 1 && !cuts))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_split_plan: %s is NULL", !units ? "units" : "cuts");
    if (o.stages < 1 || o.stages > n)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_split_plan: %d stages over %d units (need 1..units)", o.stages, n);
    if (o.batch < 1 || !(o.link_bytes_per_s >= 0) || !(o.link_latency_s >= 0))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_split_plan: batch %d must be >= 1, link_bytes_per_s %g and "
                         "link_latency_s %g >= 0", o.batch, o.link_bytes_per_s, o.link_latency_s);
    if (o.method != DP_SPLIT_OPTIMAL && o.method != DP_SPLIT_GREEDY)
        return dpi_error(DP_ERR_INVALID_ARG, "dp_split_plan: unknown method %d", (int)o.method);
    for (int k = 0; o.speeds && k < o.stages; k++)
        if (!(o.speeds[k] > 0))
            return dpi_error(DP_ERR_INVALID_ARG, "dp_split_plan: speeds[%d] = %g must be > 0", k, o.speeds[k]);
    for (int k = 0; k < n; k++)
        if (!(units[k].ms >= 0))
            return dpi_error(DP_ERR_INVALID_ARG, "dp_split_plan: unit %d (%s) has time %g ms", k,
                             units[k].name ? units[k].name : "?", units[k].ms);
    plan p = {units, n, &o, malloc(sizeof(double) * (size_t)(n + 1))};
    if (!p.prefix) return dpi_error(DP_ERR_NOMEM, "dp_split_plan: out of memory");
    p.prefix[0] = 0;
    for (int k = 0; k < n; k++) p.prefix[k + 1] = p.prefix[k] + units[k].ms;
    if (o.stages > 1 && o.method == DP_SPLIT_OPTIMAL) s = optimal(&p, cuts);
    else if (o.stages > 1) greedy(&p, cuts);
    for (int k = 0; !s && stage_times && k < o.stages; k++)
        stage_times[k] = stage_ms(&p, k, k == 0 ? 0 : cuts[k - 1], k + 1 == o.stages ? n : cuts[k]);
    free(p.prefix);
    return s;
}
