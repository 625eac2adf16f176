/* dp-infer — being written (issue 4). */
#include <stdio.h>

#include "cli.h"

int main(void) {
    fprintf(stderr, "dp-infer: not built yet\n");
    return 2;
}
