/* The command-line parser of every tool: one table of flags per tool, each row saying the flag's
 * name, what its value is and how it is checked, which (sub)commands accept it, and its help line.
 * Parsing, the checks' messages and --help all come from that table, so a new flag is one row
 * (and a field of the tool's options struct); docs/cli.md lists the same flags, and
 * tests/cli/test_cli_docs.sh compares it with every --help.
 *
 * Syntax: `--name value`, `--name=value`, switches as `--name`; no abbreviations (a new flag
 * could otherwise change what an old abbreviation means) and no positional arguments. A flag
 * given twice takes the last value. `-h`/`--help` anywhere prints the help (defaults as they
 * are in the options struct before parsing) and exits 0; `--version` prints the version. */
#ifndef DP_TOOLS_FLAGS_H
#define DP_TOOLS_FLAGS_H

#include <stddef.h>
#include <stdio.h>

/* Exit status of every tool (docs/cli.md). DPC_CONTINUE: parsed, go on and run. */
enum { DPC_CONTINUE = -1, DPC_EXIT_OK = 0, DPC_EXIT_FAILED = 1, DPC_EXIT_USAGE = 2 };
/* A run stopped by signal N exits 128 + N (dp_summary.signal). */

/* Most values a list flag (`--workers 1,2,4`) takes. */
#define DPC_LIST_MAX 256

typedef struct dpc_ints { int n; long v[DPC_LIST_MAX]; } dpc_ints;
typedef struct dpc_reals { int n; double v[DPC_LIST_MAX]; } dpc_reals;
/* Names point at the static strings of the flag's list of allowed names, not into argv. */
typedef struct dpc_names { int n; const char *v[DPC_LIST_MAX]; } dpc_names;

/* A name and the int stored for it (an enumerator); tables end with {NULL, 0}. */
typedef struct dpc_choice { const char *name; int value; } dpc_choice;

typedef enum dpc_kind {
    DPC_K_SWITCH, /* int: set to 1 by the flag, takes no value */
    DPC_K_STR,    /* const char *: any non-empty text, or what `check` accepts */
    DPC_K_INT,    /* long in [lo, hi] */
    DPC_K_REAL,   /* double, finite, in [flo, fhi] */
    DPC_K_CHOICE, /* int: the value of one of `choices` */
    DPC_K_NAME,   /* const char *: one of names() */
    DPC_K_INTS,   /* dpc_ints, each in [lo, hi] */
    DPC_K_REALS,  /* dpc_reals, each finite in [flo, fhi] */
    DPC_K_NAMES,  /* dpc_names, each one of names(), none twice */
    DPC_K_STRS,   /* dpc_names: a repeatable flag; each use appends its whole value (commas
                     included), checked by `check` when there is one */
} dpc_kind;

/* What a flag's value is and where it goes; built by the DPC_* macros below. */
typedef struct dpc_value {
    dpc_kind kind;
    size_t off;                           /* offset of the field in the options struct */
    long lo, hi;                          /* INT, INTS */
    double flo, fhi;                      /* REAL, REALS */
    const dpc_choice *choices;            /* CHOICE */
    const char *const *(*names)(void);    /* NAME, NAMES: NULL-terminated, static storage */
    const char *(*check)(const char *v);  /* STR, STRS (optional): NULL when v is fine, else what
                                             a value must be ("synthetic, cifar10:FILE or npy:FILE") */
} dpc_value;

typedef struct dpc_flag {
    const char *name;  /* without the leading "--" */
    const char *arg;   /* its value in the help ("N", "F", "LIST"); NULL for a switch */
    unsigned cmds;     /* bit mask of the commands that accept it */
    dpc_value v;
    const char *help;  /* one line; the allowed names and the default are appended */
    const char *def;   /* the default as shown, where the field's initial value does not say it */
    int required;
} dpc_flag;

/* A tool, or one subcommand of dp-bench. */
typedef struct dpc_command {
    const char *name;     /* subcommand ("stream"); NULL for a tool without subcommands */
    unsigned bit;         /* its bit in dpc_flag.cmds */
    const char *what;     /* one line for the help and the list of subcommands */
    const char *more;     /* further help text after the flags, or NULL */
    int (*run)(const struct dpc_command *cmd, int argc, char **argv);
} dpc_command;

