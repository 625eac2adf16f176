/* In-memory pickles for tests, written opcode by opcode: a torch.save(state_dict) archive and a
 * CIFAR-10 python batch the way Python 2's cPickle wrote it (protocol 2, str as U/T strings). */
#ifndef DP_TESTS_IO_PICKLE_FIXTURES_H
#define DP_TESTS_IO_PICKLE_FIXTURES_H

#include "io/fixtures.h"

static inline void pk_op(fx_buf *b, int op) {
    uint8_t c = (uint8_t)op;
    fx_put(b, &c, 1);
}
static inline void pk_unicode(fx_buf *b, const char *s) { /* BINUNICODE */
    pk_op(b, 'X');
    fx_u32(b, (uint32_t)strlen(s));
    fx_put(b, s, strlen(s));
}
static inline void pk_short_str(fx_buf *b, const char *s) { /* Python 2 str: SHORT_BINSTRING */
    pk_op(b, 'U');
    pk_op(b, (int)strlen(s));
    fx_put(b, s, strlen(s));
}
static inline void pk_int(fx_buf *b, int32_t v) { /* BININT */
    pk_op(b, 'J');
    fx_u32(b, (uint32_t)v);
}
static inline void pk_global(fx_buf *b, const char *module, const char *name) {
    pk_op(b, 'c');
    fx_put(b, module, strlen(module));
    pk_op(b, '\n');
    fx_put(b, name, strlen(name));
    pk_op(b, '\n');
}
static inline void pk_int_tuple(fx_buf *b, int n, const int64_t *v) {
    pk_op(b, '(');
    for (int i = 0; i < n; i++) pk_int(b, (int32_t)v[i]);
    pk_op(b, 't');
}

/* One state_dict entry as torch writes it: key, then _rebuild_tensor_v2((persistent storage
 * reference), offset, size, stride, False, OrderedDict()). Call between '(' and 'u'. */
static inline void pk_tensor(fx_buf *b, const char *key, const char *storage_type, const char *skey, int64_t numel,
                             int64_t offset, int ndim, const int64_t *shape, const int64_t *stride) {
    pk_unicode(b, key);
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    pk_op(b, '(');
    pk_op(b, '(');
    pk_unicode(b, "storage");
    pk_global(b, "torch", storage_type);
    pk_unicode(b, skey);
    pk_unicode(b, "cpu");
    pk_int(b, (int32_t)numel);
    pk_op(b, 't');
    pk_op(b, 'Q');
    pk_int(b, (int32_t)offset);
    pk_int_tuple(b, ndim, shape);
    pk_int_tuple(b, ndim, stride);
    pk_op(b, 0x89);
    pk_global(b, "collections", "OrderedDict");
    pk_op(b, ')');
    pk_op(b, 'R');
    pk_op(b, 't');
    pk_op(b, 'R');
}

static inline void pk_ordered_dict_begin(fx_buf *b) {
    pk_op(b, 0x80);
    pk_op(b, 2);
    pk_global(b, "collections", "OrderedDict");
    pk_op(b, ')');
    pk_op(b, 'R');
    pk_op(b, '(');
}
static inline void pk_ordered_dict_end(fx_buf *b) {
    pk_op(b, 'u');
    pk_op(b, '.');
}

/* A CIFAR-10 python batch of n samples: {'batch_label': ..., 'labels': [...], 'data': uint8 [n,3072]}
 * as numpy.core.multiarray._reconstruct + BUILD, the pixel bytes in one BINSTRING. */
static inline fx_buf pk_cifar_batch(int n, const uint8_t *labels, const uint8_t *pixels) {
    fx_buf b = {0};
    pk_op(&b, 0x80);
    pk_op(&b, 2);
    pk_op(&b, '}');
    pk_op(&b, 'q');
    pk_op(&b, 1);
    pk_op(&b, '(');
    pk_short_str(&b, "batch_label");
    pk_short_str(&b, "testing batch 1 of 1");
    pk_short_str(&b, "labels");
    pk_op(&b, ']');
    pk_op(&b, '(');
    for (int i = 0; i < n; i++) {
        pk_op(&b, 'K');
        pk_op(&b, labels[i]);
    }
    pk_op(&b, 'e');
    pk_short_str(&b, "data");
    pk_global(&b, "numpy.core.multiarray", "_reconstruct");
    pk_global(&b, "numpy", "ndarray");
    pk_op(&b, 'q');
    pk_op(&b, 2);
    pk_op(&b, 'K');
    pk_op(&b, 0);
    pk_op(&b, 0x85);
    pk_short_str(&b, "b");
    pk_op(&b, 0x87);
    pk_op(&b, 'R');
    pk_op(&b, '(');
    pk_op(&b, 'K');
    pk_op(&b, 1);
    pk_int_tuple(&b, 2, (int64_t[]){n, 3072});
    pk_global(&b, "numpy", "dtype");
    pk_short_str(&b, "u1");
    pk_op(&b, 'K');
    pk_op(&b, 0);
    pk_op(&b, 'K');
    pk_op(&b, 1);
    pk_op(&b, 0x87);
    pk_op(&b, 'R');
    pk_op(&b, '(');
    pk_op(&b, 'K');
    pk_op(&b, 3);
    pk_short_str(&b, "|");
    pk_op(&b, 'N');
    pk_op(&b, 'N');
    pk_op(&b, 'N');
    pk_int(&b, -1);
    pk_int(&b, -1);
    pk_op(&b, 'K');
    pk_op(&b, 0);
    pk_op(&b, 't');
    pk_op(&b, 'b');
    pk_op(&b, 0x89);
    pk_op(&b, 'T');
    fx_u32(&b, (uint32_t)n * 3072u);
    fx_put(&b, pixels, (size_t)n * 3072u);
    pk_op(&b, 't');
    pk_op(&b, 'b');
    pk_op(&b, 'u');
    pk_op(&b, '.');
    return b;
}

#endif
