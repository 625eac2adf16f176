/* What the restricted unpickler's allowed globals build (libdp/io/pickle.h): each is reproduced
 * from its documented arguments, checked, and never called. torch's tensors stay references to
 * storages (the archive member is read later, by pth.c); NumPy arrays point at their bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle_impl.h"

static const char *const kind_names[] = {"None",    "bool",   "int",    "float", "bytes",   "str",
                                         "tuple",   "list",   "dict",   "global", "storage", "tensor",
                                         "dtype",   "ndarray", "class", "object"};

static int as_int(const dpi_pk *o, int64_t *v) {
    if (o->kind != DPI_PK_INT && o->kind != DPI_PK_BOOL) return 0;
    *v = o->u.i;
    return 1;
}

static int is_text(const dpi_pk *o, const char *s) {
    return (o->kind == DPI_PK_STR || o->kind == DPI_PK_BYTES) && o->u.s.n == strlen(s) && memcmp(o->u.s.p, s, o->u.s.n) == 0;
}

/* A tuple of at most DPI_PK_MAX_DIMS non-negative ints into dims; its length, or -1. */
static int int_tuple(const dpi_pk *t, int64_t *dims) {
    if (t->kind != DPI_PK_TUPLE || t->u.c.n > DPI_PK_MAX_DIMS) return -1;
    for (size_t d = 0; d < t->u.c.n; d++)
        if (!as_int(t->u.c.v[d], &dims[d]) || dims[d] < 0) return -1;
    return (int)t->u.c.n;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]).
 * The view must lie inside the storage and hold no more elements than it (a stride-0 broadcast
 * would let a few bytes claim any amount of memory). */
static dp_status rebuild_tensor(dpi_unpickler *up, dpi_pk **a, size_t n, dpi_pk **out) {
    int64_t shape[DPI_PK_MAX_DIMS], stride[DPI_PK_MAX_DIMS], offset;
    int nd, ns;
    if (n < 4 || a[0]->kind != DPI_PK_STORAGE || !as_int(a[1], &offset) || offset < 0 ||
        (nd = int_tuple(a[2], shape)) < 0 || (ns = int_tuple(a[3], stride)) != nd)
        return dpi_pk_bad(up, "_rebuild_tensor_v2 needs (storage, offset >= 0, size, stride) with at most %d "
                          "non-negative dimensions", DPI_PK_MAX_DIMS);
    int64_t numel = 1, last = offset, cap = a[0]->u.storage->numel;
    for (int d = 0; d < nd; d++) numel = shape[d] && numel > cap / shape[d] ? cap + 1 : numel * shape[d];
    if (numel > cap)
        return dpi_pk_bad(up, "tensor view of more elements than its storage (%lld) holds", (long long)cap);
    for (int d = 0; numel && d < nd; d++) {
        if (shape[d] > 1 && stride[d] > (cap - last) / (shape[d] - 1))
            return dpi_pk_bad(up, "tensor view (offset %lld, dimension %d: size %lld, stride %lld) runs past its "
                              "storage of %lld elements", (long long)offset, d, (long long)shape[d],
                              (long long)stride[d], (long long)cap);
        last += (shape[d] - 1) * stride[d];
    }
    if (numel && last >= cap)
        return dpi_pk_bad(up, "tensor view at offset %lld runs past its storage of %lld elements", (long long)offset,
                          (long long)cap);
    dp_status s = dpi_pk_new(up, DPI_PK_TENSOR, sizeof(dpi_pk_tensor), out);
    if (s) return s;
    dpi_pk_tensor *t = (*out)->u.tensor;
    t->storage = a[0];
    t->offset = offset;
    t->ndim = nd;
    memcpy(t->shape, shape, sizeof shape);
    memcpy(t->stride, stride, sizeof stride);
    return DP_OK;
}

/* _codecs.encode(text, "latin1"): how Python 3 writes bytes at protocol 2. Each UTF-8 code point
 * must fit in one byte; the result is never longer than the text. */
static dp_status latin1(dpi_unpickler *up, dpi_pk **a, size_t n, dpi_pk **out) {
    if (n != 2 || a[0]->kind != DPI_PK_STR || !(is_text(a[1], "latin1") || is_text(a[1], "latin-1")))
        return dpi_pk_bad(up, "_codecs.encode is read only as encode(str, 'latin1')");
    const uint8_t *p = a[0]->u.s.p;
    size_t len = a[0]->u.s.n, k = 0;
    dp_status s = dpi_pk_charge(up, len + 1);
    if (!s) s = dpi_pk_new(up, DPI_PK_BYTES, 0, out);
    if (s) return s;
    uint8_t *dst = malloc(len + 1);
    if (!dst) return dpi_error(DP_ERR_NOMEM, "%s: out of memory unpickling", up->name);
    (*out)->u.s.p = dst;
    (*out)->owned = 1;
    for (size_t i = 0; i < len; k++) {
        if (p[i] < 0x80) {
            dst[k] = p[i++];
        } else if ((p[i] & 0xe0) == 0xc0 && p[i] <= 0xc3 && i + 1 < len && (p[i + 1] & 0xc0) == 0x80) {
            dst[k] = (uint8_t)((p[i] & 0x03) << 6 | (p[i + 1] & 0x3f));
            i += 2;
        } else {
            return dpi_pk_bad(up, "_codecs.encode: text at byte %zu is not a latin-1 character in UTF-8", i);
        }
    }
    (*out)->u.s.n = k;
    return DP_OK;
}

