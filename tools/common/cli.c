#define _GNU_SOURCE
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "dp";

void dpc_set_prog(const char *p) { prog = p; }
const char *dpc_prog(void) { return prog; }

int dpc_fail(dp_status s, const char *what) {
    fprintf(stderr, "%s: %s: %s: %s\n", prog, what, dp_status_str(s), dp_last_error());
    return 1;
}

int dpc_model_load(const char *arch, const char *weights, const char *calibration, dp_model_opts *mo, dp_model **out) {
    dp_calibration *cal = NULL;
    dp_status s;
    if (mo->precision == DP_PRECISION_INT8 && !calibration)
        return dpc_usage_error("--precision int8 needs --calibration FILE (dp-bench calibrate writes one)");
    if (calibration && (s = dp_calibration_load(calibration, &cal))) return dpc_fail(s, "--calibration");
    mo->calibration = cal;
    s = dp_model_load(arch, weights, mo, out);
    mo->calibration = NULL;
    dp_calibration_free(cal);
    return s ? dpc_fail(s, "loading the model") : 0;
}

int dpc_usage_error(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try '%s --help')\n", prog);
    return 2;
}

int dpc_write_json(const char *path, const cJSON *json) {
    char *text = cJSON_Print(json);
    if (!text) {
        fprintf(stderr, "%s: out of memory writing JSON\n", prog);
        return 1;
    }
    int rc = 0;
    if (strcmp(path, "-") == 0) {
        printf("%s\n", text);
    } else {
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
            rc = 1;
        }
    }
    free(text);
    return rc;
}

const char *dpc_cpu_model(void) {
    static char model[256];
    if (model[0]) return model;
    snprintf(model, sizeof model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return model;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *colon = strchr(line, ':');
            if (colon) {
                colon += 2;
                colon[strcspn(colon, "\n")] = '\0';
                snprintf(model, sizeof model, "%s", colon);
            }
            break;
        }
    }
    fclose(f);
    return model;
}

void dpc_add_provenance(cJSON *obj, int argc, char **argv) {
    cJSON *machine = cJSON_AddObjectToObject(obj, "machine");
    cJSON_AddStringToObject(machine, "cpu", dpc_cpu_model());
    cJSON_AddNumberToObject(machine, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(machine, "isa", dp_cpu_isa());
    double load[1];
    if (getloadavg(load, 1) == 1) cJSON_AddNumberToObject(machine, "load_avg_1m", load[0]);
    size_t len = 1;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *cmd = calloc(len, 1);
    if (cmd) {
        for (int i = 0; i < argc; i++) {
            if (i) strcat(cmd, " ");
            strcat(cmd, argv[i]);
        }
        cJSON_AddStringToObject(obj, "command", cmd);
        free(cmd);
    }
    cJSON *lib = cJSON_AddObjectToObject(obj, "library");
    cJSON_AddStringToObject(lib, "version", dp_version_string());
    cJSON_AddStringToObject(lib, "build", dp_build_info());
    const char *commit = getenv("DP_GIT_COMMIT");
    cJSON_AddStringToObject(obj, "commit", commit && *commit ? commit : "unknown");
}

char *dpc_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}
