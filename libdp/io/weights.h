/*
 * A set of named float32 tensors, loaded from .npz or .safetensors (chosen by content, not by
 * file name) or generated from a seed. Tensors of other dtypes are converted to float32 on load.
 */
#ifndef DP_IO_WEIGHTS_H
#define DP_IO_WEIGHTS_H

#include <stdint.h>

#include "dataparallel/core.h"

#define DPI_MAX_DIMS 8

typedef struct dpi_tensor {
    char *name;
    int ndim;
    int64_t shape[DPI_MAX_DIMS];
    float *data;               /* NULL when the file's dtype cannot be converted (see dtype) */
    char dtype[16];            /* the dtype in the file ("<f4", "F16", "I64"); "" when generated */
} dpi_tensor;

typedef struct dpi_weights {
    char *path;                /* file it came from ("<seed N>" when generated) */
    int n, cap;
    dpi_tensor *t;
} dpi_weights;

/* Load every tensor of an .npz (stored or deflate members), .safetensors or torch.save (.pth) file. */
dp_status dpi_weights_load(const char *path, dpi_weights **out);
dpi_weights *dpi_weights_new(const char *path);
/* Add a tensor (takes ownership of data, malloc'd). */
dp_status dpi_weights_add(dpi_weights *w, const char *name, int ndim, const int64_t *shape, float *data);
/* Record a tensor whose dtype cannot be converted (an integer buffer such as
 * num_batches_tracked): harmless unless a model asks for it, then dpi_weights_get names the dtype. */
dp_status dpi_weights_add_unconvertible(dpi_weights *w, const char *name, int ndim, const int64_t *shape,
                                        const char *dtype);
const dpi_tensor *dpi_weights_find(const dpi_weights *w, const char *name);
/* Find name and check its shape. DP_ERR_NOT_FOUND / DP_ERR_SHAPE with a message naming the file,
 * the tensor, its shape and the expected shape; DP_ERR_FORMAT for an unconvertible dtype. */
dp_status dpi_weights_get(const dpi_weights *w, const char *name, int ndim, const int64_t *shape,
                          const float **data);
/* The count values of tensor name (as dpi_weights_get returned them) must be finite (unless
 * allow_nonfinite) and, for a variance (nonneg), not negative: DP_ERR_FORMAT naming the file, the
 * tensor, the first bad index and its value. NaN weights spread to every logit silently, and a
 * negative BatchNorm variance has no square root. */
dp_status dpi_weights_check_values(const dpi_weights *w, const char *name, const float *data, size_t count,
                                   int nonneg, int allow_nonfinite);
void dpi_weights_free(dpi_weights *w);

#endif
