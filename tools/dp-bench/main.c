/* dp-bench — benchmarks of libdataparallel, one subcommand each. */
#include "bench.h"

static const dpc_command commands[] = {
    {"infer", DPB_INFER, "Time back-to-back inference of one model (img/s), optionally per layer.", NULL, dpb_infer},
    {"batch", DPB_BATCH, "Split a data set over workers with a partitioner, as fast as possible.", NULL, dpb_run},
    {"stream", DPB_STREAM, "Serve a rate-limited stream over workers: throughput, latency, efficiency.", NULL, dpb_run},
    {"capacity", DPB_CAPACITY, "Find the highest rate whose p99 latency meets an SLO with nothing dropped.", NULL,
     dpb_capacity},
    {"tune", DPB_TUNE, "Search workers x threads x max batch x max delay for the highest rate meeting a p99 SLO.",
     "Prints every configuration and probe, and the best as a dp-bench stream command line (docs/tune.md).\n"
     "Exit status 1 also when no configuration met the SLO.\n",
     dpb_tune},
    {"matrix", DPB_MATRIX, "Run the stream benchmark over archs x strategies x workers x rates (x engines).",
     "Writes DIR/results.csv, DIR/results.json, DIR/results.md and DIR/cells/*.{json,log}.\n", dpb_matrix},
    {"split", DPB_SPLIT, "Plan pipeline stages from a per-unit profile and measure each stage.", NULL, dpb_split},
    {"calibrate", DPB_CALIBRATE, "Measure a model's activation ranges over a data set for --precision int8.",
     "Writes the calibration file --out (docs/formats.md) that --calibration reads.\n", dpb_calibrate},
};

int main(int argc, char **argv) {
    return dpc_dispatch("dp-bench", commands, sizeof commands / sizeof commands[0], argc, argv);
}
