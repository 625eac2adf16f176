/* The restricted unpickler (libdp/io/pickle.h). Only the opcodes of protocols 2-4 that torch.save
 * and pickle.dump(..., protocol=2) emit for plain data are implemented; the list of globals is
 * fixed and each one's effect is reproduced by hand (nothing is looked up or called). */
#include "pickle.h"
#include "pickle_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "util/util.h"

/* Memory for objects and containers may grow to this multiple of the pickle's size (plus a
 * constant): legitimate pickles need a few bytes per opcode byte at most. */
#define BUDGET_PER_BYTE 64
#define BUDGET_BASE (1u << 20)
/* Python 2's cPickle starts its memo at 1; allow a small gap, never a sparse jump. */
#define MEMO_SLACK 256
#define MAX_GLOBAL_NAME 128


static const struct {
    const char *module, *name;
} globals[DPI_G_COUNT] = {
    [DPI_G_ORDERED_DICT] = {"collections", "OrderedDict"},
    [DPI_G_REBUILD_TENSOR_V2] = {"torch._utils", "_rebuild_tensor_v2"},
    [DPI_G_REBUILD_PARAMETER] = {"torch._utils", "_rebuild_parameter"},
    [DPI_G_STORAGE_F32] = {"torch", "FloatStorage"},
    [DPI_G_STORAGE_F64] = {"torch", "DoubleStorage"},
    [DPI_G_STORAGE_F16] = {"torch", "HalfStorage"},
    [DPI_G_STORAGE_BF16] = {"torch", "BFloat16Storage"},
    [DPI_G_STORAGE_I64] = {"torch", "LongStorage"},
    [DPI_G_STORAGE_I32] = {"torch", "IntStorage"},
    [DPI_G_STORAGE_I16] = {"torch", "ShortStorage"},
    [DPI_G_STORAGE_I8] = {"torch", "CharStorage"},
    [DPI_G_STORAGE_U8] = {"torch", "ByteStorage"},
    [DPI_G_STORAGE_BOOL] = {"torch", "BoolStorage"},
    [DPI_G_SET] = {"builtins", "set"},
    [DPI_G_NP_RECONSTRUCT] = {"numpy.core.multiarray", "_reconstruct"},
    [DPI_G_NP_NDARRAY] = {"numpy", "ndarray"},
    [DPI_G_NP_DTYPE] = {"numpy", "dtype"},
    [DPI_G_CODECS_ENCODE] = {"_codecs", "encode"},
};

static const struct {
    int itemsize;
    const char *dtype;
} storages[] = {{4, "float32"}, {8, "float64"}, {2, "float16"}, {2, "bfloat16"}, {8, "int64"},
                {4, "int32"},   {2, "int16"},   {1, "int8"},    {1, "uint8"},    {1, "bool"}};

static int is_storage(dpi_pk_global g) { return g >= DPI_G_STORAGE_F32 && g <= DPI_G_STORAGE_BOOL; }
int dpi_pk_storage_itemsize(dpi_pk_global g) { return is_storage(g) ? storages[g - DPI_G_STORAGE_F32].itemsize : 0; }
const char *dpi_pk_storage_dtype(dpi_pk_global g) { return is_storage(g) ? storages[g - DPI_G_STORAGE_F32].dtype : "?"; }

/* None, True, False and MARK are never modified, so one shared instance each is enough. */
static dpi_pk pk_none = {.kind = DPI_PK_NONE}, pk_true = {.kind = DPI_PK_BOOL, .u.i = 1},
              pk_false = {.kind = DPI_PK_BOOL, .u.i = 0};

dp_status dpi_pk_bad(dpi_unpickler *up, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return dpi_error(DP_ERR_FORMAT, "%s: pickle offset %zu: %s", up->name, up->op, what);
}

/* Charge n bytes to the budget; a pickle that would exceed it is refused, not allocated. */
dp_status dpi_pk_charge(dpi_unpickler *up, size_t n) {
    if (n > up->budget) return dpi_pk_bad(up, "needs more memory than a pickle of %zu bytes can justify", up->len);
    up->budget -= n;
    return DP_OK;
}

