/* ABI basics: status names, version consistency, thread-local errors, the log hook. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "test.h"
#include "util/util.h"

static void *other_thread(void *arg) {
    (void)arg;
    /* A fresh thread starts with no message, and its failures do not leak into others. */
    int clean = dp_last_error()[0] == '\0';
    dpi_error(DP_ERR_IO, "thread-local message");
    return (void *)(intptr_t)clean;
}

static int log_calls;
static dp_log_level last_level;
static char last_msg[256];
static void hook(dp_log_level level, const char *msg, void *user) {
    log_calls += *(int *)user;
    last_level = level;
    snprintf(last_msg, sizeof last_msg, "%s", msg);
}

static atomic_int counted;
static void count_hook(dp_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
    atomic_fetch_add(&counted, 1);
}
static void *log_loop(void *arg) {
    atomic_int *stop = arg;
    while (!atomic_load(stop)) dpi_log(DP_LOG_WARN, "from another thread");
    return NULL;
}

int main(void) {
    /* every status has a distinct DP_-prefixed name; out of range is named as unknown */
    for (int s = 0; s < DP_STATUS_COUNT_; s++) {
        const char *name = dp_status_str((dp_status)s);
        CHECK(name != NULL && strncmp(name, "DP_", 3) == 0);
        CHECK(strcmp(name, "DP_ERR_UNKNOWN") != 0);
        for (int t = 0; t < s; t++) CHECK(strcmp(name, dp_status_str((dp_status)t)) != 0);
    }
    CHECK(strcmp(dp_status_str(DP_OK), "DP_OK") == 0);
    CHECK(strcmp(dp_status_str(DP_ERR_SHAPE), "DP_ERR_SHAPE") == 0);
    CHECK(strcmp(dp_status_str((dp_status)DP_STATUS_COUNT_), "DP_ERR_UNKNOWN") == 0);
    CHECK(strcmp(dp_status_str((dp_status)-1), "DP_ERR_UNKNOWN") == 0);
    /* the numbering is part of the ABI */
    CHECK(DP_OK == 0 && DP_ERR_INVALID_ARG == 1 && DP_ERR_SHAPE == 4 && DP_ERR_INTERNAL == 13);

    /* version: macros, number and string agree */
    CHECK(dp_version() == DP_VERSION_NUMBER);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", DP_VERSION_MAJOR, DP_VERSION_MINOR, DP_VERSION_PATCH);
    CHECK(strcmp(dp_version_string(), expect) == 0);
    CHECK(strstr(dp_build_info(), "onednn") != NULL);

    /* errors: message set, thread-local */
    CHECK(dpi_error(DP_ERR_SHAPE, "w.npz: tensor %s has shape [%d]", "fc.weight", 3) == DP_ERR_SHAPE);
    CHECK(strcmp(dp_last_error(), "w.npz: tensor fc.weight has shape [3]") == 0);
    pthread_t th;
    void *clean = NULL;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, &clean);
    CHECK(clean == (void *)1);
    CHECK(strstr(dp_last_error(), "fc.weight") != NULL);

    /* log hook: nothing without one, level filtering with one */
    dpi_log(DP_LOG_ERROR, "dropped");
    int inc = 1;
    dp_set_log_fn(hook, &inc, DP_LOG_WARN);
    dpi_log(DP_LOG_INFO, "too verbose");
    CHECK(log_calls == 0);
    dpi_log(DP_LOG_WARN, "workers=%d", 3);
    CHECK(log_calls == 1 && last_level == DP_LOG_WARN && strcmp(last_msg, "workers=3") == 0);
    dp_set_log_fn(NULL, NULL, DP_LOG_DEBUG);
    dpi_log(DP_LOG_ERROR, "dropped again");
    CHECK(log_calls == 1);

    /* The hook may be swapped while library threads log (TSan checks there is no race). */
    atomic_int stop = 0;
    pthread_t logger;
    pthread_create(&logger, NULL, log_loop, &stop);
    for (int i = 0; i < 2000; i++) dp_set_log_fn(i % 2 ? count_hook : NULL, NULL, DP_LOG_WARN);
    atomic_store(&stop, 1);
    pthread_join(logger, NULL);
    dp_set_log_fn(NULL, NULL, DP_LOG_WARN);

    /* clock: monotonic, and sleeping to an absolute deadline does not return early */
    int64_t t0 = dp_now_ns();
    dpi_sleep_until_ns(t0 + 2000000, 50000);
    CHECK(dp_now_ns() >= t0 + 2000000);

    /* seeded generator: deterministic and in range */
    uint64_t a = 42, b = 42;
    for (int i = 0; i < 100; i++) {
        double x = dpi_rand_unit(&a);
        CHECK(x >= 0.0 && x < 1.0 && x == dpi_rand_unit(&b));
    }
    TEST_MAIN_END();
}
