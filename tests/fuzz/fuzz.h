/* Shared by the libFuzzer targets in this directory: a scratch directory per process for the
 * parsers that take a path, and the oracles every target applies beyond "no crash". An oracle
 * that fails calls abort(), which libFuzzer reports as a crash and saves the input. */
#ifndef DP_TESTS_FUZZ_H
#define DP_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dataparallel/core.h"

#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz oracle failed: %s: ", #cond);                \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The process's scratch directory (created on first use, emptied by fuzz_reset, removed at exit):
 * under $TMPDIR, else /dev/shm, else /tmp. */
const char *fuzz_dir(void);
/* Remove everything inside the scratch directory (not the directory itself). */
void fuzz_reset(void);
/* "<scratch>/<name>" into a static buffer that the next call overwrites. */
const char *fuzz_path(const char *name);
/* Write n bytes to path, gzip-compressed when gz (so that the fuzzer mutates what is inside). */
void fuzz_write(const char *path, const uint8_t *data, size_t n, int gz);

/* Clear the library's last error, so that fuzz_check_error sees only the message of this call. */
void fuzz_clear_error(void);
/* A failed call returned a real error status and a message that names the input (`name`: the
 * file, the directory or the in-memory image's name): "DP_ERR_FORMAT" without saying which file
 * is a defect for a user with many files. */
void fuzz_check_error(dp_status st, const char *name);
/* Elements of a shape, or -1 if a dimension is negative or the count overflows size_t bytes of
 * float. */
int64_t fuzz_shape_count(int ndim, const int64_t *shape);
/* Read every value, so that AddressSanitizer reports a buffer smaller than its shape says. */
void fuzz_touch(const void *p, size_t bytes);

struct dpi_weights;
/* Every tensor of a loaded weight set: a unique name, 0..DPI_MAX_DIMS non-negative dimensions,
 * at most max_elems elements (what the file's bytes can encode), data or else the dtype that
 * could not be converted, and a buffer as large as the shape says. */
void fuzz_check_weights(const struct dpi_weights *w, uint64_t max_elems);

#endif
