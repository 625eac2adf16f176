/* Partitioners: every sample exactly once in batch mode (all strategies, W = 1..4, awkward N),
 * the shape of each strategy's plan, stream routing (round-robin, consistent hashing, smooth
 * weighted round-robin with online re-estimation), and bad arguments. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "dataparallel/partition_protocol.h"
#include "test.h"

static int mod3(int64_t sample_id, int64_t key, int workers, void *user) {
    (void)sample_id, (void)user;
    return (int)((key / 2) % workers); /* runs of 2 alternate between workers */
}

static int returns_user(int64_t sample_id, int64_t key, int workers, void *user) {
    (void)workers;
    return sample_id == 3 && key == 3 ? *(int *)user : 0;
}

static dp_partitioner *make(const char *name) {
    dp_partitioner *p = NULL;
    if (strcmp(name, "custom") == 0)
        CHECK_OK(dp_partitioner_create_custom(mod3, NULL, &p));
    else
        CHECK_OK(dp_partitioner_create(name, NULL, &p));
    return p;
}

typedef struct batch_job {
    dp_partitioner *p;
    int worker;
    _Atomic int *seen;
    int64_t n;
    int errors;
} batch_job;

static void *batch_worker(void *arg) {
    batch_job *j = arg;
    int64_t start, count;
    for (;;) {
        if (dp_partitioner_batch_next(j->p, j->worker, &start, &count) != DP_OK) {
            j->errors++;
            break;
        }
        if (count == 0) break;
        if (start < 0 || count < 0 || start + count > j->n) {
            j->errors++;
            break;
        }
        for (int64_t i = start; i < start + count; i++) atomic_fetch_add(&j->seen[i], 1);
    }
    return NULL;
}

/* Run a batch with W concurrent workers; 1 if every sample was handed out exactly once. */
static int exactly_once(dp_partitioner *p, int64_t n, int W) {
    _Atomic int *seen = calloc((size_t)(n > 0 ? n : 1), sizeof *seen);
    batch_job jobs[4];
    pthread_t th[4];
    if (dp_partitioner_batch_begin(p, n, W) != DP_OK) {
        free(seen);
        return 0;
    }
    for (int w = 0; w < W; w++) {
        jobs[w] = (batch_job){.p = p, .worker = w, .seen = seen, .n = n};
        pthread_create(&th[w], NULL, batch_worker, &jobs[w]);
    }
    int ok = 1;
    for (int w = 0; w < W; w++) {
        pthread_join(th[w], NULL);
        ok &= jobs[w].errors == 0;
    }
    for (int64_t i = 0; i < n; i++) ok &= seen[i] == 1;
    free(seen);
    return ok;
}

static void test_exactly_once(void) {
    const char *names[] = {"uniform", "sharded", "dynamic", "weighted", "custom"};
    const int64_t ns[] = {0, 1, 2, 3, 7, 10, 13, 101, 1001};
    for (size_t s = 0; s < 5; s++) {
        dp_partitioner *p = make(names[s]);
        if (!p) continue;
        CHECK(strcmp(dp_partitioner_name(p), names[s]) == 0);
        for (int W = 1; W <= 4; W++)
            for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
                CHECK_MSG(exactly_once(p, ns[k], W), "%s W=%d N=%lld", names[s], W, (long long)ns[k]);
        dp_partitioner_free(p);
    }
}

static void test_uniform_plan(void) {
    dp_partitioner *p = make("uniform");
    CHECK_OK(dp_partitioner_batch_begin(p, 10, 4));
    int64_t expect_start[] = {0, 3, 6, 8}, expect_count[] = {3, 3, 2, 2}, start, count;
    for (int w = 0; w < 4; w++) {
        CHECK_OK(dp_partitioner_batch_next(p, w, &start, &count));
        CHECK(start == expect_start[w] && count == expect_count[w]);
        CHECK_OK(dp_partitioner_batch_next(p, w, &start, &count));
        CHECK(count == 0);
    }
    /* stream: round-robin */
    int worker;
    CHECK_OK(dp_partitioner_stream_begin(p, 3));
    for (int i = 0; i < 9; i++) {
        CHECK_OK(dp_partitioner_route(p, i, 100 - i, NULL, &worker));
        CHECK(worker == i % 3);
    }
    CHECK(dp_partitioner_needs(p, 3) == 0);
    double wt[3];
    CHECK_OK(dp_partitioner_weights(p, wt, 3));
    CHECK(wt[0] == 1 && wt[2] == 1);
    dp_partitioner_free(p);
}