/* Grow *v (elements of size sz, capacity *cap) to hold need; charged to the budget. */
static dp_status grow(dpi_unpickler *up, void *v, size_t *cap, size_t need, size_t sz) {
    if (need <= *cap) return DP_OK;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need) ncap *= 2;
    dp_status s = dpi_pk_charge(up, (ncap - *cap) * sz);
    if (s) return s;
    void *p = realloc(*(void **)v, ncap * sz);
    if (!p) return dpi_error(DP_ERR_NOMEM, "%s: out of memory unpickling", up->name);
    *(void **)v = p;
    *cap = ncap;
    return DP_OK;
}

dp_status dpi_pk_new(dpi_unpickler *up, dpi_pk_kind kind, size_t ext, dpi_pk **out) {
    dp_status s = grow(up, &up->objs, &up->ocap, up->on + 1, sizeof *up->objs);
    if (!s) s = dpi_pk_charge(up, sizeof(dpi_pk) + ext);
    if (s) return s;
    dpi_pk *o = calloc(1, sizeof *o);
    void *x = ext ? calloc(1, ext) : NULL;
    if (!o || (ext && !x)) {
        free(o);
        free(x);
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory unpickling", up->name);
    }
    o->kind = kind;
    if (x) o->u.tensor = x; /* the union's pointer members share this storage */
    up->objs[up->on++] = o;
    *out = o;
    return DP_OK;
}

static dp_status push(dpi_unpickler *up, dpi_pk *o) {
    dp_status s = grow(up, &up->stack, &up->scap, up->sn + 1, sizeof *up->stack);
    if (!s) up->stack[up->sn++] = o;
    return s;
}

static size_t frame_base(const dpi_unpickler *up) { return up->mn ? up->marks[up->mn - 1] : 0; }

static dp_status pop(dpi_unpickler *up, dpi_pk **o) {
    if (up->sn <= frame_base(up)) return dpi_pk_bad(up, "stack underflow");
    *o = up->stack[--up->sn];
    return DP_OK;
}

/* The items above the last MARK (*items points into the stack, valid until the next push). */
static dp_status pop_mark(dpi_unpickler *up, dpi_pk ***items, size_t *n) {
    if (!up->mn) return dpi_pk_bad(up, "no MARK on the stack");
    size_t base = up->marks[--up->mn];
    *items = up->stack ? up->stack + base : NULL; /* a MARK before any push: no stack yet (NULL + 0 is UB) */
    *n = up->sn - base;
    up->sn = base;
    return DP_OK;
}

static dp_status need(dpi_unpickler *up, size_t n) {
    if (up->len - up->pos < n) return dpi_pk_bad(up, "truncated (needs %zu more bytes, %zu left)", n, up->len - up->pos);
    return DP_OK;
}

static dp_status container(dpi_unpickler *up, dpi_pk_kind kind, dpi_pk **items, size_t n) {
    dpi_pk *o;
    dp_status s = dpi_pk_new(up, kind, 0, &o);
    if (!s && n) s = grow(up, &o->u.c.v, &o->u.c.cap, n, sizeof *o->u.c.v);
    if (s) return s;
    if (n) memcpy(o->u.c.v, items, n * sizeof *items);
    o->u.c.n = n;
    return push(up, o);
}

/* Append n items (pairs for a dict) to the list or dict at the top of the stack. */
static dp_status extend(dpi_unpickler *up, dpi_pk **items, size_t n, dpi_pk_kind kind) {
    if (up->sn <= frame_base(up)) return dpi_pk_bad(up, "stack underflow");
    dpi_pk *o = up->stack[up->sn - 1];
    if (o->kind != kind) return dpi_pk_bad(up, "%s to something that is not a %s", kind == DPI_PK_LIST ? "APPEND" : "SETITEM",
                                    kind == DPI_PK_LIST ? "list" : "dict");
    if (kind == DPI_PK_DICT && n % 2) return dpi_pk_bad(up, "SETITEMS with an odd number of items");
    dp_status s = grow(up, &o->u.c.v, &o->u.c.cap, o->u.c.n + n, sizeof *o->u.c.v);
    if (s) return s;
    if (n) memcpy(o->u.c.v + o->u.c.n, items, n * sizeof *items);
    o->u.c.n += n;
    return DP_OK;
}

