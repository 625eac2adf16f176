/* The one rule for sized structs: every options struct, dp_sink_callbacks and dp_summary start
 * with `size_t size`, which their init macro sets to sizeof the caller's struct (docs/c-api.md,
 * "Sized structs"):
 *  - the library takes any size from the struct's first published size up;
 *  - fields a smaller (older) struct lacks keep their defaults (options) or are not written
 *    (dp_summary);
 *  - a larger struct (the caller was built against a newer header) is taken when the bytes this
 *    library does not know are all zero, and refused otherwise: they would be ignored silently.
 * Every public function that takes such a struct goes through these helpers. */
#ifndef DP_UTIL_SIZED_H
#define DP_UTIL_SIZED_H

#include <stddef.h>

#include "dataparallel/core.h"

/* A caller's X_init(): defaults (lib_size bytes) into s (caller_size bytes): the fields both know
 * get the defaults, bytes only a newer caller's struct has are zeroed, size = caller_size. */
void dpi_sized_init(void *s, size_t caller_size, const void *defaults, size_t lib_size);
/* Check s against the rule. what names it ("dp_runner_create: opts"), init its initialiser
 * ("dp_runner_opts_init") for the message. */
dp_status dpi_sized_check(const void *s, size_t lib_size, size_t min_size, const char *what, const char *init);
/* An input struct: dst (lib_size bytes) holds the defaults; src (NULL: keep them) is checked and
 * the fields both know are copied; dst's size ends as lib_size. */
dp_status dpi_sized_take(void *dst, size_t lib_size, const void *src, size_t min_size, const char *what,
                         const char *init);
/* An output struct: the library's full struct into the caller's, as much as its size holds
 * (dst already checked; its size is kept). */
void dpi_sized_give(void *dst, const void *full, size_t lib_size);

#endif
