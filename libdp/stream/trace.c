/* Trace files: arrival offsets in seconds, plain (one per line) or CSV with a named column. */
#include "trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* One CSV field (RFC 4180: a field in double quotes may hold commas, and "" stands for a quote)
 * from *cur, unquoted in place and without surrounding blanks. *cur moves past the field's comma,
 * or becomes NULL after the last field. NULL for an unterminated quote or text after a closing
 * quote. Fields spanning lines are not supported (a trace has no use for them). */
static char *csv_field(char **cur) {
    char *p = *cur;
    while (is_blank(*p)) p++;
    char *start = p, *out;
    if (*p == '"') {
        out = start;
        for (p++;; p++) {
            if (*p == '\0') return NULL;
            if (*p == '"' && *++p != '"') break;
            *out++ = *p;
        }
        while (is_blank(*p)) p++;
        if (*p != ',' && *p != '\0') return NULL;
    } else {
        while (*p != ',' && *p != '\0') p++;
        for (out = p; out > start && is_blank(out[-1]); out--) {
        }
    }
    *cur = *p == ',' ? p + 1 : NULL;
    *out = '\0'; /* out <= p: written after *cur is known */
    return start;
}

static int parse_number(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v);
}

static int is_time_column(const char *name) {
    return !strcasecmp(name, "time") || !strcasecmp(name, "t") || !strcasecmp(name, "timestamp");
}

/* Field col of a data line, or NULL (with *malformed set for a bad quote) when it has fewer. */
static char *nth_field(char *line, int col, int *malformed) {
    char *cur = line, *f = NULL;
    for (int k = 0; k <= col; k++) {
        if (!cur) return NULL;
        if (!(f = csv_field(&cur))) {
            *malformed = 1;
            return NULL;
        }
    }
    return f;
}

dp_status dpi_trace_read(const char *path, int64_t **offsets_ns, int64_t *n) {
    *offsets_ns = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open trace: %s", path, strerror(errno));
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    int64_t *v = NULL, count = 0, cap = 0, lineno = 0;
    int col = -1; /* -1: not decided yet; the first data line or header decides */
    double first = 0, prev = 0;
    dp_status st = DP_OK;
    while ((got = getline(&line, &line_cap, f)) >= 0) {
        lineno++;
        char *s = line;
        /* A UTF-8 byte-order mark, as spreadsheet programs write it, then LF or CRLF endings. */
        if (lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = '\0';
        while (is_blank(*s)) s++;
        if (!*s || *s == '#') continue;
        double x;
        int malformed = 0;
        if (col < 0) {
            col = 0;
            char *cur = s, *name = csv_field(&cur);
            if (name && !cur && parse_number(name, &x)) goto value; /* plain: no header */
            for (int k = 0; name; k++) {
                if (is_time_column(name)) {
                    col = k;
                    break;
                }
                name = cur ? csv_field(&cur) : NULL;
            }
            if (!name) {
                st = dpi_error(DP_ERR_FORMAT,
                               "%s:%lld: expected a number or a CSV header naming a time, t or timestamp column",
                               path, (long long)lineno);
                goto done;
            }
            continue;
        }
        char *field = nth_field(s, col, &malformed);
        if (!field || !parse_number(field, &x)) {
            st = dpi_error(DP_ERR_FORMAT, "%s:%lld: \"%s\" is not a number of seconds", path, (long long)lineno,
                           field ? field : malformed ? "(unterminated or malformed quoted field)" : "(missing column)");
            goto done;
        }
    value:
        if (count == 0) first = prev = x;
        if (x < prev) {
            st = dpi_error(DP_ERR_FORMAT, "%s:%lld: offset %.9g is before the previous one (%.9g); offsets must not "
                           "decrease", path, (long long)lineno, x, prev);
            goto done;
        }
        /* Negated so that an infinite difference (first -1e308, x 1e308) is refused too. */
        if (!(x - first <= DPI_TRACE_MAX_OFFSET_S)) {
            st = dpi_error(DP_ERR_FORMAT, "%s:%lld: offset %.9g is %.9g s after the first one (%.9g); at most %g s "
                           "is supported", path, (long long)lineno, x, x - first, first, DPI_TRACE_MAX_OFFSET_S);
            goto done;
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 1024;
            int64_t *nv = realloc(v, sizeof *v * (size_t)cap);
            if (!nv) {
                st = dpi_error(DP_ERR_NOMEM, "%s: out of memory for %lld offsets", path, (long long)cap);
                goto done;
            }
            v = nv;
        }
        /* In range by the bound above: at most 1e15 ns. */
        v[count++] = llround((x - first) * 1e9);
        prev = x;
    }
    if (ferror(f)) st = dpi_error(DP_ERR_IO, "%s: read error: %s", path, strerror(errno));
    else if (count == 0) st = dpi_error(DP_ERR_FORMAT, "%s: trace has no arrival offsets", path);
done:
    free(line);
    fclose(f);
    if (st != DP_OK) {
        free(v);
        return st;
    }
    *offsets_ns = v;
    *n = count;
    return DP_OK;
}
