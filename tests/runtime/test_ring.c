/* The record ring between workers and the metrics thread: a full ring drops (and counts) instead
 * of making its producer wait, records come out in order with their logits, and several
 * producers (drops from many submitters) deliver every record exactly once (under TSan too). */
#define _GNU_SOURCE /* pthread_tryjoin_np */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "runtime/ring.h"
#include "test.h"

/* A push that waited for room would hang with nobody consuming: fail then instead. */
static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_ring: a push into a full ring waited\n";
    ssize_t n = write(2, msg, sizeof msg - 1);
    (void)n;
    _exit(1);
}

static void full_ring_drops(void) {
    dpi_ring r;
    CHECK_OK(dpi_ring_init(&r, 8, 2));
    float logits[2] = {0.5f, -1.0f};
    int pushed = 0;
    signal(SIGALRM, on_alarm);
    alarm(10);
    for (int i = 0; i < 20; i++) {
        dp_result res = {.sample_id = i, .logits = logits};
        pushed += dpi_ring_push(&r, &res, logits);
    }
    alarm(0);
    CHECK_MSG(pushed == 8 && dpi_ring_dropped(&r) == 12, "pushed %d, dropped %lld", pushed,
              (long long)dpi_ring_dropped(&r));
    int in_order = 1, logits_ok = 1, n = 0;
    dp_result *res;
    while ((res = dpi_ring_peek(&r)) != NULL) {
        in_order &= res->sample_id == n++;
        logits_ok &= res->logits && res->logits[0] == 0.5f && res->logits[1] == -1.0f;
        dpi_ring_release(&r);
    }
    CHECK(n == 8 && in_order && logits_ok);
    /* Room again after the consumer read: the next lap works. */
    dp_result next = {.sample_id = 100};
    CHECK(dpi_ring_push(&r, &next, NULL) == 1);
    res = dpi_ring_peek(&r);
    CHECK(res && res->sample_id == 100 && res->logits == NULL);
    if (res) dpi_ring_release(&r);
    CHECK(dpi_ring_peek(&r) == NULL);
    dpi_ring_destroy(&r);
    dpi_ring_destroy(&r); /* twice is harmless */
}

#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct producer {
    dpi_ring *r;
    int id;
    int64_t dropped_seen;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        dp_result res = {.sample_id = (int64_t)p->id * PER_PRODUCER + i, .worker = p->id};
        p->dropped_seen += !dpi_ring_push(p->r, &res, NULL);
    }
    return NULL;
}

static void many_producers(void) {
    dpi_ring r;
    CHECK_OK(dpi_ring_init(&r, 256, 0));
    static unsigned char seen[PRODUCERS * PER_PRODUCER];
    memset(seen, 0, sizeof seen);
    pthread_t t[PRODUCERS];
    producer p[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (producer){&r, i, 0};
        pthread_create(&t[i], NULL, produce, &p[i]);
    }
    /* Consume while they produce; per producer, records arrive in the order it pushed them. */
    int64_t got = 0, last[PRODUCERS], out_of_order = 0, bad = 0;
    for (int i = 0; i < PRODUCERS; i++) last[i] = -1;
    int running = PRODUCERS, joined[PRODUCERS] = {0};
    while (running > 0 || dpi_ring_peek(&r)) {
        dp_result *res;
        while ((res = dpi_ring_peek(&r)) != NULL) {
            int64_t id = res->sample_id;
            if (id < 0 || id >= PRODUCERS * PER_PRODUCER || res->worker != id / PER_PRODUCER) {
                bad++;
            } else {
                seen[id]++;
                out_of_order += id <= last[res->worker];
                last[res->worker] = id;
            }
            got++;
            dpi_ring_release(&r);
        }
        for (int i = 0; i < PRODUCERS; i++)
            if (!joined[i] && pthread_tryjoin_np(t[i], NULL) == 0) {
                joined[i] = 1;
                running--;
            }
    }
    int64_t dropped = 0, twice = 0;
    for (int i = 0; i < PRODUCERS; i++) dropped += p[i].dropped_seen;
    for (int64_t i = 0; i < PRODUCERS * PER_PRODUCER; i++) twice += seen[i] > 1;
    CHECK_MSG(got + dropped == PRODUCERS * PER_PRODUCER, "got %lld + dropped %lld", (long long)got, (long long)dropped);
    CHECK(dropped == dpi_ring_dropped(&r));
    CHECK(bad == 0 && twice == 0 && out_of_order == 0);
    dpi_ring_destroy(&r);
}

int main(void) {
    full_ring_drops();
    many_producers();
    TEST_MAIN_END();
}
