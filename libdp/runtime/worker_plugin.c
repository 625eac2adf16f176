/* Finding and loading the MPI worker plugin, so the core library never links MPI. */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"
#include "worker.h"

static dp_status host_error(dp_status s, const char *fmt, ...) DPI_PRINTF(2, 3);
static dp_status host_error(dp_status s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dpi_error(s, "%s", msg);
}

static void host_log(dp_log_level level, const char *fmt, ...) DPI_PRINTF(2, 3);
static void host_log(dp_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dpi_log(level, "%s", msg);
}

const dpi_worker_host dpi_worker_host_default = {
    .abi = DPI_WORKER_ABI,
    .error = host_error,
    .log = host_log,
    .now_ns = dpi_now_ns,
};

/* The directory holding the library this function lives in ("" if unknown). */
static void own_dir(char *dir, size_t cap) {
    Dl_info info;
    dir[0] = '\0';
    if (dladdr((void *)&dpi_worker_load_plugin, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash && (size_t)(slash - info.dli_fname) < cap) {
            memcpy(dir, info.dli_fname, (size_t)(slash - info.dli_fname));
            dir[slash - info.dli_fname] = '\0';
        }
    }
}

dp_status dpi_worker_load_plugin(const dpi_worker_ops **ops, void **dl_handle) {
    char dir[PATH_MAX], next_to_lib[PATH_MAX + 64];
    const char *env = getenv("DP_MPI_PLUGIN");
    void *h = NULL;
    own_dir(dir, sizeof dir);
    snprintf(next_to_lib, sizeof next_to_lib, "%s/%s", dir, DPI_MPI_PLUGIN_SONAME);
    if (env && *env) {
        h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
    } else {
        if (dir[0]) h = dlopen(next_to_lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) h = dlopen(DPI_MPI_PLUGIN_SONAME, RTLD_NOW | RTLD_LOCAL);
    }
    if (!h) {
        const char *why = dlerror();
        if (env && *env)
            return dpi_error(DP_ERR_UNSUPPORTED, "backend mpi: cannot load DP_MPI_PLUGIN=%s: %s", env,
                             why ? why : "unknown error");
        return dpi_error(DP_ERR_UNSUPPORTED,
                         "backend mpi: the MPI plugin %s is not installed (tried %s and the default "
                         "library path: %s); build with MPI or use the threads backend",
                         DPI_MPI_PLUGIN_SONAME, dir[0] ? next_to_lib : "(library directory unknown)",
                         why ? why : "not found");
    }
    dpi_worker_entry_fn entry;
    *(void **)&entry = dlsym(h, DPI_MPI_PLUGIN_ENTRY_NAME);
    const dpi_worker_ops *o = entry ? entry(DPI_WORKER_ABI) : NULL;
    if (!o || o->abi != DPI_WORKER_ABI || !o->open || !o->init || !o->run || !o->fini || !o->close) {
        dlclose(h);
        return dpi_error(DP_ERR_UNSUPPORTED,
                         "backend mpi: %s has no usable %s for worker ABI %d (a plugin from another "
                         "version of libdataparallel?)",
                         DPI_MPI_PLUGIN_SONAME, DPI_MPI_PLUGIN_ENTRY_NAME, DPI_WORKER_ABI);
    }
    *ops = o;
    *dl_handle = h;
    return DP_OK;
}
