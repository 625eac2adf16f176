/* .safetensors weights: u64 little-endian header length, a JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data section the offsets index. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "formats.h"
#include "util/util.h"

/* A non-negative integral JSON number that fits in int64 exactly (JSON numbers are doubles). */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static size_t dtype_size(const char *dt) {
    static const struct { const char *name; size_t size; } sizes[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
        {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(dt, sizes[i].name) == 0) return sizes[i].size;
    return 0;
}

static int float_dtype(const char *dt, dpi_dtype *out) {
    if (strcmp(dt, "F32") == 0) *out = DPI_DT_F32;
    else if (strcmp(dt, "F64") == 0) *out = DPI_DT_F64;
    else if (strcmp(dt, "F16") == 0) *out = DPI_DT_F16;
    else if (strcmp(dt, "BF16") == 0) *out = DPI_DT_BF16;
    else return 0;
    return 1;
}

static dp_status add_tensor(const char *path, const cJSON *t, const uint8_t *data, uint64_t data_len,
                            dpi_weights *w) {
    const char *name = t->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsObject(t) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: header entry needs dtype, shape and data_offsets[2]", path,
                         name);
    size_t isz = dtype_size(dt->valuestring);
    if (!isz) return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: unknown dtype %s", path, name, dt->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > DPI_MAX_DIMS)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s has %d dimensions (at most %d)", path, name, ndim, DPI_MAX_DIMS);
    int64_t dims[DPI_MAX_DIMS];
    uint64_t count = 1, begin, end;
    for (int d = 0; d < ndim; d++) {
        uint64_t v;
        if (!json_u64(cJSON_GetArrayItem(shape, d), &v))
            return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: malformed shape", path, name);
        if (v && count > (UINT64_MAX / 16) / v)
            return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: shape too large", path, name);
        dims[d] = (int64_t)v;
        count *= v;
    }
    if (!json_u64(cJSON_GetArrayItem(offs, 0), &begin) || !json_u64(cJSON_GetArrayItem(offs, 1), &end))
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: malformed data_offsets", path, name);
    if (begin > end || end > data_len)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: data_offsets [%llu, %llu] out of range (data section has "
                         "%llu bytes; truncated?)", path, name, (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)data_len);
    if (end - begin != count * isz)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: %llu bytes for %llu elements of %s", path, name,
                         (unsigned long long)(end - begin), (unsigned long long)count, dt->valuestring);
    dpi_dtype fdt;
    if (!float_dtype(dt->valuestring, &fdt)) return dpi_weights_add_unconvertible(w, name, ndim, dims, dt->valuestring);
    float *out = malloc((size_t)count * sizeof *out + 1);
    if (!out) return dpi_error(DP_ERR_NOMEM, "%s: tensor %s: out of memory", path, name);
    dpi_convert_to_f32(fdt, data + begin, (size_t)count, out);
    return dpi_weights_add(w, name, ndim, dims, out);
}

dp_status dpi_safetensors_parse(const char *path, const uint8_t *buf, size_t len, dpi_weights *w) {
    if (len < 8) return dpi_error(DP_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes)", path, len);
    uint64_t hlen = dpi_le64(buf);
    if (hlen > len - 8)
        return dpi_error(DP_ERR_FORMAT, "%s: safetensors header length %llu exceeds the file size %zu (truncated?)",
                         path, (unsigned long long)hlen, len);
    cJSON *root = cJSON_ParseWithLength((const char *)buf + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return dpi_error(DP_ERR_FORMAT, "%s: safetensors header is not a JSON object", path);
    }
    dp_status s = DP_OK;
    const cJSON *t;
    cJSON_ArrayForEach(t, root) {
        if (strcmp(t->string, "__metadata__") == 0) continue;
        if ((s = add_tensor(path, t, buf + 8 + hlen, len - 8 - hlen, w))) break;
    }
    cJSON_Delete(root);
    return s;
}
