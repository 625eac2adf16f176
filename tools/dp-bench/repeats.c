/* --repeat N: medians and bootstrap intervals across runs; see repeats.h. */
#include "repeats.h"

#include <stdlib.h>
#include <string.h>

#include "dataparallel.h"

const char *const dpb_repeat_figures[] = {"throughput",     "efficiency_pct", "latency_ms.p50",
                                          "latency_ms.p90", "latency_ms.p99", "latency_ms.p999"};
const int dpb_num_repeat_figures = sizeof dpb_repeat_figures / sizeof dpb_repeat_figures[0];

#define CONFIDENCE 0.95

/* The number at path ("a" or "a.b") of obj; NULL when absent or not a number. */
static const cJSON *at_path(const cJSON *obj, const char *path) {
    const char *dot = strchr(path, '.');
    if (dot) {
        char head[64];
        snprintf(head, sizeof head, "%.*s", (int)(dot - path), path);
        obj = cJSON_GetObjectItemCaseSensitive(obj, head);
        path = dot + 1;
    }
    return cJSON_GetObjectItemCaseSensitive(obj, path);
}

/* The object that holds figure's entry in agg (creating "latency_ms" on the way), and its key. */
static cJSON *parent_of(cJSON *agg, const char *figure, const char **key) {
    const char *dot = strchr(figure, '.');
    *key = dot ? dot + 1 : figure;
    if (!dot) return agg;
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)(dot - figure), figure);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(agg, head);
    return p ? p : cJSON_AddObjectToObject(agg, head);
}

cJSON *dpb_repeats_json(const cJSON *const *summaries, int n, uint64_t seed) {
    cJSON *agg = cJSON_CreateObject();
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!agg || !v) goto fail;
    cJSON_AddNumberToObject(agg, "repeats", n);
    cJSON_AddNumberToObject(agg, "confidence", CONFIDENCE);
    cJSON_AddNumberToObject(agg, "resamples", DP_BOOTSTRAP_RESAMPLES);
    cJSON_AddNumberToObject(agg, "seed", (double)seed);
    for (int f = 0; f < dpb_num_repeat_figures; f++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            const cJSON *x = at_path(summaries[i], dpb_repeat_figures[f]);
            if (cJSON_IsNumber(x)) v[m++] = x->valuedouble;
        }
        double med, lo, hi;
        if (m < n || m == 0 || dp_bootstrap_median(v, m, CONFIDENCE, DP_BOOTSTRAP_RESAMPLES, seed, &med, &lo, &hi))
            continue; /* a figure some run lacks (batch mode has no efficiency) */
        const char *key;
        cJSON *parent = parent_of(agg, dpb_repeat_figures[f], &key), *e = cJSON_AddObjectToObject(parent, key);
        if (!e) goto fail;
        cJSON_AddNumberToObject(e, "median", med);
        cJSON_AddNumberToObject(e, "lo", lo);
        cJSON_AddNumberToObject(e, "hi", hi);
        cJSON_AddItemToObject(e, "values", cJSON_CreateDoubleArray(v, m));
    }
    free(v);
    return agg;
fail:
    free(v);
    cJSON_Delete(agg);
    return NULL;
}

int dpb_repeats_get(const cJSON *agg, const char *figure, double v[3]) {
    const cJSON *e = at_path(agg, figure);
    static const char *const keys[3] = {"median", "lo", "hi"};
    for (int k = 0; k < 3; k++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(e, keys[k]);
        if (!cJSON_IsNumber(x)) return -1;
        v[k] = x->valuedouble;
    }
    return 0;
}

int dpb_repeats_differ(const double a[3], const double b[3]) { return a[2] < b[1] || b[2] < a[1]; }

void dpb_repeats_print(FILE *f, const cJSON *agg) {
    fprintf(f, "over %d runs: medians and 95 %% bootstrap intervals (%d resamples, seed %.0f):\n",
            cJSON_GetObjectItemCaseSensitive(agg, "repeats")->valueint, DP_BOOTSTRAP_RESAMPLES,
            cJSON_GetObjectItemCaseSensitive(agg, "seed")->valuedouble);
    for (int k = 0; k < dpb_num_repeat_figures; k++) {
        double v[3];
        if (dpb_repeats_get(agg, dpb_repeat_figures[k], v) == 0)
            fprintf(f, "  %-16s %12.3f  [%.3f, %.3f]\n", dpb_repeat_figures[k], v[0], v[1], v[2]);
    }
}