static void test_sharded_plan(void) {
    dp_partitioner_opts o;
    dp_partitioner_opts_init(&o);
    o.num_shards = 5;
    dp_partitioner *p = NULL;
    CHECK_OK(dp_partitioner_create("sharded", &o, &p));
    /* 5 shards of 100: 20 each; greedy gives 2 workers 3 and 2 shards (60/40), contiguous shards */
    CHECK_OK(dp_partitioner_batch_begin(p, 100, 2));
    int64_t start, count, load[2] = {0, 0}, shards[2] = {0, 0}, prev_end[2] = {-1, -1};
    int sorted = 1;
    for (int w = 0; w < 2; w++)
        for (;;) {
            CHECK_OK(dp_partitioner_batch_next(p, w, &start, &count));
            if (!count) break;
            CHECK(count == 20 && start % 20 == 0);
            sorted &= start > prev_end[w];
            prev_end[w] = start + count;
            load[w] += count;
            shards[w]++;
        }
    CHECK(sorted);
    CHECK(load[0] + load[1] == 100 && shards[0] == 3 && shards[1] == 2);
    /* greedy by size: shards 11,11,11,11,10,10,10,10,... of 86 into 8: loads differ by <= one shard */
    o.num_shards = 8;
    dp_partitioner_free(p);
    CHECK_OK(dp_partitioner_create("sharded", &o, &p));
    CHECK_OK(dp_partitioner_batch_begin(p, 86, 3));
    int64_t l3[3] = {0, 0, 0};
    for (int w = 0; w < 3; w++)
        while (dp_partitioner_batch_next(p, w, &start, &count) == DP_OK && count) l3[w] += count;
    CHECK(l3[0] + l3[1] + l3[2] == 86);
    for (int w = 0; w < 3; w++) CHECK(l3[w] >= 21 && l3[w] <= 33);
    dp_partitioner_free(p);
}

/* Consistent hashing: going from 4 to 5 workers moves about 1/5 of the keys, all to the new one. */
static void test_hash_movement(void) {
    enum { K = 100000 };
    dp_partitioner *p = make("sharded");
    static int before[K];
    int count4[4] = {0}, w, moved = 0, moved_elsewhere = 0, stable = 1, routed = 1;
    CHECK_OK(dp_partitioner_stream_begin(p, 4));
    for (int k = 0; k < K; k++) {
        routed &= dp_partitioner_route(p, k, k, NULL, &before[k]) == DP_OK;
        count4[before[k]]++;
    }
    for (int i = 0; i < 4; i++) CHECK_MSG(count4[i] > K / 8 && count4[i] < K * 3 / 8, "worker %d has %d", i, count4[i]);
    /* same key, same worker, whatever the sample id */
    CHECK_OK(dp_partitioner_route(p, 12345, 77, NULL, &w));
    stable &= w == before[77];
    CHECK(stable);
    CHECK_OK(dp_partitioner_stream_begin(p, 5));
    for (int k = 0; k < K; k++) {
        routed &= dp_partitioner_route(p, k, k, NULL, &w) == DP_OK;
        if (w != before[k]) {
            moved++;
            moved_elsewhere += w != 4;
        }
    }
    CHECK(routed);
    double frac = (double)moved / K;
    CHECK_MSG(frac > 0.1 && frac < 0.3, "moved %.3f of keys, expected about 0.2", frac);
    CHECK(moved_elsewhere == 0);
    dp_partitioner_free(p);
}

