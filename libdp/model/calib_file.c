/* The calibration object and its files (docs/formats.md, "Calibration files"): a few lines of
 * text, written by dp_calibration_save() and read back by dp_calibration_load(). A file comes from
 * outside, so the reader bounds everything (size, line length, node count, names, numbers) and
 * names file:line. Needs nothing of the model but the struct, so tests/fuzz compiles it alone. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "quant.h"
#include "util/util.h"

#define MAGIC "dp-calibration 1"
#define MAX_FILE (1 << 20)   /* a real file is a few KiB: 100 bytes a node */
#define MAX_LINE 255
#define MAX_NODES 4096

dp_calibration *dpi_calibration_new(int n) {
    dp_calibration *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n = n;
    c->range = calloc((size_t)(n > 0 ? n : 1), sizeof *c->range);
    c->names = calloc((size_t)(n > 0 ? n : 1), sizeof *c->names);
    if (!c->range || !c->names) {
        dp_calibration_free(c);
        return NULL;
    }
    snprintf(c->source, sizeof c->source, "calibration");
    return c;
}

DP_API void dp_calibration_free(dp_calibration *cal) {
    if (!cal) return;
    free(cal->range);
    free(cal->names);
    free(cal);
}

DP_API const char *dp_calibration_arch(const dp_calibration *cal) { return cal ? cal->arch : NULL; }
DP_API int64_t dp_calibration_samples(const dp_calibration *cal) { return cal ? cal->samples : 0; }

DP_API dp_status dp_calibration_save(const dp_calibration *cal, const char *path) {
    if (!cal || !path) return dpi_error(DP_ERR_INVALID_ARG, "dp_calibration_save: %s is NULL", cal ? "path" : "cal");
    FILE *f = fopen(path, "w");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f, MAGIC "\narch %s\nclasses %d\nweights %016" PRIx64 "\n", cal->arch, cal->num_classes, cal->weights_hash);
    if (cal->method == DP_CALIB_PERCENTILE) fprintf(f, "method percentile %.9g\n", cal->percentile);
    else fprintf(f, "method minmax\n");
    fprintf(f, "samples %" PRId64 "\ninput %.9g\n", cal->samples, (double)cal->input_range);
    for (int i = 0; i < cal->n; i++) fprintf(f, "node %s %.9g\n", cal->names[i], (double)cal->range[i]);
    fprintf(f, "end\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return dpi_error(DP_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return DP_OK;
}

typedef struct reader {
    const char *path;
    char *p, *end;
    int line;
} reader;

/* The next line, NUL-terminated in place (NULL at end of file). */
static char *next_line(reader *r, dp_status *s) {
    if (r->p >= r->end) return NULL;
    r->line++;
    char *start = r->p, *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    char *stop = nl ? nl : r->end;
    r->p = nl ? nl + 1 : r->end;
    if (stop > start && stop[-1] == '\r') stop--;
    if (stop - start > MAX_LINE) {
        *s = dpi_error(DP_ERR_FORMAT, "%s:%d: line longer than %d characters", r->path, r->line, MAX_LINE);
        return NULL;
    }
    *stop = '\0';
    if (strlen(start) != (size_t)(stop - start)) {
        *s = dpi_error(DP_ERR_FORMAT, "%s:%d: a NUL byte in a text file", r->path, r->line);
        return NULL;
    }
    return start;
}

/* Line "key rest": returns rest, or NULL with *s set. */
static char *expect(reader *r, const char *key, dp_status *s) {
    char *l = next_line(r, s);
    size_t k = strlen(key);
    if (*s) return NULL;
    if (!l || strncmp(l, key, k) != 0 || l[k] != ' ') {
        *s = dpi_error(DP_ERR_FORMAT, "%s:%d: expected \"%s ...\"", r->path, l ? r->line : r->line + 1, key);
        return NULL;
    }
    return l + k + 1;
}

