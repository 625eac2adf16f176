/*
 * dataparallel/io.h — NumPy .npy arrays in and out (inputs and outputs of dp-infer and users).
 *
 * Reads .npy versions 1, 2 and 3, C order, little-endian float32, float64 or float16 (converted to
 * float32). Writes version 1 float32. Thread safety: all functions are reentrant.
 */
#ifndef DATAPARALLEL_IO_H
#define DATAPARALLEL_IO_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DP_NPY_MAX_DIMS 8

typedef struct dp_array {
    int ndim;
    int64_t shape[DP_NPY_MAX_DIMS];
    float *data;        /* owned: release with dp_array_release() */
} dp_array;

/* Read path into out (data converted to float32). Errors: DP_ERR_IO, DP_ERR_FORMAT (bad magic,
 * header, dtype, Fortran order, truncated data). */
DP_API dp_status dp_npy_read(const char *path, dp_array *out);
/* Write data with the given shape as a float32 .npy (version 1). Errors: DP_ERR_INVALID_ARG (a
 * negative dimension, or a shape whose element count overflows), DP_ERR_IO. */
DP_API dp_status dp_npy_write(const char *path, const float *data, int ndim, const int64_t *shape);
DP_API void dp_array_release(dp_array *arr);

#ifdef __cplusplus
}
#endif
#endif