static void test_dynamic_guided(void) {
    dp_partitioner_opts o;
    dp_partitioner_opts_init(&o);
    o.min_chunk = 4;
    dp_partitioner *p = NULL;
    CHECK_OK(dp_partitioner_create("dynamic", &o, &p));
    CHECK(dp_partitioner_needs(p, 2) == DP_PARTITIONER_SHARED_QUEUE);
    CHECK_OK(dp_partitioner_batch_begin(p, 1000, 2));
    int64_t start, count, prev = INT64_MAX, expect_start = 0, total = 0, first = -1, chunks = 0;
    int shrinking = 1, contiguous = 1, min_ok = 1;
    for (int i = 0; i < 2000; i++) {
        CHECK_OK(dp_partitioner_batch_next(p, i % 2, &start, &count));
        if (!count) break;
        if (first < 0) first = count;
        shrinking &= count <= prev;
        contiguous &= start == expect_start;
        min_ok &= count >= 4 || start + count == 1000;
        prev = count;
        expect_start = start + count;
        total += count;
        chunks++;
    }
    CHECK(first == 250); /* remaining / (2 W) */
    CHECK(shrinking && contiguous && min_ok && total == 1000);
    CHECK(chunks > 10 && prev <= 4);
    int worker;
    CHECK_OK(dp_partitioner_stream_begin(p, 3));
    CHECK_OK(dp_partitioner_route(p, 0, 0, NULL, &worker));
    CHECK(worker == DP_ROUTE_SHARED);
    dp_partitioner_free(p);
}

static int64_t batch_share(dp_partitioner *p, int w) {
    int64_t start, count, total = 0;
    while (dp_partitioner_batch_next(p, w, &start, &count) == DP_OK && count) total += count;
    return total;
}