static dp_status parse_number(const reader *r, const char *key, const char *text, double lo, double hi, double *out) {
    char *endp;
    errno = 0;
    double v = strtod(text, &endp);
    if (endp == text || *endp != '\0' || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return dpi_error(DP_ERR_FORMAT, "%s:%d: %s \"%s\" is not a number in [%g, %g]", r->path, r->line, key, text, lo,
                         hi);
    *out = v;
    return DP_OK;
}

static int is_name(const char *s, size_t cap) {
    size_t n = strlen(s);
    if (n == 0 || n >= cap) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static dp_status parse(reader *r, int nodes, dp_calibration *c) {
    dp_status s = DP_OK;
    double v;
    char *l = next_line(r, &s);
    if (!s && (!l || strcmp(l, MAGIC) != 0))
        return dpi_error(DP_ERR_FORMAT, "%s:1: not a calibration file (expected \"%s\")", r->path, MAGIC);
    if (s || !(l = expect(r, "arch", &s))) return s;
    if (!is_name(l, sizeof c->arch)) return dpi_error(DP_ERR_FORMAT, "%s:%d: bad arch name", r->path, r->line);
    snprintf(c->arch, sizeof c->arch, "%s", l);
    if (!(l = expect(r, "classes", &s)) || (s = parse_number(r, "classes", l, 1, 1e6, &v))) return s;
    c->num_classes = (int)v;
    if (v != c->num_classes) return dpi_error(DP_ERR_FORMAT, "%s:%d: classes is not an integer", r->path, r->line);
    if (!(l = expect(r, "weights", &s))) return s;
    char *endp;
    if (strlen(l) != 16 || strspn(l, "0123456789abcdef") != 16)
        return dpi_error(DP_ERR_FORMAT, "%s:%d: weights must be 16 lower-case hex digits", r->path, r->line);
    c->weights_hash = strtoull(l, &endp, 16);
    if (!(l = expect(r, "method", &s))) return s;
    if (strcmp(l, "minmax") == 0) {
        c->method = DP_CALIB_MINMAX;
    } else if (strncmp(l, "percentile ", 11) == 0) {
        c->method = DP_CALIB_PERCENTILE;
        if ((s = parse_number(r, "percentile", l + 11, 50, 100, &c->percentile))) return s;
    } else {
        return dpi_error(DP_ERR_FORMAT, "%s:%d: method must be \"minmax\" or \"percentile P\"", r->path, r->line);
    }
    if (!(l = expect(r, "samples", &s)) || (s = parse_number(r, "samples", l, 1, 1e15, &v))) return s;
    c->samples = (int64_t)v;
    if (v != (double)c->samples) return dpi_error(DP_ERR_FORMAT, "%s:%d: samples is not an integer", r->path, r->line);
    if (!(l = expect(r, "input", &s)) || (s = parse_number(r, "input", l, 0, 1e30, &v))) return s;
    c->input_range = (float)v;
    for (int i = 0; i < nodes; i++) {
        if (!(l = expect(r, "node", &s))) return s;
        char *sp = strchr(l, ' ');
        if (!sp) return dpi_error(DP_ERR_FORMAT, "%s:%d: expected \"node NAME RANGE\"", r->path, r->line);
        *sp = '\0';
        if (!is_name(l, DPI_NAME_CAP)) return dpi_error(DP_ERR_FORMAT, "%s:%d: bad node name", r->path, r->line);
        snprintf(c->names[i], DPI_NAME_CAP, "%s", l);
        if ((s = parse_number(r, c->names[i], sp + 1, 0, 1e30, &v))) return s;
        c->range[i] = (float)v;
    }
    l = next_line(r, &s);
    if (!s && (!l || strcmp(l, "end") != 0))
        return dpi_error(DP_ERR_FORMAT, "%s:%d: expected \"end\" (a cut-off file?)", r->path, r->line + (l ? 0 : 1));
    while (!s && (l = next_line(r, &s)))
        if (l[0]) return dpi_error(DP_ERR_FORMAT, "%s:%d: text after \"end\"", r->path, r->line);
    return s;
}

/* The file, at most MAX_FILE bytes, NUL-terminated. */
static dp_status read_bounded(const char *path, char **buf, size_t *len) {
    FILE *f = fopen(path, "rb");
    struct stat sb;
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return dpi_error(DP_ERR_IO, "%s: is a directory, expected a calibration file", path);
    }
    char *b = malloc(MAX_FILE + 2);
    if (!b) {
        fclose(f);
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(b, 1, MAX_FILE + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || n > MAX_FILE) {
        free(b);
        return err ? dpi_error(DP_ERR_IO, "%s: read error", path)
                   : dpi_error(DP_ERR_FORMAT, "%s: larger than %d bytes: not a calibration file", path, MAX_FILE);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return DP_OK;
}

DP_API dp_status dp_calibration_load(const char *path, dp_calibration **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_calibration_load: out is NULL");
    *out = NULL;
    if (!path) return dpi_error(DP_ERR_INVALID_ARG, "dp_calibration_load: path is NULL");
    char *buf = NULL;
    size_t len = 0;
    dp_status s = read_bounded(path, &buf, &len);
    if (s) return s;
    int nodes = 0;
    for (const char *p = buf; (p = strstr(p, "\nnode ")) != NULL; p++) nodes++;
    if (nodes > MAX_NODES) {
        free(buf);
        return dpi_error(DP_ERR_FORMAT, "%s: %d node lines, at most %d", path, nodes, MAX_NODES);
    }
    dp_calibration *c = dpi_calibration_new(nodes);
    if (!c) {
        free(buf);
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(c->source, sizeof c->source, "%s", path);
    reader r = {path, buf, buf + len, 0};
    s = parse(&r, nodes, c);
    free(buf);
    if (s) {
        dp_calibration_free(c);
        return s;
    }
    *out = c;
    return DP_OK;
}
