/* PyTorch's own files: torch.save(model.state_dict(), f) in the zip format of PyTorch >= 1.6.
 * The archive holds <prefix>/data.pkl (the pickled dict, read by the restricted unpickler of
 * pickle.c) and <prefix>/data/<key> (each storage's raw little-endian bytes). A tensor is a view
 * of a storage (offset, size, stride); views are copied out element by element into contiguous
 * float32, so transposed, sliced and shared storages all load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "formats.h"
#include "pickle.h"
#include "util/util.h"
#include "zip.h"

#define DPI_PREFIX_MAX 256    /* a state_dict key's module path ("layer4.1.bn2.") */
#define DPI_MAX_MODULES 100000 /* densenet121 has about 430 */

static const dpi_zip_member *find_pickle(const dpi_zip *z) {
    for (size_t i = 0; i < z->n; i++) {
        const char *slash = strchr(z->m[i].name, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) return &z->m[i];
    }
    return NULL;
}

int dpi_pth_sniff(const uint8_t *buf, size_t len) {
    dpi_zip z;
    if (dpi_zip_open("", buf, len, &z)) return 0; /* not a readable zip: the .npz reader says why */
    int found = find_pickle(&z) != NULL;
    dpi_zip_close(&z);
    return found;
}

/* The member <prefix>/<rest>, where prefix is data.pkl's directory. */
static const dpi_zip_member *sibling(const dpi_zip *z, const dpi_zip_member *pkl, const char *rest) {
    char name[sizeof pkl->name + 64];
    snprintf(name, sizeof name, "%.*s/%s", (int)(strchr(pkl->name, '/') - pkl->name), pkl->name, rest);
    return dpi_zip_find(z, name);
}

static int f32_convertible(dpi_pk_global g, dpi_dtype *dt) {
    switch (g) {
    case DPI_G_STORAGE_F32: *dt = DPI_DT_F32; return 1;
    case DPI_G_STORAGE_F64: *dt = DPI_DT_F64; return 1;
    case DPI_G_STORAGE_F16: *dt = DPI_DT_F16; return 1;
    case DPI_G_STORAGE_BF16: *dt = DPI_DT_BF16; return 1;
    default: return 0;
    }
}

/* Copy the strided view t of the storage bytes src into contiguous float32. */
static void gather(const dpi_pk_tensor *t, dpi_dtype dt, int itemsize, const uint8_t *src, int64_t numel, float *dst) {
    int64_t idx[DPI_PK_MAX_DIMS] = {0}, off = t->offset, dense = 1;
    int contiguous = 1;
    for (int d = t->ndim - 1; d >= 0; d--) { /* the usual case, converted in one pass */
        contiguous &= t->shape[d] == 1 || t->stride[d] == dense;
        dense *= t->shape[d];
    }
    if (contiguous) {
        dpi_convert_to_f32(dt, src + (size_t)off * (size_t)itemsize, (size_t)numel, dst);
        return;
    }
    for (int64_t i = 0; i < numel; i++) {
        dpi_convert_to_f32(dt, src + (size_t)off * (size_t)itemsize, 1, dst + i);
        for (int d = t->ndim - 1; d >= 0; d--) { /* odometer: last dimension fastest, as C order */
            off += t->stride[d];
            if (++idx[d] < t->shape[d]) break;
            off -= t->stride[d] * t->shape[d];
            idx[d] = 0;
        }
    }
}

static dp_status add_tensor(const dpi_zip *z, const dpi_zip_member *pkl, const char *key, const dpi_pk_tensor *t,
                            dpi_weights *w) {
    const dpi_pk_storage *st = t->storage->u.storage;
    int itemsize = dpi_pk_storage_itemsize(st->type);
    int64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) numel *= t->shape[d]; /* bounded by the storage: pickle_objects.c */
    dpi_dtype dt;
    if (!f32_convertible(st->type, &dt)) return dpi_weights_add_unconvertible(w, key, t->ndim, t->shape, dpi_pk_storage_dtype(st->type));
    char rest[48];
    snprintf(rest, sizeof rest, "data/%s", st->key);
    const dpi_zip_member *m = sibling(z, pkl, rest);
    if (!m)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: its storage %s is missing from the archive", z->path, key, rest);
    if ((uint64_t)st->numel > m->usize / (uint64_t)itemsize || m->usize != (uint64_t)st->numel * (uint64_t)itemsize)
        return dpi_error(DP_ERR_FORMAT, "%s: tensor %s: storage %s has %llu bytes, expected %lld %s values", z->path,
                         key, m->name, (unsigned long long)m->usize, (long long)st->numel, dpi_pk_storage_dtype(st->type));
    const uint8_t *src;
    uint8_t *owned;
    dp_status s = dpi_zip_member_data(z, m, &src, &owned);
    if (s) return s;
    float *data = malloc((size_t)(numel ? numel : 1) * sizeof *data);
    if (!data) {
        free(owned);
        return dpi_error(DP_ERR_NOMEM, "%s: out of memory for tensor %s", z->path, key);
    }
    gather(t, dt, itemsize, src, numel, data);
    free(owned);
    return dpi_weights_add(w, key, t->ndim, t->shape, data);
}

