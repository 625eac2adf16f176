/* A program outside the project that uses an installed libdataparallel. */
#include <dataparallel.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    if (dp_version() != DP_VERSION_NUMBER) return 1;
    if (strcmp(dp_status_str(DP_ERR_SHAPE), "DP_ERR_SHAPE") != 0) return 1;
    printf("consumer: libdataparallel %s\n", dp_version_string());
    return 0;
}
