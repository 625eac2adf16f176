/* .npy parsing shared by the file reader, the .npz loader and the .npy data set. */
#ifndef DP_IO_NPY_H
#define DP_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "dataparallel/io.h"

/* Parse an in-memory .npy image (name is used in messages) into float32. */
dp_status dpi_npy_parse(const char *name, const uint8_t *buf, size_t len, dp_array *out);

#endif