/* The state dict (or model): the pickled value itself, or a training checkpoint's entry under
 * one of the names training scripts use ("net": pytorch-cifar's checkpoints). */
static const dpi_pk *state_dict(const dpi_pk *root) {
    static const char *const nested[] = {"state_dict", "model_state_dict", "net", "model"};
    for (size_t i = 0; i < sizeof nested / sizeof *nested; i++) {
        const dpi_pk *v = dpi_pk_dict_get(root, nested[i]);
        if (v && (v->kind == DPI_PK_DICT || v->kind == DPI_PK_OBJECT)) return v;
    }
    return root;
}

/* torch.nn.DataParallel prefixes every name with "module."; when all have it, drop it, so that a
 * checkpoint of a wrapped model loads like the model's own state_dict(). */
static void strip_data_parallel(dpi_weights *w) {
    static const char prefix[] = "module.";
    const size_t pl = sizeof prefix - 1;
    for (int i = 0; i < w->n; i++)
        if (strncmp(w->t[i].name, prefix, pl) != 0) return;
    for (int i = 0; i < w->n; i++) memmove(w->t[i].name, w->t[i].name + pl, strlen(w->t[i].name + pl) + 1);
}

/* Whether the str k is one of the strs in the list skip (NULL: none). */
static int listed(const dpi_pk *skip, const dpi_pk *k) {
    for (size_t i = 0; skip && skip->kind == DPI_PK_LIST && i < skip->u.c.n; i++) {
        const dpi_pk *e = skip->u.c.v[i];
        if (e->kind == DPI_PK_STR && e->u.s.n == k->u.s.n && memcmp(e->u.s.p, k->u.s.p, k->u.s.n) == 0) return 1;
    }
    return 0;
}

/* Add the tensors of dict d (name -> tensor) as prefix + name, except the names in skip; other
 * values (None, an epoch number, an optimizer's state) are not weights and are passed over. */
static dp_status add_dict(const dpi_zip *z, const dpi_zip_member *pm, const char *name, const char *prefix,
                          const dpi_pk *d, const dpi_pk *skip, dpi_weights *w) {
    dp_status s = DP_OK;
    for (size_t i = 0; d && d->kind == DPI_PK_DICT && i + 1 < d->u.c.n && !s; i += 2) {
        const dpi_pk *k = d->u.c.v[i], *v = d->u.c.v[i + 1];
        char key[DPI_PREFIX_MAX + 256];
        if (k->kind != DPI_PK_STR || v->kind != DPI_PK_TENSOR || k->u.s.n >= 256 || listed(skip, k)) {
            dpi_log(DP_LOG_DEBUG, "%s: ignoring an entry that is not a named tensor", name);
            continue;
        }
        snprintf(key, sizeof key, "%s%.*s", prefix, (int)k->u.s.n, (const char *)k->u.s.p);
        s = add_tensor(z, pm, key, v->u.tensor, w);
    }
    return s;
}

/* A whole torch.save(model): walk the nn.Module tree the way state_dict() does (each module's
 * _parameters, its persistent _buffers, then its _modules under "<name>."), with an explicit
 * stack. A cycle is cut by the key length limit, a huge tree by the module count. */
typedef struct visit {
    const dpi_pk *obj;
    char prefix[DPI_PREFIX_MAX];
} visit;

