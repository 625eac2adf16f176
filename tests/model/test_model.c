/* dp_model / dp_exec on the reference backend: seeded loading of the four archs, argument
 * checks, determinism, sane logits, shapes, profiling, dp_argmax. */
#include <pthread.h>
#include <stdlib.h>

#include "model/model_test_util.h"
#include "test.h"

static void check_arch(const char *arch, int k, int h, int w) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = DP_BACKEND_REFERENCE;
    o.num_classes = k;
    o.seed = 42;
    dp_model *m = NULL;
    dp_exec *e = NULL;
    CHECK_OK(dp_model_load(arch, NULL, &o, &m));
    if (!m) return;
    CHECK(strcmp(dp_model_arch(m), arch) == 0);
    CHECK(dp_model_num_classes(m) == k);
    CHECK(dp_model_backend_kind(m) == DP_BACKEND_REFERENCE);
    CHECK(dp_model_param_count(m) > 1000000);
    CHECK_OK(dp_exec_create(m, 1, &e));
    int n = 2;
    float *x = dpt_random_input(n, h, w, 7), *y = calloc((size_t)n * k, sizeof *y), *y2 = calloc((size_t)n * k, sizeof *y2);
    CHECK_OK(dp_exec_run(e, x, n, h, w, y));
    int finite = 1;
    for (int i = 0; i < n * k; i++) finite &= isfinite(y[i]) != 0;
    CHECK_MSG(finite, "%s: non-finite logits", arch);
    /* Seeded weights must neither explode nor vanish through the depth of the net. */
    double mx = dpt_max_abs(y, (size_t)n * k);
    CHECK_MSG(mx > 1e-2 && mx < 1e3, "%s: max |logit| %g", arch, mx);
    /* The two samples differ, so their logits must too. */
    CHECK(memcmp(y, y + k, (size_t)k * sizeof *y) != 0);
    /* Same input, same exec, batch of 1: the same numbers (per-sample computation). */
    CHECK_OK(dp_exec_run(e, x, 1, h, w, y2));
    CHECK(dpt_max_abs(y2, (size_t)k) > 0 && dpt_rel_diff(y2, y, (size_t)k) <= 1e-5);
    printf("%s k=%d %dx%d: max|logit| %.3g, %zu params\n", arch, k, h, w, mx, dp_model_param_count(m));
    free(x);
    free(y);
    free(y2);
    dp_exec_free(e);
    dp_model_free(m);
}

/* One dp_model shared by several threads, each with its own dp_exec: same logits as alone. */
typedef struct job {
    const dp_model *m;
    const float *x;
    float y[4 * 10];
    dp_status s;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    dp_exec *e;
    j->s = dp_exec_create(j->m, 1, &e);
    for (int rep = 0; rep < 3 && j->s == DP_OK; rep++) j->s = dp_exec_run(e, j->x, 4, 32, 32, j->y);
    dp_exec_free(e);
    return NULL;
}

static void check_shared_model(void) {
    dp_model_opts o;
    dp_model_opts_init(&o);
    o.backend = DP_BACKEND_REFERENCE;
    dp_model *m;
    CHECK_OK(dp_model_load("mobilenet_v2", NULL, &o, &m));
    float *x = dpt_random_input(4, 32, 32, 5);
    job alone = {.m = m, .x = x}, jobs[3];
    run_job(&alone);
    CHECK_OK(alone.s);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (job){.m = m, .x = x};
        pthread_create(&t[i], NULL, run_job, &jobs[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        CHECK_OK(jobs[i].s);
        CHECK(dpt_rel_diff(jobs[i].y, alone.y, 40) <= 1e-5);
    }
    free(x);
    dp_model_free(m);
}

int main(void) {
    check_shared_model();
    check_arch("resnet18", 10, 32, 32);
    check_arch("mobilenet_v2", 7, 40, 48);
    check_arch("resnet18_cifar", 10, 32, 32);
    check_arch("mobilenetv2_cifar", 1, 32, 32);
    TEST_MAIN_END();
}
