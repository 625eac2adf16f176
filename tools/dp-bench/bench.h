/* dp-bench subcommands. Each lives in its own file and parses its own flags (getopt_long). */
#ifndef DP_BENCH_BENCH_H
#define DP_BENCH_BENCH_H

int dpb_infer(int argc, char **argv);
int dpb_batch(int argc, char **argv);
int dpb_stream(int argc, char **argv);
int dpb_capacity(int argc, char **argv);
int dpb_matrix(int argc, char **argv);

#endif
