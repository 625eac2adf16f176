/* The table-driven parser and --help of the tools (see flags.h). */
#include "flags.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataparallel.h"

static const char exit_status[] =
    "\nexit status: 0 success, 1 the run failed, 2 bad usage, 128+N stopped by signal N (130 Ctrl-C, 143 SIGTERM)\n";

const dpc_choice dpc_precisions[] = {{"fp32", DP_PRECISION_FP32}, {"bf16", DP_PRECISION_BF16}, {"int8", DP_PRECISION_INT8}, {NULL, 0}};
const dpc_choice dpc_model_backends[] = {{"onednn", DP_BACKEND_ONEDNN}, {"reference", DP_BACKEND_REFERENCE}, {NULL, 0}};

const char *const *dpc_arch_names(void) { return dp_model_arch_names(); }

const char *const *dpc_strategy_names(void) {
    static const char *const names[] = {"uniform", "sharded", "dynamic", "weighted", NULL};
    return names;
}

const char *dpc_choice_name(const dpc_choice *c, int value) {
    for (; c->name; c++)
        if (c->value == value) return c->name;
    return "?";
}

static void *field(void *opts, const dpc_flag *f) { return (char *)opts + f->v.off; }
static const void *cfield(const void *opts, const dpc_flag *f) { return (const char *)opts + f->v.off; }

/* ---- one value ------------------------------------------------------------------------------- */

static int parse_long(const dpc_flag *f, const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0') return dpc_usage_error("--%s: '%s' is not an integer", f->name, s);
    if (errno == ERANGE || v < f->v.lo || v > f->v.hi)
        return dpc_usage_error("--%s: %s is out of range [%ld, %ld]", f->name, s, f->v.lo, f->v.hi);
    *out = v;
    return 0;
}

static int parse_real(const dpc_flag *f, const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v))
        return dpc_usage_error("--%s: '%s' is not a finite number", f->name, s);
    if (v < f->v.flo || v > f->v.fhi)
        return dpc_usage_error("--%s: %s is out of range [%g, %g]", f->name, s, f->v.flo, f->v.fhi);
    *out = v;
    return 0;
}

/* "a, b or c" from a NULL-terminated list. */
static void join_names(const char *const *names, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i == 0 ? "" : names[i + 1] ? ", " : " or ", names[i]);
}

static int parse_name(const dpc_flag *f, const char *s, const char **out) {
    const char *const *names = f->v.names();
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = names[i];
            return 0;
        }
    char all[1024];
    join_names(names, all, sizeof all);
    return dpc_usage_error("--%s: '%s' is not %s", f->name, s, all);
}

static int parse_choice(const dpc_flag *f, const char *s, int *out) {
    const char *names[32];
    int n = 0;
    for (const dpc_choice *c = f->v.choices; c->name && n < 31; c++, n++) {
        names[n] = c->name;
        if (strcmp(s, c->name) == 0) {
            *out = c->value;
            return 0;
        }
    }
    names[n] = NULL;
    char all[1024];
    join_names(names, all, sizeof all);
    return dpc_usage_error("--%s: '%s' is not %s", f->name, s, all);
}

/* One element of a list flag into slot i of its list. */
static int parse_item(const dpc_flag *f, void *list, int i, const char *item) {
    switch (f->v.kind) {
    case DPC_K_INTS: return parse_long(f, item, &((dpc_ints *)list)->v[i]);
    case DPC_K_REALS: return parse_real(f, item, &((dpc_reals *)list)->v[i]);
    default: {
        dpc_names *names = list;
        if (parse_name(f, item, &names->v[i])) return DPC_EXIT_USAGE;
        for (int k = 0; k < i; k++)
            if (names->v[k] == names->v[i]) return dpc_usage_error("--%s: '%s' is given twice", f->name, item);
        return 0;
    }
    }
}

