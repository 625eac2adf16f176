/* What a configuration sustains: the one rule behind `dp-bench capacity` and `dp-bench tune`
 * (both run dp_tune_search; docs/tune.md "What a configuration sustains"). A capacity is a rate
 * some probe passed at, never one inferred: capacity is not monotone in the rate (a worker of two
 * oneDNN threads on busy cores passed at 6000/s and failed at 100/s, its idle threads being
 * descheduled between samples), so a rate counts only with every probe below it passing and one
 * of them at or under the low rate both tools start from. */
#include "tune_impl.h"

void dpi_tune_sustained(dp_tune_result *r, int c) {
    double failed = 0, top = 0;
    int low = 0;
    for (int i = 0; i < r->num_probes; i++) {
        const dp_tune_probe *p = &r->probes[i];
        if (p->candidate != c) continue;
        low |= p->rate <= r->start_rate;
        if (!p->ok && (failed == 0 || p->rate < failed)) failed = p->rate;
    }
    for (int i = 0; i < r->num_probes; i++) {
        const dp_tune_probe *p = &r->probes[i];
        if (p->candidate == c && p->ok && (failed == 0 || p->rate < failed) && p->rate > top) top = p->rate;
    }
    r->cands[c].capacity = low ? top : 0;
    r->cands[c].failed_rate = failed;
}
