/* A minimal test harness: each test file is a program whose main() runs its checks and ends
 * with the line "N passed, M failed" (ctest reads the exit code). */
#ifndef DP_TESTS_TEST_H
#define DP_TESTS_TEST_H

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dataparallel.h"

static int dpt_passed, dpt_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            dpt_passed++;                                                            \
        } else {                                                                     \
            dpt_failed++;                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                  \
    do {                                                                                      \
        if (cond) {                                                                           \
            dpt_passed++;                                                                     \
        } else {                                                                              \
            dpt_failed++;                                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
        }                                                                                     \
    } while (0)

/* A call that must return status st; prints dp_last_error() when it does not. */
#define CHECK_STATUS(call, st)                                                                   \
    do {                                                                                         \
        dp_status s_ = (call);                                                                   \
        CHECK_MSG(s_ == (st), "%s returned %s, expected %s (%s)", #call, dp_status_str(s_),      \
                  dp_status_str(st), dp_last_error());                                           \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, DP_OK)

/* The message of the last error must mention `needle`. */
#define CHECK_ERROR_MENTIONS(needle) \
    CHECK_MSG(strstr(dp_last_error(), (needle)) != NULL, "message \"%s\" lacks \"%s\"", dp_last_error(), (needle))

/* A regression test for a hang calls this first: if the test still runs after `seconds`, it
 * fails (exit 1, naming what hung) instead of hanging CI until ctest's timeout. */
static const char *dpt_watchdog_what;
static void dpt_watchdog_fire(int sig) {
    (void)sig;
    static const char msg[] = "watchdog: test still running after its time limit (a hang): ";
    if (write(2, msg, sizeof msg - 1) < 0 || write(2, dpt_watchdog_what, strlen(dpt_watchdog_what)) < 0 ||
        write(2, "\n", 1) < 0) {
    }
    _exit(1);
}
static inline void dpt_watchdog(unsigned seconds, const char *what) {
    dpt_watchdog_what = what;
    signal(SIGALRM, dpt_watchdog_fire);
    alarm(seconds);
}

#define TEST_MAIN_END()                                            \
    do {                                                           \
        printf("%d passed, %d failed\n", dpt_passed, dpt_failed); \
        return dpt_failed ? 1 : 0;                                 \
    } while (0)

#endif