dp_status dpi_pk_reduce(dpi_unpickler *up, dpi_pk *fn, dpi_pk *args, dpi_pk **out) {
    if (fn->kind == DPI_PK_CLASS) { /* calling an arbitrary global would run code */
        char name[160];
        snprintf(name, sizeof name, "%.*s", (int)fn->u.s.n, (const char *)fn->u.s.p);
        return dpi_pk_refuse(up, name, "");
    }
    if (fn->kind != DPI_PK_GLOBAL) return dpi_pk_bad(up, "REDUCE of a %s, not of an allowed global", kind_names[fn->kind]);
    if (args->kind != DPI_PK_TUPLE) return dpi_pk_bad(up, "REDUCE arguments are a %s, not a tuple", kind_names[args->kind]);
    dpi_pk **a = args->u.c.v;
    size_t n = args->u.c.n;
    switch (fn->u.g) {
    case DPI_G_ORDERED_DICT:
        if (n != 0) return dpi_pk_bad(up, "OrderedDict is read only when built empty");
        return dpi_pk_new(up, DPI_PK_DICT, 0, out);
    case DPI_G_REBUILD_TENSOR_V2: return rebuild_tensor(up, a, n, out);
    case DPI_G_REBUILD_PARAMETER:
        if (n < 1 || a[0]->kind != DPI_PK_TENSOR) return dpi_pk_bad(up, "_rebuild_parameter of something not a tensor");
        *out = a[0]; /* a Parameter's data is its tensor; requires_grad and hooks do not matter here */
        return DP_OK;
    case DPI_G_NP_RECONSTRUCT:
        if (n != 3 || a[0]->kind != DPI_PK_GLOBAL || a[0]->u.g != DPI_G_NP_NDARRAY)
            return dpi_pk_bad(up, "numpy _reconstruct is read only for numpy.ndarray");
        return dpi_pk_new(up, DPI_PK_NDARRAY, sizeof(dpi_pk_ndarray), out);
    case DPI_G_NP_DTYPE: {
        if (n < 1 || (a[0]->kind != DPI_PK_STR && a[0]->kind != DPI_PK_BYTES) || a[0]->u.s.n == 0 || a[0]->u.s.n > 5)
            return dpi_pk_bad(up, "numpy.dtype needs a short type string such as 'u1' or 'f4'");
        dp_status s = dpi_pk_new(up, DPI_PK_DTYPE, sizeof(dpi_pk_ndarray), out);
        if (s) return s;
        /* the byte order comes with BUILD; '=' (native) until then */
        snprintf((*out)->u.array->descr, sizeof (*out)->u.array->descr, "=%.*s", (int)a[0]->u.s.n,
                 (const char *)a[0]->u.s.p);
        return DP_OK;
    }
    case DPI_G_CODECS_ENCODE: return latin1(up, a, n, out);
    case DPI_G_SET: /* set(iterable) as the list of its items */
        if (n == 0) return dpi_pk_new(up, DPI_PK_LIST, 0, out);
        if (n != 1 || a[0]->kind != DPI_PK_LIST) return dpi_pk_bad(up, "set is read only from a list");
        *out = a[0];
        return DP_OK;
    default: return dpi_pk_bad(up, "this global is not callable (REDUCE)");
    }
}

/* Item size from a descr such as "<f4" or "|u1": kind letter then decimal digits. */
static int64_t descr_itemsize(const char *descr) {
    int64_t v = 0;
    const char *p = descr + 2;
    if (!descr[0] || !descr[1] || !*p) return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    return v > 0 ? v : -1;
}

/* ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata)); the version may be absent. */
static dp_status build_array(dpi_unpickler *up, dpi_pk_ndarray *arr, dpi_pk *state) {
    dpi_pk **a = state->u.c.v;
    size_t n = state->u.c.n;
    if (n == 5) a++, n--;
    int64_t fortran, itemsize, numel = 1;
    int nd;
    if (n != 4 || (nd = int_tuple(a[0], arr->shape)) < 0 || a[1]->kind != DPI_PK_DTYPE || !as_int(a[2], &fortran))
        return dpi_pk_bad(up, "ndarray state is not (shape, dtype, is_fortran, data) with at most %d dimensions",
                          DPI_PK_MAX_DIMS);
    memcpy(arr->descr, a[1]->u.array->descr, sizeof arr->descr);
    if ((itemsize = descr_itemsize(arr->descr)) < 0 || arr->descr[1] == 'O')
        return dpi_pk_bad(up, "ndarray of dtype %s is not read (only numbers)", arr->descr);
    if (a[3]->kind != DPI_PK_BYTES) return dpi_pk_bad(up, "ndarray data is a %s, not bytes", kind_names[a[3]->kind]);
    for (int d = 0; d < nd; d++)
        numel = arr->shape[d] && numel > INT64_MAX / itemsize / arr->shape[d] ? -1 : numel * arr->shape[d];
    if (numel < 0 || (uint64_t)(numel * itemsize) != a[3]->u.s.n)
        return dpi_pk_bad(up, "ndarray data of %zu bytes does not match its shape and dtype %s", a[3]->u.s.n,
                          arr->descr);
    arr->ndim = nd;
    arr->fortran = fortran != 0;
    arr->data = a[3]->u.s.p;
    arr->len = a[3]->u.s.n;
    return DP_OK;
}

dp_status dpi_pk_build(dpi_unpickler *up, dpi_pk *obj, dpi_pk *state) {
    switch (obj->kind) {
    case DPI_PK_DICT: /* an OrderedDict's attributes (torch's _metadata): not needed */
        if (state->kind != DPI_PK_DICT && state->kind != DPI_PK_NONE)
            return dpi_pk_bad(up, "BUILD of a dict with a %s state", kind_names[state->kind]);
        return DP_OK;
    case DPI_PK_DTYPE: { /* dtype.__setstate__((version, byteorder, ...)) */
        char *descr = obj->u.array->descr;
        const dpi_pk *order = state->kind == DPI_PK_TUPLE && state->u.c.n >= 2 ? state->u.c.v[1] : NULL;
        if (!order || (order->kind != DPI_PK_STR && order->kind != DPI_PK_BYTES) || order->u.s.n != 1 ||
            !order->u.s.p[0] || !strchr("<>|=", order->u.s.p[0]))
            return dpi_pk_bad(up, "numpy.dtype state without a byte order");
        descr[0] = (char)order->u.s.p[0];
        if (descr[0] == '=') descr[0] = '<'; /* native: the writers this reads were little-endian */
        return DP_OK;
    }
    case DPI_PK_OBJECT: /* instance attributes as data; a class with __setstate__ would run code */
        if (state->kind != DPI_PK_DICT || obj->u.object->state)
            return dpi_pk_bad(up, "BUILD of a pickled object with a %s state", kind_names[state->kind]);
        obj->u.object->state = state;
        return DP_OK;
    case DPI_PK_NDARRAY:
        if (state->kind != DPI_PK_TUPLE) return dpi_pk_bad(up, "ndarray state is a %s, not a tuple", kind_names[state->kind]);
        return build_array(up, obj->u.array, state);
    default: return dpi_pk_bad(up, "BUILD of a %s is not allowed", kind_names[obj->kind]);
    }
}

dp_status dpi_pk_persistent(dpi_unpickler *up, dpi_pk *pid, dpi_pk **out) {
    if (!(up->allowed & 1u << DPI_G_STORAGE_F32))
        return dpi_pk_bad(up, "persistent id (BINPERSID) outside a torch.save archive");
    dpi_pk **a = pid->u.c.v;
    int64_t numel;
    if (pid->kind != DPI_PK_TUPLE || pid->u.c.n != 5 || !is_text(a[0], "storage") || a[1]->kind != DPI_PK_GLOBAL ||
        dpi_pk_storage_itemsize(a[1]->u.g) == 0 || a[2]->kind != DPI_PK_STR || a[2]->u.s.n == 0 ||
        a[2]->u.s.n >= sizeof((dpi_pk_storage *)0)->key || !as_int(a[4], &numel) || numel < 0)
        return dpi_pk_bad(up, "persistent id is not ('storage', torch.<T>Storage, key, location, numel)");
    for (size_t i = 0; i < a[2]->u.s.n; i++)
        if (!strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_", a[2]->u.s.p[i]) || !a[2]->u.s.p[i])
            return dpi_pk_bad(up, "storage key is not a plain name");
    dp_status s = dpi_pk_new(up, DPI_PK_STORAGE, sizeof(dpi_pk_storage), out);
    if (s) return s;
    dpi_pk_storage *st = (*out)->u.storage;
    st->type = a[1]->u.g;
    memcpy(st->key, a[2]->u.s.p, a[2]->u.s.n);
    st->numel = numel;
    return DP_OK;
}

dp_status dpi_pk_newobj(dpi_unpickler *up, dpi_pk *cls, dpi_pk *args, dpi_pk **out) {
    if (cls->kind != DPI_PK_CLASS || args->kind != DPI_PK_TUPLE)
        return dpi_pk_bad(up, "NEWOBJ of a %s, not of a class", kind_names[cls->kind]);
    dp_status s = dpi_pk_new(up, DPI_PK_OBJECT, sizeof(dpi_pk_object), out);
    if (!s) (*out)->u.object->cls = cls;
    return s;
}