static void test_weighted_batch(void) {
    const double w13[] = {1, 3};
    dp_partitioner_opts o;
    dp_partitioner_opts_init(&o);
    o.weights = w13;
    o.num_weights = 2;
    dp_partitioner *p = NULL;
    CHECK_OK(dp_partitioner_create("weighted", &o, &p));
    CHECK_OK(dp_partitioner_batch_begin(p, 1000, 2));
    CHECK(batch_share(p, 0) == 250 && batch_share(p, 1) == 750);
    /* weight count must match W */
    CHECK_STATUS(dp_partitioner_batch_begin(p, 1000, 3), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("2 weights given for 3 workers");
    const double w121[] = {1, 2, 1};
    CHECK_OK(dp_partitioner_set_weights(p, w121, 3));
    CHECK_OK(dp_partitioner_batch_begin(p, 1001, 3));
    int64_t a = batch_share(p, 0), b = batch_share(p, 1), c = batch_share(p, 2);
    CHECK_MSG(a + b + c == 1001 && labs((long)(b - 500)) <= 1 && labs((long)(a - 250)) <= 1, "%lld %lld %lld",
              (long long)a, (long long)b, (long long)c);
    double wt[3];
    CHECK_OK(dp_partitioner_weights(p, wt, 3));
    CHECK(fabs(wt[0] - 0.75) < 1e-12 && fabs(wt[1] - 1.5) < 1e-12);
    /* no weights: equal */
    dp_partitioner *q = make("weighted");
    CHECK_OK(dp_partitioner_batch_begin(q, 9, 3));
    CHECK(batch_share(q, 0) == 3 && batch_share(q, 1) == 3 && batch_share(q, 2) == 3);
    dp_partitioner_free(q);
    dp_partitioner_free(p);
}

static void test_weighted_stream(void) {
    const double w511[] = {5, 1, 1};
    dp_partitioner *p = make("weighted");
    CHECK_OK(dp_partitioner_set_weights(p, w511, 3));
    CHECK_OK(dp_partitioner_stream_begin(p, 3));
    /* nginx's smooth WRR for 5,1,1 picks a a b a c a a: never a burst of 5 */
    int expect[] = {0, 0, 1, 0, 2, 0, 0}, worker, counts[3] = {0, 0, 0}, match = 1;
    for (int i = 0; i < 7000; i++) {
        CHECK_OK(dp_partitioner_route(p, i, i, NULL, &worker));
        if (i < 7) match &= worker == expect[i];
        counts[worker]++;
    }
    CHECK(match);
    CHECK_MSG(counts[0] == 5000 && counts[1] == 1000 && counts[2] == 1000, "%d %d %d", counts[0], counts[1],
              counts[2]);
    dp_partitioner_free(p);
}

typedef struct observe_job {
    dp_partitioner *p;
    int worker;
    int64_t ns;
} observe_job;

static void *observer(void *arg) {
    observe_job *j = arg;
    for (int i = 0; i < 2000; i++) dp_partitioner_observe(j->p, j->worker, 4, 4 * j->ns);
    return NULL;
}

/* Worker 1 is 4x slower: after its service times are observed (concurrently with routing) it
 * gets about 1/5 of the samples. */
static void test_weighted_ema(void) {
    dp_partitioner *p = make("weighted");
    CHECK_OK(dp_partitioner_stream_begin(p, 2));
    observe_job jobs[2] = {{p, 0, 100000}, {p, 1, 400000}};
    pthread_t th[2];
    for (int w = 0; w < 2; w++) pthread_create(&th[w], NULL, observer, &jobs[w]);
    int worker;
    for (int i = 0; i < 1000; i++) CHECK_OK(dp_partitioner_route(p, i, i, NULL, &worker));
    for (int w = 0; w < 2; w++) pthread_join(th[w], NULL);
    double wt[2];
    CHECK_OK(dp_partitioner_weights(p, wt, 2));
    CHECK_MSG(fabs(wt[0] - 1.6) < 1e-6 && fabs(wt[1] - 0.4) < 1e-6, "%g %g", wt[0], wt[1]);
    int counts[2] = {0, 0};
    for (int i = 0; i < 1000; i++) {
        CHECK_OK(dp_partitioner_route(p, i, i, NULL, &worker));
        counts[worker]++;
    }
    CHECK_MSG(abs(counts[0] - 800) <= 2 && counts[0] + counts[1] == 1000, "%d %d", counts[0], counts[1]);
    /* the EMA follows a change: worker 1 becomes as fast as worker 0 */
    for (int i = 0; i < 200; i++) dp_partitioner_observe(p, 1, 1, 100000);
    CHECK_OK(dp_partitioner_weights(p, wt, 2));
    CHECK_MSG(fabs(wt[0] - wt[1]) < 1e-3, "%g %g", wt[0], wt[1]);
    /* only worker 0 measured: the others are estimated from the given weights, calibrated on it */
    const double w211[] = {2, 1, 1};
    double w3[3];
    CHECK_OK(dp_partitioner_set_weights(p, w211, 3));
    CHECK_OK(dp_partitioner_stream_begin(p, 3));
    dp_partitioner_observe(p, 0, 1, 1000);
    CHECK_OK(dp_partitioner_weights(p, w3, 3));
    CHECK_MSG(fabs(w3[0] - 1.5) < 1e-9 && fabs(w3[1] - 0.75) < 1e-9, "%g %g %g", w3[0], w3[1], w3[2]);
    dp_partitioner_observe(p, 1, 1, 4000); /* measured 4x slower than worker 0, not the given 2x */
    CHECK_OK(dp_partitioner_weights(p, w3, 3));
    CHECK_MSG(fabs(w3[0] / w3[1] - 4) < 1e-9, "%g %g %g", w3[0], w3[1], w3[2]);
    dp_partitioner_free(p);
}

static void test_custom(void) {
    int bad = 5;
    dp_partitioner *p = NULL;
    CHECK_OK(dp_partitioner_create_custom(returns_user, &bad, &p));
    CHECK_STATUS(dp_partitioner_batch_begin(p, 10, 2), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("returned worker 5");
    int64_t start, count;
    CHECK_STATUS(dp_partitioner_batch_next(p, 0, &start, &count), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_partitioner_stream_begin(p, 2));
    int worker = 42;
    CHECK_OK(dp_partitioner_route(p, 2, 2, NULL, &worker));
    CHECK(worker == 0);
    bad = -1;
    CHECK_STATUS(dp_partitioner_route(p, 3, 3, NULL, &worker), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("-1");
    bad = 1;
    CHECK_OK(dp_partitioner_route(p, 3, 3, NULL, &worker));
    CHECK(worker == 1);
    dp_partitioner_free(p);

    /* many small ranges per worker, in order */
    p = make("custom");
    CHECK_OK(dp_partitioner_batch_begin(p, 9, 3));
    int64_t s[4], c[4], n = 0;
    while (n < 4 && dp_partitioner_batch_next(p, 1, &s[n], &c[n]) == DP_OK && c[n]) n++;
    CHECK(n == 2 && s[0] == 2 && c[0] == 2 && s[1] == 8 && c[1] == 1);
    n = 0;
    while (n < 4 && dp_partitioner_batch_next(p, 0, &s[n], &c[n]) == DP_OK && c[n]) n++;
    CHECK(n == 2 && s[0] == 0 && c[0] == 2 && s[1] == 6 && c[1] == 2);
    dp_partitioner_free(p);
}

static void test_bad_args(void) {
    dp_partitioner *p = (dp_partitioner *)1;
    CHECK_STATUS(dp_partitioner_create("round-robin", NULL, &p), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("round-robin");
    CHECK(p == NULL);
    CHECK_STATUS(dp_partitioner_create(NULL, NULL, &p), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_create("uniform", NULL, NULL), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_create_custom(NULL, NULL, &p), DP_ERR_INVALID_ARG);

    dp_partitioner_opts o;
    dp_partitioner_opts_init(&o);
    const double bad_w[] = {1, NAN};
    o.weights = bad_w;
    o.num_weights = 2;
    CHECK_STATUS(dp_partitioner_create("weighted", &o, &p), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("weight 1");
    dp_partitioner_opts_init(&o);
    o.ema_alpha = 1.5;
    CHECK_STATUS(dp_partitioner_create("weighted", &o, &p), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("ema_alpha");

    p = make("uniform");
    int64_t start, count;
    int worker;
    CHECK_STATUS(dp_partitioner_batch_next(p, 0, &start, &count), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_route(p, 0, 0, NULL, &worker), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_batch_begin(p, 10, 0), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("workers is 0");
    CHECK_STATUS(dp_partitioner_batch_begin(p, -1, 2), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_stream_begin(p, -3), DP_ERR_INVALID_ARG);
    CHECK_OK(dp_partitioner_batch_begin(p, 10, 2));
    CHECK_STATUS(dp_partitioner_batch_next(p, 2, &start, &count), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("worker 2");
    CHECK_STATUS(dp_partitioner_batch_next(p, 0, NULL, &count), DP_ERR_INVALID_ARG);
    const double neg[] = {1, -2};
    CHECK_STATUS(dp_partitioner_set_weights(p, neg, 2), DP_ERR_INVALID_ARG);
    CHECK_STATUS(dp_partitioner_set_weights(p, neg, 0), DP_ERR_INVALID_ARG);
    dp_partitioner_observe(p, 7, 1, 10); /* ignored */
    dp_partitioner_observe(NULL, 0, 1, 10);
    dp_partitioner_free(p);
    dp_partitioner_free(NULL);
    CHECK(strcmp(dp_partitioner_name(NULL), "") == 0);
}

int main(void) {
    test_exactly_once();
    test_uniform_plan();
    test_sharded_plan();
    test_hash_movement();
    test_dynamic_guided();
    test_weighted_batch();
    test_weighted_stream();
    test_weighted_ema();
    test_custom();
    test_bad_args();
    TEST_MAIN_END();
}
