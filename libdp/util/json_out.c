#include "util/json_out.h"

#include <stdlib.h>
#include <string.h>

size_t dpi_json_print_into(cJSON *o, char *buf, size_t cap) {
    if (buf && cap) buf[0] = '\0';
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return 0;
    size_t len = strlen(text);
    if (buf && cap) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(buf, text, n);
        buf[n] = '\0';
    }
    free(text);
    return len;
}
