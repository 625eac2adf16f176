/* In-memory builders for test fixtures: .npy images, zip archives (stored or deflate, with or
 * without NumPy's zip64 local headers) and safetensors files. Header-only, for tests. */
#ifndef DP_TESTS_IO_FIXTURES_H
#define DP_TESTS_IO_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct fx_buf {
    uint8_t *p;
    size_t n, cap;
} fx_buf;

static inline void fx_put(fx_buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static inline void fx_u16(fx_buf *b, uint32_t v) {
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    fx_put(b, x, 2);
}
static inline void fx_u32(fx_buf *b, uint32_t v) {
    fx_u16(b, v & 0xffff);
    fx_u16(b, v >> 16);
}
static inline void fx_u64(fx_buf *b, uint64_t v) {
    fx_u32(b, (uint32_t)v);
    fx_u32(b, (uint32_t)(v >> 32));
}

/* A .npy image: version 1, 2 or 3 header with the given descr/shape, then raw data bytes. */
static inline fx_buf fx_npy(int version, const char *descr, const char *fortran, int ndim, const int64_t *shape,
                     const void *data, size_t nbytes) {
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (", descr, fortran);
    for (int d = 0; d < ndim; d++) n += snprintf(dict + n, sizeof dict - n, "%lld, ", (long long)shape[d]);
    n += snprintf(dict + n, sizeof dict - n, "), }");
    size_t pre = version == 1 ? 10 : 12, hlen = (size_t)n + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    fx_buf b = {0};
    fx_put(&b, "\x93NUMPY", 6);
    uint8_t ver[2] = {(uint8_t)version, 0};
    fx_put(&b, ver, 2);
    if (version == 1) fx_u16(&b, (uint32_t)hlen);
    else fx_u32(&b, (uint32_t)hlen);
    fx_put(&b, dict, (size_t)n);
    while (b.n < pre + hlen - 1) fx_put(&b, " ", 1);
    fx_put(&b, "\n", 1);
    fx_put(&b, data, nbytes);
    return b;
}

/* A zip archive being built: local entries in `body`, central directory in `cd`. */
typedef struct fx_zip {
    fx_buf body, cd;
    int entries;
} fx_zip;

/* method 0 = stored, 8 = deflate. zip64: 0 = plain; 1 = the local header the way NumPy writes it
 * (force_zip64: sizes 0xffffffff plus a zip64 extra field); 2 = also the central directory entry
 * (sizes and offset saturated, the real values in its zip64 extra field). */
static inline void fx_zip_add(fx_zip *z, const char *name, const uint8_t *data, size_t len, int method, int zip64) {
    int zip64_local = zip64 >= 1, zip64_cd = zip64 >= 2;
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)len);
    uint8_t *comp = (uint8_t *)data;
    size_t clen = len;
    if (method == 8) {
        z_stream s;
        memset(&s, 0, sizeof s);
        deflateInit2(&s, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        clen = deflateBound(&s, (uLong)len);
        comp = malloc(clen);
        s.next_in = (Bytef *)data;
        s.avail_in = (uInt)len;
        s.next_out = comp;
        s.avail_out = (uInt)clen;
        deflate(&s, Z_FINISH);
        clen = s.total_out;
        deflateEnd(&s);
    }
    uint32_t offset = (uint32_t)z->body.n;
    size_t nlen = strlen(name);
    fx_u32(&z->body, 0x04034b50);
    fx_u16(&z->body, zip64_local ? 45 : 20);
    fx_u16(&z->body, 0);
    fx_u16(&z->body, (uint32_t)method);
    fx_u32(&z->body, 0); /* time, date */
    fx_u32(&z->body, crc);
    fx_u32(&z->body, zip64_local ? 0xffffffffu : (uint32_t)clen);
    fx_u32(&z->body, zip64_local ? 0xffffffffu : (uint32_t)len);
    fx_u16(&z->body, (uint32_t)nlen);
    fx_u16(&z->body, zip64_local ? 20 : 0);
    fx_put(&z->body, name, nlen);
    if (zip64_local) {
        fx_u16(&z->body, 1);
        fx_u16(&z->body, 16);
        fx_u64(&z->body, len);
        fx_u64(&z->body, clen);
    }
    fx_put(&z->body, comp, clen);
    if (comp != data) free(comp);

    fx_u32(&z->cd, 0x02014b50);
    fx_u16(&z->cd, 45);
    fx_u16(&z->cd, 45);
    fx_u16(&z->cd, 0);
    fx_u16(&z->cd, (uint32_t)method);
    fx_u32(&z->cd, 0);
    fx_u32(&z->cd, crc);
    fx_u32(&z->cd, zip64_cd ? 0xffffffffu : (uint32_t)clen);
    fx_u32(&z->cd, zip64_cd ? 0xffffffffu : (uint32_t)len);
    fx_u16(&z->cd, (uint32_t)nlen);
    fx_u16(&z->cd, zip64_cd ? 28 : 0);
    fx_u16(&z->cd, 0);
    fx_u16(&z->cd, 0);
    fx_u16(&z->cd, 0);
    fx_u32(&z->cd, 0);
    fx_u32(&z->cd, zip64_cd ? 0xffffffffu : offset);
    fx_put(&z->cd, name, nlen);
    if (zip64_cd) {
        fx_u16(&z->cd, 1);
        fx_u16(&z->cd, 24);
        fx_u64(&z->cd, len);
        fx_u64(&z->cd, clen);
        fx_u64(&z->cd, offset);
    }
    z->entries++;
}

/* Finish: body + central directory + end record(s). zip64: also write the zip64 end record and
 * its locator and saturate the classic record's fields. Frees z's parts. */
static inline fx_buf fx_zip_end64(fx_zip *z, int zip64) {
    fx_buf out = z->body;
    uint32_t cd_off = (uint32_t)out.n;
    fx_put(&out, z->cd.p, z->cd.n);
    if (zip64) {
        uint64_t rec = out.n;
        fx_u32(&out, 0x06064b50);
        fx_u64(&out, 44);
        fx_u16(&out, 45);
        fx_u16(&out, 45);
        fx_u32(&out, 0);
        fx_u32(&out, 0);
        fx_u64(&out, (uint64_t)z->entries);
        fx_u64(&out, (uint64_t)z->entries);
        fx_u64(&out, z->cd.n);
        fx_u64(&out, cd_off);
        fx_u32(&out, 0x07064b50);
        fx_u32(&out, 0);
        fx_u64(&out, rec);
        fx_u32(&out, 1);
    }
    fx_u32(&out, 0x06054b50);
    fx_u16(&out, 0);
    fx_u16(&out, 0);
    fx_u16(&out, zip64 ? 0xffff : (uint32_t)z->entries);
    fx_u16(&out, zip64 ? 0xffff : (uint32_t)z->entries);
    fx_u32(&out, zip64 ? 0xffffffffu : (uint32_t)z->cd.n);
    fx_u32(&out, zip64 ? 0xffffffffu : cd_off);
    fx_u16(&out, 0);
    free(z->cd.p);
    memset(z, 0, sizeof *z);
    return out;
}

static inline fx_buf fx_zip_end(fx_zip *z) { return fx_zip_end64(z, 0); }

/* Add a float32 tensor to a zip as NAME.npy. */
static inline void fx_zip_add_f32(fx_zip *z, const char *name, int ndim, const int64_t *shape, const float *data,
                           int method) {
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (size_t)shape[d];
    fx_buf npy = fx_npy(1, "<f4", "False", ndim, shape, data, count * sizeof(float));
    char member[256];
    snprintf(member, sizeof member, "%s.npy", name);
    fx_zip_add(z, member, npy.p, npy.n, method, 1);
    free(npy.p);
}

/* A safetensors file from a JSON header and a data section. */
static inline fx_buf fx_safetensors(const char *json, const void *data, size_t nbytes) {
    fx_buf b = {0};
    fx_u64(&b, strlen(json));
    fx_put(&b, json, strlen(json));
    fx_put(&b, data, nbytes);
    return b;
}

static inline int fx_write(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

#endif
