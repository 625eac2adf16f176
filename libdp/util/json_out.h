/* The library's "JSON into the caller's buffer" rule, shared by every dp_*_to_json. */
#ifndef DP_UTIL_JSON_OUT_H
#define DP_UTIL_JSON_OUT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Print o compactly into buf (cap bytes, always NUL-terminated when cap > 0, truncated if short)
 * and delete o. Returns the full length without the NUL, so a caller can size a second call;
 * 0 when o is NULL or printing fails. */
size_t dpi_json_print_into(cJSON *o, char *buf, size_t cap);

#endif
