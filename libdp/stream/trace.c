/* Trace files: arrival offsets in seconds, plain (one per line) or CSV with a named column. */
#include "trace.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"

/* Trim spaces and one pair of surrounding double quotes in place. */
static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1])) s[--len] = '\0';
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s[len - 1] = '\0';
        s++;
    }
    return s;
}

/* Field `col` of a comma-separated line (modifies line), or NULL if it has fewer fields. */
static char *field(char *line, int col) {
    char *f = line;
    for (int k = 0; k < col; k++) {
        f = strchr(f, ',');
        if (!f) return NULL;
        f++;
    }
    char *end = strchr(f, ',');
    if (end) *end = '\0';
    return trim(f);
}

static int parse_number(const char *s, double *v) {
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v);
}

dp_status dpi_trace_read(const char *path, int64_t **offsets_ns, int64_t *n) {
    *offsets_ns = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) return dpi_error(DP_ERR_IO, "%s: cannot open trace: %s", path, strerror(errno));
    char *line = NULL;
    size_t line_cap = 0;
    int64_t *v = NULL, count = 0, cap = 0, lineno = 0;
    int col = -1; /* -1: not decided yet; the first data line or header decides */
    double first = 0, prev = 0;
    dp_status st = DP_OK;
    while (getline(&line, &line_cap, f) >= 0) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        double x;
        if (col < 0) {
            col = 0;
            if (!strchr(s, ',') && parse_number(s, &x)) goto value; /* plain: no header */
            char *hdr = s;
            for (int k = 0;; k++) {
                char *comma = strchr(hdr, ',');
                if (comma) *comma = '\0';
                char *name = trim(hdr);
                if (!strcasecmp(name, "time") || !strcasecmp(name, "t") || !strcasecmp(name, "timestamp")) {
                    col = k;
                    break;
                }
                if (!comma) {
                    st = dpi_error(DP_ERR_FORMAT,
                                   "%s:%lld: expected a number or a CSV header naming a time, t or timestamp column",
                                   path, (long long)lineno);
                    goto done;
                }
                hdr = comma + 1;
            }
            continue;
        }
        s = field(s, col);
        if (!s || !parse_number(s, &x)) {
            st = dpi_error(DP_ERR_FORMAT, "%s:%lld: \"%s\" is not a number of seconds", path, (long long)lineno,
                           s ? s : "(missing column)");
            goto done;
        }
    value:
        if (count == 0) first = prev = x;
        if (x < prev) {
            st = dpi_error(DP_ERR_FORMAT, "%s:%lld: offset %.9g is before the previous one (%.9g); offsets must not "
                           "decrease", path, (long long)lineno, x, prev);
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
