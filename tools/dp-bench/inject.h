/* dp-bench stream --inject SPEC: the fault SPECs of docs/cli.md ("Injected faults") into
 * dp_runner_inject() calls. */
#ifndef DP_BENCH_INJECT_H
#define DP_BENCH_INJECT_H

#include "dataparallel.h"

typedef struct dpb_fault {
    double at_s;
    int worker;
    dp_fault_kind kind;
    double value;
} dpb_fault;

/* Parse spec ("at=2s,worker=1,slowdown=4") into *f. NULL when it is fine, else what is wrong,
 * naming the bad part (static text, overwritten by the next call). */
const char *dpb_fault_parse(const char *spec, dpb_fault *f);
/* As a flag's check: NULL, or "a fault: <what is wrong>". */
const char *dpb_fault_check(const char *spec);
/* A one-line description of an event and what it did, for the console. */
void dpb_fault_print(const dp_fault_report *f);

#endif
