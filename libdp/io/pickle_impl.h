/* Inside the restricted unpickler: the machine's state, shared by pickle.c (opcodes) and
 * pickle_objects.c (what the allowed globals build). */
#ifndef DP_IO_PICKLE_IMPL_H
#define DP_IO_PICKLE_IMPL_H

#include "pickle.h"
#include "util/util.h"

struct dpi_unpickler {
    const char *name;
    const uint8_t *buf;
    size_t len, pos, op; /* op: offset of the opcode being run, for messages */
    unsigned allowed;
    size_t budget;
    dpi_pk **stack, **memo, **objs;
    size_t sn, scap, memo_n, memo_cap, on, ocap;
    size_t *marks;
    size_t mn, mcap;
};

/* DP_ERR_FORMAT "<name>: pickle offset <op>: <what>". */
dp_status dpi_pk_bad(dpi_unpickler *up, const char *fmt, ...) DPI_PRINTF(2, 3);
/* Count n bytes against the memory budget (proportional to the pickle's size). */
dp_status dpi_pk_charge(dpi_unpickler *up, size_t n);
/* A new object of kind with ext zeroed bytes behind its union pointer (0: none), owned by up. */
dp_status dpi_pk_new(dpi_unpickler *up, dpi_pk_kind kind, size_t ext, dpi_pk **out);

/* REDUCE: call the allowed global fn with the tuple args. */
dp_status dpi_pk_reduce(dpi_unpickler *up, dpi_pk *fn, dpi_pk *args, dpi_pk **out);
/* BUILD: set the state of obj (an array's contents, a dtype's byte order; a dict's attributes
 * are dropped). */
dp_status dpi_pk_build(dpi_unpickler *up, dpi_pk *obj, dpi_pk *state);
/* NEWOBJ: an OBJECT of the CLASS cls (args ignored: nothing is constructed). */
dp_status dpi_pk_newobj(dpi_unpickler *up, dpi_pk *cls, dpi_pk *args, dpi_pk **out);
/* DP_ERR_FORMAT: global module.name is not allowed (name may be "" when module is "a.b"). */
dp_status dpi_pk_refuse(dpi_unpickler *up, const char *module, const char *name);
/* BINPERSID: torch's ('storage', type, key, location, numel) reference to an archive member. */
dp_status dpi_pk_persistent(dpi_unpickler *up, dpi_pk *pid, dpi_pk **out);

#endif
