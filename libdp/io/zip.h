/* A zip archive held in memory: its central directory and its members' bytes. Shared by the
 * .npz reader (NumPy savez) and the .pth reader (torch.save's zip format). */
#ifndef DP_IO_ZIP_H
#define DP_IO_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "dataparallel/core.h"

typedef struct dpi_zip_member {
    char name[256];
    uint16_t method, flags;
    uint32_t crc;
    uint64_t csize, usize, offset;
} dpi_zip_member;

typedef struct dpi_zip {
    const char *path;          /* for messages; borrowed */
    const uint8_t *buf;        /* the whole archive; borrowed */
    size_t len;
    dpi_zip_member *m;         /* n members, in central directory order */
    size_t n;
} dpi_zip;

/* Read the central directory of the archive in buf (zip64 records understood). DP_ERR_FORMAT
 * naming the file for a truncated or corrupt directory. dpi_zip_close() frees it. */
dp_status dpi_zip_open(const char *path, const uint8_t *buf, size_t len, dpi_zip *z);
void dpi_zip_close(dpi_zip *z);
/* The member called name, or NULL. */
const dpi_zip_member *dpi_zip_find(const dpi_zip *z, const char *name);
/* A member's uncompressed, CRC-checked bytes: a pointer into the archive (stored) or into *owned
 * (deflate; the caller frees it). DP_ERR_FORMAT / DP_ERR_UNSUPPORTED naming file and member. */
dp_status dpi_zip_member_data(const dpi_zip *z, const dpi_zip_member *m, const uint8_t **data, uint8_t **owned);

#endif
