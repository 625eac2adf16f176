/* Scratch files and oracles shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "io/weights.h"
#include "util/util.h"

static char scratch[256];

static void remove_scratch(void) {
    fuzz_reset();
    rmdir(scratch);
}

const char *fuzz_dir(void) {
    if (scratch[0]) return scratch;
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/dp-fuzz-XXXXXX", base);
    FUZZ_CHECK(mkdtemp(scratch) != NULL, "cannot create a scratch directory under %s", base);
    atexit(remove_scratch);
    return scratch;
}

void fuzz_reset(void) {
    DIR *d = opendir(fuzz_dir());
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

const char *fuzz_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    return path;
}

void fuzz_write(const char *path, const uint8_t *data, size_t n, int gz) {
    if (gz) {
        /* Level 1: the fuzzer runs this on every input; the ratio does not matter. */
        gzFile f = gzopen(path, "wb1");
        FUZZ_CHECK(f != NULL, "cannot create %s", path);
        FUZZ_CHECK(n == 0 || gzwrite(f, data, (unsigned)n) == (int)n, "cannot write %s", path);
        FUZZ_CHECK(gzclose(f) == Z_OK, "cannot close %s", path);
        return;
    }
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "cannot create %s", path);
    FUZZ_CHECK(fwrite(data, 1, n, f) == n, "cannot write %s", path);
    FUZZ_CHECK(fclose(f) == 0, "cannot close %s", path);
}

void fuzz_clear_error(void) { dpi_error(DP_OK, "%s", ""); }

void fuzz_check_error(dp_status st, const char *name) {
    const char *msg = dp_last_error();
    FUZZ_CHECK(st > DP_OK && st < DP_STATUS_COUNT_, "status %d", (int)st);
    FUZZ_CHECK(strstr(msg, name) != NULL, "%s: message \"%s\" does not name %s", dp_status_str(st), msg, name);
}

int64_t fuzz_shape_count(int ndim, const int64_t *shape) {
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) return 0; /* in any position: (huge, huge, 0) holds nothing */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return -1;
        if (shape[d] && count > SIZE_MAX / sizeof(float) / (uint64_t)shape[d]) return -1;
        count *= (uint64_t)shape[d];
    }
    return (int64_t)count;
}

void fuzz_touch(const void *p, size_t bytes) {
    const volatile uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < bytes; i++) acc ^= b[i];
    (void)acc;
}

void fuzz_check_weights(const dpi_weights *w, uint64_t max_elems) {
    for (int i = 0; i < w->n; i++) {
        const dpi_tensor *t = &w->t[i];
        FUZZ_CHECK(t->name != NULL && dpi_weights_find(w, t->name) == t, "tensor %d: name missing or repeated", i);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= DPI_MAX_DIMS, "tensor %s: ndim %d", t->name, t->ndim);
        int64_t count = fuzz_shape_count(t->ndim, t->shape);
        FUZZ_CHECK(count >= 0 && (uint64_t)count <= max_elems, "tensor %s: %lld elements from a file that can "
                   "hold %llu", t->name, (long long)count, (unsigned long long)max_elems);
        FUZZ_CHECK(t->data != NULL || t->dtype[0] != '\0', "tensor %s: no data and no dtype to explain why",
                   t->name);
        if (t->data) fuzz_touch(t->data, (size_t)count * sizeof(float));
    }
}
