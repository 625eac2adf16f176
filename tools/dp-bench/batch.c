/* dp-bench batch — split a data set over workers with a partitioner, as fast as possible, and
 * report elapsed time, throughput, accuracy (labelled data) and per-worker load. */
#include <stdio.h>

#include "bench.h"
#include "bench_common.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: dp-bench batch --arch A --strategy S --workers W [options]\n"
            "  --arch A              resnet18 | mobilenet_v2 | resnet18_cifar | mobilenetv2_cifar (default resnet18)\n"
            "  --strategy S          uniform | sharded | dynamic | weighted (default uniform)\n"
            "  --workers W           worker threads sharing the model (default 1)\n"
            "  --threads T           oneDNN threads per worker (default 1)\n"
            "  --samples N           samples (synthetic: generated; files: the first N; default 1000 / all)\n"
            "  --data D              synthetic | cifar10:FILE | fashion-mnist:PATH | npy:FILE (default synthetic)\n"
            "  --slowdown f0,f1,...  stretch worker k's service time by f_k (busy-wait), default 1\n"
            "  --max-batch B         samples per inference call (default 1)\n"
            "  --weights F --seed N --classes K --precision fp32|bf16   the model\n"
            "  --backend threads|mpi --pin --straggler-factor X --interval-ms MS\n"
            "  --predictions F       CSV sample_id,worker,top1, one row per completed sample\n"
            "  --json F              summary as JSON ('-' = stdout)\n"
            "  --csv F --jsonl F --prometheus HOST:PORT   metric sinks; --quiet: no console output\n"
            "  --help\n");
}

int dpb_batch(int argc, char **argv) {
    dpb_opts o;
    dpb_env e;
    int rc = dpb_parse(DPB_BATCH, argc, argv, &o, usage);
    if (rc) return rc - 1;
    if ((rc = dpb_env_init(&e, &o, 1)) != 0) {
        dpb_env_free(&e);
        return rc;
    }
    dp_summary s;
    dp_summary_init(&s);
    dp_status st = dp_runner_run_batch(e.runner, e.ds, &s);
    return dpb_finish_run(&e, &o, st, &s, "batch", argc, argv);
}