static dp_status string(dpi_unpickler *up, dpi_pk_kind kind, size_t n) {
    dpi_pk *o;
    dp_status s = need(up, n);
    if (!s) s = dpi_pk_new(up, kind, 0, &o);
    if (s) return s;
    o->u.s.p = up->buf + up->pos;
    o->u.s.n = n;
    up->pos += n;
    return push(up, o);
}

static dp_status integer(dpi_unpickler *up, int64_t v) {
    dpi_pk *o;
    dp_status s = dpi_pk_new(up, DPI_PK_INT, 0, &o);
    if (s) return s;
    o->u.i = v;
    return push(up, o);
}

static dp_status global(dpi_unpickler *up, const char *module, const char *name) {
    for (int g = 0; g < DPI_G_COUNT; g++) {
        /* NumPy 2 moved numpy.core to numpy._core; Python 2 called builtins __builtin__. */
        int same_module = strcmp(module, globals[g].module) == 0 ||
                          (g == DPI_G_NP_RECONSTRUCT && strcmp(module, "numpy._core.multiarray") == 0) ||
                          (g == DPI_G_SET && strcmp(module, "__builtin__") == 0);
        if (!same_module || strcmp(name, globals[g].name) != 0 || !(up->allowed & 1u << g)) continue;
        dpi_pk *o;
        dp_status s = dpi_pk_new(up, DPI_PK_GLOBAL, 0, &o);
        if (s) return s;
        o->u.g = (dpi_pk_global)g;
        return push(up, o);
    }
    if (up->allowed & DPI_PK_MODULES) {
        size_t ml = strlen(module), nl = strlen(name);
        dpi_pk *o;
        char *full = NULL;
        dp_status s = dpi_pk_charge(up, ml + nl + 2);
        if (!s) s = dpi_pk_new(up, DPI_PK_CLASS, 0, &o);
        if (!s && !(full = malloc(ml + nl + 2))) s = dpi_error(DP_ERR_NOMEM, "%s: out of memory unpickling", up->name);
        if (s) return s;
        snprintf(full, ml + nl + 2, "%s.%s", module, name);
        o->u.s.p = (const uint8_t *)full;
        o->u.s.n = ml + nl + 1;
        o->owned = 1;
        return push(up, o);
    }
    return dpi_pk_refuse(up, module, name);
}

dp_status dpi_pk_refuse(dpi_unpickler *up, const char *module, const char *name) {
    return dpi_pk_bad(up, "global %s%s%s is not allowed (%s; nothing in a pickle is imported or run)", module,
                      *name ? "." : "", name,
                      up->allowed & 1u << DPI_G_REBUILD_TENSOR_V2
                          ? "only the globals of torch.save(model.state_dict()) or of a pickled model's data are "
                            "read; save model.state_dict()"
                          : "only the globals of pickled NumPy arrays are read");
}

/* GLOBAL: "module\nname\n" as text. */
static dp_status text_global(dpi_unpickler *up) {
    char part[2][MAX_GLOBAL_NAME];
    for (int k = 0; k < 2; k++) {
        const uint8_t *nl = memchr(up->buf + up->pos, '\n', up->len - up->pos);
        size_t n = nl ? (size_t)(nl - (up->buf + up->pos)) : up->len - up->pos;
        if (!nl || n >= MAX_GLOBAL_NAME) return dpi_pk_bad(up, "GLOBAL without a short newline-terminated name");
        memcpy(part[k], up->buf + up->pos, n);
        part[k][n] = '\0';
        up->pos += n + 1;
    }
    return global(up, part[0], part[1]);
}

