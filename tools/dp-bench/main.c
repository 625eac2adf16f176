#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"infer", dpb_infer, "time back-to-back inference of one model (img/s), optional layer profile"},
    {"batch", dpb_batch, "split a data set over workers with a partitioner, as fast as possible"},
    {"stream", dpb_stream, "serve a rate-limited stream over workers: throughput, latency, efficiency"},
    {"capacity", dpb_capacity, "find the highest rate whose p99 latency meets an SLO"},
    {"matrix", dpb_matrix, "run stream benchmarks over archs x strategies x workers x rates"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: dp-bench COMMAND [options]   (dp-bench COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nlibdataparallel %s (%s)\n", dp_version_string(), dp_build_info());
}

int main(int argc, char **argv) {
    dpc_set_prog("dp-bench");
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("dp-bench %s\n", dp_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            static char prog[64];
            snprintf(prog, sizeof prog, "dp-bench %s", commands[i].name);
            dpc_set_prog(prog);
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "dp-bench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
