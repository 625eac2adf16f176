/* The plugin's process-wide MPI state; see comm.h. */
#include "comm.h"
#include "wire.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define POLL_MIN_NS 20000
#define POLL_MAX_DEFAULT_US 200

/* Buffers a send may still read after its peer died; freed only after MPI_Finalize. */
typedef struct abandoned {
    struct abandoned *next;
    void *buf;
} abandoned;

static struct {
    pthread_mutex_t init_mu;
    int ready;
    int we_initialised;       /* then we also finalise, at exit */
    int comm_dup;             /* g.comm exists */
    int serialise;            /* thread level below MPI_THREAD_MULTIPLE */
    pthread_mutex_t call_mu;
    const dpi_worker_host *host;
    MPI_Comm comm;
    int rank, size;
    int64_t poll_max_ns;
    atomic_uint epoch;
    atomic_uint open_epoch;   /* the open runner's epoch, 0 when none */
    atomic_int *dead;         /* per rank */
    atomic_int *unanswered;   /* per rank */
    atomic_uint rr;           /* round robin over live ranks */
    pthread_mutex_t grave_mu;
    abandoned *grave;
} g = {.init_mu = PTHREAD_MUTEX_INITIALIZER,
       .call_mu = PTHREAD_MUTEX_INITIALIZER,
       .grave_mu = PTHREAD_MUTEX_INITIALIZER};

static void free_grave(void) {
    while (g.grave) {
        abandoned *a = g.grave;
        g.grave = a->next;
        free(a->buf);
        free(a);
    }
}

/* At exit: finalise MPI, which is collective. A rank that never acknowledged the end of a run
 * (killed, stopped, hung) would hang the finalize on rank 0, so the job is aborted instead,
 * after flushing what the program printed. */
static void at_exit(void) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (g.ready && g.rank == 0) {
        dpi_mpi_close_runner(1000000000LL);
        int missing = 0;
        for (int r = 1; r < g.size; r++) missing += atomic_load(&g.unanswered[r]) != 0;
        if (missing > 0) {
            g.host->log(DP_LOG_WARN,
                        "mpi: %d worker rank(s) did not answer the end of the run: ending the job with "
                        "MPI_Abort (a finalize would wait for them forever)",
                        missing);
            fflush(NULL);
            MPI_Abort(g.comm, 1);
        }
    }
    if (g.comm_dup) MPI_Comm_free(&g.comm);
    MPI_Finalize();
    free_grave();
}

/* Open MPI loads its components with dlopen(); they need libmpi's symbols in the global scope,
 * which a plugin loaded with RTLD_LOCAL does not give them. Promote libmpi if it is loaded. */
static void promote_libmpi(void) {
    static const char *const names[] = {"libmpi.so.40", "libmpi.so.12", "libmpi.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (dlopen(names[i], RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) return;
}

static dp_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return g.host->error(DP_ERR_BACKEND, "mpi: %s failed: %s", what, msg);
}

dp_status dpi_mpi_init(const dpi_worker_host *host) {
    dp_status s = DP_OK;
    pthread_mutex_lock(&g.init_mu);
    if (g.ready) goto out;
    g.host = host;
    int inited = 0, level = MPI_THREAD_SINGLE, rc;
    MPI_Initialized(&inited);
    if (!inited) {
        promote_libmpi();
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &level);
        if (rc != MPI_SUCCESS) {
            s = host->error(DP_ERR_BACKEND, "mpi: MPI_Init_thread failed (error %d)", rc);
            goto out;
        }
        g.we_initialised = 1;
        atexit(at_exit);
    } else {
        MPI_Query_thread(&level);
    }
    if (level < MPI_THREAD_SERIALIZED) {
        s = host->error(DP_ERR_UNSUPPORTED,
                        "mpi: MPI was initialised with thread level %d; the MPI backend needs "
                        "MPI_THREAD_SERIALIZED or MPI_THREAD_MULTIPLE (several runner threads talk to MPI)",
                        level);
        goto out;
    }
    g.serialise = level < MPI_THREAD_MULTIPLE;
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &g.comm);
    if (rc != MPI_SUCCESS) {
        s = mpi_fail(rc, "MPI_Comm_dup");
        goto out;
    }
    g.comm_dup = 1;
    /* A dead peer must come back as an error code, not abort this process. */
    MPI_Comm_set_errhandler(g.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g.comm, &g.rank);
    MPI_Comm_size(g.comm, &g.size);
    g.dead = calloc((size_t)g.size, sizeof *g.dead);
    g.unanswered = calloc((size_t)g.size, sizeof *g.unanswered);
    if (!g.dead || !g.unanswered) {
        s = host->error(DP_ERR_NOMEM, "mpi: out of memory for %d ranks", g.size);
        goto out;
    }
    const char *env = getenv("DP_MPI_POLL_MAX_US");
    long us = env ? strtol(env, NULL, 10) : POLL_MAX_DEFAULT_US;
    g.poll_max_ns = (us >= 1 && us <= 1000000 ? us : POLL_MAX_DEFAULT_US) * 1000L;
    if (g.poll_max_ns < POLL_MIN_NS) g.poll_max_ns = POLL_MIN_NS;
    g.ready = 1;
