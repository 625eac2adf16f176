/* SIGINT and SIGTERM during a run. SIGTERM is what Slurm, systemd and container runtimes send;
 * with opts.handle_signals both end the run the way dp_runner_stop() does (the source stops,
 * queued samples finish, the summary is complete), and the handlers in place before the run are
 * restored after it. The handler only stores atomics and interrupts the source's sleep. */
#include <string.h>

#include "run.h"

static _Atomic(dp_runner *) signal_runner;

static void on_signal(int sig) {
    dp_runner *r = atomic_load(&signal_runner);
    if (r) dpi_run_request_stop(r, sig);
}

void dpi_signals_install(dp_runner *r) {
    dp_runner *none = NULL;
    r->sig.installed = 0;
    if (!r->opts.handle_signals) return;
    if (!atomic_compare_exchange_strong(&signal_runner, &none, r)) {
        dpi_log(DP_LOG_WARN, "runner: another run already handles SIGINT and SIGTERM; this one does not");
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &r->sig.old_int);
    sigaction(SIGTERM, &sa, &r->sig.old_term);
    r->sig.installed = 1;
}

void dpi_signals_restore(dp_runner *r) {
    if (!r->sig.installed) return;
    sigaction(SIGINT, &r->sig.old_int, NULL);
    sigaction(SIGTERM, &r->sig.old_term, NULL);
    atomic_store(&signal_runner, NULL);
    r->sig.installed = 0;
}
