/* What the runtime may ask a data set beyond the public API. */
#ifndef DP_STREAM_DATASET_H
#define DP_STREAM_DATASET_H

#include "dataparallel/source.h"

/* The file ds was read from (.npy, CIFAR-10, Fashion-MNIST), for messages; NULL for synthetic,
 * memory and callback data sets. Valid while ds lives. */
const char *dpi_dataset_path(const dp_dataset *ds);

#endif
