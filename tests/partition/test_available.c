/* dp_partitioner_set_available: a worker that left gets no sample from uniform, sharded or
 * weighted; sharded moves only that worker's keys; weighted reports weight 0 for it; with every
 * worker gone route fails with DP_ERR_CLOSED; stream_begin makes every worker available again. */
#include "dataparallel/partition_protocol.h"
#include "test.h"

#define W 4
#define N 4000

static dp_partitioner *make(const char *name) {
    dp_partitioner *p = NULL;
    CHECK_OK(dp_partitioner_create(name, NULL, &p));
    CHECK_OK(dp_partitioner_stream_begin(p, W));
    return p;
}

/* Route N keys; count per worker and remember where each went. */
static void route_all(dp_partitioner *p, int *where, int *count) {
    memset(count, 0, sizeof(int) * W);
    for (int i = 0; i < N; i++) {
        int w = -2;
        dp_status s = dp_partitioner_route(p, i, i, NULL, &w);
        CHECK_MSG(s == DP_OK && w >= 0 && w < W, "%s: key %d: status %d worker %d", dp_partitioner_name(p), i, s, w);
        if (s != DP_OK || w < 0 || w >= W) return;
        where[i] = w;
        count[w]++;
    }
}

static void leaves(const char *name) {
    static int before[N], after[N];
    int count[W];
    dp_partitioner *p = make(name);
    route_all(p, before, count);
    CHECK_OK(dp_partitioner_set_available(p, 2, 0));
    route_all(p, after, count);
    CHECK_MSG(count[2] == 0, "%s routed %d samples to the worker that left", name, count[2]);
    for (int w = 0; w < W; w++)
        if (w != 2) CHECK_MSG(count[w] > N / W / 2, "%s: worker %d got only %d of %d", name, w, count[w], N);
    if (strcmp(name, "sharded") == 0) {
        int moved = 0;
        for (int i = 0; i < N; i++) moved += before[i] != 2 && after[i] != before[i];
        CHECK_MSG(moved == 0, "sharded moved %d keys of workers that stayed", moved);
    }
    if (strcmp(name, "weighted") == 0) {
        double wt[W];
        CHECK_OK(dp_partitioner_weights(p, wt, W));
        CHECK(wt[2] == 0 && fabs(wt[0] + wt[1] + wt[3] - 3.0) < 1e-9);
    }
    /* Back again: it gets samples again; a new stream starts with everyone. */
    CHECK_OK(dp_partitioner_set_available(p, 2, 1));
    route_all(p, after, count);
    CHECK(count[2] > 0);
    for (int w = 0; w < W; w++) CHECK_OK(dp_partitioner_set_available(p, w, 0));
    int w = -2;
    CHECK_STATUS(dp_partitioner_route(p, 1, 1, NULL, &w), DP_ERR_CLOSED);
    CHECK_OK(dp_partitioner_stream_begin(p, W));
    route_all(p, after, count);
    CHECK(count[0] > 0 && count[3] > 0);
    dp_partitioner_free(p);
}

int main(void) {
    leaves("uniform");
    leaves("sharded");
    leaves("weighted");
    /* dynamic routes to the shared queue whoever left: the workers that stay take from it. */
    dp_partitioner *p = make("dynamic");
    CHECK_OK(dp_partitioner_set_available(p, 0, 0));
    int w = 0;
    CHECK_OK(dp_partitioner_route(p, 0, 0, NULL, &w));
    CHECK(w == DP_ROUTE_SHARED);
    CHECK_STATUS(dp_partitioner_set_available(p, DP_MAX_WORKERS, 0), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_set_available(NULL, 0, 0), DP_ERR_INVALID_ARG);
    dp_partitioner_free(p);
    TEST_MAIN_END();
}
