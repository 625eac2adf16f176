/* The CIFAR-10 python version: pickled batches as Python 2's cPickle wrote them (protocol 2),
 * one file, a directory of them (batches.meta ignored), through dp_dataset_cifar10 with labels;
 * hostile and broken batches (os.system, torch globals, bad labels, wrong shapes, every
 * truncation, byte flips): a status naming the file, never a crash. */
#include <stdlib.h>
#include <sys/stat.h>

#include "io/cifar10.h"
#include "io/pickle_fixtures.h"
#include "test.h"

static uint8_t labels[12], pixels[12 * 3072];

static fx_buf batch(int first, int n) {
    for (int r = 0; r < n; r++) {
        labels[r] = (uint8_t)((first + r) % 10);
        for (int k = 0; k < 3072; k++) pixels[r * 3072 + k] = (uint8_t)(5 * (first + r) + k);
    }
    return pk_cifar_batch(n, labels, pixels);
}

static void write_batch(const char *path, int first, int n) {
    fx_buf b = batch(first, n);
    CHECK(fx_write(path, b.p, b.n) == 0);
    free(b.p);
}

/* Record r of c is sample `first + r` as batch() made it (batches are made with their global
 * index as `first`, so a whole data set matches with first = 0). */
static int records_match(const dpi_cifar10 *c, int64_t r, int first) {
    const uint8_t *rec = c->records + r * DPI_CIFAR10_RECORD;
    int g = first + (int)r, same = rec[0] == g % 10;
    for (int k = 0; k < 3072 && same; k++) same = rec[1 + k] == (uint8_t)(5 * g + k);
    return same;
}

static void refused(const char *what, const fx_buf *b, const char *mention) {
    CHECK(fx_write("hostile_batch", b->p, b->n) == 0);
    dpi_cifar10 c;
    CHECK_MSG(dpi_cifar10_load("hostile_batch", &c) == DP_ERR_FORMAT, "%s was accepted", what);
    CHECK_ERROR_MENTIONS("hostile_batch");
    CHECK_ERROR_MENTIONS(mention);
    dpi_cifar10_release(&c);
}

int main(void) {
    dpi_cifar10 c;
    write_batch("data_batch_1", 0, 12);
    CHECK_OK(dpi_cifar10_load("data_batch_1", &c));
    CHECK(c.n == 12);
    for (int64_t r = 0; r < c.n; r++) CHECK(records_match(&c, r, 0));
    dpi_cifar10_release(&c);

    /* A directory like cifar-10-batches-py: batches in order, test_batch last, meta ignored. */
    mkdir("py_batches", 0755);
    write_batch("py_batches/test_batch", 20, 3);
    write_batch("py_batches/data_batch_2", 12, 8);
    write_batch("py_batches/data_batch_1", 0, 12);
    CHECK(fx_write("py_batches/batches.meta", "\x80\x02}.", 4) == 0);
    CHECK_OK(dpi_cifar10_load("py_batches", &c));
    CHECK(c.n == 23);
    int in_order = 1;
    for (int64_t r = 0; r < c.n; r++) in_order &= records_match(&c, r, 0);
    CHECK(in_order);
    dpi_cifar10_release(&c);

    /* Through the public data set: labels come along. */
    dp_dataset *ds;
    CHECK_OK(dp_dataset_cifar10("data_batch_1", NULL, &ds));
    if (ds) {
        float x[3072];
        int label = -1;
        CHECK_OK(dp_dataset_get(ds, 7, x, &label));
        CHECK(label == 7);
        dp_dataset_free(ds);
    }

    fx_buf b = {0};
    pk_op(&b, 0x80);
    pk_op(&b, 2);
    pk_global(&b, "os", "system");
    pk_short_str(&b, "touch pwned");
    pk_op(&b, 0x85);
    pk_op(&b, 'R');
    pk_op(&b, '.');
    refused("os.system", &b, "global os.system is not allowed");
    struct stat sb;
    CHECK(stat("pwned", &sb) != 0);
    b.n = 2;
    pk_global(&b, "torch._utils", "_rebuild_tensor_v2");
    pk_op(&b, '.');
    refused("a torch global", &b, "torch._utils._rebuild_tensor_v2");
    b.n = 2;
    pk_op(&b, '}');
    pk_op(&b, '.');
    refused("a dict without data", &b, "without 'data' and 'labels'");
    free(b.p);

    b = batch(0, 12);
    /* label 10: the first 'K' of the labels list */
    uint8_t *k = memchr(b.p, ']', b.n);
    k[3] = 10;
    refused("label 10", &b, "label 0 is not an integer 0..9");
    k[3] = 0;
    k[2] = 'N'; /* None instead of the first label, and one byte less of the list */
    memmove(k + 3, k + 4, b.n - (size_t)(k + 4 - b.p));
    b.n--;
    refused("None as a label", &b, "label 0 is not an integer");
    free(b.p);
    b = batch(0, 12);
    uint8_t *t = b.p + b.n - 4 - 12 * 3072 - 4; /* the BINSTRING's length field */
    CHECK(t[-1] == 'T');
    fx_u32(&(fx_buf){t, 0, 4}, 12 * 3072 - 1); /* one pixel byte less */
    memmove(t + 4, t + 5, b.n - (size_t)(t + 5 - b.p));
    b.n--;
    refused("data of the wrong size", &b, "does not match its shape");
    free(b.p);

    /* Every truncation, and a byte flip at every position of the header part: never a crash. */
    b = batch(0, 2);
    size_t head = b.n - 2 * 3072 - 4; /* flips in the pixels would change data, not structure */
    for (size_t n = 0; n < b.n; n++) {
        CHECK(fx_write("cut_batch", b.p, n) == 0);
        CHECK_MSG(dpi_cifar10_load("cut_batch", &c) != DP_OK, "truncated to %zu bytes was accepted", n);
        dpi_cifar10_release(&c);
    }
    for (size_t i = 0; i < head; i++) {
        b.p[i] ^= 0x41;
        CHECK(fx_write("flip_batch", b.p, b.n) == 0);
        if (dpi_cifar10_load("flip_batch", &c) == DP_OK) CHECK(c.n <= 2);
        dpi_cifar10_release(&c);
        b.p[i] ^= 0x41;
    }
    free(b.p);
    TEST_MAIN_END();
}
