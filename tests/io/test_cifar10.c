/* CIFAR-10 binary data sets: a .bin file, a directory of batches, a .tar.gz and a plain .tar
 * written here by hand (ustar headers + zlib), normalisation, and broken files. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#include "test.h"

#define REC 3073

/* Record for global sample g: label g % 10, pixel k = (7 g + k) mod 256. */
static void make_records(uint8_t *buf, int first, int n) {
    for (int r = 0; r < n; r++) {
        uint8_t *rec = buf + (size_t)r * REC;
        rec[0] = (uint8_t)((first + r) % 10);
        for (int k = 0; k < 3072; k++) rec[1 + k] = (uint8_t)(7 * (first + r) + k);
    }
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

static void write_bin(const char *path, int first, int n) {
    uint8_t *buf = malloc((size_t)n * REC);
    make_records(buf, first, n);
    write_file(path, buf, (size_t)n * REC);
    free(buf);
}

/* A NUL-terminated octal field of `width` bytes. */
static void octal(uint8_t *field, int width, unsigned long v) {
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%0*lo", width - 1, v);
    memcpy(field, tmp, (size_t)width);
}

static void tar_checksum(uint8_t *h) {
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    octal(h + 148, 7, sum);
}

/* A ustar header for a member of len bytes; type '0' is a file. */
static void tar_header(uint8_t *h, char type, const char *name, size_t len) {
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    octal(h + 100, 8, 0644);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    octal(h + 124, 12, len);
    octal(h + 136, 12, 0);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    tar_checksum(h);
}

/* One ustar member (header + data + padding) appended through gzwrite. */
static void tar_entry(gzFile f, char type, const char *name, const void *data, size_t len) {
    uint8_t h[512];
    tar_header(h, type, name, len);
    gzwrite(f, h, sizeof h);
    if (len) gzwrite(f, data, (unsigned)len);
    static const uint8_t zero[512];
    if (len % 512) gzwrite(f, zero, (unsigned)(512 - len % 512));
}

static void tar_member(gzFile f, const char *name, const void *data, size_t len) {
    tar_entry(f, '0', name, data, len);
}

/* The layout of cifar-10-binary.tar.gz: batches in a folder, members in a scrambled order. */
static void write_tar(const char *path, const char *mode) {
    uint8_t *b = malloc((size_t)4 * REC);
    gzFile f = gzopen(path, mode);
    CHECK(f != NULL);
    const char readme[] = "not a batch";
    tar_member(f, "cifar-10-batches-bin/readme.html", readme, sizeof readme);
    make_records(b, 3, 1);
    tar_member(f, "cifar-10-batches-bin/test_batch.bin", b, REC);
    make_records(b, 2, 1);
    tar_member(f, "cifar-10-batches-bin/data_batch_2.bin", b, REC);
    make_records(b, 0, 2);
    /* a GNU long name: the real name comes in a preceding 'L' entry, the header's is cut short */
    char longname[300];
    memset(longname, 'd', 200);
    strcpy(longname + 200, "/data_batch_1.bin");
    tar_entry(f, 'L', "././@LongLink", longname, strlen(longname) + 1);
    tar_member(f, "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", b,
               2 * REC);
    static const uint8_t zero[1024];
    gzwrite(f, zero, sizeof zero);
    gzclose(f);
    free(b);
}

/* Sample i of ds must be record g under normalisation nm. */
static int sample_matches(dp_dataset *ds, int64_t i, int g, dp_normalize nm) {
    float x[3072];
    int32_t label = -2;
    if (dp_dataset_get(ds, i, x, &label) != DP_OK || label != g % 10) return 0;
    for (int k = 0; k < 3072; k++) {
        int ch = k / 1024;
        float want = ((float)(uint8_t)(7 * g + k) / 255.0f - nm.mean[ch]) / nm.std[ch];
        if (fabsf(x[k] - want) > 1e-6f) return 0;
    }
    return 1;
}

static void test_bin_file(void) {
    write_bin("one.bin", 0, 5);
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_cifar10("one.bin", NULL, &ds));
    CHECK(dp_dataset_count(ds) == 5);
    int c, h, w;
    dp_dataset_shape(ds, &c, &h, &w);
    CHECK(c == 3 && h == 32 && w == 32);
    int ok = 1;
    for (int i = 0; i < 5; i++) ok &= sample_matches(ds, i, i, dp_normalize_cifar10());
    CHECK(ok);
    /* the CIFAR-10 statistics themselves: pixel 0 of record 0 is 0, of channel R: -0.4914/0.2470 */
    float x[3072];
    CHECK_OK(dp_dataset_get(ds, 0, x, NULL));
    CHECK(fabsf(x[0] - (-0.4914f / 0.2470f)) < 1e-5f);
    CHECK_STATUS(dp_dataset_get(ds, 5, x, NULL), DP_ERR_INVALID_ARG);
    dp_dataset_free(ds);

    dp_normalize id = dp_normalize_identity();
    CHECK_OK(dp_dataset_cifar10("one.bin", &id, &ds));
    CHECK_OK(dp_dataset_get(ds, 1, x, NULL));
    CHECK(x[0] == 7.0f / 255.0f && x[248] == 1.0f); /* 7 + 248 = 255 */
    CHECK(sample_matches(ds, 4, 4, id));
    dp_dataset_free(ds);
}

