/* dp_sink itself: the wrapper every sink is, the user callback sink and dp_sink_free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "util/sized.h"
#include "util/util.h"

dp_status dpi_sink_create(const dp_sink_callbacks *cb, void (*destroy)(void *user), const dpi_sink_file *file,
                          dp_sink **out) {
    dp_sink *s = calloc(1, sizeof *s);
    if (!s) {
        if (destroy) destroy(cb->user);
        return dpi_error(DP_ERR_NOMEM, "sink: out of memory");
    }
    s->cb = *cb;
    s->destroy = destroy;
    s->file = file;
    *out = s;
    return DP_OK;
}

DP_API dp_status dp_sink_callback_create(const dp_sink_callbacks *cb, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_callback_create: out is NULL");
    *out = NULL;
    if (!cb) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_callback_create: cb is NULL");
    dp_sink_callbacks c;
    dp_sink_callbacks_init(&c);
    dp_status st = dpi_sized_take(&c, sizeof c, cb, sizeof c, "dp_sink_callback_create: cb", "dp_sink_callbacks_init");
    return st == DP_OK ? dpi_sink_create(&c, NULL, NULL, out) : st;
}

DP_API void dp_sink_callbacks_init_sized(dp_sink_callbacks *cb, size_t size) {
    const dp_sink_callbacks none = {.size = sizeof none};
    dpi_sized_init(cb, size, &none, sizeof none);
}

DP_API void dp_sink_free(dp_sink *sink) {
    if (!sink) return;
    if (sink->destroy) sink->destroy(sink->cb.user);
    free(sink);
}

dp_status dpi_sink_file_open(dpi_sink_file *o, const char *what, const char *path) {
    memset(o, 0, sizeof *o);
    o->what = what;
    if (!path || !*path) return dpi_error(DP_ERR_INVALID_ARG, "%s: path is %s", what, path ? "empty" : "NULL");
    o->name = dpi_strdup(path);
    if (!o->name) return DP_ERR_NOMEM;
    o->f = fopen(path, "w");
    if (!o->f) {
        dp_status st = dpi_error(DP_ERR_IO, "%s: cannot open %s for writing: %s", what, path, strerror(errno));
        dpi_sink_file_close(o);
        return st;
    }
    o->owned = 1;
    return DP_OK;
}

dp_status dpi_sink_file_borrow(dpi_sink_file *o, const char *what, FILE *f, const char *name) {
    memset(o, 0, sizeof *o);
    o->what = what;
    o->f = f;
    o->name = dpi_strdup(name);
    return o->name ? DP_OK : DP_ERR_NOMEM;
}

int dpi_sink_file_flush(dpi_sink_file *o) {
    if (!o->write_errno && (fflush(o->f) != 0 || ferror(o->f))) {
        o->write_errno = errno ? errno : EIO;
        dpi_log(DP_LOG_WARN, "%s: writing %s failed: %s; the run will fail", o->what, o->name, strerror(o->write_errno));
    }
    return o->write_errno != 0;
}

void dpi_sink_file_close(dpi_sink_file *o) {
    if (o->f && o->owned) fclose(o->f);
    free(o->name);
    o->f = NULL;
    o->name = NULL;
}

dp_status dpi_sink_failure(const dp_sink *s) {
    const dpi_sink_file *o = s->file;
    if (!o || !o->write_errno) return DP_OK;
    return dpi_error(DP_ERR_IO, "%s: writing %s failed: %s", o->what, o->name, strerror(o->write_errno));
}
