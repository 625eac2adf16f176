/* The whole-file reader behind dp_npy_read() and the weight loaders: a directory is named as
 * such (it used to be "out of memory reading 9223372036854775807 bytes"), and a file without a
 * size (a pipe) is read to its end. */
#define _POSIX_C_SOURCE 200809L /* mkfifo */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fixtures.h"
#include "test.h"

static void test_directory(void) {
    mkdir("a_dir.npy", 0755);
    dp_array a;
    CHECK_STATUS(dp_npy_read("a_dir.npy", &a), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("a_dir.npy: is a directory");
    CHECK(a.data == NULL);
    dp_model *m = NULL;
    CHECK_STATUS(dp_model_load("resnet18_cifar", "a_dir.npy", NULL, &m), DP_ERR_IO);
    CHECK_ERROR_MENTIONS("a_dir.npy: is a directory");
    CHECK(m == NULL);
}

/* Writes an .npy image into the FIFO in small pieces, as a pipe delivers it. */
static void *fifo_writer(void *arg) {
    fx_buf *img = arg;
    FILE *f = fopen("pipe.npy", "wb");
    if (!f) return NULL;
    for (size_t off = 0; off < img->n; off += 1000)
        fwrite(img->p + off, 1, img->n - off < 1000 ? img->n - off : 1000, f);
    fclose(f);
    return NULL;
}

static void test_fifo(void) {
    enum { N = 50000 }; /* larger than the reader's first buffer when the size is unknown */
    float *v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) v[i] = (float)i;
    fx_buf img = fx_npy(1, "<f4", "False", 1, (int64_t[]){N}, v, N * sizeof *v);
    unlink("pipe.npy");
    CHECK(mkfifo("pipe.npy", 0600) == 0);
    pthread_t th;
    pthread_create(&th, NULL, fifo_writer, &img);
    dp_array a;
    CHECK_OK(dp_npy_read("pipe.npy", &a));
    pthread_join(th, NULL);
    CHECK(a.ndim == 1 && a.shape[0] == N && a.data && memcmp(a.data, v, N * sizeof *v) == 0);
    dp_array_release(&a);
    unlink("pipe.npy");
    free(img.p);
    free(v);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* a reader that gives up early must fail the check, not kill the test */
    test_directory();
    test_fifo();
    TEST_MAIN_END();
}
