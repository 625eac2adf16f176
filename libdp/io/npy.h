/* .npy parsing shared by the file reader, the .npz loader and the .npy data set. */
#ifndef DP_IO_NPY_H
#define DP_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "dataparallel/io.h"

/* Parse an in-memory .npy image (name is used in messages) into float32. */
dp_status dpi_npy_parse(const char *name, const uint8_t *buf, size_t len, dp_array *out);

/* What the header of a .npy image says, after checking that the data fits in the image. */
typedef struct dpi_npy_header {
    char descr[16];          /* NumPy dtype string, e.g. "<f4" */
    int convertible;         /* descr is little-endian float32, float64 or float16 */
    int ndim;
    int64_t shape[DP_NPY_MAX_DIMS];
    size_t count;            /* elements */
    size_t data_offset;      /* where the data starts in the image */
} dpi_npy_header;

/* Parse and check the header only. Only DP_ERR_FORMAT (bad magic, header, Fortran order, a
 * dtype whose item size is unknown, truncated data); a convertible == 0 dtype is not an error
 * here, so that callers can skip integer buffers (num_batches_tracked). */
dp_status dpi_npy_parse_header(const char *name, const uint8_t *buf, size_t len, dpi_npy_header *h);

#endif