out:
    pthread_mutex_unlock(&g.init_mu);
    return s;
}

MPI_Comm dpi_mpi_comm(void) { return g.comm; }
int dpi_mpi_rank(void) { return g.rank; }
int dpi_mpi_size(void) { return g.size; }

dp_status dpi_mpi_open_runner(uint32_t *epoch) {
    unsigned e = atomic_load(&g.epoch) + 1, none = 0;
    if (!atomic_compare_exchange_strong(&g.open_epoch, &none, e))
        return g.host->error(DP_ERR_BUSY, "backend mpi: another MPI runner is open in this process; free it first "
                                          "(one MPI runner at a time)");
    atomic_store(&g.epoch, e);
    *epoch = e;
    return DP_OK;
}

void dpi_mpi_close_runner(int64_t timeout_ns) {
    unsigned e = atomic_exchange(&g.open_epoch, 0);
    if (e == 0 || g.rank != 0) return;
    int n = g.size - 1;
    dpi_mpi_hdr *msg = dpi_mpi_alloc(sizeof *msg);
    MPI_Request *rq = calloc((size_t)n, sizeof *rq);
    if (!msg || !rq) {
        dpi_mpi_free(msg);
        free(rq);
        return;
    }
    *msg = (dpi_mpi_hdr){.magic = DPI_MPI_MAGIC, .epoch = e, .kind = DPI_MSG_CLOSE};
    for (int r = 1; r <= n; r++) {
        /* Dead ranks too: one that only stopped answering batches is still waiting for it. */
        rq[r - 1] = MPI_REQUEST_NULL;
        dpi_mpi_lock();
        MPI_Isend(msg, (int)sizeof *msg, MPI_BYTE, r, DPI_TAG_REQUEST, g.comm, &rq[r - 1]);
        dpi_mpi_unlock();
    }
    if (dpi_mpi_wait(rq, n, 0, 0, g.host->now_ns() + timeout_ns) == 1) {
        dpi_mpi_free(msg);
    } else {
        for (int r = 0; r < n; r++) dpi_mpi_abandon(&rq[r], 1, r == 0 ? msg : NULL);
    }
    free(rq);
}

void dpi_mpi_lock(void) {
    if (g.serialise) pthread_mutex_lock(&g.call_mu);
}

void dpi_mpi_unlock(void) {
    if (g.serialise) pthread_mutex_unlock(&g.call_mu);
}

unsigned long dpi_mpi_fine_timers(void) {
    int saved = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    return saved > 0 ? (unsigned long)saved : 50000UL;
}

void dpi_mpi_restore_timers(unsigned long saved) { prctl(PR_SET_TIMERSLACK, saved, 0, 0, 0); }

static void sleep_ns(int64_t ns) {
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    nanosleep(&ts, NULL);
}

