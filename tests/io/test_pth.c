/* torch.save(state_dict) archives (.pth) through dpi_weights_load and the restricted unpickler
 * through dpi_unpickle: float32/float64/float16/bfloat16 storages, strided and offset views,
 * shared storages, integer buffers tolerated; views outside their storage, missing or short
 * storages, big-endian archives, TorchScript, the legacy format, module trees that are not
 * modules or cycle; and hostile pickles (globals
 * such as os.system, unknown opcodes, truncation at every length, byte flips, huge lengths, memo
 * abuse, deep nesting, cycles), each a status and a message, never a crash. */
#include <stdlib.h>

#include "io/formats.h"
#include "io/pickle.h"
#include "io/pickle_fixtures.h"
#include "io/weights.h"
#include "test.h"

/* storage 0: 8 float32 0..7; storage 1: 3 float16; storage 2: 2 bfloat16; storage 3: 2 float64;
 * storage 4: one int64. */
static fx_buf make_pth(const char *prefix, int method, const char *byteorder) {
    fx_buf pk = {0};
    pk_ordered_dict_begin(&pk);
    /* w: [2,3] transposed view (strides 1,2) at offset 1 of storage 0 -> [[1,3,5],[2,4,6]] */
    pk_tensor(&pk, "w", "FloatStorage", "0", 8, 1, 2, (int64_t[]){2, 3}, (int64_t[]){1, 2});
    /* v: the same storage, contiguous [8]: shared storages load independently */
    pk_tensor(&pk, "v", "FloatStorage", "0", 8, 0, 1, (int64_t[]){8}, (int64_t[]){1});
    pk_tensor(&pk, "h", "HalfStorage", "1", 3, 0, 1, (int64_t[]){3}, (int64_t[]){1});
    pk_tensor(&pk, "b", "BFloat16Storage", "2", 2, 0, 1, (int64_t[]){2}, (int64_t[]){1});
    pk_tensor(&pk, "d", "DoubleStorage", "3", 2, 0, 1, (int64_t[]){2}, (int64_t[]){1});
    pk_tensor(&pk, "n", "LongStorage", "4", 1, 0, 0, NULL, NULL);
    pk_ordered_dict_end(&pk);
    float f[8];
    for (int i = 0; i < 8; i++) f[i] = (float)i;
    uint16_t h[3] = {0x3c00, 0xc000, 0x3800}; /* 1, -2, 0.5 */
    uint16_t bf[2] = {0x3f80, 0x4040};        /* 1, 3 */
    double d[2] = {0.25, -4};
    int64_t n = 7;
    fx_zip z = {0};
    char name[128];
    snprintf(name, sizeof name, "%s/data.pkl", prefix);
    fx_zip_add(&z, name, pk.p, pk.n, method, 0);
    const void *data[] = {f, h, bf, d, &n};
    size_t sizes[] = {sizeof f, sizeof h, sizeof bf, sizeof d, sizeof n};
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "%s/data/%d", prefix, i);
        fx_zip_add(&z, name, data[i], sizes[i], method, 0);
    }
    snprintf(name, sizeof name, "%s/byteorder", prefix);
    if (byteorder) fx_zip_add(&z, name, (const uint8_t *)byteorder, strlen(byteorder), method, 0);
    snprintf(name, sizeof name, "%s/version", prefix);
    fx_zip_add(&z, name, (const uint8_t *)"3\n", 2, method, 0);
    free(pk.p);
    return fx_zip_end(&z);
}

/* An archive around an arbitrary data.pkl with one 8-float storage "0". */
static fx_buf wrap(const fx_buf *pk) {
    float f[8] = {0};
    fx_zip z = {0};
    fx_zip_add(&z, "archive/data.pkl", pk->p, pk->n, 0, 0);
    fx_zip_add(&z, "archive/data/0", (const uint8_t *)f, sizeof f, 0, 0);
    return fx_zip_end(&z);
}

static dp_status load_bytes(const char *path, const uint8_t *p, size_t n, dpi_weights **w) {
    *w = NULL;
    if (fx_write(path, p, n) != 0) return DP_ERR_IO;
    return dpi_weights_load(path, w);
}