/* A comma-separated list; the list flag's field gets every element or stays as it was. */
static int parse_list(const dpc_flag *f, const char *s, void *dst) {
    /* Parsed into a scratch list so that a bad element leaves the default in place. */
    union { dpc_ints i; dpc_reals r; dpc_names n; } tmp;
    int *count = &tmp.i.n; /* n is the first member of all three */
    size_t size = f->v.kind == DPC_K_INTS ? sizeof tmp.i : f->v.kind == DPC_K_REALS ? sizeof tmp.r : sizeof tmp.n;
    char item[256];
    *count = 0;
    for (const char *p = s;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0) return dpc_usage_error("--%s: '%s' has an empty element", f->name, s);
        if (len >= sizeof item) return dpc_usage_error("--%s: '%.64s...': an element is too long", f->name, p);
        if (*count == DPC_LIST_MAX) return dpc_usage_error("--%s: more than %d values", f->name, DPC_LIST_MAX);
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_item(f, &tmp, (*count)++, item)) return DPC_EXIT_USAGE;
        p += len;
        if (*p == '\0') break;
    }
    memcpy(dst, &tmp, size);
    return 0;
}

static int store(const dpc_flag *f, const char *v, void *opts) {
    void *dst = field(opts, f);
    if (*v == '\0') return dpc_usage_error("--%s: the value is empty", f->name);
    switch (f->v.kind) {
    case DPC_K_SWITCH: *(int *)dst = 1; return 0;
    case DPC_K_STR:
    case DPC_K_STRS: {
        const char *want = f->v.check ? f->v.check(v) : NULL;
        if (want) return dpc_usage_error("--%s: '%s' is not %s", f->name, v, want);
        if (f->v.kind == DPC_K_STR) {
            *(const char **)dst = v;
            return 0;
        }
        dpc_names *l = dst;
        if (l->n == DPC_LIST_MAX) return dpc_usage_error("--%s: given more than %d times", f->name, DPC_LIST_MAX);
        l->v[l->n++] = v;
        return 0;
    }
    case DPC_K_INT: return parse_long(f, v, dst);
    case DPC_K_REAL: return parse_real(f, v, dst);
    case DPC_K_CHOICE: return parse_choice(f, v, dst);
    case DPC_K_NAME: return parse_name(f, v, dst);
    default: return parse_list(f, v, dst);
    }
}

/* ---- argv ------------------------------------------------------------------------------------ */

static const dpc_flag *find(const dpc_flag *flags, size_t n, const char *name, size_t len, unsigned bit, int *elsewhere) {
    *elsewhere = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(flags[i].name, name, len) != 0 || flags[i].name[len] != '\0') continue;
        if (flags[i].cmds & bit) return &flags[i];
        *elsewhere = 1;
    }
    return NULL;
}

int dpc_parse(const dpc_flag *flags, size_t nflags, const dpc_command *cmd, int argc, char **argv, void *opts) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            dpc_help(stdout, flags, nflags, cmd, opts);
            return DPC_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s (%s)\n", dpc_prog(), dp_version_string(), dp_build_info());
            return DPC_EXIT_OK;
        }
    }
    unsigned char given[nflags + 1];
    memset(given, 0, sizeof given);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') return dpc_usage_error("unexpected argument '%s'", a);
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        int elsewhere;
        const dpc_flag *f = find(flags, nflags, a + 2, len, cmd->bit, &elsewhere);
        if (!f && elsewhere) return dpc_usage_error("--%.*s is not an option of %s", (int)len, a + 2, dpc_prog());
        if (!f) return dpc_usage_error("unknown option --%.*s", (int)len, a + 2);
        const char *v;
        if (f->v.kind == DPC_K_SWITCH) {
            if (eq) return dpc_usage_error("--%s takes no value", f->name);
            v = "1";
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            v = argv[++i];
        } else {
            return dpc_usage_error("--%s needs a value (%s)", f->name, f->arg);
        }
        if (store(f, v, opts)) return DPC_EXIT_USAGE;
        given[f - flags] = 1;
    }
    for (size_t i = 0; i < nflags; i++)
        if (flags[i].required && (flags[i].cmds & cmd->bit) && !given[i])
            return dpc_usage_error("--%s is required", flags[i].name);
    return DPC_CONTINUE;
}

/* ---- help ------------------------------------------------------------------------------------ */