static dp_status stack_global(dpi_unpickler *up) {
    dpi_pk *name, *module;
    dp_status s = pop(up, &name);
    if (!s) s = pop(up, &module);
    if (s) return s;
    if (name->kind != DPI_PK_STR || module->kind != DPI_PK_STR || name->u.s.n >= MAX_GLOBAL_NAME ||
        module->u.s.n >= MAX_GLOBAL_NAME)
        return dpi_pk_bad(up, "STACK_GLOBAL without two short strings");
    char m[MAX_GLOBAL_NAME], n[MAX_GLOBAL_NAME];
    snprintf(m, sizeof m, "%.*s", (int)module->u.s.n, (const char *)module->u.s.p);
    snprintf(n, sizeof n, "%.*s", (int)name->u.s.n, (const char *)name->u.s.p);
    return global(up, m, n);
}

static dp_status memo_put(dpi_unpickler *up, size_t idx) {
    if (up->sn <= frame_base(up)) return dpi_pk_bad(up, "memo PUT with an empty stack");
    if (idx > up->memo_n + MEMO_SLACK) return dpi_pk_bad(up, "memo index %zu far beyond the %zu entries so far", idx, up->memo_n);
    size_t old = up->memo_cap;
    dp_status s = grow(up, &up->memo, &up->memo_cap, idx + 1, sizeof *up->memo);
    if (s) return s;
    if (up->memo_cap > old) memset(up->memo + old, 0, (up->memo_cap - old) * sizeof *up->memo);
    up->memo[idx] = up->stack[up->sn - 1];
    if (idx >= up->memo_n) up->memo_n = idx + 1;
    return DP_OK;
}

static dp_status memo_get(dpi_unpickler *up, size_t idx) {
    if (idx >= up->memo_n || !up->memo[idx]) return dpi_pk_bad(up, "memo GET of index %zu that was never PUT", idx);
    return push(up, up->memo[idx]);
}

