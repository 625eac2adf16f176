/* What a dp_sink is: the callbacks the runner's metrics thread calls, and a destructor. */
#ifndef DP_METRICS_SINK_IMPL_H
#define DP_METRICS_SINK_IMPL_H

#include "dataparallel/sink.h"

struct dp_sink {
    dp_sink_callbacks cb;            /* every built-in sink is a set of callbacks too */
    void (*destroy)(void *user);     /* frees cb.user; NULL for callback sinks */
    int64_t rows_dropped;            /* interval rows skipped because the sink was behind */
};

#endif