/* The default as shown: the row's text, else the field's initial value; "" when there is none. */
static void show_default(const dpc_flag *f, const void *opts, char *buf, size_t cap) {
    const void *src = cfield(opts, f);
    size_t len = 0;
    buf[0] = '\0';
    if (f->def) {
        snprintf(buf, cap, "%s", f->def);
        return;
    }
    switch (f->v.kind) {
    case DPC_K_SWITCH: snprintf(buf, cap, "%s", *(const int *)src ? "on" : "off"); break;
    case DPC_K_STR:
    case DPC_K_NAME: snprintf(buf, cap, "%s", *(const char *const *)src ? *(const char *const *)src : ""); break;
    case DPC_K_INT: snprintf(buf, cap, "%ld", *(const long *)src); break;
    case DPC_K_REAL: snprintf(buf, cap, "%g", *(const double *)src); break;
    case DPC_K_CHOICE: snprintf(buf, cap, "%s", dpc_choice_name(f->v.choices, *(const int *)src)); break;
    case DPC_K_INTS: {
        const dpc_ints *l = src;
        for (int i = 0; i < l->n && len < cap; i++) len += (size_t)snprintf(buf + len, cap - len, "%s%ld", i ? "," : "", l->v[i]);
        break;
    }
    case DPC_K_REALS: {
        const dpc_reals *l = src;
        for (int i = 0; i < l->n && len < cap; i++) len += (size_t)snprintf(buf + len, cap - len, "%s%g", i ? "," : "", l->v[i]);
        break;
    }
    case DPC_K_NAMES:
    case DPC_K_STRS: {
        const dpc_names *l = src;
        for (int i = 0; i < l->n && len < cap; i++) len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? "," : "", l->v[i]);
        break;
    }
    }
}

void dpc_help(FILE *out, const dpc_flag *flags, size_t nflags, const dpc_command *cmd, const void *opts) {
    fprintf(out, "usage: %s", dpc_prog());
    for (size_t i = 0; i < nflags; i++)
        if (flags[i].required && (flags[i].cmds & cmd->bit)) fprintf(out, " --%s %s", flags[i].name, flags[i].arg);
    fprintf(out, " [options]\n%s\n\noptions:\n", cmd->what);
    for (size_t i = 0; i < nflags; i++) {
        const dpc_flag *f = &flags[i];
        if (!(f->cmds & cmd->bit)) continue;
        char left[64], def[512], names[1024] = "";
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        size_t len = 0;
        if (f->v.kind == DPC_K_NAME || f->v.kind == DPC_K_NAMES) {
            const char *const *all = f->v.names();
            for (int k = 0; all[k] && len < sizeof names; k++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k ? "|" : " [", all[k]);
        } else if (f->v.kind == DPC_K_CHOICE) {
            for (const dpc_choice *c = f->v.choices; c->name && len < sizeof names; c++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", c == f->v.choices ? " [" : "|", c->name);
        }
        if (len && len < sizeof names - 1) strcat(names, "]");
        show_default(f, opts, def, sizeof def);
        fprintf(out, "  %-24s %s%s", left, f->help, names);
        if (f->required) fprintf(out, " (required)");
        else if (def[0]) fprintf(out, " (default: %s)", def);
        fputc('\n', out);
    }
    fprintf(out, "  %-24s %s\n  %-24s %s\n", "-h, --help", "this help", "--version", "the library's version and build");
    if (cmd->more) fprintf(out, "\n%s", cmd->more);
    fputs(exit_status, out);
}

int dpc_dispatch(const char *tool, const dpc_command *cmds, size_t ncmds, int argc, char **argv) {
    dpc_set_prog(tool);
    const char *sub = argc > 1 ? argv[1] : "";
    for (size_t i = 0; i < ncmds; i++) {
        if (strcmp(sub, cmds[i].name) != 0) continue;
        static char prog[64];
        snprintf(prog, sizeof prog, "%s %s", tool, cmds[i].name);
        dpc_set_prog(prog);
        return cmds[i].run(&cmds[i], argc - 1, argv + 1);
    }
    if (strcmp(sub, "--version") == 0) {
        printf("%s %s (%s)\n", tool, dp_version_string(), dp_build_info());
        return DPC_EXIT_OK;
    }
    int help = strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0;
    if (!help && *sub) fprintf(stderr, "%s: unknown command '%s'\n", tool, sub);
    FILE *out = help ? stdout : stderr;
    fprintf(out, "usage: %s COMMAND [options]   (%s COMMAND --help: its options)\n\ncommands:\n", tool, tool);
    for (size_t i = 0; i < ncmds; i++) fprintf(out, "  %-9s %s\n", cmds[i].name, cmds[i].what);
    fputs(exit_status, out);
    fprintf(out, "libdataparallel %s (%s)\n", dp_version_string(), dp_build_info());
    return help ? DPC_EXIT_OK : DPC_EXIT_USAGE;
}