static void test_directory(void) {
    mkdir("cifar_dir", 0755);
    write_bin("cifar_dir/data_batch_10.bin", 3, 1); /* numeric order: 1, 2, 10, then test */
    write_bin("cifar_dir/data_batch_2.bin", 2, 1);
    write_bin("cifar_dir/data_batch_1.bin", 0, 2);
    write_bin("cifar_dir/test_batch.bin", 4, 2);
    write_file("cifar_dir/batches.meta.txt", "airplane\n", 9);
    dp_dataset *ds = NULL;
    CHECK_OK(dp_dataset_cifar10("cifar_dir", NULL, &ds));
    CHECK(dp_dataset_count(ds) == 6);
    int ok = 1;
    for (int i = 0; i < 6; i++) ok &= sample_matches(ds, i, i, dp_normalize_cifar10());
    CHECK(ok);
    dp_dataset_free(ds);
    mkdir("empty_dir", 0755);
    CHECK_STATUS(dp_dataset_cifar10("empty_dir", NULL, &ds), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("empty_dir");
}

static void test_archives(void) {
    write_tar("cifar-10-binary.tar.gz", "wb6");
    write_tar("plain.tar", "wbT"); /* "T": no compression */
    const char *paths[] = {"cifar-10-binary.tar.gz", "plain.tar"};
    for (int p = 0; p < 2; p++) {
        dp_dataset *ds = NULL;
        CHECK_OK(dp_dataset_cifar10(paths[p], NULL, &ds));
        CHECK(dp_dataset_count(ds) == 4);
        int ok = 1;
        for (int i = 0; i < 4; i++) ok &= sample_matches(ds, i, i, dp_normalize_cifar10());
        CHECK_MSG(ok, "%s", paths[p]);
        dp_dataset_free(ds);
    }
    /* a cut-off archive */
    FILE *f = fopen("cifar-10-binary.tar.gz", "rb");
    uint8_t buf[65536];
    size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    write_file("cut.tar.gz", buf, len / 2);
    dp_dataset *ds = NULL;
    CHECK_STATUS(dp_dataset_cifar10("cut.tar.gz", NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("cut.tar.gz");
    CHECK(ds == NULL);
    /* an archive without batches */
    gzFile g = gzopen("nobatch.tar.gz", "wb");
    tar_member(g, "x/readme.html", "hi", 2);
    gzwrite(g, buf, 0);
    static const uint8_t zero[1024];
    gzwrite(g, zero, sizeof zero);
    gzclose(g);
    CHECK_STATUS(dp_dataset_cifar10("nobatch.tar.gz", NULL, &ds), DP_ERR_NOT_FOUND);
    CHECK_ERROR_MENTIONS("nobatch.tar.gz");
}

static void test_bad_files(void) {
    dp_dataset *ds = NULL;
    CHECK_STATUS(dp_dataset_cifar10("no_such_file.bin", NULL, &ds), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("no_such_file.bin");
    uint8_t *b = malloc(3 * REC);
    make_records(b, 0, 3);
    write_file("truncated.bin", b, 3 * REC - 100);
    CHECK_STATUS(dp_dataset_cifar10("truncated.bin", NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("truncated.bin");
    b[REC] = 10; /* record 1's label byte */
    write_file("badlabel.bin", b, 3 * REC);
    CHECK_STATUS(dp_dataset_cifar10("badlabel.bin", NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("badlabel.bin: record 1 has label byte 10");
    write_file("empty.bin", b, 0);
    CHECK_STATUS(dp_dataset_cifar10("empty.bin", NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("empty.bin");
    free(b);
    dp_normalize bad = dp_normalize_cifar10();
    bad.std[1] = 0;
    write_bin("ok.bin", 0, 1);
    CHECK_STATUS(dp_dataset_cifar10("ok.bin", &bad, &ds), DP_ERR_INVALID_ARG);
    CHECK_ERROR_MENTIONS("channel 1");
    CHECK_STATUS(dp_dataset_cifar10(NULL, NULL, &ds), DP_ERR_INVALID_ARG);
    CHECK(ds == NULL);
}

/* Archives made to hurt: a pax header whose record length is negative (it sent the reader back
 * to the start forever) or otherwise broken, and a member claiming far more than the file holds
 * (it was allocated before a byte was read: 64 GiB gave "out of memory"). */
static void test_hostile_tars(void) {
    dpt_watchdog(20, "a hostile tar archive");
    static const char *const pax[] = {"4 a\n-4 x\n", "0 x\n", "99999999999999999999999 path=x\n",
                                      "12 path=abc", "3 a\n", "13 path=data\n5 a\n"};
    static const uint8_t zero[1024];
    for (size_t i = 0; i < sizeof pax / sizeof pax[0]; i++) {
        gzFile g = gzopen("pax.tar", "wbT");
        tar_entry(g, 'x', "PaxHeader", pax[i], strlen(pax[i]));
        tar_member(g, "x/readme.html", "hi", 2);
        gzwrite(g, zero, sizeof zero);
        gzclose(g);
        dp_dataset *ds = NULL;
        CHECK_STATUS(dp_dataset_cifar10("pax.tar", NULL, &ds), DP_ERR_NOT_FOUND);
        CHECK_ERROR_MENTIONS("pax.tar");
    }
    /* 12 octal digits (no NUL): 2^36 - 1 bytes declared, 3073 present */
    uint8_t h[512], rec[REC];
    tar_header(h, '0', "data_batch_1.bin", 0);
    memcpy(h + 124, "777777777777", 12);
    tar_checksum(h);
    make_records(rec, 0, 1);
    FILE *f = fopen("huge.tar", "wb");
    CHECK(f && fwrite(h, 1, sizeof h, f) == sizeof h && fwrite(rec, 1, REC, f) == REC);
    if (f) fclose(f);
    dp_dataset *ds = NULL;
    CHECK_STATUS(dp_dataset_cifar10("huge.tar", NULL, &ds), DP_ERR_FORMAT);
    CHECK_ERROR_MENTIONS("huge.tar: data_batch_1.bin: truncated");
    CHECK_ERROR_MENTIONS("68719476735");
    alarm(0);
}

int main(void) {
    test_bin_file();
    test_directory();
    test_archives();
    test_bad_files();
    test_hostile_tars();
    TEST_MAIN_END();
}
