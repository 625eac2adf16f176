/* CIFAR-10 reader: .bin files (or pickled batches of the python version, converted by
 * cifar10_py.c), directories of them, and (gzip-compressed) tar archives, read through zlib's
 * gzread (which also passes uncompressed input through) and a small ustar walker that keeps only
 * the data_batch_* / test_batch members. */
#include "cifar10.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "formats.h"
#include "util/util.h"

#define TAR_BLOCK 512

/* One batch file's bytes, with its place in the data set's order. */
typedef struct part {
    char *name;       /* for messages: "archive.tar.gz: member" or the file path */
    long order;       /* data_batch_N -> N, test_batch -> LONG_MAX */
    uint8_t *data;
    size_t len;
} part;

typedef struct parts {
    part *v;
    size_t n, cap;
} parts;

/* -1 unless base is data_batch_<digits> or test_batch, with ".bin" (binary version) or without
 * (python version). */
static long batch_order(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strcmp(base, "test_batch.bin") == 0 || strcmp(base, "test_batch") == 0) return LONG_MAX;
    if (strncmp(base, "data_batch_", 11) != 0) return -1;
    char *end;
    errno = 0;
    long k = strtol(base + 11, &end, 10);
    if (end == base + 11 || errno || k < 0 || k == LONG_MAX || (strcmp(end, ".bin") != 0 && *end)) return -1;
    return k;
}

static dp_status parts_add(parts *ps, const char *name, long order, uint8_t *data, size_t len) {
    /* A record starts with a label byte 0..9; a pickle with PROTO (0x80): the python version. */
    if (len && data[0] == 0x80) {
        uint8_t *records;
        dp_status s = dpi_cifar10_py_records(name, data, len, &records, &len);
        free(data);
        if (s) return s;
        data = records;
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 8;
        part *v = realloc(ps->v, cap * sizeof *v);
        if (!v) goto nomem;
        ps->v = v;
        ps->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) goto nomem;
    ps->v[ps->n++] = (part){copy, order, data, len};
    return DP_OK;
nomem:
    free(data);
    return dpi_error(DP_ERR_NOMEM, "%s: out of memory", name);
}

static void parts_free(parts *ps) {
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].name);
        free(ps->v[i].data);
    }
    free(ps->v);
}

