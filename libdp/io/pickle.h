/*
 * A restricted unpickler: it reads the pickles that torch.save writes for a state_dict and that
 * NumPy/Python write for the CIFAR-10 python batches, and nothing else. It builds plain values
 * (numbers, strings, tuples, lists, dicts) and a few known objects (storages, tensors, arrays);
 * it imports and calls nothing. Each GLOBAL must be on a fixed list of data-only constructors
 * whose effect is reproduced here (or, for a pickled model, is a class name used only by NEWOBJ:
 * DPI_PK_MODULES); any other global or opcode is DP_ERR_FORMAT naming it.
 * The machine is iterative (deep nesting needs no C stack) and every length, count and memo index
 * is checked against the input, so memory stays proportional to the pickle's size.
 */
#ifndef DP_IO_PICKLE_H
#define DP_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "dataparallel/core.h"

#define DPI_PK_MAX_DIMS 8

typedef enum dpi_pk_kind {
    DPI_PK_NONE, DPI_PK_BOOL, DPI_PK_INT, DPI_PK_FLOAT,
    DPI_PK_BYTES,   /* Python 2 str / Python 3 bytes */
    DPI_PK_STR,     /* unicode, UTF-8 */
    DPI_PK_TUPLE, DPI_PK_LIST,
    DPI_PK_DICT,    /* dict or collections.OrderedDict: keys and values alternate in items */
    DPI_PK_GLOBAL,  /* one of the allowed globals, not yet called */
    DPI_PK_STORAGE, /* torch: a persistent-id storage reference */
    DPI_PK_TENSOR,  /* torch: _rebuild_tensor_v2 (a view of a storage) */
    DPI_PK_DTYPE,   /* numpy.dtype */
    DPI_PK_NDARRAY, /* numpy.ndarray from _reconstruct + BUILD */
    DPI_PK_CLASS,   /* with DPI_PK_MODULES: any other global, kept as its name "module.name" in s */
    DPI_PK_OBJECT,  /* NEWOBJ of a CLASS (cls.__new__ is not run) with the state BUILD gave it */
} dpi_pk_kind;

/* The globals a pickle may name; which of them are allowed is chosen per caller. */
typedef enum dpi_pk_global {
    DPI_G_ORDERED_DICT, DPI_G_REBUILD_TENSOR_V2, DPI_G_REBUILD_PARAMETER,
    DPI_G_STORAGE_F32, DPI_G_STORAGE_F64, DPI_G_STORAGE_F16, DPI_G_STORAGE_BF16,
    DPI_G_STORAGE_I64, DPI_G_STORAGE_I32, DPI_G_STORAGE_I16, DPI_G_STORAGE_I8, DPI_G_STORAGE_U8,
    DPI_G_STORAGE_BOOL,
    DPI_G_SET,      /* builtins.set(list): a pickled module's _non_persistent_buffers_set */
    DPI_G_NP_RECONSTRUCT, DPI_G_NP_NDARRAY, DPI_G_NP_DTYPE, DPI_G_CODECS_ENCODE,
    DPI_G_COUNT
} dpi_pk_global;
#define DPI_PK_TORCH ((1u << DPI_G_NP_RECONSTRUCT) - 1u)
/* A whole torch.save(model): other globals are taken as class names, never imported. An object
 * is made of one only by NEWOBJ (no constructor runs: the state comes from BUILD as data);
 * calling one (REDUCE) is refused, naming it. */
#define DPI_PK_MODULES (1u << 31)
#define DPI_PK_NUMPY ((1u << DPI_G_NP_RECONSTRUCT) | (1u << DPI_G_NP_NDARRAY) | (1u << DPI_G_NP_DTYPE) | \
                      (1u << DPI_G_CODECS_ENCODE))

typedef struct dpi_pk dpi_pk;
struct dpi_pk_object;

typedef struct dpi_pk_tensor {
    const dpi_pk *storage;      /* a DPI_PK_STORAGE */
    int64_t offset;             /* in elements */
    int ndim;
    int64_t shape[DPI_PK_MAX_DIMS], stride[DPI_PK_MAX_DIMS];
} dpi_pk_tensor;

typedef struct dpi_pk_storage {
    dpi_pk_global type;         /* DPI_G_STORAGE_* */
    char key[32];               /* the archive member data/<key> */
    int64_t numel;
} dpi_pk_storage;

typedef struct dpi_pk_object {
    const dpi_pk *cls;          /* a DPI_PK_CLASS */
    const dpi_pk *state;        /* a DICT (the instance's __dict__), or NULL before BUILD */
} dpi_pk_object;

typedef struct dpi_pk_ndarray {
    char descr[8];              /* "<f4", "|u1": byte order + kind + item size */
    int ndim, fortran;
    int64_t shape[DPI_PK_MAX_DIMS];
    const uint8_t *data;        /* raw bytes (into the pickle or the machine's memory) */
    size_t len;
} dpi_pk_ndarray;

struct dpi_pk {
    dpi_pk_kind kind;
    uint8_t owned;              /* s.p is the machine's (freed with it) */
    union {
        int64_t i;              /* BOOL, INT */
        double f;
        struct { const uint8_t *p; size_t n; } s;    /* BYTES, STR */
        struct { dpi_pk **v; size_t n, cap; } c;     /* TUPLE, LIST, DICT (2n items) */
        dpi_pk_global g;
        dpi_pk_storage *storage;
        dpi_pk_tensor *tensor;
        dpi_pk_ndarray *array;  /* NDARRAY; DTYPE keeps its descr here too */
        struct dpi_pk_object *object;
    } u;
};

typedef struct dpi_unpickler dpi_unpickler;

/* Run the pickle in buf (len bytes; buf must outlive the result) allowing the globals in the
 * mask `allowed` (bits of dpi_pk_global). name is for messages. On success *out is the value
 * STOP returned, owned by *up: dpi_unpickler_free() frees it all. */
dp_status dpi_unpickle(const char *name, const uint8_t *buf, size_t len, unsigned allowed, dpi_unpickler **up,
                       const dpi_pk **out);
void dpi_unpickler_free(dpi_unpickler *up);

/* The value under key (a str or bytes key equal to it) in a DICT, or NULL. */
const dpi_pk *dpi_pk_dict_get(const dpi_pk *dict, const char *key);
/* Item size in bytes of a storage type (DPI_G_STORAGE_*), and its name for messages. */
int dpi_pk_storage_itemsize(dpi_pk_global g);
const char *dpi_pk_storage_dtype(dpi_pk_global g);

#endif