/* One poll-and-back-off loop for both waits: poll() returns 1 done, 0 not yet, -1 error. */
static int poll_loop(int (*poll)(void *arg), void *arg, int64_t first_sleep_ns, int64_t max_nap_ns,
                     int64_t deadline_ns) {
    int64_t nap = POLL_MIN_NS;
    if (max_nap_ns <= 0 || max_nap_ns > g.poll_max_ns) max_nap_ns = g.poll_max_ns;
    if (max_nap_ns < POLL_MIN_NS) max_nap_ns = POLL_MIN_NS;
    if (first_sleep_ns > g.poll_max_ns * 16) first_sleep_ns = g.poll_max_ns * 16;
    for (;;) {
        int done = poll(arg);
        if (done != 0) return done;
        int64_t now = g.host->now_ns();
        if (deadline_ns > 0 && now >= deadline_ns) return 0;
        int64_t t = first_sleep_ns > nap ? first_sleep_ns : nap;
        first_sleep_ns = 0;
        if (deadline_ns > 0 && now + t > deadline_ns) t = deadline_ns - now;
        sleep_ns(t);
        nap = nap * 2 < max_nap_ns ? nap * 2 : max_nap_ns;
    }
}

typedef struct test_arg {
    MPI_Request *reqs;
    int n;
} test_arg;

static int poll_test(void *arg) {
    test_arg *a = arg;
    int flag = 0;
    dpi_mpi_lock();
    int rc = MPI_Testall(a->n, a->reqs, &flag, MPI_STATUSES_IGNORE);
    dpi_mpi_unlock();
    if (rc != MPI_SUCCESS) {
        mpi_fail(rc, "MPI_Testall");
        return -1;
    }
    return flag;
}

int dpi_mpi_wait(MPI_Request *reqs, int n, int64_t first_sleep_ns, int64_t max_nap_ns, int64_t deadline_ns) {
    test_arg a = {reqs, n};
    return poll_loop(poll_test, &a, first_sleep_ns, max_nap_ns, deadline_ns);
}

typedef struct probe_arg {
    int src, tag;
    MPI_Status *st;
} probe_arg;

static int poll_probe(void *arg) {
    probe_arg *a = arg;
    int flag = 0;
    dpi_mpi_lock();
    int rc = MPI_Iprobe(a->src, a->tag, g.comm, &flag, a->st);
    dpi_mpi_unlock();
    if (rc != MPI_SUCCESS) {
        mpi_fail(rc, "MPI_Iprobe");
        return -1;
    }
    return flag;
}

int dpi_mpi_probe(int src, int tag, MPI_Status *st, int64_t deadline_ns) {
    probe_arg a = {src, tag, st};
    return poll_loop(poll_probe, &a, 0, 0, deadline_ns);
}

void dpi_mpi_abandon(MPI_Request *req, int is_send, void *buf) {
    if (*req == MPI_REQUEST_NULL) return;
    dpi_mpi_lock();
    MPI_Cancel(req);
    if (is_send) {
        MPI_Request_free(req);
    } else {
        /* A cancelled receive completes locally at once. */
        MPI_Wait(req, MPI_STATUS_IGNORE);
    }
    dpi_mpi_unlock();
    *req = MPI_REQUEST_NULL;
    if (!is_send || !buf) return;
    abandoned *a = malloc(sizeof *a);
    if (!a) return; /* leaked rather than freed while MPI may read it */
    a->buf = buf;
    pthread_mutex_lock(&g.grave_mu);
    a->next = g.grave;
    g.grave = a;
    pthread_mutex_unlock(&g.grave_mu);
}

int dpi_mpi_declare_dead(int rank) {
    return rank > 0 && rank < g.size && atomic_exchange(&g.dead[rank], 1) == 0;
}

int dpi_mpi_is_dead(int rank) { return rank > 0 && rank < g.size ? atomic_load(&g.dead[rank]) : 1; }

void dpi_mpi_set_unanswered(int rank, int unanswered) {
    if (rank > 0 && rank < g.size) atomic_store(&g.unanswered[rank], unanswered);
}

int dpi_mpi_next_live(int after) {
    int n = g.size - 1;
    if (n < 1) return -1;
    unsigned start = atomic_fetch_add(&g.rr, 1);
    for (int i = 0; i < n; i++) {
        int r = 1 + (int)((start + (unsigned)i) % (unsigned)n);
        if (r != after && !atomic_load(&g.dead[r])) return r;
    }
    return -1;
}

void *dpi_mpi_alloc(size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        g.host->error(DP_ERR_NOMEM, "mpi: out of memory for a %zu-byte message buffer", bytes);
        return NULL;
    }
    return p;
}

void dpi_mpi_free(void *p) { free(p); }