static int by_order(const void *a, const void *b) {
    const part *x = a, *y = b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A failed gzread: DP_ERR_IO for the system's errors, DP_ERR_FORMAT for corrupt/truncated data. */
static dp_status gz_fail(gzFile f, const char *name, const char *what) {
    int err;
    const char *msg = gzerror(f, &err);
    return dpi_error(err == Z_ERRNO ? DP_ERR_IO : DP_ERR_FORMAT, "%s: %s while reading %s", name,
                     err == Z_ERRNO ? strerror(errno) : msg, what);
}

/* Read exactly len bytes; DP_ERR_FORMAT naming `what` when the stream ends early. */
static dp_status gz_read_exact(gzFile f, const char *name, void *buf, size_t len, const char *what) {
    uint8_t *p = buf;
    while (len > 0) {
        unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
        int got = gzread(f, p, chunk);
        if (got < 0) return gz_fail(f, name, what);
        if (got == 0) return dpi_error(DP_ERR_FORMAT, "%s: truncated (file ends inside %s)", name, what);
        p += got;
        len -= (size_t)got;
    }
    return DP_OK;
}

/* Up to limit bytes of the stream (fewer at its end) into a malloc'd buffer that starts with the
 * nprefix bytes already read. The buffer grows with what actually arrives, so a size claimed by a
 * header costs no more memory than the file really holds. */
static dp_status gz_read_upto(gzFile f, const char *name, const uint8_t *prefix, size_t nprefix, size_t limit,
                              uint8_t **out, size_t *out_len) {
    size_t cap = nprefix > (1u << 20) ? 2 * nprefix : (1u << 20), len = nprefix;
    if (cap > limit) cap = limit > nprefix ? limit : nprefix;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) return dpi_error(DP_ERR_NOMEM, "%s: out of memory", name);
    if (nprefix) memcpy(buf, prefix, nprefix);
    while (len < limit) {
        if (len == cap) {
            size_t grown = cap > limit / 2 ? limit : cap * 2;
            uint8_t *b = realloc(buf, grown);
            if (!b) {
                free(buf);
                return dpi_error(DP_ERR_NOMEM, "%s: out of memory reading %zu bytes", name, grown);
            }
            buf = b;
            cap = grown;
        }
        size_t room = cap - len;
        int got = gzread(f, buf + len, room > (1u << 30) ? (1u << 30) : (unsigned)room);
        if (got < 0) {
            free(buf);
            return gz_fail(f, name, "the file");
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    *out = buf;
    *out_len = len;
    return DP_OK;
}

dp_status dpi_gz_read_whole_file(const char *path, uint8_t **buf, size_t *len) {
    gzFile f = gzopen(path, "rb");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "gzopen failed");
    dp_status st = gz_read_upto(f, path, NULL, 0, SIZE_MAX, buf, len);
    gzclose(f);
    return st;
}

static uint64_t tar_octal(const uint8_t *p, int n, int *ok) {
    uint64_t v = 0;
    int i = 0, digits = 0;
    while (i < n && p[i] == ' ') i++;
    for (; i < n && p[i] >= '0' && p[i] <= '7'; i++, digits++) v = v * 8 + (uint64_t)(p[i] - '0');
    for (; i < n; i++)
        if (p[i] != ' ' && p[i] != '\0') *ok = 0;
    if (!digits) *ok = 0;
    return v;
}

static dp_status tar_skip(gzFile f, const char *path, uint64_t n) {
    uint8_t scratch[16384];
    while (n > 0) {
        size_t chunk = n > sizeof scratch ? sizeof scratch : (size_t)n;
        dp_status st = gz_read_exact(f, path, scratch, chunk, "a tar member");
        if (st != DP_OK) return st;
        n -= chunk;
    }
    return DP_OK;
}

/* The value of the "path" record of a pax extended header, or "" if it has none. Records are
 * "<len> <key>=<value>\n" where <len> counts the whole record, its own digits included; a
 * length that is not a plain decimal, does not advance or runs past the header ends the walk
 * (a negative one once sent it back to the start forever). */
static void pax_path(const char *meta, size_t len, char *out, size_t cap) {
    out[0] = '\0';
    size_t pos = 0;
    while (pos < len) {
        size_t rec = 0, i = pos;
        for (; i < len && meta[i] >= '0' && meta[i] <= '9' && rec <= len; i++) rec = rec * 10 + (size_t)(meta[i] - '0');
        if (i == pos || i == len || meta[i] != ' ' || rec <= i + 1 - pos || rec > len - pos ||
            meta[pos + rec - 1] != '\n')
            return;
        const char *kv = meta + i + 1, *stop = meta + pos + rec - 1; /* stop: the record's '\n' */
        if (stop > kv + 5 && strncmp(kv, "path=", 5) == 0) {
            snprintf(out, cap, "%.*s", (int)(stop - kv - 5), kv + 5);
            return;
        }
        pos += rec;
    }
}

/* Walk a tar stream whose first header block is already in `h`. */
static dp_status tar_walk(gzFile f, const char *path, uint8_t *h, parts *ps) {
    char longname[1024] = ""; /* from a GNU 'L' or pax 'x' header, for the next member */
    for (;;) {
        int empty = 1;
        for (int i = 0; i < TAR_BLOCK && empty; i++) empty = h[i] == 0;
        if (empty) return DP_OK; /* end-of-archive marker */
        int ok = 1;
        uint64_t size = tar_octal(h + 124, 12, &ok), sum = tar_octal(h + 148, 8, &ok), check = 0;
        for (int i = 0; i < TAR_BLOCK; i++) check += (i >= 148 && i < 156) ? ' ' : h[i];
        if (!ok || sum != check)
            return dpi_error(DP_ERR_FORMAT, "%s: corrupt tar header (bad size or checksum)", path);
        char name[1024];
        if (longname[0])
            snprintf(name, sizeof name, "%s", longname);
        /* POSIX ustar ("ustar\0") has a name prefix at 345; old GNU ("ustar  ") keeps times there. */
        else if (memcmp(h + 257, "ustar", 6) == 0 && h[345])
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345, (const char *)h + 0);
        else
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        uint64_t padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
        int type = h[156];
        long order = (type == '0' || type == '\0') ? batch_order(name) : -1;
        longname[0] = '\0';
        dp_status st;
        if ((type == 'L' || type == 'x') && size < 8192) {
            char meta[8192];
            st = gz_read_exact(f, path, meta, (size_t)padded, "a tar header");
            if (st != DP_OK) return st;
            meta[size] = '\0';
            if (type == 'L')
                snprintf(longname, sizeof longname, "%.1023s", meta);
            else
                pax_path(meta, (size_t)size, longname, sizeof longname);
        } else if (order >= 0) {
            char label[1200];
            snprintf(label, sizeof label, "%s: %s", path, name);
            if (size > SIZE_MAX / 2) return dpi_error(DP_ERR_FORMAT, "%s: member too large", label);
            uint8_t *data;
            size_t got;
            if ((st = gz_read_upto(f, label, NULL, 0, (size_t)size, &data, &got)) != DP_OK) return st;
            if (got < size) {
                free(data);
                return dpi_error(DP_ERR_FORMAT, "%s: truncated: the tar header declares %llu bytes, the file ends "
                                 "after %zu", label, (unsigned long long)size, got);
            }
            st = parts_add(ps, label, order, data, got);
            if (st == DP_OK) st = tar_skip(f, path, padded - size);
        } else {
            st = tar_skip(f, path, padded);
        }
        if (st != DP_OK) return st;
        /* EOF right after a member (no end marker) is accepted, as GNU tar does with a warning. */
        int got = gzread(f, h, TAR_BLOCK);
        if (got == 0) return DP_OK;
        if (got < 0) return gz_fail(f, path, "a tar header");
        if (got != TAR_BLOCK) return dpi_error(DP_ERR_FORMAT, "%s: truncated (file ends inside a tar header)", path);
    }
}

