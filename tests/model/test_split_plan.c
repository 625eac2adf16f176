/* The split planner on synthetic cost tables: the dynamic programme equals brute force over
 * every cut set, greedy is never better than it, speeds and link cost move the cuts the
 * expected way, bad arguments. */
#include <stdlib.h>

#include "test.h"

#define N 7

static double rnd(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* The slowest stage for cuts, as the planner defines a stage's time. */
static double bottleneck(const dp_unit_info *u, int n, const dp_split_opts *o, const int *cuts) {
    double worst = 0;
    for (int s = 0; s < o->stages; s++) {
        int a = s ? cuts[s - 1] : 0, b = s + 1 < o->stages ? cuts[s] : n;
        double t = 0;
        for (int k = a; k < b; k++) t += u[k].ms;
        t /= o->speeds ? o->speeds[s] : 1.0;
        if (b < n && o->link_bytes_per_s > 0)
            t += 1e3 * ((double)u[b - 1].out_bytes * o->batch / o->link_bytes_per_s + o->link_latency_s);
        if (t > worst) worst = t;
    }
    return worst;
}

/* Smallest bottleneck over every increasing cut set of o->stages - 1 cuts in 1..n-1. */
static double brute(const dp_unit_info *u, int n, const dp_split_opts *o, int *cuts, int k, double best) {
    if (k == o->stages - 1) {
        double t = bottleneck(u, n, o, cuts);
        return best < 0 || t < best ? t : best;
    }
    for (int c = k ? cuts[k - 1] + 1 : 1; c <= n - (o->stages - 1 - k); c++) {
        cuts[k] = c;
        best = brute(u, n, o, cuts, k + 1, best);
    }
    return best;
}

static void test_against_brute_force(void) {
    uint64_t seed = 42;
    dp_unit_info u[N];
    for (int trial = 0; trial < 200; trial++) {
        double speeds[4];
        for (int k = 0; k < N; k++)
            u[k] = (dp_unit_info){.name = "u", .ms = rnd(&seed) * 10, .out_bytes = (size_t)(rnd(&seed) * 1e6)};
        for (int k = 0; k < 4; k++) speeds[k] = 0.25 + rnd(&seed);
        dp_split_opts o;
        dp_split_opts_init(&o);
        o.stages = 1 + trial % 4;
        o.speeds = trial % 3 ? speeds : NULL;
        o.link_bytes_per_s = trial % 2 ? 1e8 * (0.1 + rnd(&seed)) : 0;
        o.link_latency_s = trial % 5 == 1 ? 1e-3 : 0;
        o.batch = 1 + trial % 3;
        int cuts[4] = {0}, tmp[4], greedy[4] = {0};
        double times[4], want = brute(u, N, &o, tmp, 0, -1);
        CHECK_OK(dp_split_plan(u, N, &o, cuts, times));
        double got = bottleneck(u, N, &o, cuts), worst = 0;
        for (int s = 0; s < o.stages; s++) worst = times[s] > worst ? times[s] : worst;
        CHECK_MSG(fabs(got - want) <= 1e-9 * want, "trial %d: DP %g, brute force %g", trial, got, want);
        CHECK_MSG(fabs(worst - got) <= 1e-9 * got, "trial %d: stage times say %g, cuts give %g", trial, worst, got);
        for (int s = 1; s + 1 < o.stages; s++) CHECK(cuts[s] > cuts[s - 1]);
        o.method = DP_SPLIT_GREEDY;
        CHECK_OK(dp_split_plan(u, N, &o, greedy, NULL));
        for (int s = 0; s + 1 < o.stages; s++) CHECK(greedy[s] >= 1 + s && greedy[s] <= N - (o.stages - 1 - s));
        CHECK(bottleneck(u, N, &o, greedy) >= want - 1e-9 * want);
    }
}

/* Equal units: two equal stages cut in the middle; a slower second stage gets fewer units; a
 * link that makes one unit's output expensive moves the cut off it. */
static void test_directions(void) {
    dp_unit_info u[8];
    for (int k = 0; k < 8; k++) u[k] = (dp_unit_info){.name = "u", .ms = 1, .out_bytes = 1000};
    dp_split_opts o;
    dp_split_opts_init(&o);
    int cut = 0;
    CHECK_OK(dp_split_plan(u, 8, &o, &cut, NULL));
    CHECK(cut == 4);
    double slow_second[2] = {1, 0.5};
    o.speeds = slow_second;
    CHECK_OK(dp_split_plan(u, 8, &o, &cut, NULL));
    CHECK_MSG(cut == 5, "cut %d", cut); /* 5 units at speed 1 against 3 at 0.5: 5 ms vs 6 ms */
    o.method = DP_SPLIT_GREEDY;
    CHECK_OK(dp_split_plan(u, 8, &o, &cut, NULL));
    CHECK(cut == 5);
    o.method = DP_SPLIT_OPTIMAL;
    o.speeds = NULL;
    u[3].out_bytes = 100000000; /* 100 MB after unit 3 at 1 GB/s: 100 ms to send */
    o.link_bytes_per_s = 1e9;
    CHECK_OK(dp_split_plan(u, 8, &o, &cut, NULL));
    CHECK_MSG(cut != 4, "cut %d sends the 100 MB tensor", cut);
}

static void test_errors(void) {
    dp_unit_info u[3] = {{.ms = 1}, {.ms = 1}, {.ms = -1}};
    dp_split_opts o;
    dp_split_opts_init(&o);
    int cuts[4];
    CHECK_STATUS(dp_split_plan(u, 3, &o, cuts, NULL), DP_ERR_INVALID_ARG); /* negative time */
    u[2].ms = 1;
    o.stages = 4;
    CHECK_STATUS(dp_split_plan(u, 3, &o, cuts, NULL), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("4 stages over 3 units");
    o.stages = 2;
    double bad[2] = {1, 0};
    o.speeds = bad;
    CHECK_STATUS(dp_split_plan(u, 3, &o, cuts, NULL), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("speeds[1]");
    o.speeds = NULL;
    CHECK_STATUS(dp_split_plan(NULL, 3, &o, cuts, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_split_plan(u, 3, &o, NULL, NULL), DP_ERR_INVALID_ARG);
    o.stages = 1;
    double t;
    CHECK_OK(dp_split_plan(u, 3, &o, NULL, &t));
    CHECK(t == 3);
}

int main(void) {
    test_against_brute_force();
    test_directions();
    test_errors();
    TEST_MAIN_END();
}
