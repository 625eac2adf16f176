/* Zip archives in memory (libdp/io/zip.h). The central directory is the source of truth for
 * sizes and offsets; NumPy writes every member with zip64 local headers (force_zip64), so local
 * headers are only used to find the data. */
#include "zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "convert.h"
#include "util/util.h"

#define EOCD_SIZE 22
#define CDH_SIZE 46       /* central directory file header, without name/extra/comment */
#define LFH_SIZE 30       /* local file header */
#define Z64_EOCD_SIZE 56
#define Z64_LOCATOR_SIZE 20
/* Deflate cannot expand data more than ~1032:1; a larger claim is a corrupt header. */
#define MAX_DEFLATE_RATIO 1100

/* Locate the central directory: entry count, offset and size (zip64 records when needed). */
static dp_status find_directory(const char *path, const uint8_t *buf, size_t len, uint64_t *entries,
                                uint64_t *cd_off, uint64_t *cd_size) {
    if (len < EOCD_SIZE) return dpi_error(DP_ERR_FORMAT, "%s: truncated zip (%zu bytes)", path, len);
    /* The end record is followed only by a comment of at most 65535 bytes. */
    size_t lo = len - EOCD_SIZE > 65535 ? len - EOCD_SIZE - 65535 : 0;
    size_t e = len - EOCD_SIZE + 1;
    do {
        e--;
        if (memcmp(buf + e, "PK\5\6", 4) == 0) break;
    } while (e > lo);
    if (memcmp(buf + e, "PK\5\6", 4) != 0)
        return dpi_error(DP_ERR_FORMAT, "%s: no zip end-of-central-directory record (truncated?)", path);
    *entries = dpi_le16(buf + e + 10);
    *cd_size = dpi_le32(buf + e + 12);
    *cd_off = dpi_le32(buf + e + 16);
    if (*entries == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) {
        if (e < Z64_LOCATOR_SIZE || memcmp(buf + e - Z64_LOCATOR_SIZE, "PK\6\7", 4) != 0)
            return dpi_error(DP_ERR_FORMAT, "%s: zip64 end record locator missing", path);
        uint64_t z = dpi_le64(buf + e - Z64_LOCATOR_SIZE + 8);
        if (len < Z64_EOCD_SIZE || z > len - Z64_EOCD_SIZE || memcmp(buf + z, "PK\6\6", 4) != 0)
            return dpi_error(DP_ERR_FORMAT, "%s: zip64 end-of-central-directory record missing", path);
        *entries = dpi_le64(buf + z + 32);
        *cd_size = dpi_le64(buf + z + 40);
        *cd_off = dpi_le64(buf + z + 48);
    }
    if (*cd_off > len || *cd_size > len - *cd_off)
        return dpi_error(DP_ERR_FORMAT, "%s: zip central directory lies outside the file (truncated?)", path);
    return DP_OK;
}

/* Replace saturated 32-bit fields by the 64-bit values of the zip64 extra field (id 1), which
 * lists only the saturated ones, in this order. */
static dp_status apply_zip64_extra(const char *path, const uint8_t *x, size_t xlen, dpi_zip_member *m) {
    uint64_t *fields[3] = {&m->usize, &m->csize, &m->offset};
    while (xlen >= 4) {
        uint16_t id = dpi_le16(x), sz = dpi_le16(x + 2);
        if ((size_t)sz > xlen - 4) break;
        if (id == 1) {
            size_t pos = 4;
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != 0xffffffffu) continue;
                if (pos + 8 > 4 + (size_t)sz)
                    return dpi_error(DP_ERR_FORMAT, "%s: member %s: short zip64 extra field", path, m->name);
                *fields[i] = dpi_le64(x + pos);
                pos += 8;
            }
            return DP_OK;
        }
        x += 4 + sz;
        xlen -= 4 + (size_t)sz;
    }
    if (m->usize == 0xffffffffu || m->csize == 0xffffffffu || m->offset == 0xffffffffu)
        return dpi_error(DP_ERR_FORMAT, "%s: member %s: zip64 sizes without a zip64 extra field", path, m->name);
    return DP_OK;
}

