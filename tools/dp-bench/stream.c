/* dp-bench stream — serve a rate-limited stream over workers and report the docs/metrics.md
 * metrics: throughput, efficiency, rate accuracy, latency from intended arrival, drops. */
#include <stdio.h>

#include "bench.h"
#include "bench_common.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: dp-bench stream --arch A --strategy S --workers W --rate R --samples N [options]\n"
            "  --arch A              resnet18 | mobilenet_v2 | resnet18_cifar | mobilenetv2_cifar (default resnet18)\n"
            "  --strategy S          uniform | sharded | dynamic | weighted (default uniform)\n"
            "  --workers W           worker threads sharing the model (default 1)\n"
            "  --threads T           oneDNN threads per worker (default 1)\n"
            "  --rate R              target samples/s (default 500)\n"
            "  --arrival A           constant | poisson | trace | unlimited (default constant)\n"
            "  --trace F             arrival offsets (s), one per line or a CSV with a time column\n"
            "  --samples N           samples to emit (default 2500; trace: one per entry)\n"
            "  --data D              synthetic | cifar10:FILE | fashion-mnist:PATH | npy:FILE (default synthetic)\n"
            "  --max-batch B         micro-batch limit (default 1)\n"
            "  --max-delay-us D      wait at most D us to fill a micro-batch (default 0)\n"
            "  --queue-capacity Q    per queue (default 1024)\n"
            "  --overflow P          block | drop-newest | drop-oldest (default block)\n"
            "  --slowdown f0,f1,...  stretch worker k's service time by f_k (busy-wait)\n"
            "  --backend threads|mpi (mpi: start with mpirun; rank 0 reports)\n"
            "  --worker-timeout S    mpi: a worker rank silent S seconds is dead (default 10)\n"
            "  --retry               mpi: re-dispatch a dead rank's in-flight batch (default: it fails)\n"
            "  --weights F --seed N --classes K --precision fp32|bf16   the model\n"
            "  --pin --straggler-factor X --interval-ms MS\n"
            "  --predictions F       CSV sample_id,worker,top1, one row per completed sample\n"
            "  --json F              summary as JSON ('-' = stdout)\n"
            "  --csv F --jsonl F --prometheus HOST:PORT   metric sinks; --quiet: no console output\n"
            "  --help\n");
}

int dpb_stream(int argc, char **argv) {
    dpb_opts o;
    dpb_env e;
    int rc = dpb_parse(DPB_STREAM, argc, argv, &o, usage);
    if (rc) return rc - 1;
    if ((rc = dpb_env_init(&e, &o, 1)) != 0) {
        dpb_env_free(&e);
        return rc;
    }
    dp_summary s;
    dp_summary_init(&s);
    dp_status st = dp_runner_run(e.runner, e.src, &s);
    return dpb_finish_run(&e, &o, st, &s, "stream", argc, argv);
}
