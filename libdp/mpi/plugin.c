/*
 * libdataparallel_mpi — the runner's MPI backend, loaded by libdataparallel with dlopen() when
 * dp_runner_opts.backend is DP_RUNNER_MPI (so the core library never links MPI). Its only
 * exported symbol is the entry point DPI_MPI_PLUGIN_ENTRY_NAME of libdp/runtime/worker.h.
 *
 * Every rank runs the same program. Rank 0 is the coordinator: its runner does everything as in
 * the threads backend, except that worker thread k sends its micro-batches to rank
 * 1 + k % (size - 1). Ranks
 * > 0 are servers: their run functions serve micro-batches until rank 0's run ends. MPI is
 * initialised by the first runner and finalised at exit. See docs/distributed.md.
 */
#include <stdlib.h>
#include <string.h>

#include "mpi_impl.h"

static dp_status mpi_open(const dpi_worker_host *host, const dpi_worker_config *cfg, int *workers,
                          int *is_server, void **backend) {
    dp_status s = dpi_mpi_init(host);
    if (s != DP_OK) return s;
    int rank = dpi_mpi_rank(), size = dpi_mpi_size();
    if (size < 2)
        return host->error(DP_ERR_INVALID_ARG,
                           "backend mpi: this process is the only MPI rank; start the program under "
                           "mpirun -np N (or srun) with N >= 2: rank 0 runs the source, ranks 1..N-1 "
                           "are the workers");
    dpi_mpi_backend *b = calloc(1, sizeof *b);
    if (!b) return host->error(DP_ERR_NOMEM, "backend mpi: out of memory");
    s = dpi_mpi_open_runner(&b->epoch);
    if (s != DP_OK) {
        free(b);
        return s;
    }
    b->host = host;
    b->cfg = cfg;
    b->rank = rank;
    b->size = size;
    /* Worker k talks to rank 1 + k % (size - 1): a multiple of the rank count puts that many
     * micro-batches in flight per rank, so a rank finds its next batch waiting when it finishes. */
    b->workers = cfg->workers >= size - 1 && cfg->workers % (size - 1) == 0 ? cfg->workers : size - 1;
    b->timeout_ns = (int64_t)(cfg->timeout_s * 1e9);
    if (rank == 0) {
        if (cfg->workers != b->workers)
            host->log(DP_LOG_WARN,
                      "backend mpi: %d workers requested; using %d, one per worker rank of this job (a "
                      "multiple of %d puts several micro-batches in flight per rank)",
                      cfg->workers, b->workers, size - 1);
        if (posix_memalign((void **)&b->stats, 64, (size_t)b->workers * sizeof *b->stats) != 0) {
            dpi_mpi_close_runner(b->timeout_ns);
            free(b);
            return host->error(DP_ERR_NOMEM, "backend mpi: out of memory");
        }
        memset(b->stats, 0, (size_t)b->workers * sizeof *b->stats);
    } else {
        dpi_mpi_parse_fault(b);
        s = dpi_mpi_server_open(b);
        if (s != DP_OK) {
            dpi_mpi_close_runner(0);
            free(b);
            return s;
        }
    }
    *workers = b->workers;
    *is_server = rank != 0;
    *backend = b;
    return DP_OK;
}

static void mpi_close(void *backend) {
    dpi_mpi_backend *b = backend;
    if (!b) return;
    if (b->rank != 0) dpi_mpi_server_close(b);
    dpi_mpi_close_runner(b->timeout_ns < 1000000000LL ? b->timeout_ns : 1000000000LL);
    free(b->stats);
    free(b);
}

static const dpi_worker_ops mpi_ops = {
    .abi = DPI_WORKER_ABI,
    .name = "mpi",
    .remote_fx = 1,
    .open = mpi_open,
    .init = dpi_mpi_proxy_init,
    .run = dpi_mpi_proxy_run,
    .fini = dpi_mpi_proxy_fini,
    .end_run = dpi_mpi_end_run,
    .serve = dpi_mpi_serve,
    .traffic = dpi_mpi_traffic,
    .close = mpi_close,
};

__attribute__((visibility("default"))) const dpi_worker_ops *dp_mpi_plugin_entry(int abi);

const dpi_worker_ops *dp_mpi_plugin_entry(int abi) { return abi == DPI_WORKER_ABI ? &mpi_ops : NULL; }
