/* dp-bench --repeat (tools/dp-bench/repeats.c) on synthetic run summaries: medians and intervals
 * per figure, deterministic for a seed, and the significance rule (intervals that do not
 * overlap) that the matrix's Markdown marks. */
#include <stdio.h>

#include "repeats.h"
#include "test.h"

/* A run summary as dp-bench stream --json writes it, with the figures --repeat reads. */
static cJSON *summary(double throughput, double p99) {
    cJSON *s = cJSON_CreateObject(), *lat = cJSON_AddObjectToObject(s, "latency_ms");
    cJSON_AddNumberToObject(s, "throughput", throughput);
    cJSON_AddNumberToObject(s, "efficiency_pct", throughput / 2);
    cJSON_AddNumberToObject(lat, "p50", p99 / 3);
    cJSON_AddNumberToObject(lat, "p90", p99 / 2);
    cJSON_AddNumberToObject(lat, "p99", p99);
    cJSON_AddNumberToObject(lat, "p999", p99 * 1.5);
    return s;
}

/* The repeats of a configuration whose throughputs are base + spread x {0, .., n-1} (shuffled). */
static cJSON *repeats_of(double base, double spread, int n, uint64_t seed) {
    cJSON *runs[16];
    const cJSON *view[16];
    for (int i = 0; i < n; i++) view[i] = runs[i] = summary(base + spread * ((i * 5) % n), 10 + i);
    cJSON *agg = dpb_repeats_json(view, n, seed);
    for (int i = 0; i < n; i++) cJSON_Delete(runs[i]);
    return agg;
}

static void figures(void) {
    cJSON *agg = repeats_of(100, 2, 7, 1);
    double v[3];
    CHECK(agg != NULL);
    CHECK(cJSON_GetObjectItemCaseSensitive(agg, "repeats")->valueint == 7);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(agg, "throughput"),
                                                              "values")) == 7);
    for (int k = 0; k < dpb_num_repeat_figures; k++) {
        CHECK_MSG(dpb_repeats_get(agg, dpb_repeat_figures[k], v) == 0, "%s missing", dpb_repeat_figures[k]);
        CHECK_MSG(v[1] <= v[0] && v[0] <= v[2], "%s: %g not in [%g, %g]", dpb_repeat_figures[k], v[0], v[1], v[2]);
    }
    CHECK(dpb_repeats_get(agg, "throughput", v) == 0 && v[0] == 106 && v[1] >= 100 && v[2] <= 112);
    CHECK(dpb_repeats_get(agg, "latency_ms.p99", v) == 0 && v[0] == 13);
    CHECK(dpb_repeats_get(agg, "latency_ms.max", v) == -1);
    /* The same runs and seed: the same JSON, byte for byte. */
    cJSON *again = repeats_of(100, 2, 7, 1);
    char *a = cJSON_PrintUnformatted(agg), *b = cJSON_PrintUnformatted(again);
    CHECK(a && b && strcmp(a, b) == 0);
    cJSON_free(a);
    cJSON_free(b);
    cJSON_Delete(again);
    cJSON_Delete(agg);
    /* Batch mode has no efficiency: left out, not zero. */
    cJSON *s = summary(50, 5);
    cJSON_DeleteItemFromObject(s, "efficiency_pct");
    const cJSON *one[1] = {s};
    agg = dpb_repeats_json(one, 1, 3);
    CHECK(dpb_repeats_get(agg, "efficiency_pct", v) == -1 && dpb_repeats_get(agg, "throughput", v) == 0 && v[1] == 50);
    cJSON_Delete(agg);
    cJSON_Delete(s);
}

static void significance(void) {
    double a[3], b[3], c[3];
    /* 100..112 against 130..142: apart; 100..112 against 105..117: overlapping. */
    cJSON *x = repeats_of(100, 2, 7, 9), *y = repeats_of(130, 2, 7, 9), *z = repeats_of(105, 2, 7, 9);
    CHECK(dpb_repeats_get(x, "throughput", a) == 0 && dpb_repeats_get(y, "throughput", b) == 0 &&
          dpb_repeats_get(z, "throughput", c) == 0);
    CHECK_MSG(dpb_repeats_differ(a, b) && dpb_repeats_differ(b, a), "[%g, %g] vs [%g, %g]", a[1], a[2], b[1], b[2]);
    CHECK_MSG(!dpb_repeats_differ(a, c) && !dpb_repeats_differ(c, a), "[%g, %g] vs [%g, %g]", a[1], a[2], c[1], c[2]);
    /* Touching ends overlap. */
    double l[3] = {1, 0, 2}, r[3] = {3, 2, 4};
    CHECK(!dpb_repeats_differ(l, r));
    cJSON_Delete(x);
    cJSON_Delete(y);
    cJSON_Delete(z);
}

int main(void) {
    figures();
    significance();
    TEST_MAIN_END();
}
