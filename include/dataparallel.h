/*
 * dataparallel.h — libdataparallel: real-time, data-parallel CNN inference on CPU workers.
 *
 * Umbrella header. The API is grouped by concept, one header each:
 *   dataparallel/core.h       version, dp_status, dp_last_error(), log hook, clock
 *   dataparallel/io.h         .npy arrays in and out
 *   dataparallel/model.h      dp_model (load ResNet-18 / MobileNetV2), dp_exec (run it)
 *   dataparallel/partition.h  dp_partitioner (uniform, sharded, dynamic, weighted, custom)
 *   dataparallel/source.h     dp_dataset (payloads), dp_source (rate-limited sample streams)
 *   dataparallel/runner.h     dp_runner (batch, stream and push mode over workers), summaries
 *   dataparallel/sink.h       dp_sink (console, CSV, JSONL, Prometheus, callback)
 *   dataparallel/tune.h       dp_tune (the configuration serving a p99 objective best)
 *
 * Conventions: every object has dp_X_create(..., &out) / dp_X_free(x) (free(NULL) is a no-op);
 * options structs start with their size and are filled by dp_X_opts_init(); every fallible call
 * returns dp_status and leaves a message in dp_last_error(). See docs/c-api.md.
 */
#ifndef DATAPARALLEL_H
#define DATAPARALLEL_H

#include "dataparallel/core.h"
#include "dataparallel/io.h"
#include "dataparallel/model.h"
#include "dataparallel/partition.h"
#include "dataparallel/source.h"
#include "dataparallel/runner.h"
#include "dataparallel/sink.h"
#include "dataparallel/split.h"
#include "dataparallel/pipeline.h"
#include "dataparallel/stats.h"
#include "dataparallel/tune.h"

#endif