static dp_status add_modules(const dpi_zip *z, const dpi_zip_member *pm, const char *name, const dpi_pk *root,
                             dpi_weights *w) {
    size_t n = 1, cap = 16, visited = 0;
    visit *stack = malloc(cap * sizeof *stack);
    if (!stack) return dpi_error(DP_ERR_NOMEM, "%s: out of memory", name);
    stack[0].obj = root;
    stack[0].prefix[0] = '\0';
    dp_status s = DP_OK;
    while (n && !s) {
        visit v = stack[--n];
        const dpi_pk *cls = v.obj->u.object->cls, *state = v.obj->u.object->state;
        const dpi_pk *params = dpi_pk_dict_get(state, "_parameters"), *modules = dpi_pk_dict_get(state, "_modules"),
                     *buffers = dpi_pk_dict_get(state, "_buffers");
        if (++visited > DPI_MAX_MODULES) {
            s = dpi_error(DP_ERR_FORMAT, "%s: a model of more than %d modules", name, DPI_MAX_MODULES);
            break;
        }
        if (!params || !buffers || !modules) {
            s = dpi_error(DP_ERR_FORMAT, "%s: %s%s (a pickled %.*s) has no _parameters, _buffers and _modules: not "
                          "a torch.nn.Module (save model.state_dict())", name, v.prefix[0] ? "module " : "the model",
                          v.prefix, (int)cls->u.s.n, (const char *)cls->u.s.p);
            break;
        }
        if ((s = add_dict(z, pm, name, v.prefix, params, NULL, w)) ||
            (s = add_dict(z, pm, name, v.prefix, buffers, dpi_pk_dict_get(state, "_non_persistent_buffers_set"), w)))
            break;
        for (size_t i = 0; modules->kind == DPI_PK_DICT && i + 1 < modules->u.c.n && !s; i += 2) {
            const dpi_pk *k = modules->u.c.v[i], *child = modules->u.c.v[i + 1];
            if (child->kind == DPI_PK_NONE) continue;
            if (k->kind != DPI_PK_STR || child->kind != DPI_PK_OBJECT ||
                strlen(v.prefix) + k->u.s.n + 2 > DPI_PREFIX_MAX) {
                s = dpi_error(DP_ERR_FORMAT, "%s: module %s has a submodule that is not a named module (or names "
                              "nested beyond %d characters)", name, v.prefix[0] ? v.prefix : "(the model)",
                              DPI_PREFIX_MAX);
                break;
            }
            if (n == cap) {
                visit *grown = realloc(stack, 2 * cap * sizeof *stack);
                if (!grown) {
                    s = dpi_error(DP_ERR_NOMEM, "%s: out of memory", name);
                    break;
                }
                stack = grown;
                cap *= 2;
            }
            stack[n].obj = child;
            size_t pl = strlen(v.prefix); /* fits: checked above */
            memcpy(stack[n].prefix, v.prefix, pl);
            memcpy(stack[n].prefix + pl, k->u.s.p, k->u.s.n);
            memcpy(stack[n].prefix + pl + k->u.s.n, ".", 2);
            n++;
        }
    }
    free(stack);
    return s;
}

dp_status dpi_pth_parse(const char *path, const uint8_t *buf, size_t len, dpi_weights *w) {
    dpi_zip z;
    dp_status s = dpi_zip_open(path, buf, len, &z);
    if (s) return s;
    const uint8_t *pkl = NULL, *order = NULL;
    uint8_t *pkl_owned = NULL, *order_owned = NULL;
    dpi_unpickler *up = NULL;
    const dpi_pk *root;
    const dpi_zip_member *pm = find_pickle(&z), *bo;
    char name[600];
    if (!pm) {
        s = dpi_error(DP_ERR_FORMAT, "%s: zip without a data.pkl member: not a torch.save file", path);
        goto done;
    }
    if (sibling(&z, pm, "constants.pkl")) {
        s = dpi_error(DP_ERR_UNSUPPORTED, "%s: a TorchScript archive (torch.jit.save); save the weights with "
                      "torch.save(model.state_dict(), f) instead", path);
        goto done;
    }
    /* Storages are written in the byte order of the saving machine; only little-endian is read. */
    if ((bo = sibling(&z, pm, "byteorder"))) {
        if ((s = dpi_zip_member_data(&z, bo, &order, &order_owned))) goto done;
        if (bo->usize != 6 || memcmp(order, "little", 6) != 0) {
            s = dpi_error(DP_ERR_UNSUPPORTED, "%s: storages are not little-endian (byteorder %.*s)", path,
                          bo->usize < 16 ? (int)bo->usize : 16, (const char *)order);
            goto done;
        }
    }
    if ((s = dpi_zip_member_data(&z, pm, &pkl, &pkl_owned))) goto done;
    snprintf(name, sizeof name, "%s: %s", path, pm->name);
    if ((s = dpi_unpickle(name, pkl, pm->usize, DPI_PK_TORCH | DPI_PK_MODULES, &up, &root))) goto done;
    root = state_dict(root);
    if (root->kind == DPI_PK_OBJECT) {
        s = add_modules(&z, pm, name, root, w);
    } else if (root->kind == DPI_PK_DICT) {
        s = add_dict(&z, pm, name, "", root, NULL, w);
    } else {
        s = dpi_error(DP_ERR_FORMAT, "%s: holds a pickled %s, not a state_dict or a model (save "
                      "model.state_dict())", name, root->kind == DPI_PK_TENSOR ? "tensor" : "value");
    }
    if (!s) strip_data_parallel(w);
done:
    dpi_unpickler_free(up);
    free(pkl_owned);
    free(order_owned);
    dpi_zip_close(&z);
    return s;
}