static dp_status run(dpi_unpickler *up, const dpi_pk **out) {
    dp_status s = DP_OK;
    dpi_pk *a, *b, *o, **items = NULL;
    size_t n = 0;
    while (s == DP_OK) {
        up->op = up->pos;
        if ((s = need(up, 1))) return s;
        uint8_t op = up->buf[up->pos++];
        const uint8_t *p = up->buf + up->pos;
        switch (op) {
        case 0x80: /* PROTO */
            if (!(s = need(up, 1)) && (p[0] < 2 || p[0] > 4)) s = dpi_pk_bad(up, "pickle protocol %u (2 to 4 are read)", p[0]);
            up->pos += 1;
            break;
        case 0x95: /* FRAME: a length hint of protocol 4, the opcodes follow as usual */
            if (!(s = need(up, 8))) up->pos += 8;
            break;
        case '.': /* STOP */
            if ((s = pop(up, &o))) return s;
            *out = o;
            return DP_OK;
        case '(': s = grow(up, &up->marks, &up->mcap, up->mn + 1, sizeof *up->marks); if (!s) up->marks[up->mn++] = up->sn; break;
        case '0': s = pop(up, &o); break;
        case '1': s = pop_mark(up, &items, &n); break;
        case '2': if (!(s = pop(up, &o)) && !(s = push(up, o))) s = push(up, o); break;
        case 'N': s = push(up, &pk_none); break;
        case 0x88: s = push(up, &pk_true); break;
        case 0x89: s = push(up, &pk_false); break;
        case 'K': if (!(s = need(up, 1))) { up->pos += 1; s = integer(up, p[0]); } break;
        case 'M': if (!(s = need(up, 2))) { up->pos += 2; s = integer(up, dpi_le16(p)); } break;
        case 'J': if (!(s = need(up, 4))) { up->pos += 4; s = integer(up, (int32_t)dpi_le32(p)); } break;
        case 0x8a: /* LONG1: n-byte little-endian two's complement */
            if ((s = need(up, 1))) break;
            n = p[0];
            if (n > 8) { s = dpi_pk_bad(up, "integer of %zu bytes (at most 8 are read)", n); break; }
            if ((s = need(up, 1 + n))) break;
            {
                uint64_t v = 0;
                for (size_t k = 0; k < n; k++) v |= (uint64_t)p[1 + k] << 8 * k;
                if (n && n < 8 && (p[n] & 0x80)) v |= ~0ull << 8 * n; /* sign-extend */
                up->pos += 1 + n;
                s = integer(up, (int64_t)v);
            }
            break;
        case 'G': /* BINFLOAT: big-endian double */
            if ((s = need(up, 8)) || (s = dpi_pk_new(up, DPI_PK_FLOAT, 0, &o))) break;
            {
                uint64_t v = 0;
                for (int k = 0; k < 8; k++) v = v << 8 | p[k];
                memcpy(&o->u.f, &v, sizeof v);
            }
            up->pos += 8;
            s = push(up, o);
            break;
        case 'U': case 'C': if (!(s = need(up, 1))) { up->pos += 1; s = string(up, DPI_PK_BYTES, p[0]); } break;
        case 0x8c: if (!(s = need(up, 1))) { up->pos += 1; s = string(up, DPI_PK_STR, p[0]); } break;
        case 'T': case 'B': if (!(s = need(up, 4))) { up->pos += 4; s = string(up, DPI_PK_BYTES, dpi_le32(p)); } break;
        case 'X': if (!(s = need(up, 4))) { up->pos += 4; s = string(up, DPI_PK_STR, dpi_le32(p)); } break;
        case 0x8d: case 0x8e: /* BINUNICODE8, BINBYTES8 */
            if ((s = need(up, 8))) break;
            if (dpi_le64(p) > up->len) { s = dpi_pk_bad(up, "string of %llu bytes in a pickle of %zu", (unsigned long long)dpi_le64(p), up->len); break; }
            up->pos += 8;
            s = string(up, op == 0x8d ? DPI_PK_STR : DPI_PK_BYTES, (size_t)dpi_le64(p));
            break;
        case ')': s = container(up, DPI_PK_TUPLE, NULL, 0); break;
        case ']': s = container(up, DPI_PK_LIST, NULL, 0); break;
        case '}': s = container(up, DPI_PK_DICT, NULL, 0); break;
        case 't': case 'l': case 'd':
            if ((s = pop_mark(up, &items, &n))) break;
            if (op == 'd' && n % 2) { s = dpi_pk_bad(up, "DICT with an odd number of items"); break; }
            s = container(up, op == 't' ? DPI_PK_TUPLE : op == 'l' ? DPI_PK_LIST : DPI_PK_DICT, items, n);
            break;
        case 0x85: case 0x86: case 0x87: /* TUPLE1..3 */
            n = (size_t)(op - 0x84);
            if (up->sn < frame_base(up) + n) { s = dpi_pk_bad(up, "stack underflow"); break; }
            up->sn -= n;
            s = container(up, DPI_PK_TUPLE, up->stack + up->sn, n);
            break;
        case 'a': if (!(s = pop(up, &o))) s = extend(up, &o, 1, DPI_PK_LIST); break;
        case 'e': if (!(s = pop_mark(up, &items, &n))) s = extend(up, items, n, DPI_PK_LIST); break;
        case 's':
            if ((s = pop(up, &b)) || (s = pop(up, &a))) break;
            {
                dpi_pk *kv[2] = {a, b};
                s = extend(up, kv, 2, DPI_PK_DICT);
            }
            break;
        case 'u': if (!(s = pop_mark(up, &items, &n))) s = extend(up, items, n, DPI_PK_DICT); break;
        case 'c': s = text_global(up); break;
        case 0x93: s = stack_global(up); break;
        case 'R':
            if ((s = pop(up, &b)) || (s = pop(up, &a)) || (s = dpi_pk_reduce(up, a, b, &o))) break;
            s = push(up, o);
            break;
        case 'b':
            if ((s = pop(up, &b))) break;
            if (up->sn <= frame_base(up)) { s = dpi_pk_bad(up, "BUILD with an empty stack"); break; }
            s = dpi_pk_build(up, up->stack[up->sn - 1], b);
            break;
        case 0x81: /* NEWOBJ: cls.__new__(cls, *args), here an empty object of that class name */
            if ((s = pop(up, &b)) || (s = pop(up, &a)) || (s = dpi_pk_newobj(up, a, b, &o))) break;
            s = push(up, o);
            break;
        case 'Q':
            if ((s = pop(up, &a)) || (s = dpi_pk_persistent(up, a, &o))) break;
            s = push(up, o);
            break;
        case 'q': if (!(s = need(up, 1))) { up->pos += 1; s = memo_put(up, p[0]); } break;
        case 'r': if (!(s = need(up, 4))) { up->pos += 4; s = memo_put(up, dpi_le32(p)); } break;
        case 0x94: s = memo_put(up, up->memo_n); break;
        case 'h': if (!(s = need(up, 1))) { up->pos += 1; s = memo_get(up, p[0]); } break;
        case 'j': if (!(s = need(up, 4))) { up->pos += 4; s = memo_get(up, dpi_le32(p)); } break;
        default:
            s = dpi_pk_bad(up, "opcode 0x%02x%s%c%s is not allowed (only the opcodes plain data needs are read)", op,
                    op >= 0x20 && op < 0x7f ? " ('" : "", op >= 0x20 && op < 0x7f ? op : ' ',
                    op >= 0x20 && op < 0x7f ? "')" : "");
        }
    }
    return s;
}

