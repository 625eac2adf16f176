/* dp-bench batch — being written; see the open issue for its flags. */
#include <stdio.h>

#include "bench.h"
#include "cli.h"

int dpb_batch(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "%s: not built yet\n", dpc_prog());
    return 2;
}