/* A file: a tar archive (members go to ps) or one batch file, either possibly gzip-compressed. */
static dp_status read_file(const char *path, parts *ps) {
    gzFile f = gzopen(path, "rb");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "gzopen failed");
    uint8_t head[TAR_BLOCK];
    dp_status st = DP_OK;
    int got = gzread(f, head, sizeof head);
    if (got < 0) {
        st = gz_fail(f, path, "the start of the file");
    } else if (got == TAR_BLOCK && memcmp(head + 257, "ustar", 5) == 0) {
        size_t before = ps->n;
        st = tar_walk(f, path, head, ps);
        if (st == DP_OK && ps->n == before)
            st = dpi_error(DP_ERR_NOT_FOUND, "%s: tar archive has no data_batch_*.bin or test_batch.bin member", path);
    } else {
        uint8_t *data = NULL;
        size_t len = 0;
        st = gz_read_upto(f, path, head, (size_t)got, SIZE_MAX, &data, &len);
        if (st == DP_OK) st = parts_add(ps, path, 0, data, len);
    }
    gzclose(f);
    return st;
}

static dp_status read_dir(const char *path, parts *ps) {
    DIR *d = opendir(path);
    if (!d) return dpi_error(DP_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
    dp_status st = DP_OK;
    struct dirent *e;
    while (st == DP_OK && (e = readdir(d)) != NULL) {
        long order = batch_order(e->d_name);
        if (order < 0) continue;
        char full[4096];
        if ((size_t)snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= sizeof full) {
            st = dpi_error(DP_ERR_INVALID_ARG, "%s: path too long", path);
            break;
        }
        size_t before = ps->n;
        st = read_file(full, ps);
        if (st == DP_OK)
            for (size_t i = before; i < ps->n; i++) ps->v[i].order = order;
    }
    closedir(d);
    if (st == DP_OK && ps->n == 0)
        st = dpi_error(DP_ERR_NOT_FOUND, "%s: no data_batch_*.bin or test_batch.bin in this directory", path);
    return st;
}

static dp_status check_part(const part *pt) {
    if (pt->len == 0) return dpi_error(DP_ERR_FORMAT, "%s: empty, expected CIFAR-10 records", pt->name);
    if (pt->len % DPI_CIFAR10_RECORD != 0)
        return dpi_error(DP_ERR_FORMAT,
                         "%s: size %zu is not a whole number of %d-byte CIFAR-10 records (truncated or not CIFAR-10 "
                         "binary)",
                         pt->name, pt->len, DPI_CIFAR10_RECORD);
    for (size_t r = 0; r < pt->len / DPI_CIFAR10_RECORD; r++) {
        uint8_t label = pt->data[r * DPI_CIFAR10_RECORD];
        if (label > 9)
            return dpi_error(DP_ERR_FORMAT, "%s: record %zu has label byte %u, expected 0..9 (not CIFAR-10 binary?)",
                             pt->name, r, (unsigned)label);
    }
    return DP_OK;
}

dp_status dpi_cifar10_load(const char *path, dpi_cifar10 *out) {
    out->n = 0;
    out->records = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    parts ps = {0};
    dp_status st = S_ISDIR(sb.st_mode) ? read_dir(path, &ps) : read_file(path, &ps);
    if (st != DP_OK) goto fail;
    qsort(ps.v, ps.n, sizeof *ps.v, by_order);
    size_t total = 0;
    for (size_t i = 0; i < ps.n; i++) {
        if ((st = check_part(&ps.v[i])) != DP_OK) goto fail;
        total += ps.v[i].len;
    }
    if (ps.n == 1) { /* the usual case: keep the buffer, no copy */
        out->records = ps.v[0].data;
        ps.v[0].data = NULL;
    } else {
        out->records = malloc(total);
        if (!out->records) {
            st = dpi_error(DP_ERR_NOMEM, "%s: out of memory for %zu bytes", path, total);
            goto fail;
        }
        for (size_t i = 0, off = 0; i < ps.n; off += ps.v[i].len, i++) {
            memcpy(out->records + off, ps.v[i].data, ps.v[i].len);
            free(ps.v[i].data);
            ps.v[i].data = NULL;
        }
    }
    out->n = (int64_t)(total / DPI_CIFAR10_RECORD);
fail:
    parts_free(&ps);
    return st;
}

void dpi_cifar10_release(dpi_cifar10 *c) {
    if (!c) return;
    free(c->records);
    c->records = NULL;
    c->n = 0;
}