dp_status dpi_unpickle(const char *name, const uint8_t *buf, size_t len, unsigned allowed, dpi_unpickler **out_up,
                       const dpi_pk **out) {
    *out_up = NULL;
    dpi_unpickler *up = calloc(1, sizeof *up);
    if (!up) return dpi_error(DP_ERR_NOMEM, "%s: out of memory", name);
    up->name = name;
    up->buf = buf;
    up->len = len;
    up->allowed = allowed;
    up->budget = len <= (SIZE_MAX - BUDGET_BASE) / BUDGET_PER_BYTE ? len * BUDGET_PER_BYTE + BUDGET_BASE : SIZE_MAX;
    dp_status s = run(up, out);
    if (s) {
        dpi_unpickler_free(up);
        return s;
    }
    *out_up = up;
    return DP_OK;
}

void dpi_unpickler_free(dpi_unpickler *up) {
    if (!up) return;
    for (size_t i = 0; i < up->on; i++) {
        dpi_pk *o = up->objs[i];
        switch (o->kind) {
        case DPI_PK_TUPLE: case DPI_PK_LIST: case DPI_PK_DICT: free(o->u.c.v); break;
        case DPI_PK_STORAGE: case DPI_PK_TENSOR: case DPI_PK_DTYPE: case DPI_PK_NDARRAY: case DPI_PK_OBJECT:
            free(o->u.tensor);
            break;
        default:
            if (o->owned) free((void *)o->u.s.p);
        }
        free(o);
    }
    free(up->objs);
    free(up->stack);
    free(up->memo);
    free(up->marks);
    free(up);
}

const dpi_pk *dpi_pk_dict_get(const dpi_pk *dict, const char *key) {
    if (!dict || dict->kind != DPI_PK_DICT) return NULL;
    size_t kl = strlen(key);
    for (size_t i = 0; i + 1 < dict->u.c.n; i += 2) {
        const dpi_pk *k = dict->u.c.v[i];
        if ((k->kind == DPI_PK_STR || k->kind == DPI_PK_BYTES) && k->u.s.n == kl && memcmp(k->u.s.p, key, kl) == 0)
            return dict->u.c.v[i + 1];
    }
    return NULL;
}
