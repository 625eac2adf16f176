/* Helpers shared by the model tests: deterministic inputs and error measures. */
#ifndef DP_TESTS_MODEL_TEST_UTIL_H
#define DP_TESTS_MODEL_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* [n,3,h,w] values in [-1, 1) from an LCG (malloc'd). */
static inline float *dpt_random_input(int n, int h, int w, uint64_t seed) {
    float *x = malloc((size_t)n * 3 * h * w * sizeof *x);
    for (size_t i = 0; x && i < (size_t)n * 3 * h * w; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((seed >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
    }
    return x;
}

static inline double dpt_max_abs(const float *v, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

/* max |a - b| relative to max |b| */
static inline double dpt_rel_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fabs(a[i] - b[i]) > d ? fabs(a[i] - b[i]) : d;
    double m = dpt_max_abs(b, n);
    return m > 0 ? d / m : d;
}

#endif