dp_status dpi_zip_member_data(const dpi_zip *z, const dpi_zip_member *m, const uint8_t **data,
                              uint8_t **owned) {
    const char *path = z->path;
    const uint8_t *buf = z->buf;
    size_t len = z->len;
    *owned = NULL;
    if (len < LFH_SIZE || m->offset > len - LFH_SIZE || memcmp(buf + m->offset, "PK\3\4", 4) != 0)
        return dpi_error(DP_ERR_FORMAT, "%s: member %s: local header missing (truncated or corrupt)", path, m->name);
    uint64_t start = m->offset + LFH_SIZE + dpi_le16(buf + m->offset + 26) + dpi_le16(buf + m->offset + 28);
    if (start > len || m->csize > len - start)
        return dpi_error(DP_ERR_FORMAT, "%s: member %s: data runs past the end of the file (truncated)", path,
                         m->name);
    if (m->flags & 1) return dpi_error(DP_ERR_UNSUPPORTED, "%s: member %s is encrypted", path, m->name);
    const uint8_t *src = buf + start;
    if (m->method == 0) {
        if (m->csize != m->usize)
            return dpi_error(DP_ERR_FORMAT, "%s: member %s: stored sizes differ", path, m->name);
        *data = src;
    } else if (m->method == 8) {
        if (m->usize / MAX_DEFLATE_RATIO > m->csize + 1)
            return dpi_error(DP_ERR_FORMAT, "%s: member %s: implausible uncompressed size %llu", path, m->name,
                             (unsigned long long)m->usize);
        uint8_t *out = malloc(m->usize + 1);
        if (!out) return dpi_error(DP_ERR_NOMEM, "%s: member %s: out of memory", path, m->name);
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
            free(out);
            return dpi_error(DP_ERR_BACKEND, "%s: zlib inflateInit2 failed", path);
        }
        /* Feed in chunks: z_stream counts in uInt. */
        int rc = Z_OK;
        uint64_t in_left = m->csize, out_left = m->usize + 1;
        zs.next_in = (Bytef *)src;
        zs.next_out = out;
        while (rc == Z_OK) {
            uInt in_chunk = in_left > 1u << 30 ? 1u << 30 : (uInt)in_left;
            uInt out_chunk = out_left > 1u << 30 ? 1u << 30 : (uInt)out_left;
            zs.avail_in = in_chunk;
            zs.avail_out = out_chunk;
            rc = inflate(&zs, Z_NO_FLUSH);
            in_left -= in_chunk - zs.avail_in;
            out_left -= out_chunk - zs.avail_out;
            if (rc == Z_OK && zs.avail_in == in_chunk && zs.avail_out == out_chunk) rc = Z_BUF_ERROR;
        }
        inflateEnd(&zs);
        if (rc != Z_STREAM_END || m->usize + 1 - out_left != m->usize) {
            free(out);
            return dpi_error(DP_ERR_FORMAT, "%s: member %s: corrupt deflate data (%s)", path, m->name,
                             rc == Z_STREAM_END ? "size mismatch" : (zs.msg ? zs.msg : "truncated"));
        }
        *data = *owned = out;
    } else {
        return dpi_error(DP_ERR_UNSUPPORTED, "%s: member %s uses zip method %u (only stored and deflate)", path,
                         m->name, m->method);
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    for (uint64_t done = 0; done < m->usize;) {
        uInt chunk = m->usize - done > 1u << 30 ? 1u << 30 : (uInt)(m->usize - done);
        crc = crc32(crc, *data + done, chunk);
        done += chunk;
    }
    if (crc != m->crc) {
        free(*owned);
        *owned = NULL;
        return dpi_error(DP_ERR_FORMAT, "%s: member %s: CRC-32 mismatch (corrupt file)", path, m->name);
    }
    return DP_OK;
}


dp_status dpi_zip_open(const char *path, const uint8_t *buf, size_t len, dpi_zip *z) {
    memset(z, 0, sizeof *z);
    z->path = path;
    z->buf = buf;
    z->len = len;
    uint64_t entries = 0, cd_off = 0, cd_size = 0;
    dp_status s = find_directory(path, buf, len, &entries, &cd_off, &cd_size);
    if (s) return s;
    /* Every entry takes at least CDH_SIZE bytes of the directory: a larger count is a lie, and
     * checking it first keeps the allocation within what the file holds. */
    if (entries > cd_size / CDH_SIZE)
        return dpi_error(DP_ERR_FORMAT, "%s: zip directory claims %llu entries in %llu bytes (corrupt)", path,
                         (unsigned long long)entries, (unsigned long long)cd_size);
    if (entries && !(z->m = calloc((size_t)entries, sizeof *z->m)))
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory for the zip directory", path);
    uint64_t p = cd_off, cd_end = cd_off + cd_size;
    for (uint64_t i = 0; i < entries; i++) {
        if (p > cd_end || cd_end - p < CDH_SIZE || memcmp(buf + p, "PK\1\2", 4) != 0) {
            s = dpi_error(DP_ERR_FORMAT, "%s: corrupt zip central directory (entry %llu)", path,
                          (unsigned long long)i);
            goto fail;
        }
        dpi_zip_member *m = &z->m[i];
        m->flags = dpi_le16(buf + p + 8);
        m->method = dpi_le16(buf + p + 10);
        m->crc = dpi_le32(buf + p + 16);
        m->csize = dpi_le32(buf + p + 20);
        m->usize = dpi_le32(buf + p + 24);
        size_t nlen = dpi_le16(buf + p + 28), xlen = dpi_le16(buf + p + 30), clen = dpi_le16(buf + p + 32);
        m->offset = dpi_le32(buf + p + 42);
        if (cd_end - p - CDH_SIZE < nlen + xlen + clen) {
            s = dpi_error(DP_ERR_FORMAT, "%s: corrupt zip central directory (entry %llu)", path,
                          (unsigned long long)i);
            goto fail;
        }
        if (nlen >= sizeof m->name) {
            s = dpi_error(DP_ERR_FORMAT, "%s: zip member name of %zu bytes is too long", path, nlen);
            goto fail;
        }
        memcpy(m->name, buf + p + CDH_SIZE, nlen);
        if ((s = apply_zip64_extra(path, buf + p + CDH_SIZE + nlen, xlen, m))) goto fail;
        p += CDH_SIZE + nlen + xlen + clen;
        z->n++;
    }
    return DP_OK;
fail:
    dpi_zip_close(z);
    return s;
}

void dpi_zip_close(dpi_zip *z) {
    free(z->m);
    z->m = NULL;
    z->n = 0;
}

const dpi_zip_member *dpi_zip_find(const dpi_zip *z, const char *name) {
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->m[i].name, name) == 0) return &z->m[i];
    return NULL;
}