/* The type of a field, checked at compile time: a row cannot store a long into a double. */
#define DPC_FIELD(T, f, type) (offsetof(T, f) + 0 * sizeof(char[_Generic(((T *)0)->f, type: 1, default: -1)]))
#define DPC_SWITCH(T, f) {.kind = DPC_K_SWITCH, .off = DPC_FIELD(T, f, int)}
#define DPC_STR(T, f, chk) {.kind = DPC_K_STR, .off = DPC_FIELD(T, f, const char *), .check = (chk)}
#define DPC_INT(T, f, a, b) {.kind = DPC_K_INT, .off = DPC_FIELD(T, f, long), .lo = (a), .hi = (b)}
#define DPC_REAL(T, f, a, b) {.kind = DPC_K_REAL, .off = DPC_FIELD(T, f, double), .flo = (a), .fhi = (b)}
#define DPC_CHOICE(T, f, c) {.kind = DPC_K_CHOICE, .off = DPC_FIELD(T, f, int), .choices = (c)}
#define DPC_NAME(T, f, fn) {.kind = DPC_K_NAME, .off = DPC_FIELD(T, f, const char *), .names = (fn)}
#define DPC_INTS(T, f, a, b) {.kind = DPC_K_INTS, .off = DPC_FIELD(T, f, dpc_ints), .lo = (a), .hi = (b)}
#define DPC_REALS(T, f, a, b) {.kind = DPC_K_REALS, .off = DPC_FIELD(T, f, dpc_reals), .flo = (a), .fhi = (b)}
#define DPC_NAMES(T, f, fn) {.kind = DPC_K_NAMES, .off = DPC_FIELD(T, f, dpc_names), .names = (fn)}
#define DPC_STRS(T, f, chk) {.kind = DPC_K_STRS, .off = DPC_FIELD(T, f, dpc_names), .check = (chk)}

/* The flags of a model that dp-infer and dp-bench share, for an options struct T with fields
 * weights, seed, classes, precision and calibration. */
#define DPC_MODEL_FLAGS(T, cmds)                                                                     \
    {"weights", "F", cmds, DPC_STR(T, weights, NULL), .help = "PyTorch state_dict() as .pth, .npz or .safetensors", \
     .def = "seeded"},                                                                               \
    {"seed", "N", cmds, DPC_INT(T, seed, 0, 1L << 62),                                                \
     .help = "seed of what is generated: weights without --weights, synthetic data"},                 \
    {"classes", "K", cmds, DPC_INT(T, classes, 1, 1L << 20), .help = "number of classes (must match the weights)"}, \
    {"precision", "P", cmds, DPC_CHOICE(T, precision, dpc_precisions), .help = "arithmetic (int8 needs --calibration)"}, \
    {"calibration", "FILE", cmds, DPC_STR(T, calibration, NULL),                                     \
     .help = "int8 activation ranges, as dp-bench calibrate writes them"}

/* Choices shared by the tools. */
extern const dpc_choice dpc_precisions[];     /* fp32, bf16, int8 -> dp_precision */
extern const dpc_choice dpc_model_backends[]; /* onednn, reference -> dp_model_backend */
/* Architectures the library knows (dp_model_arch_names) and partitioner strategies. */
const char *const *dpc_arch_names(void);
const char *const *dpc_strategy_names(void);
/* The name of value in choices ("?" if absent). */
const char *dpc_choice_name(const dpc_choice *choices, int value);

/* Parse argv[1..argc-1] (argv[0] is the command's name) into opts, which holds the defaults.
 * Returns DPC_CONTINUE, DPC_EXIT_OK (after --help/--version) or DPC_EXIT_USAGE (message printed,
 * naming the flag and the value). */
int dpc_parse(const dpc_flag *flags, size_t nflags, const dpc_command *cmd, int argc, char **argv, void *opts);

/* The help of cmd: usage, description, every flag it accepts with its default, exit status. */
void dpc_help(FILE *f, const dpc_flag *flags, size_t nflags, const dpc_command *cmd, const void *opts);

/* A tool with subcommands: run the one named by argv[1] (with prog set to "TOOL SUB"), or print
 * the list of them (`TOOL`, `TOOL --help`). Returns the exit status. */
int dpc_dispatch(const char *tool, const dpc_command *cmds, size_t ncmds, int argc, char **argv);

#endif
