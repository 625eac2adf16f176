/* Weight-file parsers behind dpi_weights_load(), and the whole-file readers shared by io/. */
#ifndef DP_IO_FORMATS_H
#define DP_IO_FORMATS_H

#include <stddef.h>
#include <stdint.h>

#include "weights.h"

/* Read path into a malloc'd buffer (*buf; freed by the caller). DP_ERR_IO naming the file. */
dp_status dpi_read_whole_file(const char *path, uint8_t **buf, size_t *len);
/* The same through zlib: a gzip-compressed file is decompressed, any other is read as is.
 * DP_ERR_FORMAT for corrupt or cut-off gzip data. */
dp_status dpi_gz_read_whole_file(const char *path, uint8_t **buf, size_t *len);

/* Add every tensor of an in-memory .npz / .safetensors image to w (path is for messages). */
dp_status dpi_npz_parse(const char *path, const uint8_t *buf, size_t len, dpi_weights *w);
dp_status dpi_safetensors_parse(const char *path, const uint8_t *buf, size_t len, dpi_weights *w);
/* The same for torch.save's zip format (pth.c): tensors of a state_dict, strided views copied out. */
int dpi_pth_sniff(const uint8_t *buf, size_t len); /* a zip with <dir>/data.pkl */
dp_status dpi_pth_parse(const char *path, const uint8_t *buf, size_t len, dpi_weights *w);

#endif