static void check_good(const char *prefix, int method, const char *byteorder) {
    fx_buf b = make_pth(prefix, method, byteorder);
    dpi_weights *w;
    CHECK_OK(load_bytes("model.weights", b.p, b.n, &w)); /* any name: sniffed by content */
    free(b.p);
    if (!w) return;
    const float *x;
    CHECK_OK(dpi_weights_get(w, "w", 2, (int64_t[]){2, 3}, &x));
    if (x) CHECK(x[0] == 1 && x[1] == 3 && x[2] == 5 && x[3] == 2 && x[4] == 4 && x[5] == 6);
    CHECK_OK(dpi_weights_get(w, "v", 1, (int64_t[]){8}, &x));
    if (x) CHECK(x[0] == 0 && x[7] == 7);
    CHECK_OK(dpi_weights_get(w, "h", 1, (int64_t[]){3}, &x));
    if (x) CHECK(x[0] == 1 && x[1] == -2 && x[2] == 0.5f);
    CHECK_OK(dpi_weights_get(w, "b", 1, (int64_t[]){2}, &x));
    if (x) CHECK(x[0] == 1 && x[1] == 3);
    CHECK_OK(dpi_weights_get(w, "d", 1, (int64_t[]){2}, &x));
    if (x) CHECK(x[0] == 0.25f && x[1] == -4);
    CHECK_STATUS(dpi_weights_get(w, "n", 0, NULL, &x), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("int64");
    CHECK_STATUS(dpi_weights_get(w, "w", 2, (int64_t[]){3, 2}, &x), DP_ERR_SHAPE);
    CHECK_ERROR_MENTIONS("model.weights: tensor w has shape [2,3], expected [3,2]");
    dpi_weights_free(w);
}

/* Run a pickle through the unpickler with torch's globals; its status. */
static dp_status unpickle(const uint8_t *p, size_t n) {
    dpi_unpickler *up;
    const dpi_pk *root;
    dp_status s = dpi_unpickle("t.pkl", p, n, DPI_PK_TORCH, &up, &root);
    dpi_unpickler_free(up);
    return s;
}

static void check_refused(const char *what, const char *bytes, size_t n, const char *mention) {
    CHECK_MSG(unpickle((const uint8_t *)bytes, n) == DP_ERR_FORMAT, "%s was accepted", what);
    CHECK_ERROR_MENTIONS(mention);
}

static void hostile(void) {
#define REFUSED(what, lit, mention) check_refused(what, lit, sizeof lit - 1, mention)
    REFUSED("os.system", "\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00ls\x85R.", "global os.system is not allowed");
    REFUSED("builtins.eval by STACK_GLOBAL", "\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93.", "builtins.eval");
    REFUSED("a numpy global in a torch pickle", "\x80\x02" "cnumpy\ndtype\n.", "numpy.dtype");
    REFUSED("INST", "\x80\x02(cos\nsystem\ni.", "global os.system");
    REFUSED("OBJ", "\x80\x02(o.", "opcode 0x6f ('o')");
    REFUSED("NEWOBJ of a tuple", "\x80\x02))\x81.", "NEWOBJ of a tuple");
    REFUSED("EXT1", "\x80\x02\x82\x01.", "opcode 0x82");
    REFUSED("protocol 5", "\x80\x05N.", "protocol 5");
    REFUSED("empty", "", "truncated");
    REFUSED("no STOP", "\x80\x02N", "truncated");
    REFUSED("underflow", "\x80\x02.", "underflow");
    REFUSED("STOP inside a MARK", "\x80\x02N(.", "underflow");
    REFUSED("huge BINUNICODE", "\x80\x02X\xff\xff\xff\xff" "abc.", "truncated");
    REFUSED("huge BINBYTES8", "\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f" "abc.", "string of");
    REFUSED("huge LONG1", "\x80\x02\x8a\x10" "0123456789abcdef.", "integer of 16 bytes");
    REFUSED("LONG4", "\x80\x02\x8b\x00\x00\x00\x00.", "opcode 0x8b");
    REFUSED("memo index far away", "\x80\x02Nr\xff\xff\xff\x7f.", "memo index");
    REFUSED("GET never PUT", "\x80\x02h\x05.", "never PUT");
    REFUSED("LONG_BINGET huge", "\x80\x02j\xff\xff\xff\xff.", "never PUT");
    REFUSED("APPEND to a tuple", "\x80\x02)Na.", "APPEND to something");
    REFUSED("SETITEMS odd", "\x80\x02}(Nu.", "odd number");
    REFUSED("REDUCE of a non-global", "\x80\x02N)R.", "REDUCE of a None");
    REFUSED("storage called", "\x80\x02" "ctorch\nFloatStorage\n)R.", "not callable");
    REFUSED("OrderedDict with arguments", "\x80\x02" "ccollections\nOrderedDict\n]\x85R.", "built empty");
    REFUSED("BUILD of a list", "\x80\x02]}b.", "BUILD of a list");
    REFUSED("bad persistent id", "\x80\x02NQ.", "persistent id");
    REFUSED("long GLOBAL name", "\x80\x02" "caaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nb\n.", "GLOBAL without");
    REFUSED("tensor beyond its storage",
            "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
            "X\x03\x00\x00\x00" "cpuK\x04tQK\x02K\x03\x85K\x01\x85\x89)tR.", "runs past its storage");
    REFUSED("stride-0 broadcast larger than the storage",
            "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
            "X\x03\x00\x00\x00" "cpuK\x01tQK\x00J\x00\x00\x00\x40\x85K\x00\x85\x89)tR.", "more elements than its storage");
    REFUSED("negative stride",
            "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
            "X\x03\x00\x00\x00" "cpuK\x04tQK\x00K\x02\x85J\xff\xff\xff\xff\x85\x89)tR.", "_rebuild_tensor_v2 needs");
#undef REFUSED

    /* Deep nesting is iterative: 200000 nested lists and 200000 open MARKs cost no C stack. */
    enum { DEEP = 200000 };
    fx_buf b = {0};
    pk_op(&b, 0x80);
    pk_op(&b, 2);
    for (int i = 0; i < DEEP; i++) pk_op(&b, ']');
    for (int i = 1; i < DEEP; i++) pk_op(&b, 'a');
    pk_op(&b, '.');
    CHECK_OK(unpickle(b.p, b.n));
    b.n = 2;
    for (int i = 0; i < DEEP; i++) pk_op(&b, '(');
    pk_op(&b, '.');
    CHECK_STATUS(unpickle(b.p, b.n), DP_ERR_FORMAT);
    /* A list appended to itself (a cycle through the memo) is harmless: nothing walks it. */
    CHECK_OK(unpickle((const uint8_t *)"\x80\x02]q\x00h\x00" "a.", 9));
    free(b.p);

    /* Every truncation and every single-byte change of a valid archive: a status, never a crash. */
    fx_buf good = make_pth("archive", 0, "little");
    for (size_t n = 0; n < good.n; n++) {
        dpi_weights *w;
        dp_status s = load_bytes("cut.pth", good.p, n, &w);
        CHECK_MSG(s != DP_OK || n == good.n, "truncated to %zu bytes was accepted", n);
        dpi_weights_free(w);
    }
    /* data.pkl is the first member: its bytes follow the 30-byte local header and the name. A
     * flip there fails the CRC-32; elsewhere it may hit a field the reader ignores. */
    size_t pkl_begin = 30 + strlen("archive/data.pkl"), pkl_refused = 0, pkl_end = pkl_begin;
    while (pkl_end < good.n && memcmp(good.p + pkl_end, "PK\3\4", 4) != 0) pkl_end++;
    for (size_t i = 0; i < good.n; i++) {
        uint8_t saved = good.p[i];
        good.p[i] ^= 0x5a;
        dpi_weights *w;
        dp_status s = load_bytes("flip.pth", good.p, good.n, &w);
        pkl_refused += i >= pkl_begin && i < pkl_end && s == DP_ERR_FORMAT;
        dpi_weights_free(w);
        good.p[i] = saved;
    }
    CHECK_MSG(pkl_refused == pkl_end - pkl_begin, "%zu of %zu flips in data.pkl refused", pkl_refused,
              pkl_end - pkl_begin);
    free(good.p);
}

static void bad_archives(void) {
    dpi_weights *w;
    fx_buf b = make_pth("archive", 0, "big");
    CHECK_STATUS(load_bytes("big.pth", b.p, b.n, &w), DP_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("big.pth: storages are not little-endian");
    free(b.p);

    fx_buf pk = {0}; /* a storage that is not in the archive */
    pk_ordered_dict_begin(&pk);
    pk_tensor(&pk, "lost", "FloatStorage", "9", 8, 0, 1, (int64_t[]){8}, (int64_t[]){1});
    pk_ordered_dict_end(&pk);
    b = wrap(&pk);
    CHECK_STATUS(load_bytes("lost.pth", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("lost.pth: tensor lost: its storage data/9 is missing");
    free(b.p);
    pk.n = 0; /* a storage claiming more elements than its member holds */
    pk_ordered_dict_begin(&pk);
    pk_tensor(&pk, "short", "FloatStorage", "0", 1000, 0, 1, (int64_t[]){1000}, (int64_t[]){1});
    pk_ordered_dict_end(&pk);
    b = wrap(&pk);
    CHECK_STATUS(load_bytes("short.pth", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("storage archive/data/0 has 32 bytes, expected 1000 float32 values");
    free(b.p);
    pk.n = 0; /* a whole pickled module: refused, naming its class */
    pk_op(&pk, 0x80);
    pk_op(&pk, 2);
    pk_global(&pk, "torchvision.models.resnet", "ResNet");
    pk_op(&pk, ')');
    pk_op(&pk, 0x81);
    pk_op(&pk, '.');
    b = wrap(&pk);
    CHECK_STATUS(load_bytes("model.pth", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("model.pth: archive/data.pkl: the model (a pickled torchvision.models.resnet.ResNet) has no "
                         "_parameters");
    free(b.p);
    /* A module that is its own submodule: the key path grows until it is refused. */
    static const char cyclic[] = "\x80\x02" "cm\nM\n)\x81q\x00}(X\x0b\x00\x00\x00_parametersq\x01}X\x08\x00\x00\x00"
                                 "_buffers}X\x08\x00\x00\x00_modules}(X\x01\x00\x00\x00" "ah\x00uub.";
    b = wrap(&(fx_buf){(uint8_t *)cyclic, sizeof cyclic - 1, 0});
    CHECK_STATUS(load_bytes("cyclic.pth", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("nested beyond 256 characters");
    free(b.p);
    /* In a pickled model, a class may be named and instantiated as data, never called. */
    static const char call[] = "\x80\x02" "cposix\nsystem\nX\x0b\x00\x00\x00touch pwned\x85R.";
    b = wrap(&(fx_buf){(uint8_t *)call, sizeof call - 1, 0});
    CHECK_STATUS(load_bytes("evil.pth", b.p, b.n, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("evil.pth: archive/data.pkl: pickle offset 33: global posix.system is not allowed");
    free(b.p);
    free(pk.p);

    fx_zip z = {0}; /* TorchScript */
    fx_zip_add(&z, "m/data.pkl", (const uint8_t *)"\x80\x02}.", 4, 0, 0);
    fx_zip_add(&z, "m/constants.pkl", (const uint8_t *)"\x80\x02).", 4, 0, 0);
    b = fx_zip_end(&z);
    CHECK_STATUS(load_bytes("script.pt", b.p, b.n, &w), DP_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("TorchScript");
    free(b.p);

    static const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    CHECK_STATUS(load_bytes("old.pth", legacy, sizeof legacy, &w), DP_ERR_UNSUPPORTED);
    CHECK_ERROR_MENTIONS("legacy format");
    CHECK_STATUS(load_bytes("x.npy", (const uint8_t *)"\x93NUMPY\x01\x00", 8, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("x.npy: a single .npy array");
    CHECK_STATUS(load_bytes("junk.bin", (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9, &w), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("junk.bin: not a weights file");
}

int main(void) {
    check_good("archive", 0, "little"); /* PyTorch >= 2 names the directory "archive" */
    check_good("resnet18", 8, NULL);    /* older ones use the file's stem; no byteorder = little */
    bad_archives();
    hostile();
    TEST_MAIN_END();
}
