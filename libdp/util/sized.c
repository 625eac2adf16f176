/* The rule for sized structs; see sized.h. */
#include "sized.h"

#include <string.h>

#include "util.h"

static size_t size_of(const void *s) {
    size_t n;
    memcpy(&n, s, sizeof n);
    return n;
}

static void set_size(void *s, size_t n) { memcpy(s, &n, sizeof n); }

void dpi_sized_init(void *s, size_t caller_size, const void *defaults, size_t lib_size) {
    if (!s || caller_size < sizeof(size_t)) return;
    memset(s, 0, caller_size);
    memcpy(s, defaults, caller_size < lib_size ? caller_size : lib_size);
    set_size(s, caller_size);
}

dp_status dpi_sized_check(const void *s, size_t lib_size, size_t min_size, const char *what, const char *init) {
    size_t n = size_of(s);
    if (n < min_size)
        return dpi_error(DP_ERR_INVALID_ARG, "%s: size is %zu, less than any version of the struct (%zu): call %s()",
                         what, n, min_size, init);
    for (size_t i = lib_size; i < n; i++)
        if (((const unsigned char *)s)[i] != 0)
            return dpi_error(DP_ERR_INVALID_ARG,
                             "%s: fields beyond the %zu bytes this library knows are set (built against a newer "
                             "header than libdataparallel %s?)",
                             what, lib_size, dp_version_string());
    return DP_OK;
}

dp_status dpi_sized_take(void *dst, size_t lib_size, const void *src, size_t min_size, const char *what,
                         const char *init) {
    if (!src) return DP_OK;
    dp_status s = dpi_sized_check(src, lib_size, min_size, what, init);
    if (s != DP_OK) return s;
    size_t n = size_of(src);
    memcpy(dst, src, n < lib_size ? n : lib_size);
    set_size(dst, lib_size);
    return DP_OK;
}

void dpi_sized_give(void *dst, const void *full, size_t lib_size) {
    size_t n = size_of(dst);
    memcpy(dst, full, n < lib_size ? n : lib_size);
    set_size(dst, n);
}
