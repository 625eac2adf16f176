/* Little-endian loads and float16/bfloat16 -> float32 conversion shared by the file parsers. */
#ifndef DP_IO_CONVERT_H
#define DP_IO_CONVERT_H

#include <stdint.h>
#include <string.h>

static inline uint16_t dpi_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t dpi_le32(const uint8_t *p) { return (uint32_t)dpi_le16(p) | (uint32_t)dpi_le16(p + 2) << 16; }
static inline uint64_t dpi_le64(const uint8_t *p) { return (uint64_t)dpi_le32(p) | (uint64_t)dpi_le32(p + 4) << 32; }

static inline float dpi_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE half: subnormals, infinities and NaN included. */
static inline float dpi_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return dpi_bits_f32(sign | 0x7f800000u | man << 13);
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return dpi_bits_f32(sign | (exp + 112) << 23 | man << 13);
}

static inline float dpi_bf16_to_f32(uint16_t b) { return dpi_bits_f32((uint32_t)b << 16); }

typedef enum dpi_dtype { DPI_DT_F32, DPI_DT_F64, DPI_DT_F16, DPI_DT_BF16 } dpi_dtype;

/* Convert count little-endian values of dtype at src to float32 at dst. */
static inline void dpi_convert_to_f32(dpi_dtype dt, const uint8_t *src, size_t count, float *dst) {
    for (size_t i = 0; i < count; i++) {
        switch (dt) {
        case DPI_DT_F32: dst[i] = dpi_bits_f32(dpi_le32(src + 4 * i)); break;
        case DPI_DT_F64: {
            uint64_t u = dpi_le64(src + 8 * i);
            double d;
            memcpy(&d, &u, sizeof d);
            dst[i] = (float)d;
            break;
        }
        case DPI_DT_F16: dst[i] = dpi_f16_to_f32(dpi_le16(src + 2 * i)); break;
        case DPI_DT_BF16: dst[i] = dpi_bf16_to_f32(dpi_le16(src + 2 * i)); break;
        }
    }
}

#endif
