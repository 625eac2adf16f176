/* dp_sink itself: the wrapper every sink is, the user callback sink and dp_sink_free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_impl.h"
#include "util/util.h"

dp_status dpi_sink_create(const dp_sink_callbacks *cb, void (*destroy)(void *user), dp_sink **out) {
    dp_sink *s = calloc(1, sizeof *s);
    if (!s) {
        if (destroy) destroy(cb->user);
        return dpi_error(DP_ERR_NOMEM, "sink: out of memory");
    }
    /* A caller built against a newer header may pass a larger struct: take the fields we know. */
    memcpy(&s->cb, cb, sizeof s->cb);
    s->cb.size = sizeof s->cb;
    s->destroy = destroy;
    *out = s;
    return DP_OK;
}

DP_API dp_status dp_sink_callback_create(const dp_sink_callbacks *cb, dp_sink **out) {
    if (!out) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_callback_create: out is NULL");
    *out = NULL;
    if (!cb) return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_callback_create: cb is NULL");
    if (cb->size < sizeof(dp_sink_callbacks))
        return dpi_error(DP_ERR_INVALID_ARG, "dp_sink_callback_create: cb->size is %zu, expected %zu (set it to sizeof(dp_sink_callbacks))",
                         cb->size, sizeof(dp_sink_callbacks));
    return dpi_sink_create(cb, NULL, out);
}

DP_API void dp_sink_free(dp_sink *sink) {
    if (!sink) return;
    if (sink->destroy) sink->destroy(sink->cb.user);
    free(sink);
}

dp_status dpi_sink_file_open(dpi_sink_file *o, const char *what, const char *path) {
    o->f = NULL;
    o->what = what;
    o->write_failed = 0;
    if (!path || !*path) return dpi_error(DP_ERR_INVALID_ARG, "%s: path is %s", what, path ? "empty" : "NULL");
    o->f = fopen(path, "w");
    if (!o->f) return dpi_error(DP_ERR_IO, "%s: cannot open %s for writing: %s", what, path, strerror(errno));
    return DP_OK;
}

int dpi_sink_file_flush(dpi_sink_file *o) {
    if (!o->write_failed && (fflush(o->f) != 0 || ferror(o->f))) {
        o->write_failed = 1;
        dpi_log(DP_LOG_WARN, "%s: a write failed (disk full?); later output may be missing", o->what);
    }
    return o->write_failed;
}

void dpi_sink_file_close(dpi_sink_file *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
}
